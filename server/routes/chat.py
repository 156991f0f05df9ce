"""Chat and guest-name endpoints (talk-api-v1.md §6, §7; talk-chat-later.md §2-§7, §9.1, §9.2)."""
from __future__ import annotations

from ..domain import chat, chat_changes, guests, reactions, read_markers
from ..ocs import render
from ._endpoint import SPREED, endpoint

CHAT = SPREED + "/chat/<token:token>"
MESSAGE = CHAT + "/<int:message_id>"
REACTION = SPREED + "/reaction/<token:token>/<int:message_id>"


def _headers(result: chat.ChatResult) -> dict[str, str]:
    """X-Chat-Last-Given (the last entry of the batch) then X-Chat-Last-Common-Read (§3.2); the
    ASGI fast path (chat_fast.py) writes the same two in the same order."""
    headers = {"X-Chat-Last-Given": str(result.messages[-1]["id"])} if result.messages else {}
    headers["X-Chat-Last-Common-Read"] = str(result.common_read)
    return headers


@endpoint(CHAT, "POST")
async def send_message(ctx, actor, params, token):
    result = await chat.post_message(ctx, actor, token, params.str("message"), params.str("actorDisplayName"),
                                     reply_to=params.int("replyTo", 0), reference_id=params.str("referenceId"),
                                     silent=params.bool("silent", False))
    return render(result.messages[0], 201, headers={"X-Chat-Last-Common-Read": str(result.common_read)})


async def receive_page(ctx, actor, params, token) -> chat.ChatResult:
    """The action behind GET /chat/{token}, shared with its ASGI fast path (chat_fast.py)."""
    last_common = params.int("lastCommonReadId")
    return await chat.receive_messages(
        ctx, actor, token, look_into_future=bool(params.int("lookIntoFuture", 0)), limit=params.int("limit"),
        last_known=params.int("lastKnownMessageId", 0), timeout=params.int("timeout"),
        last_common_read=last_common, set_read_marker=bool(params.int("setReadMarker", 1)),
        include_last_known=bool(params.int("includeLastKnown", 0)))


@endpoint(CHAT, "GET")
async def receive_messages(ctx, actor, params, token):
    result = await receive_page(ctx, actor, params, token)
    page = result.messages
    if not page and not result.changed:
        return render(None, 304)
    # A page from the hub (a woken long-poll) carries a memo: its body is encoded once per fan-out.
    return render(page, headers=_headers(result), memo=getattr(page, "memo", None))


@endpoint(CHAT, "DELETE")
async def clear_history(ctx, actor, params, token):
    result = await chat_changes.clear_history(ctx, actor, token)
    return render(result.messages[0], headers={"X-Chat-Last-Common-Read": str(result.common_read)})


@endpoint(MESSAGE, "DELETE")
async def delete_message(ctx, actor, params, token, message_id):
    result = await chat_changes.delete_message(ctx, actor, token, message_id)
    return render(result.messages[0], headers={"X-Chat-Last-Common-Read": str(result.common_read)})


@endpoint(MESSAGE, "PUT")
async def edit_message(ctx, actor, params, token, message_id):
    result = await chat_changes.edit_message(ctx, actor, token, message_id, params.str("message"))
    return render(result.messages[0], headers={"X-Chat-Last-Common-Read": str(result.common_read)})


@endpoint(MESSAGE + "/context", "GET")
async def context(ctx, actor, params, token, message_id):
    result = await chat_changes.context(ctx, actor, token, message_id, params.int("limit"))
    if not result.messages:
        return render(None, 304)
    return render(result.messages, headers=_headers(result))


@endpoint(CHAT + "/read", "POST")
async def set_read_marker(ctx, actor, params, token):
    common = await read_markers.set_marker(ctx, actor, token, params.int("lastReadMessage"))
    return render(None, headers={"X-Chat-Last-Common-Read": str(common)})


@endpoint(CHAT + "/read", "DELETE")
async def mark_unread(ctx, actor, params, token):
    common = await read_markers.mark_unread(ctx, actor, token)
    return render(None, headers={"X-Chat-Last-Common-Read": str(common)})


@endpoint(REACTION, "POST")
async def react(ctx, actor, params, token, message_id):
    created, listing = await reactions.add(ctx, actor, token, message_id, params.str("reaction"))
    return render(listing, 201 if created else 200)


@endpoint(REACTION, "DELETE")
async def unreact(ctx, actor, params, token, message_id):
    return render(await reactions.remove(ctx, actor, token, message_id, params.str("reaction")))


@endpoint(REACTION, "GET")
async def list_reactions(ctx, actor, params, token, message_id):
    return render(await reactions.listing(ctx, actor, token, message_id, params.str("reaction")))


@endpoint(CHAT + "/mentions", "GET")
async def mentions(ctx, actor, params, token):
    return render(await chat.mention_suggestions(ctx, actor, token, params.str("search", "") or "",
                                                 params.int("limit")))


@endpoint(SPREED + "/guest/<token:token>/name", "POST")
async def set_guest_name(ctx, actor, params, token):
    await guests.set_guest_name(ctx, actor, token, params.str("displayName"))
    return render()
