"""The released SMiLER layout: `{lang}_corpora_{train,test}.tsv`, entities tagged inside the text.

Each file starts with the header `id	entity_1	entity_2	label	text	lang`; the text carries
`<e1>…</e1>` and `<e2>…</e2>` at the entities' spans, with no spaces added inside or around the
tags, so a tag may split a word ("<e2>Brazil</e2>ian"). Spans are code points of the untagged text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator

from relxdata.errors import RelxdataError

HEADER = ("id", "entity_1", "entity_2", "label", "text", "lang")
_TAG = re.compile(r"</?e[12]>")


class TagError(RelxdataError, ValueError):
    """A tagged text whose <e1>/<e2> tags are missing, repeated, unclosed or crossed."""


@dataclass(frozen=True)
class TaggedRow:
    id: str
    entity_1: str
    entity_2: str
    label: str
    text: str                         # untagged
    lang: str
    entity_1_span: tuple[int, int]
    entity_2_span: tuple[int, int]


def tag(text: str, entity_1: tuple[int, int], entity_2: tuple[int, int]) -> str:
    """`text` with <e1>…</e1> and <e2>…</e2> inserted at the two spans, which must not overlap."""
    (s1, e1), (s2, e2) = entity_1, entity_2
    if not (0 <= s1 < e1 <= len(text) and 0 <= s2 < e2 <= len(text)) or (s1 < e2 and s2 < e1):
        raise TagError(f"spans {entity_1} and {entity_2} do not fit apart in a text of {len(text)} characters")
    marks = sorted([(s1, "<e1>"), (e1, "</e1>"), (s2, "<e2>"), (e2, "</e2>")], key=lambda m: (m[0], m[1][1] != "/"))
    pieces, last = [], 0
    for offset, mark in marks:
        pieces += [text[last:offset], mark]
        last = offset
    return "".join(pieces + [text[last:]])


def untag(tagged: str) -> tuple[str, tuple[int, int], tuple[int, int]]:
    """The plain text and the [start, end) spans of entity 1 and entity 2 of a tagged text."""
    pieces, opened, spans, last, length = [], {}, {}, 0, 0
    for match in _TAG.finditer(tagged):
        pieces.append(tagged[last:match.start()])
        length += match.start() - last
        last = match.end()
        name = match[0].strip("</>")
        if not match[0].startswith("</"):
            if name in opened or name in spans:
                raise TagError(f"<{name}> opens twice")
            opened[name] = length
        else:
            if name not in opened:
                raise TagError(f"</{name}> closes a tag that is not open")
            spans[name] = (opened.pop(name), length)
    pieces.append(tagged[last:])
    if opened:
        raise TagError(f"<{next(iter(opened))}> is never closed")
    if set(spans) != {"e1", "e2"}:
        raise TagError("the text lacks " + " and ".join(f"<{n}>" for n in ("e1", "e2") if n not in spans))
    (s1, e1), (s2, e2) = spans["e1"], spans["e2"]
    if s1 < e2 and s2 < e1:
        raise TagError("the <e1> and <e2> spans overlap")
    return "".join(pieces), spans["e1"], spans["e2"]


def row_line(row: dict) -> str:
    """One smiler row as a line of the released layout; tabs and line breaks inside fields become spaces
    (one for one, so the spans stay where they were)."""
    text = tag(row["text"], tuple(row["entity_1_indices"]), tuple(row["entity_2_indices"]))
    fields = (row["id"], row["entity_1"], row["entity_2"], row["label"], text, row["lang"])
    return "\t".join(_one_line(field) for field in fields) + "\n"


def _one_line(field: str) -> str:
    return field.replace("\t", " ").replace("\r", " ").replace("\n", " ")


def read_tsv(path: str, skipped: list[str] | None = None) -> Iterator[TaggedRow]:
    """The rows of a released-layout file; a line that breaks the layout is an error naming file and line,
    or, given a `skipped` list, a `file:line: reason` entry in it, and the rows go on."""
    try:
        source = open(path, encoding="utf-8", newline="\n")
    except OSError as exc:
        raise RelxdataError(f"{path}: cannot read: {exc.strerror}") from None
    with source:
        try:
            yield from _rows(path, source, skipped)
        except UnicodeDecodeError:
            raise TagError(f"{path}: not UTF-8 text; expected a SMiLER TSV file") from None


def _rows(path: str, source, skipped: list[str] | None) -> Iterator[TaggedRow]:
    header = source.readline().rstrip("\r\n").split("\t")
    if tuple(header) != HEADER:
        raise TagError(f"{path}:1: the header is not {' '.join(HEADER)}")
    for number, line in enumerate(source, 2):
        try:
            yield _parse_line(line)
        except TagError as exc:
            if skipped is None:
                raise TagError(f"{path}:{number}: {exc}") from None
            skipped.append(f"{path}:{number}: {exc}")


def _parse_line(line: str) -> TaggedRow:
    fields = line.rstrip("\r\n").split("\t")
    if len(fields) != len(HEADER):
        raise TagError(f"{len(fields)} fields, not {len(HEADER)}")
    record = dict(zip(HEADER, fields))
    if not record["text"].strip():
        raise TagError("empty text")
    text, span_1, span_2 = untag(record["text"])
    return TaggedRow(record["id"], record["entity_1"], record["entity_2"], record["label"], text, record["lang"],
                     span_1, span_2)
