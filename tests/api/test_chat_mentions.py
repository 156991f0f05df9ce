"""GET /chat/{token}/mentions: autocomplete over the room's users (talk-api-v1.md §6.5)."""
from __future__ import annotations

from server.domain import accounts

from ..support import PASSWORD
from .chat_steps import joined


async def room_with_everyone(users, p1) -> str:
    token = await p1.create_room(3, name="room")
    await accounts.add_user(users.ctx, "participant22", PASSWORD, "Twenty Two")
    for user in ("participant2", "participant3", "participant22"):
        assert (await p1.post(f"/room/{token}/participants", newParticipant=user)).status == 200
    return token


async def suggestions(actor, token, **params):
    reply = await actor.get(f"/chat/{token}/mentions", params=params)
    assert reply.status == 200, reply.text
    return reply.data


async def test_mentions_list_the_other_users_exact_matches_first(users, p1, guest):
    token = await room_with_everyone(users, p1)
    await joined(guest, token)
    assert await suggestions(p1, token, search="participant2") == [
        {"id": "participant2", "label": "participant2-displayname", "source": "users"},
        {"id": "participant22", "label": "Twenty Two", "source": "users"},
    ]
    everyone = await suggestions(p1, token)
    assert sorted(s["id"] for s in everyone) == ["participant2", "participant22", "participant3"]


async def test_mentions_match_display_names_case_insensitively(users, p1):
    token = await room_with_everyone(users, p1)
    assert [s["id"] for s in await suggestions(p1, token, search="TWENTY two")] == ["participant22"]
    assert [s["id"] for s in await suggestions(p1, token, search="PARTICIPANT3-DISPLAYNAME")] == ["participant3"]
    assert [s["id"] for s in await suggestions(p1, token, search="wenty")] == ["participant22"]
    assert await suggestions(p1, token, search="nobody") == []


async def test_mentions_honour_limit_and_default_to_20(users, p1):
    token = await room_with_everyone(users, p1)
    assert len(await suggestions(p1, token, search="participant", limit=2)) == 2
    for n in range(30, 52):
        await accounts.add_user(users.ctx, f"extra{n}", PASSWORD)
        await p1.post(f"/room/{token}/participants", newParticipant=f"extra{n}")
    assert len(await suggestions(p1, token)) == 20
    assert len(await suggestions(p1, token, limit=100)) == 25


async def test_guests_may_ask_and_are_never_suggested(users, p1, guest):
    token = await room_with_everyone(users, p1)
    await joined(guest, token)
    ids = [s["id"] for s in await suggestions(guest, token)]
    assert sorted(ids) == ["participant1", "participant2", "participant22", "participant3"]


async def test_mentions_need_chat_access(users, p1, p3, guest):
    token = await p1.create_room(2, name="private")
    assert (await p3.get(f"/chat/{token}/mentions")).status == 404
    assert (await guest.get(f"/chat/{token}/mentions")).status == 404
