"""The room object's `lastMessage` (talk-chat-later.md §7.3): the room's last "relevant" entry, in
GET /room and GET /room/{token}; never with `parent` or `reactionsSelf`; deletes, edits, reactions
and reaction revokes never become it; a cleared history leaves `history_cleared`."""
from __future__ import annotations

from typing import Any

from server.domain.room_view import last_messages
from storage import rooms as rooms_db

from ..support import room_with_role
from .chat_steps import joined, read, send


async def last(actor, token: str) -> Any:
    """The room's lastMessage as the list and the single room answer it; both must agree."""
    [listed] = [r for r in await actor.rooms() if r["token"] == token]
    single = await actor.room(token)
    assert single.status == 200, single.text
    assert single.data["lastMessage"] == listed["lastMessage"]
    return listed["lastMessage"]


async def test_a_new_room_shows_its_creation_then_the_newest_comment(users, p1, p2):
    token = await room_with_role(p1, p2, "user", room_type=2, name="team")
    created = await last(p1, token)
    assert created["systemMessage"] == "user_added"   # the invitation came after the creation
    hello = (await send(p1, token, "hello @participant2")).data
    shown = await last(p2, token)
    history = [m for m in (await read(p2, token)).data if m["id"] == hello["id"]][0]
    assert shown == history   # the same message object as the chat's, for another reader too
    assert (shown["id"], shown["token"], shown["actorId"], shown["messageType"]) == (
        hello["id"], token, "participant1", "comment")
    assert shown["message"] == "hello {mention-user1}"
    assert shown["messageParameters"]["mention-user1"]["name"] == "participant2-displayname"
    assert "parent" not in shown and "reactionsSelf" not in shown


async def test_a_reply_becomes_last_message_without_its_parent(users, p1, p2):
    token = await room_with_role(p1, p2, "user")
    question = (await send(p1, token, "question?")).data
    answer = (await send(p2, token, "answer", replyTo=question["id"])).data
    assert answer["parent"]["id"] == question["id"]
    shown = await last(p1, token)
    assert shown["id"] == answer["id"] and "parent" not in shown


async def test_reactions_and_their_revokes_never_become_last_message(users, p1, p2):
    token = await room_with_role(p1, p2, "user")
    target = (await send(p1, token, "react to me")).data["id"]
    assert (await p2.post(f"/reaction/{token}/{target}", reaction="👍")).status == 201
    assert (await read(p1, token)).data[0]["systemMessage"] == "reaction"   # the newest entry
    for reader in (p1, p2):   # p2 reacted, yet gets no reactionsSelf here
        shown = await last(reader, token)
        assert shown["id"] == target and shown["reactions"] == {"👍": 1} and "reactionsSelf" not in shown
    assert (await p2.delete(f"/reaction/{token}/{target}", params={"reaction": "👍"})).status == 200
    assert (await read(p1, token)).data[0]["systemMessage"] == "reaction_revoked"
    shown = await last(p1, token)
    assert shown["id"] == target and shown["reactions"] == {}


async def test_an_edit_shows_in_last_message_but_message_edited_does_not_replace_it(users, p1, p2):
    token = await room_with_role(p1, p2, "user")
    original = (await send(p1, token, "teh answer")).data
    r = await p1.put(f"/chat/{token}/{original['id']}", message="the answer")
    assert r.status == 200 and r.data["systemMessage"] == "message_edited"
    shown = await last(p2, token)
    assert (shown["id"], shown["message"], shown["lastEditActorId"]) == (original["id"], "the answer", "participant1")


async def test_a_deleted_last_message_stays_in_its_deleted_form(users, p1, p2):
    token = await room_with_role(p1, p2, "user")
    older = (await send(p2, token, "older")).data["id"]
    gone = (await send(p2, token, "oops")).data["id"]
    r = await p2.delete(f"/chat/{token}/{gone}")
    assert r.status == 200 and r.data["systemMessage"] == "message_deleted"
    shown = await last(p1, token)
    assert (shown["id"], shown["messageType"], shown["deleted"], shown["message"]) == (
        gone, "comment_deleted", True, "Message deleted by author")
    assert shown["id"] != older


async def test_a_cleared_history_leaves_history_cleared(users, p1, p2):
    token = await room_with_role(p1, p2, "user")
    await send(p2, token, "soon gone")
    r = await p1.delete(f"/chat/{token}")
    assert r.status == 200, r.text
    shown = await last(p2, token)
    assert (shown["id"], shown["systemMessage"], shown["actorId"]) == (r.data["id"], "history_cleared", "participant1")


async def test_other_system_messages_become_last_message(users, p1, p2, p3):
    token = await room_with_role(p1, p2, "user", name="before")
    await send(p2, token, "hi")
    assert (await p1.put(f"/room/{token}", roomName="after")).status == 200
    assert (await last(p2, token))["systemMessage"] == "conversation_renamed"
    assert (await p1.post(f"/room/{token}/participants", newParticipant="participant3")).status == 200
    shown = await last(p3, token)
    assert shown["systemMessage"] == "user_added" and shown["messageParameters"]["user"]["id"] == "participant3"


async def test_guests_see_it_and_non_participants_do_not(users, p1):
    token = await p1.create_room(3, name="open")
    text = (await send(p1, token, "welcome")).data
    guest = users.actor("guest")
    outsider = users.actor("participant3")
    seen_before = await outsider.room(token)   # a public room: the reduced object, no chat
    assert seen_before.status == 200 and seen_before.data["lastMessage"] == []
    await joined(guest, token)
    r = await guest.room(token)
    assert r.status == 200
    # Joining posted nothing for a guest, so the welcome is still the last entry.
    assert r.data["lastMessage"]["id"] == text["id"] and r.data["lastMessage"]["message"] == "welcome"
    said = (await send(guest, token, "hello from a guest")).data
    shown = await last(p1, token)
    assert (shown["id"], shown["actorType"]) == (said["id"], "guests")


async def test_each_listed_room_gets_its_own_last_message(users, p1, p2):
    sent = {}
    for n in range(4):
        token = await room_with_role(p1, p2, "user", name=f"room {n}")
        for k in range(n + 1):
            sent[token] = (await send(p2 if k % 2 else p1, token, f"room {n} message {k}")).data["id"]
    listed = {r["token"]: r["lastMessage"] for r in await p1.rooms()}
    assert {token: m["id"] for token, m in listed.items()} == sent
    assert all(m["token"] == token for token, m in listed.items())


class CountingConnection:
    """A real connection that counts the statements sent through it."""

    def __init__(self, conn) -> None:
        self.conn = conn
        self.statements = 0

    def execute(self, *args):
        self.statements += 1
        return self.conn.execute(*args)


async def test_the_lookup_costs_the_same_few_queries_for_one_room_or_many(users, p1, p2):
    tokens = []
    for n in range(6):
        token = await room_with_role(p1, p2, "user", name=f"room {n}")
        await send(p2, token, f"message with a mention of @participant1 in room {n}")
        target = (await send(p1, token, f"last of room {n}")).data["id"]
        assert (await p2.post(f"/reaction/{token}/{target}", reaction="👍")).status == 201
        tokens.append(token)

    def lookup(count: int):
        def unit(conn):
            rooms = [rooms_db.room_by_token(conn, t) for t in tokens[:count]]
            counting = CountingConnection(conn)
            found = last_messages(counting, rooms)
            return counting.statements, found
        return unit
    one_statements, one = await users.ctx.db.run(lookup(1))
    all_statements, every = await users.ctx.db.run(lookup(6))
    assert len(one) == 1 and len(every) == 6
    assert all(m["reactions"] == {"👍": 1} for m in every.values())
    assert one_statements == all_statements <= 4
