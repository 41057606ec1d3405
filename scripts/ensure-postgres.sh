#!/usr/bin/env bash
# Make sure the PostgreSQL *server* binaries (initdb, pg_ctl) are installed.
#
# Idempotent and silent when they already are. Installs Debian's `postgresql` package
# otherwise (as root, or through passwordless sudo). Never starts a cluster itself: the
# test suite starts its own throw-away server (gatebook.testing.pgserver). If Debian's
# package starts its own `main` cluster on install, that one is left alone.
set -euo pipefail

have_server_binaries() {
    local dir
    for dir in /usr/lib/postgresql/*/bin; do
        if [[ -x "$dir/initdb" && -x "$dir/pg_ctl" ]]; then
            return 0
        fi
    done
    return 1
}

if have_server_binaries; then
    exit 0
fi

source "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh"
apt_install ensure-postgres postgresql || exit 0

if ! have_server_binaries; then
    echo "ensure-postgres: installed 'postgresql' but no initdb/pg_ctl under /usr/lib/postgresql/*/bin" >&2
    exit 1
fi
echo "ensure-postgres: done ($(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1))" >&2
