"""The provisioning API subset (/cloud/users, /cloud/groups, /cloud/user) and /cloud/capabilities,
under both /ocs/v1.php and /ocs/v2.php; user deletion per talk-api-v1.md §8."""
import pytest

FEATURES = ["audio", "video", "chat-v2", "guest-signaling", "empty-group-room", "guest-display-names",
            "multi-room-users"]
P1, P2 = "participant1-displayname", "participant2-displayname"


@pytest.fixture(params=[1, 2], ids=["v1", "v2"])
def version(request):
    return request.param


def cloud(actor, version):
    """Calls under /ocs/v{version}.php that check the status the way that version reports it."""
    prefix = f"/ocs/v{version}.php"

    async def call(method, path, expect=200, **kw):
        r = await actor.request(method, path, prefix=prefix, **kw)
        if version == 2 or expect == 401:
            assert r.status == expect, r.text
        else:
            assert r.status == 200, r.text
            assert r.meta["statuscode"] == (100 if expect == 200 else expect), r.text
        return r
    return call


@pytest.fixture
def admin(users):
    return users.actor("admin", password="admin")


async def test_admin_creates_lists_reads_and_deletes_a_user(users, admin, version):
    call = cloud(admin, version)
    r = await call("POST", "/cloud/users", userid="alice", password="alice-secret")
    assert r.data == {"id": "alice"}
    assert (await call("GET", "/cloud/users")).data == {
        "users": ["admin", "alice", "participant1", "participant2", "participant3"]}
    assert (await call("GET", "/cloud/users", params={"search": "ali"})).data == {"users": ["alice"]}
    r = await call("GET", "/cloud/users/alice")
    assert (r.data["id"], r.data["displayname"], r.data["groups"], r.data["isAdmin"]) == ("alice", "alice", [], False)
    alice = users.actor("alice", password="alice-secret")
    assert (await cloud(alice, version)("GET", "/cloud/user")).data["id"] == "alice"
    await call("DELETE", "/cloud/users/alice")
    await call("GET", "/cloud/users/alice", expect=404)
    await cloud(alice, version)("GET", "/cloud/user", expect=401)


async def test_admin_edits_display_name_and_rooms_show_it(users, admin, p1, p2, version):
    token = await p1.create_room(1, invite="participant2")
    await cloud(admin, version)("PUT", "/cloud/users/participant2", key="displayname", value="Second")
    assert (await cloud(admin, version)("GET", "/cloud/users/participant2")).data["displayname"] == "Second"
    assert (await p1.room(token)).data["displayName"] == "Second"


async def test_password_change_takes_effect_immediately(users, admin, p1, version):
    assert (await p1.get("/room")).status == 200          # the old password is now cached
    await cloud(admin, version)("PUT", "/cloud/users/participant1", key="password", value="new-secret")
    assert (await p1.get("/room")).status == 401
    renewed = users.actor("participant1", password="new-secret")
    assert (await renewed.get("/room")).status == 200


async def test_groups_are_created_listed_and_filled(users, admin, version):
    call = cloud(admin, version)
    await call("POST", "/cloud/groups", groupid="team")
    assert (await call("GET", "/cloud/groups")).data == {"groups": ["attendees1", "team"]}
    assert (await call("GET", "/cloud/groups/team")).data == {"users": []}
    await call("POST", "/cloud/users/participant1/groups", groupid="team")
    await call("POST", "/cloud/users/participant3/groups", groupid="team")
    assert (await call("GET", "/cloud/groups/team")).data == {"users": ["participant1", "participant3"]}
    assert (await call("GET", "/cloud/users/participant1")).data["groups"] == ["team"]
    await call("DELETE", "/cloud/users/participant1/groups", groupid="team")
    assert (await call("GET", "/cloud/groups/team")).data == {"users": ["participant3"]}
    await call("GET", "/cloud/groups/nothing", expect=404)
    await call("POST", "/cloud/users/participant1/groups", groupid="nothing", expect=404)
    await call("POST", "/cloud/users/nobody/groups", groupid="team", expect=404)


async def test_group_room_created_from_a_new_group_holds_its_members(users, admin, p1, p3):
    await cloud(admin, 2)("POST", "/cloud/groups", groupid="team")
    await cloud(admin, 2)("POST", "/cloud/users/participant3/groups", groupid="team")
    token = await p1.create_room(2, invite="team")
    assert await p3.room_table() == [(token, 2, 3, f"{P1}, participant3-displayname")]


@pytest.mark.parametrize("method,path,form", [
    ("GET", "/cloud/users", {}),
    ("POST", "/cloud/users", {"userid": "mallory", "password": "x"}),
    ("GET", "/cloud/users/participant2", {}),
    ("PUT", "/cloud/users/participant2", {"key": "displayname", "value": "x"}),
    ("PUT", "/cloud/users/participant1", {"key": "password", "value": "x"}),
    ("DELETE", "/cloud/users/participant2", {}),
    ("POST", "/cloud/users/participant1/groups", {"groupid": "attendees1"}),
    ("DELETE", "/cloud/users/participant2/groups", {"groupid": "attendees1"}),
    ("GET", "/cloud/groups", {}),
    ("POST", "/cloud/groups", {"groupid": "mine"}),
    ("GET", "/cloud/groups/attendees1", {}),
])
async def test_non_admin_gets_403(p1, version, method, path, form):
    r = await cloud(p1, version)(method, path, expect=403, **form)
    assert r.meta["message"]


async def test_users_read_themselves(p1, version):
    call = cloud(p1, version)
    r = await call("GET", "/cloud/users/participant1")
    assert (r.data["id"], r.data["displayname"]) == ("participant1", P1)
    r = await call("GET", "/cloud/user")
    assert (r.data["id"], r.data["displayname"], r.data["isAdmin"]) == ("participant1", P1, False)


@pytest.mark.parametrize("path", ["/cloud/user", "/cloud/users", "/cloud/groups"])
async def test_guests_get_401(guest, version, path):
    r = await cloud(guest, version)("GET", path, expect=401)
    assert r.meta["statuscode"] == 997


@pytest.mark.parametrize("who", ["guest", "participant1"])
async def test_capabilities_list_the_seven_features_in_order(users, version, who):
    r = await users.actor(who).get("/cloud/capabilities", prefix=f"/ocs/v{version}.php")
    assert r.status == 200
    # The seven of Talk 3.2 first, in order; the later chat features follow (issue 11).
    assert r.data["capabilities"]["spreed"]["features"][:7] == FEATURES
    assert "reactions" in r.data["capabilities"]["spreed"]["features"][7:]
    assert set(r.data["version"]) >= {"major", "minor", "micro", "string", "edition"}
    if version == 1:
        assert r.meta == {"status": "ok", "statuscode": 100, "message": "OK", "totalitems": "", "itemsperpage": ""}


# -- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("form,word", [
    ({"password": "x"}, "user id"),
    ({"userid": "", "password": "x"}, "user id"),
    ({"userid": "bad id", "password": "x"}, "user id"),
    ({"userid": "a" * 65, "password": "x"}, "user id"),
    ({"userid": "alice"}, "password"),
    ({"userid": "alice", "password": ""}, "password"),
    ({"userid": "participant1", "password": "x"}, "already exists"),
    ({"userid": "alice", "password": "x", "displayName": "d" * 65}, "display name"),
])
async def test_creating_a_user_with_bad_input_is_400(admin, form, word):
    r = await cloud(admin, 2)("POST", "/cloud/users", expect=400, **form)
    assert word in r.meta["message"]


@pytest.mark.parametrize("form,word", [
    ({"groupid": "attendees1"}, "already exists"),
    ({"groupid": "with space"}, "group id"),
    ({}, "group id"),
])
async def test_creating_a_group_with_bad_input_is_400(admin, form, word):
    r = await cloud(admin, 2)("POST", "/cloud/groups", expect=400, **form)
    assert word in r.meta["message"]


@pytest.mark.parametrize("form,code", [
    ({"key": "email", "value": "a@b.c"}, 400),
    ({"key": "displayname", "value": ""}, 400),
    ({"key": "displayname", "value": "x" * 65}, 400),
    ({"key": "password", "value": ""}, 400),
    ({"key": "displayname"}, 400),
    ({}, 400),
])
async def test_editing_a_user_with_bad_input_is_400(admin, form, code):
    r = await cloud(admin, 2)("PUT", "/cloud/users/participant2", expect=code, **form)
    assert r.meta["message"]


async def test_editing_or_deleting_an_unknown_user_is_404(admin):
    call = cloud(admin, 2)
    await call("PUT", "/cloud/users/nobody", expect=404, key="displayname", value="x")
    await call("DELETE", "/cloud/users/nobody", expect=404)
    await call("GET", "/cloud/users/nobody", expect=404)


async def test_admin_cannot_delete_themself(admin):
    r = await cloud(admin, 2)("DELETE", "/cloud/users/admin", expect=403)
    assert "themselves" in r.meta["message"]


async def test_group_membership_needs_a_groupid(admin):
    r = await cloud(admin, 2)("POST", "/cloud/users/participant1/groups", expect=400)
    assert "groupid" in r.meta["message"]


# -- deleting a user (talk-api-v1.md §8) ------------------------------------------------------

async def test_deleting_a_user_deletes_their_one_to_one_rooms(admin, p1, p2):
    await p1.create_room(1, invite="participant2")
    await cloud(admin, 2)("DELETE", "/cloud/users/participant2")
    assert await p1.rooms() == []


async def test_deleting_the_only_invited_member_deletes_the_room(users, admin, p2, p3, guest):
    token = await p2.create_room(3, name="lobby")
    assert (await p3.join(token)).status == 200
    assert (await guest.join(token)).status == 200
    await cloud(admin, 2)("DELETE", "/cloud/users/participant2")
    assert await p3.rooms() == []
    assert (await guest.room(token)).status == 404


async def test_deleting_a_member_of_a_shared_room_removes_only_their_row(admin, p1, p2):
    token = await p1.create_room(2, invite="attendees1")
    assert (await p2.join(token)).status == 200
    assert (await p2.post(f"/call/{token}")).status == 200
    await cloud(admin, 2)("DELETE", "/cloud/users/participant2")
    assert await p1.room_table() == [(token, 2, 1, P1)]
    assert (await p1.room(token)).data["hasCall"] is False
    assert [p["userId"] for p in (await p1.get(f"/room/{token}/participants")).data] == ["participant1"]
