"""Mention detection and rendering, exactly as the reference does it (talk-api-v1.md §6.4)."""
from server.domain.mentions import mention_ids, rank_candidates, render_mentions, with_names


def test_mentions_start_only_after_whitespace_or_punctuation():
    assert mention_ids("@a b@c d-@e f.@g h'@i j_@k 1@l @m") == ["a", "e", "g", "i", "m"]


def test_mention_ids_include_dots_at_and_apostrophes_and_collapse_duplicates():
    assert mention_ids("@bob. @a@b @it's @bob. @Bob.") == ["bob.", "a@b", "it's", "Bob."]


def test_non_ascii_letters_end_a_mention():
    assert mention_ids("@zoë and\u00a0@x") == ["zo"]    # a no-break space is not ASCII whitespace


def test_rendering_replaces_every_occurrence_in_order_of_first_appearance():
    text, parameters = render_mentions("Mention to @participant2, @unknownUser, @participant2 again and @participant3")
    assert text == "Mention to {mention-user1}, {mention-user2}, {mention-user1} again and {mention-user3}"
    assert parameters == {"mention-user1": {"type": "user", "id": "participant2"},
                          "mention-user2": {"type": "user", "id": "unknownUser"},
                          "mention-user3": {"type": "user", "id": "participant3"}}


def test_plain_substring_replacement_can_corrupt_a_longer_mention_like_the_reference():
    text, parameters = render_mentions("@ab @abc")
    assert text == "{mention-user1} {mention-user1}c"
    assert list(parameters) == ["mention-user1", "mention-user2"]


def test_names_are_filled_in_with_unknown_user_for_missing_accounts():
    _, parameters = render_mentions("@alice @ghost")
    assert with_names(parameters, {"alice": "Alice"}) == {
        "mention-user1": {"type": "user", "id": "alice", "name": "Alice"},
        "mention-user2": {"type": "user", "id": "ghost", "name": "Unknown user"}}
    assert with_names({}, {}) == []


def test_autocomplete_ranks_exact_matches_first_then_limits():
    candidates = [("anna", "Anna"), ("ann", "Zed"), ("bob", "Ann")]
    assert [c["id"] for c in rank_candidates(candidates, "ANN", 10)] == ["bob", "ann", "anna"]
    assert [c["id"] for c in rank_candidates(candidates, "ann", 1)] == ["bob"]
    assert [c["label"] for c in rank_candidates(candidates, "", 10)] == ["Ann", "Anna", "Zed"]
