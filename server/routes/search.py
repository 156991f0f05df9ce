"""Message search endpoints (Parley's own; docs/FILES-AND-SEARCH.md)."""
from __future__ import annotations

from ..domain import search
from ..ocs import render
from ._endpoint import SPREED, endpoint


def _page(found):
    headers = {"X-Chat-Last-Given": str(found[-1]["id"])} if found else None
    return render(found or None, headers=headers)


@endpoint(SPREED + "/chat/<token:token>/search", "GET")
async def search_room(ctx, actor, params, token):
    return _page(await search.search_room(ctx, actor, token, params.str("term"), params.int("limit"),
                                          params.int("lastKnownMessageId", 0)))


@endpoint(SPREED + "/search", "GET", login=True)
async def search_all(ctx, actor, params):
    return _page(await search.search_all(ctx, actor, params.str("term"), params.int("limit"),
                                         params.int("lastKnownMessageId", 0)))
