"""`GET /core/autocomplete/get` (under both OCS prefixes): the people search of Talk's web UI."""
from __future__ import annotations

from ..domain import people
from ..ocs import render
from ._endpoint import endpoint


@endpoint("/core/autocomplete/get", "GET", login=True)
async def autocomplete(ctx, actor, params):
    # `itemType` / `itemId` (the conversation) only choose Nextcloud's sorter; Parley ranks by
    # match quality alone, so they are accepted and not needed.
    found = await people.autocomplete(ctx, actor, params.str("search", ""), params.list("shareTypes[]"),
                                      params.int("limit"))
    return render(found)
