"""Sentences that carry the links inside them, split by spaCy."""

from __future__ import annotations

import contextlib
import importlib.util
import re
import sys
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

import numpy

from relxdata.errors import RelxdataError
from relxdata.titles import wiki_conventions
from relxdata.wikitext import Document, Link, replace_spans

if TYPE_CHECKING:
    from spacy.language import Language

MULTI_LANGUAGE = "xx"
# Sentence-final marks of scripts written without spaces; the multi-language tokenizer must split
# them off inside a word for the sentencizer to see them.
UNSPACED_SENTENCE_ENDS = r"[。！？｡︒]"
PARAGRAPH_COMPONENT = "relxdata_paragraph_starts"
PLACEHOLDER = "x"


def mark_paragraph_starts(doc):
    """A line break always ends a sentence: paragraphs, list items and headings stand alone.

    Set in one array: setting `token.is_sent_start` one token at a time rescans the whole
    document each time.
    """
    from spacy.attrs import SENT_START

    starts = numpy.zeros((len(doc), 1), dtype="uint64")
    starts[_after_line_breaks(doc)] = 1
    doc.from_array([SENT_START], starts)
    return doc


def _after_line_breaks(doc) -> list[int]:
    """The tokens that follow a blank token holding a line break."""
    from spacy.attrs import IS_SPACE, ORTH

    blanks = doc.to_array([IS_SPACE, ORTH])
    strings = doc.vocab.strings
    return [i + 1 for i in numpy.flatnonzero(blanks[:, 0]).tolist()
            if i + 1 < len(doc) and "\n" in strings[int(blanks[i, 1])]]


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
        text = document.text
        for offset, chunk in _chunks(text, self.nlp.max_length):
            condensed, original = _condense(chunk, self.condensable) if self.condensable else (chunk, None)
            starts = _sentence_starts(self.nlp(condensed))
            if original is not None:
                starts = original(starts)
            # A sentence runs to the next one's first token: what lies between is its trailing blank.
            for start, end in zip((starts + offset).tolist(), [*(starts[1:] + offset).tolist(), offset + len(chunk)]):
                while start < end and text[start].isspace():
                    start += 1
                while end > start and text[end - 1].isspace():
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


def _sentence_starts(doc) -> numpy.ndarray:
    """Where each sentence of a parsed doc begins, in characters; faster than making `doc.sents` spans."""
    from spacy.attrs import IDX, SENT_START

    if "sents" in doc.user_hooks:  # a trained pipeline's own idea of sentences
        return numpy.array([sent.start_char for sent in doc.sents], dtype=numpy.int64)
    if not len(doc):
        return numpy.zeros(0, dtype=numpy.int64)
    marks = doc.to_array([SENT_START, IDX]).astype(numpy.int64)
    firsts = numpy.flatnonzero(marks[:, 0] == 1)
    if not len(firsts) or firsts[0] != 0:  # the first token always begins a sentence
        firsts = numpy.concatenate(([0], firsts))
    return marks[firsts, 1]


def _condensable_runs(sentence_ends) -> re.Pattern:
    """Runs of space-separated chunks that begin with a letter or digit and hold no sentence end.

    No character beyond the Basic Multilingual Plane may stand in a run: Python's regex engine
    tests the sentence ends up there (half of the sentencizer's) one by one at every character,
    which took three quarters of the time, and a run cut short is still a run, only condensed less.
    """
    ends = "".join(re.escape(char) for char in sorted(sentence_ends) if ord(char) <= 0xFFFF)
    chunk_char = rf"[^\s{ends}\U00010000-\U0010FFFF]"
    # Possessive chunks: giving back part of one never lets a run end at a blank, so never match.
    return re.compile(rf"(?<!\S)[^\W_]{chunk_char}*+(?: {chunk_char}++)*(?!\S)")


def _condense(text: str, runs: re.Pattern):
    """Replace every condensable run by one placeholder word; return it and a map back.

    spaCy tokenizes each space-separated chunk on its own, and the sentencizer starts a sentence
    only at the first non-punctuation token after a token that is a sentence end. In a run of
    chunks without sentence ends that begins with a letter or digit, only the first token can
    start a sentence and it is not punctuation: the run behaves exactly like one plain word. The
    condensed text has the original's sentence boundaries with far fewer tokens to build.
    """
    matched = [match.span() for match in runs.finditer(text)]
    if not matched:
        return text, lambda positions: positions
    condensed = replace_spans(text, matched, PLACEHOLDER)
    old_starts, old_ends = numpy.array(matched, dtype=numpy.int64).T
    # where each placeholder stands in the condensed text
    new_starts = old_starts - numpy.concatenate(([0], numpy.cumsum(old_ends - old_starts - len(PLACEHOLDER))[:-1]))

    def original(positions: numpy.ndarray) -> numpy.ndarray:
        """Positions in the condensed text -> in `text`: a placeholder's start to its run's start, any
        later position to as far past the run's end as it is past the placeholder's end."""
        run = numpy.searchsorted(new_starts, positions, side="right") - 1
        within = numpy.maximum(run, 0)
        moved = numpy.where(positions == new_starts[within], old_starts[within],
                            old_ends[within] + positions - new_starts[within] - len(PLACEHOLDER))
        return numpy.where(run < 0, positions, moved)

    return condensed, original


@contextlib.contextmanager
def _torch_unseen() -> Iterator[None]:
    """Import spaCy without PyTorch where no pipeline could use it: its thinc imports torch, when
    installed, only to offer it as a backend, and that costs every extraction process over a second
    of start-up (docs/performance.md). Only transformer pipelines (spacy-transformers) run on it."""
    if "torch" in sys.modules or importlib.util.find_spec("spacy_transformers") is not None:
        yield
        return
    sys.modules["torch"] = None  # an import of torch now raises ImportError
    try:
        yield
    finally:
        del sys.modules["torch"]


def _load_pipeline(lang: str, model: str | None) -> tuple[Language, SplitterInfo]:
    with _torch_unseen():
        import spacy
    from spacy.language import Language
    from spacy.util import compile_infix_regex

    if not Language.has_factory(PARAGRAPH_COMPONENT):
        Language.component(PARAGRAPH_COMPONENT, func=mark_paragraph_starts)
    if model:
        try:
            nlp = spacy.load(model, exclude=["ner", "lemmatizer", "attribute_ruler", "textcat"])
        except OSError as exc:
            raise RelxdataError(f"spaCy pipeline {model!r} is not installed: {exc}") from None
        nlp.add_pipe(PARAGRAPH_COMPONENT, first=True)
        if not (nlp.has_pipe("parser") or nlp.has_pipe("senter") or nlp.has_pipe("sentencizer")):
            nlp.add_pipe("sentencizer")
        _drop_idle_blank_special_cases(nlp.tokenizer)
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
    _drop_idle_blank_special_cases(nlp.tokenizer)
    used = MULTI_LANGUAGE if fallback_reason else lang
    return nlp, SplitterInfo(requested=lang, used=used, fallback_reason=fallback_reason)


def _drop_idle_blank_special_cases(tokenizer) -> None:
    """Remove the tokenizer's special cases for blanks ("\\n", " ", "\\t") that make the token it
    would make anyway.

    spaCy caches how it tokenized each space-separated chunk, but once a text has hit any special
    case it caches nothing more of that text (one flag per text; spaCy issue #1250). Every
    language's exceptions make "\\n" a special case, so after an article's first line break every
    chunk was tokenized from scratch, article after article: about half of the tokenizer's time
    (docs/performance.md). A blank run is always a chunk of its own, so only its own tokenization
    can change, and a special case is dropped only if the rules without it give the same token.
    """
    from spacy.attrs import ORTH
    from spacy.tokenizer import Tokenizer

    if not isinstance(tokenizer, Tokenizer):  # word segmenters (Chinese, ...) have no special cases
        return
    rules = tokenizer.rules
    blanks = {orth for orth, pieces in rules.items() if not orth.strip() and pieces == [{ORTH: orth}]}
    if not blanks:
        return
    tokenizer.rules = {orth: pieces for orth, pieces in rules.items() if orth not in blanks}
    needed = {orth for orth in blanks if [token.text for token in tokenizer(orth)] != [orth]}
    if needed:
        tokenizer.rules = {orth: pieces for orth, pieces in rules.items() if orth not in blanks - needed}


def _chunks(text: str, limit: int):
    """(offset, chunk) pieces of at most `limit` characters, cut at line breaks where possible."""
    start = 0
    while len(text) - start > limit:
        cut = text.rfind("\n", start, start + limit)
        cut = start + limit if cut <= start else cut + 1
        yield start, text[start:cut]
        start = cut
    yield start, text[start:]
