"""promotion-demotion, remove-participant and remove-self features (talk-api-v1.md §13, §4.10,
§4.11, §4.15)."""
import pytest

from tests.support import room_with_role

P1, P2, P3 = (f"participant{n}-displayname" for n in (1, 2, 3))


def acting(role, p1, p2):
    return p1 if role == "owner" else p2


async def participant_type(actor, token):
    return {row[0]: row[2] for row in await actor.room_table()}.get(token)


# -- promotion-demotion.feature ----------------------------------------------------------------

async def test_owner_promotes_and_demotes_a_moderator(p1, p2):
    token = await room_with_role(p1, p2, "user")
    assert (await p1.post(f"/room/{token}/moderators", participant="participant2")).status == 200
    assert await participant_type(p2, token) == 2
    assert (await p1.delete(f"/room/{token}/moderators", participant="participant2")).status == 200
    assert await participant_type(p2, token) == 3


async def test_moderator_promotes_and_demotes_a_moderator(p1, p2, p3):
    token = await room_with_role(p1, p2, "moderator")
    assert (await p1.post(f"/room/{token}/participants", newParticipant="participant3")).status == 200
    assert (await p2.post(f"/room/{token}/moderators", participant="participant3")).status == 200
    assert await participant_type(p3, token) == 2
    assert (await p2.delete(f"/room/{token}/moderators", participant="participant3")).status == 200
    assert await participant_type(p3, token) == 3


async def test_user_cannot_promote_or_demote(p1, p2, p3):
    token = await room_with_role(p1, p2, "user")
    assert (await p1.post(f"/room/{token}/participants", newParticipant="participant3")).status == 200
    assert (await p2.post(f"/room/{token}/moderators", participant="participant3")).status == 403
    assert await participant_type(p3, token) == 3
    assert (await p1.post(f"/room/{token}/moderators", participant="participant3")).status == 200
    assert (await p2.delete(f"/room/{token}/moderators", participant="participant3")).status == 403
    assert await participant_type(p3, token) == 2


async def test_stranger_cannot_promote_or_demote(p1, p2, p3):
    token = await room_with_role(p1, p2, "stranger")
    assert (await p1.post(f"/room/{token}/participants", newParticipant="participant3")).status == 200
    assert (await p2.post(f"/room/{token}/moderators", participant="participant3")).status == 404
    assert (await p2.delete(f"/room/{token}/moderators", participant="participant3")).status == 404
    assert await participant_type(p3, token) == 3


async def test_demoting_yourself_is_403(p1, p2):
    token = await room_with_role(p1, p2, "moderator")
    r = await p2.delete(f"/room/{token}/moderators", participant="participant2")
    assert r.status == 403
    assert await participant_type(p2, token) == 2


@pytest.mark.parametrize("target_role,method", [("moderator", "post"), ("user", "delete")])
async def test_promoting_a_moderator_or_demoting_a_user_is_412(p1, p2, target_role, method):
    token = await room_with_role(p1, p2, target_role)
    r = await getattr(p1, method)(f"/room/{token}/moderators", participant="participant2")
    assert r.status == 412
    assert r.meta["message"]


async def test_self_joined_user_cannot_be_promoted(p1, p3):
    token = await p1.create_room(3, name="room")
    assert (await p3.join(token)).status == 200
    assert (await p1.post(f"/room/{token}/moderators", participant="participant3")).status == 412


# -- remove-participant.feature (16 scenarios) ------------------------------------------------

async def room_with_target(p1, p2, p3, actor_role, target_role):
    """The room, with p3 as `target_role` and p2 as `actor_role` (p1 acts as owner)."""
    if target_role == "owner":
        token = await p1.create_room(1, invite="participant3")
        assert (await p1.post(f"/room/{token}/public")).status == 200
    else:
        token = await room_with_role(p1, p3, target_role)
    if actor_role in ("moderator", "user"):
        assert (await p1.post(f"/room/{token}/participants", newParticipant="participant2")).status == 200
    if actor_role == "moderator":
        assert (await p1.post(f"/room/{token}/moderators", participant="participant2")).status == 200
    return token


REMOVE_CASES = [
    # target    actor        status
    ("owner", "owner", 403), ("owner", "moderator", 403), ("owner", "user", 403), ("owner", "stranger", 404),
    ("moderator", "owner", 200), ("moderator", "moderator", 200), ("moderator", "user", 403),
    ("moderator", "stranger", 404),
    ("user", "owner", 200), ("user", "moderator", 200), ("user", "user", 403), ("user", "stranger", 404),
    # p3 was never added: permission is checked before the target, so the user gets 403.
    ("stranger", "owner", 404), ("stranger", "moderator", 404), ("stranger", "user", 403),
    ("stranger", "stranger", 404),
]


@pytest.mark.parametrize("target_role,actor_role,code", REMOVE_CASES)
async def test_who_may_remove_whom(p1, p2, p3, target_role, actor_role, code):
    token = await room_with_target(p1, p2, p3, actor_role, target_role)
    r = await acting(actor_role, p1, p2).delete(f"/room/{token}/participants", participant="participant3")
    assert r.status == code
    assert r.data == []
    still_there = target_role != "stranger" and code != 200
    assert (token in await p3.room_tokens()) == still_there
    assert token in await p1.room_tokens()


async def test_removing_from_a_group_room_ends_call_when_last_caller_is_removed(p1, p2):
    token = await room_with_role(p1, p2, "user", room_type=2)
    assert (await p2.join(token)).status == 200
    assert (await p2.post(f"/call/{token}")).status == 200
    assert (await p1.room(token)).data["hasCall"] is True
    assert (await p1.delete(f"/room/{token}/participants", participant="participant2")).status == 200
    assert (await p1.room(token)).data["hasCall"] is False


# -- remove-self.feature -----------------------------------------------------------------------

async def test_sole_owner_removing_themself_deletes_the_room(p1, guest):
    token = await p1.create_room(3, name="room")
    assert (await guest.join(token)).status == 200
    assert (await p1.delete(f"/room/{token}/participants/self")).status == 200
    assert await p1.room_tokens() == []
    assert (await guest.room(token)).status == 404


@pytest.mark.parametrize("role", ["moderator", "user"])
async def test_member_removes_themself_and_the_owner_remains(p1, p2, role):
    token = await room_with_role(p1, p2, role)
    r = await p2.delete(f"/room/{token}/participants/self")
    assert (r.status, r.data) == (200, [])
    assert await p2.room_tokens() == []
    assert await p1.room_table() == [(token, 3, 1, P1)]


async def test_stranger_cannot_remove_themself(p1, p2):
    token = await room_with_role(p1, p2, "stranger")
    assert (await p2.delete(f"/room/{token}/participants/self")).status == 404
    assert await p1.room_tokens() == [token]


async def test_owner_leaving_for_good_leaves_the_room_to_the_others(p1, p2):
    token = await room_with_role(p1, p2, "user")
    assert (await p1.delete(f"/room/{token}/participants/self")).status == 200
    assert await p1.room_tokens() == []
    assert await p2.room_table() == [(token, 3, 3, P2)]


async def test_self_joined_user_leaving_for_good_does_not_delete_the_owners_room(p1, p3):
    # The reference deleted the room here (only one invited row was left); Parley does not let a
    # link follower delete someone else's room (docs/DECISIONS-LOG.md).
    token = await p1.create_room(3, name="room")
    assert (await p3.join(token)).status == 200
    assert (await p3.delete(f"/room/{token}/participants/self")).status == 200
    assert await p3.room_tokens() == []
    assert await p1.room_table() == [(token, 3, 1, P1)]


# -- GET /room/{token}/participants -------------------------------------------------------------

async def test_participant_list_shows_users_first_then_guests(users, p1, p2, guest):
    token = await room_with_role(p1, p2, "user")
    guest_session = (await guest.join(token)).data["sessionId"]
    p1_session = (await p1.join(token)).data["sessionId"]
    assert (await p1.post(f"/call/{token}")).status == 200
    r = await p1.get(f"/room/{token}/participants")
    assert r.status == 200
    now = users.ctx.now()
    for entry in r.data:
        assert list(entry) == ["inCall", "lastPing", "sessionId", "participantType", "userId", "displayName"]
        assert entry["lastPing"] == 0 or abs(entry["lastPing"] - now) <= 2
    assert [(e["userId"], e["displayName"], e["participantType"], e["inCall"], e["sessionId"]) for e in r.data] == [
        ("participant1", P1, 1, True, p1_session),
        ("participant2", P2, 3, False, "0"),
        ("", "", 4, False, guest_session),
    ]


async def test_stranger_may_list_a_public_room_but_sees_no_session_ids(p1, p2, p3, guest):
    # Talk showed every session id to any logged-in user; a session id addresses signaling, so
    # Parley shows them to participants only (docs/DECISIONS-LOG.md).
    token = await p1.create_room(3, name="lobby")
    assert (await p1.join(token)).status == 200
    assert (await guest.join(token)).status == 200
    r = await p3.get(f"/room/{token}/participants")
    assert r.status == 200
    assert [(e["userId"], e["sessionId"]) for e in r.data] == [("participant1", "0"), ("", "0")]
    private = await p1.create_room(2, name="team")
    assert (await p3.get(f"/room/{private}/participants")).status == 404
