"""What every domain action is handed: the database, the hub, the configuration, a clock and the
password service. Passing it explicitly keeps each action readable top to bottom and testable."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from signaling.hub import Hub
from storage.db import Database
from storage.records import UserId

from ..config import Config
from .passwords import PasswordService


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is calling: a logged-in user, or a guest known only by its cookie session.

    `cookie_hash` is the sha256 of the caller's session cookie; it keys the token → Talk session
    map. Users get one too, because ping and signaling need a session even for them.
    """
    user_id: UserId | None
    cookie_hash: str | None
    client: str = ""   # remote address, for the brute-force throttle
    app_password_id: int | None = None   # the app password this request authenticated with, if any

    @property
    def is_guest(self) -> bool:
        return self.user_id is None


@dataclass
class Ctx:
    db: Database
    hub: Hub
    config: Config
    passwords: PasswordService
    secret: bytes
    clock: Callable[[], float] = field(default=time.time)
    files: Any = None   # attachments.FilesState, set by attachments.install at start-up
    bus: Any = None   # signaling.bus.Bus when the node is part of a cluster ([cluster] redis_url)

    def now(self) -> int:
        return int(self.clock())
