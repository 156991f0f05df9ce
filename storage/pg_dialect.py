"""SQLite-flavoured SQL → PostgreSQL SQL, and a connection that looks like sqlite3's to storage code.

Parley has one set of SQL statements and one migration history (storage/*.py, storage/migrations.py),
written for SQLite. Rather than keeping two copies that drift apart, the PostgreSQL engine rewrites
each statement once (cached) at the few places where the dialects differ:

- `?` placeholders become `%s` (and a literal `%` becomes `%%`), outside quoted strings;
- `INSERT OR IGNORE` becomes `INSERT … ON CONFLICT DO NOTHING`;
- two-argument scalar `MAX(a, b)` / `MIN(a, b)` become `GREATEST` / `LEAST`, `IFNULL` `COALESCE`;
- `a IS NOT ?` / `a IS ?` become `IS [NOT] DISTINCT FROM`;
- `LIKE` becomes `ILIKE` (SQLite's LIKE ignores ASCII case; the searches rely on that);
- in migrations, `INTEGER PRIMARY KEY [AUTOINCREMENT]` becomes an identity column and other
  `INTEGER` columns `BIGINT` (SQLite integers are 64-bit; millisecond timestamps need it);
- `cursor.lastrowid` after an INSERT into a table with an identity `id` comes from an appended
  `RETURNING id`.

A statement that cannot be expressed this way belongs in a dialect-specific branch inside storage/,
never in domain code.
"""
from __future__ import annotations

import functools
import re
from decimal import Decimal
from typing import Any, Callable, Iterable, Iterator, Sequence

_INSERT_TABLE = re.compile(r"^\s*INSERT\s+(?:OR\s+IGNORE\s+)?INTO\s+\"?(\w+)\"?", re.IGNORECASE)
_OR_IGNORE = re.compile(r"^(\s*INSERT)\s+OR\s+IGNORE\b", re.IGNORECASE)
_SCALAR_MINMAX = re.compile(r"\b(MAX|MIN)\s*\(", re.IGNORECASE)
_RETURNING = re.compile(r"\bRETURNING\b", re.IGNORECASE)


def _split_quoted(sql: str) -> list[tuple[bool, str]]:
    """[(is_quoted, text)]: single-quoted literals and double-quoted identifiers kept whole."""
    parts: list[tuple[bool, str]] = []
    i, start = 0, 0
    while i < len(sql):
        ch = sql[i]
        if ch in "'\"":
            if i > start:
                parts.append((False, sql[start:i]))
            j = i + 1
            while j < len(sql):
                if sql[j] == ch:
                    if j + 1 < len(sql) and sql[j + 1] == ch:   # '' is an escaped quote
                        j += 2
                        continue
                    break
                j += 1
            parts.append((True, sql[i:j + 1]))
            i = start = j + 1
            continue
        i += 1
    if start < len(sql):
        parts.append((False, sql[start:]))
    return parts


def _top_level_comma(text: str, open_at: int) -> tuple[bool, int]:
    """From the '(' at `open_at`: (has a top-level comma, index of the matching ')')."""
    depth, comma = 0, False
    for k in range(open_at, len(text)):
        if text[k] == "(":
            depth += 1
        elif text[k] == ")":
            depth -= 1
            if depth == 0:
                return comma, k
        elif text[k] == "," and depth == 1:
            comma = True
    return comma, len(text)


def _scalar_minmax(text: str) -> str:
    out, pos = [], 0
    for match in _SCALAR_MINMAX.finditer(text):
        if match.start() < pos:
            continue
        comma, _ = _top_level_comma(text, match.end() - 1)
        if comma:   # MAX(a, b) is SQLite's scalar max; the aggregate takes one argument
            out.append(text[pos:match.start()])
            out.append("GREATEST(" if match.group(1).upper() == "MAX" else "LEAST(")
            pos = match.end()
    out.append(text[pos:])
    return "".join(out)


def _rewrite_plain(text: str) -> str:
    # `a IS NOT ?` (SQLite's null-safe inequality) is IS DISTINCT FROM; `a IS ?` its equality.
    text = re.sub(r"\bIS\s+NOT\s+\?", "IS DISTINCT FROM ?", text, flags=re.IGNORECASE)
    text = re.sub(r"\bIS\s+\?", "IS NOT DISTINCT FROM ?", text, flags=re.IGNORECASE)
    text = text.replace("%", "%%").replace("?", "%s")
    text = re.sub(r"\bIFNULL\s*\(", "COALESCE(", text, flags=re.IGNORECASE)
    text = re.sub(r"\bLIKE\b", "ILIKE", text, flags=re.IGNORECASE)
    return _scalar_minmax(text)


@functools.lru_cache(maxsize=4096)
def translate(sql: str, identity_tables: frozenset[str]) -> tuple[str, bool]:
    """(PostgreSQL text, whether it returns the new row's id for `lastrowid`)."""
    # A literal % is %% for psycopg even inside quotes; a ? inside quotes stays a question mark.
    body = "".join(part.replace("%", "%%") if quoted else _rewrite_plain(part)
                   for quoted, part in _split_quoted(sql))
    body = body.rstrip().rstrip(";")
    ignore = _OR_IGNORE.match(body)
    if ignore:
        body = _OR_IGNORE.sub(r"\1", body, count=1)
        returning = _RETURNING.search(body)
        if returning:
            body = body[:returning.start()] + "ON CONFLICT DO NOTHING " + body[returning.start():]
        else:
            body += " ON CONFLICT DO NOTHING"
    wants_id = False
    table = _INSERT_TABLE.match(sql)
    if table and table.group(1).lower() in identity_tables and not _RETURNING.search(body):
        body += " RETURNING id"
        wants_id = True
    return body, wants_id


def translate_ddl(script: str) -> str:
    """A migration step in SQLite DDL → PostgreSQL DDL (types only; statements stay as written)."""
    out = []
    for quoted, part in _split_quoted(script):
        if not quoted:
            part = re.sub(r"\bINTEGER\s+PRIMARY\s+KEY(\s+AUTOINCREMENT)?\b",
                          "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", part, flags=re.IGNORECASE)
            part = re.sub(r"\bINTEGER\b", "BIGINT", part, flags=re.IGNORECASE)
            part = re.sub(r"\bBLOB\b", "BYTEA", part, flags=re.IGNORECASE)
            part = re.sub(r"\bREAL\b", "DOUBLE PRECISION", part, flags=re.IGNORECASE)
            part = _scalar_minmax(part)
        out.append(part)
    return "".join(out)


class Row:
    """What sqlite3.Row offers storage code: row["name"], row[0], keys(), iteration."""

    __slots__ = ("_values", "_index")

    def __init__(self, values: Sequence[Any], index: dict[str, int]) -> None:
        self._values = values
        self._index = index

    def __getitem__(self, key: int | str) -> Any:
        if isinstance(key, str):
            return self._values[self._index[key]]
        return self._values[key]

    def keys(self) -> list[str]:
        return list(self._index)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Row({dict(zip(self._index, self._values))!r})"


def row_factory(cursor: Any):
    description = cursor.description
    if description is None:
        return tuple
    index = {column.name: i for i, column in enumerate(description)}

    def make(values: Sequence[Any]) -> Row:
        return Row(tuple(_plain(v) for v in values), index)
    return make


def _plain(value: Any) -> Any:
    # SUM() over BIGINT is NUMERIC in PostgreSQL; SQLite gives an int. Storage code expects the latter.
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


class Cursor:
    """The result of `PgConnection.execute`: fetchone/fetchall/iteration/lastrowid/rowcount."""

    def __init__(self, cursor: Any, lastrowid: int | None) -> None:
        self._cursor = cursor
        self.lastrowid = lastrowid
        self.rowcount = cursor.rowcount

    def fetchone(self) -> Row | None:
        if self._cursor.description is None:
            return None
        return self._cursor.fetchone()

    def fetchall(self) -> list[Row]:
        if self._cursor.description is None:
            return []
        return self._cursor.fetchall()

    def __iter__(self) -> Iterator[Row]:
        return iter(self.fetchall())


class PgConnection:
    """Handed to units of work instead of a sqlite3.Connection; same calls, PostgreSQL underneath."""

    dialect = "postgresql"

    def __init__(self, conn: Any, identity_tables: frozenset[str]) -> None:
        self.raw = conn
        self._identity_tables = identity_tables
        self._trace: Callable[[str], None] | None = None

    def set_trace_callback(self, callback: Callable[[str], None] | None) -> None:
        """As sqlite3's: `callback(statement)` for each statement run (here as translated)."""
        self._trace = callback

    def execute(self, sql: str, params: Sequence[Any] | dict = ()) -> Cursor:
        text, wants_id = translate(sql, self._identity_tables)
        if self._trace is not None:
            self._trace(text)
        cursor = self.raw.cursor(row_factory=row_factory)
        cursor.execute(text, _params(params))
        lastrowid = None
        if wants_id:
            row = cursor.fetchone()
            lastrowid = int(row[0]) if row is not None else None
        return Cursor(cursor, lastrowid)

    def executemany(self, sql: str, seq: Iterable[Sequence[Any]]) -> Cursor:
        text, _ = translate(sql, frozenset())   # no RETURNING: executemany has no lastrowid
        cursor = self.raw.cursor(row_factory=row_factory)
        cursor.executemany(text, [_params(p) for p in seq])
        return Cursor(cursor, None)


def _params(params: Sequence[Any] | dict) -> Sequence[Any]:
    if isinstance(params, dict):
        raise TypeError("named parameters are not supported by the PostgreSQL engine; use ?")
    params = tuple(params)
    for value in params:
        # SQLite stores NUL in text; PostgreSQL cannot even receive it. Say so instead of a 500.
        if isinstance(value, str) and "\x00" in value:
            from .db import UnstorableValue
            raise UnstorableValue("text may not contain NUL characters")
    return params
