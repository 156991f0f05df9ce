"""People search: Nextcloud's `core/autocomplete/get`, the route Talk's web UI calls to find
users and groups to add to a conversation or to start a one-to-one chat with.

Only logged-in users may search (the route requires a login; guests get 401), because the list
of accounts is not something a guest link should reveal. The caller is left out of the answer,
as Nextcloud's user plugin does: nobody adds themselves or starts a chat with themselves.
"""
from __future__ import annotations

from signaling.events import ParticipantsChanged, RoomChanged
from storage import accounts as accounts_db
from storage import people as people_db
from storage import rooms as rooms_db
from storage.records import ParticipantType, RoomType

from . import access
from .context import Actor, Ctx
from .errors import BadParameter, GroupNotFound, NotLoggedIn

SHARE_USER, SHARE_GROUP = 0, 1
# Nextcloud's other share types (4 e-mail, 6 remote, 7 team, …) are accepted and find nobody here.
KNOWN_SHARE_TYPES = range(0, 16)
DEFAULT_LIMIT, MAX_LIMIT = 10, 100
MAX_SEARCH = 256


def valid_limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    if limit < 1:
        raise BadParameter("limit must be a positive integer")
    return min(limit, MAX_LIMIT)   # a larger page is clamped, not refused, as Nextcloud does


def valid_share_types(values: list[str] | None) -> set[int]:
    if not values:
        return {SHARE_USER, SHARE_GROUP}
    types: set[int] = set()
    for value in values:
        text = str(value).strip()
        if not text.isdigit() or int(text) not in KNOWN_SHARE_TYPES:
            raise BadParameter("shareTypes[] must hold share type numbers (0 users, 1 groups)")
        types.add(int(text))
    return types


def _user_entry(user) -> dict:
    return {"id": user.id, "label": user.display_name, "icon": "icon-user", "source": "users",
            "status": [], "subline": "", "shareWithDisplayNameUnique": user.id}


def _group_entry(group_id: str) -> dict:
    return {"id": group_id, "label": group_id, "icon": "icon-group", "source": "groups",
            "status": [], "subline": "", "shareWithDisplayNameUnique": group_id}


async def autocomplete(ctx: Ctx, actor: Actor, search: str | None, share_types: list[str] | None,
                       limit: int | None) -> list[dict]:
    """Users (by id or display name) and groups (by id) matching `search`, users first, at most
    `limit` entries in all. An empty search lists everyone, like Nextcloud with enumeration on.

    Raises NotLoggedIn for a guest, BadParameter for a bad limit, share type or an over-long search.
    """
    if actor.user_id is None:
        raise NotLoggedIn()
    text = (search or "").strip()
    if len(text) > MAX_SEARCH:
        raise BadParameter(f"search must be at most {MAX_SEARCH} characters")
    count, types = valid_limit(limit), valid_share_types(share_types)

    def unit(conn):
        entries: list[dict] = []
        if SHARE_USER in types:
            entries += [_user_entry(u) for u in people_db.search_users(conn, text, count, actor.user_id)]
        if SHARE_GROUP in types and len(entries) < count:
            entries += [_group_entry(g) for g in people_db.search_groups(conn, text, count - len(entries))]
        return entries
    return await ctx.db.run(unit)


async def add_group(ctx: Ctx, actor: Actor, token: str, group_id: str | None) -> dict | None:
    """`POST /room/{token}/participants` with `source=groups`: every member of the group not yet
    in the room becomes a user participant (Talk copies the members once; later changes to the
    group do not follow). A one-to-one room that grows past two turns into a group room, as
    with a single user, answered with {"type": 2}.

    Raises RoomNotFound/Forbidden as for adding a user, GroupNotFound for an unknown group.
    """
    def unit(conn):
        room, _ = access.moderated_room(conn, actor, token)
        if not group_id:
            raise BadParameter("newParticipant is required")
        if not accounts_db.group_exists(conn, group_id):
            raise GroupNotFound(f"group {group_id} does not exist")
        new = [u for u in accounts_db.group_members(conn, group_id)
               if rooms_db.participant_of_user(conn, room.id, u) is None]
        changed_type = None
        if new and room.type == RoomType.ONE_TO_ONE:
            rooms_db.set_room_type(conn, room.id, RoomType.GROUP)
            changed_type = {"type": int(RoomType.GROUP)}
        for user_id in new:
            rooms_db.insert_participant(conn, room.id, user_id, ParticipantType.USER)
        return room, bool(new), changed_type
    room, added, changed_type = await ctx.db.run(unit)
    if added:
        ctx.hub.publish(ParticipantsChanged(room.token, room.id))
    if changed_type is not None:
        ctx.hub.publish(RoomChanged(room.token, room.id))
    return changed_type
