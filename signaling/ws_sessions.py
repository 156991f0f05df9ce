"""WebSocket signaling sessions: who said hello, which connection holds them, the resume window.

A session outlives its connection for `resume_window` seconds (strukturag's 30 s): a client that
reconnects with its `resumeid` in time gets the same session back, with the messages that arrived
meanwhile still in its mailbox. After that the session ends for good: it leaves its room, which
also ends its Talk session (as the standalone server's backend "leave" call does in Talk).

The registry is live state owned by the hub. `run()` is the one timer that ends detached sessions
at their deadline and sweeps idle mailboxes; it sleeps until the next deadline, it does not poll.

In a cluster (`relay` set by server/cluster.py) a client may come back on another node. That node
does not know the resume id, so it *claims* it on the bus and waits (at most `CLAIM_TIMEOUT`) for
the node holding the session to *hand it over*: the holder drops the session without leaving the
room (kicking its connection if it still thinks it is up) and sends the session's ids, room, the
roster the client was last shown and the messages still queued for it; the claimer rebuilds the
session from that. Only the holder can answer, and it forgets the session as it answers, so a
session is never served by two nodes; a claim nobody answers (expired, or its node died) ends
in `no_such_session` and the client says hello again.
"""
from __future__ import annotations

import logging
import secrets
from collections import deque
from typing import TYPE_CHECKING, Any, Awaitable, Callable

import trio

from .mailbox import Signal
from .roster import Member
from .transient import TransientData

if TYPE_CHECKING:
    from .mailbox import Mailbox, Mailboxes

log = logging.getLogger("parley.signaling")

RESUME_WINDOW = 30.0
SWEEP_INTERVAL = 60.0
CLAIM_TIMEOUT = 1.0   # seconds a resume of an unknown id waits for another node's hand-over


class SignalingSession:
    """One client that completed `hello`. Its public id is its hello id until it joins a room,
    then its Talk session id, so polling and WebSocket clients address each other the same way."""

    __slots__ = ("hello_id", "resume_id", "user_id", "room", "talk_session", "box", "known",
                 "connection", "detached_at")

    def __init__(self, user_id: str) -> None:
        self.hello_id = secrets.token_urlsafe(32)
        self.resume_id = secrets.token_urlsafe(32)
        self.user_id = user_id                  # '' for guests
        self.room: str | None = None            # token of the joined room
        self.talk_session: str | None = None
        self.box: Mailbox | None = None
        self.known: dict[str, Member] = {}      # the roster this client was last told about
        self.connection: object | None = None   # the Connection currently serving it
        self.detached_at: float | None = None

    @property
    def public_id(self) -> str:
        return self.talk_session or self.hello_id


Leave = Callable[[str, str], Awaitable[None]]   # (room token, Talk session id)


class SignalingSessions:
    def __init__(self, mailboxes: Mailboxes, resume_window: float = RESUME_WINDOW) -> None:
        self.mailboxes = mailboxes
        self.resume_window = resume_window
        self._by_resume: dict[str, SignalingSession] = {}
        self._by_talk_session: dict[str, SignalingSession] = {}
        self._detached: dict[str, SignalingSession] = {}   # resume id -> session, oldest first
        self._changed = trio.Event()
        self.transient = TransientData()   # per-room data of the WebSocket sessions in the room
        # Every open connection (with or without a session), so that shutdown can close them all.
        self.connections: set[Any] = set()
        self.closing = False
        # The cluster bus: carries claims and hand-overs of sessions between nodes (see above).
        self.relay: Callable[[dict[str, Any]], None] | None = None
        self._claims: dict[str, list[Any]] = {}   # resume id -> [done event, handed-over state]

    def close_all(self) -> None:
        """The server is shutting down: every connection closes with 1001 (going away), so its
        client reconnects elsewhere or later; new connections are refused the same way."""
        self.closing = True
        for connection in list(self.connections):
            connection.going_away()

    # -- lifecycle -----------------------------------------------------------------------------

    def create(self, user_id: str) -> SignalingSession:
        session = SignalingSession(user_id)
        self._by_resume[session.resume_id] = session
        return session

    def resume(self, resume_id: object) -> SignalingSession | None:
        session = self._by_resume.get(resume_id) if isinstance(resume_id, str) else None
        if session is not None:
            self._detached.pop(session.resume_id, None)
            session.detached_at = None
        return session

    # -- moving a session between nodes (the cluster bus) ----------------------------------------

    async def claim(self, resume_id: object, now: float) -> SignalingSession | None:
        """A resume id this node does not know: ask the other nodes for the session. Returns it
        rebuilt here, or None when no node handed it over within `CLAIM_TIMEOUT`."""
        if self.relay is None or not isinstance(resume_id, str) or not resume_id:
            return None
        waiting: list[Any] = [trio.Event(), None]
        self._claims[resume_id] = waiting
        try:
            self.relay({"k": "ws-claim", "rid": resume_id})
            with trio.move_on_after(CLAIM_TIMEOUT):
                await waiting[0].wait()
        finally:
            if self._claims.get(resume_id) is waiting:
                del self._claims[resume_id]
        return self._adopt(waiting[1], now) if waiting[1] is not None else None

    def on_claim(self, resume_id: str) -> None:
        """Another node's client resumes `resume_id`: if this node holds that session, hand it
        over and forget it here (without leaving its room: the client is still in it)."""
        session = self._by_resume.get(resume_id)
        if session is None or self.relay is None:
            return
        connection = session.connection
        if connection is not None:
            connection.kick()   # it still looked connected here: the client has moved on
        box = session.box
        queued = [s for s in box.queue if s.kind != "control"] if box is not None else []
        state = {"hello": session.hello_id, "resume": session.resume_id, "user": session.user_id,
                 "room": session.room, "talk": session.talk_session,
                 "known": [[m.session_id, m.user_id, m.last_ping, m.in_call, m.participant_type]
                           for m in session.known.values()],
                 "queue": [[s.sender, s.sender_user, s.data, s.sent_at, s.kind, s.id] for s in queued]}
        self._by_resume.pop(session.resume_id, None)
        self._detached.pop(session.resume_id, None)
        if session.talk_session is not None and self._by_talk_session.get(session.talk_session) is session:
            del self._by_talk_session[session.talk_session]
            # Not `transient.left`: the session stays in the room, served by the claiming node.
            self.mailboxes.unregister(session.talk_session)
        session.room = session.talk_session = session.box = None
        session.known = {}
        self.relay({"k": "ws-handover", "rid": resume_id, "s": state})

    def on_handover(self, resume_id: str, state: dict[str, Any]) -> None:
        waiting = self._claims.get(resume_id)
        if waiting is not None and waiting[1] is None:
            waiting[1] = state
            waiting[0].set()

    def _adopt(self, state: dict[str, Any], now: float) -> SignalingSession:
        session = SignalingSession(str(state["user"]))
        session.hello_id, session.resume_id = str(state["hello"]), str(state["resume"])
        self._by_resume[session.resume_id] = session
        room, talk = state.get("room"), state.get("talk")
        if isinstance(room, str) and isinstance(talk, str):
            box = self.mailboxes.register(talk, room, now)
            handed = [Signal(f, u, d, at, kind=k, id=i) for f, u, d, at, k, i in state["queue"]]
            ids = {s.id for s in handed if s.id}
            # This node may hold copies of the same signals (relayed to every node): keep the
            # holder's order, then whatever reached only this node meanwhile.
            box.queue = deque(handed + [s for s in box.queue if not s.id or s.id not in ids])
            previous = self.joined(session, room, talk, box)
            if previous is not None:
                self.left(previous)
            session.known = {m[0]: Member(m[0], m[1], int(m[2]), bool(m[3]), int(m[4])) for m in state["known"]}
        return session

    def detach(self, session: SignalingSession, now: float) -> None:
        """Its connection is gone; keep it for the resume window."""
        session.connection = None
        session.detached_at = now
        box = session.box
        if box is not None and any(s.kind == "control" for s in box.queue):
            # control messages are for connected clients only: never kept for a resume
            kept = [s for s in box.queue if s.kind != "control"]
            box.queue.clear()
            box.queue.extend(kept)
        self._detached[session.resume_id] = session
        self._changed.set()

    def joined(self, session: SignalingSession, token: str, talk_session: str, box: Mailbox) -> SignalingSession | None:
        """Record a room join; returns the session that held this Talk session before, if any."""
        previous = self._by_talk_session.get(talk_session)
        session.room, session.talk_session, session.box, session.known = token, talk_session, box, {}
        box.websocket = True
        self._by_talk_session[talk_session] = session
        self.transient.joined(token, talk_session)
        return previous if previous is not session else None

    def left(self, session: SignalingSession) -> tuple[str, str] | None:
        """Forget the room of `session`; returns (token, Talk session) it was in, if any."""
        if session.room is None or session.talk_session is None:
            return None
        where = (session.room, session.talk_session)
        if self._by_talk_session.get(session.talk_session) is session:
            del self._by_talk_session[session.talk_session]
            self.mailboxes.unregister(session.talk_session)
            self.transient.left(session.room, session.talk_session)
        session.room = session.talk_session = session.box = None
        session.known = {}
        return where

    def end(self, session: SignalingSession) -> tuple[str, str] | None:
        """Drop the session for good; returns the room it has to leave, if any."""
        self._by_resume.pop(session.resume_id, None)
        self._detached.pop(session.resume_id, None)
        return self.left(session)

    def by_talk_session(self, talk_session: str) -> SignalingSession | None:
        return self._by_talk_session.get(talk_session)

    def connected(self, talk_session: str) -> bool:
        """A WebSocket session holds this Talk session and its connection is up right now."""
        session = self._by_talk_session.get(talk_session)
        return session is not None and session.connection is not None

    def __len__(self) -> int:
        return len(self._by_resume)

    # -- the timer ----------------------------------------------------------------------------

    def expired(self, now: float) -> list[SignalingSession]:
        cutoff = now - self.resume_window
        return [s for s in self._detached.values() if s.detached_at is not None and s.detached_at <= cutoff]

    def next_deadline(self) -> float | None:
        deadlines = [s.detached_at for s in self._detached.values() if s.detached_at is not None]
        return min(deadlines) + self.resume_window if deadlines else None

    async def run(self, leave: Leave, clock: Callable[[], float]) -> None:
        """End sessions whose resume window passed, and sweep idle mailboxes. Runs forever."""
        last_sweep = clock()
        while True:
            now = clock()
            for session in self.expired(now):
                where = self.end(session)
                if where is not None:
                    try:
                        await leave(*where)
                    except Exception:   # one failed leave must not stop the timer
                        log.exception("ending an expired signaling session failed")
            if now - last_sweep >= SWEEP_INTERVAL:
                self.mailboxes.sweep(now)
                last_sweep = now
            deadline = self.next_deadline()
            wait = SWEEP_INTERVAL if deadline is None else min(SWEEP_INTERVAL, max(0.0, deadline - now) + 0.01)
            self._changed = trio.Event()
            with trio.move_on_after(wait):   # ok: sleeps until the next deadline or a new detach
                await self._changed.wait()
