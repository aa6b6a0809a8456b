"""Distant supervision rows: which rows a sentence and a set of facts give, exactly."""

from relxdata.corpora import row_id
from relxdata.distant import (Mention, SentenceKey, SentenceRef, entity_pairs, keeps_negative, labelled_pairs,
                              make_row, mentions, negative, pair_key)
from relxdata.kb import Fact
from relxdata.linking import Resolution
from relxdata.relations import load_relations

RELATIONS = load_relations().by_property()
SENTENCE = SentenceRef("en", 7186, "Marie Curie", 2,
                       "She was born in Warsaw, the capital of Poland, and was a citizen of Poland and France.")
LINKS = [
    {"start": 16, "end": 22, "target": "Warszawa", "anchor": "Warsaw"},
    {"start": 39, "end": 45, "target": "Poland", "anchor": "Poland"},
    {"start": 68, "end": 74, "target": "Poland", "anchor": "Poland"},
    {"start": 79, "end": 85, "target": "France", "anchor": "France"},
    {"start": 0, "end": 3, "target": "Red link", "anchor": "She"},
]
QIDS = {"Warszawa": "Q270", "Poland": "Q36", "France": "Q142"}
RESOLUTIONS = {title: Resolution(title, qid, None, 0) for title, qid in QIDS.items()}
FACTS = [
    Fact("Q270", "P17", "Q36"), Fact("Q270", "P1376", "Q36"), Fact("Q36", "P36", "Q270"),
    Fact("Q36", "P47", "Q183"),  # shares border with: not in the inventory
    Fact("Q270", "P31", "Q515"),  # to an entity the sentence does not mention
    Fact("Q270", "P17", "Q36"),  # the same statement twice (two sources) is one row
]


def test_mentions_are_the_first_resolved_link_of_each_entity():
    found = mentions(LINKS, RESOLUTIONS)
    assert found == [Mention("Q270", 16, 22, "Warsaw"), Mention("Q36", 39, 45, "Poland"),
                     Mention("Q142", 79, 85, "France")]
    assert [(a.qid, b.qid) for a, b in entity_pairs(found)] == [("Q270", "Q36"), ("Q270", "Q142"),
                                                                ("Q36", "Q142")]
    assert pair_key("Q36", "Q270") == pair_key("Q270", "Q36") == "Q270 Q36"


def test_every_fact_of_the_inventory_between_the_pair_is_a_row_in_its_direction():
    warsaw, poland, _ = mentions(LINKS, RESOLUTIONS)
    rows = [make_row(SENTENCE, labelled) for labelled in labelled_pairs(warsaw, poland, FACTS, RELATIONS)]
    assert [(r["entity1"], r["relation"], r["entity2"], r["category"], r["relation_name"],
             r["entity1_indices"], r["entity2_indices"], r["entity1_text"], r["entity2_text"]) for r in rows] == [
        ("Q270", "P1376", "Q36", "P36_P1376", "capital of", [16, 22], [39, 45], "Warsaw", "Poland"),
        ("Q270", "P17", "Q36", "P17_P131_P150_P706", "country", [16, 22], [39, 45], "Warsaw", "Poland"),
        ("Q36", "P36", "Q270", "P36_P1376", "capital", [39, 45], [16, 22], "Poland", "Warsaw"),
    ]
    first = rows[0]
    assert first["id"] == row_id("en", 7186, 2, "Q270", "Q36", "P1376")
    assert (first["lang"], first["page_id"], first["page_title"], first["sentence"]) == (
        "en", 7186, "Marie Curie", SENTENCE.text)
    assert first["sentence"][16:22] == "Warsaw" and first["sentence"][39:45] == "Poland"
    # The same pair seen from the other mention gives the same rows.
    assert labelled_pairs(poland, warsaw, reversed(FACTS), RELATIONS) == labelled_pairs(warsaw, poland, FACTS,
                                                                                       RELATIONS)


def test_a_pair_without_facts_gives_no_row_but_may_be_a_negative():
    warsaw, _, france = mentions(LINKS, RESOLUTIONS)
    assert labelled_pairs(warsaw, france, FACTS, RELATIONS) == []
    row = make_row(SENTENCE, negative(warsaw, france))
    assert (row["entity1"], row["entity2"], row["relation"], row["category"],
            row["relation_name"]) == ("Q270", "Q142", "no_relation", "no_relation", "no relation")
    assert not keeps_negative(SENTENCE.key, warsaw, france, 0.0, 13)
    assert keeps_negative(SENTENCE.key, warsaw, france, 1.0, 13)


def test_negative_sample_follows_the_rate_and_the_seed():
    pairs = [(SentenceKey("en", page, 0), Mention(f"Q{page}", 0, 1, "x"), Mention("Q1", 0, 1, "x"))
             for page in range(1, 4001)]
    kept = [keeps_negative(*pair, 0.25, 13) for pair in pairs]
    assert 900 < sum(kept) < 1100
    assert kept == [keeps_negative(*pair, 0.25, 13) for pair in pairs]
    assert kept != [keeps_negative(*pair, 0.25, 14) for pair in pairs]
