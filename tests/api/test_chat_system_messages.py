"""System messages (talk-chat-later.md §8): one for every change Parley has, with its template and
rich objects, written in the transaction of the change."""
from __future__ import annotations

from .chat_steps import joined, read


async def system_log(actor, token) -> list[tuple[str, str]]:
    """(systemMessage, message) of the room's system messages, oldest first."""
    r = await read(actor, token, limit=200)
    return [(m["systemMessage"], m["message"]) for m in reversed(r.data) if m["messageType"] == "system"]


async def test_room_lifecycle_lines(users, p1, p2):
    token = await p1.create_room(3, name="first")
    assert (await p1.put(f"/room/{token}", roomName="second")).status == 200
    await p1.put(f"/room/{token}", roomName="second")                       # unchanged: no line
    await p1.post(f"/room/{token}/participants", newParticipant="participant2")
    await p1.post(f"/room/{token}/moderators", participant="participant2")
    await p1.delete(f"/room/{token}/moderators", participant="participant2")
    await p1.put(f"/room/{token}/password", password="secret")
    await p1.put(f"/room/{token}/password", password="")
    await p1.delete(f"/room/{token}/public")
    await p1.post(f"/room/{token}/public")
    await p1.delete(f"/room/{token}/participants", participant="participant2")
    assert await system_log(p1, token) == [
        ("conversation_created", "{actor} created the conversation"),
        ("conversation_renamed", '{actor} renamed the conversation from "first" to "second"'),
        ("user_added", "{actor} added {user}"),
        ("moderator_promoted", "{actor} promoted {user} to moderator"),
        ("moderator_demoted", "{actor} demoted {user} from moderator"),
        ("password_set", "{actor} set a password"),
        ("password_removed", "{actor} removed the password"),
        ("guests_disallowed", "{actor} disallowed guests"),
        ("guests_allowed", "{actor} allowed guests"),
        ("user_removed", "{actor} removed {user}"),
    ]
    added = [m for m in (await read(p1, token, limit=200)).data if m["systemMessage"] == "user_added"][0]
    assert added["messageParameters"] == {
        "actor": {"type": "user", "id": "participant1", "mention-id": "participant1",
                  "name": "participant1-displayname"},
        "user": {"type": "user", "id": "participant2", "mention-id": "participant2",
                 "name": "participant2-displayname"}}
    assert (added["isReplyable"], added["markdown"], added["actorId"]) == (False, False, "participant1")


async def test_renaming_from_or_to_an_empty_name_posts_nothing(users, p1):
    token = await p1.create_room(2, name="")
    await p1.put(f"/room/{token}", roomName="named")
    await p1.put(f"/room/{token}", roomName="")
    assert [s for s, _ in await system_log(p1, token)] == ["conversation_created"]


async def test_leaving_says_left(users, p1, p2):
    token = await p1.create_room(2, name="team")
    await p1.post(f"/room/{token}/participants", newParticipant="participant2")
    assert (await p2.delete(f"/room/{token}/participants/self")).status == 200
    assert (await system_log(p1, token))[-1] == ("user_removed", "{actor} left the conversation")


async def test_call_lines_and_the_summary(users, p1, p2, guest):
    token = await p1.create_room(3, name="call")
    await p1.post(f"/room/{token}/participants", newParticipant="participant2")
    for actor in (p1, p2, guest):
        await joined(actor, token)
    for actor in (p1, p2, guest):
        assert (await actor.post(f"/call/{token}")).status == 200
    await p2.delete(f"/call/{token}")
    await guest.delete(f"/call/{token}")
    await p1.delete(f"/call/{token}")
    log = await system_log(p1, token)
    assert [s for s, _ in log] == ["conversation_created", "user_added", "call_started", "call_joined",
                                   "call_joined", "call_left", "call_left", "call_ended"]
    ended = [m for m in (await read(p1, token)).data if m["systemMessage"] == "call_ended"][0]
    assert ended["message"].startswith("Call with {user1}, {user2} and 1 guest ended (Duration 0:0")
    assert {ended["messageParameters"]["user1"]["id"], ended["messageParameters"]["user2"]["id"]} == {
        "participant1", "participant2"}
    assert ended["messageParameters"]["actor"]["id"] == "participant1"


async def test_one_to_one_call_summary(users, p1, p2):
    token = await p1.create_room(1, invite="participant2")
    await joined(p1, token)
    await p1.post(f"/call/{token}")
    await p1.delete(f"/call/{token}")
    assert (await system_log(p1, token))[-1][0] == "call_ended"
    assert (await system_log(p1, token))[-1][1].startswith("Call ended (Duration ")


async def test_a_call_ended_by_expiry_is_summarised_by_the_system(users, p1):
    from server.domain import housekeeping
    token = await p1.create_room(2, name="idle")
    await joined(p1, token)
    await p1.post(f"/call/{token}")
    users.clock.advance(3600)
    await housekeeping.run_once(users.ctx, users.ctx.now())
    ended = (await read(p1, token)).data[0]
    assert ended["systemMessage"] == "call_ended" and ended["actorId"] == "system"
    assert ended["messageParameters"]["actor"] == {"type": "guest", "id": "guest/system",
                                                   "mention-id": "guest/system", "name": "System"}
    assert "(Duration 1:00:0" in ended["message"]


async def test_a_failed_change_writes_no_line(users, p1, p2):
    token = await p1.create_room(2, name="team")
    assert (await p2.put(f"/room/{token}", roomName="hijack")).status == 404
    assert (await p1.put(f"/room/{token}", roomName="x" * 201)).status == 400
    assert (await p1.post(f"/room/{token}/participants", newParticipant="nobody")).status == 404
    assert [s for s, _ in await system_log(p1, token)] == ["conversation_created"]
