"""The app's URL rules build their URLs lazily (server/routing.py), and still build them right."""
from __future__ import annotations

from server.app import create_app
from server.config import Config
from server.routing import LazyBuildRule


def _app(tmp_path):
    return create_app(Config(bind="127.0.0.1:0", data_dir=str(tmp_path)), housekeeping_timer=False)


def test_rules_defer_their_url_builders_until_a_url_is_built(tmp_path):
    app = _app(tmp_path)
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == "web_call")
    assert isinstance(rule, LazyBuildRule)
    stubs = {"_build": rule._build, "_build_unknown": rule._build_unknown}
    assert {stub.__name__ for stub in stubs.values()} == {"build_on_first_use"}   # nothing compiled yet
    adapter = app.url_map.bind("chat.example.org")
    assert adapter.build("web_call", {"token": "abcd1234"}) == "/call/abcd1234"   # append_unknown=True
    assert rule._build_unknown.__name__ != "build_on_first_use"   # compiled once, then kept
    assert rule._build is stubs["_build"]
    assert adapter.build("web_call", {"token": "abcd1234"}, append_unknown=False) == "/call/abcd1234"
    assert rule._build.__name__ != "build_on_first_use"
    assert adapter.build("web_call", {"token": "abcd1234"}) == "/call/abcd1234"


def test_unknown_values_become_the_query_string_and_paths_are_quoted(tmp_path):
    adapter = _app(tmp_path).url_map.bind("chat.example.org")
    assert adapter.build("web_call", {"token": "abcd1234", "x": "a b"}) == "/call/abcd1234?x=a+b"
    assert adapter.build("web_asset", {"path": "css/a b.css"}) == "/web/css/a%20b.css"
    assert adapter.build("web_call", {"token": "abcd1234"}, force_external=True) == \
        "http://chat.example.org/call/abcd1234"


def test_matching_is_unchanged(tmp_path):
    adapter = _app(tmp_path).url_map.bind("chat.example.org")
    assert adapter.match("/call/abcd1234", method="GET") == ("web_call", {"token": "abcd1234"})
