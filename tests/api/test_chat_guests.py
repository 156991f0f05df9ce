"""Guest names (POST /guest/{token}/name and actorDisplayName) and the end of a guest's chat access."""
from __future__ import annotations

import trio

from .. import cluster_mode
from .chat_steps import comments, guest_id, joined, newest, read, send, wait_parked


async def public_room(p1) -> str:
    return await p1.create_room(3, name="room")


async def test_guest_name_shows_in_participants_and_on_old_messages(users, p1, guest):
    token = await public_room(p1)
    session = await joined(guest, token)
    await send(guest, token, "before the name")
    assert comments(await read(p1, token))[0]["actorDisplayName"] == ""
    assert (await guest.post(f"/guest/{token}/name", displayName="  Alice  ")).status == 200
    await send(guest, token, "after the name")
    messages = comments(await read(p1, token))
    assert [(m["actorId"], m["actorDisplayName"]) for m in messages] == [(guest_id(session), "Alice")] * 2
    listed = (await p1.get(f"/room/{token}/participants")).data
    assert [p["displayName"] for p in listed if p["participantType"] == 4] == ["Alice"]


async def test_renaming_a_guest_renames_the_messages_kept_in_the_hub(users, p1, guest):
    token = await public_room(p1)
    await joined(guest, token)
    replies = []
    start = await newest(p1, token)

    async def poll():
        replies.append(await read(p1, token, lookIntoFuture=1, timeout=10, lastKnownMessageId=start))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(poll)
        await wait_parked(users, 1)
        await send(guest, token, "hello", actorDisplayName="Alice")
    assert replies[0].data[0]["actorDisplayName"] == "Alice"
    assert (await guest.post(f"/guest/{token}/name", displayName="Bob")).status == 200
    for ringed in await cluster_mode.rings(users, token, start, 100):   # each node's ring
        assert [m["actorDisplayName"] for m in ringed] == ["Bob"]
    assert comments(await read(p1, token))[0]["actorDisplayName"] == "Bob"


async def test_actor_display_name_sets_the_guest_name_before_posting(users, p1, guest):
    token = await public_room(p1)
    await joined(guest, token)
    await send(guest, token, "hi", actorDisplayName="Carol")
    await send(guest, token, "again", actorDisplayName="")          # empty: the name stays
    assert [m["actorDisplayName"] for m in comments(await read(p1, token))] == ["Carol", "Carol"]
    await send(guest, token, "too long", expect=400, actorDisplayName="x" * 65)
    await send(guest, token, "ok", actorDisplayName="x" * 64)
    assert comments(await read(p1, token))[0]["actorDisplayName"] == "x" * 64


async def test_users_cannot_set_a_guest_name_and_users_actor_display_name_is_ignored(users, p1):
    token = await public_room(p1)
    assert (await p1.post(f"/guest/{token}/name", displayName="Mallory")).status == 403
    assert (await p1.post("/guest/zzzzzzzz/name", displayName="Mallory")).status == 403
    await send(p1, token, "hi", actorDisplayName="Mallory")
    assert comments(await read(p1, token))[0]["actorDisplayName"] == "participant1-displayname"


async def test_guest_name_needs_a_session_and_at_most_64_characters(users, p1, guest):
    token = await public_room(p1)
    assert (await guest.post(f"/guest/{token}/name", displayName="Alice")).status == 404
    assert (await guest.post("/guest/zzzzzzzz/name", displayName="Alice")).status == 404
    await joined(guest, token)
    reply = await guest.post(f"/guest/{token}/name", displayName="y" * 65)
    assert reply.status == 400 and "64" in reply.meta["message"]
    assert (await guest.post(f"/guest/{token}/name")).status == 400
    assert (await guest.post(f"/guest/{token}/name", displayName="y" * 64)).status == 200


async def test_guest_rename_publishes_only_when_the_name_changes(users, p1, guest):
    token = await public_room(p1)
    await joined(guest, token)
    published = []
    hub = users.ctx.hub
    original = hub.publish

    def spy(event):
        published.append(type(event).__name__)
        original(event)
    hub.publish = spy
    try:
        await guest.post(f"/guest/{token}/name", displayName="Alice")
        await guest.post(f"/guest/{token}/name", displayName="Alice")
        await guest.post(f"/guest/{token}/name", displayName=" Alice ")
    finally:
        hub.publish = original
    assert published == ["ParticipantsChanged"]


async def test_removed_guest_loses_chat_access_at_once_even_while_parked(users, p1, guest):
    token = await public_room(p1)
    session = await joined(guest, token)
    await send(guest, token, "I am here")
    last = comments(await read(guest, token))[0]["id"]
    replies = []

    async def poll():
        replies.append(await read(guest, token, lookIntoFuture=1, lastKnownMessageId=last, timeout=10))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(poll)
        await wait_parked(users, 1)
        assert (await p1.delete(f"/room/{token}/participants/guests", participant=session)).status == 200
        await send(p1, token, "secret after the kick")
    assert replies[0].status == 404
    assert (await read(guest, token)).status == 404
    await send(guest, token, "still here?", expect=404)


async def test_guest_that_left_loses_chat_access(users, p1, guest):
    token = await public_room(p1)
    await joined(guest, token)
    await send(guest, token, "bye")
    assert (await guest.delete(f"/room/{token}/participants/active")).status == 200
    assert (await read(guest, token)).status == 404


async def test_making_the_room_private_ends_a_parked_guest_poll(users, p1, guest):
    token = await public_room(p1)
    await joined(guest, token)
    replies = []
    start = await newest(p1, token)

    async def poll():
        replies.append(await read(guest, token, lookIntoFuture=1, timeout=10, lastKnownMessageId=start))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(poll)
        await wait_parked(users, 1)
        assert (await p1.delete(f"/room/{token}/public")).status == 200
        await send(p1, token, "members only")
    assert replies[0].status == 404
