"""Configuration: TOML file, then PARLEY_* environment variables, then command-line flags, into
one frozen `Config`. Every key is documented in config.example.toml."""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Mapping


@dataclass(frozen=True)
class TurnServer:
    server: str
    secret: str
    protocols: tuple[str, ...] = ("udp", "tcp")


@dataclass(frozen=True)
class Config:
    bind: str = "127.0.0.1:8080"
    data_dir: str = "./data"
    log_level: str = "info"
    # Largest request body accepted, in bytes (413 beyond).
    max_body_bytes: int = 1_048_576
    # Seconds a session counts as active after its last ping (Talk: 30).
    active_window: int = 30
    # Seconds without ping after which guests are removed and users leave the room (Talk: 100).
    session_timeout: int = 100
    # How often the housekeeping timer runs (expiry, ping flush), in seconds.
    housekeeping_interval: float = 5.0
    # A successful Basic-auth verification is cached while it keeps being used: it expires after
    # this many seconds without use (each use pushes that back) ...
    auth_cache_seconds: int = 600
    # ... and at the latest after this many seconds, less a random 0-20 % per entry (spreads expiry).
    auth_cache_max_seconds: int = 3600
    # argon2id cost for account and room passwords: ~50 ms and 32 MiB per verification on the
    # project machine (docs/PERFORMANCE.md); hashes made with other values are redone at login.
    argon2_time_cost: int = 2
    argon2_memory_kib: int = 32768
    argon2_parallelism: int = 1
    # Threads that hash and verify passwords (0: one per core); hashing memory is bounded by
    # password_hash_workers × argon2_memory_kib.
    password_hash_workers: int = 0
    # Password checks that may wait for a hash thread; beyond that, 503 with Retry-After at once.
    password_queue_max: int = 32
    # Failed logins per client address: a bucket of this many tries, refilled at this rate per
    # second (a successful login gives its try back). 429 with Retry-After beyond.
    login_address_burst: int = 20
    login_address_rate: float = 0.2
    # Failed logins server-wide: this many, refilled at this rate per second. While spent, addresses
    # with a recent failure are refused (429) before any hashing; clean addresses still get in.
    login_failure_budget: int = 100
    login_failure_rate: float = 2.0
    # [signaling]
    stun_servers: tuple[str, ...] = ("stun.nextcloud.com:443",)
    turn_servers: tuple[TurnServer, ...] = ()
    websocket: bool = True
    public_url: str = ""
    # Seconds a new WebSocket connection has to send its hello (strukturag: 2).
    hello_timeout: float = 2.0
    # Serve /spreed below ASGI, straight on the connection (server/ws_fast.py); false = hypercorn's
    # ASGI WebSocket path (slower, kept as a fallback and for comparison).
    fast_websocket: bool = True
    # Seconds of silence after which a WebSocket client is pinged; silent for twice this long, it
    # is dropped (a half-open connection). 0 = never ping. Only on the fast path.
    websocket_ping_interval: float = 30.0
    # [server] operations (docs/DECISIONS-LOG.md, "Operations")
    # "text" or "json" (one JSON object per line: ts, level, logger, msg and extras).
    log_format: str = "text"
    # One line per request (method, route, status, duration, client): a file path, "-" for
    # stderr, empty for none.
    access_log: str = ""
    # Peers (CIDRs) that may read GET /metrics; everyone else gets 403.
    metrics_allow: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    # Seconds GET /readyz waits for a trivial database unit before answering 503.
    readiness_timeout: float = 2.0
    # [server] HTTPS (docs/DECISIONS-LOG.md "HTTPS and reverse proxies"): PEM paths; both or neither.
    tls_cert: str = ""
    tls_key: str = ""
    # With TLS: a second HOST:PORT answering plain HTTP with a 308 redirect to the https URL.
    http_redirect_bind: str = ""
    # Strict-Transport-Security max-age in seconds on https responses; 0 = no header.
    hsts_max_age: int = 0
    # Peers (addresses or CIDRs) whose X-Forwarded-* / Forwarded headers are believed.
    trusted_proxies: tuple[str, ...] = ()
    # [database] url: "postgresql://USER:PASS@HOST:PORT/DB" stores everything in PostgreSQL instead
    # of data_dir/parley.sqlite3 (empty = SQLite, the default). pool_size: PostgreSQL connections,
    # each on its own worker thread (SQLite always uses one).
    database_url: str = ""
    database_pool_size: int = 4
    # [sfu] Janus's WebSocket API (e.g. ws://127.0.0.1:8188); empty = calls stay a mesh.
    janus_url: str = ""
    # Seconds any one Janus request may take before Parley gives up on it.
    janus_timeout: float = 10.0
    # [chat] files (issue 11): largest upload in bytes (413 beyond), and how often the disk space
    # of deleted files is reclaimed, in seconds.
    max_upload_bytes: int = 100 * 1024 * 1024
    file_sweep_interval: float = 60.0
    # [cluster] redis://HOST:PORT/N of the bus between nodes (DECISIONS-LOG "Cluster bus"); empty = one node.
    redis_url: str = ""

    def password_service(self):  # -> PasswordService (imported lazily: config stays a leaf)
        from .domain.hashing import HashWorkers
        from .domain.login_guard import LoginGuard
        from .domain.passwords import PasswordService, make_hasher
        return PasswordService(self.auth_cache_seconds,
                               hasher=make_hasher(self.argon2_time_cost, self.argon2_memory_kib,
                                                  self.argon2_parallelism),
                               marker=Path(self.data_dir) / "accounts.changed",
                               cache_max_seconds=self.auth_cache_max_seconds,
                               workers=HashWorkers(self.password_hash_workers, self.password_queue_max),
                               guard=LoginGuard(self.login_address_burst, self.login_address_rate,
                                                self.login_failure_budget, self.login_failure_rate))

    @property
    def host(self) -> str:
        return self.bind.rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        return int(self.bind.rsplit(":", 1)[1])

    @property
    def db_path(self) -> Path:
        return Path(self.data_dir) / "parley.sqlite3"


class ConfigError(ValueError):
    pass


_ENV_PREFIX = "PARLEY_"
# [server] keys holding a list: a TOML array, or a comma-separated PARLEY_* variable.
_SERVER_LISTS = {"trusted_proxies"}
# [database] keys → Config fields (their environment variables are PARLEY_DATABASE_URL and
# PARLEY_DATABASE_POOL_SIZE, after the field names).
_DATABASE_KEYS = {"url": "database_url", "pool_size": "database_pool_size"}
_SCALARS = {f.name: f.type for f in fields(Config)
            if f.name not in ("stun_servers", "turn_servers") and f.name not in _SERVER_LISTS
            and f.name not in ("metrics_allow",)}
LOG_FORMATS = ("text", "json")


def _networks(name: str, value: Any) -> tuple[str, ...]:
    """A list of addresses/CIDRs (TOML list, or comma-separated from the environment), checked."""
    import ipaddress
    items = [v.strip() for v in value.split(",")] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise ConfigError(f"{name} must be a list of addresses or CIDRs")
    result = []
    for item in items:
        if not item:
            continue
        try:
            result.append(str(ipaddress.ip_network(str(item), strict=False)))
        except ValueError:
            raise ConfigError(f"{name}: {item!r} is not an IP address or CIDR") from None
    return tuple(result)


def _coerce(name: str, value: Any) -> Any:
    kind = _SCALARS[name]
    try:
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "bool":
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("1", "true", "yes", "on"):
                return True
            if str(value).lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        return str(value)
    except ValueError:
        raise ConfigError(f"{name}: {value!r} is not a valid {kind}") from None


def _from_mapping(base: Config, raw: Mapping[str, Any]) -> Config:
    changes: dict[str, Any] = {}
    server = dict(raw.get("server", {}))
    for key, value in server.items():
        if key == "metrics_allow":
            changes[key] = _networks(key, value)
            continue
        if key in _SERVER_LISTS:
            if not isinstance(value, list):
                raise ConfigError(f"[server] {key} must be a list of strings")
            changes[key] = tuple(str(v) for v in value)
            continue
        if key not in _SCALARS:
            raise ConfigError(f"unknown key [server] {key}")
        changes[key] = _coerce(key, value)
    signaling = dict(raw.get("signaling", {}))
    for key, value in signaling.items():
        if key == "stun_servers":
            changes["stun_servers"] = tuple(str(s) for s in value)
        elif key == "turn_servers":
            try:
                changes["turn_servers"] = tuple(
                    TurnServer(str(t["server"]), str(t["secret"]), tuple(t.get("protocols", ("udp", "tcp"))))
                    for t in value)
            except (KeyError, TypeError):
                raise ConfigError("turn_servers entries need 'server' and 'secret'") from None
        elif key in ("websocket", "public_url", "hello_timeout", "fast_websocket", "websocket_ping_interval"):
            changes[key] = _coerce(key, value)
        else:
            raise ConfigError(f"unknown key [signaling] {key}")
    for key, value in dict(raw.get("database", {})).items():
        if key not in _DATABASE_KEYS:
            raise ConfigError(f"unknown key [database] {key}")
        changes[_DATABASE_KEYS[key]] = _coerce(_DATABASE_KEYS[key], value)
    for key, value in dict(raw.get("sfu", {})).items():
        if key not in ("janus_url", "janus_timeout"):
            raise ConfigError(f"unknown key [sfu] {key}")
        changes[key] = _coerce(key, value)
    for key, value in dict(raw.get("chat", {})).items():
        if key not in ("max_upload_bytes", "file_sweep_interval"):
            raise ConfigError(f"unknown key [chat] {key}")
        changes[key] = _coerce(key, value)
    for key, value in dict(raw.get("cluster", {})).items():
        if key != "redis_url":
            raise ConfigError(f"unknown key [cluster] {key}")
        changes[key] = _coerce(key, value)
    unknown = set(raw) - {"server", "signaling", "sfu", "database", "chat", "cluster"}
    if unknown:
        raise ConfigError(f"unknown section(s): {', '.join(sorted(unknown))}")
    return replace(base, **changes)


def load(config_file: str | None = None, env: Mapping[str, str] | None = None,
         **flags: Any) -> Config:
    """File < environment < flags. Flags with value None are ignored."""
    env = os.environ if env is None else env
    config = Config()
    path = config_file or env.get(_ENV_PREFIX + "CONFIG")
    if path:
        try:
            raw = tomllib.loads(Path(path).read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path}: {exc}") from None
        config = _from_mapping(config, raw)
    env_changes = {name: _coerce(name, env[_ENV_PREFIX + name.upper()])
                   for name in _SCALARS if _ENV_PREFIX + name.upper() in env}
    if _ENV_PREFIX + "METRICS_ALLOW" in env:
        env_changes["metrics_allow"] = _networks("metrics_allow", env[_ENV_PREFIX + "METRICS_ALLOW"])
    env_changes.update({name: tuple(v.strip() for v in env[_ENV_PREFIX + name.upper()].split(",") if v.strip())
                        for name in _SERVER_LISTS if _ENV_PREFIX + name.upper() in env})
    config = replace(config, **env_changes)
    flag_changes = {k: v for k, v in flags.items() if v is not None}
    config = replace(config, **flag_changes)
    if config.log_format not in LOG_FORMATS:
        raise ConfigError(f"log_format must be one of {', '.join(LOG_FORMATS)}, got {config.log_format!r}")
    if ":" not in config.bind or not config.bind.rsplit(":", 1)[1].isdigit():
        raise ConfigError(f"bind must look like HOST:PORT, got {config.bind!r}")
    _check_network_keys(config)
    _check_database_keys(config)
    if config.redis_url and not config.redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"redis_url must look like redis://HOST:PORT/N, got {config.redis_url!r}")
    return config


def _check_database_keys(config: Config) -> None:
    if config.database_url and not config.database_url.startswith(("postgresql://", "postgres://")):
        raise ConfigError("database url must start with postgresql:// (or be empty for SQLite)")
    if not 1 <= config.database_pool_size <= 256:
        raise ConfigError("database pool_size must be between 1 and 256")


def _check_network_keys(config: Config) -> None:
    """The HTTPS and proxy keys, checked for shape here; the files themselves are read by
    server/tls.py when `parley serve` starts (other commands need no certificate)."""
    import ipaddress
    if bool(config.tls_cert) != bool(config.tls_key):
        raise ConfigError("tls_cert and tls_key must be set together")
    if config.http_redirect_bind:
        if not config.tls_cert:
            raise ConfigError("http_redirect_bind needs tls_cert and tls_key (it redirects to HTTPS)")
        host, sep, port = config.http_redirect_bind.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ConfigError(f"http_redirect_bind must look like HOST:PORT, got {config.http_redirect_bind!r}")
    if config.hsts_max_age < 0:
        raise ConfigError("hsts_max_age must be 0 (off) or a number of seconds")
    for entry in config.trusted_proxies:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ConfigError(f"trusted_proxies: {entry!r} is not an IP address or CIDR") from None
