"""server/config.py `load()`: defaults < TOML file < PARLEY_* environment < command-line flags."""
import pytest

from server.config import Config, ConfigError, TurnServer, load


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "parley.toml"
    path.write_text("""
[server]
bind = "0.0.0.0:9000"
data_dir = "/srv/from-file"
session_timeout = 120
log_level = "debug"

[signaling]
stun_servers = ["stun.example.org:3478"]
turn_servers = [{ server = "turn.example.org:3478", secret = "s3cret" }]
websocket = false
""")
    return str(path)


def test_defaults_without_file_env_or_flags():
    assert load(None, env={}) == Config()


def test_file_values_replace_defaults(config_file):
    config = load(config_file, env={})
    assert (config.bind, config.data_dir, config.session_timeout, config.log_level) == (
        "0.0.0.0:9000", "/srv/from-file", 120, "debug")
    assert config.stun_servers == ("stun.example.org:3478",)
    assert config.turn_servers == (TurnServer("turn.example.org:3478", "s3cret", ("udp", "tcp")),)
    assert config.websocket is False
    assert config.active_window == Config().active_window


def test_environment_beats_file_and_flags_beat_environment(config_file):
    env = {"PARLEY_BIND": "127.0.0.1:9100", "PARLEY_DATA_DIR": "/srv/from-env", "PARLEY_SESSION_TIMEOUT": "150",
           "PARLEY_WEBSOCKET": "yes"}
    config = load(config_file, env=env)
    assert (config.bind, config.data_dir, config.session_timeout, config.websocket) == (
        "127.0.0.1:9100", "/srv/from-env", 150, True)
    config = load(config_file, env=env, bind="127.0.0.1:9200", data_dir=None)
    assert (config.bind, config.data_dir) == ("127.0.0.1:9200", "/srv/from-env")   # None flags are ignored


def test_config_file_can_come_from_the_environment(config_file):
    assert load(None, env={"PARLEY_CONFIG": config_file}).bind == "0.0.0.0:9000"


def test_explicit_config_file_wins_over_parley_config(config_file, tmp_path):
    other = tmp_path / "other.toml"
    other.write_text('[server]\nbind = "127.0.0.1:1"\n')
    assert load(str(other), env={"PARLEY_CONFIG": config_file}).bind == "127.0.0.1:1"


def test_numbers_and_booleans_are_coerced_from_strings():
    config = load(None, env={"PARLEY_MAX_BODY_BYTES": "2048", "PARLEY_HOUSEKEEPING_INTERVAL": "0.5",
                             "PARLEY_WEBSOCKET": "off"})
    assert (config.max_body_bytes, config.housekeeping_interval, config.websocket) == (2048, 0.5, False)


@pytest.mark.parametrize("env,message", [
    ({"PARLEY_SESSION_TIMEOUT": "soon"}, "session_timeout"),
    ({"PARLEY_WEBSOCKET": "maybe"}, "websocket"),
    ({"PARLEY_BIND": "localhost"}, "HOST:PORT"),
    ({"PARLEY_BIND": "localhost:http"}, "HOST:PORT"),
])
def test_bad_environment_values_name_the_setting(env, message):
    with pytest.raises(ConfigError, match=message):
        load(None, env=env)


@pytest.mark.parametrize("text,message", [
    ('[server]\nnope = 1\n', "unknown key \\[server\\] nope"),
    ('[signaling]\nnope = 1\n', "unknown key \\[signaling\\] nope"),
    ('[elsewhere]\na = 1\n', "unknown section"),
    ('[signaling]\nturn_servers = [{ server = "x" }]\n', "turn_servers"),
    ('[server\n', "config file"),
    ('[server]\nactive_window = "long"\n', "active_window"),
])
def test_bad_files_are_reported(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load(str(path), env={})


def test_missing_file_is_reported(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load(str(tmp_path / "missing.toml"), env={})


def test_bind_splits_into_host_and_port():
    config = load(None, env={}, bind="[::1]:8443")
    assert (config.host, config.port) == ("[::1]", 8443)


def test_sfu_section_and_environment(tmp_path):
    path = tmp_path / "sfu.toml"
    path.write_text('[sfu]\njanus_url = "ws://127.0.0.1:8188"\njanus_timeout = 3\n')
    config = load(str(path), env={})
    assert config.janus_url == "ws://127.0.0.1:8188" and config.janus_timeout == 3.0
    assert load(None, env={"PARLEY_JANUS_URL": "ws://10.0.0.2:8188"}).janus_url == "ws://10.0.0.2:8188"
    assert load(None, env={}).janus_url == ""
    path.write_text('[sfu]\nurl = "ws://x"\n')
    with pytest.raises(ConfigError, match=r"unknown key \[sfu\] url"):
        load(str(path), env={})


def test_fast_websocket_and_ping_interval_from_file_and_environment(tmp_path):
    path = tmp_path / "ws.toml"
    path.write_text("[signaling]\nfast_websocket = false\nwebsocket_ping_interval = 12.5\n")
    config = load(str(path), env={})
    assert (config.fast_websocket, config.websocket_ping_interval) == (False, 12.5)
    assert (Config().fast_websocket, Config().websocket_ping_interval) == (True, 30.0)
    config = load(str(path), env={"PARLEY_FAST_WEBSOCKET": "1", "PARLEY_WEBSOCKET_PING_INTERVAL": "0"})
    assert (config.fast_websocket, config.websocket_ping_interval) == (True, 0.0)
