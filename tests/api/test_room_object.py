"""The room object of GET /room and GET /room/{token} (talk-api-v1.md §4.3) and the hasCall
lifecycle (§5.5, decisions.md: a call ends when its last in-call session goes)."""
import pytest

P1, P2, P3 = (f"participant{n}-displayname" for n in (1, 2, 3))
KEYS = ["id", "token", "type", "name", "displayName", "participantType", "participantInCall", "count",
        "hasPassword", "hasCall", "unreadMessages", "lastPing", "sessionId", "participants", "numGuests",
        "guestList",
        # issue 11 (talk-chat-later.md §7.3): read markers and mention flags
        "lastReadMessage", "unreadMention", "unreadMentionDirect", "lastCommonReadMessage",
        # the room's last relevant entry (talk-chat-later.md §7.3; tests/api/test_room_last_message.py)
        "lastMessage"]


async def room(actor, token):
    r = await actor.room(token)
    assert r.status == 200, r.text
    return r.data


async def test_room_object_has_the_documented_keys_in_order(p1):
    token = await p1.create_room(3, name="lobby")
    [listed] = await p1.rooms()
    single = await room(p1, token)
    assert list(listed) == KEYS
    assert list(single) == KEYS
    assert single == listed
    assert single["token"] == token and isinstance(single["id"], int)
    assert single["participants"] == {"participant1": {"name": P1, "type": 1, "call": False}}


async def test_fresh_room_before_anyone_joins(p1):
    token = await p1.create_room(2, name="team")
    data = await room(p1, token)
    assert {k: data[k] for k in ("type", "name", "displayName", "participantType", "participantInCall",
                                 "count", "hasPassword", "hasCall", "unreadMessages", "lastPing",
                                 "sessionId", "numGuests", "guestList")} == {
        "type": 2, "name": "team", "displayName": "team", "participantType": 1, "participantInCall": False,
        "count": 0, "hasPassword": False, "hasCall": False, "unreadMessages": 0, "lastPing": 0,
        "sessionId": "0", "numGuests": 0, "guestList": ""}


async def test_session_fields_follow_join_call_and_leave(users, p1):
    token = await p1.create_room(3, name="lobby")
    session = (await p1.join(token)).data["sessionId"]
    data = await room(p1, token)
    assert data["sessionId"] == session
    assert abs(data["lastPing"] - users.ctx.now()) <= 2
    assert data["count"] == 1
    assert (await p1.post(f"/call/{token}")).status == 200
    data = await room(p1, token)
    assert (data["participantInCall"], data["participants"]["participant1"]["call"]) == (True, True)
    assert (await p1.delete(f"/room/{token}/participants/active")).status == 200
    data = await room(p1, token)
    assert (data["sessionId"], data["participantInCall"]) == ("0", False)


# -- names ----------------------------------------------------------------------------------

async def test_one_to_one_shows_the_other_user_as_name_and_display_name(p1, p2):
    token = await p1.create_room(1, invite="participant2")
    data = await room(p1, token)
    assert (data["name"], data["displayName"]) == ("participant2", P2)
    [listed] = await p2.rooms()
    assert (listed["name"], listed["displayName"]) == ("participant1", P1)


async def test_create_answers_with_token_name_and_display_name(p1):
    r = await p1.post("/room", roomType=1, invite="participant2")
    assert set(r.data) == {"token", "name", "displayName"}
    assert (r.data["name"], r.data["displayName"]) == ("", P2)
    r = await p1.post("/room", roomType=2, roomName="team")
    assert (r.data["name"], r.data["displayName"]) == ("team", "team")
    r = await p1.post("/room", roomType=2, invite="attendees1", roomName="ignored")
    assert (r.data["name"], r.data["displayName"]) == ("attendees1", "attendees1")


async def test_group_invite_copies_members_once(p1, p2):
    token = await p1.create_room(2, invite="attendees1")
    assert await p2.room_table() == [(token, 2, 3, f"{P1}, {P2}")]


async def test_unnamed_group_room_alone_is_you(p1):
    token = await p1.create_room(2)
    assert (await room(p1, token))["displayName"] == "You"


async def test_unnamed_group_room_lists_the_others_most_recent_first(users, p1, p2, p3):
    token = await p1.create_room(2)
    for user in ("participant2", "participant3"):
        assert (await p1.post(f"/room/{token}/participants", newParticipant=user)).status == 200
    assert (await p2.join(token)).status == 200
    users.clock.advance(5)
    assert (await p3.join(token)).status == 200
    assert (await room(p1, token))["displayName"] == f"{P3}, {P2}"
    users.clock.advance(5)
    assert (await p2.post(f"/call/{token}/ping")).status == 200
    assert (await room(p1, token))["displayName"] == f"{P2}, {P3}"
    assert (await room(p2, token))["displayName"] == f"{P3}, {P1}"


@pytest.mark.parametrize("guests,phrase", [(0, ""), (1, "1 guest"), (2, "2 guests")])
async def test_unnamed_public_room_counts_guests_for_users(users, p1, guests, phrase):
    token = await p1.create_room(3)
    for n in range(guests):
        assert (await users.actor(f"guest{n}").join(token)).status == 200
    data = await room(p1, token)
    assert data["guestList"] == phrase
    assert data["displayName"] == ", ".join(["You"] + ([phrase] if phrase else []))
    assert data["numGuests"] == guests
    assert data["count"] == guests   # p1 never joined, so only the guests are active


@pytest.mark.parametrize("guests,phrase", [(1, ""), (2, "1 other guest"), (3, "2 other guests")])
async def test_unnamed_public_room_as_seen_by_a_guest(users, p1, guests, phrase):
    token = await p1.create_room(3)
    actors = [users.actor(f"guest{n}") for n in range(guests)]
    for actor in actors:
        assert (await actor.join(token)).status == 200
    data = await room(actors[0], token)
    assert data["participantType"] == 4
    assert data["guestList"] == phrase
    assert data["displayName"] == ", ".join([P1, "You"] + ([phrase] if phrase else []))


async def test_named_public_room_keeps_its_name_and_fills_guest_list(p1, guest):
    token = await p1.create_room(3, name="lobby")
    assert (await guest.join(token)).status == 200
    data = await room(p1, token)
    assert (data["displayName"], data["guestList"], data["numGuests"]) == ("lobby", "", 1)


# -- who sees what ----------------------------------------------------------------------------

@pytest.mark.parametrize("who", ["participant3", "guest"])
async def test_non_participant_of_a_public_room_sees_a_reduced_object(users, p1, p2, who):
    token = await p1.create_room(3, name="lobby")
    assert (await p1.put(f"/room/{token}/password", password="foobar")).status == 200
    assert (await p1.join(token)).status == 200
    assert (await p1.post(f"/call/{token}")).status == 200
    data = await room(users.actor(who), token)
    assert list(data) == KEYS
    assert {k: data[k] for k in ("token", "type", "name", "displayName", "participantType",
                                 "participantInCall", "lastPing", "sessionId", "participants",
                                 "numGuests", "hasCall", "guestList", "hasPassword", "unreadMessages")} == {
        "token": token, "type": 3, "name": "lobby", "displayName": "lobby", "participantType": 4,
        "participantInCall": False, "lastPing": 0, "sessionId": "0", "participants": [], "numGuests": 0,
        "hasCall": False, "guestList": "", "hasPassword": True, "unreadMessages": 0}


async def test_reduced_object_shows_the_raw_name_even_when_empty(p1, p3):
    token = await p1.create_room(3)
    data = await room(p3, token)
    assert (data["name"], data["displayName"]) == ("", "")


@pytest.mark.parametrize("kind", [1, 2])
@pytest.mark.parametrize("who", ["participant3", "guest"])
async def test_non_participant_of_a_private_room_gets_404(users, p1, kind, who):
    token = await p1.create_room(kind, invite="participant2" if kind == 1 else "")
    r = await users.actor(who).room(token)
    assert (r.status, r.data) == (404, [])


async def test_self_joined_user_sees_type_5_and_the_room_in_the_list(p1, p3):
    token = await p1.create_room(3)
    assert (await p3.join(token)).status == 200
    data = await room(p3, token)
    assert data["participantType"] == 5
    assert data["displayName"] == P1
    assert data["participants"]["participant3"] == {"name": P3, "type": 5, "call": False}
    assert await p3.room_table() == [(token, 3, 5, f"{P1}, {P3}")]


async def test_guests_never_appear_in_the_participants_map(p1, guest):
    token = await p1.create_room(3)
    assert (await guest.join(token)).status == 200
    assert set((await room(p1, token))["participants"]) == {"participant1"}
    assert set((await room(guest, token))["participants"]) == {"participant1"}


# -- hasCall lifecycle ------------------------------------------------------------------------

async def has_call(actor, token):
    return (await room(actor, token))["hasCall"]


async def test_has_call_starts_with_the_first_call_join_and_ends_with_the_last_leave(p1, p2):
    token = await p1.create_room(2, invite="attendees1")
    assert await has_call(p1, token) is False
    for actor in (p1, p2):
        assert (await actor.join(token)).status == 200
    assert await has_call(p1, token) is False   # joining the room is not joining the call
    assert (await p1.post(f"/call/{token}")).status == 200
    assert await has_call(p2, token) is True
    assert (await p2.post(f"/call/{token}")).status == 200
    assert (await p1.delete(f"/call/{token}")).status == 200
    assert await has_call(p1, token) is True
    assert (await p2.delete(f"/call/{token}")).status == 200
    assert await has_call(p1, token) is False


@pytest.mark.parametrize("who", ["participant2", "guest"])
async def test_has_call_ends_when_the_last_caller_leaves_the_room(users, p1, p2, who):
    token = await p1.create_room(3)
    assert (await p1.post(f"/room/{token}/participants", newParticipant="participant2")).status == 200
    caller = users.actor(who) if who == "guest" else p2
    assert (await caller.join(token)).status == 200
    assert (await caller.post(f"/call/{token}")).status == 200
    assert await has_call(p1, token) is True
    assert (await caller.delete(f"/room/{token}/participants/active")).status == 200
    assert await has_call(p1, token) is False


async def test_has_call_ends_when_the_last_caller_leaves_for_good(p1, p2):
    token = await p1.create_room(3)
    assert (await p1.post(f"/room/{token}/participants", newParticipant="participant2")).status == 200
    assert (await p2.join(token)).status == 200
    assert (await p2.post(f"/call/{token}")).status == 200
    assert (await p2.delete(f"/room/{token}/participants/self")).status == 200
    assert await has_call(p1, token) is False


async def test_has_call_ends_when_the_last_guest_caller_is_kicked(p1, guest):
    token = await p1.create_room(3)
    session = (await guest.join(token)).data["sessionId"]
    assert (await guest.post(f"/call/{token}")).status == 200
    assert await has_call(p1, token) is True
    r = await p1.delete(f"/room/{token}/participants/guests", participant=session)
    assert r.status == 200
    assert await has_call(p1, token) is False
    assert (await guest.room(token)).data["sessionId"] == "0"


async def test_tokens_and_session_ids_have_the_talk_shapes(p1, guest):
    import re
    tokens = {await p1.create_room(3, name=str(n)) for n in range(12)}
    assert len(tokens) == 12
    assert all(re.fullmatch(r"[abcdefghijkmnopqrstuvwxyz23456789]{8}", t) for t in tokens)
    session = (await guest.join(tokens.pop())).data["sessionId"]
    assert re.fullmatch(r"[A-Za-z0-9+/]{255}", session)


async def test_room_list_gives_each_room_its_own_reading_state(p1, p2):
    """The list gathers every room's participants, unread count, mention flag and markers at once
    (server/domain/room_view.py): each room must still get its own."""
    marked, fresh, read = [await p1.create_room(2, name=n, invite="attendees1") for n in ("a", "b", "c")]   # holds p2
    ids = {}
    for token, texts in ((marked, ["one", "two @participant2", "three"]), (fresh, ["x", "y"]), (read, ["z"])):
        for text in texts:
            r = await p1.post(f"/chat/{token}", message=text)
            assert r.status == 201, r.text
            ids.setdefault(token, []).append(r.data["id"])
    assert (await p2.post(f"/chat/{marked}/read", lastReadMessage=ids[marked][0])).status == 200
    assert (await p2.post(f"/chat/{read}/read", lastReadMessage=ids[read][0])).status == 200
    rooms = {r["token"]: r for r in await p2.rooms()}
    got = {t: (rooms[t]["unreadMessages"], rooms[t]["unreadMention"], rooms[t]["lastReadMessage"],
               rooms[t]["participants"].keys()) for t in (marked, fresh, read)}
    assert got == {marked: (2, True, ids[marked][0], {"participant1", "participant2"}),
                   fresh: (2, False, -1, {"participant1", "participant2"}),
                   read: (0, False, ids[read][0], {"participant1", "participant2"})}
    # The common marker counts the users that have a marker: here p2 alone.
    assert [rooms[t]["lastCommonReadMessage"] for t in (marked, fresh, read)] == [ids[marked][0], 0, ids[read][0]]
