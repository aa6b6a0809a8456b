"""The relation inventory: RELX-Distant's 24 categories by default, any file of the same lines."""

import json
import re

import pytest

from relxdata.cli import main
from relxdata.errors import RelxdataError
from relxdata.relations import load_relations

SINGLE = ["P127", "P140", "P171", "P172", "P175", "P19", "P22", "P25", "P26", "P27", "P2936", "P30", "P31",
          "P3373", "P361", "P451", "P463", "P495", "P50", "P674", "P749"]
MERGED = {"P17_P131_P150_P706": ["P17", "P131", "P150", "P706"], "P36_P1376": ["P36", "P1376"],
          "P178_P176": ["P178", "P176"]}


def test_default_inventory_is_relx_distants():
    inventory = load_relations()
    categories: dict[str, list[str]] = {}
    for relation in inventory.relations:
        categories.setdefault(relation.category, []).append(relation.relation)
    assert len(categories) == 24
    assert {category: members for category, members in categories.items() if len(members) > 1} == MERGED
    assert [category for category, members in categories.items() if members == [category]] == SINGLE
    by_property = inventory.by_property()
    assert by_property["P1376"].relation_name == "capital of"
    assert by_property["P36"].relation_name == "capital"
    assert by_property["P19"].relation_name == "place of birth"
    assert by_property["P176"].category == "P178_P176"

# Every (category, relation, relation_name) triple of the released RELX-Distant samples: github.com/boun-tabi/RELX,
# Datasets/RELX-Distant/RELX_distant_{en,de,es,fr,tr}.json (commit 9add949e), read in full. Their names are the
# English Wikidata labels of 2020 (P140, P150 and P451 have been relabelled since). P706 occurs in none of them.
RELEASED = {
    ("P127", "P127", "owned by"), ("P140", "P140", "religion"), ("P171", "P171", "parent taxon"),
    ("P172", "P172", "ethnic group"), ("P175", "P175", "performer"), ("P19", "P19", "place of birth"),
    ("P22", "P22", "father"), ("P25", "P25", "mother"), ("P26", "P26", "spouse"),
    ("P27", "P27", "country of citizenship"), ("P2936", "P2936", "language used"), ("P30", "P30", "continent"),
    ("P31", "P31", "instance of"), ("P3373", "P3373", "sibling"), ("P361", "P361", "part of"),
    ("P451", "P451", "partner"), ("P463", "P463", "member of"), ("P495", "P495", "country of origin"),
    ("P50", "P50", "author"), ("P674", "P674", "characters"), ("P749", "P749", "parent organization"),
    ("P17_P131_P150_P706", "P17", "country"),
    ("P17_P131_P150_P706", "P131", "located in the administrative territorial entity"),
    ("P17_P131_P150_P706", "P150", "contains administrative territorial entity"),
    ("P36_P1376", "P36", "capital"), ("P36_P1376", "P1376", "capital of"),
    ("P178_P176", "P178", "developer"), ("P178_P176", "P176", "manufacturer"),
}


def test_default_inventory_names_are_the_released_ones():
    inventory = load_relations()
    triples = {(r.category, r.relation, r.relation_name) for r in inventory.relations}
    assert RELEASED <= triples
    assert {relation for _, relation, _ in triples - RELEASED} == {"P706"}
    assert inventory.source == "relxdata:data/relations.jsonl"


def test_comment_lines_are_skipped_and_errors_keep_file_line_numbers(tmp_path):
    path = tmp_path / "relations.jsonl"
    row = '{"category": "P19", "relation": "P19", "relation_name": "place of birth"}'
    path.write_text(f"# labels: somewhere\n{row}\n  # another comment\n")
    inventory = load_relations(str(path))
    assert list(inventory.lines()) == [row] and inventory.source == str(path)
    path.write_text(f"# labels: somewhere\n{row}\n  # another comment\n\n{{not json}}\n")
    with pytest.raises(RelxdataError, match=re.escape(f"{path}:5: not a JSON object")):
        load_relations(str(path))
    path.write_text("# only a comment\n")
    with pytest.raises(RelxdataError, match="is empty"):
        load_relations(str(path))


def test_relations_command_prints_json_lines_that_load_back(tmp_path, capsys):
    assert main(["relations"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 29
    assert json.loads(lines[0]) == {"category": "P127", "relation": "P127", "relation_name": "owned by"}
    mine = tmp_path / "mine.jsonl"
    mine.write_text("\n".join(lines[5:7]) + "\n")
    assert main(["relations", "--relations", str(mine)]) == 0
    assert capsys.readouterr().out.splitlines() == lines[5:7]


@pytest.mark.parametrize("content, message", [
    ("", "is empty"),
    ("{not json}\n", ":1: not a JSON object"),
    ('{"category": "P19", "relation": "P19"}\n', ":1: expected exactly the keys"),
    ('{"category": "P19", "relation": "place of birth", "relation_name": "x"}\n', "is not a Wikidata property"),
    ('{"category": "A", "relation": "P19", "relation_name": "x"}\n{"category": "B", "relation": "P19", '
     '"relation_name": "x"}\n', "P19 is listed twice (categories A and B)"),
    ('{"category": "no_relation", "relation": "P19", "relation_name": "x"}\n', "reserved"),
])
def test_bad_inventories_are_refused_with_the_line(tmp_path, content, message):
    path = tmp_path / "relations.jsonl"
    path.write_text(content)
    with pytest.raises(RelxdataError, match=re.escape(message)):
        load_relations(str(path))


def test_missing_inventory_is_one_line(tmp_path, capsys):
    assert main(["relations", "--relations", str(tmp_path / "nope.jsonl")]) == 2
    assert "cannot read the relation inventory" in capsys.readouterr().err
