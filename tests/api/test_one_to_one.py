"""one-to-one.feature (talk-api-v1.md §13): both users are owners, any removal deletes the room,
a third user turns it into a group room."""
import pytest

P1, P2, P3 = (f"participant{n}-displayname" for n in (1, 2, 3))
BOTH = f"{P1}, {P2}"


@pytest.fixture
async def one2one(p1, p2):
    return await p1.create_room(1, invite="participant2")


async def test_user_has_no_rooms(p1, p2, p3):
    for actor in (p1, p2, p3):
        assert await actor.room_table() == []


async def test_user_cannot_invite_themself_to_one_to_one(p1):
    r = await p1.post("/room", roomType=1, invite="participant1")
    assert r.status == 403
    assert r.data == []
    assert await p1.room_table() == []


async def test_both_users_are_owners_and_third_user_is_not_part_of_it(one2one, p1, p2, p3):
    assert await p1.room_table() == [(one2one, 1, 1, BOTH)]
    assert await p2.room_table() == [(one2one, 1, 1, BOTH)]
    assert await p3.room_table() == []


async def test_inviting_the_same_user_again_returns_the_existing_room_with_200(one2one, p1, p2):
    r = await p1.post("/room", roomType=1, invite="participant2")
    assert r.status == 200
    assert r.data == {"token": one2one}
    r = await p2.post("/room", roomType=1, invite="participant1")
    assert (r.status, r.data) == (200, {"token": one2one})
    assert len(await p1.rooms()) == 1


async def test_leaving_for_good_deletes_the_room_for_both(one2one, p1, p2):
    r = await p1.delete(f"/room/{one2one}/participants/self")
    assert r.status == 200
    assert await p1.room_table() == []
    assert await p2.room_table() == []


async def test_deleting_removes_the_room_for_both(one2one, p1, p2):
    assert (await p1.delete(f"/room/{one2one}")).status == 200
    assert await p1.room_table() == []
    assert await p2.room_table() == []


async def test_removing_the_other_user_deletes_the_room(one2one, p1, p2):
    r = await p1.delete(f"/room/{one2one}/participants", participant="participant2")
    assert r.status == 200
    assert await p1.room_table() == []
    assert await p2.room_table() == []


async def test_one_to_one_cannot_be_renamed(one2one, p1, p2):
    r = await p1.put(f"/room/{one2one}", roomName="new name")
    assert r.status == 405
    assert await p1.room_table() == [(one2one, 1, 1, BOTH)]


async def test_one_to_one_can_be_made_public_and_both_stay_owners(one2one, p1, p2):
    assert (await p1.post(f"/room/{one2one}/public")).status == 200
    assert await p1.room_table() == [(one2one, 3, 1, BOTH)]
    assert await p2.room_table() == [(one2one, 3, 1, BOTH)]


async def test_inviting_a_third_user_turns_it_into_a_group_room(one2one, p1, p2, p3):
    r = await p1.post(f"/room/{one2one}/participants", newParticipant="participant3")
    assert r.status == 200
    assert r.data == {"type": 2}
    assert await p1.room_table() == [(one2one, 2, 1, f"{P1}, {P2}, {P3}")]
    assert await p3.room_table() == [(one2one, 2, 3, f"{P1}, {P2}, {P3}")]


@pytest.mark.parametrize("method", ["post", "delete"], ids=["promote", "demote"])
async def test_the_other_owner_cannot_be_promoted_or_demoted(one2one, p1, p2, method):
    r = await getattr(p1, method)(f"/room/{one2one}/moderators", participant="participant2")
    assert r.status == 412
    assert await p2.room_table() == [(one2one, 1, 1, BOTH)]


@pytest.mark.parametrize("method", ["post", "delete"], ids=["promote", "demote"])
async def test_a_non_invited_user_cannot_be_promoted_or_demoted(one2one, p1, p3, method):
    r = await getattr(p1, method)(f"/room/{one2one}/moderators", participant="participant3")
    assert r.status == 404
    assert await p3.room_table() == []


async def test_renaming_a_one_to_one_to_its_empty_name_is_a_no_op(one2one, p1):
    assert (await p1.put(f"/room/{one2one}", roomName="")).status == 200
    assert (await p1.room(one2one)).data["name"] == "participant2"
