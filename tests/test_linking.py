"""Link resolution: redirects over several hops, loops, and why a title has no entity."""

import pytest

from relxdata.linking import RedirectEdge, Resolution, TitleEntry, Unresolved, Walk, follow, resolve_title

REDIRECTS = {edge.source: edge for edge in [
    RedirectEdge("UK", "U.K."),
    RedirectEdge("U.K.", "United Kingdom of Great Britain"),
    RedirectEdge("United Kingdom of Great Britain", "United Kingdom"),
    RedirectEdge("Chicken", "Egg"),
    RedirectEdge("Egg", "Chicken"),
    RedirectEdge("Mirror", "Mirror"),
    RedirectEdge("Wp:Help", "Help:Contents", article=False),
    RedirectEdge("Mercury (disambiguation)", "Mercury"),
    RedirectEdge("Old name", "Stub without item"),
]}
ENTRIES = {
    "United Kingdom": TitleEntry("Q145", is_page=True),
    "Mercury": TitleEntry("Q1", disambiguation=True, is_page=True),
    "Stub without item": TitleEntry(is_page=True),
    "Cambridge": TitleEntry("Q350", is_page=True),
}


@pytest.mark.parametrize("title, expected", [
    ("Cambridge", Resolution("Cambridge", "Q350", None, 0, "Cambridge")),
    ("United Kingdom of Great Britain", Resolution("United Kingdom of Great Britain", "Q145", None, 1,
                                                   "United Kingdom")),
    ("UK", Resolution("UK", "Q145", None, 3, "United Kingdom")),
    ("Chicken", Resolution("Chicken", None, Unresolved.REDIRECT_LOOP, 2)),
    ("Mirror", Resolution("Mirror", None, Unresolved.REDIRECT_LOOP, 1)),
    ("Wp:Help", Resolution("Wp:Help", None, Unresolved.OTHER_NAMESPACE, 0)),
    ("Mercury (disambiguation)", Resolution("Mercury (disambiguation)", None, Unresolved.DISAMBIGUATION, 1)),
    ("Old name", Resolution("Old name", None, Unresolved.NO_QID, 1, "Stub without item")),
    ("Nowhere Land", Resolution("Nowhere Land", None, Unresolved.RED_LINK, 0, "Nowhere Land")),
])
def test_resolve_title(title, expected):
    assert resolve_title(title, REDIRECTS, ENTRIES) == expected


def test_a_chain_longer_than_allowed_stops():
    assert resolve_title("UK", REDIRECTS, ENTRIES, max_hops=2) == Resolution("UK", None,
                                                                           Unresolved.REDIRECT_TOO_LONG, 3)
    assert resolve_title("UK", REDIRECTS, ENTRIES, max_hops=3).qid == "Q145"


def test_follow_is_one_hop_and_remembers_the_way():
    walk = follow(Walk.start("UK"), REDIRECTS["UK"])
    assert walk == Walk("UK", "U.K.", ("UK",))
    arrived = follow(walk, None)
    assert arrived.done and arrived.failure is None and arrived.current == "U.K."
    assert follow(arrived, REDIRECTS["U.K."]) is arrived  # a finished walk goes nowhere
