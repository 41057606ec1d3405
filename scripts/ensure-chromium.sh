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

source "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh"
apt_install ensure-chromium chromium || exit 0

if ! command -v chromium >/dev/null 2>&1; then
    echo "ensure-chromium: installed 'chromium' but it is not on PATH" >&2
    exit 1
fi
