"""Read markers (talk-chat-later.md §7): POST and DELETE /chat/{token}/read, the room's unread
fields, and that counting stays off the history."""
from __future__ import annotations

import pytest

from ..support import room_with_role
from .chat_steps import joined, send


async def unread(actor, token) -> tuple[int, int]:
    data = (await actor.room(token)).data
    return data["lastReadMessage"], data["unreadMessages"]


async def test_post_read_stores_the_marker_as_given(users, p1, p2):
    token = await room_with_role(p1, p2, "user")
    ids = [(await send(p1, token, f"m{i}")).data["id"] for i in range(3)]
    assert await unread(p2, token) == (-1, 3)                 # never set: everything counts
    r = await p2.post(f"/chat/{token}/read", lastReadMessage=ids[1])
    assert (r.status, r.data) == (200, [])
    assert "X-Chat-Last-Common-Read" in r.headers
    assert await unread(p2, token) == (ids[1], 1)
    await p2.post(f"/chat/{token}/read", lastReadMessage=ids[0])  # backwards is allowed
    assert await unread(p2, token) == (ids[0], 2)
    await p2.post(f"/chat/{token}/read", lastReadMessage=0)       # stored as -2
    assert await unread(p2, token) == (-2, 3)
    await p2.post(f"/chat/{token}/read")                          # absent: the newest entry
    newest = (await p2.room(token)).data["lastReadMessage"]
    assert newest >= ids[2] and (await unread(p2, token))[1] == 0


async def test_system_messages_and_reactions_never_count_as_unread(users, p1, p2):
    token = await room_with_role(p1, p2, "user")
    await p2.post(f"/chat/{token}/read")
    target = (await send(p1, token, "one")).data["id"]
    await p1.post(f"/reaction/{token}/{target}", reaction="👍")
    await p1.put(f"/room/{token}", roomName="renamed")
    assert (await unread(p2, token))[1] == 1


async def test_delete_read_marks_the_last_comment_unread(users, p1, p2):
    token = await room_with_role(p1, p2, "user")
    first = (await send(p1, token, "first")).data["id"]
    last = (await send(p1, token, "last")).data["id"]
    await p2.post(f"/chat/{token}/read", lastReadMessage=last)
    r = await p2.delete(f"/chat/{token}/read")
    assert r.status == 200 and "X-Chat-Last-Common-Read" in r.headers
    assert await unread(p2, token) == (first, 1)


async def test_delete_read_in_an_empty_history_goes_before_the_first(users, p1):
    token = await p1.create_room(2, name="quiet")
    assert (await p1.delete(f"/chat/{token}/read")).status == 200
    assert (await p1.room(token)).data["lastReadMessage"] == -2


@pytest.mark.parametrize("value", ["-3", "abc", "1.5"])
async def test_bad_marker_is_400(users, p1, value):
    token = await p1.create_room(2, name="r")
    r = await p1.post(f"/chat/{token}/read", lastReadMessage=value)
    assert r.status == 400 and r.data == []


@pytest.mark.parametrize("role,status", [("owner", 200), ("moderator", 200), ("user", 200), ("guest", 404),
                                         ("stranger", 404)])
async def test_who_has_a_read_marker(users, p1, p2, role, status):
    token = await room_with_role(p1, p2, "owner" if role == "owner" else
                                 "stranger" if role in ("guest", "stranger") else role)
    actor = p1 if role == "owner" else p2
    if role == "guest":
        actor = users.actor("guest")
        await joined(actor, token)
    assert (await actor.post(f"/chat/{token}/read", lastReadMessage=1)).status == status
    assert (await actor.delete(f"/chat/{token}/read")).status == status


async def test_unread_fields_read_no_history(users, p1, p2):
    """lastReadMessage, the mention flags and the common read marker are indexed lookups: no
    statement scans the messages (history) or the participants (a chat poll reads the common
    read marker on every request)."""
    if users.ctx.db.dialect != "sqlite":   # the check reads SQLite's query plans
        pytest.skip("SQLite query plans (PARLEY_TEST_DB=postgres run)")
    token = await room_with_role(p1, p2, "user")
    for i in range(20):
        await send(p1, token, f"m{i} @participant2")

    def plans(conn):
        from storage import chat_state
        from storage import rooms as rooms_db
        statements: list[str] = []
        room = rooms_db.room_by_token(conn, token)
        other = rooms_db.room_by_token(conn, second)
        conn.set_trace_callback(statements.append)
        states = chat_state.read_states(conn, "participant2", [(room.id, room.last_message_id),
                                                               (other.id, other.last_message_id)])
        conn.set_trace_callback(None)
        return states[room.id], [(s, conn.execute("EXPLAIN QUERY PLAN " + s).fetchall()) for s in statements]
    second = await room_with_role(p1, p2, "user")
    state, query_plans = await users.ctx.db.run(plans)
    assert state.mentioned is True and state.unread == 20 and state.marker is None
    assert len(query_plans) == 3   # the markers, then one row of probes per room (SQLite's way)
    for statement, plan in query_plans:
        for row in plan:
            detail = row["detail"]
            # Index searches only: no scan of messages, participants or markers, no sort.
            assert detail == "SCAN CONSTANT ROW" or not detail.startswith("SCAN"), (statement, detail)
            assert "TEMP B-TREE" not in detail, (statement, detail)
