"""Chat and guest-name endpoints (talk-api-v1.md §6, §7)."""
from __future__ import annotations

from ..domain import chat, guests
from ..ocs import render
from ._endpoint import SPREED, endpoint

CHAT = SPREED + "/chat/<token:token>"


@endpoint(CHAT, "POST")
async def send_message(ctx, actor, params, token):
    await chat.post_message(ctx, actor, token, params.str("message"), params.str("actorDisplayName"))
    return render(None, 201)


async def receive_page(ctx, actor, params, token) -> chat.Page:
    """The action behind GET /chat/{token}, shared with its ASGI fast path (chat_fast.py)."""
    return await chat.receive_messages(
        ctx, actor, token, look_into_future=bool(params.int("lookIntoFuture", 0)), limit=params.int("limit"),
        last_known=params.int("lastKnownMessageId", 0), timeout=params.int("timeout"))


@endpoint(CHAT, "GET")
async def receive_messages(ctx, actor, params, token):
    page = await receive_page(ctx, actor, params, token)
    if not page:
        return render(None, 304)
    # A page from the hub (a woken long-poll) carries a memo: its body is encoded once per fan-out.
    return render(page, headers={"X-Chat-Last-Given": str(page[-1]["id"])}, memo=getattr(page, "memo", None))


@endpoint(CHAT + "/mentions", "GET")
async def mentions(ctx, actor, params, token):
    return render(await chat.mention_suggestions(ctx, actor, token, params.str("search", "") or "",
                                                 params.int("limit")))


@endpoint(SPREED + "/guest/<token:token>/name", "POST")
async def set_guest_name(ctx, actor, params, token):
    await guests.set_guest_name(ctx, actor, token, params.str("displayName"))
    return render()
