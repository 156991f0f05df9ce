"""argon2id hashing on the dedicated hashers, a verification cache for Basic auth, and a throttle.

Basic auth sends the password with every request, and an argon2id verify costs tens of
milliseconds of CPU. A successful verification is therefore remembered under an HMAC of the
credential keyed with a per-process secret (so the cache never holds a password or a reusable
hash) for as long as it keeps being used (sliding expiry), up to a hard bound drawn per entry with
jitter, so entries made together (a restart's reconnect storm) do not all expire together. It is
forgotten at once when the password changes or the user is deleted.
"""
from __future__ import annotations

import hashlib
import os
import hmac
import random
import secrets
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import trio
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from storage.records import User

from .errors import TooManyAttempts
from .hashing import HashWorkers
from .login_guard import LoginGuard, LoginStats

# Chosen on the project machine (docs/PERFORMANCE.md#password-hashing): one verification takes
# ~50 ms and 32 MiB there, above OWASP's argon2id minimum (19 MiB, t=2, p=1). p=1 because the
# parallelism comes from the hash workers, one thread per core, not from inside one hash.
ARGON2_TIME_COST = 2
ARGON2_MEMORY_KIB = 32768
ARGON2_PARALLELISM = 1


def make_hasher(time_cost: int = ARGON2_TIME_COST, memory_kib: int = ARGON2_MEMORY_KIB,
                parallelism: int = ARGON2_PARALLELISM) -> PasswordHasher:
    """argon2id with Parley's defaults (above); tests use cheaper ones."""
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)


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
            wait = int(failures[0] + self.window - now) + 1
            raise TooManyAttempts(f"too many failed attempts; retry in {wait} s", retry_after=wait)

    def failed(self, key: tuple[str, str]) -> None:
        self.failures_total += 1
        self._failures.setdefault(key, deque()).append(self.clock())
        self._failures.move_to_end(key)
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)

    def succeeded(self, key: tuple[str, str]) -> None:
        self._failures.pop(key, None)


@dataclass(slots=True)
class CachedLogin:
    """A remembered successful verification. `app_password_id` is set when the credential was an
    app password (server/domain/app_passwords.py) rather than the account password."""
    user: User
    app_password_id: int | None
    idle_deadline: float
    hard_deadline: float


class PasswordService:
    """Hashing, verification, the Basic-auth cache, and the login throttles.

    A cache hit costs no database query: it holds the verified `User`. Four things keep it honest:
    - `forget_user` (password change, deletion, app password revoked) drops the user's entries and
      bumps the user's generation; a verification that started before the bump is not remembered
      (`remember` takes the generation read before verifying), so a slow verify cannot revive an
      old password;
    - the same call rewrites a marker file in the data directory, and every hit first compares the
      marker's stat with the last one seen: a change made by another process (the `parley` CLI on
      the same data directory) clears the whole cache before the next request is served;
    - an entry unused for `cache_seconds` expires (each hit pushes that back);
    - an entry lives at most `cache_max_seconds` × a random factor in [1 - jitter, 1], however
      often it is used, so a verification made before some change it cannot see is re-checked.
    """

    def __init__(self, cache_seconds: float = 600.0, clock: Callable[[], float] = time.monotonic,
                 max_cached: int = 10_000, hasher: PasswordHasher | None = None,
                 marker: Path | None = None, *, cache_max_seconds: float = 3600.0,
                 jitter: float = 0.2, workers: HashWorkers | None = None,
                 guard: LoginGuard | None = None, rng: random.Random | None = None) -> None:
        self.hasher = hasher or make_hasher()
        self._key = secrets.token_bytes(32)
        self._cache: OrderedDict[bytes, CachedLogin] = OrderedDict()
        self._by_user: dict[str, set[bytes]] = {}
        self._generation: dict[str, int] = {}
        self.cache_seconds, self.clock, self.max_cached = cache_seconds, clock, max_cached
        self.cache_max_seconds, self.jitter = cache_max_seconds, jitter
        self._rng = rng or random.Random()
        self.workers = workers or HashWorkers()
        self.throttle = Throttle()
        self.guard = guard or LoginGuard()
        self.stats = LoginStats()
        self._marker = marker
        self._dummy: str | None = None
        self._dummy_lock = trio.Lock()
        self._marker_seen = self._marker_stat()
        # The cluster bus (signaling/bus.py): tells the other nodes' caches to forget a user.
        self.relay: Callable[[str], None] | None = None
        # In a cluster, the throttle and the guard counted in Redis (server/domain/shared_limits.py)
        self.shared: Any = None

    # -- the limits, in memory or (in a cluster) shared by every node --------------------------
    # Each step asks Redis when this node is in a cluster and Redis answers, else the in-memory
    # limit: logins.py and sessions.py call these, never `throttle`/`guard` directly.

    async def throttle_check(self, key: tuple[str, str]) -> None:
        if self.shared is None or not await self.shared.throttle_check(key):
            self.throttle.check(key)

    async def throttle_failed(self, key: tuple[str, str]) -> None:
        if self.shared is None or not await self.shared.throttle_failed(key):
            self.throttle.failed(key)

    async def throttle_succeeded(self, key: tuple[str, str]) -> None:
        if self.shared is None or not await self.shared.throttle_cleared(key):
            self.throttle.succeeded(key)

    async def admit(self, address: str) -> None:
        if self.shared is None or not await self.shared.admit(address):
            self.guard.admit(address)

    async def admission_failed(self, address: str) -> None:
        if self.shared is None or not await self.shared.failed(address):
            self.guard.failed(address)

    async def admission_returned(self, address: str) -> None:
        """A right password, or no check after all: the address gets its token back. Shielded:
        it also runs while the request is being cancelled."""
        if self.shared is None:
            self.guard.succeeded(address)
            return
        with trio.CancelScope(shield=True), trio.move_on_after(2):
            if not await self.shared.give_back(address):
                self.guard.succeeded(address)

    async def hash(self, password: str) -> str:
        """Raises `Overloaded` (503) when the hashers' queue is full."""
        return await self.workers.run(self.hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        """Raises `Overloaded` (503) when the hashers' queue is full."""
        return await self.workers.run(verify_sync, self.hasher, password_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        """True when `password_hash` was made with other argon2 parameters than the current ones."""
        try:
            return self.hasher.check_needs_rehash(password_hash)
        except (InvalidHashError, ValueError):
            return False

    async def dummy_hash(self) -> str:
        """A hash of a random password with the current parameters: unknown users are verified
        against it, so they cost (and take) as long as a wrong password of a known user."""
        async with self._dummy_lock:
            if self._dummy is None:
                self._dummy = await self.hash(secrets.token_hex(16))
        return self._dummy

    def close(self) -> None:
        self.workers.close()

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

    def cached(self, user_id: str, password: str) -> CachedLogin | None:
        """The remembered login, if this password was verified and nothing changed since; a hit
        extends the entry's idle deadline (never past its hard one)."""
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
        now = self.clock()
        if now >= hit.idle_deadline or now >= hit.hard_deadline:
            self._drop(key)
            return None
        hit.idle_deadline = now + self.cache_seconds
        self._cache.move_to_end(key)   # the bound evicts the least recently used
        return hit

    def cached_user(self, user_id: str, password: str) -> User | None:
        hit = self.cached(user_id, password)
        return hit.user if hit is not None else None

    def remember(self, user: User, password: str, generation: int, app_password_id: int | None = None) -> None:
        """Cache a successful verification that started at `generation` (see `generation()`)."""
        if generation != self.generation(user.id):
            return
        key = self._cache_key(user.id, password)
        now = self.clock()
        lifetime = self.cache_max_seconds * (1 - self.jitter * self._rng.random())
        self._cache[key] = CachedLogin(user, app_password_id, now + self.cache_seconds, now + lifetime)
        self._cache.move_to_end(key)
        self._by_user.setdefault(user.id, set()).add(key)
        while len(self._cache) > self.max_cached:
            self._drop(next(iter(self._cache)))

    def forget_user(self, user_id: str) -> None:
        """Call after a password change, an account deletion or an app password revocation has
        committed. Reaches this process, the other processes on this data dir (the marker file)
        and, in a cluster, the other nodes (`relay`, the bus)."""
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
        user = self._cache.pop(key).user
        keys = self._by_user.get(user.id)
        if keys:
            keys.discard(key)
            if not keys:
                del self._by_user[user.id]
