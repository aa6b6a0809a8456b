"""Relation inventories: which knowledge-base properties become which corpus labels.

An inventory is data, one JSON object a line, the same lines `relxdata relations` prints; blank
lines and lines starting with `#` (comments, e.g. where the labels come from) are skipped. Two
schemas exist:

relx (RELX-Distant's 24 categories, the default):
    {"category": "P36_P1376", "relation": "P1376", "relation_name": "capital of"}
A category is either one Wikidata property or several merged ones; every row keeps its own property.

smiler (SMiLER's 35 labels; no_relation is sampled, never listed):
    {"label": "has-child", "dbpedia": ["dbo:child", "^dbo:parent"], "wikidata": ["P40"]}
    {"label": "event-year", "dbpedia": ["dbo:year"], "wikidata": ["P585"], "value": "year"}
`^` reads a DBpedia property backwards (entity_2 is its subject); `value` marks a literal-valued
label and says how its values are written (see relxdata.literals).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import Iterator

from relxdata.errors import RelxdataError

DEFAULT_INVENTORY = "data/relations.jsonl"
SMILER_INVENTORY = "data/smiler-labels.jsonl"
NO_RELATION = "no_relation"
SCHEMAS = ("relx", "smiler")
VALUE_KINDS = ("year", "date", "count", "length", "mass", "text", "years")
_PROPERTY = re.compile(r"P[1-9][0-9]*")
_DBPEDIA_PROPERTY = re.compile(r"\^?dbo:[A-Za-z][A-Za-z0-9_]*")
_LABEL = re.compile(r"[a-z][a-z0-9-]*")
_KEYS = ("category", "relation", "relation_name")
_SMILER_KEYS = ("label", "dbpedia", "wikidata")


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


def _inventory_lines(path: str | None, default: str) -> tuple[list[tuple[int, dict]], str]:
    """The numbered JSON objects of an inventory file (or of the shipped `default`), and its source."""
    if path is None:
        text = resources.files("relxdata").joinpath(default).read_text(encoding="utf-8")
        source = "relxdata:" + default
    else:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise RelxdataError(f"cannot read the relation inventory {path}: {reason}") from None
        source = path
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip() and not line.lstrip().startswith("#"):
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise RelxdataError(f"{source}:{number}: not a JSON object ({exc.msg})") from None
            if not isinstance(record, dict):
                raise RelxdataError(f"{source}:{number}: not a JSON object")
            records.append((number, record))
    if not records:
        raise RelxdataError(f"{source}: the relation inventory is empty")
    return records, source


def schema_of(path: str) -> str:
    """Which schema an inventory file follows, by the keys of its first object."""
    records, _ = _inventory_lines(path, DEFAULT_INVENTORY)
    return "smiler" if "label" in records[0][1] else "relx"


def load_relations(path: str | None = None) -> RelationInventory:
    """The inventory in `path`, or the default one (RELX-Distant's 24 categories) shipped with relxdata."""
    records, source = _inventory_lines(path, DEFAULT_INVENTORY)
    relations = [_parse_record(record, f"{source}:{number}") for number, record in records]
    seen: dict[str, str] = {}
    for relation in relations:
        if relation.relation in seen:
            raise RelxdataError(f"{source}: property {relation.relation} is listed twice "
                                f"(categories {seen[relation.relation]} and {relation.category})")
        seen[relation.relation] = relation.category
    return RelationInventory(tuple(relations), source)


def _parse_record(record: dict, where: str) -> Relation:
    if sorted(record) != sorted(_KEYS):
        raise RelxdataError(f"{where}: expected exactly the keys {', '.join(_KEYS)}")
    if not all(isinstance(record[key], str) and record[key] for key in _KEYS):
        raise RelxdataError(f"{where}: {', '.join(_KEYS)} must be non-empty strings")
    if not _PROPERTY.fullmatch(record["relation"]):
        raise RelxdataError(f"{where}: {record['relation']!r} is not a Wikidata property id like P19")
    if record["category"] == NO_RELATION:
        raise RelxdataError(f"{where}: {NO_RELATION!r} is reserved for sampled negatives")
    return Relation(record["category"], record["relation"], record["relation_name"])


# --- SMiLER labels ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class SmilerLabel:
    """A SMiLER label and the properties that give it. `dbpedia` holds (property, inverse) pairs:
    inverse means entity_2 is the property's subject."""

    label: str
    dbpedia: tuple[tuple[str, bool], ...]
    wikidata: tuple[str, ...]
    value: str | None = None

    def record(self) -> dict:
        record = {"label": self.label, "dbpedia": [("^" if inverse else "") + name for name, inverse in self.dbpedia],
                  "wikidata": list(self.wikidata)}
        return {**record, "value": self.value} if self.value else record


@dataclass(frozen=True)
class LabelSource:
    """A knowledge source's properties, each with the labels it gives and in which direction."""

    # property -> ((label, inverse), ...)
    labels: dict[str, tuple[tuple[SmilerLabel, bool], ...]]

    @property
    def properties(self) -> frozenset[str]:
        return frozenset(self.labels)

    @property
    def value_properties(self) -> frozenset[str]:
        """The properties of literal-valued labels."""
        return frozenset(p for p, labels in self.labels.items() if any(label.value for label, _ in labels))

    @property
    def entity_properties(self) -> frozenset[str]:
        return frozenset(p for p, labels in self.labels.items() if any(not label.value for label, _ in labels))


@dataclass(frozen=True)
class SmilerInventory:
    labels: tuple[SmilerLabel, ...]
    source: str

    def lines(self) -> Iterator[str]:
        for label in self.labels:
            yield json.dumps(label.record(), ensure_ascii=False)

    def sources(self, dbpedia: bool, wikidata: bool) -> tuple[LabelSource, LabelSource]:
        """What DBpedia and Wikidata each give: with DBpedia, a label's DBpedia properties, and its
        Wikidata ones only when it has no DBpedia property (and `wikidata`); without DBpedia, every
        label's Wikidata properties."""
        from_dbpedia: dict[str, list] = {}
        from_wikidata: dict[str, list] = {}
        for label in self.labels:
            if dbpedia:
                for name, inverse in label.dbpedia:
                    from_dbpedia.setdefault(name, []).append((label, inverse))
            if wikidata and not (dbpedia and label.dbpedia):
                for prop in label.wikidata:
                    from_wikidata.setdefault(prop, []).append((label, False))
        return (LabelSource({k: tuple(v) for k, v in from_dbpedia.items()}),
                LabelSource({k: tuple(v) for k, v in from_wikidata.items()}))


def load_smiler_labels(path: str | None = None) -> SmilerInventory:
    """The SMiLER inventory in `path`, or the one shipped with relxdata (a reconstruction)."""
    records, source = _inventory_lines(path, SMILER_INVENTORY)
    labels = [_parse_label(record, f"{source}:{number}") for number, record in records]
    seen: dict[tuple[str, bool], str] = {}
    for label in labels:
        for key in [*label.dbpedia, *((prop, False) for prop in label.wikidata)]:
            if key in seen:
                raise RelxdataError(f"{source}: property {'^' if key[1] else ''}{key[0]} gives two labels "
                                    f"({seen[key]} and {label.label})")
            seen[key] = label.label
    names = [label.label for label in labels]
    if len(set(names)) != len(names):
        raise RelxdataError(f"{source}: a label is listed twice")
    return SmilerInventory(tuple(labels), source)


def _parse_label(record: dict, where: str) -> SmilerLabel:
    if not set(_SMILER_KEYS) <= set(record) <= {*_SMILER_KEYS, "value"}:
        raise RelxdataError(f"{where}: expected the keys {', '.join(_SMILER_KEYS)} (and optionally value)")
    label = record["label"]
    if not isinstance(label, str) or not _LABEL.fullmatch(label):
        raise RelxdataError(f"{where}: the label must be lower-case words joined by '-', like has-child")
    if label == NO_RELATION:
        raise RelxdataError(f"{where}: {NO_RELATION!r} is reserved for sampled negatives")
    for key, pattern, example in (("dbpedia", _DBPEDIA_PROPERTY, "dbo:birthPlace or ^dbo:parent"),
                                  ("wikidata", _PROPERTY, "P19")):
        values = record[key]
        if not isinstance(values, list) or not all(isinstance(v, str) and pattern.fullmatch(v) for v in values):
            raise RelxdataError(f"{where}: {key} must be a list of properties like {example}")
    if not record["dbpedia"] and not record["wikidata"]:
        raise RelxdataError(f"{where}: label {label} has no property at all")
    value = record.get("value")
    if value is not None and value not in VALUE_KINDS:
        raise RelxdataError(f"{where}: value must be one of {', '.join(VALUE_KINDS)}")
    dbpedia = tuple((name.removeprefix("^"), name.startswith("^")) for name in record["dbpedia"])
    return SmilerLabel(label, dbpedia, tuple(record["wikidata"]), value)
