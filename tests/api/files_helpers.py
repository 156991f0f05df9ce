"""Helpers for the file, shared-item and search tests: multipart uploads, raw downloads, images."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from ..support import API, Actor, Reply


def png(width: int = 40, height: int = 30, color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG")
    return out.getvalue()


def jpeg(width: int = 300, height: int = 200) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 200)).save(out, "JPEG")
    return out.getvalue()


def _reply(response: httpx.Response, allowed_5xx: tuple[int, ...] = ()) -> Reply:
    body: Any = None
    if response.content and response.headers.get("content-type", "").startswith("application/json"):
        body = response.json()
    assert response.status_code < 500 or response.status_code in allowed_5xx, f"{response.request.method} {response.request.url} gave " \
                                       f"{response.status_code}: {response.text}"
    return Reply(response.status_code, body, response.headers, response.text)


async def upload(actor: Actor, token: str, name: str, content: bytes, *, v: int = 2,
                 content_type: str = "application/octet-stream", allowed_5xx: tuple[int, ...] = (),
                 **fields: str) -> Reply:
    response = await actor.client.post(f"/ocs/v{v}.php{API}/chat/{token}/attachment",
                                       files={"file": (name, content, content_type)}, data=fields or None)
    return _reply(response, allowed_5xx)


async def raw(actor: Actor, method: str, path: str, **kwargs: Any) -> Reply:
    """A request to the spreed API with the body and headers as given (no multipart help)."""
    return _reply(await actor.client.request(method, f"/ocs/v2.php{API}{path}", **kwargs))


async def download(actor: Actor, link: str, **kwargs: Any) -> httpx.Response:
    response = await actor.client.get(link, **kwargs)
    assert response.status_code < 500, response.text
    return response


def blob_files(data_dir: str | Path) -> list[Path]:
    """Every stored blob (not temp files, not previews)."""
    root = Path(data_dir) / "files"
    return sorted(p for p in root.glob("??/??/*") if p.is_file())


async def group_room(owner: Actor, *members: str, name: str = "room") -> str:
    """A group room (type 2) with these users invited."""
    token = await owner.create_room(2, name=name)
    for member in members:
        r = await owner.post(f"/room/{token}/participants", newParticipant=member)
        assert r.status == 200, r.text
    return token
