"""Streaming request bodies for uploads: Quart buffers a body in memory without limit on how fast
it arrives (its receiver task appends every ASGI message to one bytearray), so for the upload
route this connection class hands the route the ASGI `receive` callable instead. The route pulls
one message at a time, writes it out, then pulls the next: hypercorn's bounded app queue turns
that into TCP back-pressure, and memory stays at a few chunks whatever the file's size.

`read_multipart` is the multipart/form-data reader on top: werkzeug's sans-IO decoder, one file
part (`file`) streamed into a `TempBlob`, the text fields collected with a small cap.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Awaitable, Callable

import trio
from quart import Quart, request
from quart_trio.asgi import TrioASGIHTTPConnection
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from storage.blobs import TempBlob

from ..domain import attachments
from ..domain.errors import BadParameter, UploadTooLarge

UPLOAD_PATH = re.compile(r"/ocs/v[12]\.php/apps/spreed/api/v1/chat/[a-z0-9]{4,30}/attachment/?")
FLUSH_BYTES = 1 << 20           # file data is written out in chunks of up to 1 MiB
FORM_SLACK = 1 << 20            # room for part headers and text fields on top of the file
MAX_FIELD_BYTES = 16 * 1024     # a text field (caption…)
MAX_PARTS = 16
MAX_UNPARSED = 1 << 20        # bytes the decoder may hold without yielding an event
Receive = Callable[[], Awaitable[dict]]


class StreamedUploadConnection(TrioASGIHTTPConnection):
    """Quart's HTTP connection, except that upload requests keep their body unread."""

    async def __call__(self, receive, send) -> None:  # type: ignore[override]
        if self.scope["method"] != "POST" or not UPLOAD_PATH.fullmatch(self.scope["path"]):
            await super().__call__(receive, send)
            return
        req = self._create_request_from_scope(send)
        req.parley_receive = receive   # type: ignore[attr-defined]
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.handle_request, nursery, req, send)


def register_upload_stream(app: Quart) -> None:
    app.asgi_http_class = StreamedUploadConnection   # type: ignore[assignment]


@dataclass
class Upload:
    file_name: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    complete: bool = False   # the whole body was read (else the connection cannot be reused)


DRAIN_BYTES = 8 << 20          # after an early error, read and drop at most this much more…
DRAIN_SECONDS = 5.0            # …for at most this long, so the client gets to read the answer


async def drain(upload: Upload) -> None:
    """Read and drop the rest of a body the route will not use, within DRAIN_BYTES/DRAIN_SECONDS.

    A client that sends the whole body before reading the answer (most do) would otherwise be
    stuck writing into a connection nobody reads, and never see its 413 or 404. Past the bounds
    the answer goes out anyway and the connection is closed."""
    receive: Receive = request.parley_receive   # type: ignore[attr-defined]
    dropped = 0
    with trio.move_on_after(DRAIN_SECONDS):   # ok: a bound on how long an early error waits
        while not upload.complete and dropped <= DRAIN_BYTES:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            dropped += len(message.get("body", b""))
            upload.complete = not message.get("more_body", False)


class ClientGone(Exception):
    """The client disconnected before sending the whole body."""


def boundary() -> bytes:
    mimetype, options = parse_options_header(request.headers.get("Content-Type", ""))
    if mimetype != "multipart/form-data" or not options.get("boundary"):
        raise BadParameter("send the file as multipart/form-data with a `file` part")
    value = options["boundary"]
    if len(value) > 200:
        raise BadParameter("the multipart boundary is too long")
    return value.encode("latin-1", "replace")


def check_length(limit: int) -> None:
    """413 before storing anything when Content-Length already says too much."""
    length = request.content_length
    if length is not None and length > limit + FORM_SLACK:
        raise UploadTooLarge(f"the file is larger than the upload limit of {limit} bytes")


async def read_multipart(ctx, temp: TempBlob, limit: int, upload: Upload) -> None:
    """Read the body: the `file` part's bytes go to `temp` (UploadTooLarge past `limit`), the
    other parts are text fields. BadParameter for malformed bodies; ClientGone on disconnect."""
    receive: Receive = request.parley_receive   # type: ignore[attr-defined]
    # No max_form_memory_size: werkzeug applies it to every chunk, file data included. The caps
    # are enforced here instead: per text field, and on what the decoder holds unparsed.
    decoder = MultipartDecoder(boundary(), max_parts=MAX_PARTS)
    received = 0
    current: str | None = None          # "file", a field name, or None (ignored part)
    field_value = bytearray()
    pending = bytearray()
    seen_file = False
    finished = False
    while not finished:
        try:
            event = decoder.next_event()
        except RequestEntityTooLarge:
            raise BadParameter("a form field is too large or there are too many parts") from None
        except ValueError as exc:
            raise BadParameter(f"malformed multipart body: {exc}") from None
        if isinstance(event, NeedData):
            if upload.complete:
                raise BadParameter("the multipart body ended before its closing boundary")
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone()
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > limit + FORM_SLACK:
                raise UploadTooLarge(f"the file is larger than the upload limit of {limit} bytes")
            more = message.get("more_body", False)
            decoder.receive_data(chunk)
            if len(decoder.buffer) > MAX_UNPARSED:
                raise BadParameter("malformed multipart body: a part header never ends")
            if not more:
                upload.complete = True
                decoder.receive_data(None)
        elif isinstance(event, File):
            if event.name != "file" or seen_file:
                raise BadParameter("send exactly one file, in the part named `file`")
            seen_file, current = True, "file"
            upload.file_name = event.filename
        elif isinstance(event, Field):
            current = event.name if len(upload.fields) < MAX_PARTS else None
            field_value.clear()
        elif isinstance(event, Data):
            if current == "file":
                pending += event.data
                if temp.size + len(pending) > limit:   # 413 now, not at the next flush
                    raise UploadTooLarge(f"the file is larger than the upload limit of {limit} bytes")
                if len(pending) >= FLUSH_BYTES or not event.more_data:
                    await attachments.write(temp, bytes(pending), limit)
                    pending.clear()
            elif current is not None:
                field_value += event.data
                if len(field_value) > MAX_FIELD_BYTES:
                    raise BadParameter(f"the form field {current} is too large")
                if not event.more_data:
                    try:
                        upload.fields[current] = field_value.decode()
                    except UnicodeDecodeError:
                        raise BadParameter(f"the form field {current} is not UTF-8") from None
        elif isinstance(event, Epilogue):
            finished = True
    while not upload.complete:   # drain what follows the closing boundary
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone()
        received += len(message.get("body", b""))
        if received > limit + FORM_SLACK:
            raise UploadTooLarge(f"the file is larger than the upload limit of {limit} bytes")
        upload.complete = not message.get("more_body", False)
    if not seen_file:
        raise BadParameter("the `file` part is missing")
