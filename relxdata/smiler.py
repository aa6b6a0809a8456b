"""SMiLER rows: sentences of entity 1's article that mention entity 2, labelled by a fact between them.

Entity 1 is the article's subject; entity 2 is any entity (or value) that a fact of the SMiLER
inventory gives from entity 1. A sentence of the article is a row when it mentions both:

- Wikipedia links an entity once, so a mention of entity 2 is a link to it (`link`), or a later
  unlinked repeat of an anchor text the article used for it (`anchor_repeat`), or its title
  (`title`, also without a trailing "(qualifier)"); a value is found by its renderings (`literal`,
  relxdata.literals).
- Entity 1 is mentioned by its title, the bold names of the lead, or a redirect title that points
  to it (all `title`), or by a link to itself (`link`).
- Text matches are whole words (except in languages written without spaces), never overlap a link,
  and compete longest first.

Pairs of entity 1 and a linked entity with no fact between them in either direction are kept as
`no_relation` at a rate, by a seeded hash. The split of a row is decided by its article's QID, so
an article and its other-language versions fall in the same split.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Mapping

from relxdata.corpora import row_id
from relxdata.dbpedia import iri_of
from relxdata.kb import Fact, Literal
from relxdata.linking import Resolution, Unresolved
from relxdata.literals import renderings
from relxdata.relations import NO_RELATION, LabelSource

# Languages written without spaces between words: a name may start or end anywhere.
WORDLESS = frozenset({"ja", "zh", "th", "km", "lo", "my", "bo", "wuu", "yue", "gan", "lzh", "zh-yue", "zh-classical"})
# Kinds of mention, best first: a row takes the best mention of each entity in its sentence.
LINK, ANCHOR_REPEAT, TITLE, LITERAL = "link", "anchor_repeat", "title", "literal"
PREFERENCE = {LINK: 0, ANCHOR_REPEAT: 1, TITLE: 2, LITERAL: 2}
SPLITS = (("train", 96), ("dev", 98), ("test", 100))
MIN_NAME_LENGTH = 2
_QUALIFIER = re.compile(r"\s+\([^()]*\)$")


@dataclass(frozen=True, slots=True)
class LabelledFact:
    """A fact of the inventory from entity 1: `entity_2` is an article title or a value."""

    label: str
    property: str  # "dbo:child", "^dbo:parent" (read backwards), "P40"
    entity_2: str | Literal
    value_kind: str | None = None
    entity_2_qid: str | None = None


@dataclass(frozen=True)
class ArticleKnowledge:
    """What is known about one article's subject, besides its text."""

    title: str
    qid: str | None
    names: tuple[str, ...]          # the bold names of the lead and the redirect titles that point to it
    facts: tuple[LabelledFact, ...]
    related: frozenset[str]         # titles with a fact of the inventory to or from it, any label


@dataclass(frozen=True, slots=True)
class Mention:
    start: int
    end: int
    kind: str


def split_of(key: str) -> str:
    """train, dev or test (96/2/2) by a hash of the article's QID (or title, when it has none)."""
    bucket = int.from_bytes(hashlib.sha1(key.encode("utf-8")).digest()[:8], "big") % 100
    return next(name for name, below in SPLITS if bucket < below)


def title_forms(title: str) -> list[str]:
    """A title as a text may write it: whole, and without a trailing "(qualifier)"."""
    forms = [title]
    bare = _QUALIFIER.sub("", title)
    if bare != title:
        forms.append(bare)
    return forms


def _with_lower_initial(names: Iterable[str], case: str) -> set[str]:
    """Titles are capitalised by the wiki's case rule; prose writes "anarchism" mid-sentence."""
    forms = set(names)
    if case == "first-letter":
        forms |= {name[0].lower() + name[1:] for name in forms if name[:1].isupper() and not name[1:2].isupper()}
    return {name for name in forms if len(name) >= MIN_NAME_LENGTH}


_WORD = re.compile(r"\w+")


def _bounded(text: str, start: int, end: int, wordless: bool) -> bool:
    """Whether text[start:end] is whole words: no letter or digit glued to either end, and no number
    it is only part of ("865" in "1.865")."""
    if wordless:
        return True
    before, after = text[start - 1:start], text[end:end + 1]
    if before.isalnum() or after.isalnum():
        return False
    if text[start:start + 1].isdigit() and before in ",." and text[start - 2:start - 1].isdigit():
        return False
    if text[end - 1:end].isdigit() and after in ",." and text[end + 1:end + 2].isdigit():
        return False
    return True


class FormIndex:
    """Surface forms, each naming (key, kind) pairs, found in a text by the word they start with.

    An article looks for hundreds of forms (names, titles, anchors, a value's renderings) in each of
    its sentences; looking up each word of a sentence among the forms' first words finds them all at
    the cost of one dictionary lookup a word. In languages written without spaces every character
    may start a form, and forms are indexed by their first character instead.
    """

    def __init__(self, wordless: bool):
        self.wordless = wordless
        self.by_start: dict[str, dict[str, list[tuple[str, str]]]] = {}
        self.symbol_starts: set[str] = set()  # first characters of forms that start with no word ("!Xóõ")

    def add(self, form: str, key: str, kind: str) -> None:
        if not form:
            return
        word = None if self.wordless else _WORD.match(form)
        start = word[0] if word else form[0]
        if word is None and not self.wordless:
            self.symbol_starts.add(start)
        names = self.by_start.setdefault(start, {}).setdefault(form, [])
        if (key, kind) not in names:
            names.append((key, kind))

    def find(self, text: str) -> list[tuple[int, int, str, str]]:
        """Every whole-word occurrence of every form: (start, end, key, kind), overlapping ones included."""
        found: list[tuple[int, int, str, str]] = []
        if self.wordless:
            for position, char in enumerate(text):
                self._check(text, position, char, found)
            return found
        for word in _WORD.finditer(text):
            self._check(text, word.start(), word[0], found)
        for char in self.symbol_starts:
            position = text.find(char)
            while position >= 0:
                self._check(text, position, char, found)
                position = text.find(char, position + 1)
        return found

    def _check(self, text: str, position: int, first: str, found: list) -> None:
        forms = self.by_start.get(first)
        if forms:
            for form, names in forms.items():
                end = position + len(form)
                if text.startswith(form, position) and _bounded(text, position, end, self.wordless):
                    found.extend((position, end, key, kind) for key, kind in names)


def _longest_first(spans: list[tuple[int, int]], taken: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The spans that fit, longest first, then earliest, beside those already `taken` (which grows)."""
    kept = []
    for start, end in sorted(spans, key=lambda span: (span[0] - span[1], span[0])):
        if all(end <= other_start or start >= other_end for other_start, other_end in taken):
            taken.append((start, end))
            kept.append((start, end))
    return sorted(kept)


def find_forms(text: str, forms: Iterable[str], wordless: bool) -> list[tuple[int, int]]:
    """Non-overlapping whole-word spans of any of `forms` in `text`, the longest where they overlap."""
    index = FormIndex(wordless)
    for form in forms:
        index.add(form, "", TITLE)
    return _longest_first(list({(start, end) for start, end, _, _ in index.find(text)}), [])


@dataclass
class _SentenceMentions:
    """Every entity's mentions in one sentence, once links and text matches are settled."""

    by_key: dict[str, list[Mention]]

    def best(self, key: str) -> Mention | None:
        found = self.by_key.get(key)
        return min(found, key=lambda m: (PREFERENCE[m.kind], m.start)) if found else None


def _settle(links: list[tuple[str, Mention]], candidates: list[tuple[str, Mention]]) -> _SentenceMentions:
    """Links stand; text matches take what links leave, longest first, then earliest."""
    taken = [(m.start, m.end) for _, m in links]
    by_key: dict[str, list[Mention]] = {}
    for key, mention in links:
        by_key.setdefault(key, []).append(mention)
    for key, mention in sorted(candidates, key=lambda c: (c[1].start - c[1].end, c[1].start, c[0])):
        if all(mention.end <= start or mention.start >= end for start, end in taken):
            taken.append((mention.start, mention.end))
            by_key.setdefault(key, []).append(mention)
    return _SentenceMentions(by_key)


ENTITY_1 = "\x00entity 1"


def _literal_key(index: int) -> str:
    return f"\x00value {index}"


def _link_entities(sentence: dict, resolutions: Mapping[str, Resolution], title: str) -> list[tuple[str, Mention, Resolution]]:
    """The sentence's links that name an entity (a page or a red link), keyed ENTITY_1 for the article itself."""
    found = []
    for link in sentence["links"]:
        resolution = resolutions.get(link["target"])
        if resolution is not None and resolution.arrived is not None:
            key = ENTITY_1 if resolution.arrived == title else resolution.arrived
            found.append((key, Mention(link["start"], link["end"], LINK), resolution))
    return found


def article_rows(article: ArticleKnowledge, sentences: list[dict], resolutions: Mapping[str, Resolution], *,
                 lang: str, case: str, negatives: float, seed: int, counts: Counter) -> list[dict]:
    """The SMiLER rows of one article, given its sentences (in order) and the resolution of their link
    targets; counts its facts that gave no row, by reason."""
    entity_facts = [fact for fact in article.facts if not isinstance(fact.entity_2, Literal)]
    literal_facts = [fact for fact in article.facts if isinstance(fact.entity_2, Literal)]
    counts["facts.skipped.self_loop"] += sum(fact.entity_2 == article.title for fact in entity_facts)
    entity_facts = [fact for fact in entity_facts if fact.entity_2 != article.title]
    targets = {fact.entity_2 for fact in entity_facts}
    linked = [_link_entities(sentence, resolutions, article.title) for sentence in sentences]
    # Where each anchor was first linked to each target: a repeat counts only after it.
    first_linked: dict[tuple[str, str], tuple[int, int]] = {}
    for order, (sentence, links) in enumerate(zip(sentences, linked)):
        for key, mention, _ in links:
            if key in targets:
                first_linked.setdefault((key, sentence["text"][mention.start:mention.end]), (order, mention.end))
    index = FormIndex(lang in WORDLESS)
    for name in _with_lower_initial([*title_forms(article.title), *article.names], case):
        index.add(name, ENTITY_1, TITLE)
    title_names = {title: _with_lower_initial(title_forms(title), case) for title in targets}
    for title, names in title_names.items():
        for name in names:
            index.add(name, title, TITLE)
    for key, anchor in first_linked:
        if anchor not in title_names[key]:
            index.add(anchor, key, ANCHOR_REPEAT)
    values = [renderings(fact.entity_2, fact.value_kind, lang) for fact in literal_facts]
    for number, forms in enumerate(values):
        for form in forms:
            index.add(form, _literal_key(number), LITERAL)
    found_anywhere: set[str] = set()
    found_with_entity_1: set[str] = set()
    rows: dict[str, dict] = {}
    qids: dict[str, str | None] = {}
    pages: set[str] = set()  # linked titles that are pages of the wiki: red links are never negatives
    for order, (sentence, links) in enumerate(zip(sentences, linked)):
        text = sentence["text"]
        for key, _, resolution in links:
            if resolution.reason is not Unresolved.RED_LINK:
                pages.add(key)
            qids.setdefault(resolution.arrived, resolution.qid)
        candidates = [(key, Mention(start, end, kind)) for start, end, key, kind in index.find(text)
                      if kind != ANCHOR_REPEAT or first_linked[key, text[start:end]] <= (order, start)]
        mentions = _settle([(key, mention) for key, mention, _ in links], candidates)
        found_anywhere.update(mentions.by_key)
        first = mentions.best(ENTITY_1)
        if first is None:
            continue
        counts["sentences_mentioning_entity_1"] += 1
        found_with_entity_1.update(mentions.by_key)
        for fact in entity_facts:
            if fact.entity_2 in mentions.by_key:
                second = mentions.best(fact.entity_2)
                row = _row(article, sentence, fact.label, fact.property, first, second, fact.entity_2, lang,
                           fact.entity_2_qid or qids.get(fact.entity_2))
                rows.setdefault(row["id"], row)
        for number, fact in enumerate(literal_facts):
            second = mentions.best(_literal_key(number))
            if second is not None:
                row = _row(article, sentence, fact.label, fact.property, first, second, None, lang, None)
                rows.setdefault(row["id"], row)
        if negatives > 0:
            for key, mention, _ in links:
                if key == ENTITY_1 or key in article.related or key in targets or key not in pages:
                    continue
                if _keeps_negative(seed, lang, sentence, article.title, key, negatives):
                    row = _row(article, sentence, NO_RELATION, None, first, mention, key, lang, qids.get(key))
                    rows.setdefault(row["id"], row)
    for fact in entity_facts:
        if fact.entity_2 not in found_with_entity_1:
            reason = "not_with_entity_1" if fact.entity_2 in found_anywhere else "entity_2_not_mentioned"
            counts[f"facts.unmatched.{reason}"] += 1
    for number, fact in enumerate(literal_facts):
        if _literal_key(number) not in found_with_entity_1:
            reason = ("unreadable_value" if not values[number] else
                      "not_with_entity_1" if _literal_key(number) in found_anywhere else "not_in_article")
            counts[f"literals.not_found.{fact.label}.{reason}"] += 1
    counts["facts.entity"] += len(entity_facts)
    counts["facts.literal"] += len(literal_facts)
    if rows and article.qid is None:
        counts["articles.split_by_title"] += 1
    return list(rows.values())  # in sentence order, then in the order of the article's facts


def _keeps_negative(seed: int, lang: str, sentence: dict, entity_1: str, entity_2: str, rate: float) -> bool:
    key = f"{seed}\t{lang}\t{sentence['page_id']}\t{sentence['sent_index']}\t{entity_1}\t{entity_2}"
    return int.from_bytes(hashlib.sha1(key.encode("utf-8")).digest()[:8], "big") / 2 ** 64 < rate


def _row(article: ArticleKnowledge, sentence: dict, label: str, prop: str | None, first: Mention, second: Mention,
         entity_2: str | None, lang: str, entity_2_qid: str | None) -> dict:
    text = sentence["text"]
    entity_2_text = text[second.start:second.end]
    entity_2_iri = iri_of(entity_2, lang) if entity_2 is not None else None
    return {
        "id": row_id(lang, sentence["page_id"], sentence["sent_index"], iri_of(article.title, lang),
                     entity_2_iri or f"{second.start}:{entity_2_text}", label),
        "lang": lang, "label": label,
        "entity_1": text[first.start:first.end], "entity_2": entity_2_text, "text": text,
        "entity_1_indices": [first.start, first.end], "entity_2_indices": [second.start, second.end],
        "entity_1_iri": iri_of(article.title, lang), "entity_2_iri": entity_2_iri,
        "entity_1_qid": article.qid, "entity_2_qid": entity_2_qid,
        "property": prop, "mention_1": first.kind, "mention_2": second.kind,
        "page_id": sentence["page_id"], "page_title": sentence["page_title"],
        "split": split_of(article.qid or f"{lang}:{article.title}"),
    }


def labelled_facts(fact: Fact, source: LabelSource) -> tuple[list[tuple[str, LabelledFact]], int]:
    """A knowledge-base fact -> (entity 1, labelled fact) for each label its property gives, in the
    label's direction; and how many labels it could not give (a literal where the label wants an
    entity, or the reverse)."""
    found, mismatched = [], 0
    is_value = isinstance(fact.object, Literal)
    for label, inverse in source.labels.get(fact.property, ()):
        if is_value != (label.value is not None) or (inverse and is_value):
            mismatched += 1
            continue
        entity_1, entity_2 = (fact.object, fact.subject) if inverse else (fact.subject, fact.object)
        found.append((entity_1, LabelledFact(label.label, ("^" if inverse else "") + fact.property, entity_2,
                                             label.value)))
    return found, mismatched


def fact_order(fact: LabelledFact) -> tuple:
    entity_2 = fact.entity_2
    value = (entity_2.value, entity_2.datatype or "", entity_2.lang or "") if isinstance(entity_2, Literal) else (entity_2,)
    return fact.label, fact.property, isinstance(entity_2, Literal), value
