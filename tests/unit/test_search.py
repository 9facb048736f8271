"""The techmap's search (orchestrator.catalogue): any word, plurals too, ranked by words matched."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from orchestrator.catalogue import ranked, search_words, stem, words_matched

DASHBOARD = "open-data-dashboard A public dashboard of air quality by borough open-data environment"
CASEWORK = "case-management-prototype Casework for councils casework housing"


def test_plurals_match_their_singular() -> None:
    for plural, single in [
        ("dashboards", "dashboard"),
        ("queries", "query"),
        ("boxes", "box"),
        ("watches", "watch"),
        ("classes", "class"),
        ("services", "service"),
    ]:
        assert stem(plural) == stem(single), plural


def test_any_word_matches_case_and_hyphens_aside() -> None:
    assert ranked([CASEWORK, DASHBOARD], "Pollution DASHBOARDS", text=str) == [DASHBOARD]
    assert ranked([CASEWORK, DASHBOARD], "air", text=str) == [DASHBOARD]
    assert ranked([CASEWORK, DASHBOARD], "zebra", text=str) == []


def test_more_words_matched_rank_first_else_the_given_order() -> None:
    assert ranked([CASEWORK, DASHBOARD], "housing dashboard borough", text=str) == [DASHBOARD, CASEWORK]
    assert ranked([CASEWORK, DASHBOARD], "open casework", text=str) == [CASEWORK, DASHBOARD]
    assert ranked([CASEWORK, DASHBOARD], "  ", text=str) == [CASEWORK, DASHBOARD]


words = st.lists(st.from_regex(r"[a-z]{1,12}", fullmatch=True), min_size=1, max_size=8)


@given(words, words)
def test_a_text_matches_every_word_it_contains_in_plural_or_not(text: list[str], extra: list[str]) -> None:
    plural = " ".join(w + "s" for w in text)
    assert words_matched(" ".join(text), plural) <= len(search_words(" ".join(text)))
    # The other text is a word longer than any drawn, so no query can match it too and tie.
    other = "z" * 13
    assert ranked([other, " ".join(text)], " ".join(text + extra), text=str)[0] == " ".join(text)


@given(st.lists(st.text(max_size=30), max_size=6), st.text(max_size=30))
def test_ranking_only_drops_and_orders_never_invents(items: list[str], query: str) -> None:
    found = ranked(items, query, text=str)
    assert all(item in items for item in found)
    assert all(words_matched(query, item) for item in found) or not search_words(query)
    scores = [words_matched(query, item) for item in found]
    assert scores == sorted(scores, reverse=True)
