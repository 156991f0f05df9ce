#!/usr/bin/env bash
# System packages the test suite needs, from Debian's archive. Each block installs only what is
# missing, so a prepared machine pays nothing. Add new packages as new blocks.
set -euo pipefail

apt_updated=0
apt_install() {
    if [ "$apt_updated" = 0 ]; then
        apt-get update -qq
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

# Chromium for the web client's browser tests (tests/web); Playwright drives it, never downloads one.
if [ ! -x /usr/bin/chromium ]; then
    apt_install chromium
fi
