"""argon2id hashing off the event loop, a verification cache for Basic auth, and a throttle.

Basic auth sends the password with every request, and an argon2id verify costs tens of
milliseconds of CPU. A successful verification is therefore remembered under an HMAC of the
credential keyed with a per-process secret (so the cache never holds a password or a reusable
hash), for a short time, and forgotten when the password changes or the user is deleted.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict, deque
from typing import Callable

import trio
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

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

    def check(self, key: tuple[str, str]) -> None:
        failures = self._failures.get(key)
        if not failures:
            return
        now = self.clock()
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if len(failures) >= self.limit:
            raise TooManyAttempts(f"too many failed attempts; retry in {int(failures[0] + self.window - now) + 1} s")

    def failed(self, key: tuple[str, str]) -> None:
        self._failures.setdefault(key, deque()).append(self.clock())
        self._failures.move_to_end(key)
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)

    def succeeded(self, key: tuple[str, str]) -> None:
        self._failures.pop(key, None)


class PasswordService:
    def __init__(self, cache_seconds: float = 60.0, clock: Callable[[], float] = time.monotonic,
                 max_cached: int = 10_000, hasher: PasswordHasher | None = None) -> None:
        self.hasher = hasher or make_hasher()
        self._key = secrets.token_bytes(32)
        self._cache: OrderedDict[bytes, tuple[str, float]] = OrderedDict()
        self._by_user: dict[str, set[bytes]] = {}
        self.cache_seconds, self.clock, self.max_cached = cache_seconds, clock, max_cached
        self.throttle = Throttle()

    async def hash(self, password: str) -> str:
        return await trio.to_thread.run_sync(self.hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        return await trio.to_thread.run_sync(verify_sync, self.hasher, password_hash, password)

    def _cache_key(self, user_id: str, password: str, password_hash: str) -> bytes:
        return hmac.new(self._key, f"{user_id}\0{password_hash}\0{password}".encode(), hashlib.sha256).digest()

    def cached(self, user_id: str, password: str, password_hash: str = "") -> bool:
        """True if this password was verified recently against this stored hash. Keying on the
        hash means a verification that finishes after a password change never vouches for the
        old password (`forget_user` alone could race with it)."""
        key = self._cache_key(user_id, password, password_hash)
        hit = self._cache.get(key)
        if hit is None:
            return False
        if hit[1] < self.clock():
            self._drop(key)
            return False
        return True

    def remember(self, user_id: str, password: str, password_hash: str = "") -> None:
        key = self._cache_key(user_id, password, password_hash)
        self._cache[key] = (user_id, self.clock() + self.cache_seconds)
        self._by_user.setdefault(user_id, set()).add(key)
        while len(self._cache) > self.max_cached:
            self._drop(next(iter(self._cache)))

    def forget_user(self, user_id: str) -> None:
        """Call when a password changes or an account is deleted."""
        for key in self._by_user.pop(user_id, set()):
            self._cache.pop(key, None)

    def _drop(self, key: bytes) -> None:
        user_id, _ = self._cache.pop(key)
        keys = self._by_user.get(user_id)
        if keys:
            keys.discard(key)
            if not keys:
                del self._by_user[user_id]
