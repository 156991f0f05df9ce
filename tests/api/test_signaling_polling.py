"""Internal (polling) signaling over real sockets: talk-api-v1.md §9.2-9.3 and decisions.md."""
from __future__ import annotations

import json

import httpx
import trio

from server.auth import COOKIE_NAME, cookie_hash
from server.domain import signaling
from server.domain.context import Actor as DomainActor
from signaling.mailbox import MAILBOX_LIMIT

from .. import cluster_mode
from ..signaling_helpers import envelope, joined, messages, offer, pull, pulled, send, users_in_room

# -- send -------------------------------------------------------------------------------------


async def test_pull_delivers_offer_with_server_stamped_from(p1, p2):
    token = await p1.create_room(3)
    s1, s2 = await joined(p1, token), await joined(p2, token)
    assert (await pull(p2, token)).status == 200   # first pull: the participant list, at once
    r = await send(p1, token, envelope(s1, {"to": s2, "from": "forged", "type": "offer", "payload": {}}))
    assert r.status == 200 and r.data == []
    reply = await pull(p2, token)
    assert reply.status == 200
    assert reply.data[0]["type"] == "message" and isinstance(reply.data[0]["data"], str)
    assert messages(reply) == [{"to": s2, "from": s1, "type": "offer", "payload": {}}]
    users = users_in_room(reply)
    assert {u["sessionId"] for u in users} == {s1, s2}


async def test_messages_accepted_as_json_body_list_or_string(p1, p2):
    token = await p1.create_room(3)
    s1, s2 = await joined(p1, token), await joined(p2, token)
    await pull(p2, token)
    listed = [envelope(s1, {"to": s2, "n": 1})]
    assert (await p1.post(f"/signaling/{token}", json={"messages": listed})).status == 200
    assert (await p1.post(f"/signaling/{token}", json={"messages": json.dumps([envelope(s1, {"to": s2, "n": 2})])})).status == 200
    assert [m["n"] for m in messages(await pull(p2, token))] == [1, 2]


async def test_malformed_messages_give_400(p1):
    token = await p1.create_room(3)
    await joined(p1, token)
    for bad in ("not json", json.dumps({"ev": "message"}), "42"):
        r = await p1.post(f"/signaling/{token}", messages=bad)
        assert r.status == 400, (bad, r.text)
        assert r.data == [] and r.meta["message"]
    assert (await p1.post(f"/signaling/{token}")).status == 400     # missing altogether


async def test_connect_probe_and_unknown_ev_answer_empty_list(p1, guest):
    token = await p1.create_room(3)
    r = await send(guest, token, {"ev": "connect"})     # even without a session
    assert r.status == 200 and r.data == []


async def test_unroutable_messages_are_dropped(p1, p2, p3):
    token = await p1.create_room(3)
    other = await p3.create_room(3)
    s1, s2 = await joined(p1, token), await joined(p2, token)
    s3 = await joined(p3, other)
    await pulled(p2, token)
    await pull(p3, other)
    r = await send(p1, token,
                   envelope(s2, {"to": s2, "n": "not my session id"}),
                   envelope(s1, {"n": "no to"}),
                   envelope(s1, {"to": s3, "n": "another room"}),
                   envelope(s1, {"to": "nobody", "n": "unknown session"}),
                   {"ev": "message", "fn": "not json", "sessionId": s1},
                   {"ev": "message", "fn": json.dumps(["not", "an", "object"]), "sessionId": s1},
                   {"ev": "message", "fn": json.dumps({"to": s2, "big": "x" * 70_000}), "sessionId": s1},
                   "not an object",
                   envelope(s1, {"to": s2, "n": "ok"}))
    assert r.status == 200 and r.data == []
    assert [m["n"] for m in messages(await pull(p2, token))] == ["ok"]
    # p3 in another room got nothing: its pull would park; check the mailbox instead.
    assert await cluster_mode.queued(p3.server, s3) == 0


async def test_send_without_session_is_dropped(p1, p2, guest):
    token = await p1.create_room(3)
    s2 = await joined(p2, token)
    await pulled(p2, token)
    r = await send(guest, token, envelope(s2, {"to": s2}))
    assert r.status == 200 and r.data == []
    assert await cluster_mode.queued(p2.server, s2) == 0


# -- pull -------------------------------------------------------------------------------------


async def test_pull_without_session_is_404_with_empty_users_in_room(p1, guest):
    token = await p1.create_room(3)
    for actor in (p1, guest):
        r = await pull(actor, token)
        assert r.status == 404
        assert r.data == [{"type": "usersInRoom", "data": []}]
    assert (await p1.get(f"/signaling/{token}", v=1)).body["ocs"]["meta"]["statuscode"] == 404


async def test_users_in_room_fields_and_guest_entry(p1, guest, users):
    token = await p1.create_room(3)
    s1, sg = await joined(p1, token), await joined(guest, token)
    reply = await pull(guest, token)
    entries = users_in_room(reply)
    room_id = entries[0]["roomId"]
    assert isinstance(room_id, int)
    assert entries[0]["userId"] == "participant1" and entries[0]["sessionId"] == s1   # users first
    assert entries[1] == {"userId": "", "roomId": room_id, "lastPing": entries[1]["lastPing"], "sessionId": sg,
                          "inCall": False}
    assert isinstance(entries[1]["lastPing"], int)


async def test_parked_pull_returns_when_message_arrives(p1, p2):
    token = await p1.create_room(3)
    s1, s2 = await joined(p1, token), await joined(p2, token)
    await pulled(p2, token)
    result = {}

    async def receiver():
        result["reply"] = await pull(p2, token)

    # The parked pull answers with the offer: after its 30 s timeout it would hold no message
    # (the offer would wait for the next pull), and the bound below is far under that.
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(receiver)
            await wait_parked(p2.server, 1)
            await offer(p1, token, s1, s2)
    assert [m["type"] for m in messages(result["reply"])] == ["offer"]


async def test_parked_pull_returns_on_call_join_with_fresh_in_call(p1, p2):
    token = await p1.create_room(3)
    await joined(p1, token)
    s2 = await joined(p2, token)
    await pulled(p2, token)
    result = {}

    async def receiver():
        result["reply"] = await pull(p2, token)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(receiver)
        await wait_parked(p2.server, 1)
        assert (await p1.post(f"/call/{token}")).status == 200
    users = users_in_room(result["reply"])
    assert messages(result["reply"]) == []
    assert {u["userId"]: u["inCall"] for u in users} == {"participant1": True, "participant2": False}
    assert s2 in {u["sessionId"] for u in users}


async def test_repeated_changes_fold_into_one_refresh(p1, p2, p3):
    token = await p1.create_room(3)
    await joined(p1, token)
    await joined(p2, token)
    await pulled(p1, token)
    await joined(p3, token)
    await p2.post(f"/call/{token}")
    await p3.post(f"/call/{token}")
    # One answer covering all three changes (in a cluster one per node: each node's mailbox
    # folds them, and no node knows what the client was shown by another).
    for _ in p1.server.nodes or [p1.server]:
        first = await pull(p1, token)
        assert {u["userId"] for u in users_in_room(first)} == {"participant1", "participant2", "participant3"}
    with trio.move_on_after(0.5):             # the next one parks: nothing left to report
        await pull(p1, token)
        raise AssertionError("second pull should have parked")


async def test_messages_wait_for_a_session_that_is_not_polling(p1, p2):
    token = await p1.create_room(3)
    s1, s2 = await joined(p1, token), await joined(p2, token)
    for n in range(3):
        await send(p1, token, envelope(s1, {"to": s2, "n": n}))   # p2 never pulled yet
    assert [m["n"] for m in messages(await pull(p2, token))] == [0, 1, 2]


async def test_mailbox_keeps_the_newest_messages_when_full(p1, p2):
    token = await p1.create_room(3)
    s1, s2 = await joined(p1, token), await joined(p2, token)
    batch = [envelope(s1, {"to": s2, "n": n}) for n in range(MAILBOX_LIMIT + 5)]
    await send(p1, token, *batch)
    got = [m["n"] for m in messages(await pull(p2, token))]
    assert got == list(range(5, MAILBOX_LIMIT + 5))


async def test_cancelled_pull_loses_nothing(p1, p2, users):
    token = await p1.create_room(3)
    s1, s2 = await joined(p1, token), await joined(p2, token)
    await pulled(p2, token)
    # A pull whose client gives up while it is parked...
    with trio.move_on_after(0.3):
        await p2.client.get(f"/ocs/v2.php/apps/spreed/api/v1/signaling/{token}")
    await p2.client.aclose()
    p2.client = httpx.AsyncClient(base_url=users.url, auth=(p2.user, p2.password), timeout=90, cookies=p2.client.cookies,
                                  headers={"OCS-APIRequest": "true", "Accept": "application/json"})
    await wait_parked(users, 0)
    # ...does not take the message sent afterwards: the next pull has it.
    await offer(p1, token, s1, s2)
    assert [m["to"] for m in messages(await pull(p2, token))] == [s2]


async def test_no_database_query_while_parked(p1, p2, users):
    token = await p1.create_room(3)
    s1, s2 = await joined(p1, token), await joined(p2, token)
    await pulled(p2, token)
    calls = []
    dbs = [node.ctx.db for node in cluster_mode.nodes_of(users)]   # every node's queries
    originals = [db.run for db in dbs]

    def counting(original):
        async def run(unit, **kw):
            calls.append(unit.__qualname__.split(".")[0])   # pull / send_messages / authenticate ...
            return await original(unit, **kw)
        return run
    for db, original in zip(dbs, originals):
        db.run = counting(original)
    try:
        async with trio.open_nursery() as nursery:
            result = {}

            async def receiver():
                result["reply"] = await pull(p2, token)
            nursery.start_soon(receiver)
            await wait_parked(users, 1)
            before = len(calls)
            await trio.sleep(0.5)
            assert len(calls) == before          # parked: no query
            await offer(p1, token, s1, s2)
        # the send used one query, the woken pull none (its roster is still current)
        assert [c for c in calls[before:] if c != "authenticate"] == ["send_messages"]
        assert len(messages(result["reply"])) == 1
    finally:
        for db, original in zip(dbs, originals):
            db.run = original


async def test_pull_pings_the_session(p1, p2, users):
    token = await p1.create_room(3)
    s1 = await joined(p1, token)
    s2 = await joined(p2, token)
    users.clock.advance(25)
    reply = await pull(p2, token)
    pings = {u["sessionId"]: u["lastPing"] for u in users_in_room(reply)}
    assert pings[s2] >= int(users.clock()) - 1
    users.clock.advance(10)                      # p1 last pinged 35 s ago, p2 10 s ago
    await offer(p1, token, s1, s2)               # (sending does not ping)
    listed = {u["sessionId"] for u in users_in_room(await pull(p2, token))}
    assert listed == {s2}


async def test_inactive_sessions_are_not_listed(p1, p2, users):
    token = await p1.create_room(3)
    s1 = await joined(p1, token)
    await joined(p2, token)
    users.clock.advance(31)
    reply = await pull(p2, token)
    assert s1 not in {u["sessionId"] for u in users_in_room(reply)}


async def test_rejoin_in_another_tab_ends_the_parked_pull_with_404(p1, p2, users):
    token = await p1.create_room(3)
    await joined(p1, token)
    await joined(p2, token)
    await pulled(p2, token)
    other_tab = users.actor("participant2")
    result = {}

    async def receiver():
        result["reply"] = await pull(p2, token)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(receiver)
        await wait_parked(users, 1)
        await joined(other_tab, token)           # replaces p2's session
    assert result["reply"].status == 404


async def test_deleted_room_ends_the_parked_pull_with_404(p1, p2, users):
    token = await p1.create_room(3)
    await joined(p1, token)
    await joined(p2, token)
    await pulled(p2, token)
    result = {}

    async def receiver():
        result["reply"] = await pull(p2, token)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(receiver)
        await wait_parked(users, 1)
        assert (await p1.delete(f"/room/{token}")).status == 200
    assert result["reply"].status == 404
    assert result["reply"].data == [{"type": "usersInRoom", "data": []}]


async def test_pull_that_times_out_answers_users_in_room_only(p1, users):
    token = await p1.create_room(3)
    await joined(p1, token)
    await pull(p1, token)
    # The route's 30 s bound, exercised at the domain level with a short timeout.
    actor = DomainActor("participant1", cookie_hash(p1.client.cookies.get(COOKIE_NAME)))
    status, data = await signaling.pull(users.ctx, actor, token, timeout=0.2)
    assert status == 200 and len(data) == 1 and data[0]["type"] == "usersInRoom"


async def wait_parked(server, count: int) -> None:
    with trio.fail_after(5):
        while cluster_mode.signaling_waiters(server) != count:   # on any node
            await trio.sleep(0.01)
