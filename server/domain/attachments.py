"""Files in chat (issue 11 item 8): share an upload as a chat message, download it, preview it,
list a room's shared items (§9.3), and free blobs nothing refers to any more.

An upload is checked before its body is read (`check_upload`: a stranger gets 404 without sending
100 MiB), streamed by the route into a `TempBlob` (hashed on the way, never whole in memory), then
shared by `share_upload` in one unit of work: access again, the chat message carrying the `{file}`
rich object of §9.4, the attachment row, and the rename of the temp file onto its content address.
The message wakes parked long-polls from the unit's after-commit hook, like any chat message.
"""
from __future__ import annotations

import errno
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from storage import attachments as attachments_db
from storage import chat_state
from storage import messages as messages_db
from storage.attachments import Attachment
from storage.blobs import BlobStore, TempBlob

from . import access, filetypes
from .chat import DEFAULT_LIMIT, MAX_LIMIT, MAX_MESSAGE, MAX_REFERENCE_ID, page_limit, reply_target
from .chat_post import Outbox, author_of
from .chat_post import post_message as post_entry
from .chat_render import USERS, Viewer, actor_reference, render_messages
from .context import Actor, Ctx
from .errors import (BadParameter, FileNotFound, InsufficientStorage, MessageTooLong, NoPreview, ParleyError,
                     UploadTooLarge)
from .guests import TRIMMED
from .mentions import render_mentions
from .previews import PreviewCache, bucket, preview_ext

SHARE_TYPES = ("audio", "deckcard", "file", "location", "media", "other", "poll", "recording", "voice")
FILE_ITEM_TYPES = ("audio", "file", "media", "voice")
DEFAULT_OVERVIEW_LIMIT, MAX_OVERVIEW_LIMIT = 7, 20
MAX_PARALLEL_UPLOADS = 8
SWEEP_BATCH = 500


class UploadsBusy(ParleyError):
    """More uploads in flight than the server takes at once: retry shortly (503, Retry-After)."""
    status = 503
    default_message = "too many uploads in progress; retry in a few seconds"


@dataclass
class FilesState:
    """What the file feature keeps per server: the store, the thumbnail maker, the upload gate."""
    store: BlobStore
    previews: PreviewCache = field(default_factory=PreviewCache)
    uploads: int = 0


def install(ctx: Ctx) -> FilesState:
    state = FilesState(BlobStore(Path(ctx.config.data_dir) / "files"))
    state.store.prepare()
    ctx.files = state   # type: ignore[attr-defined]
    return state


def state(ctx: Ctx) -> FilesState:
    return ctx.files   # type: ignore[attr-defined]


# -- upload ---------------------------------------------------------------------------------------

async def check_upload(ctx: Ctx, actor: Actor, token: str) -> None:
    """Before the body is read: the caller may post in the room (RoomNotFound otherwise)."""
    await ctx.db.run(lambda conn: access.chat_room(conn, actor, token))


class UploadSlot:
    """At most MAX_PARALLEL_UPLOADS bodies are received at once; beyond that, 503 at once."""

    def __init__(self, ctx: Ctx) -> None:
        self._state = state(ctx)

    def __enter__(self) -> "UploadSlot":
        if self._state.uploads >= MAX_PARALLEL_UPLOADS:
            raise UploadsBusy()
        self._state.uploads += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self._state.uploads -= 1


def new_temp(ctx: Ctx) -> TempBlob:
    try:
        return state(ctx).store.new_temp()
    except OSError as exc:
        raise _storage_error(exc) from None


async def write(temp: TempBlob, data: bytes, limit: int) -> None:
    """Append a chunk (in a worker thread: a full disk may block); UploadTooLarge past `limit`."""
    if temp.size + len(data) > limit:
        raise UploadTooLarge(f"the file is larger than the upload limit of {limit} bytes")
    try:
        await trio.to_thread.run_sync(temp.write, data)
    except OSError as exc:
        raise _storage_error(exc) from None


def _storage_error(exc: OSError) -> ParleyError | OSError:
    return InsufficientStorage() if exc.errno in (errno.ENOSPC, errno.EDQUOT) else exc


def file_link(ctx: Ctx, token: str, attachment_id: int) -> str:
    """Parley's own download route; absolute when `public_url` is configured."""
    path = f"/ocs/v2.php/apps/spreed/api/v1/chat/{token}/attachment/{attachment_id}"
    return ctx.config.public_url.rstrip("/") + path if ctx.config.public_url else path


def file_object(ctx: Ctx, token: str, attachment_id: int, name: str, mimetype: str, size: int, sha256: str,
                width: int | None, height: int | None) -> dict[str, str]:
    """The `{file}` rich object of §9.4 (every value a string, as Talk sends them)."""
    obj = {"type": "file", "id": str(attachment_id), "name": name, "size": str(size), "path": name,
           "link": file_link(ctx, token, attachment_id), "etag": sha256[:32], "permissions": "1",
           "mimetype": mimetype, "preview-available": "yes" if width else "no", "hide-download": "no"}
    if width and height:
        obj["width"], obj["height"] = str(width), str(height)
    return obj


@dataclass(frozen=True, slots=True)
class ShareOptions:
    """The chat side of an upload (`media-caption`, Talk 18): a caption (mentions are parsed),
    a reply target, a silent send, and the client's reference id."""
    caption: str | None = None
    reply_to: int | None = None
    silent: bool = False
    reference_id: str | None = None


async def share_upload(ctx: Ctx, actor: Actor, token: str, temp: TempBlob, raw_name: str | None,
                       options: ShareOptions = ShareOptions()) -> tuple[dict[str, Any], int]:
    """Store a fully received upload and post it to the room's chat; returns the message and the
    room's common read marker (X-Chat-Last-Common-Read, §3.2).

    Raises BadParameter (no usable file name), MessageTooLong (caption over the message limit),
    BadReplyTo, RoomNotFound (the caller lost access while uploading). The temp file is consumed
    either way."""
    files = state(ctx)
    try:
        name = filetypes.safe_name(raw_name)
        if not name:
            raise BadParameter("the file part needs a file name")
        caption = (options.caption or "").strip(TRIMMED)
        if len(caption) > MAX_MESSAGE:
            raise MessageTooLong()
        reference = (options.reference_id or "").strip(TRIMMED)[:MAX_REFERENCE_ID].strip(TRIMMED)
        try:
            sha256 = await trio.to_thread.run_sync(temp.finish)
        except OSError as exc:
            raise _storage_error(exc) from None
        mimetype = filetypes.detect(name, temp.head)
        facts = await files.previews.probe(temp.path, mimetype, temp.size)
        width, height = (facts.width, facts.height) if facts else (None, None)
        body, parameters = render_mentions(caption) if caption else ("{file}", {})
        now = ctx.now()
        out = Outbox(ctx.hub)

        def unit(conn: sqlite3.Connection) -> tuple[dict[str, Any], int]:
            room, me = access.chat_room(conn, actor, token)
            author = author_of(actor, me)
            parent = reply_target(conn, room, options.reply_to)
            mentioned = [p["id"] for p in parameters.values()]
            if parent is not None and parent.actor_type == USERS:
                mentioned.append(parent.actor_id)   # a reply is a direct mention of the parent's author
            attachment_id = attachments_db.next_id(conn)
            stored = {"actor": actor_reference(author.actor_type, author.actor_id), **parameters,
                      "file": file_object(ctx, room.token, attachment_id, name, mimetype, temp.size, sha256,
                                          width, height)}

            def attach(message_id: int) -> None:
                attachments_db.insert(conn, attachment_id, room.id, message_id, sha256, name, mimetype,
                                      temp.size, width, height, filetypes.item_type(mimetype), now)
            rendered = post_entry(conn, out, room, author, body, now=now, parameters=stored,
                                  parent_id=parent.id if parent else None, reference_id=reference,
                                  silent=options.silent, mentioned=mentioned, on_insert=attach)
            common_read = chat_state.common_read(conn, room.id)
            files.store.publish(temp)   # last: a failure above rolls back with the file still in tmp/
            return rendered, common_read
        return await ctx.db.run(unit, after_commit=out.hook())
    finally:
        temp.discard()   # a no-op once published


# -- download and preview ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Download:
    attachment: Attachment
    path: Path
    content_type: str
    disposition: str


async def _attachment(ctx: Ctx, actor: Actor, token: str, attachment_id: int) -> Attachment:
    def unit(conn: sqlite3.Connection) -> Attachment:
        room, _ = access.chat_room(conn, actor, token)
        found = attachments_db.by_id(conn, room.id, attachment_id)
        if found is None:
            raise FileNotFound()
        return found
    return await ctx.db.run(unit)


async def download(ctx: Ctx, actor: Actor, token: str, attachment_id: int) -> Download:
    """The file behind a `{file}` link, for anyone who may read the room's chat (L4)."""
    found = await _attachment(ctx, actor, token, attachment_id)
    path = state(ctx).store.path(found.sha256)
    return Download(found, path, filetypes.served_type(found.mimetype),
                    filetypes.content_disposition(found.name))


async def preview(ctx: Ctx, actor: Actor, token: str, attachment_id: int, x: int | None, y: int | None
                  ) -> tuple[Path, str]:
    """A thumbnail (made once per size bucket); NoPreview for files that are not safe images."""
    if (x is not None and x < 0) or (y is not None and y < 0):
        raise BadParameter("x and y must not be negative")
    found = await _attachment(ctx, actor, token, attachment_id)
    if not found.width:
        raise NoPreview()
    files = state(ctx)
    size, ext = bucket(x, y), preview_ext(found.mimetype)
    target = files.store.preview_path(found.sha256, size, ext)
    if not await files.previews.get(files.store.path(found.sha256), target, size, ext):
        raise NoPreview()
    return target, "image/jpeg" if ext == "jpg" else "image/png"


# -- shared items (§9.3) ----------------------------------------------------------------------------

def _render_ids(conn: sqlite3.Connection, token: str, ids: list[int], viewer: Viewer) -> list[dict[str, Any]]:
    return render_messages(conn, token, [messages_db.by_id(conn, i) for i in ids], viewer)


async def shared_items(ctx: Ctx, actor: Actor, token: str, object_type: str | None, last_known: int | None,
                       limit: int | None) -> tuple[dict[str, dict[str, Any]], int | None]:
    """GET /chat/{token}/share: the room's items of one type, newest first, below the cursor;
    (items keyed by message id, the smallest id returned or None)."""
    if not object_type:
        raise BadParameter("objectType is required")
    if object_type not in SHARE_TYPES:
        raise BadParameter(f"objectType must be one of {', '.join(SHARE_TYPES)}")
    limit = page_limit(limit, DEFAULT_LIMIT, MAX_LIMIT)
    cursor = last_known if last_known and last_known > 0 else None

    def unit(conn: sqlite3.Connection) -> list[dict[str, Any]]:
        room, me = access.chat_room(conn, actor, token)
        if object_type not in FILE_ITEM_TYPES:
            return []   # Parley shares no locations, polls or deck cards
        return _render_ids(conn, room.token,
                           attachments_db.message_ids_of_type(conn, room.id, object_type, cursor, limit),
                           author_of(actor, me).viewer)
    rows = await ctx.db.run(unit)
    return {str(m["id"]): m for m in rows}, (rows[-1]["id"] if rows else None)


async def shared_overview(ctx: Ctx, actor: Actor, token: str, limit: int | None) -> dict[str, list[dict[str, Any]]]:
    """GET /chat/{token}/share/overview: every type key, each with its newest `limit` items."""
    limit = page_limit(limit, DEFAULT_OVERVIEW_LIMIT, MAX_OVERVIEW_LIMIT)

    def unit(conn: sqlite3.Connection) -> dict[str, list[dict[str, Any]]]:
        room, me = access.chat_room(conn, actor, token)
        viewer = author_of(actor, me).viewer
        overview: dict[str, list[dict[str, Any]]] = {kind: [] for kind in SHARE_TYPES}
        for kind in FILE_ITEM_TYPES:
            overview[kind] = _render_ids(conn, room.token,
                                         attachments_db.message_ids_of_type(conn, room.id, kind, None, limit),
                                         viewer)
        return overview
    return await ctx.db.run(unit)


# -- freeing blobs ----------------------------------------------------------------------------------

async def sweep(ctx: Ctx) -> int:
    """Remove the files of blobs no attachment refers to any more; returns how many. Runs on the
    DB thread (inside units), so it is serialised with uploads publishing the same hash."""
    store = state(ctx).store

    def unit(conn: sqlite3.Connection) -> tuple[int, bool]:
        batch = attachments_db.freed(conn, SWEEP_BATCH)
        removed = 0
        for sha256 in batch:
            if not attachments_db.referenced(conn, sha256):
                store.remove(sha256)
                removed += 1
            attachments_db.forget_freed(conn, sha256)
        return removed, len(batch) == SWEEP_BATCH
    total, more = 0, True
    while more:
        removed, more = await ctx.db.run(unit)
        total += removed
    return total


async def run_sweeper(ctx: Ctx, interval: float) -> None:
    """Deletions happen in other actions (messages, rooms); their rows are gone at once (downloads
    answer 404), and this timer reclaims the disk space."""
    while True:
        await sweep(ctx)
        await trio.sleep(interval)   # ok: periodic reclaim of freed blobs, not a wait for an event
