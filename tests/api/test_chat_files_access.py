"""Who may upload, download, preview and list shared items: owner, moderator, user, guest, stranger."""
from __future__ import annotations

import pytest

from ..support import ROLES, room_with_role
from .files_helpers import download, png, raw, upload


@pytest.mark.parametrize("role", ROLES)
async def test_file_routes_follow_chat_access(users, p1, p2, role):
    p2 = p1 if role == "owner" else p2
    token = await room_with_role(p1, p2, role, room_type=2)
    shared = (await upload(p1, token, "owner.png", png())).data["messageParameters"]["file"]
    mine = await upload(p2, token, "mine.txt", b"from p2")
    got = await download(p2, shared["link"])
    preview = await download(p2, shared["link"] + "/preview")
    items = await raw(p2, "GET", f"/chat/{token}/share", params={"objectType": "media"})
    overview = await raw(p2, "GET", f"/chat/{token}/share/overview")
    if role == "stranger":
        assert mine.status == 404
        assert got.status_code == 404 and got.json()["ocs"]["meta"]["statuscode"] == 404
        assert preview.status_code == 404
        assert items.status == 404 and overview.status == 404
        return
    assert mine.status == 201 and mine.data["actorId"] == p2.user
    assert got.status_code == 200 and got.content == png()
    assert preview.status_code == 200 and preview.headers["content-type"] == "image/png"
    assert items.status == 200 and list(items.data) == [str(shared_message_id(items.data))]
    assert overview.status == 200 and len(overview.data["media"]) == 1 and len(overview.data["file"]) == 1


def shared_message_id(items: dict) -> int:
    (message,) = items.values()
    return message["id"]


async def test_guests_of_a_public_room_upload_and_download(users, p1, guest):
    token = await p1.create_room(3, name="public")
    shared = (await upload(p1, token, "a.txt", b"owner's")).data["messageParameters"]["file"]
    # Not joined yet: no session, so no chat access.
    assert (await upload(guest, token, "early.txt", b"x")).status == 404
    assert (await download(guest, shared["link"])).status_code == 404
    assert (await guest.join(token)).status == 200
    r = await upload(guest, token, "guest.txt", b"from a guest")
    assert r.status == 201 and r.data["actorType"] == "guests"
    assert r.data["messageParameters"]["actor"]["type"] == "guest"
    assert r.data["messageParameters"]["actor"]["id"] == "guest/" + r.data["actorId"]
    assert (await download(guest, shared["link"])).content == b"owner's"
    assert (await download(p1, r.data["messageParameters"]["file"]["link"])).content == b"from a guest"


async def test_a_removed_user_loses_the_files(users, p1, p2):
    token = await room_with_role(p1, p2, "user", room_type=2)
    link = (await upload(p1, token, "a.txt", b"secret")).data["messageParameters"]["file"]["link"]
    assert (await download(p2, link)).status_code == 200
    r = await p1.delete(f"/room/{token}/participants", participant="participant2")
    assert r.status == 200, r.text
    assert (await download(p2, link)).status_code == 404
