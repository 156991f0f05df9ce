"""Reactions (talk-chat-later.md §6): routes, codes, shapes, emoji validation, the 20-emoji list,
concurrency, and the permission matrix."""
from __future__ import annotations

import pytest
import trio

from ..support import room_with_role
from .chat_steps import joined, read, send


async def test_react_list_and_unreact(users, p1, p2):
    token = await room_with_role(p1, p2, "user")
    target = (await send(p1, token, "react to me")).data["id"]
    assert (await p1.get(f"/reaction/{token}/{target}")).text.count('"data":{}') == 1
    r = await p2.post(f"/reaction/{token}/{target}", reaction="👍")
    assert r.status == 201, r.text
    [entry] = r.data["👍"]
    assert (entry["actorType"], entry["actorId"], entry["actorDisplayName"]) == (
        "users", "participant2", "participant2-displayname")
    assert isinstance(entry["timestamp"], int)
    assert (await p2.post(f"/reaction/{token}/{target}", reaction="👍")).status == 200   # already there
    assert (await p1.post(f"/reaction/{token}/{target}", reaction="👍")).status == 201
    assert (await p1.post(f"/reaction/{token}/{target}", reaction="🎉")).status == 201
    listing = (await p1.get(f"/reaction/{token}/{target}")).data
    assert {k: len(v) for k, v in listing.items()} == {"👍": 2, "🎉": 1}
    only = (await p1.get(f"/reaction/{token}/{target}", params={"reaction": "🎉"})).data
    assert list(only) == ["🎉"]
    message = [m for m in (await read(p2, token)).data if m["id"] == target][0]
    assert message["reactions"] == {"👍": 2, "🎉": 1} and list(message["reactions"])[0] == "👍"
    assert message["reactionsSelf"] == ["👍"]
    mine = [m for m in (await read(p1, token)).data if m["id"] == target][0]
    assert sorted(mine["reactionsSelf"]) == sorted(["👍", "🎉"])
    r = await p2.delete(f"/reaction/{token}/{target}", params={"reaction": "👍"})
    assert r.status == 200 and {k: len(v) for k, v in r.data.items()} == {"👍": 1, "🎉": 1}
    assert (await p2.delete(f"/reaction/{token}/{target}", params={"reaction": "👍"})).status == 404
    await p1.delete(f"/reaction/{token}/{target}", params={"reaction": "👍"})
    r = await p1.delete(f"/reaction/{token}/{target}", params={"reaction": "🎉"})
    assert r.status == 200 and r.data == {} and r.text.count('"data":{}') == 1


async def test_reaction_entries_in_the_chat(users, p1, p2):
    token = await room_with_role(p1, p2, "user")
    target = (await send(p1, token, "hi")).data["id"]
    await p2.post(f"/reaction/{token}/{target}", reaction="❤️")
    added = (await read(p1, token)).data[0]
    assert (added["messageType"], added["systemMessage"], added["message"], added["messageParameters"]) == (
        "system", "reaction", "❤️", [])
    assert added["parent"]["id"] == target and added["parent"]["reactions"] == {"❤️": 1}
    await p2.delete(f"/reaction/{token}/{target}", params={"reaction": "❤️"})
    history = (await read(p1, token)).data
    revoked = history[0]
    assert (revoked["systemMessage"], revoked["message"]) == ("reaction_revoked", "{actor} deleted a reaction")
    assert revoked["parent"]["reactions"] == {} and revoked["messageParameters"]["actor"]["id"] == "participant2"
    old_entry = [m for m in history if m["id"] == added["id"]][0]
    assert (old_entry["systemMessage"], old_entry["message"]) == ("reaction_deleted", "Reaction deleted by author")


@pytest.mark.parametrize("emoji", ["👍", "👍🏽", "👨‍👩‍👧", "🇩🇪", "1️⃣", "❤️", "🏳️‍🌈"])
async def test_single_emojis_are_accepted(users, p1, emoji):
    token = await p1.create_room(2, name="r")
    target = (await send(p1, token, "x")).data["id"]
    assert (await p1.post(f"/reaction/{token}/{target}", reaction=emoji)).status == 201


@pytest.mark.parametrize("bad", ["", "a", "👍👍", "👍 ", "1", "<b>", "👍a", "\u200d", "x" * 100])
async def test_anything_but_one_emoji_is_400(users, p1, bad):
    token = await p1.create_room(2, name="r")
    target = (await send(p1, token, "x")).data["id"]
    r = await p1.post(f"/reaction/{token}/{target}", reaction=bad)
    assert r.status == 400, r.text
    assert (await p1.delete(f"/reaction/{token}/{target}", params={"reaction": bad or "x"})).status == 400


async def test_reaction_status_codes(users, p1, p2):
    token = await room_with_role(p1, p2, "user")
    system = (await read(p1, token)).data[-1]["id"]
    assert (await p1.post(f"/reaction/{token}/{system}", reaction="👍")).status == 400   # not reactable
    assert (await p1.get(f"/reaction/{token}/{system}")).status == 404
    assert (await p1.delete(f"/reaction/{token}/{system}", params={"reaction": "👍"})).status == 404
    for path in (f"/reaction/{token}/999999", f"/reaction/{token}/99999999999999999999999",
                 "/reaction/zzzzzzzz/1"):
        assert (await p1.post(path, reaction="👍")).status == 404
        assert (await p1.get(path)).status == 404
    target = (await send(p1, token, "x")).data["id"]
    assert (await p1.post(f"/reaction/{token}/{target}")).status == 400       # no reaction given


@pytest.mark.parametrize("role,status", [("owner", 201), ("moderator", 201), ("user", 201), ("guest", 201),
                                         ("stranger", 404)])
async def test_who_may_react(users, p1, p2, role, status):
    token = await room_with_role(p1, p2, "owner" if role == "owner" else
                                 "stranger" if role in ("guest", "stranger") else role)
    actor = p1 if role == "owner" else p2
    if role == "guest":
        actor = users.actor("guest")
        await joined(actor, token)
    target = (await send(p1, token, "x")).data["id"]
    assert (await actor.post(f"/reaction/{token}/{target}", reaction="👍")).status == status
    assert (await actor.get(f"/reaction/{token}/{target}")).status == (200 if status == 201 else 404)


async def test_only_the_20_most_used_emojis_are_listed(users, p1, p2):
    token = await room_with_role(p1, p2, "user")
    target = (await send(p1, token, "x")).data["id"]
    emojis = [chr(0x1F600 + i) for i in range(22)]
    for e in emojis:
        assert (await p1.post(f"/reaction/{token}/{target}", reaction=e)).status == 201
    await p2.post(f"/reaction/{token}/{target}", reaction=emojis[21])
    message = [m for m in (await read(p1, token)).data if m["id"] == target][0]
    assert len(message["reactions"]) == 20
    assert list(message["reactions"].items())[0] == (emojis[21], 2)
    assert len((await p1.get(f"/reaction/{token}/{target}")).data) == 22   # the list itself is complete


async def test_concurrent_reactions_to_one_message_all_count_once(users, p1, p2, p3):
    token = await p1.create_room(2, name="busy")
    for user in ("participant2", "participant3"):
        await p1.post(f"/room/{token}/participants", newParticipant=user)
    target = (await send(p1, token, "popular")).data["id"]
    statuses: list[int] = []

    async def react(actor, emoji):
        statuses.append((await actor.post(f"/reaction/{token}/{target}", reaction=emoji)).status)
    clients = [users.actor(f"c{i}", f"participant{i % 3 + 1}") for i in range(12)]
    async with trio.open_nursery() as nursery:
        for i, actor in enumerate(clients):
            nursery.start_soon(react, actor, "👍" if i % 2 else "🎉")
    assert sorted(statuses) == [200] * 6 + [201] * 6     # each actor once per emoji; repeats are 200
    message = [m for m in (await read(p1, token)).data if m["id"] == target][0]
    assert message["reactions"] == {"👍": 3, "🎉": 3}
    entries = [m for m in (await read(p1, token)).data if m["systemMessage"] == "reaction"]
    assert len(entries) == 6
