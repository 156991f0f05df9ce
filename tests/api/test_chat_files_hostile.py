"""Hostile uploads and bad input: oversized bodies, HTML and SVG, lying extensions, path tricks,
decompression bombs, malformed multipart, overload. Every answer is a clear 4xx (or 503), never a 5xx."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import httpx
import pytest
import trio

from server.domain import attachments

from .. import cluster_mode
from ..signaling_helpers import custom_server
from ..support import API
from .files_helpers import blob_files, download, group_room, raw, upload

HTML = b"<!doctype html><html><script>alert(document.cookie)</script></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


def bomb_png(width: int = 50_000, height: int = 50_000) -> bytes:
    """A tiny, valid PNG header claiming width x height pixels (2.5 gigapixels)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 1024)) \
        + chunk(b"IEND", b"")


@pytest.mark.parametrize("name, content, stored_type", [
    ("page.html", HTML, "text/html"),
    ("logo.svg", SVG, "image/svg+xml"),
    ("photo.png", HTML, "application/octet-stream"),       # the extension lies
    ("script.js", b"alert(1)", "text/javascript"),
])
async def test_active_content_is_never_served_as_itself(users, p1, name, content, stored_type):
    token = await group_room(p1)
    r = await upload(p1, token, name, content, content_type="image/png")
    assert r.status == 201, r.text
    file = r.data["messageParameters"]["file"]
    assert file["mimetype"] == stored_type
    assert file["preview-available"] == "no" and "width" not in file
    response = await download(p1, file["link"])
    assert response.content == content
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in response.headers["content-security-policy"]
    preview = await download(p1, file["link"] + "/preview")
    assert preview.status_code == 404 and preview.json()["ocs"]["meta"]["statuscode"] == 404


@pytest.mark.parametrize("raw_name, shown", [
    ("../../../../etc/passwd", "passwd"),
    ("..\\..\\windows\\win.ini", "win.ini"),
    ("/absolute/path/report.pdf", "report.pdf"),
    ("evil\u202egnp.exe", "evilgnp.exe"),               # no right-to-left override
])
async def test_path_tricks_in_the_name_are_reduced_to_a_plain_name(users, p1, tmp_path, raw_name, shown):
    token = await group_room(p1)
    r = await upload(p1, token, raw_name, b"content")
    assert r.status == 201, r.text
    file = r.data["messageParameters"]["file"]
    assert file["name"] == shown
    response = await download(p1, file["link"])
    assert "\r" not in response.headers["content-disposition"] and "\n" not in response.headers["content-disposition"]
    # Nothing was written outside the store: the bytes live only under their hash.
    stored = blob_files(tmp_path)
    assert len(stored) == 1 and stored[0].read_bytes() == b"content"
    assert not (Path(tmp_path).parent / "etc").exists()


async def test_control_characters_never_reach_the_headers(users, p1):
    token = await group_room(p1)
    body = (b'--b\r\nContent-Disposition: form-data; name="file"; filename="a\x01b\x7f\x1bc.txt"\r\n\r\n'
            b"x\r\n--b--\r\n")
    r = await raw(p1, "POST", f"/chat/{token}/attachment", content=body,
                  headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert r.status == 201, r.text
    file = r.data["messageParameters"]["file"]
    assert file["name"] == "abc.txt"
    disposition = (await download(p1, file["link"])).headers["content-disposition"]
    assert disposition == "attachment; filename=\"abc.txt\"; filename*=UTF-8''abc.txt"


async def test_a_multipart_body_with_an_endless_part_header_is_400(users, p1):
    token = await group_room(p1)
    body = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\nX-Pad: ' + b"a" * 1_200_000
    r = await raw(p1, "POST", f"/chat/{token}/attachment", content=body,
                  headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert r.status == 400 and "header" in r.meta["message"]


async def test_a_large_file_streams_through_in_many_chunks(users, p1, tmp_path):
    token = await group_room(p1)
    content = bytes(range(256)) * 12_000   # ~3 MiB: many ASGI messages and several disk writes
    r = await upload(p1, token, "large.bin", content)
    assert r.status == 201, r.text
    assert (await download(p1, r.data["messageParameters"]["file"]["link"])).content == content


@pytest.mark.parametrize("raw_name", ["..", "/", "   ", "\u202e"])
async def test_a_name_with_nothing_left_is_rejected(users, p1, raw_name):
    token = await group_room(p1)
    r = await upload(p1, token, raw_name, b"x")
    assert r.status == 400 and "name" in r.meta["message"]


async def test_decompression_bomb_gets_no_preview(users, p1):
    token = await group_room(p1)
    r = await upload(p1, token, "bomb.png", bomb_png())
    assert r.status == 201
    file = r.data["messageParameters"]["file"]
    assert file["mimetype"] == "image/png" and file["preview-available"] == "no"
    assert (await download(p1, file["link"] + "/preview")).status_code == 404


async def test_oversized_uploads_get_413_and_leave_nothing_behind(tmp_path):
    async with custom_server(tmp_path, max_upload_bytes=10_000) as server:
        p1 = server.actor("participant1")
        token = await group_room(p1)
        ok = await upload(p1, token, "fits.bin", b"x" * 10_000)
        assert ok.status == 201
        # Content-Length already too big: refused before the body is read.
        big = await upload(p1, token, "big.bin", b"x" * 2_000_000)
        assert big.status == 413 and "10000" in big.meta["message"]

        # Chunked, no Content-Length: refused once the file passes the limit.
        async def chunks():
            yield (b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"s.bin\"\r\n"
                   b"Content-Type: application/octet-stream\r\n\r\n")
            for _ in range(4):
                yield b"y" * 4000
            yield b"\r\n--b--\r\n"
        streamed = await raw(p1, "POST", f"/chat/{token}/attachment", content=chunks(),
                             headers={"Content-Type": "multipart/form-data; boundary=b"})
        assert streamed.status == 413
        assert list((Path(tmp_path) / "files" / "tmp").iterdir()) == []
        assert len(blob_files(tmp_path)) == 1
        history = await p1.get(f"/chat/{token}")
        assert [m["message"] for m in history.data if m["messageType"] == "comment"] == ["{file}"]


@pytest.mark.parametrize("kwargs, status", [
    ({"data": {"message": "no file"}}, 400),                                          # form, not multipart
    ({"content": b"not multipart", "headers": {"Content-Type": "multipart/form-data"}}, 400),  # no boundary
    ({"content": b"--b\r\ngarbage", "headers": {"Content-Type": "multipart/form-data; boundary=b"}}, 400),
    ({"files": {"other": ("a.txt", b"x")}}, 400),                                     # wrong part name
    ({"files": [("file", ("a.txt", b"x")), ("file", ("b.txt", b"y"))]}, 400),          # two files
    ({"data": {"caption": "only a caption"}, "files": {}}, 400),
    ({"files": {"file": ("a.txt", b"x")}, "data": {"caption": "x" * 1001}}, 413),     # caption too long
    ({"files": {"file": ("a.txt", b"x")}, "data": {"caption": "x" * 20000}}, 400),    # field over its cap
])
async def test_malformed_uploads_are_4xx(users, p1, kwargs, status):
    token = await group_room(p1)
    r = await raw(p1, "POST", f"/chat/{token}/attachment", **kwargs)
    assert r.status == status, r.text
    assert r.body["ocs"]["meta"]["statuscode"] == status


async def test_upload_needs_the_ocs_header_and_valid_credentials(users, p1):
    token = await group_room(p1)
    url = f"{users.url}/ocs/v2.php{API}/chat/{token}/attachment"
    async with httpx.AsyncClient(auth=("participant1", "123456")) as bare:
        r = await bare.post(url, files={"file": ("a.txt", b"x")})
        assert r.status_code == 412
    async with httpx.AsyncClient(auth=("participant1", "wrong"), headers={"OCS-APIRequest": "true"}) as wrong:
        r = await wrong.post(url, files={"file": ("a.txt", b"x")})
        assert r.status_code == 401


async def test_unknown_files_and_ids_are_404(users, p1):
    token = await group_room(p1)
    other = await group_room(p1, name="other")
    link = (await upload(p1, other, "a.txt", b"x")).data["messageParameters"]["file"]["link"]
    file_id = link.rsplit("/", 1)[1]
    # The id exists, but not in this room.
    assert (await download(p1, f"/ocs/v2.php{API}/chat/{token}/attachment/{file_id}")).status_code == 404
    assert (await download(p1, f"/ocs/v2.php{API}/chat/{token}/attachment/999999")).status_code == 404
    assert (await download(p1, f"/ocs/v2.php{API}/chat/{token}/attachment/abc")).status_code == 404
    assert (await download(p1, f"/ocs/v2.php{API}/chat/nosuchroom/attachment/1")).status_code == 404
    assert (await download(p1, link + "/preview", params={"x": -1})).status_code == 400


async def test_too_many_parallel_uploads_get_503_with_retry_after(users, p1, monkeypatch):
    monkeypatch.setattr(attachments, "MAX_PARALLEL_UPLOADS", 1)
    token = await group_room(p1)
    release = trio.Event()

    async def slow_body():
        yield b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"slow.bin\"\r\n\r\n"
        await release.wait()
        yield b"done\r\n--b--\r\n"

    results = []

    async def slow_upload():
        results.append(await raw(p1, "POST", f"/chat/{token}/attachment", content=slow_body(),
                                 headers={"Content-Type": "multipart/form-data; boundary=b"}))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(slow_upload)
        # Upload slots are per node: the second upload goes to the node serving the first.
        node = await cluster_mode.node_where(users, lambda n: attachments.state(n.ctx).uploads > 0)
        p1b = node.actor("participant1")
        busy = await upload(p1b, token, "second.bin", b"x", allowed_5xx=(503,))
        assert busy.status == 503 and busy.headers["retry-after"] == "5"
        release.set()
    assert results[0].status == 201
    assert (await upload(p1b, token, "third.bin", b"x")).status == 201
