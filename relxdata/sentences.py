"""Sentences that carry the links inside them, split by spaCy."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass

import numpy
import spacy
from spacy.attrs import IS_SPACE, SENT_START
from spacy.language import Language
from spacy.util import compile_infix_regex

from relxdata.errors import RelxdataError
from relxdata.titles import wiki_conventions
from relxdata.wikitext import Document, Link

MULTI_LANGUAGE = "xx"
# Sentence-final marks of scripts written without spaces; the multi-language tokenizer must split
# them off inside a word for the sentencizer to see them.
UNSPACED_SENTENCE_ENDS = r"[。！？｡︒]"
PARAGRAPH_COMPONENT = "relxdata_paragraph_starts"
PLACEHOLDER = "x"


@Language.component(PARAGRAPH_COMPONENT)
def mark_paragraph_starts(doc):
    """A line break always ends a sentence: paragraphs, list items and headings stand alone.

    Set in one array: setting `token.is_sent_start` one token at a time rescans the whole
    document each time.
    """
    if len(doc) < 2:
        return doc
    breaks = [i + 1 for i in numpy.flatnonzero(doc.to_array(IS_SPACE)) if "\n" in doc[i].text and i + 1 < len(doc)]
    starts = numpy.zeros((len(doc), 1), dtype="uint64")
    starts[breaks] = 1
    doc.from_array([SENT_START], starts)
    return doc


@dataclass(frozen=True)
class Sentence:
    index: int
    text: str
    links: tuple[Link, ...]


@dataclass(frozen=True)
class SplitterInfo:
    """What was asked for and what splits the sentences, for the manifest."""

    requested: str
    used: str
    fallback_reason: str | None


class SentenceSplitter:
    """`spacy.blank(lang)` + the sentencizer, or a trained pipeline named by the user."""

    def __init__(self, lang: str, model: str | None = None):
        if lang not in wiki_conventions()["interlanguage_prefixes"]:
            raise RelxdataError(f"unknown Wikipedia language code {lang!r}")
        self.lang = lang
        self.nlp, self.info = _load_pipeline(lang, model)
        # Only the rule-based sentencizer may see condensed text; a trained parser needs every word.
        self.condensable = _condensable_runs(self.nlp.get_pipe("sentencizer").punct_chars) if model is None else None

    def split(self, document: Document) -> tuple[list[Sentence], Counter]:
        """Sentences of a document with link offsets relative to each; counts the links dropped."""
        spans: list[tuple[int, int]] = []
        for offset, chunk in _chunks(document.text, self.nlp.max_length):
            text, original = (_condense(chunk, self.condensable) if self.condensable
                              else (chunk, lambda position: position))
            for sent in self.nlp(text).sents:
                start, end = offset + original(sent.start_char), offset + original(sent.end_char)
                while start < end and document.text[start].isspace():
                    start += 1
                while end > start and document.text[end - 1].isspace():
                    end -= 1
                if start < end:
                    spans.append((start, end))
        members: list[list[Link]] = [[] for _ in spans]
        dropped: Counter = Counter()
        starts = [start for start, _ in spans]
        for link in document.links:
            number = bisect_right(starts, link.start) - 1
            if number >= 0 and link.end <= spans[number][1]:
                start = spans[number][0]
                members[number].append(Link(link.start - start, link.end - start, link.target, link.anchor,
                                            link.fragment))
            else:
                dropped["crosses_sentence"] += 1
        sentences = [Sentence(index, document.text[start:end], tuple(links))
                     for index, ((start, end), links) in enumerate(zip(spans, members))]
        return sentences, dropped


def _condensable_runs(sentence_ends) -> re.Pattern:
    """Runs of space-separated chunks that begin with a letter or digit and hold no sentence end."""
    ends = "".join(re.escape(char) for char in sorted(sentence_ends))
    return re.compile(rf"(?<!\S)[^\W_][^\s{ends}]*(?: [^\s{ends}]+)*(?!\S)")


def _condense(text: str, runs: re.Pattern):
    """Replace every condensable run by one placeholder word; return it and a map back.

    spaCy tokenizes each space-separated chunk on its own, and the sentencizer starts a sentence
    only at the first non-punctuation token after a token that is a sentence end. In a run of
    chunks without sentence ends that begins with a letter or digit, only the first token can
    start a sentence and it is not punctuation: the run behaves exactly like one plain word. The
    condensed text has the original's sentence boundaries with far fewer tokens to build.
    """
    pieces, new_starts, old_starts, old_ends = [], [], [], []
    last, length = 0, 0
    for match in runs.finditer(text):
        kept = text[last:match.start()]
        pieces += (kept, PLACEHOLDER)
        length += len(kept)
        new_starts.append(length)
        old_starts.append(match.start())
        old_ends.append(match.end())
        length += len(PLACEHOLDER)
        last = match.end()
    pieces.append(text[last:])

    def original(position: int) -> int:
        run = bisect_right(new_starts, position) - 1
        if run < 0:
            return position
        if position == new_starts[run]:
            return old_starts[run]
        return old_ends[run] + position - new_starts[run] - len(PLACEHOLDER)

    return "".join(pieces), original


def _load_pipeline(lang: str, model: str | None) -> tuple[Language, SplitterInfo]:
    if model:
        try:
            nlp = spacy.load(model, exclude=["ner", "lemmatizer", "attribute_ruler", "textcat"])
        except OSError as exc:
            raise RelxdataError(f"spaCy pipeline {model!r} is not installed: {exc}") from None
        nlp.add_pipe(PARAGRAPH_COMPONENT, first=True)
        if not (nlp.has_pipe("parser") or nlp.has_pipe("senter") or nlp.has_pipe("sentencizer")):
            nlp.add_pipe("sentencizer")
        return nlp, SplitterInfo(requested=model, used=model, fallback_reason=None)
    fallback_reason = None
    try:
        nlp = spacy.blank(lang)
    except ImportError as exc:
        # spaCy has no class for this language, or its class needs a package that is missing.
        fallback_reason = str(exc).splitlines()[0]
        nlp = spacy.blank(MULTI_LANGUAGE)
        infixes = list(nlp.Defaults.infixes) + [UNSPACED_SENTENCE_ENDS]
        nlp.tokenizer.infix_finditer = compile_infix_regex(infixes).finditer
    nlp.add_pipe(PARAGRAPH_COMPONENT)
    nlp.add_pipe("sentencizer")
    used = MULTI_LANGUAGE if fallback_reason else lang
    return nlp, SplitterInfo(requested=lang, used=used, fallback_reason=fallback_reason)


def _chunks(text: str, limit: int):
    """(offset, chunk) pieces of at most `limit` characters, cut at line breaks where possible."""
    start = 0
    while len(text) - start > limit:
        cut = text.rfind("\n", start, start + limit)
        cut = start + limit if cut <= start else cut + 1
        yield start, text[start:cut]
        start = cut
    yield start, text[start:]
