#!/usr/bin/env bash
# Make sure Debian's Chromium is installed: tests/browser and `make bench` drive it through
# Playwright (never `playwright install`, which downloads a browser and fails on such machines).
#
# Idempotent and silent when `chromium` is on PATH. Installs Debian's `chromium` package
# otherwise (as root, or through passwordless sudo); without either, says so in one line and
# lets the browser tests fail with the same advice.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
    exit 0
fi

if [[ "$(id -u)" -eq 0 ]]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
    SUDO=(sudo -n)
else
    echo "ensure-chromium: chromium not found and not root (no usable sudo): install Debian's 'chromium' package; the browser tests (tests/browser) will fail until then." >&2
    exit 0
fi

echo "ensure-chromium: installing Debian's chromium package ..." >&2
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null

if ! command -v chromium >/dev/null 2>&1; then
    echo "ensure-chromium: installed 'chromium' but it is not on PATH" >&2
    exit 1
fi
