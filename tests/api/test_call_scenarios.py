"""callapi/one-to-one, group, public and password features (talk-api-v1.md §13, §5): 18 scenarios.

`sees K peers` is GET /call/{token}: on 200 the array length must be K."""
import pytest

KINDS = ["one-to-one", "group", "public", "password"]


async def make_room(kind, p1, p2):
    """The feature's room, with p1 as owner and p2 invited."""
    if kind == "one-to-one":
        return await p1.create_room(1, invite="participant2")
    if kind == "group":
        return await p1.create_room(2, invite="attendees1")   # p2 is a member of attendees1
    token = await p1.create_room(3, name="room")
    assert (await p1.post(f"/room/{token}/participants", newParticipant="participant2")).status == 200
    if kind == "password":
        assert (await p1.put(f"/room/{token}/password", password="foobar")).status == 200
    return token


async def sees_peers(actor, token, expected):
    """`user U sees K peers in call R with 200`, or with the given error status."""
    r = await actor.get(f"/call/{token}")
    if isinstance(expected, int) and expected >= 400:
        assert r.status == expected, r.text
        return
    assert r.status == 200, r.text
    assert len(r.data) == expected, r.data


async def step(actor, method, path, token, expected, **form):
    r = await actor.request(method, path.format(token=token), **form)
    assert r.status == expected, f"{actor.name} {method} {path}: {r.status} {r.text}"
    assert r.data == [] or path.endswith("/active")


JOIN_ROOM = ("POST", "/room/{token}/participants/active")
LEAVE_ROOM = ("DELETE", "/room/{token}/participants/active")
JOIN_CALL = ("POST", "/call/{token}")
PING = ("POST", "/call/{token}/ping")
LEAVE_CALL = ("DELETE", "/call/{token}")


@pytest.mark.parametrize("kind", KINDS)
async def test_user_has_no_rooms(p1, p2, p3, kind):
    for actor in (p1, p2, p3):
        assert await actor.rooms() == []


@pytest.mark.parametrize("kind", KINDS)
async def test_invited_users_can_do_everything(p1, p2, kind):
    token = await make_room(kind, p1, p2)
    await sees_peers(p1, token, 0)
    await sees_peers(p2, token, 0)
    await step(p1, *JOIN_ROOM, token, 200)
    await sees_peers(p1, token, 0)
    await step(p1, *JOIN_CALL, token, 200)
    await sees_peers(p1, token, 1)
    await sees_peers(p2, token, 1)
    await step(p2, *JOIN_ROOM, token, 200)
    await sees_peers(p2, token, 1)
    await step(p2, *JOIN_CALL, token, 200)
    await sees_peers(p1, token, 2)
    await sees_peers(p2, token, 2)
    await step(p1, *PING, token, 200)
    await step(p2, *PING, token, 200)
    await step(p1, *LEAVE_CALL, token, 200)
    await sees_peers(p1, token, 1)
    await sees_peers(p2, token, 1)
    await step(p1, *LEAVE_ROOM, token, 200)
    await sees_peers(p1, token, 1)
    await sees_peers(p2, token, 1)
    await step(p2, *LEAVE_CALL, token, 200)
    await sees_peers(p1, token, 0)
    await sees_peers(p2, token, 0)
    await step(p2, *LEAVE_ROOM, token, 200)
    await sees_peers(p1, token, 0)
    await sees_peers(p2, token, 0)


@pytest.mark.parametrize("kind", ["one-to-one", "group"])
@pytest.mark.parametrize("outsider", ["participant3", "guest"])
async def test_outsider_cannot_do_anything_in_a_private_room(users, p1, p2, kind, outsider):
    other = users.actor(outsider)
    token = await make_room(kind, p1, p2)
    await sees_peers(other, token, 404)
    await sees_peers(p1, token, 0)
    await step(other, *JOIN_ROOM, token, 404)
    await step(p1, *JOIN_ROOM, token, 200)
    await step(p1, *JOIN_CALL, token, 200)
    await sees_peers(p1, token, 1)
    await sees_peers(other, token, 404)
    await step(other, *JOIN_CALL, token, 404)
    await sees_peers(p1, token, 1)
    await step(other, *PING, token, 404)
    await step(other, *LEAVE_CALL, token, 404)
    await step(other, *LEAVE_ROOM, token, 200)
    await sees_peers(other, token, 404)
    await step(p1, *LEAVE_CALL, token, 200)
    await sees_peers(p1, token, 0)


@pytest.mark.parametrize("kind,password", [("public", None), ("password", "foobar")],
                         ids=["public", "password"])
@pytest.mark.parametrize("outsider", ["participant3", "guest"])
async def test_outsider_can_do_everything_in_a_public_room(users, p1, p2, kind, password, outsider):
    other = users.actor(outsider)
    token = await make_room(kind, p1, p2)
    await step(p1, *JOIN_ROOM, token, 200)
    await step(p1, *JOIN_CALL, token, 200)
    await sees_peers(p1, token, 1)
    await sees_peers(other, token, 404)
    await step(other, *JOIN_ROOM, token, 200, **({"password": password} if password else {}))
    await sees_peers(other, token, 1)
    await step(other, *JOIN_CALL, token, 200)
    await sees_peers(other, token, 2)
    await sees_peers(p1, token, 2)
    await step(other, *PING, token, 200)
    await step(other, *LEAVE_CALL, token, 200)
    await sees_peers(other, token, 1)
    await sees_peers(p1, token, 1)
    await step(other, *LEAVE_ROOM, token, 200)
    await sees_peers(other, token, 404)   # the self-joined / guest row is gone
    await sees_peers(p1, token, 1)


@pytest.mark.parametrize("outsider,leave_call", [("participant3", 404), ("guest", 200)])
async def test_outsider_cannot_join_without_the_password(users, p1, p2, outsider, leave_call):
    """A guest without a session may "leave the call" (200, nothing to do); a user without a row gets 404."""
    other = users.actor(outsider)
    token = await make_room("password", p1, p2)
    await step(p1, *JOIN_ROOM, token, 200)
    await step(p1, *JOIN_CALL, token, 200)
    await sees_peers(other, token, 404)
    await step(other, *JOIN_ROOM, token, 403)
    await sees_peers(other, token, 404)
    await step(other, *JOIN_CALL, token, 404)
    await sees_peers(other, token, 404)
    await step(other, *PING, token, 404)
    await step(other, *LEAVE_CALL, token, leave_call)
    await step(other, *LEAVE_ROOM, token, 200)
    await sees_peers(other, token, 404)
    await sees_peers(p1, token, 1)


async def test_ping_needs_the_cookie_session_even_for_users(users, p1):
    token = await p1.create_room(3, name="lobby")
    assert (await p1.join(token)).status == 200
    same_user_other_jar = users.actor("participant1")
    assert (await same_user_other_jar.post(f"/call/{token}/ping")).status == 404
    assert (await p1.post(f"/call/{token}/ping")).status == 200


async def test_joining_one_room_keeps_the_session_in_another(p1):
    first = await p1.create_room(3, name="one")
    second = await p1.create_room(3, name="two")
    session_one = (await p1.join(first)).data["sessionId"]
    session_two = (await p1.join(second)).data["sessionId"]
    assert session_one != session_two
    assert (await p1.room(first)).data["sessionId"] == session_one
    assert (await p1.post(f"/call/{first}/ping")).status == 200
    assert (await p1.post(f"/call/{second}/ping")).status == 200


async def test_rejoining_replaces_a_users_session(p1, p2):
    token = await make_room("public", p1, p2)
    first = (await p1.join(token)).data["sessionId"]
    assert (await p1.post(f"/call/{token}")).status == 200
    second = (await p1.join(token)).data["sessionId"]
    assert second != first
    data = (await p1.room(token)).data
    assert data["sessionId"] == second
    peers = (await p1.get(f"/call/{token}")).data
    assert [peer["sessionId"] for peer in peers] == [second]   # in_call is kept across a re-join
