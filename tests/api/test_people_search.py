"""GET /core/autocomplete/get: the people search Talk's web UI uses (users and groups by id and
display name), under both OCS prefixes, for logged-in users only."""
import pytest

from tests.support import PASSWORD


@pytest.fixture(params=[1, 2], ids=["v1", "v2"])
def version(request):
    return request.param


async def search(actor, version=2, expect=200, **params):
    r = await actor.request("GET", "/core/autocomplete/get", prefix=f"/ocs/v{version}.php", params=params)
    if version == 2 or expect == 401:
        assert r.status == expect, r.text
    else:
        assert r.status == 200, r.text
        assert r.meta["statuscode"] == (100 if expect == 200 else expect), r.text
    return r


async def add_user(admin, user_id, display_name):
    r = await admin.post("/cloud/users", prefix="/ocs/v2.php", userid=user_id, password=PASSWORD,
                         displayName=display_name)
    assert r.status == 200, r.text


async def test_finds_users_by_display_name_in_nextclouds_shape(users, p1, version):
    admin = users.actor("admin", password="admin")
    await add_user(admin, "alice", "Alice Liddell")
    await add_user(admin, "bob", "Bob Alison")
    r = await search(p1, version, search="ali", itemType="call", itemId="abcd", limit=10,
                     **{"shareTypes[]": ["0", "1"]})
    assert r.data == [
        {"id": "alice", "label": "Alice Liddell", "icon": "icon-user", "source": "users", "status": [],
         "subline": "", "shareWithDisplayNameUnique": "alice"},
        {"id": "bob", "label": "Bob Alison", "icon": "icon-user", "source": "users", "status": [],
         "subline": "", "shareWithDisplayNameUnique": "bob"},
    ]


async def test_finds_by_id_case_insensitively_and_ranks_exact_then_prefix(users, p1):
    admin = users.actor("admin", password="admin")
    await add_user(admin, "ann", "Zed")
    await add_user(admin, "joanna", "Anna Joan")
    await add_user(admin, "hannah", "Hannah")
    ids = [e["id"] for e in (await search(p1, search="ANN")).data]
    assert ids == ["ann", "joanna", "hannah"]   # exact id, then display-name prefix, then substring


async def test_groups_by_id_and_share_types_choose_the_kinds(users, p1):
    users_only = (await search(p1, search="attendees", **{"shareTypes[]": "0"})).data
    assert users_only == []
    groups = (await search(p1, search="attendees", **{"shareTypes[]": "1"})).data
    assert groups == [{"id": "attendees1", "label": "attendees1", "icon": "icon-group", "source": "groups",
                       "status": [], "subline": "", "shareWithDisplayNameUnique": "attendees1"}]
    both = (await search(p1, search="")).data
    assert [e["source"] for e in both] == ["users"] * 3 + ["groups"]
    # Share types this server has no plugin for (4 e-mail, 7 teams) find nobody, without an error.
    assert (await search(p1, search="a", **{"shareTypes[]": ["4", "7"]})).data == []


async def test_the_caller_is_left_out_and_limit_caps_the_answer(users, p1):
    found = [e["id"] for e in (await search(p1, search="participant")).data]
    assert found == ["participant2", "participant3"]
    assert [e["id"] for e in (await search(p1, search="participant", limit=1)).data] == ["participant2"]
    everyone = (await search(p1, search="", limit=2)).data
    assert len(everyone) == 2


async def test_guests_and_anonymous_callers_get_401(users, guest, version):
    await search(guest, version, expect=401, search="participant")
    anonymous = users.actor("nobody", password="wrong")
    await search(anonymous, version, expect=401, search="participant")


@pytest.mark.parametrize("params, message", [
    ({"limit": "abc"}, "limit must be an integer"),
    ({"limit": "0"}, "limit must be a positive integer"),
    ({"shareTypes[]": "users"}, "shareTypes[] must hold share type numbers"),
    ({"search": "x" * 300}, "search must be at most 256 characters"),
])
async def test_bad_input_is_a_400_naming_the_parameter(users, p1, version, params, message):
    r = await search(p1, version, expect=400, **params)
    assert message in r.text


async def test_a_moderator_adds_a_whole_group_found_by_the_search(users, p1, p2, p3):
    admin = users.actor("admin", password="admin")
    r = await admin.post("/cloud/users/participant3/groups", prefix="/ocs/v2.php", groupid="attendees1")
    assert r.status == 200, r.text
    token = await p1.create_room(2, name="Team")
    group = (await search(p1, search="attend", itemType="call", itemId=token, **{"shareTypes[]": "1"})).data[0]
    r = await p1.post(f"/room/{token}/participants", newParticipant=group["id"], source=group["source"])
    assert r.status == 200, r.text
    names = sorted(p["userId"] for p in (await p1.get(f"/room/{token}/participants")).data)
    assert names == ["participant1", "participant2", "participant3"]
    # Adding it again changes nothing; an unknown group is a 404, a non-moderator gets 403.
    assert (await p1.post(f"/room/{token}/participants", newParticipant="attendees1", source="groups")).status == 200
    assert len((await p1.get(f"/room/{token}/participants")).data) == 3
    assert (await p1.post(f"/room/{token}/participants", newParticipant="nope", source="groups")).status == 404
    assert (await p2.post(f"/room/{token}/participants", newParticipant="attendees1", source="groups")).status == 403


async def test_adding_a_group_to_a_one_to_one_room_makes_it_a_group_room(users, p1, p2, p3):
    admin = users.actor("admin", password="admin")
    r = await admin.post("/cloud/users/participant3/groups", prefix="/ocs/v2.php", groupid="attendees1")
    assert r.status == 200, r.text
    token = await p1.create_room(1, invite="participant2")
    r = await p1.post(f"/room/{token}/participants", newParticipant="attendees1", source="groups")
    assert (r.status, r.data) == (200, {"type": 2})
    assert (await p1.room(token)).data["type"] == 2


async def test_adding_a_group_without_a_name_or_to_an_unknown_room_fails_cleanly(users, p1, guest):
    token = await p1.create_room(2, name="Team")
    r = await p1.post(f"/room/{token}/participants", source="groups")
    assert (r.status, r.data) == (400, [])
    assert "newParticipant is required" in r.meta["message"]
    assert (await p1.post("/room/zzzzzzzz/participants", newParticipant="attendees1", source="groups")).status == 404
    assert (await guest.post(f"/room/{token}/participants", newParticipant="attendees1", source="groups")).status == 401
