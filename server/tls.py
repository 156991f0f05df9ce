"""Built-in HTTPS: the certificate check before serving, the plain-HTTP redirect and HSTS.

hypercorn does the TLS itself (`certfile`/`keyfile`); this module makes its failures readable. A
path that does not exist, a file that cannot be read, a file that holds no PEM certificate or key,
an encrypted key, or a key that is not the certificate's: each stops `parley serve` before it binds,
with one line naming the file (`parley: config error: …`, exit status 2), instead of a trace from
inside the server's start-up.
"""
from __future__ import annotations

import re
import ssl
from urllib.parse import urlsplit

from .config import Config, ConfigError


def _read(path: str, what: str) -> str:
    try:
        with open(path, "rb") as f:
            return f.read().decode("ascii", errors="replace")
    except OSError as exc:
        raise ConfigError(f"cannot read TLS {what} {path}: {exc.strerror or exc}") from None


def check_files(cert: str, key: str) -> None:
    """Raise ConfigError (one line, naming the file) unless `cert` and `key` make a usable pair."""
    cert_text, key_text = _read(cert, "certificate"), _read(key, "key")
    if "-----BEGIN CERTIFICATE-----" not in cert_text:
        raise ConfigError(f"TLS certificate {cert}: no PEM certificate in the file")
    if not re.search(r"-----BEGIN [A-Z ]*PRIVATE KEY-----", key_text):
        raise ConfigError(f"TLS key {key}: no PEM private key in the file")
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=cert)
    except (ssl.SSLError, ValueError) as exc:
        raise ConfigError(f"TLS certificate {cert}: not a valid PEM certificate ({_reason(exc)})") from None

    def no_password() -> bytes:
        raise ConfigError(f"TLS key {key}: the key is encrypted; Parley needs it without a passphrase")
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key, password=no_password)
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc) or "key values mismatch" in str(exc):
            raise ConfigError(f"TLS key {key} does not match the certificate {cert}") from None
        raise ConfigError(f"TLS key {key}: cannot be used with {cert} ({_reason(exc)})") from None


def _reason(exc: Exception) -> str:
    return getattr(exc, "reason", None) or str(exc).splitlines()[0]


def check(config: Config) -> None:
    if config.tls_cert:
        check_files(config.tls_cert, config.tls_key)


class HttpsRedirect:
    """Outermost when `http_redirect_bind` is set: a request that arrived over plain HTTP (the
    redirect listener; hypercorn's scope says "http"/"ws" there) gets a 308 to the same path over
    HTTPS, before any proxy handling or routing. 308 keeps the method and body, so even a POST
    lands where it meant to. A plain WebSocket upgrade there is refused (403)."""

    def __init__(self, inner, config: Config) -> None:
        self.inner = inner
        public = urlsplit(config.public_url) if config.public_url.startswith("https://") else None
        self.public = f"https://{public.netloc}{public.path.rstrip('/')}" if public else None
        self.https_port = config.port

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "websocket" and scope.get("scheme") == "ws":
            await receive()   # websocket.connect
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http" or scope.get("scheme") != "http":
            await self.inner(scope, receive, send)
            return
        location = self.location(scope)
        if location is not None and not (location.isascii() and location.isprintable()):
            location = None   # h11 only passes printable ASCII targets; never echo anything else
        if location is None:
            body = b"This server answers over HTTPS only.\n"
            await send({"type": "http.response.start", "status": 400,
                        "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                    (b"content-length", str(len(body)).encode())]})
        else:
            body = b""
            await send({"type": "http.response.start", "status": 308,
                        "headers": [(b"location", location.encode("ascii")), (b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": body})

    def location(self, scope) -> str | None:
        path = scope.get("raw_path") or scope["path"].encode()
        target = path.decode("latin-1")
        if scope.get("query_string"):
            target += "?" + scope["query_string"].decode("latin-1")
        if not target.startswith("/"):
            return None
        if self.public is not None:
            return self.public + target
        host = next((v.decode("latin-1") for n, v in scope["headers"] if n == b"host"), "")
        match = _HOSTNAME.fullmatch(host)
        if match is None:
            return None
        port = "" if self.https_port == 443 else f":{self.https_port}"
        return f"https://{match[1]}{port}{target}"


# Host header: a name, IPv4 or [IPv6] (group 1), then an optional port we replace.
_HOSTNAME = re.compile(r"([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")


class Hsts:
    """`Strict-Transport-Security: max-age=N` on every response to a client whose scheme is https
    (directly, or through a trusted proxy: this runs inside ForwardedMiddleware). Never on plain
    HTTP, where browsers ignore it anyway."""

    def __init__(self, inner, max_age: int) -> None:
        self.inner = inner
        self.header = (b"strict-transport-security", f"max-age={max_age}".encode())

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope.get("scheme") != "https":
            await self.inner(scope, receive, send)
            return

        async def send_with_header(message) -> None:
            if message["type"] == "http.response.start":
                message = dict(message, headers=list(message.get("headers", [])) + [self.header])
            await send(message)
        await self.inner(scope, receive, send_with_header)
