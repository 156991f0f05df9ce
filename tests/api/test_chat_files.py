"""Files in chat: upload, the `{file}` message, download headers, ranges, previews, freeing."""
from __future__ import annotations

import hashlib
from pathlib import Path

import trio

from server.domain import attachments

from ..support import API
from .files_helpers import blob_files, download, group_room, jpeg, png, upload


async def test_upload_posts_a_file_message_that_wakes_a_parked_poll(users, p1, p2):
    token = await group_room(p1, "participant2", name="files")
    image = png(40, 30)
    woken: list = []
    newest = (await p2.get(f"/chat/{token}", params={"limit": 1})).data[0]["id"]

    async def poll():
        r = await p2.get(f"/chat/{token}", params={"lookIntoFuture": 1, "lastKnownMessageId": newest,
                                                   "timeout": 30})
        woken.append(r)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(poll)
        await trio.testing.wait_all_tasks_blocked(0.05)
        r = await upload(p1, token, "holiday.png", image, content_type="text/html")
    assert r.status == 201, r.text
    assert int(r.headers["x-chat-last-common-read"]) >= 0
    message = r.data
    assert message["message"] == "{file}"
    assert message["actorType"] == "users" and message["actorId"] == "participant1"
    file = message["messageParameters"]["file"]
    assert message["messageParameters"]["actor"] == {"type": "user", "id": "participant1", "mention-id": "participant1",
                                                     "name": "participant1-displayname"}
    assert file["type"] == "file" and file["name"] == "holiday.png" and file["path"] == "holiday.png"
    assert file["mimetype"] == "image/png"   # from the bytes, not the part's claimed text/html
    assert file["size"] == str(len(image))
    assert (file["preview-available"], file["width"], file["height"]) == ("yes", "40", "30")
    assert file["link"] == f"/ocs/v2.php{API}/chat/{token}/attachment/{file['id']}"
    assert all(isinstance(v, str) for v in file.values())
    assert woken[0].status == 200 and [m["id"] for m in woken[0].data] == [message["id"]]
    assert message["messageType"] == "comment" and message["isReplyable"] is True
    history = await p2.get(f"/chat/{token}")
    assert history.data[0]["messageParameters"]["file"] == file


async def test_download_is_an_attachment_with_safe_headers(users, p1, p2):
    token = await group_room(p1, "participant2")
    image = png()
    file = (await upload(p1, token, "Zoë's \"photo\".png", image)).data["messageParameters"]["file"]
    response = await download(p2, file["link"])
    assert response.status_code == 200
    assert response.content == image
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert response.headers["content-disposition"] == \
        "attachment; filename=\"Zo_'s _photo_.png\"; filename*=UTF-8''Zo%C3%AB%27s%20%22photo%22.png"
    assert response.headers["etag"] == f'"{hashlib.sha256(image).hexdigest()}"'
    # The v1 prefix serves the same bytes; a matching ETag gives 304.
    v1 = await download(p2, file["link"].replace("/ocs/v2.php", "/ocs/v1.php"))
    assert v1.content == image
    again = await download(p2, file["link"], headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


async def test_range_requests(users, p1):
    token = await group_room(p1)
    content = bytes(range(256)) * 4
    link = (await upload(p1, token, "data.bin", content)).data["messageParameters"]["file"]["link"]
    part = await download(p1, link, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == content[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{len(content)}"
    tail = await download(p1, link, headers={"Range": "bytes=-5"})
    assert tail.status_code == 206 and tail.content == content[-5:]
    beyond = await download(p1, link, headers={"Range": f"bytes={len(content)}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{len(content)}"
    several = await download(p1, link, headers={"Range": "bytes=0-1,5-6"})
    assert several.status_code == 200 and several.content == content   # not served: whole file


async def test_preview_is_generated_once_and_bounded(users, p1, tmp_path):
    token = await group_room(p1)
    file = (await upload(p1, token, "big.jpg", jpeg(1200, 800))).data["messageParameters"]["file"]
    assert file["mimetype"] == "image/jpeg" and file["preview-available"] == "yes"
    first = await download(p1, file["link"] + "/preview", params={"x": 100, "y": 100})
    assert first.status_code == 200 and first.headers["content-type"] == "image/jpeg"
    assert first.headers["x-content-type-options"] == "nosniff"
    from PIL import Image
    import io
    with Image.open(io.BytesIO(first.content)) as thumb:
        assert max(thumb.size) <= 256 and thumb.size[0] > thumb.size[1]
    cached = list((Path(tmp_path) / "files" / "previews").iterdir())
    assert len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    second = await download(p1, file["link"] + "/preview", params={"x": 200})
    assert second.content == first.content and cached[0].stat().st_mtime_ns == stamp
    bad = await download(p1, file["link"] + "/preview", params={"x": "big"})
    assert bad.status_code == 400


async def test_same_bytes_share_one_blob_until_the_last_room_is_deleted(users, p1, tmp_path):
    content = b"the same bytes " * 100
    room_a = await group_room(p1, name="a")
    room_b = await group_room(p1, name="b")
    link_a = (await upload(p1, room_a, "one.txt", content)).data["messageParameters"]["file"]["link"]
    link_b = (await upload(p1, room_b, "two.txt", content)).data["messageParameters"]["file"]["link"]
    assert [p.name for p in blob_files(tmp_path)] == [hashlib.sha256(content).hexdigest()]
    assert (await p1.delete(f"/room/{room_a}")).status == 200
    assert (await download(p1, link_a)).status_code == 404
    await attachments.sweep(users.ctx)
    assert len(blob_files(tmp_path)) == 1   # room b still refers to it
    assert (await download(p1, link_b)).content == content
    assert (await p1.delete(f"/room/{room_b}")).status == 200
    await attachments.sweep(users.ctx)
    assert blob_files(tmp_path) == []
    # Uploading the bytes again after they were freed stores them again.
    room_c = await group_room(p1, name="c")
    link_c = (await upload(p1, room_c, "three.txt", content)).data["messageParameters"]["file"]["link"]
    await attachments.sweep(users.ctx)
    assert (await download(p1, link_c)).content == content


async def test_caption_becomes_the_message_text(users, p1, p2):
    token = await group_room(p1, "participant2")
    r = await upload(p1, token, "notes.txt", b"hello", caption="  look @participant2  ")
    assert r.status == 201
    assert r.data["message"] == "look {mention-user1}"
    assert r.data["messageParameters"]["mention-user1"]["name"] == "participant2-displayname"
    assert r.data["messageParameters"]["file"]["mimetype"] == "text/plain"


async def test_an_upload_survives_a_restart_and_stale_temp_files_do_not(tmp_path):
    from server.domain import accounts

    from ..support import PASSWORD, serving, test_config
    config = test_config(str(tmp_path))
    async with serving(config) as first:
        await accounts.add_user(first.ctx, "participant1", PASSWORD, "P1")
        p1 = first.actor("participant1")
        token = await group_room(p1)
        r = await upload(p1, token, "kept.bin", b"durable bytes", v=1)
        assert r.status == 200 and r.meta["statuscode"] == 201   # v1: HTTP 200, statuscode 201
        link = r.data["messageParameters"]["file"]["link"]
    leftover = Path(tmp_path) / "files" / "tmp" / "interrupted-upload"
    leftover.write_bytes(b"half")
    async with serving(config) as second:
        p1 = second.actor("participant1")
        assert (await download(p1, link)).content == b"durable bytes"
        assert not leftover.exists()
