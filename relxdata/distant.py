"""Distant supervision: a sentence whose two linked entities have a knowledge-base fact is a row.

Every ordered pair of distinct entities in a sentence is matched against the facts between them;
each fact of the relation inventory labels the pair once, in the statement's direction (entity1 is
the subject), and becomes a relx-distant row when it meets the sentence's text. Pairs with no such
fact may be kept as `no_relation` negatives, chosen by a hash of the seed and the pair, so the
choice is the same on every runner.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from collections import Counter
from typing import Iterable, Iterator, Mapping

from relxdata.corpora import row_id
from relxdata.errors import RelxdataError
from relxdata.kb import Fact
from relxdata.linking import Resolution
from relxdata.relations import NO_RELATION, Relation

NO_RELATION_NAME = "no relation"


@dataclass(frozen=True, slots=True)
class Mention:
    """The first link of a sentence that resolves to entity `qid`."""

    qid: str
    start: int
    end: int
    anchor: str


@dataclass(frozen=True, slots=True)
class SentenceKey:
    """Where a sentence lies: all that the joins carry of it."""

    lang: str
    page_id: int
    sent_index: int


@dataclass(frozen=True, slots=True)
class SentenceRef:
    """What a row needs to know about the sentence it comes from."""

    lang: str
    page_id: int
    page_title: str
    sent_index: int
    text: str

    @property
    def key(self) -> SentenceKey:
        return SentenceKey(self.lang, self.page_id, self.sent_index)


@dataclass(frozen=True, slots=True)
class Labelled:
    """A row before it meets its sentence's text: two mentions in the statement's direction."""

    entity1: Mention
    entity2: Mention
    relation: Relation


def mentions(links: Iterable[dict], resolutions: Mapping[str, Resolution]) -> list[Mention]:
    """The entities a sentence mentions, in text order, each at its first resolved link."""
    found: dict[str, Mention] = {}
    for link in links:
        resolution = resolutions.get(link["target"])
        qid = resolution.qid if resolution else None
        if qid is not None and qid not in found:
            found[qid] = Mention(qid, link["start"], link["end"], link["anchor"])
    return list(found.values())


def pair_key(a: str, b: str) -> str:
    """The key that a pair of entities and the facts between them, in either direction, share."""
    return f"{a} {b}" if a < b else f"{b} {a}"


def entity_pairs(found: list[Mention]) -> Iterator[tuple[Mention, Mention]]:
    """Every unordered pair of distinct entities, the earlier mention first."""
    for i, first in enumerate(found):
        for second in found[i + 1:]:
            yield first, second


def labelled_pairs(first: Mention, second: Mention, facts: Iterable[Fact],
                   relations: Mapping[str, Relation]) -> list[Labelled]:
    """One labelled pair per fact of the inventory between the two entities, in a stable order."""
    by_qid = {first.qid: first, second.qid: second}
    labelled = []
    for fact in sorted(set(facts), key=lambda f: (f.subject, f.property, f.object)):
        relation = relations.get(fact.property)
        if relation is None or {fact.subject, fact.object} != set(by_qid):
            continue
        labelled.append(Labelled(by_qid[fact.subject], by_qid[fact.object], relation))
    return labelled


def negative(first: Mention, second: Mention) -> Labelled:
    return Labelled(first, second, Relation(NO_RELATION, NO_RELATION, NO_RELATION_NAME))


def keeps_negative(sentence: SentenceKey, first: Mention, second: Mention, rate: float, seed: int) -> bool:
    """Whether this fact-less pair is sampled as a negative: a hash, uniform in [0, 1), below `rate`."""
    if rate <= 0.0:
        return False
    key = f"{seed}\t{sentence.lang}\t{sentence.page_id}\t{sentence.sent_index}\t{first.qid}\t{second.qid}"
    draw = int.from_bytes(hashlib.sha1(key.encode("utf-8")).digest()[:8], "big") / 2 ** 64
    return draw < rate


def make_row(sentence: SentenceRef, labelled: Labelled) -> dict:
    entity1, entity2, relation = labelled.entity1, labelled.entity2, labelled.relation
    return {
        "id": row_id(sentence.lang, sentence.page_id, sentence.sent_index, entity1.qid, entity2.qid,
                     relation.relation),
        "lang": sentence.lang, "sentence": sentence.text,
        "entity1": entity1.qid, "entity2": entity2.qid,
        "entity1_indices": [entity1.start, entity1.end], "entity2_indices": [entity2.start, entity2.end],
        "relation": relation.relation, "relation_name": relation.relation_name, "category": relation.category,
        "page_id": sentence.page_id, "page_title": sentence.page_title,
        "entity1_text": entity1.anchor, "entity2_text": entity2.anchor,
    }


def sentence_rows(sentence: dict, resolutions: Mapping[str, Resolution], facts: Mapping[str, Iterable[Fact]],
                  relations: Mapping[str, Relation], negatives: float, seed: int, counts: Counter) -> list[dict]:
    """A sentence row of `run sentences` -> its relx-distant rows, given the resolution of every link
    target and the facts by `pair_key`; counts each link as resolved or unresolved by reason, and
    each entity pair."""
    for link in sentence["links"]:
        resolution = resolutions.get(link["target"])
        if resolution is None:
            # Every target is resolved before its sentences are read, so a gap means the runner lost elements.
            raise RelxdataError(f"page {sentence['page_id']} links to {link['target']!r}, but that title has no "
                                "resolution: the runner lost elements (see docs/performance.md)")
        counts["links.resolved" if resolution.qid else f"links.unresolved.{resolution.reason.value}"] += 1
    found = mentions(sentence["links"], resolutions)
    if len(found) < 2:
        return []
    ref = SentenceRef(sentence["lang"], sentence["page_id"], sentence["page_title"], sentence["sent_index"],
                      sentence["text"])
    rows = []
    for first, second in entity_pairs(found):
        counts["entity_pairs"] += 1
        labelled = labelled_pairs(first, second, facts.get(pair_key(first.qid, second.qid), ()), relations)
        if not labelled and keeps_negative(ref.key, first, second, negatives, seed):
            labelled = [negative(first, second)]
        rows.extend(make_row(ref, each) for each in labelled)
    return rows
