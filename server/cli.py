"""The `parley` command: serve, manage users and groups, back up and restore the data directory."""
from __future__ import annotations

import argparse
import getpass
import sqlite3
import sys
from typing import Any, Awaitable, Callable

import trio

from storage.backup import BackupError

from . import __version__
from . import config as config_mod
from .datadir_lock import DataDirBusy
from .domain import accounts, app_passwords
from .domain.context import Ctx
from .domain.errors import ParleyError


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="where the SQLite database lives (default ./data)")
    p.add_argument("--database-url", help="postgresql://USER:PASS@HOST:PORT/DB: use PostgreSQL, not data-dir's SQLite")
    p.add_argument("--config", help="TOML configuration file (see config.example.toml)")
    p.add_argument("--redis-url", help="redis://HOST:PORT/N of the cluster bus (docs/DECISIONS-LOG.md)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="parley", description="Parley: Talk API v1 chat and signaling server")
    parser.add_argument("--version", action="version", version=f"parley {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the API, signaling and web client on one port")
    serve.add_argument("--bind", help="HOST:PORT (default 127.0.0.1:8080)")
    serve.add_argument("--tls-cert", help="PEM certificate (chain): serve HTTPS and WSS on --bind")
    serve.add_argument("--tls-key", help="PEM private key of --tls-cert")
    _common(serve)

    user = sub.add_parser("user", help="manage user accounts").add_subparsers(dest="action", required=True)
    add = user.add_parser("add", help="create a user")
    add.add_argument("user_id")
    add.add_argument("--password", required=True)
    add.add_argument("--display-name")
    add.add_argument("--admin", action="store_true")
    _common(add)
    _common(user.add_parser("list", help="list users"))
    passwd = user.add_parser("passwd", help="set a user's password (asks for it unless --password)")
    passwd.add_argument("user_id")
    passwd.add_argument("--password")
    passwd.add_argument("--revoke-app-passwords", action="store_true",
                        help="also revoke the user's app passwords (kept by default, as in Nextcloud)")
    _common(passwd)
    apppw = user.add_parser("apppasswords", help="list a user's app passwords, or revoke them")
    apppw.add_argument("user_id")
    apppw.add_argument("--revoke", metavar="ID", type=int, action="append", default=[],
                       help="revoke the app password with this id (repeatable)")
    apppw.add_argument("--revoke-all", action="store_true", help="revoke all of the user's app passwords")
    _common(apppw)
    delete = user.add_parser("delete", help="delete a user and the rooms only they kept alive")
    delete.add_argument("user_id")
    _common(delete)

    group = sub.add_parser("group", help="manage groups").add_subparsers(dest="action", required=True)
    gadd = group.add_parser("add", help="create a group")
    gadd.add_argument("group_id")
    _common(gadd)
    adduser = group.add_parser("adduser", help="add a user to a group")
    adduser.add_argument("group_id")
    adduser.add_argument("user_id")
    _common(adduser)

    migrate = sub.add_parser("migrate-to", help="copy the SQLite data dir into an empty PostgreSQL database")
    migrate.add_argument("url", help="postgresql://USER:PASS@HOST:PORT/DB (must hold no rows)")
    migrate.add_argument("--data-dir", help="the SQLite data dir to copy (default ./data)")
    migrate.add_argument("--config", help="TOML configuration file (see config.example.toml)")

    backup = sub.add_parser("backup", help="write a consistent, checked copy of the database (safe while serving)")
    backup.add_argument("file", help="the backup file to write (a directory: a dated file in it)")
    _common(backup)
    restore = sub.add_parser("restore", help="put a backup in place (only while no server runs on the data dir)")
    restore.add_argument("file", help="a file written by `parley backup`")
    _common(restore)
    return parser


def _migrate_to(config: config_mod.Config, url: str) -> int:
    from storage.migrate_to import MigrationRefused, migrate
    from storage.pg import redact
    if not url.startswith(("postgresql://", "postgres://")):
        print("parley: error: the target must be a postgresql:// URL", file=sys.stderr)
        return 2
    try:
        copied = migrate(config.db_path, url)
    except MigrationRefused as exc:
        print(f"parley: error: {exc}", file=sys.stderr)
        return 1
    for table in copied:
        print(f"{table.name}\t{table.rows}")
    total = sum(t.rows for t in copied)
    print(f"copied {total} rows in {len(copied)} tables from {config.db_path} to {redact(url)}; counts verified")
    return 0


def _backup_or_restore(args: argparse.Namespace, config: config_mod.Config) -> None:
    from pathlib import Path

    from storage import backup as backup_mod

    from .datadir_lock import DataDirLock
    if config.database_url:   # the SQLite file is not where the data is
        raise BackupError(f"{args.command} covers the SQLite data dir; with a PostgreSQL database_url "
                          "use PostgreSQL's own tools (pg_dump / pg_restore)")
    if args.command == "backup":
        print(backup_mod.backup(config.db_path, Path(args.file)))
        return
    # Holding the lock for the whole swap also keeps a server from starting half-way through it.
    with DataDirLock(config.data_dir):
        kept = backup_mod.restore(Path(args.file), config.db_path)
    print(f"restored {Path(args.file).absolute()} to {config.db_path.absolute()}")
    if kept is not None:
        print(f"the previous database is kept as {kept}")


def _with_ctx(config: config_mod.Config, action: Callable[[Ctx], Awaitable[Any]]) -> Any:
    from pathlib import Path

    from signaling.hub import Hub
    from storage.db import open_database

    async def main() -> Any:
        Path(config.data_dir).mkdir(parents=True, exist_ok=True)
        db = open_database(config.database_url, config.db_path, 1)
        try:
            passwords = config.password_service()
            try:
                ctx = Ctx(db=db, hub=Hub(), config=config, passwords=passwords, secret=b"")
                if not config.redis_url:
                    return await action(ctx)
                # A cluster: the action's events (e.g. a password change's auth-cache invalidation)
                # must reach the running nodes before this command exits.
                from .cluster import attach
                ctx.bus = attach(config.redis_url, ctx.hub, ctx.passwords)
                async with trio.open_nursery() as nursery:
                    await nursery.start(ctx.bus.run)
                    try:
                        result = await action(ctx)
                        if not await ctx.bus.flush():
                            print("parley: warning: the cluster bus did not take the change; "
                                  "other nodes forget cached logins within auth_cache_seconds", file=sys.stderr)
                        return result
                    finally:
                        nursery.cancel_scope.cancel()
            finally:
                passwords.close()
        finally:
            db.close()
    return trio.run(main)


def _read_password(args: argparse.Namespace) -> str:
    if args.password is not None:
        return args.password
    if sys.stdin.isatty():
        first = getpass.getpass("New password: ")
        if getpass.getpass("Repeat: ") != first:
            raise ParleyError("the passwords do not match")
        return first
    return sys.stdin.readline().rstrip("\n")


def _app_passwords(config: config_mod.Config, args: argparse.Namespace) -> None:
    """`parley user apppasswords USER [--revoke ID]... [--revoke-all]`: revoke, then list what is left."""
    import time

    async def action(ctx: Ctx):
        if args.revoke_all:
            print(f"revoked {await app_passwords.revoke_all(ctx, args.user_id)} app password(s) of {args.user_id}")
        for app_password_id in args.revoke:
            await app_passwords.revoke(ctx, args.user_id, app_password_id)
            print(f"revoked app password {app_password_id} of {args.user_id}")
        return await app_passwords.list_of(ctx, args.user_id)

    def when(stamp: int) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(stamp)) if stamp else "never"
    for entry in _with_ctx(config, action):
        print(f"{entry.id}\t{entry.name}\tcreated {when(entry.created_at)}\tlast used {when(entry.last_used_at)}")


def _environment_error(exc: BaseException) -> OSError | sqlite3.Error | None:
    """The OS or database error behind `exc`, looking inside exception groups (trio wraps what
    fails inside a nursery, e.g. hypercorn's bind)."""
    from storage.db import DatabaseUnavailable
    if isinstance(exc, DatabaseUnavailable):
        return OSError(str(exc))
    if isinstance(exc, (OSError, sqlite3.Error)):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _environment_error(inner)
            if found is not None:
                return found
    return None


def _describe(error: OSError | sqlite3.Error, args: argparse.Namespace, config: config_mod.Config | None) -> str:
    if isinstance(error, OSError) and error.filename is not None:
        return f"{error.strerror or error}: {error.filename}"
    if isinstance(error, OSError) and args.command == "serve" and config is not None:
        return f"cannot listen on {config.bind}: {error.strerror or error}"
    if isinstance(error, sqlite3.Error) and config is not None:
        return f"database {config.db_path}: {error}"
    return str(error)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config: config_mod.Config | None = None
    try:
        config = config_mod.load(args.config, data_dir=args.data_dir, database_url=getattr(args, "database_url", None),
                                 bind=getattr(args, "bind", None),
                                 tls_cert=getattr(args, "tls_cert", None), tls_key=getattr(args, "tls_key", None),
                                 redis_url=getattr(args, "redis_url", None))
        from .logs import configure as configure_logging
        configure_logging(config.log_level, config.log_format,
                          config.access_log if args.command == "serve" else "")
        if args.command == "migrate-to":
            return _migrate_to(config, args.url)
        if args.command == "serve":
            from .runner import run
            run(config)
            return 0
        if args.command == "user":
            if args.action == "add":
                user = _with_ctx(config, lambda ctx: accounts.add_user(
                    ctx, args.user_id, args.password, args.display_name, args.admin))
                print(f"created user {user.id}" + (" (admin)" if user.is_admin else ""))
            elif args.action == "list":
                for user in _with_ctx(config, lambda ctx: accounts.list_users(ctx)):
                    print(f"{user.id}\t{user.display_name}" + ("\tadmin" if user.is_admin else ""))
            elif args.action == "passwd":
                password = _read_password(args)
                _with_ctx(config, lambda ctx: accounts.set_password(
                    ctx, args.user_id, password, revoke_app_passwords=args.revoke_app_passwords))
                print(f"password of {args.user_id} changed"
                      + (", app passwords revoked" if args.revoke_app_passwords else ""))
            elif args.action == "apppasswords":
                _app_passwords(config, args)
            elif args.action == "delete":
                _with_ctx(config, lambda ctx: accounts.delete_user(ctx, args.user_id))
                print(f"deleted user {args.user_id}")
        elif args.command in ("backup", "restore"):
            _backup_or_restore(args, config)
        elif args.command == "group":
            if args.action == "add":
                _with_ctx(config, lambda ctx: accounts.add_group(ctx, args.group_id))
                print(f"created group {args.group_id}")
            elif args.action == "adduser":
                _with_ctx(config, lambda ctx: accounts.set_membership(ctx, args.group_id, args.user_id, True))
                print(f"added {args.user_id} to {args.group_id}")
        return 0
    except ParleyError as exc:
        print(f"parley: error: {exc.message}", file=sys.stderr)
        return 1
    except (BackupError, DataDirBusy) as exc:
        print(f"parley: error: {exc}", file=sys.stderr)
        return 1
    except config_mod.ConfigError as exc:
        print(f"parley: config error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:   # an unusable data directory, a port in use, a broken database file
        error = _environment_error(exc)
        if error is None:
            raise
        print(f"parley: error: {_describe(error, args, config)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
