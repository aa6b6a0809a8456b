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
