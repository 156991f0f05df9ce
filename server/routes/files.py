"""Files in chat: upload (streamed multipart), download, preview, shared items (docs/FILES-AND-SEARCH.md)."""
from __future__ import annotations

from pathlib import Path

import trio
from quart import Response, request

from ..domain import attachments
from ..domain.errors import FileNotFound, ParleyError, RangeNotSatisfiable
from ..ocs import render, render_error
from ..params import Params
from ._endpoint import SPREED, endpoint
from .upload_stream import ClientGone, Upload, check_length, drain, read_multipart

CHAT = SPREED + "/chat/<token:token>"
# Talk capability names of what this module serves (talk-chat-later.md §0.2).
FILE_FEATURES = ["rich-object-list-media", "rich-object-delete", "media-caption"]
ATTACHMENT = CHAT + "/attachment"
READ_CHUNK = 256 * 1024
# Downloads are never rendered by the browser as a page of Parley's origin: no scripts, no
# plugins, no same-origin access, even for a type that slipped through.
SAFE_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; sandbox",
                "Referrer-Policy": "no-referrer"}


@endpoint(ATTACHMENT, "POST", body=False)
async def upload(ctx, actor, params, token):
    """POST /chat/{token}/attachment (multipart: `file`, optional `caption`): 201 and the message."""
    upload = Upload()
    try:
        limit = ctx.config.max_upload_bytes
        await attachments.check_upload(ctx, actor, token)   # 404 first, as for any chat route
        check_length(limit)
        with attachments.UploadSlot(ctx):
            temp = attachments.new_temp(ctx)
            try:
                await read_multipart(ctx, temp, limit, upload)
            except BaseException:
                temp.discard()
                raise
            message, common_read = await attachments.share_upload(ctx, actor, token, temp, upload.file_name,
                                                                  share_options(upload.fields))
    except ClientGone:
        return Response(b"", status=400)   # nobody is listening any more
    except ParleyError as exc:
        response = render_error(exc)
        if isinstance(exc, attachments.UploadsBusy):
            response.headers["Retry-After"] = "5"
        if not upload.complete:
            await drain(upload)
        if not upload.complete:
            # The rest of the body was not read: this connection cannot carry another request.
            response.headers["Connection"] = "close"
        return response
    return render(message, 201, headers={"X-Chat-Last-Common-Read": str(common_read)})


def share_options(fields: dict[str, str]) -> attachments.ShareOptions:
    """The text fields of the upload form, typed like any other parameter (400 names the field)."""
    params = Params(fields)
    return attachments.ShareOptions(caption=params.str("caption"), reply_to=params.int("replyTo"),
                                    silent=params.bool("silent"), reference_id=params.str("referenceId"))


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """One `bytes=a-b` / `a-` / `-n` range as (first, last), None for the whole file; anything
    Parley does not serve (several ranges, other units) is answered with the whole file."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first_text, dash, last_text = header[6:].strip().partition("-")
    if not dash or not (first_text.isdigit() or first_text == "") or not (last_text.isdigit() or last_text == ""):
        return None
    if first_text == "":
        if last_text == "" or int(last_text) == 0:
            raise RangeNotSatisfiable()
        return max(0, size - int(last_text)), size - 1
    first = int(first_text)
    last = min(int(last_text), size - 1) if last_text else size - 1
    if first >= size or first > last:
        raise RangeNotSatisfiable()
    return first, last


async def _file_response(path: Path, content_type: str, disposition: str, etag: str, size: int) -> Response:
    headers = {**SAFE_HEADERS, "Content-Disposition": disposition, "ETag": f'"{etag}"',
               "Accept-Ranges": "bytes", "Cache-Control": "private, max-age=3600"}
    if request.headers.get("If-None-Match") == f'"{etag}"':
        return Response(b"", status=304, headers=headers)
    try:
        span = _byte_range(request.headers.get("Range"), size)
    except RangeNotSatisfiable as exc:
        response = render_error(exc)
        response.headers["Content-Range"] = f"bytes */{size}"
        return response
    first, last = span if span is not None else (0, size - 1)
    try:
        handle = await trio.open_file(path, "rb")
    except FileNotFoundError:
        return render_error(FileNotFound())

    async def chunks():
        async with handle:
            await handle.seek(first)
            left = last - first + 1
            while left > 0:
                data = await handle.read(min(READ_CHUNK, left))
                if not data:
                    break
                left -= len(data)
                yield data
    headers["Content-Length"] = str(max(0, last - first + 1))
    status = 200
    if span is not None:
        status = 206
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    return Response(chunks(), status=status, headers=headers, content_type=content_type)


@endpoint(ATTACHMENT + "/<int:file_id>", "GET", csrf=False)
async def download(ctx, actor, params, token, file_id):
    """The file itself, always as an attachment. No OCS-APIRequest needed: browsers follow links."""
    found = await attachments.download(ctx, actor, token, file_id)
    return await _file_response(found.path, found.content_type, found.disposition, found.attachment.sha256,
                                found.attachment.size)


@endpoint(ATTACHMENT + "/<int:file_id>/preview", "GET", csrf=False)
async def preview(ctx, actor, params, token, file_id):
    path, content_type = await attachments.preview(ctx, actor, token, file_id, params.int("x"), params.int("y"))
    size = path.stat().st_size
    return await _file_response(path, content_type, f'inline; filename="preview.{path.suffix[1:]}"',
                                path.stem, size)


@endpoint(CHAT + "/share", "GET")
async def shared_items(ctx, actor, params, token):
    items, smallest = await attachments.shared_items(ctx, actor, token, params.str("objectType"),
                                                     params.int("lastKnownMessageId", 0), params.int("limit"))
    headers = {"X-Chat-Last-Given": str(smallest)} if smallest is not None else None
    return render(items or None, headers=headers)


@endpoint(CHAT + "/share/overview", "GET")
async def shared_overview(ctx, actor, params, token):
    return render(await attachments.shared_overview(ctx, actor, token, params.int("limit")))
