"""Admission before hashing (server/domain/login_guard.py): the per-address bucket and the global
failure budget, driven by an injected clock."""
import pytest

from server.domain.errors import TooManyAttempts
from server.domain.login_guard import LoginGuard, TokenBucket


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_an_address_gets_its_burst_of_failures_then_429_until_a_token_refills():
    clock = Clock()
    guard = LoginGuard(burst=3, rate=0.5, budget=100, budget_rate=1, clock=clock)
    for _ in range(3):
        guard.admit("10.0.0.1")
        guard.failed("10.0.0.1")
    with pytest.raises(TooManyAttempts) as refused:
        guard.admit("10.0.0.1")
    assert refused.value.status == 429 and refused.value.retry_after == 2   # one token per 2 s
    guard.admit("10.0.0.2")                       # another address is not affected
    clock.now += 2
    guard.admit("10.0.0.1")


def test_successful_logins_give_their_token_back():
    guard = LoginGuard(burst=2, rate=0.01, clock=Clock())
    for _ in range(50):                           # many users behind one address, all right
        guard.admit("10.0.0.1")
        guard.succeeded("10.0.0.1")
    guard.admit("10.0.0.1")


def test_concurrent_attempts_from_one_address_are_bounded_before_any_outcome():
    guard = LoginGuard(burst=2, rate=0.01, clock=Clock())
    guard.admit("10.0.0.1")
    guard.admit("10.0.0.1")                       # two being checked, none settled yet
    with pytest.raises(TooManyAttempts):
        guard.admit("10.0.0.1")
    guard.abandoned("10.0.0.1")                   # e.g. the hashers were busy: not counted
    guard.admit("10.0.0.1")


def test_a_spent_global_budget_refuses_addresses_with_failures_but_not_clean_ones():
    clock = Clock()
    guard = LoginGuard(burst=10, rate=0.01, budget=3, budget_rate=0.5, clock=clock)
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):   # a spread-out campaign, one try each
        guard.admit(address)
        guard.failed(address)
    with pytest.raises(TooManyAttempts) as refused:
        guard.admit("10.0.0.1")                   # its own bucket has 9 left: the budget decides
    assert "server" in refused.value.message and refused.value.retry_after == 2
    guard.admit("10.0.0.9")                       # a user who never failed still gets in
    guard.succeeded("10.0.0.9")
    clock.now += 2                                # the budget refills
    guard.admit("10.0.0.1")


def test_the_address_table_is_bounded():
    guard = LoginGuard(burst=1, rate=0.001, clock=Clock(), max_addresses=2)
    for address in ("a", "b", "c"):
        guard.admit(address)
        guard.failed(address)
    guard.admit("a")                              # forgotten as least recently seen: starts afresh


def test_token_bucket_refills_continuously_up_to_its_capacity():
    bucket = TokenBucket(2, 1.0, now=0.0)
    assert bucket.take(0.0) and bucket.take(0.0) and not bucket.take(0.0)
    assert bucket.seconds_until_token(0.5) == 1
    assert bucket.take(1.0)
    assert bucket.available(100.0) == 2
