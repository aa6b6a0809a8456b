"""The relation inventory: which knowledge-base properties become which corpus categories.

The inventory is data, one JSON object a line, the same lines `relxdata relations` prints:
    {"category": "P36_P1376", "relation": "P1376", "relation_name": "capital of"}
A category is either one property or several merged ones; every row keeps its own property.
Blank lines and lines starting with `#` (comments, e.g. where the labels come from) are skipped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import Iterator

from relxdata.errors import RelxdataError

DEFAULT_INVENTORY = "data/relations.jsonl"
NO_RELATION = "no_relation"
_PROPERTY = re.compile(r"P[1-9][0-9]*")
_KEYS = ("category", "relation", "relation_name")


@dataclass(frozen=True, slots=True)
class Relation:
    category: str
    relation: str
    relation_name: str


@dataclass(frozen=True)
class RelationInventory:
    relations: tuple[Relation, ...]
    source: str

    @property
    def properties(self) -> frozenset[str]:
        return frozenset(relation.relation for relation in self.relations)

    def by_property(self) -> dict[str, Relation]:
        return {relation.relation: relation for relation in self.relations}

    def lines(self) -> Iterator[str]:
        for relation in self.relations:
            yield json.dumps({key: getattr(relation, key) for key in _KEYS}, ensure_ascii=False)


def load_relations(path: str | None = None) -> RelationInventory:
    """The inventory in `path`, or the default one (RELX-Distant's 24 categories) shipped with relxdata."""
    if path is None:
        text = resources.files("relxdata").joinpath(DEFAULT_INVENTORY).read_text(encoding="utf-8")
        source = "relxdata:" + DEFAULT_INVENTORY
    else:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as exc:
            raise RelxdataError(f"cannot read the relation inventory {path}: {exc.strerror}") from None
        source = path
    relations = [_parse_line(line, source, number) for number, line in enumerate(text.splitlines(), 1)
                 if line.strip() and not line.lstrip().startswith("#")]
    if not relations:
        raise RelxdataError(f"{source}: the relation inventory is empty")
    seen: dict[str, str] = {}
    for relation in relations:
        if relation.relation in seen:
            raise RelxdataError(f"{source}: property {relation.relation} is listed twice "
                                f"(categories {seen[relation.relation]} and {relation.category})")
        seen[relation.relation] = relation.category
    return RelationInventory(tuple(relations), source)


def _parse_line(line: str, source: str, number: int) -> Relation:
    where = f"{source}:{number}"
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise RelxdataError(f"{where}: not a JSON object ({exc.msg})") from None
    if not isinstance(record, dict) or sorted(record) != sorted(_KEYS):
        raise RelxdataError(f"{where}: expected exactly the keys {', '.join(_KEYS)}")
    if not all(isinstance(record[key], str) and record[key] for key in _KEYS):
        raise RelxdataError(f"{where}: {', '.join(_KEYS)} must be non-empty strings")
    if not _PROPERTY.fullmatch(record["relation"]):
        raise RelxdataError(f"{where}: {record['relation']!r} is not a Wikidata property id like P19")
    if record["category"] == NO_RELATION:
        raise RelxdataError(f"{where}: {NO_RELATION!r} is reserved for sampled negatives")
    return Relation(record["category"], record["relation"], record["relation_name"])
