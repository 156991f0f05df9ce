"""Bad and borderline input never gives a 5xx (the helper asserts it); the envelope says what was wrong."""
from __future__ import annotations

import pytest

from .. import cluster_mode
from .chat_steps import comments, newest, read, send


@pytest.fixture
async def room(p1):
    return await p1.create_room(3, name="room")


async def test_message_is_trimmed_and_limited_to_1000_code_points(p1, room):
    await send(p1, room, " \t\n  padded  \r\n")
    await send(p1, room, "x" * 1000)
    await send(p1, room, "😀" * 1000)                    # code points, not bytes
    await send(p1, room, "  " + "y" * 1000 + "  ")       # the limit applies after trimming
    reply = await send(p1, room, "z" * 1001, expect=413)
    assert reply.meta["message"] == "message must be at most 1000 characters"
    assert reply.data == []
    await send(p1, room, "\u00a0kept\u00a0")             # PHP's trim() leaves a no-break space alone
    messages = [m["message"] for m in comments(await read(p1, room))]
    assert messages == ["\u00a0kept\u00a0", "y" * 1000, "😀" * 1000, "x" * 1000, "padded"]


async def test_missing_message_is_400_and_empty_message_is_stored(p1, room):
    reply = await p1.post(f"/chat/{room}")
    assert reply.status == 400 and reply.meta["message"] == "message is required"
    await send(p1, room, "")
    await send(p1, room, "   ")
    assert [m["message"] for m in comments(await read(p1, room))] == ["", ""]


async def test_json_body_is_accepted_and_non_string_message_is_400(p1, room):
    assert (await p1.post(f"/chat/{room}", json={"message": "from json"})).status == 201
    assert (await p1.post(f"/chat/{room}", json={"message": ["a"]})).status == 400
    assert comments(await read(p1, room))[0]["message"] == "from json"


@pytest.mark.parametrize("name,value", [("limit", "abc"), ("timeout", "1.5"), ("lastKnownMessageId", "x1"),
                                        ("lookIntoFuture", "yes")])
async def test_non_integer_parameters_are_400_naming_the_parameter(p1, room, name, value):
    reply = await read(p1, room, **{name: value})
    assert reply.status == 400
    assert reply.meta["message"] == f"{name} must be an integer"
    assert reply.data == []


async def test_mentions_limit_must_be_an_integer(p1, room):
    reply = await p1.get(f"/chat/{room}/mentions", params={"limit": "many"})
    assert reply.status == 400 and reply.meta["message"] == "limit must be an integer"


async def test_negative_or_unknown_cursors_are_harmless(p1, room):
    await send(p1, room, "one")
    assert [m["message"] for m in comments(await read(p1, room, lastKnownMessageId=-7))] == ["one"]
    assert (await read(p1, room, lastKnownMessageId=1)).status == 304
    assert [m["message"] for m in comments(await read(p1, room, lastKnownMessageId=10**12))] == ["one"]
    assert (await read(p1, room, lookIntoFuture=1, lastKnownMessageId=10**12, timeout=0)).status == 304
    assert (await read(p1, room, lookIntoFuture=1, lastKnownMessageId=-1, timeout=0)).status == 200


async def test_unknown_room_and_wrong_token_shape(p1):
    assert (await send(p1, "zzzzzzzz", "hi", expect=404)).data == []
    assert (await read(p1, "zzzzzzzz")).status == 404
    assert (await p1.get("/chat/zzzzzzzz/mentions")).status == 404
    assert (await read(p1, "NOT-A-TOKEN")).status == 404


async def test_xml_and_ocs_v1_responses(p1, room):
    reply = await p1.post(f"/chat/{room}", v=1, message="via v1")
    assert reply.status == 200 and reply.meta["statuscode"] == 201
    reply = await p1.get(f"/chat/{room}", headers={"Accept": "application/xml"}, params={"lookIntoFuture": 0})
    assert reply.status == 200
    assert "<message>via v1</message>" in reply.text and "<messageParameters></messageParameters>" in reply.text
    await send(p1, room, "hi @participant2")
    reply = await p1.get(f"/chat/{room}", params={"format": "xml", "lookIntoFuture": 0, "limit": 1})
    assert "<mention-user1><type>user</type><id>participant2</id>" in reply.text
    v1 = await p1.get(f"/chat/{room}", v=1, params={"lookIntoFuture": 1, "lastKnownMessageId": 10**9,
                                                    "timeout": 0})
    assert v1.status == 304 and v1.text == ""


async def test_room_and_its_messages_are_deleted_together(users, p1, room):
    await send(p1, room, "doomed")
    room_id = (await p1.get(f"/room/{room}")).data["id"]
    assert (await p1.delete(f"/room/{room}")).status == 200

    def leftovers(conn):
        return (conn.execute("SELECT COUNT(*) FROM messages WHERE room_id = ?", (room_id,)).fetchone()[0],
                conn.execute("SELECT COUNT(*) FROM read_markers WHERE room_id = ?", (room_id,)).fetchone()[0])
    assert await users.ctx.db.run(leftovers) == (0, 0)
    assert (await read(p1, room)).status == 404


async def test_deleting_a_user_follows_talk_and_blanks_their_name(users, p1, p2, p3):
    admin = users.actor("admin", "admin", password="admin")
    one_to_one = await p2.create_room(1, invite="participant1")
    await send(p2, one_to_one, "private words")
    group = await p1.create_room(2, name="group")
    for user in ("participant2", "participant3"):
        await p1.post(f"/room/{group}/participants", newParticipant=user)
    await send(p2, group, "I was here")
    await send(p1, group, "thanks @participant2")
    assert (await admin.request("DELETE", "/cloud/users/participant2", prefix="/ocs/v2.php")).status == 200

    assert (await read(p1, one_to_one)).status == 404       # one-to-one rooms go, with their messages
    count = await users.ctx.db.run(lambda conn: conn.execute(
        "SELECT COUNT(*) FROM messages WHERE actor_id = 'participant2' AND message = 'private words'").fetchone()[0])
    assert count == 0
    messages = comments(await read(p3, group))
    assert [(m["actorId"], m["actorDisplayName"]) for m in messages] == [
        ("participant1", "participant1-displayname"), ("participant2", "")]
    assert messages[0]["messageParameters"]["mention-user1"]["name"] == "Unknown user"
    for ringed in await cluster_mode.rings(users, group, messages[-1]["id"] - 1, 10):   # each node's ring
        assert [m["actorDisplayName"] for m in ringed] == ["", "participant1-displayname"]
        assert ringed[1]["messageParameters"]["mention-user1"]["name"] == "Unknown user"


async def test_renaming_a_user_renames_their_messages_and_mentions(users, p1, p2, room):
    admin = users.actor("admin", "admin", password="admin")
    await p1.post(f"/room/{room}/participants", newParticipant="participant2")
    await send(p2, room, "hello @participant1")
    await send(p1, room, "hi @participant2")
    reply = await admin.request("PUT", "/cloud/users/participant2", prefix="/ocs/v2.php", key="displayname",
                                value="Second")
    assert reply.status == 200
    for messages in (comments(await read(p1, room)), *(r[::-1] for r in await cluster_mode.rings(users, room, 0, 10))):
        assert messages[0]["messageParameters"]["mention-user1"]["name"] == "Second"
        assert messages[1]["actorDisplayName"] == "Second"


async def test_deleting_a_room_ends_its_parked_polls_at_once(users, p1, room):
    import trio

    from .chat_steps import wait_parked
    replies = []
    start = await newest(p1, room)

    async def poll():
        replies.append(await read(p1, room, lookIntoFuture=1, timeout=30, lastKnownMessageId=start))
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(poll)
            await wait_parked(users, 1)
            assert (await p1.delete(f"/room/{room}")).status == 200
    assert replies[0].status == 404
