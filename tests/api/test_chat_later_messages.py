"""The later message object (talk-chat-later.md §1), replies (§2), referenceId and silent (§3.1),
X-Chat-Last-Common-Read (§3.2) and the capabilities that announce them (§0.2)."""
from __future__ import annotations

import pytest

from .chat_steps import comments, joined, newest, read, send

LATER_FIELDS = {"systemMessage", "messageType", "isReplyable", "referenceId", "reactions", "expirationTimestamp",
                "markdown"}


async def group(p1, *members) -> str:
    token = await p1.create_room(2, name="team")
    for user in members:
        assert (await p1.post(f"/room/{token}/participants", newParticipant=user)).status == 200
    return token


async def test_a_posted_message_is_answered_with_the_later_fields(users, p1):
    token = await group(p1)
    reply = await send(p1, token, "hello")
    m = reply.data
    assert set(m) >= LATER_FIELDS | {"id", "token", "actorType", "actorId", "actorDisplayName", "timestamp",
                                     "message", "messageParameters"}
    assert (m["messageType"], m["systemMessage"], m["isReplyable"], m["markdown"]) == ("comment", "", True, True)
    assert m["reactions"] == {} and reply.text.count('"reactions":{}') == 1   # an object, never []
    assert "parent" not in m and "silent" not in m and "reactionsSelf" not in m and "deleted" not in m
    assert reply.headers["X-Chat-Last-Common-Read"].isdigit()
    assert comments(await read(p1, token))[0] == m


async def test_reply_carries_the_full_parent_and_notifies_its_author(users, p1, p2):
    token = await group(p1, "participant2")
    original = (await send(p2, token, "question")).data
    reply = (await send(p1, token, "answer", replyTo=original["id"])).data
    assert reply["parent"]["id"] == original["id"] and reply["parent"]["message"] == "question"
    assert "parent" not in reply["parent"]
    listed = comments(await read(p2, token))[0]
    assert listed["parent"] == original
    room = (await p2.room(token)).data
    assert room["unreadMention"] is True and room["unreadMentionDirect"] is True
    # The parent is filled in even when it is older than the returned page.
    assert (await read(p1, token, limit=1)).data[0]["parent"]["id"] == original["id"]


@pytest.mark.parametrize("reply_to", ["999999", "-3", "abc"])
async def test_reply_to_an_unknown_message_is_400(users, p1, reply_to):
    token = await group(p1)
    r = await p1.post(f"/chat/{token}", message="x", replyTo=reply_to)
    assert r.status == 400, r.text


async def test_reply_to_a_message_of_another_room_or_a_system_message_is_400(users, p1):
    one, other = await group(p1), await group(p1)
    foreign = (await send(p1, other, "elsewhere")).data["id"]
    assert (await p1.post(f"/chat/{one}", message="x", replyTo=foreign)).status == 400
    system = (await read(p1, one)).data[-1]
    assert system["systemMessage"] == "conversation_created" and system["isReplyable"] is False
    r = await p1.post(f"/chat/{one}", message="x", replyTo=system["id"])
    assert r.status == 400 and "replyTo" in r.meta["message"]


async def test_reference_id_is_trimmed_to_64_characters_and_echoed(users, p1):
    token = await group(p1)
    ref = "a" * 70
    m = (await send(p1, token, "with ref", referenceId=f"  {ref}  ")).data
    assert m["referenceId"] == "a" * 64
    assert (await send(p1, token, "no ref")).data["referenceId"] == ""
    assert comments(await read(p1, token))[1]["referenceId"] == "a" * 64


async def test_silent_messages_say_so_and_normal_ones_do_not(users, p1):
    token = await group(p1)
    assert (await send(p1, token, "psst", silent="true")).data["silent"] is True
    assert "silent" not in (await send(p1, token, "loud", silent="0")).data
    assert (await p1.post(f"/chat/{token}", message="x", silent="maybe")).status == 400


async def test_mention_sets_the_flags_until_the_marker_passes_it(users, p1, p2):
    token = await group(p1, "participant2")
    room = (await p2.room(token)).data
    assert (room["unreadMention"], room["unreadMentionDirect"]) == (False, False)
    m = (await send(p1, token, "hi @participant2")).data
    assert (await p2.room(token)).data["unreadMention"] is True
    assert (await p1.room(token)).data["unreadMention"] is False         # not the sender's own
    assert (await p2.post(f"/chat/{token}/read", lastReadMessage=m["id"])).status == 200
    room = (await p2.room(token)).data
    assert (room["unreadMention"], room["lastReadMessage"]) == (False, m["id"])


async def test_last_common_read_is_the_smallest_user_marker(users, p1, p2):
    token = await group(p1, "participant2")
    a = (await send(p1, token, "a")).data["id"]
    b = (await send(p1, token, "b")).data["id"]
    await p1.post(f"/chat/{token}/read", lastReadMessage=b)
    r = await p2.post(f"/chat/{token}/read", lastReadMessage=a)
    assert r.headers["X-Chat-Last-Common-Read"] == str(a)
    assert (await p1.room(token)).data["lastCommonReadMessage"] == a
    r = await read(p1, token)
    assert r.headers["X-Chat-Last-Common-Read"] == str(a)


async def test_poll_with_a_stale_common_read_answers_200_empty_instead_of_waiting(users, p1, p2):
    token = await group(p1, "participant2")
    last = (await send(p1, token, "a")).data["id"]
    await p1.post(f"/chat/{token}/read", lastReadMessage=last)
    await p2.post(f"/chat/{token}/read", lastReadMessage=last)
    r = await read(p1, token, lookIntoFuture=1, lastKnownMessageId=last, lastCommonReadId=0, timeout=5)
    assert (r.status, r.data, r.headers["X-Chat-Last-Common-Read"]) == (200, [], str(last))
    assert "X-Chat-Last-Given" not in r.headers
    r = await read(p1, token, lookIntoFuture=1, lastKnownMessageId=last, lastCommonReadId=last, timeout=0)
    assert r.status == 304


async def test_include_last_known_returns_the_cursor_message_too(users, p1):
    token = await group(p1)
    ids = [(await send(p1, token, f"m{i}")).data["id"] for i in range(3)]
    r = await read(p1, token, lookIntoFuture=1, lastKnownMessageId=ids[1], includeLastKnown=1, timeout=0)
    assert [m["id"] for m in r.data] == ids[1:]
    r = await read(p1, token, lastKnownMessageId=ids[1], includeLastKnown=1)
    assert [m["id"] for m in r.data][:2] == [ids[1], ids[0]]


async def test_set_read_marker_0_leaves_the_marker_alone(users, p1, p2):
    token = await group(p1, "participant2")
    last = (await send(p1, token, "a")).data["id"]
    await read(p2, token, lookIntoFuture=1, lastKnownMessageId=last, setReadMarker=0, timeout=0)
    assert (await p2.room(token)).data["lastReadMessage"] == -1
    await read(p2, token, lookIntoFuture=1, lastKnownMessageId=last, timeout=0)
    assert (await p2.room(token)).data["lastReadMessage"] == last


async def test_guest_messages_are_replyable_and_guests_can_reply(users, p1, guest):
    token = await p1.create_room(3, name="open")
    await joined(guest, token)
    asked = (await send(guest, token, "guest here")).data
    assert asked["isReplyable"] is True and asked["actorType"] == "guests"
    answer = (await send(p1, token, "welcome", replyTo=asked["id"])).data
    assert answer["parent"]["actorId"] == asked["actorId"]
    back = (await send(guest, token, "thanks", replyTo=answer["id"])).data
    assert back["parent"]["id"] == answer["id"]


async def test_capabilities_name_only_the_features_parley_has(users, p1):
    r = await p1.request("GET", "/cloud/capabilities", prefix="/ocs/v2.php")
    spreed = r.data["capabilities"]["spreed"]
    features = spreed["features"]
    for name in ("system-messages", "chat-replies", "chat-reference-id", "chat-read-marker", "chat-read-status",
                 "delete-messages", "edit-messages", "reactions", "clear-history", "chat-get-context",
                 "chat-unread", "silent-send", "mention-flag", "direct-mention-flag"):
        assert name in features
    for absent in ("rich-object-sharing", "chat-permission", "message-expiration", "threads", "federation-v1"):
        assert absent not in features
    assert spreed["config"]["chat"]["max-length"] == 1000
    assert len(features) == len(set(features))


async def test_first_future_poll_of_a_new_room_shows_its_creation(users, p1):
    token = await group(p1)
    r = await read(p1, token, lookIntoFuture=1, timeout=0)
    assert [m["systemMessage"] for m in r.data] == ["conversation_created"]
    assert r.data[0]["message"] == "{actor} created the conversation"
    assert r.data[0]["messageParameters"]["actor"] == {
        "type": "user", "id": "participant1", "mention-id": "participant1", "name": "participant1-displayname"}
    assert (r.data[0]["markdown"], r.data[0]["messageType"]) == (False, "system")
    assert await newest(p1, token) == r.data[0]["id"]
