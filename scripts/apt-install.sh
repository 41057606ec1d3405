# Sourced by the ensure-*.sh scripts: `apt_install NAME PACKAGE` installs Debian's PACKAGE as
# root or through passwordless sudo. Without either it says so on stderr (naming NAME, the
# script) and returns 1: the caller then leaves the tests that need PACKAGE to report it.
apt_install() {
    local name="$1" package="$2"
    local -a sudo=()
    if [[ "$(id -u)" -ne 0 ]]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
            sudo=(sudo -n)
        else
            echo "$name: Debian's '$package' package is missing and this is not root (no usable sudo): install it; the tests that need it will report it." >&2
            return 1
        fi
    fi
    echo "$name: installing Debian's $package package ..." >&2
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null
}
