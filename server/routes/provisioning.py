"""The Nextcloud provisioning API subset (/cloud/users, /cloud/groups, /cloud/user) and the public
capabilities endpoint. Administrators manage everything; other users may only read themselves."""
from __future__ import annotations

from ..domain import accounts
from ..domain.chat import MAX_MESSAGE
from ..domain.errors import BadParameter, Forbidden
from ..ocs import render
from ._endpoint import endpoint
from .files import FILE_FEATURES

FEATURES = ["audio", "video", "chat-v2", "guest-signaling", "empty-group-room", "guest-display-names",
            "multi-room-users"]
# The later chat features Parley has (talk-chat-later.md §0.2), under their Talk names (issue 11).
CHAT_FEATURES = ["system-messages", "mention-flag", "chat-read-marker", "chat-replies", "chat-reference-id",
                 "chat-read-status", "delete-messages", "delete-messages-unlimited", "clear-history",
                 "direct-mention-flag", "chat-unread", "reactions", "silent-send", "silent-send-state",
                 "chat-get-context", "edit-messages", "chat-read-last"]
FEATURES += CHAT_FEATURES
FEATURES += FILE_FEATURES   # files in chat, shared items (server/routes/files.py)
VERSION = {"major": 14, "minor": 0, "micro": 0, "string": "14.0.0", "edition": ""}


def _user_object(user, groups) -> dict:
    return {"id": user.id, "enabled": True, "displayname": user.display_name, "display-name": user.display_name,
            "email": None, "groups": groups, "subadmin": [], "isAdmin": user.is_admin}


@endpoint("/cloud/capabilities", "GET", csrf=False)
async def capabilities(ctx, actor, params):
    return render({"version": VERSION, "capabilities": {
        "core": {"pollinterval": 60, "webdav-root": "remote.php/webdav"},
        "spreed": {"features": FEATURES, "config": {
            "chat": {"max-length": MAX_MESSAGE, "read-privacy": 0}}}}})


@endpoint("/cloud/user", "GET", login=True)
async def current_user(ctx, actor, params):
    user, groups = await accounts.get_user(ctx, actor.user_id)
    return render(_user_object(user, groups))


@endpoint("/cloud/users", "GET", login=True)
async def list_users(ctx, actor, params):
    await accounts.require_admin(ctx, actor)
    return render({"users": [u.id for u in await accounts.list_users(ctx, params.str("search", "") or "")]})


@endpoint("/cloud/users", "POST", login=True)
async def add_user(ctx, actor, params):
    await accounts.require_admin(ctx, actor)
    user = await accounts.add_user(ctx, params.str("userid"), params.str("password"),
                                   params.str("displayName") or params.str("displayname"))
    return render({"id": user.id})


@endpoint("/cloud/users/<user_id>", "GET", login=True)
async def get_user(ctx, actor, params, user_id):
    if user_id != actor.user_id:
        await accounts.require_admin(ctx, actor)
    user, groups = await accounts.get_user(ctx, user_id)
    return render(_user_object(user, groups))


@endpoint("/cloud/users/<user_id>", "PUT", login=True)
async def edit_user(ctx, actor, params, user_id):
    await accounts.require_admin(ctx, actor)
    key, value = params.str("key"), params.str("value")
    if key == "displayname":
        await accounts.set_display_name(ctx, user_id, value)
    elif key == "password":
        await accounts.set_password(ctx, user_id, value)
    else:
        raise BadParameter("key must be displayname or password")
    return render()


@endpoint("/cloud/users/<user_id>", "DELETE", login=True)
async def delete_user(ctx, actor, params, user_id):
    admin = await accounts.require_admin(ctx, actor)
    if admin.id == user_id:
        raise Forbidden("administrators cannot delete themselves")
    await accounts.delete_user(ctx, user_id)
    return render()


@endpoint("/cloud/users/<user_id>/groups", "POST", login=True)
async def add_to_group(ctx, actor, params, user_id):
    await accounts.require_admin(ctx, actor)
    await accounts.set_membership(ctx, params.str("groupid"), user_id, True)
    return render()


@endpoint("/cloud/users/<user_id>/groups", "DELETE", login=True)
async def remove_from_group(ctx, actor, params, user_id):
    await accounts.require_admin(ctx, actor)
    await accounts.set_membership(ctx, params.str("groupid"), user_id, False)
    return render()


@endpoint("/cloud/groups", "GET", login=True)
async def list_groups(ctx, actor, params):
    await accounts.require_admin(ctx, actor)
    return render({"groups": await accounts.list_groups(ctx, params.str("search", "") or "")})


@endpoint("/cloud/groups", "POST", login=True)
async def add_group(ctx, actor, params):
    await accounts.require_admin(ctx, actor)
    await accounts.add_group(ctx, params.str("groupid"))
    return render()


@endpoint("/cloud/groups/<group_id>", "GET", login=True)
async def get_group(ctx, actor, params, group_id):
    await accounts.require_admin(ctx, actor)
    return render({"users": await accounts.group_members(ctx, group_id)})
