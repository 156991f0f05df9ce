"""Operations settings and helpers without a server: `metrics_allow`, `log_format`, the JSON and
access-log formats, the metrics peer check and the systemd notification (a real datagram socket)."""
from __future__ import annotations

import ipaddress
import json
import logging
import socket
import sys

import pytest

from server import sd_notify
from server.config import ConfigError, load
from server.logs import JsonFormatter, TextAccessFormatter
from server.ops_http import allowed


def test_metrics_allow_from_file_and_environment(tmp_path):
    path = tmp_path / "parley.toml"
    path.write_text('[server]\nmetrics_allow = ["10.1.2.3", "192.168.0.0/16"]\nlog_format = "json"\n')
    config = load(str(path), env={})
    assert config.metrics_allow == ("10.1.2.3/32", "192.168.0.0/16")
    assert config.log_format == "json"
    assert load(None, env={"PARLEY_METRICS_ALLOW": "127.0.0.1, ::1"}).metrics_allow == ("127.0.0.1/32", "::1/128")
    assert load(None, env={}).metrics_allow == ("127.0.0.0/8", "::1/128")


@pytest.mark.parametrize("env, message", [
    ({"PARLEY_METRICS_ALLOW": "10.0.0.0/33"}, "metrics_allow: '10.0.0.0/33' is not an IP address or CIDR"),
    ({"PARLEY_LOG_FORMAT": "xml"}, "log_format must be one of text, json"),
])
def test_bad_operations_settings_are_config_errors(env, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        load(None, env=env)


def test_metrics_peer_check():
    nets = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
    assert allowed(("127.0.0.1", 5000), nets) and allowed(("::1", 5000), nets)
    assert allowed(("::ffff:127.0.0.5", 5000), nets)           # IPv4-mapped counts as IPv4
    assert not allowed(("10.0.0.1", 5000), nets)
    assert not allowed(None, nets) and not allowed(("not-an-ip", 1), nets)


def record(msg: str, **extra) -> logging.LogRecord:
    rec = logging.LogRecord("parley.test", logging.WARNING, __file__, 1, msg, (), None)
    rec.__dict__.update(extra)
    return rec


def test_json_log_lines_carry_ts_level_logger_msg_and_extras():
    line = JsonFormatter().format(record("hello %s", room="abc"))
    entry = json.loads(line)
    assert entry["level"] == "warning" and entry["logger"] == "parley.test" and entry["room"] == "abc"
    assert entry["msg"] == "hello %s" and entry["ts"].endswith("+00:00")
    try:
        raise ValueError("boom")
    except ValueError:
        failing = logging.LogRecord("parley", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    entry = json.loads(JsonFormatter().format(failing))
    assert "\n" not in JsonFormatter().format(failing) and "ValueError: boom" in entry["exc"]


def test_text_access_line():
    line = TextAccessFormatter().format(record("x", method="GET", route="/healthz", status=200,
                                               duration=0.0123, client="127.0.0.1"))
    assert line.endswith(' 127.0.0.1 "GET /healthz" 200 0.0123s')


@pytest.mark.parametrize("abstract", [True, False])
def test_notify_sends_one_datagram_to_the_socket(tmp_path, monkeypatch, abstract):
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as receiver:
        if abstract:
            receiver.bind("\0parley-unit-" + tmp_path.name)
            monkeypatch.setenv("NOTIFY_SOCKET", "@parley-unit-" + tmp_path.name)
        else:
            receiver.bind(str(tmp_path / "notify"))
            monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
        receiver.settimeout(30)
        assert sd_notify.notify("READY=1")
        assert receiver.recv(100) == b"READY=1"


def test_notify_without_or_with_an_unusable_socket_is_a_quiet_no(tmp_path, monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert not sd_notify.notify("READY=1")
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens"))
    assert not sd_notify.notify("READY=1")
    monkeypatch.setenv("NOTIFY_SOCKET", "vsock:2:1234")
    assert not sd_notify.notify("READY=1")


def test_gc_thresholds_default_and_override(monkeypatch):
    """PARLEY_GC_THRESHOLDS (for measuring collector settings) replaces the default three numbers;
    anything else leaves the default."""
    from server.runner import _thresholds
    monkeypatch.delenv("PARLEY_GC_THRESHOLDS", raising=False)
    assert _thresholds() == (5_000, 2, 1000)
    monkeypatch.setenv("PARLEY_GC_THRESHOLDS", "20000,10,1000")
    assert _thresholds() == (20_000, 10, 1000)
    for wrong in ("20000,10", "a,b,c", ""):
        monkeypatch.setenv("PARLEY_GC_THRESHOLDS", wrong)
        assert _thresholds() == (5_000, 2, 1000)
