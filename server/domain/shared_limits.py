"""The login limits of a cluster, kept in Redis so that every node counts the same failures.

On one node the per-account throttle (`passwords.Throttle`) and the admission guard
(`login_guard.LoginGuard`) live in memory. Behind a load balancer that sends each request to the
next node, per-node counters would let a guesser multiply its tries by the number of nodes, so a
cluster node (server/cluster.py sets `PasswordService.shared`) asks Redis instead, with the same
limits and the same answers:

- the throttle: one counter per (address, account or room) key, `INCR` on a failure, expiring
  `window` seconds after the first failure of a series (a fixed window from the first failure,
  where the in-memory one slides; either way at most `limit` failures are checked per window);
- the guard: two token buckets (the address's and the global failure budget) refilled by Redis's
  own clock, so nodes' clocks need not agree. Each step is one Lua script: atomic, one round trip.

When Redis cannot be asked (`BusUnavailable`), a node falls back to its in-memory limits: a Redis
outage degrades the limits to per node, it never refuses or admits everyone.
"""
from __future__ import annotations

import logging
from typing import Any

from signaling.bus import BusUnavailable

from .errors import TooManyAttempts
from .login_guard import LoginGuard

log = logging.getLogger("parley.limits")

# KEYS[1] the counter; ARGV: op ("check" | "fail" | "clear"), limit, window in ms.
# check returns the milliseconds until the counter expires when it is at the limit, else -1.
_THROTTLE = """
local op = ARGV[1]
if op == 'check' then
  local n = tonumber(redis.call('GET', KEYS[1]) or '0')
  if n < tonumber(ARGV[2]) then return -1 end
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl < 0 then ttl = tonumber(ARGV[3]) end
  return ttl
elseif op == 'fail' then
  if redis.call('INCR', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
  return -1
end
redis.call('DEL', KEYS[1])
return -1
"""

# KEYS[1] the address's bucket, KEYS[2] the global failure budget (hashes: tokens, stamp).
# ARGV: op ("admit" | "give" | "fail"), burst, rate, budget, budget rate.
# admit returns {0, 0} (admitted, one token taken), {1, s} (budget spent, this address failed
# lately: retry in s) or {2, s} (the address's bucket is empty: retry in s).
_GUARD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local function load(key, capacity, rate)
  local v = redis.call('HMGET', key, 'tokens', 'stamp')
  local tokens, stamp = tonumber(v[1]), tonumber(v[2])
  if tokens == nil then return capacity end
  if now > stamp then tokens = math.min(capacity, tokens + (now - stamp) * rate) end
  return tokens
end
local function save(key, tokens, capacity, rate)
  redis.call('HSET', key, 'tokens', tostring(tokens), 'stamp', tostring(now))
  local ttl = 3600000
  if rate > 0 then ttl = math.ceil((capacity - tokens) / rate * 1000) + 1000 end
  redis.call('PEXPIRE', key, ttl)
end
local function wait(tokens, rate)
  if rate <= 0 then return 3600 end
  return math.max(1, math.ceil((1 - tokens) / rate))
end
local op = ARGV[1]
local burst, rate = tonumber(ARGV[2]), tonumber(ARGV[3])
local budget, budget_rate = tonumber(ARGV[4]), tonumber(ARGV[5])
if op == 'admit' then
  local mine = load(KEYS[1], burst, rate)
  local left = load(KEYS[2], budget, budget_rate)
  if left < 1 and mine < burst then return {1, wait(left, budget_rate)} end
  if mine < 1 then return {2, wait(mine, rate)} end
  save(KEYS[1], mine - 1, burst, rate)
  return {0, 0}
elseif op == 'give' then
  save(KEYS[1], math.min(burst, load(KEYS[1], burst, rate) + 1), burst, rate)
else
  local left = load(KEYS[2], budget, budget_rate)
  if left >= 1 then left = left - 1 end
  save(KEYS[2], left, budget, budget_rate)
end
return {0, 0}
"""


class SharedLimits:
    """The Redis side of `PasswordService`'s limits (see the module docstring). `bus` is the
    node's `signaling.bus.Bus`; keys live under its channel name, so clusters sharing one Redis
    on different database numbers stay apart. Every method returns False when Redis could not be
    asked (then the caller uses its in-memory limit instead), True when Redis answered."""

    def __init__(self, bus: Any, guard: LoginGuard, throttle: Any) -> None:
        self.bus, self.guard, self.throttle = bus, guard, throttle
        self.prefix = f"{bus.channel}:limits"
        self.fallbacks = 0   # steps answered in memory because Redis was away

    async def _eval(self, script: str, keys: list[str], args: list[Any]) -> Any:
        try:
            return await self.bus.eval(script, keys, args)
        except BusUnavailable as exc:
            self.fallbacks += 1
            if self.fallbacks == 1 or self.fallbacks % 1000 == 0:
                log.warning("login limits: Redis unavailable (%s); using this node's own", exc)
            return None

    def _throttle_key(self, key: tuple[str, str]) -> list[str]:
        address, what = key   # length-prefixed: addresses and account names may hold any separator
        return [f"{self.prefix}:t:{len(address)}:{address}{what}"]

    def _throttle_args(self, op: str) -> list[Any]:
        return [op, self.throttle.limit, int(self.throttle.window * 1000)]

    def _guard_keys(self, address: str) -> list[str]:
        return [f"{self.prefix}:a:{address}", f"{self.prefix}:budget"]

    def _guard_args(self, op: str) -> list[Any]:
        g = self.guard
        return [op, g.burst, repr(float(g.rate)), g.budget.capacity, repr(float(g.budget.rate))]

    async def throttle_check(self, key: tuple[str, str]) -> bool:
        """Raises TooManyAttempts while `key` is at its limit, counted like `Throttle.check`."""
        ms = await self._eval(_THROTTLE, self._throttle_key(key), self._throttle_args("check"))
        if ms is None:
            return False
        if int(ms) >= 0:
            self.throttle.refusals_total += 1
            wait = int(ms) // 1000 + 1
            raise TooManyAttempts(f"too many failed attempts; retry in {wait} s", retry_after=wait)
        return True

    async def throttle_failed(self, key: tuple[str, str]) -> bool:
        if await self._eval(_THROTTLE, self._throttle_key(key), self._throttle_args("fail")) is None:
            return False
        self.throttle.failures_total += 1
        return True

    async def throttle_cleared(self, key: tuple[str, str]) -> bool:
        return await self._eval(_THROTTLE, self._throttle_key(key), self._throttle_args("clear")) is not None

    async def admit(self, address: str) -> bool:
        """Raises TooManyAttempts with the messages `LoginGuard.admit` uses."""
        reply = await self._eval(_GUARD, self._guard_keys(address), self._guard_args("admit"))
        if reply is None:
            return False
        verdict, wait = (int(x) for x in reply)
        if verdict == 1:
            raise TooManyAttempts("too many failed logins on this server; retry later", retry_after=wait)
        if verdict == 2:
            raise TooManyAttempts(f"too many failed logins from this address; retry in {wait} s",
                                  retry_after=wait)
        return True

    async def give_back(self, address: str) -> bool:
        return await self._eval(_GUARD, self._guard_keys(address), self._guard_args("give")) is not None

    async def failed(self, address: str) -> bool:
        return await self._eval(_GUARD, self._guard_keys(address), self._guard_args("fail")) is not None
