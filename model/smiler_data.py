"""What HERBERTa reads: SMiLER rows (smiler Parquet shards or released TSV files), as token sequences.

Both models tokenize the whole sentence with the fast tokenizer's character offsets, so an entity
maps to the tokens that cover it (a tag may split a word: "<e2>Brazil</e2>ian" maps to the token
"Brazilian", never to nothing), and a predicted token span maps back to characters. A sentence longer
than the model takes keeps a window around both entities; one whose entities lie further apart than
that is skipped and counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from relxdata.errors import RelxdataError
from relxdata.smiler_tsv import read_tsv

# Language mixtures by name, as the SMiLER paper trains on them; LANG+EN (e.g. de+en) is any language with English.
SMILER_LANGUAGES = ("ar", "de", "en", "es", "fa", "fr", "it", "ko", "nl", "pl", "pt", "ru", "sv", "uk")
MIXTURES = {
    "ALL": SMILER_LANGUAGES,
    # European languages of SMiLER.
    "EURO": ("de", "en", "es", "fr", "it", "nl", "pl", "pt", "ru", "sv", "uk"),
    # Languages of SMiLER whose basic word order is subject-verb-object (our grouping; the paper names none).
    "SVO": ("en", "es", "fr", "it", "pl", "pt", "ru", "sv", "uk"),
}
SMILER_COLUMNS = ["id", "text", "entity_1", "entity_2", "entity_1_indices", "entity_2_indices", "label", "lang",
                  "split"]


@dataclass(frozen=True)
class SmilerExample:
    id: str
    text: str
    e1: tuple[int, int]
    e2: tuple[int, int]
    label: str
    lang: str


def languages(spec: str | None) -> frozenset[str] | None:
    """`--langs`: None (every language), a mixture name, codes joined by commas, or LANG+EN."""
    if not spec:
        return None
    chosen: set[str] = set()
    for part in spec.split(","):
        part = part.strip()
        if part.upper() in MIXTURES:
            chosen.update(MIXTURES[part.upper()])
        elif part:
            chosen.update(code.strip().lower() for code in part.split("+") if code.strip())
    if not chosen:
        raise RelxdataError(f"--langs {spec!r} names no language")
    return frozenset(chosen)


def read_smiler(path: str, split: str | None, langs: frozenset[str] | None, skipped: list[str]) -> list[SmilerExample]:
    """The examples of a released TSV file, or of a smiler corpus directory's `split` rows; TSV rows with empty
    text or broken tags are skipped, each noted in `skipped` with its file and line."""
    source = Path(path)
    if source.is_dir():
        files = sorted(source.glob("part-*.parquet"))
        if not files:
            raise RelxdataError(f"{path}: no part-*.parquet shards (a smiler corpus) and not a TSV file")
        rows = pq.read_table(files, columns=SMILER_COLUMNS).to_pylist()
        examples = [SmilerExample(row["id"], row["text"], tuple(row["entity_1_indices"]),
                                  tuple(row["entity_2_indices"]), row["label"], row["lang"])
                    for row in rows if split is None or row["split"] == split]
    elif source.is_file():
        examples = [SmilerExample(row.id, row.text, row.entity_1_span, row.entity_2_span, row.label, row.lang)
                    for row in read_tsv(str(source), skipped)]
    else:
        raise RelxdataError(f"{path}: no such file or directory")
    return [example for example in examples if langs is None or example.lang in langs]


def read_many(paths: Sequence[str], split: str | None, langs: frozenset[str] | None,
              skipped: list[str]) -> list[SmilerExample]:
    examples = [example for path in paths for example in read_smiler(path, split, langs, skipped)]
    if not examples:
        raise RelxdataError(f"{', '.join(paths)}: no examples" + (f" in the languages {sorted(langs)}" if langs else ""))
    return examples


@dataclass(frozen=True)
class Tokenized:
    """A sentence's window of tokens: ids, their character offsets, and the entities' token spans (inclusive)."""

    ids: list[int]
    offsets: list[tuple[int, int]]
    e1: tuple[int, int] | None
    e2: tuple[int, int] | None


def token_span(offsets: Sequence[tuple[int, int]], span: tuple[int, int]) -> tuple[int, int] | None:
    """The first and last token that overlap the characters `span`."""
    start, end = span
    covering = [index for index, (a, b) in enumerate(offsets) if a < end and b > start]
    return (covering[0], covering[-1]) if covering else None


def tokenize(tokenizer, texts: Sequence[str], spans: Sequence[tuple[tuple[int, int], tuple[int, int]] | None],
             budget: int, counts: Counter) -> list[Tokenized | None]:
    """Whole-sentence tokens with offsets, cut to `budget` tokens around both entities when they are known
    (None, counted, when they lie further apart than that or cover no token)."""
    encoded = tokenizer(list(texts), add_special_tokens=False, return_offsets_mapping=True)
    result: list[Tokenized | None] = []
    for ids, offsets, entities in zip(encoded["input_ids"], encoded["offset_mapping"], spans):
        offsets = [tuple(pair) for pair in offsets]
        if entities is None:
            result.append(Tokenized(ids[:budget], offsets[:budget], None, None))
            continue
        e1, e2 = token_span(offsets, entities[0]), token_span(offsets, entities[1])
        if e1 is None or e2 is None:
            counts["examples.skipped.entity_without_tokens"] += 1
            result.append(None)
            continue
        low, high = min(e1[0], e2[0]), max(e1[1], e2[1])
        if high - low + 1 > budget:
            counts["examples.skipped.entities_too_far_apart"] += 1
            result.append(None)
            continue
        start = max(0, min(low - (budget - (high - low + 1)) // 2, len(ids) - budget))
        if len(ids) > budget:
            counts["examples.cut_to_max_length"] += 1
        window = slice(start, start + budget)
        result.append(Tokenized(ids[window], offsets[window], (e1[0] - start, e1[1] - start),
                                (e2[0] - start, e2[1] - start)))
    return result
