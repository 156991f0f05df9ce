"""The Basic-auth verification cache and the brute-force throttle (server/domain/passwords.py)."""
import pytest

from server.domain.errors import TooManyAttempts
from server.domain.passwords import PasswordService, Throttle, make_hasher
from storage.records import User


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def service(clock, **kw):
    return PasswordService(cache_seconds=60, clock=clock, hasher=make_hasher(1, 1024), **kw)


def user(name):
    return User(name, name, "hash", False)


def test_a_remembered_password_is_cached_until_it_expires():
    clock = Clock()
    passwords = service(clock)
    passwords.remember(user("alice"), "secret", passwords.generation("alice"))
    assert passwords.cached_user("alice", "secret") == user("alice")
    assert passwords.cached_user("alice", "other") is None
    assert passwords.cached_user("bob", "secret") is None
    clock.now += 61
    assert passwords.cached_user("alice", "secret") is None


def test_a_verification_that_raced_a_password_change_is_not_remembered():
    passwords = service(Clock())
    started = passwords.generation("alice")      # a verify of the old password begins
    passwords.forget_user("alice")               # the password changes meanwhile
    passwords.remember(user("alice"), "old", started)
    assert passwords.cached_user("alice", "old") is None


def test_forget_user_drops_every_cached_password_of_that_user():
    passwords = service(Clock())
    for name, pw in (("alice", "a"), ("alice", "b"), ("bob", "c")):
        passwords.remember(user(name), pw, passwords.generation(name))
    passwords.forget_user("alice")
    assert passwords.cached_user("alice", "a") is None and passwords.cached_user("alice", "b") is None
    assert passwords.cached_user("bob", "c") == user("bob")


def test_a_change_marked_by_another_process_clears_the_cache(tmp_path):
    marker = tmp_path / "accounts.changed"
    server = service(Clock(), marker=marker)
    server.remember(user("bob"), "pw", server.generation("bob"))
    assert server.cached_user("bob", "pw") is not None
    cli = service(Clock(), marker=marker)        # e.g. `parley user passwd` on the same data dir
    cli.forget_user("alice")
    assert server.cached_user("bob", "pw") is None


def test_the_cache_is_bounded():
    passwords = PasswordService(clock=Clock(), max_cached=2, hasher=make_hasher(1, 1024))
    for n in range(3):
        passwords.remember(user(f"user{n}"), "pw", 0)
    assert passwords.cached_user("user0", "pw") is None
    assert passwords.cached_user("user2", "pw") is not None


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


def test_a_cached_login_slides_while_used_and_expires_when_idle():
    clock = Clock()
    passwords = PasswordService(cache_seconds=60, cache_max_seconds=3600, clock=clock, hasher=make_hasher(1, 1024))
    passwords.remember(user("alice"), "secret", 0)
    for _ in range(10):                           # used every 50 s for 500 s: never re-verified
        clock.now += 50
        assert passwords.cached_user("alice", "secret") == user("alice")
    clock.now += 61                               # then idle for longer than cache_seconds
    assert passwords.cached_user("alice", "secret") is None


def test_a_cached_login_ends_at_its_hard_bound_however_often_it_is_used():
    clock = Clock()
    passwords = PasswordService(cache_seconds=60, cache_max_seconds=300, jitter=0, clock=clock,
                                hasher=make_hasher(1, 1024))
    passwords.remember(user("alice"), "secret", 0)
    for _ in range(5):
        clock.now += 59
        assert passwords.cached_user("alice", "secret") is not None
    clock.now += 6                                # 301 s after the verification
    assert passwords.cached_user("alice", "secret") is None


def test_hard_bounds_of_logins_made_together_are_spread_out():
    import random
    clock = Clock()
    passwords = PasswordService(cache_seconds=10_000, cache_max_seconds=1000, jitter=0.2, clock=clock,
                                hasher=make_hasher(1, 1024), rng=random.Random(7))
    for n in range(100):                          # a restart's reconnect storm: all at once
        passwords.remember(user(f"user{n}"), "pw", 0)
    alive = []
    for second in range(790, 1011, 20):
        clock.now = 1000.0 + second
        alive.append(sum(passwords.cached_user(f"user{n}", "pw") is not None for n in range(100)))
    assert alive[0] == 100 and alive[-1] == 0     # none before 0.8 × the bound, none after it
    assert len(set(alive)) >= 6                   # and in between they leave a few at a time


def test_a_hash_with_other_parameters_needs_a_rehash():
    old = make_hasher(1, 1024).hash("pw")
    assert service(Clock()).needs_rehash(old) is False
    stronger = PasswordService(clock=Clock(), hasher=make_hasher(2, 2048))
    assert stronger.needs_rehash(old) is True
    assert stronger.needs_rehash("not an argon2 hash") is False
