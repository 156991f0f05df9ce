#!/usr/bin/env bash
# System packages the test suite needs, installed only when missing (additive: each feature adds
# its own lines). Runs as root in CI; locally run it with sudo or skip it (those tests then skip).
set -euo pipefail

missing=()
# coturn: `turnserver` and `turnutils_uclient` for the TURN end-to-end tests (tests/e2e).
command -v turnserver >/dev/null 2>&1 && command -v turnutils_uclient >/dev/null 2>&1 || missing+=(coturn)
# binutils and a shared libpython: PyInstaller (`make binary`, tests/deploy) reads every bundled
# library with objdump and bundles libpythonX.Y.so (a statically linked Debian python3 needs the
# libpythonX.Y package for it; a python built with --enable-shared has its own).
command -v objdump >/dev/null 2>&1 || missing+=(binutils)
py_version=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ "$(python3 -c 'import sysconfig; print(sysconfig.get_config_var("Py_ENABLE_SHARED"))')" != 1 ] \
        && ! ldconfig -p | grep -q "libpython${py_version}.so.1.0"; then
    missing+=("libpython${py_version}")
fi
# systemd: `systemd-analyze verify` checks contrib/systemd/parley.service (tests/unit/test_systemd_unit.py).
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
# nginx: the reverse-proxy round trip through contrib/nginx/parley.conf (tests/deploy/test_reverse_proxies.py).
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || missing+=(nginx)
# caddy: `caddy validate` and a round trip through contrib/caddy/Caddyfile (tests/deploy/test_reverse_proxies.py).
command -v caddy >/dev/null 2>&1 || missing+=(caddy)
# libnss3-tools: `certutil`, to make Chromium trust the test CA for the HTTPS call (tests/web/test_https_call.py).
command -v certutil >/dev/null 2>&1 || missing+=(libnss3-tools)
# postgresql: initdb/postgres for the PostgreSQL test mode and tests/cluster (the tests start their own
# instance in a temp dir; the Debian service is never used).
[ -x /usr/lib/postgresql/15/bin/postgres ] || ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql)
# redis-server: the cluster bus tests (tests/cluster) start their own instance in a temp dir.
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
# wrk: the HTTP load generator of bench/cluster.py (GET /room per second), run at a tiny scale by
# tests/cluster/test_bench_smoke.py.
command -v wrk >/dev/null 2>&1 || missing+=(wrk)

if [ ${#missing[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# chromium: the browser the web client's tests drive with Playwright (tests/web). Installed with
# its recommended packages (fonts), so screenshots show text; Playwright never downloads a browser.
if [ ! -x /usr/bin/chromium ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium
fi

# janus + iproute2: the SFU tests (tests/sfu) run Debian's Janus 1.1.2 inside a network namespace
# they create with `ip netns` and a veth pair (tests/sfu_support.py); CI runs as root.
sfu_missing=()
command -v janus >/dev/null 2>&1 || sfu_missing+=(janus)
command -v ip >/dev/null 2>&1 || sfu_missing+=(iproute2)
if [ ${#sfu_missing[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${sfu_missing[@]}"
fi

# fonts-noto-color-emoji: reactions and the emoji picker render as emoji, not empty boxes, in
# the web client's screenshots (tests/web). Cosmetic: no test depends on the glyphs.
if [ ! -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends fonts-noto-color-emoji
fi
