"""add-participant, delete-room, rename-room and public-private features (talk-api-v1.md §13):
who may change a room. Owner and moderator may, an invited user gets 403, a stranger 404."""
import pytest

from tests.support import room_with_role

P1, P2, P3 = (f"participant{n}-displayname" for n in (1, 2, 3))
ROLE_CODES = [("owner", 200), ("moderator", 200), ("user", 403), ("stranger", 404)]


def acting(role, p1, p2):
    return p1 if role == "owner" else p2


# -- add-participant.feature -------------------------------------------------------------------

async def test_owner_invites_a_user(p1, p2, p3):
    token = await p1.create_room(3, name="room")
    r = await p1.post(f"/room/{token}/participants", newParticipant="participant2")
    assert (r.status, r.data) == (200, [])
    assert await p1.room_table() == [(token, 3, 1, f"{P1}, {P2}")]
    assert await p2.room_table() == [(token, 3, 3, f"{P1}, {P2}")]
    assert await p3.room_table() == []


async def test_user_cannot_invite_a_user(p1, p2, p3):
    token = await room_with_role(p1, p2, "user")
    r = await p2.post(f"/room/{token}/participants", newParticipant="participant3")
    assert r.status == 403
    assert await p1.room_table() == [(token, 3, 1, f"{P1}, {P2}")]
    assert await p2.room_table() == [(token, 3, 3, f"{P1}, {P2}")]
    assert await p3.room_table() == []


async def test_moderator_invites_a_user(p1, p2, p3):
    token = await room_with_role(p1, p2, "moderator")
    r = await p2.post(f"/room/{token}/participants", newParticipant="participant3")
    assert r.status == 200
    everyone = f"{P1}, {P2}, {P3}"
    assert await p1.room_table() == [(token, 3, 1, everyone)]
    assert await p2.room_table() == [(token, 3, 2, everyone)]
    assert await p3.room_table() == [(token, 3, 3, everyone)]


async def test_stranger_cannot_invite_a_user(p1, p2, p3):
    token = await p1.create_room(3, name="room")
    r = await p3.post(f"/room/{token}/participants", newParticipant="participant2")
    assert r.status == 404
    assert await p2.room_table() == []
    assert await p3.room_table() == []


async def test_inviting_an_existing_participant_changes_nothing(p1, p2):
    token = await room_with_role(p1, p2, "moderator")
    r = await p1.post(f"/room/{token}/participants", newParticipant="participant2")
    assert (r.status, r.data) == (200, [])
    assert await p2.room_table() == [(token, 3, 2, f"{P1}, {P2}")]


async def test_inviting_an_unknown_user_is_404(p1):
    token = await p1.create_room(3, name="room")
    r = await p1.post(f"/room/{token}/participants", newParticipant="nobody")
    assert r.status == 404
    assert "nobody" in r.meta["message"]


async def test_inviting_a_self_joined_user_keeps_them_self_joined(p1, p3):
    token = await p1.create_room(3, name="room")
    assert (await p3.join(token)).status == 200
    r = await p1.post(f"/room/{token}/participants", newParticipant="participant3")
    assert (r.status, r.data) == (200, [])
    assert [row[2] for row in await p3.room_table()] == [5]


# -- delete-room.feature -----------------------------------------------------------------------

@pytest.mark.parametrize("role,code", ROLE_CODES)
async def test_who_may_delete_a_room(p1, p2, role, code):
    token = await room_with_role(p1, p2, role)
    r = await acting(role, p1, p2).delete(f"/room/{token}")
    assert r.status == code
    assert r.data == []
    assert (await p1.room_tokens() == []) == (code == 200)
    if role in ("moderator", "user"):
        assert (await p2.room_tokens() == []) == (code == 200)


async def test_owner_cannot_remove_themself_through_the_participants_endpoint(p1):
    token = await p1.create_room(3, name="room")
    r = await p1.delete(f"/room/{token}/participants", participant="participant1")
    assert r.status == 403
    assert await p1.room_tokens() == [token]


# -- rename-room.feature -----------------------------------------------------------------------

@pytest.mark.parametrize("role,code", ROLE_CODES)
async def test_who_may_rename_a_room(p1, p2, role, code):
    token = await room_with_role(p1, p2, role)
    r = await acting(role, p1, p2).put(f"/room/{token}", roomName="new name")
    assert r.status == code
    [room] = await p1.rooms()
    assert room["name"] == ("new name" if code == 200 else "room")
    assert room["displayName"] == room["name"]


async def test_rename_to_empty_name_falls_back_to_participant_names(p1, p2):
    token = await room_with_role(p1, p2, "user")
    assert (await p1.put(f"/room/{token}", roomName="")).status == 200
    [room] = await p1.rooms()
    assert (room["name"], room["displayName"]) == ("", P2)


# -- public-private.feature --------------------------------------------------------------------

@pytest.mark.parametrize("role", ["owner", "moderator"])
async def test_moderators_make_a_room_private_and_public(p1, p2, role):
    token = await room_with_role(p1, p2, role)
    actor = acting(role, p1, p2)
    assert (await actor.delete(f"/room/{token}/public")).status == 200
    assert [row[:3] for row in await p1.room_table()] == [(token, 2, 1)]
    assert (await actor.post(f"/room/{token}/public")).status == 200
    expected_names = f"{P1}, {P2}" if role == "moderator" else P1
    assert await p1.room_table() == [(token, 3, 1, expected_names)]


async def test_user_cannot_make_a_room_private_or_public(p1, p2):
    token = await room_with_role(p1, p2, "user")
    assert (await p2.delete(f"/room/{token}/public")).status == 403
    assert (await p2.post(f"/room/{token}/public")).status == 403
    assert (await p1.delete(f"/room/{token}/public")).status == 200
    assert await p2.room_table() == [(token, 2, 3, f"{P1}, {P2}")]


async def test_stranger_cannot_make_a_room_private_or_public(p1, p2):
    token = await room_with_role(p1, p2, "stranger")
    assert (await p2.delete(f"/room/{token}/public")).status == 404
    assert (await p2.post(f"/room/{token}/public")).status == 404
    assert [row[1] for row in await p1.room_table()] == [3]


async def test_making_a_room_private_removes_guests_and_self_joined_users(p1, p2, p3, guest):
    token = await room_with_role(p1, p2, "user")
    assert (await p3.join(token)).status == 200
    assert (await guest.join(token)).status == 200
    assert (await p1.delete(f"/room/{token}/public")).status == 200
    assert await p3.room_tokens() == []
    assert (await guest.room(token)).status == 404
    participants = (await p1.get(f"/room/{token}/participants")).data
    assert sorted(p["userId"] for p in participants) == ["participant1", "participant2"]


async def test_making_a_private_room_private_again_changes_nothing(p1, p2):
    token = await room_with_role(p1, p2, "user", room_type=2)
    assert (await p1.delete(f"/room/{token}/public")).status == 200
    assert [row[1] for row in await p1.room_table()] == [2]


# -- set-password.feature ----------------------------------------------------------------------

@pytest.mark.parametrize("role", ["owner", "moderator"])
async def test_moderators_set_a_room_password(p1, p2, p3, role):
    token = await room_with_role(p1, p2, role)
    actor = acting(role, p1, p2)
    assert (await actor.put(f"/room/{token}/password", password="foobar")).status == 200
    assert (await p3.join(token)).status == 403
    assert (await p3.join(token, "foobar")).status == 200
    assert (await p3.delete(f"/call/{token}")).status == 200
    assert (await actor.put(f"/room/{token}/password", password="")).status == 200
    assert (await p3.join(token)).status == 200


@pytest.mark.parametrize("role,code", [("user", 403), ("stranger", 404)])
async def test_others_cannot_set_a_room_password(p1, p2, p3, role, code):
    token = await room_with_role(p1, p2, role)
    assert (await p2.put(f"/room/{token}/password", password="foobar")).status == code
    assert (await p3.join(token)).status == 200
    assert (await p3.delete(f"/room/{token}/participants/active")).status == 200
    assert (await p1.put(f"/room/{token}/password", password="foobar")).status == 200
    assert (await p3.join(token)).status == 403
    assert (await p3.join(token, "foobar")).status == 200
    assert (await p3.delete(f"/room/{token}/participants/active")).status == 200
    assert (await p2.put(f"/room/{token}/password", password="")).status == code
    assert (await p3.join(token)).status == 403


async def test_only_public_rooms_take_a_password(p1, p2):
    token = await room_with_role(p1, p2, "user", room_type=2)
    r = await p1.put(f"/room/{token}/password", password="foobar")
    assert r.status == 403
    assert "public" in r.meta["message"]


async def test_invited_users_join_without_the_password_and_guests_need_it(p1, p2, guest):
    token = await room_with_role(p1, p2, "user")
    assert (await p1.put(f"/room/{token}/password", password="foobar")).status == 200
    assert (await p1.room(token)).data["hasPassword"] is True
    assert (await p2.join(token)).status == 200
    assert (await guest.join(token)).status == 403
    assert (await guest.join(token, "wrong")).status == 403
    assert (await guest.join(token, "foobar")).status == 200
