"""`parley migrate-to URL`: copy an SQLite data dir into an empty PostgreSQL database.

Everything happens in one PostgreSQL transaction: the schema is brought to the version of this
Parley, every table is copied with COPY (parents before children, following the foreign keys),
identity sequences are moved past the copied ids, and the row count of every table is compared
with the source's before COMMIT. Any difference, or any error, rolls the whole copy back, so the
target holds either a complete copy or no rows at all (at most the empty schema, and a second
attempt is allowed). A target holding any row is refused: merging two
histories is not something a copy can do safely.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import db as sqlite_db
from .pg import apply_migrations, connect_raw, identity_tables


class MigrationRefused(Exception):
    """The copy was not made (message says why); the target is unchanged."""


@dataclass(frozen=True)
class CopiedTable:
    name: str
    rows: int


def _source_tables(src: sqlite3.Connection) -> list[str]:
    """User tables in an order where every table comes after the tables it references."""
    names = [r[0] for r in src.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    # Virtual tables (full-text indexes) and their shadow tables are derived data, not copied rows.
    virtual = {r[0] for r in src.execute("SELECT name FROM sqlite_master WHERE sql LIKE 'CREATE VIRTUAL%'")}
    names = [n for n in names if n not in virtual and not any(n.startswith(v + "_") for v in virtual)]
    parents = {n: {r[2] for r in src.execute(f'PRAGMA foreign_key_list("{n}")')} - {n} for n in names}
    ordered: list[str] = []
    while len(ordered) < len(names):
        ready = [n for n in names if n not in ordered and parents[n] <= set(ordered)]
        if not ready:   # a reference cycle (none in Parley's schema): the copy fails on the foreign key
            ready = [n for n in names if n not in ordered]
        ordered.extend(ready)
    return ordered


def _columns(src: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in src.execute(f'PRAGMA table_info("{table}")')]


def _sqlite_sequence(src: sqlite3.Connection, table: str) -> int:
    """The highest id AUTOINCREMENT has handed out for `table` (0 if none, or no such table)."""
    try:
        row = src.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)).fetchone()
    except sqlite3.OperationalError:   # no AUTOINCREMENT table at all
        return 0
    return int(row[0]) if row else 0


def _check_derived(src: sqlite3.Connection, raw: Any) -> list[CopiedTable]:
    """Derived tables are not copied: PostgreSQL's own triggers (storage/pg_migrations.py) rebuilt
    the search index while the messages were copied. Verify it covers every comment."""
    expected = src.execute("SELECT COUNT(*) FROM messages WHERE verb = 'comment'").fetchone()[0]
    got = raw.execute("SELECT COUNT(*) FROM message_search").fetchone()[0]
    if got != expected:
        raise MigrationRefused(f"search index: {expected} comments but {got} indexed; nothing kept")
    return [CopiedTable("message_search", int(got))]


def _target_rows(raw: Any) -> list[tuple[str, int]]:
    tables = [r[0] for r in raw.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename")]
    counts = []
    for table in tables:
        if table == "parley_schema_version":
            continue
        row = raw.execute(f'SELECT EXISTS (SELECT 1 FROM "{table}")').fetchone()
        if row[0]:
            counts.append((table, 1))
    return counts


def migrate(sqlite_path: str | Path, url: str) -> list[CopiedTable]:
    """Copy; returns the tables and their verified row counts."""
    if not Path(sqlite_path).exists():
        raise MigrationRefused(f"no database at {sqlite_path} (check --data-dir)")
    src = sqlite_db.connect(sqlite_path)   # also brings an older data dir to the current schema
    raw = connect_raw(url, statement_timeout_ms=0)
    try:
        busy = _target_rows(raw)
        raw.rollback()
        if busy:
            raise MigrationRefused(f"the target database is not empty (table {busy[0][0]} has rows); "
                                   "migrate-to only copies into an empty database")
        apply_migrations(raw)
        identity = identity_tables(raw)
        copied = []
        with raw.transaction():
            target_columns = {}
            for r in raw.execute("""SELECT table_name, column_name FROM information_schema.columns
                                     WHERE table_schema = current_schema()"""):
                target_columns.setdefault(r[0], set()).add(r[1])
            for table in _source_tables(src):
                if table not in target_columns:
                    raise MigrationRefused(f"table {table} of the SQLite database has no PostgreSQL counterpart")
                columns = [c for c in _columns(src, table) if c in target_columns[table]]
                quoted = ", ".join(f'"{c}"' for c in columns)
                with raw.cursor().copy(f'COPY "{table}" ({quoted}) FROM STDIN') as copy:
                    for row in src.execute(f'SELECT {quoted} FROM "{table}"'):
                        copy.write_row(tuple(row))
                if table in identity:   # new rows must not reuse a copied id, nor one AUTOINCREMENT handed out
                    raw.execute(f"""SELECT setval(pg_get_serial_sequence('"{table}"', 'id'),
                                                  GREATEST(COALESCE((SELECT MAX(id) FROM "{table}"), 0), %s) + 1,
                                                  false)""", (_sqlite_sequence(src, table),))
                expected = src.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]
                got = raw.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]
                if got != expected:   # raising inside the transaction block rolls everything back
                    raise MigrationRefused(f"table {table}: {expected} rows in SQLite but {got} copied; nothing kept")
                copied.append(CopiedTable(table, int(got)))
            copied.extend(_check_derived(src, raw))
        return copied
    finally:
        src.close()
        raw.close()
