"""Delete (talk-chat-later.md §4), edit (§5), clear history (§9.1) and context (§9.2): every status
code, and the permission matrix owner / moderator / user / guest / stranger."""
from __future__ import annotations

import pytest

from ..support import room_with_role
from .chat_steps import joined, read, send

ROLES = ["owner", "moderator", "user", "guest", "stranger"]


async def actor_as(users, p1, p2, role: str):
    """A public room of p1 and the actor playing `role` in it (p2, or a guest that joined)."""
    token = await room_with_role(p1, p2, "owner" if role == "owner" else
                                 "stranger" if role in ("guest", "stranger") else role)
    if role == "owner":
        return token, p1
    if role == "guest":
        guest = users.actor("guest")
        await joined(guest, token)
        return token, guest
    return token, p2


# -- delete ------------------------------------------------------------------------------------

@pytest.mark.parametrize("role,status", [("owner", 200), ("moderator", 200), ("user", 403), ("guest", 404),
                                         ("stranger", 404)])
async def test_deleting_someone_elses_message(users, p1, p2, p3, role, status):
    token, actor = await actor_as(users, p1, p2, role)
    await p1.post(f"/room/{token}/participants", newParticipant="participant3")
    target = (await send(p3, token, "by p3")).data["id"]
    r = await actor.delete(f"/chat/{token}/{target}")
    assert r.status == status, r.text
    still = [m for m in (await read(p1, token)).data if m["id"] == target]
    assert (still[0]["messageType"] == "comment_deleted") == (status == 200)


async def test_deleting_a_message_turns_it_into_comment_deleted_and_posts_message_deleted(users, p1, p2):
    token = await room_with_role(p1, p2, "user")
    original = (await send(p2, token, "oops")).data
    r = await p2.delete(f"/chat/{token}/{original['id']}")
    assert r.status == 200, r.text
    assert r.headers["X-Chat-Last-Common-Read"].lstrip("-").isdigit()
    system = r.data
    assert (system["systemMessage"], system["messageType"], system["message"]) == (
        "message_deleted", "system", "{actor} deleted a message")
    deleted = system["parent"]
    assert deleted["id"] == original["id"] and deleted["timestamp"] == original["timestamp"]
    assert (deleted["messageType"], deleted["deleted"], deleted["isReplyable"], deleted["reactions"]) == (
        "comment_deleted", True, False, {})
    assert deleted["message"] == "Message deleted by author"
    assert deleted["messageParameters"]["actor"]["id"] == "participant2"
    history = (await read(p1, token)).data
    assert history[0]["id"] == system["id"] and history[1] == deleted
    # A moderator deleting someone else's message is named.
    other = (await send(p2, token, "second")).data["id"]
    r = await p1.delete(f"/chat/{token}/{other}")
    assert r.data["parent"]["message"] == "Message deleted by {actor}"
    assert r.data["parent"]["messageParameters"]["actor"]["id"] == "participant1"


async def test_delete_status_codes(users, p1, p2):
    token = await room_with_role(p1, p2, "user")
    mine = (await send(p1, token, "mine")).data["id"]
    system = (await read(p1, token)).data[-1]["id"]
    assert (await p1.delete(f"/chat/{token}/{system}")).status == 405
    assert (await p1.delete(f"/chat/{token}/{mine}")).status == 200
    assert (await p1.delete(f"/chat/{token}/{mine}")).status == 405       # already deleted
    assert (await p1.delete(f"/chat/{token}/999999")).status == 404
    assert (await p1.delete(f"/chat/{token}/99999999999999999999999")).status == 404
    assert (await p1.delete("/chat/zzzzzzzz/1")).status == 404
    other = await p1.create_room(2, name="other")
    foreign = (await send(p1, other, "elsewhere")).data["id"]
    assert (await p1.delete(f"/chat/{token}/{foreign}")).status == 404


async def test_in_one_to_one_rooms_only_the_author_may_delete_or_edit(users, p1, p2):
    token = await p1.create_room(1, invite="participant2")
    theirs = (await send(p2, token, "theirs")).data["id"]
    assert (await p1.delete(f"/chat/{token}/{theirs}")).status == 403
    assert (await p1.put(f"/chat/{token}/{theirs}", message="changed")).status == 403
    assert (await p2.put(f"/chat/{token}/{theirs}", message="changed")).status == 200
    assert (await p2.delete(f"/chat/{token}/{theirs}")).status == 200


async def test_deleted_message_loses_its_reactions(users, p1, p2):
    token = await room_with_role(p1, p2, "user")
    target = (await send(p2, token, "react to me")).data["id"]
    assert (await p1.post(f"/reaction/{token}/{target}", reaction="👍")).status == 201
    r = await p2.delete(f"/chat/{token}/{target}")
    assert r.data["parent"]["reactions"] == {}
    assert (await p1.get(f"/reaction/{token}/{target}")).status == 404


# -- edit --------------------------------------------------------------------------------------

@pytest.mark.parametrize("role,status", [("owner", 200), ("moderator", 200), ("user", 403), ("guest", 404),
                                         ("stranger", 404)])
async def test_editing_someone_elses_message(users, p1, p2, p3, role, status):
    token, actor = await actor_as(users, p1, p2, role)
    await p1.post(f"/room/{token}/participants", newParticipant="participant3")
    target = (await send(p3, token, "by p3")).data["id"]
    r = await actor.put(f"/chat/{token}/{target}", message="edited")
    assert r.status == status, r.text
    text = [m["message"] for m in (await read(p1, token)).data if m["id"] == target][0]
    assert text == ("edited" if status == 200 else "by p3")


async def test_editing_changes_text_and_edit_fields_and_keeps_the_rest(users, p1, p2):
    token = await room_with_role(p1, p2, "user")
    question = (await send(p1, token, "q")).data
    original = (await send(p2, token, "teh answer", replyTo=question["id"], referenceId="ref1")).data
    r = await p2.put(f"/chat/{token}/{original['id']}", message="  the answer, @participant1  ")
    assert r.status == 200, r.text
    system = r.data
    assert (system["systemMessage"], system["message"]) == ("message_edited", "{actor} edited a message")
    edited = system["parent"]
    assert edited["message"] == "the answer, {mention-user1}"
    assert edited["messageParameters"]["mention-user1"]["id"] == "participant1"
    assert (edited["lastEditActorType"], edited["lastEditActorId"], edited["lastEditActorDisplayName"]) == (
        "users", "participant2", "participant2-displayname")
    assert isinstance(edited["lastEditTimestamp"], int)
    for key in ("id", "timestamp", "referenceId", "actorId"):
        assert edited[key] == original[key]
    listed = [m for m in (await read(p1, token)).data if m["id"] == original["id"]][0]
    assert listed["parent"]["id"] == question["id"] and listed["message"] == edited["message"]
    # Deleting removes the edit fields again.
    deleted = (await p2.delete(f"/chat/{token}/{original['id']}")).data["parent"]
    assert not [k for k in deleted if k.startswith("lastEdit")]


async def test_edit_status_codes(users, p1, p2):
    token = await room_with_role(p1, p2, "user")
    mine = (await send(p1, token, "mine")).data["id"]
    system = (await read(p1, token)).data[-1]["id"]
    assert (await p1.put(f"/chat/{token}/{mine}")).status == 400                 # no message
    assert (await p1.put(f"/chat/{token}/{mine}", message="   ")).status == 400  # empty after trimming
    assert (await p1.put(f"/chat/{token}/{mine}", message="x" * 1001)).status == 413
    assert (await p1.put(f"/chat/{token}/{system}", message="x")).status == 405
    assert (await p1.put(f"/chat/{token}/999999", message="x")).status == 404
    assert (await p1.put(f"/chat/{token}/{mine}", json={"message": ["x"]})).status == 400
    users.clock.advance(24 * 3600 + 5)
    r = await p1.put(f"/chat/{token}/{mine}", message="too late")
    assert r.status == 400 and "old" in r.meta["message"]
    assert (await p1.delete(f"/chat/{token}/{mine}")).status == 200   # no age limit on delete
    assert (await p1.put(f"/chat/{token}/{mine}", message="x")).status == 405


# -- clear history -----------------------------------------------------------------------------

@pytest.mark.parametrize("role,status", [("owner", 200), ("moderator", 200), ("user", 403), ("guest", 403),
                                         ("stranger", 404)])
async def test_clearing_the_history(users, p1, p2, role, status):
    token, actor = await actor_as(users, p1, p2, role)
    await send(p1, token, "old words")
    r = await actor.delete(f"/chat/{token}")
    assert r.status == status, r.text
    history = (await read(p1, token)).data
    if status == 200:
        assert [m["systemMessage"] for m in history] == ["history_cleared"]
        assert r.data == history[0] and r.data["message"] == "{actor} cleared the history of the conversation"
        assert "X-Chat-Last-Common-Read" in r.headers
        assert (await p1.room(token)).data["unreadMessages"] == 0
    else:
        assert "old words" in [m["message"] for m in history]


async def test_one_to_one_history_cannot_be_cleared(users, p1):
    token = await p1.create_room(1, invite="participant2")
    assert (await p1.delete(f"/chat/{token}")).status == 403


# -- context -----------------------------------------------------------------------------------

async def test_context_returns_older_the_message_and_newer_oldest_first(users, p1, p2):
    token = await room_with_role(p1, p2, "user")
    ids = [(await send(p1, token, f"m{i}")).data["id"] for i in range(9)]
    r = await p2.get(f"/chat/{token}/{ids[4]}/context", params={"limit": 2})
    assert r.status == 200
    assert [m["id"] for m in r.data] == ids[2:7]
    assert r.headers["X-Chat-Last-Given"] == str(ids[6])
    r = await p2.get(f"/chat/{token}/{ids[4]}/context")
    assert [m["id"] for m in r.data][-5:] == ids[4:] and len(r.data) > 5
    assert (await p2.get(f"/chat/{token}/0/context")).status == 304
    assert (await p2.get(f"/chat/{token}/{ids[4]}/context", params={"limit": "x"})).status == 400
    assert len((await p2.get(f"/chat/{token}/{ids[4]}/context", params={"limit": 1000})).data) <= 201


async def test_context_needs_a_participant(users, p1, p2):
    token = await p1.create_room(2, name="private")
    mid = (await send(p1, token, "secret")).data["id"]
    assert (await p2.get(f"/chat/{token}/{mid}/context")).status == 404
