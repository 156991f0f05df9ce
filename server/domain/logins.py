"""Checking a user id and password (Basic auth on every API request, the web client's /login).

The order is what keeps a flood cheap:
1. the verification cache (server/domain/passwords.py): no query, no hash;
2. an app password (server/domain/app_passwords.py): one keyed hash and one indexed query;
3. admission (server/domain/login_guard.py and the per-account throttle): 429 before any hashing;
4. one argon2id verification on the bounded hashers (server/domain/hashing.py): 503 when their
   queue is full.

User enumeration: an unknown user id goes through steps 2-4 exactly like a known one — the same
query, the same admission, the same charge on failure — and is verified against a dummy hash made
with the current parameters, on the same hashers, so within the budget its answer (401) takes as
long as a wrong password of a known user; outside the budget both get the same 429. (A known user
whose hash still has old parameters costs differently until their next successful login re-hashes
it.) Counters for /metrics: failures in `Throttle.failed` (via `_failed`), refusals in
`Throttle.check` and `_admit`, 503s in `LoginStats.on_busy`.
"""
from __future__ import annotations

from dataclasses import dataclass

from storage import accounts as accounts_db
from storage.records import User

from . import app_passwords
from .context import Ctx
from .errors import Overloaded, TooManyAttempts


@dataclass(frozen=True, slots=True)
class Login:
    user: User
    app_password_id: int | None = None   # set when the credential was an app password


async def _admit(ctx: Ctx, client: str, throttle_key: tuple[str, str]) -> None:
    """Raises TooManyAttempts (429) before any hashing. The per-account throttle counts its own
    refusals (`Throttle.refusals_total`); the address and budget refusals are counted here."""
    await ctx.passwords.throttle_check(throttle_key)
    try:
        await ctx.passwords.admit(client)
    except TooManyAttempts:
        ctx.passwords.stats.on_throttled()
        raise


async def _failed(ctx: Ctx, client: str, throttle_key: tuple[str, str]) -> None:
    await ctx.passwords.admission_failed(client)
    await ctx.passwords.throttle_failed(throttle_key)
    ctx.passwords.stats.on_failed()


async def authenticate(ctx: Ctx, user_id: str, password: str, client: str, *,
                       allow_app_passwords: bool = True) -> Login | None:
    """The login for these credentials, or None when they are wrong. Raises TooManyAttempts (429)
    when this client or the server has failed too often lately, Overloaded (503) when the password
    hashers are saturated. `allow_app_passwords=False` (the web client's /login) accepts only the
    account password."""
    passwords = ctx.passwords
    hit = passwords.cached(user_id, password)
    if hit is not None:
        if hit.app_password_id is not None and not allow_app_passwords:
            return None
        return Login(hit.user, hit.app_password_id)
    generation = passwords.generation(user_id)
    if allow_app_passwords:
        found = await app_passwords.check(ctx, user_id, password)
        if found is not None:
            passwords.remember(found[0], password, generation, found[1])
            return Login(found[0], found[1])
    throttle_key = (client, "user:" + user_id)
    await _admit(ctx, client, throttle_key)
    try:
        user = await ctx.db.run(lambda conn: accounts_db.get_user(conn, user_id))
        stored_hash = user.password_hash if user is not None else await passwords.dummy_hash()
        correct = await passwords.verify(stored_hash, password)
    except Overloaded:
        await passwords.admission_returned(client)   # nothing was checked: the try does not count
        passwords.stats.on_busy()
        raise
    except BaseException:
        await passwords.admission_returned(client)
        raise
    if not correct or user is None:
        await _failed(ctx, client, throttle_key)
        return None
    await passwords.admission_returned(client)
    await passwords.throttle_succeeded(throttle_key)
    passwords.remember(user, password, generation)
    if passwords.needs_rehash(user.password_hash):
        await _rehash(ctx, user, password)
    return Login(user)


async def _rehash(ctx: Ctx, user: User, password: str) -> None:
    """Store the password hashed with the current argon2 parameters (after a parameter change).
    Skipped when the hashers are busy: the next login tries again."""
    try:
        new_hash = await ctx.passwords.hash(password)
    except Overloaded:
        return
    await ctx.db.run(lambda conn: accounts_db.replace_password_hash(conn, user.id, user.password_hash, new_hash))
