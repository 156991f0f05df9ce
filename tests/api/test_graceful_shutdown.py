"""A graceful stop (in process): parked chat polls answer 304, parked signaling pulls answer with
their roster, WebSockets close with 1001, pending pings are stored, and the server finishes.
The same with SIGTERM on a `parley serve` subprocess: tests/api/test_service.py."""
from __future__ import annotations

import sqlite3
from functools import partial

import trio
from trio_websocket import ConnectionClosed

from .. import support
from ..signaling_helpers import connect, joined, pull, users_in_room
from .chat_steps import newest, read, send, wait_parked

CHAT_POLLS = 30


async def test_stop_answers_every_parked_poll_and_pull_and_closes_websockets(tmp_path):
    config = support.test_config(str(tmp_path), database_url="")   # reads the SQLite file below, in every mode
    clock = support.ManualClock()
    stop = trio.Event()
    polls: list[support.Reply] = []
    pulls: list[support.Reply] = []
    closes: list[int | None] = []
    async with trio.open_nursery() as outer:
        server = await support.start_server(outer, config, stop, clock)
        await support.add_background_users(server)
        p1, p2 = server.actor("participant1"), server.actor("participant2")
        token = await p1.create_room(3, name="public")
        await send(p1, token, "before the stop")
        last = (await read(p1, token)).data[0]["id"]
        s1, s2 = await joined(p1, token), await joined(p2, token)
        await pull(p1, token)
        # The pull's ping, taken 50 s after the join, lives in memory until the shutdown stores it.
        clock.advance(50)
        await pull(p2, token)
        pinged_at = int(clock())

        async def poll(actor: support.Actor) -> None:
            polls.append(await read(actor, token, lookIntoFuture=1, lastKnownMessageId=last, timeout=60))

        async def parked_pull(actor: support.Actor) -> None:
            pulls.append(await pull(actor, token))

        async def websocket(actor: support.Actor, session: str, ready: trio.Event) -> None:
            async with connect(server, actor, token, session) as sock:
                ready.set()
                try:
                    while True:
                        await sock.ws.get_message()
                except ConnectionClosed as closed:
                    closes.append(closed.reason.code)

        with trio.fail_after(30):   # every wait below is 60 s (chat) or 30 s (pull) long
            async with trio.open_nursery() as clients:
                for i in range(CHAT_POLLS):
                    clients.start_soon(poll, (p1, p2)[i % 2])
                await wait_parked(server, CHAT_POLLS)
                clients.start_soon(parked_pull, p1)
                with trio.fail_after(10):
                    while server.ctx.hub.mailboxes.pulls_waiting() != 1:
                        await trio.sleep(0.01)
                guest = server.actor("guest")
                ready = trio.Event()
                clients.start_soon(websocket, guest, await joined(guest, token), ready)
                await ready.wait()
                assert server.ctx.hub.statistics().websocket_connections == 1
                stop.set()   # what SIGTERM does in `parley serve`
        for actor in server.actors:
            await actor.aclose()
    assert [r.status for r in polls] == [304] * CHAT_POLLS
    assert all(r.text == "" for r in polls)
    assert [r.status for r in pulls] == [200]
    assert {u["sessionId"] for u in users_in_room(pulls[0])} >= {s1, s2}
    assert closes == [1001]
    with sqlite3.connect(tmp_path / "parley.sqlite3") as conn:   # the database was closed cleanly...
        (ping,) = conn.execute("SELECT last_ping FROM participants WHERE session_id = ?", (s2,)).fetchone()
    assert ping >= pinged_at                                     # ...after storing the pings in memory


async def test_nothing_parks_once_the_stop_began(users, p1):
    token = await p1.create_room(3, name="room")
    start = await newest(p1, token)   # past the conversation_created system message
    users.ctx.hub.shut_down()
    with trio.fail_after(20):   # a poll that parked would take its 30 s
        reply = await read(p1, token, lookIntoFuture=1, timeout=30, lastKnownMessageId=start)
    assert reply.status == 304
    assert users.ctx.hub.statistics().chat_waiters == 0
