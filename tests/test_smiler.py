"""SMiLER rows from one article: mentions (links, repeated anchors, titles, values), labels, directions, splits."""

from collections import Counter

import pytest

from relxdata.cli import main
from relxdata.kb import Fact, Literal
from relxdata.linking import Resolution, Unresolved
from relxdata.literals import renderings
from relxdata.relations import load_smiler_labels
from relxdata.smiler import ArticleKnowledge, LabelledFact, article_rows, find_forms, labelled_facts, split_of


def link(text, anchor, target, occurrence=0):
    start = -1
    for _ in range(occurrence + 1):
        start = text.index(anchor, start + 1)
    return {"start": start, "end": start + len(anchor), "target": target, "anchor": anchor}


def sentence(index, text, *links):
    return {"lang": "en", "page_id": 307, "page_title": "Abraham Lincoln", "sent_index": index, "text": text,
            "links": [link(text, *spec) for spec in links]}


RESOLUTIONS = {
    "Mary Todd Lincoln": Resolution("Mary Todd Lincoln", "Q213850", None, 0, "Mary Todd Lincoln"),
    "Hodgenville, Kentucky": Resolution("Hodgenville, Kentucky", "Q1008437", None, 0, "Hodgenville, Kentucky"),
    "Illinois": Resolution("Illinois", "Q1204", None, 0, "Illinois"),
    "Lincoln": Resolution("Lincoln", None, Unresolved.DISAMBIGUATION, 0),
    "Honest Abe": Resolution("Honest Abe", "Q91", None, 1, "Abraham Lincoln"),
    "Nowhere": Resolution("Nowhere", None, Unresolved.RED_LINK, 0, "Nowhere"),
}
SENTENCES = [
    sentence(0, "Abraham Lincoln was born in Hodgenville, Kentucky, in 1809.", ("Hodgenville, Kentucky", "Hodgenville, Kentucky")),
    sentence(1, "Lincoln married Mary Todd in 1842.", ("Mary Todd", "Mary Todd Lincoln")),
    sentence(2, "Mary Todd outlived Lincoln, who moved to Illinois.", ("Illinois", "Illinois")),
    sentence(3, "In Illinois, Mary Todd Lincoln and the president had four sons.", ),
    sentence(4, "Honest Abe never saw Nowhere.", ("Honest Abe", "Honest Abe"), ("Nowhere", "Nowhere")),
]
ARTICLE = ArticleKnowledge(
    title="Abraham Lincoln", qid="Q91", names=("Lincoln",),
    facts=(LabelledFact("birth-place", "dbo:birthPlace", "Hodgenville, Kentucky"),
           LabelledFact("has-spouse", "dbo:spouse", "Mary Todd Lincoln"),
           LabelledFact("event-year", "dbo:year", Literal("1809", "xsd:gYear"), "year"),
           LabelledFact("has-population", "dbo:populationTotal", Literal("12", "xsd:integer"), "count")),
    related=frozenset({"Hodgenville, Kentucky", "Mary Todd Lincoln"}))


def rows_of(article=ARTICLE, sentences=SENTENCES, negatives=0.0, counts=None):
    return article_rows(article, sentences, RESOLUTIONS, lang="en", case="first-letter", negatives=negatives,
                        seed=13, counts=Counter() if counts is None else counts)


def test_rows_with_their_spans_labels_and_mention_kinds():
    counts = Counter()
    rows = rows_of(counts=counts)
    found = [(row["text"][:12], row["label"], row["entity_1"], row["entity_1_indices"], row["mention_1"],
              row["entity_2"], row["entity_2_indices"], row["mention_2"]) for row in rows]
    assert found == [
        ("Abraham Linc", "birth-place", "Abraham Lincoln", [0, 15], "title", "Hodgenville, Kentucky", [28, 49], "link"),
        ("Abraham Linc", "event-year", "Abraham Lincoln", [0, 15], "title", "1809", [54, 58], "literal"),
        ("Lincoln marr", "has-spouse", "Lincoln", [0, 7], "title", "Mary Todd", [16, 25], "link"),
        # "Mary Todd" again, unlinked: a repeat of the anchor the article used for her.
        ("Mary Todd ou", "has-spouse", "Lincoln", [19, 26], "title", "Mary Todd", [0, 9], "anchor_repeat")]
    assert all(row["text"][slice(*row["entity_1_indices"])] == row["entity_1"] for row in rows)
    assert all(row["text"][slice(*row["entity_2_indices"])] == row["entity_2"] for row in rows)
    first = rows[0]
    assert first["entity_1_iri"] == "http://dbpedia.org/resource/Abraham_Lincoln"
    assert first["entity_2_iri"] == "http://dbpedia.org/resource/Hodgenville,_Kentucky"
    assert (first["entity_1_qid"], first["entity_2_qid"], first["property"]) == ("Q91", "Q1008437", "dbo:birthPlace")
    assert rows[1]["entity_2_iri"] is None and rows[1]["entity_2_qid"] is None
    assert {row["split"] for row in rows} == {split_of("Q91")}
    # Sentence 3 names "Mary Todd Lincoln" (her title, longer than the "Lincoln" inside it) and entity 1
    # only as "the president": no row. Sentence 4 mentions entity 1 by a redirect's link.
    assert counts["sentences_mentioning_entity_1"] == 4
    assert counts["literals.not_found.has-population.not_in_article"] == 1
    assert counts["facts.unmatched.not_with_entity_1"] == 0 and counts["facts.entity"] == 2


def test_negatives_are_linked_pages_without_any_fact():
    rows = rows_of(negatives=1.0)
    negatives = [row for row in rows if row["label"] == "no_relation"]
    # Red links ("Nowhere") and entities with a fact (Mary Todd Lincoln) are never negatives.
    assert [(row["entity_1"], row["mention_1"], row["entity_2"]) for row in negatives] == [
        ("Lincoln", "title", "Illinois")]
    assert negatives[0]["property"] is None and negatives[0]["entity_2_iri"] == "http://dbpedia.org/resource/Illinois"


def test_an_anchor_counts_as_a_repeat_only_after_its_link():
    text = "Mary Todd met Lincoln; Mary Todd was linked second."
    early = sentence(0, text, ("Mary Todd", "Mary Todd Lincoln", 1))
    rows = rows_of(sentences=[early])
    assert [(row["entity_2_indices"], row["mention_2"]) for row in rows] == [([23, 32], "link")]


def test_negatives_are_drawn_by_the_seed_alone():
    article = ArticleKnowledge("Abraham Lincoln", "Q91", (), (), frozenset())
    many = [sentence(i, f"Abraham Lincoln visited Illinois {i} times.", ("Illinois", "Illinois")) for i in range(200)]
    kept = rows_of(article, many, negatives=0.25)
    assert 30 < len(kept) < 70
    assert [row["id"] for row in kept] == [row["id"] for row in rows_of(article, many, negatives=0.25)]
    assert rows_of(article, many, negatives=0.0) == []


def test_whole_words_except_where_words_are_not_spaced():
    assert find_forms("Lincolnshire and Lincoln.", ["Lincoln"], wordless=False) == [(17, 24)]
    assert find_forms("リンカーンは大統領", ["リンカーン"], wordless=True) == [(0, 5)]
    assert find_forms("1.865 and 1865", ["865", "1865"], wordless=False) == [(10, 14)]


def test_splits_are_96_2_2_by_article_qid():
    splits = Counter(split_of(f"Q{n}") for n in range(20_000))
    assert abs(splits["train"] / 20_000 - 0.96) < 0.01
    assert abs(splits["dev"] / 20_000 - 0.02) < 0.005 and abs(splits["test"] / 20_000 - 0.02) < 0.005
    assert split_of("Q64") == split_of("Q64")


# --- values as written --------------------------------------------------------------------------------

def find_value(text, value, kind, lang):
    found = find_forms(text, renderings(value, kind, lang), wordless=False)
    return [text[start:end] for start, end in found]


def test_a_literal_year_and_a_full_date():
    assert find_value("He was born in 1809 in a cabin.", Literal("1809", "xsd:gYear"), "year", "en") == ["1809"]
    assert find_value("He died on April 15, 1865.", Literal("1865-04-15", "xsd:date"), "date", "en") == [
        "April 15, 1865"]
    assert find_value("Er starb am 15. April 1865.", Literal("1865-04-15", "xsd:date"), "date", "de") == [
        "15. April 1865"]
    assert renderings(Literal("0003", "xsd:gYear"), "year", "en") == []  # a real DBpedia value, not a year
    assert renderings(Literal("1873-6-31", "xsd:date"), "date", "en") == ["1873"]


def test_a_population_with_the_digit_grouping_of_en_and_de():
    population = Literal("3520031", "xsd:nonNegativeInteger")
    assert find_value("Berlin has 3,520,031 inhabitants.", population, "count", "en") == ["3,520,031"]
    assert find_value("Berlin hat 3.520.031 Einwohner.", population, "count", "de") == ["3.520.031"]
    assert find_value("Berlin has 13,520,031 or 3,520,0310 inhabitants.", population, "count", "en") == []


def test_a_length_with_a_unit_and_its_conversion():
    nile = Literal("6650000.0", "xsd:double")  # metres, as DBpedia stores lengths
    assert find_value("The Nile is 6,650 km (4,130 mi) long.", nile, "length", "en") == ["6,650 km", "4,130 mi"]
    assert find_value("Der Nil ist 6650 Kilometer lang.", nile, "length", "de") == ["6650 Kilometer"]
    assert find_value("He is 1.93 m tall, not 2 m.", Literal("1.93", "xsd:double"), "length", "en") == ["1.93 m"]


# --- the inventory ---------------------------------------------------------------------------------------

def test_the_shipped_inventory_has_the_35_labels():
    inventory = load_smiler_labels()
    labels = {label.label: label for label in inventory.labels}
    assert len(labels) == 35 and "no_relation" not in labels
    assert sum(bool(label.dbpedia) for label in labels.values()) == 31
    assert sum(bool(label.dbpedia) and label.value is not None for label in labels.values()) == 7
    assert {name for name, label in labels.items() if not label.dbpedia} == {
        "invented-by", "first-product", "has-lifespan", "eats"}
    from_dbpedia, from_wikidata = inventory.sources(dbpedia=True, wikidata=True)
    assert sorted(from_wikidata.properties) == ["P1034", "P1056", "P2250", "P4214", "P61"]
    assert [(label.label, inverse) for label, inverse in from_dbpedia.labels["dbo:parent"]] == [
        ("has-child", True), ("has-parent", False)]
    _, everything = inventory.sources(dbpedia=False, wikidata=True)
    assert "P19" in everything.properties and "P40" in everything.properties


def test_facts_become_labels_in_their_direction():
    from_dbpedia, _ = load_smiler_labels().sources(dbpedia=True, wikidata=False)
    found, mismatched = labelled_facts(Fact("Robert Todd Lincoln", "dbo:parent", "Abraham Lincoln"), from_dbpedia)
    assert found == [("Abraham Lincoln", LabelledFact("has-child", "^dbo:parent", "Robert Todd Lincoln")),
                     ("Robert Todd Lincoln", LabelledFact("has-parent", "dbo:parent", "Abraham Lincoln"))]
    assert mismatched == 0
    found, mismatched = labelled_facts(Fact("Berlin", "dbo:populationTotal", "Germany"), from_dbpedia)
    assert (found, mismatched) == ([], 1)  # an entity where a value belongs


def test_relations_command_prints_the_smiler_schema(tmp_path, capsys):
    assert main(["relations", "--schema", "smiler"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 35 and '"label": "has-child"' in lines[6]
    mine = tmp_path / "labels.jsonl"
    mine.write_text("\n".join(lines[:2]) + "\n")
    assert main(["relations", "--relations", str(mine)]) == 0
    assert capsys.readouterr().out.splitlines() == lines[:2]
    mine.write_text('{"label": "has-child", "dbpedia": ["child"], "wikidata": []}\n')
    assert main(["relations", "--relations", str(mine)]) == 2
    assert "dbpedia must be a list of properties like dbo:birthPlace" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["year", "date", "count", "length", "mass", "text", "years"])
def test_every_value_kind_renders(kind):
    value = Literal("1995-03-04", "xsd:date") if kind in ("year", "date") else Literal("1995")
    assert renderings(value, kind, "en")


def test_labels_dbpedia_lacks_come_from_wikidata_values_too():
    _, from_wikidata = load_smiler_labels().sources(dbpedia=True, wikidata=True)
    assert from_wikidata.value_properties == {"P2250", "P4214"}
    assert from_wikidata.entity_properties == {"P1034", "P1056", "P61"}
    found, _ = labelled_facts(Fact("Q140", "P2250", Literal("20", "xsd:double")), from_wikidata)
    assert found == [("Q140", LabelledFact("has-lifespan", "P2250", Literal("20", "xsd:double"), "years"))]
    assert find_value("Lions live about 20 years in the wild.", found[0][1].entity_2, "years", "en") == ["20 years"]
