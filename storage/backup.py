"""Backup and restore of the SQLite database (`parley backup`, `parley restore`).

A backup is taken through its own connection with SQLite's online backup API while the server
keeps running: copying every page in one step holds one read transaction (WAL readers never block
the writer), so the copy is one consistent snapshot that contains every transaction committed
before it began. It is written next to the target, flushed and renamed into place, so FILE is
either absent or a complete, checked database.
"""
from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from . import migrations

# Tables every Parley schema has had since step 1: their presence tells a Parley database apart
# from any other SQLite file.
REQUIRED_TABLES = {"users", "rooms", "participants", "messages", "secrets"}


class BackupError(Exception):
    """A one-line reason shown to the operator."""


def _open_existing(path: Path, *, readonly: bool) -> sqlite3.Connection:
    mode = "ro" if readonly else "rw"   # never "rwc": a missing file is an error, not a new database
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode={mode}", uri=True, isolation_level=None)
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.DatabaseError as exc:
        if not path.exists():
            raise BackupError(f"{path}: no such file") from None
        raise BackupError(f"{path}: not a SQLite database ({exc})") from None


def check_parley_database(conn: sqlite3.Connection, path: Path) -> int:
    """Raise BackupError unless `conn` is an intact Parley database this version can run; returns
    its schema version."""
    try:
        result = conn.execute("PRAGMA integrity_check").fetchall()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path}: not a SQLite database ({exc})") from None
    if [tuple(r) for r in result] != [("ok",)]:
        raise BackupError(f"{path}: integrity check failed: {result[0][0]}")
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if not REQUIRED_TABLES <= tables or version < 1:
        raise BackupError(f"{path}: not a Parley database")
    if version > len(migrations.STEPS):
        raise BackupError(f"{path}: schema version {version} is newer than this Parley "
                          f"({len(migrations.STEPS)}); upgrade Parley first")
    return version


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy(source: sqlite3.Connection, target: Path) -> None:
    """Copy `source` into a new file `target` (replacing it) through a temporary sibling."""
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    partial.unlink(missing_ok=True)
    dest = sqlite3.connect(str(partial), isolation_level=None)
    try:
        source.backup(dest, pages=-1)   # all pages in one step: one snapshot of the source
        # A single self-contained file: no -wal beside it to forget when copying it elsewhere.
        dest.execute("PRAGMA journal_mode=DELETE")
        check_parley_database(dest, target)
    except BaseException:
        dest.close()
        partial.unlink(missing_ok=True)
        raise
    dest.close()
    with open(partial, "rb") as f:
        os.fsync(f.fileno())
    os.replace(partial, target)
    _fsync_dir(target.parent)


def backup(db_path: Path, target: Path) -> Path:
    """Write a checked copy of the database at `db_path` to `target`; returns its absolute path."""
    target = target.expanduser().absolute()
    if target.is_dir():
        target = target / time.strftime("parley-%Y%m%d-%H%M%S.sqlite3")
    if not target.parent.is_dir():
        raise BackupError(f"{target.parent}: no such directory")
    if target.resolve() == db_path.resolve():
        raise BackupError(f"{target}: that is the live database")
    source = _open_existing(db_path, readonly=False)   # rw: a WAL reader may need to set up -shm
    try:
        check_parley_database(source, db_path)
        _copy(source, target)
    finally:
        source.close()
    return target


def restore(backup_file: Path, db_path: Path) -> Path | None:
    """Put `backup_file` in place as the database at `db_path`. The caller holds the data-dir lock
    (no server runs). The current database, if any, is kept beside it as
    parley.sqlite3.before-restore-<time>; returns that path (None if there was none). The restored
    file takes the replaced one's permissions (and, when run as root, its owner)."""
    backup_file = backup_file.expanduser().absolute()
    source = _open_existing(backup_file, readonly=True)
    try:
        check_parley_database(source, backup_file)
        db_path.parent.mkdir(parents=True, exist_ok=True)
        staged = db_path.with_name(db_path.name + ".restoring")
        _copy(source, staged)
    finally:
        source.close()
    kept: Path | None = None
    owner = db_path.stat() if db_path.exists() else None
    if owner is not None:
        # Fold the old database's WAL into it first: a leftover -wal beside the restored file
        # would be replayed onto it (and corrupt it); the kept copy must be complete on its own.
        old = sqlite3.connect(str(db_path), isolation_level=None)
        try:
            old.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            old.close()
        kept = db_path.with_name(f"{db_path.name}.before-restore-{time.strftime('%Y%m%d-%H%M%S')}")
        os.replace(db_path, kept)
    for suffix in ("-wal", "-shm"):
        db_path.with_name(db_path.name + suffix).unlink(missing_ok=True)
    if owner is not None:
        os.chmod(staged, owner.st_mode & 0o777)
        if os.geteuid() == 0:   # root restoring for the service's user: the server must still write it
            os.chown(staged, owner.st_uid, owner.st_gid)
    os.replace(staged, db_path)
    _fsync_dir(db_path.parent)
    return kept
