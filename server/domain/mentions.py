"""Mentions: detection and rich-object rendering (talk-api-v1.md §6.4) and autocomplete ranking (§6.5).

Pure functions: no SQL, no trio, no HTTP. Rendering follows the reference to the letter, quirks
included, because clients compare against it: every `@word` becomes a `user` parameter whether or
not the user exists, duplicates collapse in order of first appearance, and the k-th distinct
mention is a *plain substring* replacement of `@<id>` by `{mention-user<k>}` (so `@ab` can corrupt
`@abc`; the reference does the same).
"""
from __future__ import annotations

import re
from typing import Any, Iterable

# An @ starts a mention at the start of the text or after whitespace, -, @, . or ' (never after a
# letter, digit or _). ASCII-only and case-insensitive, like Nextcloud's Comment::getMentions.
MENTION = re.compile(r"(?<![^\s\-@.'])@[a-z0-9_\-@.']+", re.I | re.A)
UNKNOWN_USER = "Unknown user"


def mention_ids(text: str) -> list[str]:
    """Distinct mentioned ids in order of first appearance."""
    return list(dict.fromkeys(match[1:] for match in MENTION.findall(text)))


def render_mentions(text: str) -> tuple[str, dict[str, dict[str, str]]]:
    """(text with placeholders, parameters without display names). Names are filled in when the
    message is read (`with_names`), so a rename or a deleted account shows on old messages."""
    parameters: dict[str, dict[str, str]] = {}
    for k, mention_id in enumerate(mention_ids(text), start=1):
        key = f"mention-user{k}"
        text = text.replace("@" + mention_id, "{" + key + "}")
        parameters[key] = {"type": "user", "id": mention_id}
    return text, parameters


def parameter_user_ids(parameters: dict[str, dict[str, str]]) -> Iterable[str]:
    return (p["id"] for p in parameters.values() if p.get("type") == "user")


def with_names(parameters: dict[str, dict[str, str]], names: dict[str, str]) -> dict[str, dict[str, str]] | list:
    """The API's `messageParameters`: each user parameter gets the user's display name, or
    "Unknown user" if there is no such account. Empty parameters are `[]`, as Talk serialises them."""
    if not parameters:
        return []
    return {key: {**p, "name": names.get(p["id"], UNKNOWN_USER)} if p.get("type") == "user" else p
            for key, p in parameters.items()}


def rank_candidates(candidates: Iterable[tuple[str, str]], search: str, limit: int) -> list[dict[str, Any]]:
    """Autocomplete: exact matches (user id or display name equals `search`) first, then partial
    ones (a substring of either), both case-insensitive; an empty search matches everyone. Within
    each group, by display name then id, so the order is stable."""
    needle = search.casefold()
    exact: list[tuple[str, str]] = []
    partial: list[tuple[str, str]] = []
    for user_id, name in candidates:
        uid, label = user_id.casefold(), name.casefold()
        if needle and needle in (uid, label):
            exact.append((user_id, name))
        elif needle in uid or needle in label:
            partial.append((user_id, name))

    def order(c: tuple[str, str]) -> tuple[str, str]:
        return c[1].casefold(), c[0]
    ranked = sorted(exact, key=order) + sorted(partial, key=order)
    return [{"id": user_id, "label": name, "source": "users"} for user_id, name in ranked[:limit]]
