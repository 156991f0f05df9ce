"""Room, participant and session endpoints (talk-api-v1.md §4)."""
from __future__ import annotations

from ..domain import participants, rooms, sessions
from ..domain import people   # source=groups on POST participants
from ..ocs import render
from ._endpoint import SPREED, endpoint, session_written

ROOM = SPREED + "/room/<token:token>"


@endpoint(SPREED + "/room", "GET", login=True)
async def get_rooms(ctx, actor, params):
    return render(await rooms.list_rooms(ctx, actor))


@endpoint(SPREED + "/room", "POST", login=True)
async def create_room(ctx, actor, params):
    status, data = await rooms.create_room(ctx, actor, params.int("roomType", 0), params.str("invite", "") or "",
                                           params.str("roomName", ""))
    return render(data, status)


@endpoint(ROOM, "GET")
async def get_room(ctx, actor, params, token):
    return render(await rooms.get_room(ctx, actor, token))


@endpoint(ROOM, "PUT", login=True)
async def rename_room(ctx, actor, params, token):
    await rooms.rename_room(ctx, actor, token, params.str("roomName"))
    return render()


@endpoint(ROOM, "DELETE", login=True)
async def delete_room(ctx, actor, params, token):
    await rooms.delete_room(ctx, actor, token)
    return render()


@endpoint(ROOM + "/public", "POST", login=True)
async def make_public(ctx, actor, params, token):
    await rooms.set_public(ctx, actor, token, True)
    return render()


@endpoint(ROOM + "/public", "DELETE", login=True)
async def make_private(ctx, actor, params, token):
    await rooms.set_public(ctx, actor, token, False)
    return render()


@endpoint(ROOM + "/password", "PUT", login=True)
async def set_password(ctx, actor, params, token):
    await rooms.set_password(ctx, actor, token, params.str("password", ""))
    return render()


@endpoint(ROOM + "/participants", "GET", login=True)
async def get_participants(ctx, actor, params, token):
    return render(await participants.list_participants(ctx, actor, token))


@endpoint(ROOM + "/participants", "POST", login=True)
async def add_participant(ctx, actor, params, token):
    if params.str("source") == "groups":   # the group's members (server/domain/people.py)
        return render(await people.add_group(ctx, actor, token, params.str("newParticipant")))
    return render(await participants.add_participant(ctx, actor, token, params.str("newParticipant")))


@endpoint(ROOM + "/participants", "DELETE", login=True)
async def remove_participant(ctx, actor, params, token):
    await participants.remove_participant(ctx, actor, token, params.str("participant"))
    return render()


@endpoint(ROOM + "/participants/self", "DELETE", login=True)
async def remove_self(ctx, actor, params, token):
    await participants.remove_self(ctx, actor, token)
    return render()


@endpoint(ROOM + "/participants/guests", "DELETE", login=True)
async def remove_guest(ctx, actor, params, token):
    await participants.remove_guest(ctx, actor, token, params.str("participant"))
    return render()


@endpoint(ROOM + "/participants/active", "POST")
async def join_room(ctx, actor, params, token):
    session = await sessions.join_room(ctx, actor, token, params.str("password"))
    session_written()
    return render({"sessionId": session})


@endpoint(ROOM + "/participants/active", "DELETE")
async def leave_room(ctx, actor, params, token):
    await sessions.leave_room(ctx, actor, token)
    return render()


@endpoint(ROOM + "/moderators", "POST", login=True)
async def promote(ctx, actor, params, token):
    await participants.set_moderator(ctx, actor, token, params.str("participant"), promote=True)
    return render()


@endpoint(ROOM + "/moderators", "DELETE", login=True)
async def demote(ctx, actor, params, token):
    await participants.set_moderator(ctx, actor, token, params.str("participant"), promote=False)
    return render()
