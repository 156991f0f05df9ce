"""Cheap refusals before any password hashing: a token bucket per client address and a global
budget for failed logins, and the two counters the metrics endpoint reads.

Every password check that misses the Basic-auth cache costs one argon2id verification. So before
hashing, a login attempt must be *admitted*:

- **Per address.** Each client address has a bucket of `burst` tokens refilling at `rate` per
  second. An attempt takes a token before it is hashed (so a burst of concurrent requests from one
  address is bounded too) and gives it back when the password was right: users who log in
  successfully never drain their address's bucket, however many there are behind one NAT; a
  guesser drains it after `burst` tries and then gets one try per 1/`rate` seconds.
- **Globally.** Every failure, from any address, spends one token of a global budget (`budget`
  tokens refilling at `budget_rate` per second). While it is spent, addresses with a recent failure
  (a bucket that is not full) are refused outright; addresses without one are still admitted. So a
  guessing campaign spread over many addresses, each staying under its own rate, is held to the
  global rate, while users logging in from clean addresses keep being served.

Refusals are `TooManyAttempts` (429 with Retry-After) and cost no hash, no query.

The client address is the ASGI scope's client (a trusted-proxy middleware may have rewritten it);
headers are never read here.
"""
from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

from .errors import TooManyAttempts


class TokenBucket:
    """`capacity` tokens, refilled continuously at `rate` per second."""

    __slots__ = ("capacity", "rate", "tokens", "stamp")

    def __init__(self, capacity: float, rate: float, now: float) -> None:
        self.capacity, self.rate = capacity, rate
        self.tokens, self.stamp = capacity, now

    def _refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = max(self.stamp, now)

    def available(self, now: float) -> float:
        self._refill(now)
        return self.tokens

    def take(self, now: float) -> bool:
        self._refill(now)
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    def give_back(self, now: float) -> None:
        self._refill(now)
        self.tokens = min(self.capacity, self.tokens + 1)

    def full(self, now: float) -> bool:
        return self.available(now) >= self.capacity

    def seconds_until_token(self, now: float) -> int:
        missing = 1 - self.available(now)
        if missing <= 0:
            return 0
        return math.ceil(missing / self.rate) if self.rate > 0 else 3600


@dataclass
class LoginStats:
    """What happened to password logins, counted in one place each (for /metrics).

    `on_failed`: a login's password check ran and the credentials were wrong (or the user
    unknown). `on_throttled`: refused by the address bucket or the global budget (429; the
    per-account throttle counts its own in `Throttle.refusals_total`). `on_busy`: refused because
    the hashers' queue was full (503)."""
    failed: int = 0
    throttled: int = 0
    busy: int = 0

    def on_failed(self) -> None:
        self.failed += 1

    def on_throttled(self) -> None:
        self.throttled += 1

    def on_busy(self) -> None:
        self.busy += 1


class LoginGuard:
    """Admission before hashing. `admit(address)` raises `TooManyAttempts` or takes a token; the
    caller then reports the outcome with exactly one `succeeded(address)` or `failed(address)`, or
    `abandoned(address)` when no password was checked after all (e.g. the hashers were busy)."""

    def __init__(self, burst: int = 20, rate: float = 0.2, budget: int = 100, budget_rate: float = 2.0,
                 clock: Callable[[], float] = time.monotonic, max_addresses: int = 100_000) -> None:
        self.burst, self.rate, self.clock, self.max_addresses = burst, rate, clock, max_addresses
        self.budget = TokenBucket(budget, budget_rate, clock())
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def _bucket(self, address: str, now: float) -> TokenBucket:
        bucket = self._buckets.get(address)
        if bucket is None:
            bucket = self._buckets[address] = TokenBucket(self.burst, self.rate, now)
            while len(self._buckets) > self.max_addresses:
                self._buckets.popitem(last=False)   # the least recently seen address starts afresh
        else:
            self._buckets.move_to_end(address)
        return bucket

    def admit(self, address: str) -> None:
        now = self.clock()
        bucket = self._bucket(address, now)
        if self.budget.available(now) < 1 and not bucket.full(now):
            raise TooManyAttempts("too many failed logins on this server; retry later",
                                  retry_after=max(1, self.budget.seconds_until_token(now)))
        if not bucket.take(now):
            raise TooManyAttempts(f"too many failed logins from this address; retry in "
                                  f"{bucket.seconds_until_token(now)} s",
                                  retry_after=bucket.seconds_until_token(now))

    def succeeded(self, address: str) -> None:
        self._bucket(address, self.clock()).give_back(self.clock())

    abandoned = succeeded   # nothing was learnt about the password: the try is not counted

    def failed(self, address: str) -> None:
        self.budget.take(self.clock())   # may already be empty; the refusal above then applies
