"""Bad input on every later chat route: a clear 4xx with the OCS envelope and `data: []`, never a
5xx (the Actor helper also asserts that on every reply), in JSON and XML, OCS v1 and v2."""
from __future__ import annotations

import pytest

from .chat_steps import send

# (method, path after /api/v1 with {t} = token and {m} = a message id)
ROUTES = [
    ("DELETE", "/chat/{t}/{m}"),
    ("PUT", "/chat/{t}/{m}"),
    ("DELETE", "/chat/{t}"),
    ("GET", "/chat/{t}/{m}/context"),
    ("POST", "/chat/{t}/read"),
    ("DELETE", "/chat/{t}/read"),
    ("POST", "/reaction/{t}/{m}"),
    ("DELETE", "/reaction/{t}/{m}"),
    ("GET", "/reaction/{t}/{m}"),
]
HOSTILE = [{"message": ["x"]}, {"reaction": {"a": 1}}, {"lastReadMessage": "1e9"}, {"limit": "-"},
           {"message": "\x00" * 5}, {"reaction": "\u200d\u200d"}, {"lastReadMessage": 10 ** 30},
           {"replyTo": "nan"}, {"reaction": "👍" * 50}]


@pytest.fixture
async def target(users, p1):
    token = await p1.create_room(2, name="room")
    return token, (await send(p1, token, "target")).data["id"]


@pytest.mark.parametrize("method,path", ROUTES)
async def test_hostile_bodies_never_cause_a_5xx(users, p1, target, method, path):
    token, message_id = target
    url = path.format(t=token, m=message_id)
    for body in HOSTILE:
        r = await p1.request(method, url, json=body)
        assert r.status < 500, (body, r.text)
        if r.status >= 400:
            assert r.data == [] and r.meta["message"], (body, r.text)
    r = await p1.request(method, url, raw_body=b'{"reaction": "\xff\xfe", "message": "\xc0"}',
                         headers={"Content-Type": "application/json"})
    assert 400 <= r.status < 500 or r.status == 200, r.text


@pytest.mark.parametrize("method,path", [(m, p) for m, p in ROUTES if "{m}" in p])
@pytest.mark.parametrize("message_id", ["0", "-1", "abc", "9" * 40, "1.5"])
async def test_odd_message_ids_are_4xx(users, p1, target, method, path, message_id):
    token, _ = target
    r = await p1.request(method, path.format(t=token, m=message_id), json={"message": "x", "reaction": "👍"})
    assert 300 <= r.status < 500, r.text


@pytest.mark.parametrize("method,path", ROUTES)
async def test_unknown_room_is_404_for_users_and_anonymous_callers(users, p1, method, path):
    url = path.format(t="zzzzzzzz", m=1)
    assert (await p1.request(method, url, json={"message": "x", "reaction": "👍"})).status == 404
    anonymous = users.actor("guest-nobody")
    assert (await anonymous.request(method, url, json={"message": "x", "reaction": "👍"})).status == 404


async def test_xml_and_v1_answers_of_the_new_routes(users, p1, target):
    token, message_id = target
    r = await p1.request("POST", f"/reaction/{token}/{message_id}", v=1, reaction="👍",
                         headers={"Accept": "application/xml"})
    assert r.status == 200 and "<statuscode>" in r.text   # OCS v1: HTTP 200, the code in the body
    r = await p1.request("GET", f"/reaction/{token}/{message_id}", headers={"Accept": "application/xml"})
    assert r.status == 200 and 'key="👍"' in r.text
    r = await p1.request("PUT", f"/chat/{token}/{message_id}", v=1, message="")
    assert (r.status, r.meta["statuscode"], r.data) == (200, 400, [])


async def test_post_with_bad_reply_to_and_silent_is_400(users, p1, target):
    token, _ = target
    for form in ({"replyTo": "x"}, {"replyTo": "99999999999999999999"}, {"silent": "perhaps"}):
        r = await p1.post(f"/chat/{token}", message="hi", **form)
        assert r.status == 400 and r.data == [], (form, r.text)
