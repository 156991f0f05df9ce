"""The pure rules for uploads (names, types, headers) and the FTS5 query builder."""
from __future__ import annotations

import sqlite3

import pytest

from server.domain import filetypes
from server.domain.previews import bucket
from storage.search import fts_query

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 16


@pytest.mark.parametrize("raw, name", [
    ("report.pdf", "report.pdf"), ("a/b/c.txt", "c.txt"), ("..\\..\\x.doc", "x.doc"), ("  spaced  ", "spaced"),
    ("..", ""), ("...", ""), ("", ""), (None, ""), ("a\x00b", "ab"), ("x\u202etxt.exe", "xtxt.exe"),
    (".bashrc", ".bashrc"),
])
def test_safe_name(raw, name):
    assert filetypes.safe_name(raw) == name


def test_long_names_keep_their_extension():
    name = filetypes.safe_name("a" * 400 + ".jpeg")
    assert len(name) == 255 and name.endswith(".jpeg")


@pytest.mark.parametrize("name, head, mimetype", [
    ("x.png", PNG, "image/png"), ("x.jpg", PNG, "image/png"), ("noext", PNG, "image/png"),
    ("x.png", b"<html>", "application/octet-stream"), ("x.mp3", b"plain", "application/octet-stream"),
    ("x.html", b"<html>", "text/html"), ("x.svg", b"<svg>", "image/svg+xml"), ("x.txt", b"hi", "text/plain"),
    ("x.unknownext", b"??", "application/octet-stream"), ("x.ogv", b"OggS", "video/ogg"),
    ("x.docx", b"PK\x03\x04", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
])
def test_detect_trusts_bytes_over_names(name, head, mimetype):
    assert filetypes.detect(name, head) == mimetype


@pytest.mark.parametrize("mimetype, served", [
    ("image/png", "image/png"), ("text/html", "application/octet-stream"),
    ("image/svg+xml", "application/octet-stream"), ("application/xhtml+xml", "application/octet-stream"),
    ("text/javascript", "application/octet-stream"), ("text/plain", "text/plain"),
])
def test_served_type_allow_list(mimetype, served):
    assert filetypes.served_type(mimetype) == served


def test_item_types():
    assert [filetypes.item_type(t) for t in ("image/gif", "video/mp4", "audio/ogg", "image/svg+xml", "text/plain")] \
        == ["media", "media", "audio", "file", "file"]
    assert filetypes.item_type("audio/mpeg", voice=True) == "voice"


def test_content_disposition_is_rfc6266():
    assert filetypes.content_disposition("a b.txt") == "attachment; filename=\"a b.txt\"; filename*=UTF-8''a%20b.txt"
    header = filetypes.content_disposition('日本";\\.txt')
    assert header == "attachment; filename=\"_____.txt\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC%22%3B%5C.txt"


def test_preview_buckets():
    assert [bucket(None, None), bucket(10, 0), bucket(100, 300), bucket(5000, None)] == [256, 64, 512, 1024]


@pytest.mark.parametrize("words", [['"'], ["a", "OR", "b"], ["NEAR"], ["x*"], ["col:v"]])
def test_fts_query_never_lets_syntax_through(words):
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(body)")
    conn.execute("INSERT INTO t VALUES ('a b NEAR x col v')")
    conn.execute("SELECT rowid FROM t WHERE t MATCH ?", (fts_query(words),)).fetchall()   # no error
    assert fts_query(["ab", "cd"]) == '"ab" "cd"*'
