"""The Basic-auth verification cache and the brute-force throttle (server/domain/passwords.py)."""
import pytest

from server.domain.errors import TooManyAttempts
from server.domain.passwords import PasswordService, Throttle, make_hasher


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def service(clock):
    return PasswordService(cache_seconds=60, clock=clock, hasher=make_hasher(1, 1024))


def test_a_remembered_password_is_cached_until_it_expires():
    clock = Clock()
    passwords = service(clock)
    passwords.remember("alice", "secret", "hash1")
    assert passwords.cached("alice", "secret", "hash1")
    assert not passwords.cached("alice", "other", "hash1")
    assert not passwords.cached("bob", "secret", "hash1")
    clock.now += 61
    assert not passwords.cached("alice", "secret", "hash1")


def test_a_verification_remembered_for_an_old_hash_does_not_vouch_after_a_change():
    passwords = service(Clock())
    passwords.remember("alice", "old", "hash-before-change")
    assert not passwords.cached("alice", "old", "hash-after-change")


def test_forget_user_drops_every_cached_password_of_that_user():
    passwords = service(Clock())
    passwords.remember("alice", "a", "h")
    passwords.remember("alice", "b", "h")
    passwords.remember("bob", "c", "h")
    passwords.forget_user("alice")
    assert not passwords.cached("alice", "a", "h") and not passwords.cached("alice", "b", "h")
    assert passwords.cached("bob", "c", "h")


def test_the_cache_is_bounded():
    passwords = PasswordService(clock=Clock(), max_cached=2, hasher=make_hasher(1, 1024))
    for n in range(3):
        passwords.remember(f"user{n}", "pw", "h")
    assert not passwords.cached("user0", "pw", "h")
    assert passwords.cached("user2", "pw", "h")


def test_throttle_refuses_after_the_limit_until_the_window_passes():
    clock = Clock()
    throttle = Throttle(limit=3, window=60, clock=clock)
    key = ("1.2.3.4", "user:alice")
    for _ in range(3):
        throttle.check(key)
        throttle.failed(key)
    with pytest.raises(TooManyAttempts) as caught:
        throttle.check(key)
    assert caught.value.status == 429
    throttle.check(("5.6.7.8", "user:alice"))   # another client is not affected
    clock.now += 61
    throttle.check(key)


def test_throttle_forgets_failures_after_a_success():
    throttle = Throttle(limit=2, window=60, clock=Clock())
    key = ("1.2.3.4", "room:abcd")
    throttle.failed(key)
    throttle.succeeded(key)
    throttle.failed(key)
    throttle.check(key)
