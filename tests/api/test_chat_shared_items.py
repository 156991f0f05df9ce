"""Shared items (§9.3): the room's file shares by type, paged into the past, and the overview."""
from __future__ import annotations

import pytest

from .files_helpers import group_room, png, raw, upload

WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 28


async def test_items_by_type_newest_first_with_paging(users, p1):
    token = await group_room(p1)
    media = [(await upload(p1, token, f"p{n}.png", png(10 + n, 10))).data["id"] for n in range(3)]
    document = (await upload(p1, token, "doc.pdf", b"%PDF-1.7 x")).data["id"]
    audio = (await upload(p1, token, "sound.wav", WAV)).data["id"]
    await p1.post(f"/chat/{token}", message="just text")

    r = await raw(p1, "GET", f"/chat/{token}/share", params={"objectType": "media", "limit": 2})
    assert r.status == 200
    assert sorted(map(int, r.data)) == [media[1], media[2]]
    assert all(r.data[key]["id"] == int(key) for key in r.data)
    assert r.headers["x-chat-last-given"] == str(media[1])
    rest = await raw(p1, "GET", f"/chat/{token}/share",
                     params={"objectType": "media", "lastKnownMessageId": media[1]})
    assert list(map(int, rest.data)) == [media[0]]
    assert list(map(int, (await raw(p1, "GET", f"/chat/{token}/share", params={"objectType": "file"})).data)) \
        == [document]
    assert list(map(int, (await raw(p1, "GET", f"/chat/{token}/share", params={"objectType": "audio"})).data)) \
        == [audio]
    none = await raw(p1, "GET", f"/chat/{token}/share", params={"objectType": "location"})
    assert none.status == 200 and none.body["ocs"]["data"] == [] and "x-chat-last-given" not in none.headers


async def test_overview_has_every_type_newest_first(users, p1):
    token = await group_room(p1)
    media = [(await upload(p1, token, f"p{n}.png", png())).data["id"] for n in range(9)]
    r = await raw(p1, "GET", f"/chat/{token}/share/overview")
    assert r.status == 200
    assert sorted(r.data) == ["audio", "deckcard", "file", "location", "media", "other", "poll", "recording",
                              "voice"]
    assert [m["id"] for m in r.data["media"]] == media[::-1][:7]   # default limit 7
    assert r.data["file"] == [] and r.data["poll"] == []
    small = await raw(p1, "GET", f"/chat/{token}/share/overview", params={"limit": 2})
    assert [m["id"] for m in small.data["media"]] == media[::-1][:2]
    capped = await raw(p1, "GET", f"/chat/{token}/share/overview", params={"limit": 500})
    assert len(capped.data["media"]) == 9


async def test_a_deleted_room_takes_its_items_along(users, p1):
    token = await group_room(p1)
    await upload(p1, token, "p.png", png())
    assert (await p1.delete(f"/room/{token}")).status == 200
    assert (await raw(p1, "GET", f"/chat/{token}/share", params={"objectType": "media"})).status == 404
    rows = await users.ctx.db.run(lambda conn: conn.execute("SELECT count(*) FROM attachments").fetchone()[0])
    assert rows == 0


@pytest.mark.parametrize("params, message", [
    ({}, "objectType is required"),
    ({"objectType": "pictures"}, "objectType must be one of"),
    ({"objectType": "media", "limit": "x"}, "limit must be an integer"),
    ({"objectType": "media", "lastKnownMessageId": "x"}, "lastKnownMessageId must be an integer"),
])
async def test_bad_share_parameters_are_400(users, p1, params, message):
    token = await group_room(p1)
    r = await raw(p1, "GET", f"/chat/{token}/share", params=params)
    assert r.status == 400 and message in r.body["ocs"]["meta"]["message"]
    overview = await raw(p1, "GET", f"/chat/{token}/share/overview", params={"limit": "x"})
    assert overview.status == 400
