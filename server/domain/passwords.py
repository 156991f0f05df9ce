"""argon2id hashing off the event loop, a verification cache for Basic auth, and a throttle.

Basic auth sends the password with every request, and an argon2id verify costs tens of
milliseconds of CPU. A successful verification is therefore remembered under an HMAC of the
credential keyed with a per-process secret (so the cache never holds a password or a reusable
hash), for a short time, and forgotten when the password changes or the user is deleted.
"""
from __future__ import annotations

import hashlib
import os
import hmac
import secrets
import time
from collections import OrderedDict, deque
from pathlib import Path
from typing import Callable

import trio
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from storage.records import User

from .errors import TooManyAttempts

def make_hasher(time_cost: int = 3, memory_kib: int = 65536) -> PasswordHasher:
    """argon2id. The defaults are the library's (t=3, m=64 MiB, p=4); tests use cheaper ones."""
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)


def verify_sync(hasher: PasswordHasher, password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


class Throttle:
    """At most `limit` failures per key within `window` seconds; beyond that, refuse with 429
    until the oldest failure leaves the window. Keys are (client address, account or room)."""

    def __init__(self, limit: int = 5, window: float = 300.0, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000) -> None:
        self.limit, self.window, self.clock, self.max_keys = limit, window, clock, max_keys
        self._failures: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()
        # Metrics hook (server/metrics.py reads these two at scrape time): keep both increments.
        self.failures_total = 0     # failed password checks
        self.refusals_total = 0     # attempts refused with 429

    def check(self, key: tuple[str, str]) -> None:
        failures = self._failures.get(key)
        if not failures:
            return
        now = self.clock()
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if len(failures) >= self.limit:
            self.refusals_total += 1
            raise TooManyAttempts(f"too many failed attempts; retry in {int(failures[0] + self.window - now) + 1} s")

    def failed(self, key: tuple[str, str]) -> None:
        self.failures_total += 1
        self._failures.setdefault(key, deque()).append(self.clock())
        self._failures.move_to_end(key)
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)

    def succeeded(self, key: tuple[str, str]) -> None:
        self._failures.pop(key, None)


class PasswordService:
    """Hashing, verification, and the Basic-auth cache.

    A cache hit costs no database query: it holds the verified `User`. Three things keep it honest:
    - `forget_user` (password change, deletion) drops the user's entries and bumps the user's
      generation; a verification that started before the bump is not remembered (`remember` takes
      the generation read before verifying), so a slow verify cannot revive an old password;
    - the same call rewrites a marker file in the data directory, and every hit first compares the
      marker's stat with the last one seen: a change made by another process (the `parley` CLI on
      the same data directory) clears the whole cache before the next request is served;
    - entries expire after `cache_seconds`.
    """

    def __init__(self, cache_seconds: float = 60.0, clock: Callable[[], float] = time.monotonic,
                 max_cached: int = 10_000, hasher: PasswordHasher | None = None,
                 marker: Path | None = None) -> None:
        self.hasher = hasher or make_hasher()
        self._key = secrets.token_bytes(32)
        self._cache: OrderedDict[bytes, tuple[User, float]] = OrderedDict()
        self._by_user: dict[str, set[bytes]] = {}
        self._generation: dict[str, int] = {}
        self.cache_seconds, self.clock, self.max_cached = cache_seconds, clock, max_cached
        self.throttle = Throttle()
        self._marker = marker
        self._dummy: str | None = None
        self._marker_seen = self._marker_stat()
        # The cluster bus (signaling/bus.py): tells the other nodes' caches to forget a user.
        self.relay: Callable[[str], None] | None = None

    async def hash(self, password: str) -> str:
        return await trio.to_thread.run_sync(self.hasher.hash, password)

    async def dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = await self.hash(secrets.token_hex(16))
        return self._dummy

    async def verify(self, password_hash: str, password: str) -> bool:
        return await trio.to_thread.run_sync(verify_sync, self.hasher, password_hash, password)

    def _cache_key(self, user_id: str, password: str) -> bytes:
        return hmac.new(self._key, f"{user_id}\0{password}".encode(), hashlib.sha256).digest()

    def _marker_stat(self) -> tuple[int, int, int] | None:
        if self._marker is None:
            return None
        try:
            st = os.stat(self._marker)
        except OSError:
            return None
        return st.st_mtime_ns, st.st_ino, st.st_size

    def generation(self, user_id: str) -> int:
        return self._generation.get(user_id, 0)

    def cached_user(self, user_id: str, password: str) -> User | None:
        """The user, if this password was verified recently and nothing changed since."""
        if self._marker is not None:
            seen = self._marker_stat()
            if seen != self._marker_seen:
                self._marker_seen = seen
                self._cache.clear()
                self._by_user.clear()
                return None
        key = self._cache_key(user_id, password)
        hit = self._cache.get(key)
        if hit is None:
            return None
        if hit[1] < self.clock():
            self._drop(key)
            return None
        return hit[0]

    def remember(self, user: User, password: str, generation: int) -> None:
        """Cache a successful verification that started at `generation` (see `generation()`)."""
        if generation != self.generation(user.id):
            return
        key = self._cache_key(user.id, password)
        self._cache[key] = (user, self.clock() + self.cache_seconds)
        self._by_user.setdefault(user.id, set()).add(key)
        while len(self._cache) > self.max_cached:
            self._drop(next(iter(self._cache)))

    def forget_user(self, user_id: str) -> None:
        """Call after a password change or an account deletion has committed."""
        self.forget_local(user_id)
        if self.relay is not None:
            self.relay(user_id)
        if self._marker is not None:
            try:
                self._marker.write_text(secrets.token_hex(8))
            except OSError:
                pass   # a read-only data dir: in-process invalidation still happened
            self._marker_seen = self._marker_stat()

    def forget_local(self, user_id: str) -> None:
        """Drop the user's cached verifications in this process only (the bus calls this for a
        change made on another node)."""
        self._generation[user_id] = self.generation(user_id) + 1
        for key in self._by_user.pop(user_id, set()):
            self._cache.pop(key, None)

    def _drop(self, key: bytes) -> None:
        user, _ = self._cache.pop(key)
        keys = self._by_user.get(user.id)
        if keys:
            keys.discard(key)
            if not keys:
                del self._by_user[user.id]
