"""Presence expiry (talk-api-v1.md §8, decisions.md): sessions count as active for 30 s after a
ping; after 100 s without one the housekeeping round removes guests and self-joined users, resets
invited users' sessions and ends calls nobody is left in. Driven with the injectable clock."""
import pytest

from tests import cluster_mode, support


async def expire(server, seconds):
    server.clock.advance(seconds)
    return await cluster_mode.housekeeping_round(server, server.ctx.now())   # every node's pings


async def room(actor, token):
    r = await actor.room(token)
    assert r.status == 200, r.text
    return r.data


async def user_ids(actor, token):
    return sorted(p["userId"] for p in (await actor.get(f"/room/{token}/participants")).data)


@pytest.fixture
async def lobby(p1, p2):
    """A public room of p1 with p2 invited."""
    token = await p1.create_room(3, name="lobby")
    assert (await p1.post(f"/room/{token}/participants", newParticipant="participant2")).status == 200
    return token


async def test_guest_is_removed_after_100_seconds_without_ping(users, lobby, p1, guest):
    assert (await guest.join(lobby)).status == 200
    assert await expire(users, 95) == 0                      # margin: real time passes too
    assert await user_ids(p1, lobby) == ["", "participant1", "participant2"]
    assert await expire(users, 6) == 1
    assert await user_ids(p1, lobby) == ["participant1", "participant2"]
    assert (await room(guest, lobby))["sessionId"] == "0"
    assert (await guest.post(f"/call/{lobby}/ping")).status == 404


async def test_self_joined_user_row_is_removed(users, lobby, p3):
    assert (await p3.join(lobby)).status == 200
    assert await p3.room_tokens() == [lobby]
    assert await expire(users, 101) == 1
    assert await p3.room_tokens() == []


async def test_invited_user_keeps_the_row_but_loses_session_and_call(users, lobby, p1, p2):
    assert (await p2.join(lobby)).status == 200
    assert (await p2.post(f"/call/{lobby}")).status == 200
    assert await expire(users, 101) == 1
    data = await room(p2, lobby)
    assert (data["sessionId"], data["participantInCall"]) == ("0", False)
    assert data["participants"]["participant2"]["call"] is False
    assert await p2.room_tokens() == [lobby]
    assert (await p2.post(f"/call/{lobby}")).status == 404   # must join the room again first


async def test_pings_keep_a_session_alive(users, lobby, p1, p2, guest):
    assert (await guest.join(lobby)).status == 200
    assert (await p2.join(lobby)).status == 200
    users.clock.advance(60)
    assert (await guest.post(f"/call/{lobby}/ping")).status == 200
    assert (await p2.post(f"/call/{lobby}/ping")).status == 200
    assert await expire(users, 60) == 0                      # t+120, last ping at t+60
    assert await user_ids(p1, lobby) == ["", "participant1", "participant2"]
    assert (await room(p2, lobby))["sessionId"] != "0"
    assert await expire(users, 41) == 2                      # t+161: 101 s since the ping
    assert await user_ids(p1, lobby) == ["participant1", "participant2"]


async def test_a_stored_ping_is_not_lost_between_rounds(users, lobby, p1, guest):
    assert (await guest.join(lobby)).status == 200
    users.clock.advance(90)
    assert (await guest.post(f"/call/{lobby}/ping")).status == 200
    assert await expire(users, 5) == 0       # this round writes the ping to the database
    assert await expire(users, 50) == 0      # t+145: 55 s since the ping
    assert await user_ids(p1, lobby) == ["", "participant1", "participant2"]


async def test_count_uses_the_30_second_window_and_num_guests_the_100_second_one(users, lobby, p1, guest):
    assert (await p1.join(lobby)).status == 200
    assert (await guest.join(lobby)).status == 200
    assert ((await room(p1, lobby))["count"], (await room(p1, lobby))["numGuests"]) == (2, 1)
    users.clock.advance(31)
    data = await room(p1, lobby)
    assert (data["count"], data["numGuests"]) == (0, 1)
    assert (await p1.post(f"/call/{lobby}/ping")).status == 200
    assert (await room(p1, lobby))["count"] == 1
    users.clock.advance(70)            # guest: 101 s without ping, not yet cleaned up
    data = await room(p1, lobby)
    assert (data["count"], data["numGuests"]) == (0, 0)


async def test_peers_only_lists_sessions_active_in_the_last_30_seconds(users, lobby, p1, p2):
    for actor in (p1, p2):
        assert (await actor.join(lobby)).status == 200
        assert (await actor.post(f"/call/{lobby}")).status == 200
    assert len((await p1.get(f"/call/{lobby}")).data) == 2
    users.clock.advance(31)
    assert (await p1.post(f"/call/{lobby}/ping")).status == 200
    assert [peer["userId"] for peer in (await p1.get(f"/call/{lobby}")).data] == ["participant1"]


async def test_call_ends_when_its_last_in_call_session_expires(users, lobby, p1, p2, guest):
    assert (await p1.join(lobby)).status == 200
    assert (await guest.join(lobby)).status == 200
    assert (await guest.post(f"/call/{lobby}")).status == 200
    assert (await room(p1, lobby))["hasCall"] is True
    users.clock.advance(60)
    assert (await p1.post(f"/call/{lobby}/ping")).status == 200
    assert await expire(users, 41) == 1                      # only the guest expired
    data = await room(p1, lobby)
    assert (data["hasCall"], data["sessionId"] != "0") == (False, True)


async def test_call_goes_on_while_another_caller_is_alive(users, lobby, p1, p2):
    for actor in (p1, p2):
        assert (await actor.join(lobby)).status == 200
        assert (await actor.post(f"/call/{lobby}")).status == 200
    users.clock.advance(60)
    assert (await p1.post(f"/call/{lobby}/ping")).status == 200
    assert await expire(users, 41) == 1
    assert (await room(p1, lobby))["hasCall"] is True


async def test_rejoining_after_expiry_starts_a_new_session(users, lobby, p2):
    first = (await p2.join(lobby)).data["sessionId"]
    await expire(users, 101)
    r = await p2.join(lobby)
    assert r.status == 200 and r.data["sessionId"] != first
    assert (await p2.post(f"/call/{lobby}/ping")).status == 200


async def test_a_restart_resurrects_no_stale_session_and_keeps_a_fresh_ping(tmp_path):
    config = support.test_config(str(tmp_path))
    clock = support.ManualClock()
    async with support.serving(config, clock) as first:
        await support.add_background_users(first)
        p1, guest = first.actor("participant1"), first.actor("guest")
        token = await p1.create_room(3, name="lobby")
        assert (await p1.join(token)).status == 200
        assert (await p1.post(f"/call/{token}")).status == 200
        guest_session = (await guest.join(token)).data["sessionId"]
        clock.advance(90)
        assert (await guest.post(f"/call/{token}/ping")).status == 200   # held in memory until shutdown
    # Back 60 s later: p1's last ping is 150 s old, the guest's 60 s.
    later = support.ManualClock()
    later.offset = clock.offset + 60
    async with support.serving(config, later) as second:
        p1 = second.actor("participant1")
        data = await room(p1, token)
        assert (data["sessionId"], data["participantInCall"], data["hasCall"]) == ("0", False, False)
        listed = {p["userId"]: p["sessionId"] for p in (await p1.get(f"/room/{token}/participants")).data}
        assert listed == {"participant1": "0", "": guest_session}
        assert data["numGuests"] == 1


async def test_the_housekeeping_timer_expires_guests_without_anyone_asking(tmp_path):
    import trio

    config = support.test_config(str(tmp_path), housekeeping_interval=0.02)
    async with support.serving(config, housekeeping_timer=True) as server:
        await support.add_background_users(server)
        p1, guest = server.actor("participant1"), server.actor("guest")
        token = await p1.create_room(3, name="lobby")
        assert (await guest.join(token)).status == 200
        assert (await guest.post(f"/call/{token}")).status == 200
        server.clock.advance(101)
        with trio.fail_after(5):
            while (await room(p1, token))["hasCall"]:
                await trio.sleep(0.02)
        assert await user_ids(p1, token) == ["participant1"]


async def test_stopping_while_the_housekeeping_timer_runs_does_not_hang(tmp_path):
    import trio

    config = support.test_config(str(tmp_path), housekeeping_interval=0)   # rounds back to back
    for _ in range(5):
        with trio.fail_after(10):
            async with support.serving(config, housekeeping_timer=True) as server:
                await trio.sleep(0.01)
                assert server.ctx.db is not None
