"""WebSocket signaling sessions: who said hello, which connection holds them, the resume window.

A session outlives its connection for `resume_window` seconds (strukturag's 30 s): a client that
reconnects with its `resumeid` in time gets the same session back, with the messages that arrived
meanwhile still in its mailbox. After that the session ends for good: it leaves its room, which
also ends its Talk session (as the standalone server's backend "leave" call does in Talk).

The registry is live state owned by the hub. `run()` is the one timer that ends detached sessions
at their deadline and sweeps idle mailboxes; it sleeps until the next deadline, it does not poll.
"""
from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING, Any, Awaitable, Callable

import trio

from .roster import Member
from .transient import TransientData

if TYPE_CHECKING:
    from .mailbox import Mailbox, Mailboxes

log = logging.getLogger("parley.signaling")

RESUME_WINDOW = 30.0
SWEEP_INTERVAL = 60.0


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
