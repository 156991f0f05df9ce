"""Call endpoints (talk-api-v1.md §5)."""
from __future__ import annotations

from ..domain import calls
from ..ocs import render
from ._endpoint import SPREED, endpoint

CALL = SPREED + "/call/<token:token>"


@endpoint(CALL, "GET")
async def get_peers(ctx, actor, params, token):
    return render(await calls.peers(ctx, actor, token))


@endpoint(CALL, "POST")
async def join_call(ctx, actor, params, token):
    await calls.join_call(ctx, actor, token)
    return render()


@endpoint(CALL + "/ping", "POST")
async def ping(ctx, actor, params, token):
    await calls.ping(ctx, actor, token)
    return render()


@endpoint(CALL, "DELETE")
async def leave_call(ctx, actor, params, token):
    await calls.leave_call(ctx, actor, token)
    return render()
