"""Bad input on every room, participant and call endpoint: the exact 4xx, a `meta.message` that
says what was wrong, `data: []`, and never a 5xx (the Actor helper asserts that on every reply)."""
import pytest

P1 = "participant1-displayname"
UNKNOWN = "zzzzzzzz"

# (method, path after /api/v1, login required)
ENDPOINTS = [
    ("GET", "/room/{t}", False),
    ("PUT", "/room/{t}", True),
    ("DELETE", "/room/{t}", True),
    ("POST", "/room/{t}/public", True),
    ("DELETE", "/room/{t}/public", True),
    ("PUT", "/room/{t}/password", True),
    ("GET", "/room/{t}/participants", True),
    ("POST", "/room/{t}/participants", True),
    ("DELETE", "/room/{t}/participants", True),
    ("DELETE", "/room/{t}/participants/self", True),
    ("DELETE", "/room/{t}/participants/guests", True),
    ("POST", "/room/{t}/participants/active", False),
    ("DELETE", "/room/{t}/participants/active", False),
    ("POST", "/room/{t}/moderators", True),
    ("DELETE", "/room/{t}/moderators", True),
    ("GET", "/call/{t}", False),
    ("POST", "/call/{t}", False),
    ("POST", "/call/{t}/ping", False),
    ("DELETE", "/call/{t}", False),
]
LOGIN_ONLY = [(m, p) for m, p, login in ENDPOINTS if login] + [("GET", "/room"), ("POST", "/room")]


def assert_error(r, status, *words, where=""):
    assert r.status == status, f"{where}: {r.text}"
    assert r.data == [], where
    message = r.meta["message"]
    assert isinstance(message, str) and message, f"{where}: {r.meta}"
    for word in words:
        assert word in message, f"{where}: {message}"


@pytest.mark.parametrize("who", ["participant1", "guest"])
async def test_unknown_token_is_404_on_every_endpoint(users, who):
    actor = users.actor(who)
    for method, path, login in ENDPOINTS:
        r = await actor.request(method, path.format(t=UNKNOWN), participant="x", newParticipant="x")
        where = f"{who} {method} {path}"
        if who == "guest" and login:
            assert_error(r, 401, where=where)
        elif path.endswith("/active") and method == "DELETE":
            assert (r.status, r.data) == (200, []), where   # leaving never fails (Talk swallows it)
        else:
            assert_error(r, 404, where=where)


async def test_guest_calling_a_login_only_endpoint_is_401(p1, guest):
    token = await p1.create_room(3, name="lobby")
    assert (await guest.join(token)).status == 200       # even with a live guest session
    for method, path in LOGIN_ONLY:
        r = await guest.request(method, path.format(t=token), participant="x", newParticipant="x", roomType=3)
        assert_error(r, 401, "not logged in", where=f"{method} {path}")
        assert r.meta["statuscode"] == 997


# -- POST /room --------------------------------------------------------------------------------

@pytest.mark.parametrize("form,status,word", [
    ({}, 400, "roomType"),
    ({"roomType": "0"}, 400, "roomType"),
    ({"roomType": "4"}, 400, "roomType"),
    ({"roomType": "-1"}, 400, "roomType"),
    ({"roomType": "abc"}, 400, "roomType"),
    ({"roomType": "99999999999999999999999"}, 400, "roomType"),
    ({"roomType": "3", "roomName": "x" * 201}, 400, "roomName"),
    ({"roomType": "2", "roomName": "x" * 201}, 400, "roomName"),
    ({"roomType": "1"}, 404, "user"),
    ({"roomType": "1", "invite": "nobody"}, 404, "user"),
    ({"roomType": "2", "invite": "nogroup"}, 404, "nogroup"),
])
async def test_create_room_rejects_bad_form_input(p1, form, status, word):
    assert_error(await p1.post("/room", **form), status, word)
    assert await p1.rooms() == []


@pytest.mark.parametrize("body,word", [
    ({"roomType": 1.5}, "roomType"),
    ({"roomType": [3]}, "roomType"),
    ({"roomType": {"a": 1}}, "roomType"),
    ({"roomType": 10 ** 30}, "roomType"),
    ({"roomType": 3, "roomName": ["a"]}, "roomName"),
    ({"roomType": 3, "roomName": {"a": "b"}}, "roomName"),
    ({"roomType": 1, "invite": ["participant2"]}, "invite"),
], ids=lambda v: repr(v))
async def test_create_room_rejects_wrong_json_types(p1, body, word):
    assert_error(await p1.post("/room", json=body), 400, word)
    assert await p1.rooms() == []


async def test_room_name_of_exactly_200_characters_is_accepted(p1):
    r = await p1.post("/room", roomType=3, roomName="é" * 200)
    assert r.status == 201
    assert r.data["name"] == "é" * 200


@pytest.mark.parametrize("content,word", [
    ("[1, 2]", "object"),
    ('"roomType"', "object"),
    ("{not json", "JSON"),
    ('{"roomType": 3', "JSON"),
    ("\xff\xfe", "JSON"),
])
async def test_json_body_must_be_a_valid_object(p1, content, word):
    r = await p1.request("POST", "/room", headers={"Content-Type": "application/json"},
                         raw_body=content)
    assert_error(r, 400, word)


async def test_empty_json_body_counts_as_no_parameters(p1):
    r = await p1.request("POST", "/room", headers={"Content-Type": "application/json"}, raw_body="")
    assert_error(r, 400, "roomType")


# -- PUT /room/{token} ------------------------------------------------------------------------

@pytest.mark.parametrize("room_type", [1, 3])
async def test_rename_to_an_over_long_name_is_400_even_for_one_to_one(p1, room_type):
    token = await p1.create_room(room_type, invite="participant2" if room_type == 1 else "", name="")
    assert_error(await p1.put(f"/room/{token}", roomName="x" * 201), 400, "roomName", "200")


async def test_rename_needs_a_room_name(p1):
    token = await p1.create_room(3, name="lobby")
    assert_error(await p1.put(f"/room/{token}"), 400, "roomName")
    assert_error(await p1.put(f"/room/{token}", json={"roomName": ["x"]}), 400, "roomName")
    assert (await p1.room(token)).data["name"] == "lobby"


async def test_rename_checks_permission_before_the_name(p1, p2):
    token = await p1.create_room(3, name="lobby")
    assert (await p1.post(f"/room/{token}/participants", newParticipant="participant2")).status == 200
    assert (await p2.put(f"/room/{token}", roomName="x" * 201)).status == 403


# -- passwords --------------------------------------------------------------------------------

async def test_room_password_must_be_a_string_of_sane_length(p1):
    token = await p1.create_room(3, name="lobby")
    assert_error(await p1.put(f"/room/{token}/password", json={"password": ["x"]}), 400, "password")
    assert_error(await p1.put(f"/room/{token}/password", password="x" * 1025), 400, "password")
    assert (await p1.room(token)).data["hasPassword"] is False


async def test_join_password_must_be_a_string(p1, guest):
    token = await p1.create_room(3, name="lobby")
    assert (await p1.put(f"/room/{token}/password", password="foobar")).status == 200
    assert_error(await guest.post(f"/room/{token}/participants/active", json={"password": {"a": 1}}),
                 400, "password")
    assert (await guest.post(f"/room/{token}/participants/active", json={"password": "foobar"})).status == 200


async def test_repeated_wrong_room_passwords_are_throttled(p1, guest):
    token = await p1.create_room(3, name="lobby")
    assert (await p1.put(f"/room/{token}/password", password="foobar")).status == 200
    for _ in range(5):
        assert (await guest.join(token, "wrong")).status == 403
    assert_error(await guest.join(token, "foobar"), 429, "retry in")


# -- participants and moderators --------------------------------------------------------------

TARGETED_ENDPOINTS = [
    ("POST", "/room/{t}/participants", "newParticipant"),
    ("DELETE", "/room/{t}/participants", "participant"),
    ("DELETE", "/room/{t}/participants/guests", "participant"),
    ("POST", "/room/{t}/moderators", "participant"),
    ("DELETE", "/room/{t}/moderators", "participant"),
]


@pytest.mark.parametrize("method,path,name", TARGETED_ENDPOINTS)
async def test_missing_or_mistyped_target_is_400_naming_the_parameter(p1, method, path, name):
    token = await p1.create_room(3, name="lobby")
    assert_error(await p1.request(method, path.format(t=token)), 400, name)
    assert_error(await p1.request(method, path.format(t=token), json={name: ["participant2"]}), 400, name)


@pytest.mark.parametrize("method,path,name", TARGETED_ENDPOINTS)
async def test_missing_target_still_answers_403_to_non_moderators(p1, p2, method, path, name):
    token = await p1.create_room(3, name="lobby")
    assert (await p1.post(f"/room/{token}/participants", newParticipant="participant2")).status == 200
    assert (await p2.request(method, path.format(t=token))).status == 403


async def test_kicking_an_unknown_guest_session_is_404_and_kicking_a_user_session_is_403(p1, p2):
    token = await p1.create_room(3, name="lobby")
    assert (await p1.post(f"/room/{token}/participants", newParticipant="participant2")).status == 200
    session = (await p2.join(token)).data["sessionId"]
    assert_error(await p1.delete(f"/room/{token}/participants/guests", participant="x" * 255), 404)
    assert_error(await p1.delete(f"/room/{token}/participants/guests", participant=session), 403)


async def test_removing_an_unknown_user_is_404(p1):
    token = await p1.create_room(3, name="lobby")
    assert_error(await p1.delete(f"/room/{token}/participants", participant="nobody"), 404, "nobody")


async def test_huge_participant_value_is_just_not_found(p1):
    token = await p1.create_room(3, name="lobby")
    assert_error(await p1.post(f"/room/{token}/participants", newParticipant="x" * 100_000), 404)


# -- never a 5xx -------------------------------------------------------------------------------

ODD_VALUES = [None, True, -1, 10 ** 40, 1.5, "", "\x00" + "é" * 300, ["a"], {"a": [1]}]
PARAMS = ["roomType", "invite", "roomName", "password", "newParticipant", "participant", "format",
          "userid", "displayname", "displayName", "key", "value", "groupid", "search"]
PROVISIONING = [("GET", "/cloud/users"), ("POST", "/cloud/users"), ("GET", "/cloud/users/participant3"),
                ("PUT", "/cloud/users/participant3"), ("POST", "/cloud/users/participant3/groups"),
                ("DELETE", "/cloud/users/participant3/groups"), ("GET", "/cloud/groups"),
                ("POST", "/cloud/groups"), ("GET", "/cloud/groups/attendees1"), ("GET", "/cloud/user")]


async def test_no_endpoint_answers_5xx_to_odd_json_values(users, p1, guest):
    """Every parameter of every endpoint, as every JSON type: a 4xx with a message, or a success."""
    admin = users.actor("admin", password="admin")
    deleting = [("DELETE", "/room/{t}/participants/self"), ("DELETE", "/room/{t}")]
    endpoints = [("GET", "/room"), ("POST", "/room")] + [
        (m, p) for m, p, _ in ENDPOINTS if (m, p) not in deleting] + deleting
    for value in ODD_VALUES:
        token = await p1.create_room(3, name="lobby")
        assert (await guest.join(token)).status == 200
        body = {name: value for name in PARAMS}
        for method, path in endpoints:
            for actor in (p1, guest):
                r = await actor.request(method, path.format(t=token), json=body)   # asserts < 500
                if r.status >= 400:
                    assert isinstance(r.meta["message"], str) and r.meta["message"], (method, path, value)
        for method, path in PROVISIONING:
            r = await admin.request(method, path, prefix="/ocs/v2.php", json=body)
            if r.status >= 400:
                assert r.meta["message"], (method, path, value)
