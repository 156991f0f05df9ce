"""server/forwarded.py: which hop is the client, and what the middleware rewrites."""
from __future__ import annotations

import ipaddress

import pytest

from server.forwarded import (ForwardedMiddleware, TrustedProxies, parse_address, parse_forwarded,
                              real_client)

PROXIES = TrustedProxies(["127.0.0.1", "10.0.0.0/8", "fd00::/8"])
PEER = ipaddress.ip_address("127.0.0.1")


def headers(**values: str) -> list[tuple[bytes, bytes]]:
    return [(name.replace("_", "-").encode(), value.encode()) for name, value in values.items()]


@pytest.mark.parametrize("text, expected", [
    ("203.0.113.7", "203.0.113.7"), (" 203.0.113.7:4711", "203.0.113.7"), ("2001:db8::1", "2001:db8::1"),
    ("[2001:db8::1]:4711", "2001:db8::1"), ("[2001:db8::1]", "2001:db8::1"), ("::ffff:192.0.2.1", "192.0.2.1"),
    ("fe80::1%eth0", "fe80::1"), ("unknown", None), ("_hidden", None), ("", None), ("1.2.3.4.5", None),
])
def test_parse_address(text, expected):
    address = parse_address(text)
    assert (str(address) if address is not None else None) == expected


def test_parse_forwarded_elements_and_quoting():
    parsed = parse_forwarded([b'for=192.0.2.60;proto=HTTPS;by=203.0.113.43, for="[2001:db8:cafe::17]:4711"',
                              b'For="_gazonk";host="chat.example.org"'])
    assert parsed == [{"for": "192.0.2.60", "proto": "HTTPS", "by": "203.0.113.43"},
                      {"for": "[2001:db8:cafe::17]:4711"}, {"for": "_gazonk", "host": "chat.example.org"}]
    assert parse_forwarded([b"for=1.2.3.4 garbage"]) is None


def test_the_right_most_untrusted_hop_is_the_client():
    # the client wrote the first two entries itself; our proxies appended the rest
    client = real_client(PEER, headers(x_forwarded_for="1.1.1.1, 198.51.100.9, 203.0.113.7, 10.1.2.3"), PROXIES)
    assert client is not None and client.address == "203.0.113.7"


def test_a_chain_of_trusted_proxies_only_is_walked_to_its_left_end():
    client = real_client(PEER, headers(x_forwarded_for="10.0.0.2, 10.0.0.1"), PROXIES)
    assert client is not None and client.address == "10.0.0.2"


def test_garbage_at_the_right_end_keeps_the_peer():
    assert real_client(PEER, headers(x_forwarded_for="203.0.113.7, not-an-address"), PROXIES) is None
    assert real_client(PEER, headers(), PROXIES) is None


def test_a_proxy_reporting_only_the_scheme_keeps_its_own_address():
    assert real_client(PEER, headers(x_forwarded_proto="https"), PROXIES) == ("127.0.0.1", "https", None)


def test_proto_and_host_lists_line_up_with_the_chosen_hop():
    client = real_client(PEER, headers(x_forwarded_for="203.0.113.7, 10.0.0.1", x_forwarded_proto="https, http",
                                       x_forwarded_host="chat.example.org, internal:8080"), PROXIES)
    assert client == ("203.0.113.7", "https", "chat.example.org")
    client = real_client(PEER, headers(x_forwarded_for="203.0.113.7, 10.0.0.1", x_forwarded_proto="HTTPS",
                                       x_forwarded_host="chat.example.org:8443"), PROXIES)
    assert client == ("203.0.113.7", "https", "chat.example.org:8443")


def test_invalid_proto_and_host_values_are_dropped():
    client = real_client(PEER, headers(x_forwarded_for="203.0.113.7", x_forwarded_proto="javascript",
                                       x_forwarded_host="evil.org/path?x"), PROXIES)
    assert client == ("203.0.113.7", None, None)


def test_forwarded_is_used_only_without_x_forwarded_for():
    only = headers(forwarded='for="[2001:db8::1]:4711";proto=https;host=chat.example.org')
    assert real_client(PEER, only, PROXIES) == ("2001:db8::1", "https", "chat.example.org")
    both = headers(forwarded="for=198.51.100.1;proto=http", x_forwarded_for="203.0.113.7")
    assert real_client(PEER, both, PROXIES) == ("203.0.113.7", None, None)


async def _scope_seen(scope: dict, proxies: TrustedProxies = PROXIES) -> dict:
    seen: dict = {}

    async def inner(scope, receive, send):
        seen.update(scope)
    await ForwardedMiddleware(inner, proxies)(scope, None, None)
    return seen


def _scope(kind: str, peer: str, **values: str) -> dict:
    return {"type": kind, "scheme": "ws" if kind == "websocket" else "http", "client": (peer, 51000),
            "headers": [(b"host", b"127.0.0.1:8080")] + headers(**values), "path": "/"}


async def test_middleware_rewrites_client_scheme_and_host_for_a_trusted_peer():
    seen = await _scope_seen(_scope("http", "127.0.0.1", x_forwarded_for="203.0.113.7",
                                    x_forwarded_proto="https", x_forwarded_host="chat.example.org"))
    assert seen["client"] == ("203.0.113.7", 0) and seen["scheme"] == "https"
    assert [v for n, v in seen["headers"] if n == b"host"] == [b"chat.example.org"]
    seen = await _scope_seen(_scope("websocket", "::ffff:10.9.8.7", x_forwarded_for="2001:db8::5",
                                    x_forwarded_proto="https"))
    assert seen["client"] == ("2001:db8::5", 0) and seen["scheme"] == "wss"


async def test_middleware_ignores_the_headers_from_any_other_peer():
    original = _scope("http", "192.0.2.50", x_forwarded_for="203.0.113.7", x_forwarded_proto="https",
                      x_forwarded_host="chat.example.org", forwarded="for=1.2.3.4;proto=https")
    seen = await _scope_seen(dict(original))
    assert seen["client"] == ("192.0.2.50", 51000) and seen["scheme"] == "http"
    assert [v for n, v in seen["headers"] if n == b"host"] == [b"127.0.0.1:8080"]
    seen = await _scope_seen(dict(original), TrustedProxies([]))
    assert seen["client"] == ("192.0.2.50", 51000)
