"""contrib/systemd/parley.service: what it promises (notify readiness, its own user, the state
directory, hardening), that its command line is one `parley` accepts, and that systemd itself
finds nothing wrong with it (`systemd-analyze verify`)."""
from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from server.cli import build_parser

UNIT = Path(__file__).resolve().parents[2] / "contrib" / "systemd" / "parley.service"


def settings() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def test_the_unit_is_a_hardened_notify_service_with_its_own_user_and_state_directory():
    unit = settings()
    assert unit["Type"] == ["notify"]
    assert unit["User"] == ["parley"] and "DynamicUser" not in unit
    assert unit["StateDirectory"] == ["parley"]
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "PrivateDevices", "RestrictNamespaces"):
        assert unit[key] == ["yes"], key
    assert unit["ProtectSystem"] == ["strict"]
    assert set(unit["RestrictAddressFamilies"][0].split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}   # AF_UNIX: notify


def test_its_command_line_is_one_parley_accepts():
    (exec_start,) = settings()["ExecStart"]
    program, *args = shlex.split(exec_start)
    assert program == "/usr/local/bin/parley"
    parsed = build_parser().parse_args(args)
    assert (parsed.command, parsed.config, parsed.data_dir) == ("serve", "/etc/parley/parley.toml", "/var/lib/parley")


def test_systemd_analyze_verify_accepts_it(tmp_path):
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing: bash .ci/install-system-deps.sh installs it"
    # The same unit with an executable that exists here (verify checks that it does).
    copy = tmp_path / "parley.service"
    copy.write_text(UNIT.read_text().replace("/usr/local/bin/parley", sys.executable))
    result = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "parley.service" not in result.stderr, result.stderr
