"""Message search: one room, or every room of a user; FTS5 behind it, in step with the chat."""
from __future__ import annotations

import pytest

from storage import search as search_db

from ..support import ROLES, room_with_role
from .files_helpers import group_room, upload


async def say(actor, token: str, text: str) -> int:
    r = await actor.post(f"/chat/{token}", message=text)
    assert r.status == 201, r.text
    history = await actor.get(f"/chat/{token}", params={"limit": 1})
    return history.data[0]["id"]


async def test_search_in_a_room_is_newest_first_and_pages_backwards(users, p1):
    token = await group_room(p1)
    ids = [await say(p1, token, f"deploy number {n} is done") for n in range(5)]
    await say(p1, token, "unrelated chatter")
    r = await p1.get(f"/chat/{token}/search", params={"term": "deploy", "limit": 2})
    assert r.status == 200
    assert [m["id"] for m in r.data] == [ids[4], ids[3]]
    assert r.headers["x-chat-last-given"] == str(ids[3])
    older = await p1.get(f"/chat/{token}/search", params={"term": "deploy", "limit": 2,
                                                          "lastKnownMessageId": ids[3]})
    assert [m["id"] for m in older.data] == [ids[2], ids[1]]
    last = await p1.get(f"/chat/{token}/search", params={"term": "deploy", "lastKnownMessageId": ids[1]})
    assert [m["id"] for m in last.data] == [ids[0]]
    empty = await p1.get(f"/chat/{token}/search", params={"term": "deploy", "lastKnownMessageId": ids[0]})
    assert empty.status == 200 and empty.data == [] and "x-chat-last-given" not in empty.headers
    assert r.data[0]["message"] == "deploy number 4 is done" and r.data[0]["token"] == token


async def test_every_word_must_match_and_the_last_is_a_prefix(users, p1):
    token = await group_room(p1)
    both = await say(p1, token, "The Café opens at nine")
    await say(p1, token, "the cafe is closed")
    await say(p1, token, "opens tomorrow")
    r = await p1.get(f"/chat/{token}/search", params={"term": "cafe op"})
    assert [m["id"] for m in r.data] == [both]   # accents folded, "op" as a prefix of "opens"
    upper = await p1.get(f"/chat/{token}/search", params={"term": "CAFÉ OPENS"})
    assert [m["id"] for m in upper.data] == [both]


async def test_file_names_are_searchable(users, p1):
    token = await group_room(p1)
    shared = await upload(p1, token, "quarterly-report.pdf", b"%PDF-1.4 hello")
    r = await p1.get(f"/chat/{token}/search", params={"term": "quarterly"})
    assert [m["id"] for m in r.data] == [shared.data["id"]]
    assert r.data[0]["messageParameters"]["file"]["name"] == "quarterly-report.pdf"


async def test_search_everywhere_covers_only_the_callers_rooms(users, p1, p2):
    mine = await group_room(p1, "participant2", name="shared")
    private = await group_room(p1, name="p1 only")
    in_shared = await say(p1, mine, "release notes ready")
    await say(p1, private, "release party secrets")
    own = await p2.get("/search", params={"term": "release"})
    assert own.status == 200 and [(m["id"], m["token"]) for m in own.data] == [(in_shared, mine)]
    all_of_p1 = await p1.get("/search", params={"term": "release"})
    assert [m["token"] for m in all_of_p1.data] == [private, mine]
    v1 = await p2.get("/search", v=1, params={"term": "release"})
    assert v1.meta["statuscode"] == 100 and len(v1.data) == 1


async def test_guests_search_their_room_but_not_everywhere(users, p1, guest):
    token = await p1.create_room(3, name="public")
    hit = await say(p1, token, "welcome guests")
    assert (await guest.get(f"/chat/{token}/search", params={"term": "welcome"})).status == 404
    assert (await guest.join(token)).status == 200
    r = await guest.get(f"/chat/{token}/search", params={"term": "welcome"})
    assert [m["id"] for m in r.data] == [hit]
    assert (await guest.get("/search", params={"term": "welcome"})).status == 401


@pytest.mark.parametrize("role", ROLES)
async def test_room_search_permissions(users, p1, p2, role):
    p2 = p1 if role == "owner" else p2
    token = await room_with_role(p1, p2, role, room_type=2)
    await say(p1, token, "findable text")
    r = await p2.get(f"/chat/{token}/search", params={"term": "findable"})
    if role == "stranger":
        assert r.status == 404
    else:
        assert r.status == 200 and len(r.data) == 1


@pytest.mark.parametrize("term", ['"', 'a" OR "b', "NEAR(a b)", "*", "col:value", "a AND", "^x", "(((", "-x",
                                  "💥 boom", "x" * 150])
async def test_query_syntax_in_the_term_is_just_text(users, p1, term):
    token = await group_room(p1)
    await say(p1, token, "a b value x boom")
    r = await p1.get(f"/chat/{token}/search", params={"term": term})
    assert r.status in (200, 400), r.text


@pytest.mark.parametrize("params, message", [
    ({}, "term is required"),
    ({"term": "   "}, "term is required"),
    ({"term": "!!!"}, "letter or digit"),
    ({"term": "x" * 201}, "at most 200"),
    ({"term": "ok", "limit": "many"}, "limit must be an integer"),
    ({"term": "ok", "lastKnownMessageId": "x"}, "lastKnownMessageId must be an integer"),
])
async def test_bad_search_input_is_400(users, p1, params, message):
    token = await group_room(p1)
    r = await p1.get(f"/chat/{token}/search", params=params)
    assert r.status == 400 and message in r.meta["message"]
    everywhere = await p1.get("/search", params=params)
    assert everywhere.status == 400


async def test_deleting_a_room_removes_its_messages_from_the_index(users, p1):
    gone = await group_room(p1, name="gone")
    kept = await group_room(p1, name="kept")
    await say(p1, gone, "ephemeral words")
    hit = await say(p1, kept, "ephemeral but kept")
    assert len((await p1.get("/search", params={"term": "ephemeral"})).data) == 2
    assert (await p1.delete(f"/room/{gone}")).status == 200
    r = await p1.get("/search", params={"term": "ephemeral"})
    assert [m["id"] for m in r.data] == [hit]
    count = await users.ctx.db.run(lambda conn: search_db.index_matches(conn, ["ephemeral"]))
    assert count == 1


async def test_underscores_and_hyphens_separate_words(users, p1):
    token = await group_room(p1)
    hit = await say(p1, token, "see build_server-log for details")
    for term in ("build_server", "server-log", "build server log"):
        r = await p1.get(f"/chat/{token}/search", params={"term": term})
        assert [m["id"] for m in r.data] == [hit], term
