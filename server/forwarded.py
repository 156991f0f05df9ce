"""Trusted reverse proxies: the real client's address, scheme and host from X-Forwarded-* or
RFC 7239 `Forwarded`, believed only when the TCP peer is a configured proxy.

One ASGI middleware in front of the whole app (Quart, the `/spreed` WebSocket and the chat fast
path), so everything downstream reads the ASGI scope and nothing else: `scope["client"]` (the
throttle, the actor's address), `scope["scheme"]` (cookies' `Secure`, `request.host_url`, the
`wss://` URL of `/signaling/settings`) and the `host` header (every absolute URL).

Which hop is the client: the address lists are walked from the right (the hop our peer added)
leftwards while the address reached is itself a trusted proxy; the first untrusted address is
the client. Entries further left were written by the client or by proxies we do not know, so a
client cannot choose its own address by sending the header itself. The scheme and host come from
the same hop's position in their own lists when a proxy appends to them, else from their single
value. X-Forwarded-For wins when present (nginx, Caddy, HAProxy and Traefik all set it);
`Forwarded` is read only without it. The shipped proxy configs clear the header they do not set,
so neither can be injected by the client through them.
"""
from __future__ import annotations

import functools
import ipaddress
import re
from typing import Iterable, NamedTuple

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# A host header value we are willing to hand on: name or IPv4 or [IPv6], optional port.
_HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
                   r"[A-Za-z0-9])?)*\.?|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
# One `name=value` pair of a Forwarded element; the value a token or a quoted string.
_PAIR = re.compile(r'\s*([A-Za-z]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;,\s]*)\s*')


def parse_address(text: str) -> Address | None:
    """An IP address as a proxy writes it, or None: IPv4, IPv6 (bare or in brackets, optionally
    with a port), IPv4 with a port; an IPv4-mapped IPv6 address counts as its IPv4 address."""
    # The longest such text ("[v6%zone]:port") is far below 100 characters; refusing longer ones
    # also keeps what a client sends from filling the cache with big strings.
    return _parse_address(text) if len(text) <= 100 else None


@functools.lru_cache(maxsize=4096)   # ipaddress parsing is most of this module's cost; peers repeat
def _parse_address(text: str) -> Address | None:
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:   # IPv4:port
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text.partition("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class TrustedProxies:
    """The `[server] trusted_proxies` networks."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.networks: tuple[Network, ...] = tuple(ipaddress.ip_network(e, strict=False) for e in entries)
        self._known: dict[Address, bool] = {}   # answers for recent addresses (bounded below)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, address: Address | None) -> bool:
        if address is None:
            return False
        known = self._known.get(address)
        if known is None:
            known = any(address.version == n.version and address in n for n in self.networks)
            if len(self._known) >= 4096:
                self._known.clear()
            self._known[address] = known
        return known


class Hop(NamedTuple):
    address: str     # as written by the proxy (validated later)
    proto: str | None
    host: str | None


def _split_list(values: list[bytes]) -> list[str]:
    """Comma-separated header values, every header of that name in order."""
    return [item.strip() for value in values for item in value.decode("latin-1").split(",")]


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def parse_forwarded(values: list[bytes]) -> list[dict[str, str]] | None:
    """RFC 7239 elements (lower-case parameter names), left to right; None if malformed."""
    text = ", ".join(v.decode("latin-1") for v in values)
    elements: list[dict[str, str]] = []
    position, current = 0, {}
    while position < len(text):
        match = _PAIR.match(text, position)
        if match is None:
            return None
        current[match[1].lower()] = _unquote(match[2])
        position = match.end()
        if position < len(text) and text[position] == ";":
            position += 1
        elif position < len(text) and text[position] == ",":
            elements.append(current)
            current, position = {}, position + 1
        elif position < len(text):
            return None
    if current:
        elements.append(current)
    return elements


def hops(headers: list[tuple[bytes, bytes]], peer: str = "") -> list[Hop]:
    """The hops the proxies reported, left (farthest) to right (nearest). A proxy that reports
    only the scheme or host (some TLS load balancers) is the `peer` itself, one hop."""
    xff: list[bytes] = []
    proto: list[bytes] = []
    host: list[bytes] = []
    forwarded: list[bytes] = []
    for name, value in headers:
        if name == b"x-forwarded-for":
            xff.append(value)
        elif name == b"x-forwarded-proto":
            proto.append(value)
        elif name == b"x-forwarded-host":
            host.append(value)
        elif name == b"forwarded":
            forwarded.append(value)
    if xff:
        addresses = _split_list(xff)
        protos, hosts = _split_list(proto), _split_list(host)
        return [Hop(a, _aligned(protos, i, len(addresses)), _aligned(hosts, i, len(addresses)))
                for i, a in enumerate(addresses)]
    if forwarded:
        elements = parse_forwarded(forwarded) or []
        return [Hop(e.get("for", ""), e.get("proto"), e.get("host")) for e in elements]
    if proto or host:
        return [Hop(peer, _aligned(_split_list(proto), 0, 1), _aligned(_split_list(host), 0, 1))]
    return []


def _aligned(values: list[str], index: int, count: int) -> str | None:
    """The entry of a proto/host list that belongs to hop `index` of `count`: lists that grow with
    every proxy line up from the right; a single value (one proxy overwrote it) serves all."""
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    position = len(values) - (count - index)
    return values[position] if 0 <= position < len(values) else None


class Client(NamedTuple):
    address: str
    proto: str | None   # "http" / "https", or None: keep the connection's own
    host: str | None    # a valid Host value, or None: keep the request's own


def real_client(peer: Address, headers: list[tuple[bytes, bytes]], proxies: TrustedProxies) -> Client | None:
    """The client behind trusted proxy `peer`, or None when the headers name no usable hop."""
    reported = hops(headers, str(peer))
    chosen: Hop | None = None
    current: Address | None = peer
    for hop in reversed(reported):
        if not proxies.trusts(current):
            break
        address = parse_address(hop.address)
        if address is None:   # "unknown", an obfuscated name, garbage: stop at the proxy that wrote it
            break
        chosen, current = hop, address
    if chosen is None or current is None:
        return None
    proto = (chosen.proto or "").strip().lower()
    host = (chosen.host or "").strip()
    return Client(str(current), proto if proto in ("http", "https") else None,
                  host if host and _HOST.fullmatch(host) else None)


class ForwardedMiddleware:
    """Rewrites the scope of requests that come from a trusted proxy; leaves all others alone
    (their X-Forwarded-* and Forwarded headers are then just headers nobody reads)."""

    def __init__(self, inner, proxies: TrustedProxies) -> None:
        self.inner, self.proxies = inner, proxies

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] in ("http", "websocket"):
            peer = scope.get("client")
            address = parse_address(peer[0]) if peer else None
            if self.proxies.trusts(address):
                client = real_client(address, scope["headers"], self.proxies)  # type: ignore[arg-type]
                if client is not None:
                    scope = _rewritten(scope, client)
        await self.inner(scope, receive, send)


def _rewritten(scope, client: Client):
    scope = dict(scope)
    scope["client"] = (client.address, 0)   # the client's port is not reported (reliably)
    if client.proto is not None:
        secure = client.proto == "https"
        if scope["type"] == "websocket":
            scope["scheme"] = "wss" if secure else "ws"
        else:
            scope["scheme"] = "https" if secure else "http"
    if client.host is not None:
        host = client.host.encode("ascii")
        scope["headers"] = [(n, v) for n, v in scope["headers"] if n != b"host"] + [(b"host", host)]
    return scope
