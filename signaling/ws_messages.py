"""The standalone protocol's `message`, `control` and `transient` frames of one session: whom they
reach and how (signaling/websocket.py parses the frame and hands it here). Pure routing over the
hub's live state, plus the one database read a `user` / `call` / `control` message needs (the
room's roster) and the lookup of a recipient not in the live index yet.
"""
from __future__ import annotations

from typing import Any

from . import rules
from .mailbox import Signal
from .ws_sessions import SignalingSession

MODERATOR_TYPES = frozenset({1, 2, 6})   # owner, moderator, guest moderator: may send `control`


class ProtocolError(Exception):
    """A client error answered with the error envelope; `close` ends the connection after it."""

    def __init__(self, code: str, message: str, *, close: bool = False) -> None:
        super().__init__(message)
        self.code, self.message, self.close = code, message, close


async def relay(hub: Any, backend: Any, session: SignalingSession, frame: dict[str, Any], kind: str,
            now: float) -> None:
    """`message` and `control` (same shape, same routing; control needs a moderator and is
    delivered only to clients connected right now, never kept for a resume)."""
    body = frame.get(kind)
    recipient = body.get("recipient") if isinstance(body, dict) else None
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(recipient, dict) or not isinstance(data, dict):
        raise ProtocolError("invalid_format", f"{kind} needs {{\"recipient\": {{...}}, \"data\": {{...}}}}")
    if session.room is None or session.talk_session is None:
        raise ProtocolError("not_in_room", "join a room before sending messages")
    mailboxes = hub.mailboxes
    recipient_type = recipient.get("type")
    target = recipient.get("sessionid")
    # A cluster node's live index holds only the sessions seen on this node: everyone in the
    # room is then found in the roster, like `user` and `call` recipients always are.
    by_roster = recipient_type in rules.ROSTER_RECIPIENTS or (recipient_type == "room" and mailboxes.relay is not None)
    if by_roster or kind == "control":
        roster = await backend.roster(session.room, session.talk_session)
        if roster is None:
            raise ProtocolError("not_in_room", "this session is no longer in its room")
    if kind == "control":
        me = roster.member(session.talk_session)
        if me is None or me.participant_type not in MODERATOR_TYPES:
            raise ProtocolError("not_allowed", "only moderators may send control messages")
    if by_roster:
        if recipient_type == "user":
            target = recipient.get("userid")
        targets = rules.roster_recipients(recipient_type, session.talk_session,
                                          target if isinstance(target, str) else None, roster.members)
        for found in targets:      # verified by the roster: index peers not seen live yet
            if mailboxes.room_of(found) != session.room:
                mailboxes.register(found, session.room, now)
    elif kind == "message" and recipient_type == "session" and hub.sfu is not None \
            and hub.sfu.intercepts(data, session.talk_session, target):
        # The MCU flow: offers, answers and candidates go to the SFU, not to the peer.
        if isinstance(target, str) and target and \
                not hub.sfu.submit(session.room, session.talk_session, target, data):
            raise ProtocolError("too_many_requests", "too many media requests queued; retry later")
        return
    else:
        try:
            targets = rules.recipients(recipient_type, session.talk_session, session.room,
                                       target if isinstance(target, str) else None,
                                       mailboxes.room_of, mailboxes.members)
        except rules.UnsupportedRecipient as exc:
            raise ProtocolError("invalid_format", str(exc)) from None
    if not targets and recipient.get("type") == "session" and isinstance(target, str) \
            and mailboxes.room_of(target) is None:
        # Not in the live index yet (e.g. a polling peer that has not pulled since a restart):
        # ask the database once, and index it if it really is in our room.
        if await backend.session_room(target) == session.room and session.room is not None:
            mailboxes.register(target, session.room, now)
            targets = [target]
    signal = Signal(session.talk_session, session.user_id or None, data, now, kind)
    if kind == "control":
        # For clients connected right now: here, or (in a cluster) on another node, which
        # checks the same when the copy arrives (Hub.apply_remote).
        registry = hub.websockets
        for target_session in targets:
            connected = registry.connected(target_session)
            if connected or mailboxes.relay is not None:
                mailboxes.deliver(target_session, signal, here=connected)
        return
    for target_session in targets:
        mailboxes.deliver(target_session, signal)

def transient(hub: Any, session: SignalingSession, frame: dict[str, Any], now: float) -> None:
    """`transient` set / remove: change the room's data and tell every WebSocket session of
    the room (the sender too). Any session in the room may change it."""
    body = frame.get("transient")
    if not isinstance(body, dict) or body.get("type") not in ("set", "remove") \
            or not isinstance(body.get("key"), str):
        raise ProtocolError("invalid_format", "transient needs {\"type\": \"set\"|\"remove\", \"key\": string}")
    if session.room is None or session.talk_session is None:
        raise ProtocolError("not_in_room", "join a room before changing transient data")
    store = hub.websockets.transient
    if body["type"] == "set":
        if "value" not in body:
            raise ProtocolError("invalid_format", "transient set needs a \"value\"")
        event = store.set(session.room, body["key"], body["value"])
    else:
        event = store.remove(session.room, body["key"])
    if event is None:
        return      # same value again, or removing a missing key: silently ignored
    if store.relay is not None:   # every other node applies it and tells its own sessions
        store.relay({"k": "transient", "t": session.room, "op": body["type"], "key": body["key"],
                     "v": body.get("value"), "f": session.talk_session, "u": session.user_id or None,
                     "at": now})
    announce(hub, session.room, Signal(session.talk_session, session.user_id or None, event, now, "transient"))


def announce(hub: Any, token: str, signal: Signal) -> None:
    """A transient change, to the WebSocket sessions of room `token` on this node (in a cluster
    every node announces to its own: the store knows every node's sessions)."""
    registry = hub.websockets
    for member in registry.transient.sessions(token):
        if registry.by_talk_session(member) is not None:
            hub.mailboxes.deliver(member, signal, relay=False)


def apply_remote_transient(hub: Any, message: dict[str, Any]) -> None:
    """Another node's transient set / remove: the same change here, announced here."""
    store = hub.websockets.transient
    token, key = str(message["t"]), str(message["key"])
    event = store.set(token, key, message.get("v")) if message.get("op") == "set" else store.remove(token, key)
    if event is not None:
        announce(hub, token, Signal(str(message["f"]), message.get("u"), event, float(message["at"]), "transient"))
