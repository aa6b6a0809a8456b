"""Wikitext to readable text with the article links in it, through mwparserfromhell.

Three steps keep mwparserfromhell's parsing while avoiding most of its cost:

1. MediaWiki extracts extension tags (`<ref>`, `<math>`, `<gallery>`...) and comments before it
   parses anything else, matching each opening tag to the first closing tag without nesting. We
   do the same, with one regular expression, for the tags whose content never reaches the prose:
   that removes most of an article's templates (its citations) before tokenizing.
2. mwparserfromhell's C tokenizer tokenizes the rest, leaving bold and italic quotes in the text
   (`skip_style_tags`), where they are deleted, instead of parsing them into tags.
3. One walk over the token stream writes the text and records the links. mwparserfromhell's
   builder would turn the same tokens into a tree first, which costs twice the tokenizing.

Installing relxdata compiles this module to C with mypyc where a C compiler is at hand (setup.py);
this source is both what is compiled and the pure-Python reference that the tests hold the
compiled module to (docs/performance.md).
"""

from __future__ import annotations

import html
import itertools
import re
from collections import Counter
from dataclasses import dataclass, field

import mwparserfromhell
import numpy
from mwparserfromhell.parser import tokens
from mypy_extensions import mypyc_attr

from relxdata.titles import LinkKind, TitleRules

# Extension tags whose content never shows as prose, and comments; matched as MediaWiki does.
DROPPED_EXTENSION_TAGS = ("ref", "math", "chem", "ce", "score", "timeline", "gallery", "imagemap", "graph",
                          "mapframe", "maplink", "templatedata", "templatestyles", "syntaxhighlight", "source",
                          "hiero", "inputbox", "categorytree", "includeonly", "indicator", "references", "pre")
# An opening tag's attributes run to the next ">", as in MediaWiki, but not for ever: searching the
# rest of the page from each of many `<ref name=x` that have no ">" after them takes quadratic time.
_EXTENSION_TAGS = re.compile(
    r"<!--.*?(?:-->|\Z)|<(" + "|".join(DROPPED_EXTENSION_TAGS) + r")\b[^>]{0,1000}?(?:/>|>.*?(?:</\1\s*>|\Z))",
    re.S | re.I)
# MediaWiki starts a table after indenting colons (`: {|`); mwparserfromhell only at the start of a
# line, so without the colons, lest the table's rows come out as prose. (A colon that begins a line:
# written to begin with the colon, so that the regex engine skips ahead to colons.)
_INDENTED_TABLE = re.compile(r":(?<![^\n]:):*[ \t]*(?=\{\|)")
# HTML and wiki-markup tags whose whole content is dropped after parsing.
DROPPED_TAGS = frozenset(DROPPED_EXTENSION_TAGS) | {"table", "style", "script", "noscript"}
# Tags that begin and end a line of their own.
BLOCK_TAGS = frozenset({"p", "div", "blockquote", "center", "poem", "li", "dd", "dt", "ul", "ol", "dl", "br",
                        "hr", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "caption", "figure"})
_STYLE_QUOTES = re.compile(r"'''''|'''|''")
# What may sit at the edge of a bold phrase without being part of the name.
_NAME_EDGES = " ,;:.()\"'«»„“”‚‘’"
_MAGIC_WORDS = re.compile(r"__[A-Z]+(?:_[A-Z]+)*__")
# The tidying patterns below each begin with a literal or a character class: Python's regex engine
# then skips in C to the next place a match can begin, where a leading alternation, repeat or
# lookbehind is tried at every character of the article (1.6 times the time on the real sample).
_BLANK = r"[ \t\u00a0\u2009\u200b]"
# Runs of spaces, or any other inline blank: single spaces are left alone (most of the text).
_INLINE_SPACES = re.compile(rf"{_BLANK}(?:(?<! )|(?={_BLANK})){_BLANK}*")
# Debris left where templates were: "Andorra (; , ), officially", "( ; born 1879)", "word ,".
# An empty pair of parentheses, or the blanks and separators just inside an opening one.
_EMPTY_PARENTHESES = re.compile(r"[( ,;:](?:(?<=\()[ ,;:]*\)|(?<=\([ ,;:])[ ,;:]*)")
_SPACE_BEFORE_PUNCTUATION = re.compile(r" (?= *[,.;:!?](?: |$)) *", re.M)
# Blanks around a line break, or blank lines; a lone "\n" is left alone (every line has one).
_LINE_BREAKS = re.compile(r"[ \n](?:(?<= ) *\n|(?<=\n)(?=\s))\s*")


# The records stay plain Python classes where mypyc compiles this module (setup.py): its frozen
# native classes cannot be pickled, and records must travel between processes like any other.
@mypyc_attr(native_class=False)
@dataclass(frozen=True)
class Link:
    """An article link: `text[start:end] == anchor`, offsets in code points."""

    start: int
    end: int
    target: str
    anchor: str
    fragment: str = ""


@mypyc_attr(native_class=False)
@dataclass
class Document:
    """Readable text, one paragraph (or list item, or heading) per line, with its article links."""

    text: str
    links: list[Link]
    dropped_links: Counter = field(default_factory=Counter)
    # The bold phrases of the lead (before the first heading): the names the article gives its subject.
    lead_names: list[str] = field(default_factory=list)


# Opening tokens and the tokens that close them; a tag opened by TagOpenOpen closes with either.
_OPENERS = (tokens.TemplateOpen, tokens.ArgumentOpen, tokens.WikilinkOpen, tokens.ExternalLinkOpen,
            tokens.HTMLEntityStart, tokens.HeadingStart, tokens.CommentStart, tokens.TagOpenOpen)
_CLOSERS = (tokens.TemplateClose, tokens.ArgumentClose, tokens.WikilinkClose, tokens.ExternalLinkClose,
            tokens.HTMLEntityEnd, tokens.HeadingEnd, tokens.CommentEnd, tokens.TagCloseSelfclose,
            tokens.TagCloseClose)
_INLINE_TEMPLATES = {"nowrap": "1", "nobr": "1", "nobreak": "1", "small": "1", "big": "1", "lang": "2"}
# A file link in a namespace the title rules do not know (a local alias of "File:" on a wiki whose
# <siteinfo> does not list it): a prefixed title with a media file's extension, or an image option
# among its parameters. Such links are dropped with their captions and counted as file_by_shape.
_MEDIA_TITLE = re.compile(r"[^:]+:.+\.(?:jpe?g|png|gif|svg|tiff?|webp|xcf|bmp|ogg|ogv|oga|opus|webm|mp3|mp4|mid|"
                          r"midi|mpe?g|wav|flac|pdf|djvu|stl)\s*", re.I)
_IMAGE_OPTION = re.compile(r"\s*(?:thumb|thumbnail|frame|framed|frameless|border|upright(?:\s*=?\s*[\d.]+)?|"
                           r"\d*x?\d+\s*px|(?:alt|link|page|class|lang)\s*=.*)\s*", re.I)


def _tokenizer():
    parser = mwparserfromhell.parser
    return parser.CTokenizer() if parser.use_c else parser.tokenizer.Tokenizer()


# mwparserfromhell's tokenizer retries a construct that never closes from its opener to the end of
# the text (mwparserfromhell issue #364): 4,000 unclosed `<div ` take 8 s on 20 kB, in C code that
# holds the GIL, where no timeout can stop it. These are the openers it retries.
_PAIRED_MARKS = (("{{", "}}"), ("[[", "]]"), ("{|", "|}"))
# An opening or closing tag that does not close itself: `<name`, `</name`, not `<name/>`.
_TAG_MARKS = re.compile(r"<(/?)([A-Za-z][\w-]*)(?![^<>]*/>)")
_UNPAIRED_TAGS = frozenset(mwparserfromhell.definitions.SINGLE)
# Seconds of tokenizing per unclosed opener and character of text after it, measured on a 2-core
# development machine: 5e-8 to 2e-7 in prose, up to 3e-6 in text dense with links, templates and
# small tables. The real sample pages have at most 9e6 unclosed openers × characters (Abortion).
TOKENIZER_RETRY_SECONDS = 1e-6


def unclosed_markup(wikitext: str) -> int:
    """How many more templates, links, tables and paired tags open than close.

    Counted in any order, at the speed of `str.count` (so stray closers elsewhere hide unclosed
    openers): the page's tokenizing time is about `unclosed_markup(text) * len(text) *
    TOKENIZER_RETRY_SECONDS` or less.
    """
    unclosed = sum(max(wikitext.count(opener) - wikitext.count(closer), 0) for opener, closer in _PAIRED_MARKS)
    balance: Counter = Counter()
    for (slash, name), number in Counter(_TAG_MARKS.findall(wikitext)).items():
        balance[name.lower()] += -number if slash else number
    return unclosed + sum(number for name, number in balance.items() if number > 0 and name not in _UNPAIRED_TAGS)


def _matching_closers(stream: list) -> list[int]:
    """For each opening token, the index of the token that closes it."""
    closer = [-1] * len(stream)
    stack: list[int] = []
    opener_types, closer_types = set(_OPENERS), set(_CLOSERS)
    for index, token in enumerate(stream):
        kind = type(token)
        if kind in opener_types:
            stack.append(index)
        elif kind in closer_types and stack:
            closer[stack.pop()] = index
    return closer


class _TokenWalker:
    """Walks mwparserfromhell's token stream once, appending text and remembering links.

    The tokens are the tokenizer's own; skipping the tree that its builder would make from them
    is what makes this fast. Each construct is handled on an index range of the stream.
    """

    def __init__(self, stream: list, rules: TitleRules):
        self.stream = stream
        self.closer = _matching_closers(stream)
        self.rules = rules
        self.pieces: list[str] = []
        self.length = 0
        self.links: list[tuple[int, int, str, str]] = []
        self.dropped: Counter = Counter()
        self.in_link = False
        self.in_lead = True
        self.bold_from: int | None = None
        self.bold: list[tuple[int, int, None, str]] = []  # shaped like links, to move with the text
    def add(self, text: str) -> None:
        if text:
            self.pieces.append(text)
            self.length += len(text)

    # The loops below inline `after`: they run once per token, and a call costs more than the step.
    def walk(self, start: int, end: int) -> None:
        stream, closer, handlers = self.stream, self.closer, _HANDLERS
        index = start
        while index < end:
            handler = handlers.get(type(stream[index]))
            if handler is not None:
                handler(self, index)
            # Every construct, handled or not (comments, {{{arguments}}}), ends at its closer.
            index = max(closer[index], index) + 1

    def top_level(self, start: int, end: int, kinds: tuple) -> list[int]:
        """Indices of tokens of `kinds` in start:end, not inside a nested construct."""
        stream, closer = self.stream, self.closer
        found, index = [], start
        while index < end:
            if type(stream[index]) in kinds:
                found.append(index)
            index = max(closer[index], index) + 1
        return found

    def raw(self, start: int, end: int) -> str:
        """The source text of a range, for titles and template values: text and entities only."""
        stream, closer = self.stream, self.closer
        parts, index = [], start
        while index < end:
            token = stream[index]
            if type(token) is tokens.Text:
                parts.append(token["text"])  # tokens are dicts; their attributes go through __getattr__
            elif type(token) is tokens.HTMLEntityStart:
                parts.append(self.entity_source(index))
            index = max(closer[index], index) + 1
        return "".join(parts)

    def text(self, index: int) -> None:
        value = self.stream[index]["text"]
        if "__" in value:
            value = _MAGIC_WORDS.sub("", value)
        if "''" not in value:
            self.add(value)
            return
        last = 0
        for quotes in _STYLE_QUOTES.finditer(value):
            self.add(value[last:quotes.start()])
            last = quotes.end()
            if self.in_lead and len(quotes[0]) != 2:
                if self.bold_from is None:
                    self.bold_from = self.length
                else:
                    self.end_bold(self.length)
        self.add(value[last:])

    def end_bold(self, end: int) -> None:
        assert self.bold_from is not None
        self.bold.append((self.bold_from, end, None, ""))
        self.bold_from = None

    def entity_source(self, index: int) -> str:
        inner = self.stream[index + 1:self.closer[index]]
        body = "".join("#" if type(t) is tokens.HTMLEntityNumeric else t.char if type(t) is tokens.HTMLEntityHex
                       else t.text for t in inner)
        return f"&{body};"

    def entity(self, index: int) -> None:
        self.add(html.unescape(self.entity_source(index)))

    def heading(self, index: int) -> None:
        if self.bold_from is not None:
            self.end_bold(self.length)
        self.in_lead = False
        self.add("\n")
        self.walk(index + 1, self.closer[index])
        self.add("\n")

    def external_link(self, index: int) -> None:
        end = self.closer[index]
        separators = self.top_level(index + 1, end, (tokens.ExternalLinkSeparator,))
        if self.stream[index].brackets and separators:
            self.walk(separators[0] + 1, end)

    def wikilink(self, index: int) -> None:
        stream, end = self.stream, self.closer[index]
        if end >= index + 2 and type(stream[index + 1]) is tokens.Text and (
                end == index + 2 or type(stream[index + 2]) is tokens.WikilinkSeparator):
            # [[Title]] or [[Title|label…]], most links: what the loops below would find
            raw, separators = stream[index + 1]["text"], [] if end == index + 2 else [index + 2]
        else:
            separators = self.top_level(index + 1, end, (tokens.WikilinkSeparator,))
            raw = self.raw(index + 1, separators[0] if separators else end)
        target = self.rules.classify(raw)
        if target.kind in (LinkKind.FILE, LinkKind.CATEGORY, LinkKind.INTERLANGUAGE):
            self.dropped[target.kind.value] += 1
            return
        if target.kind is LinkKind.ARTICLE and ":" in raw and self.looks_like_a_file(raw, separators, end):
            self.dropped["file_by_shape"] += 1
            return
        start = self.length
        nested, self.in_link = self.in_link, True
        if separators:
            self.walk(separators[0] + 1, end)
        else:
            self.add(_STYLE_QUOTES.sub("", html.unescape(raw.strip().removeprefix(":")).replace("_", " ")))
        self.in_link = nested
        if nested:
            self.dropped["nested"] += 1
        elif target.kind is LinkKind.ARTICLE:
            self.links.append((start, self.length, target.title, target.fragment))
        else:
            self.dropped[target.kind.value] += 1

    def looks_like_a_file(self, raw: str, separators: list[int], end: int) -> bool:
        # "[[:Datei:X.pdf|label]]" links to the file's page: a leading colon does not make it an article.
        if _MEDIA_TITLE.fullmatch(raw.strip().removeprefix(":")):
            return True
        # The tokenizer splits at the first "|" only; a file link's options follow, "|"-separated.
        options = self.raw(separators[0] + 1, end).split("|") if separators else []
        return any(_IMAGE_OPTION.fullmatch(option) for option in options)

    def tag(self, index: int) -> None:
        end = self.closer[index]
        marks = self.top_level(index + 1, end, (tokens.TagAttrStart, tokens.TagCloseOpen, tokens.TagCloseSelfclose,
                                                tokens.TagOpenClose))
        name = self.raw(index + 1, marks[0] if marks else end).strip().lower()
        if name in DROPPED_TAGS:
            return
        block = name in BLOCK_TAGS
        if block:
            self.add("\n")
        opened = [m for m in marks if type(self.stream[m]) is tokens.TagCloseOpen]
        closed = [m for m in marks if type(self.stream[m]) is tokens.TagOpenClose]
        if opened and type(self.stream[end]) is not tokens.TagCloseSelfclose:
            self.walk(opened[0] + 1, closed[0] if closed else end)
        if block and name not in ("li", "dd", "dt"):
            self.add("\n")

    def template_parts(self, index: int) -> tuple[str, dict[str, tuple[int, int]]]:
        """A template's name and the token range of each parameter's value, by name or position."""
        end = self.closer[index]
        separators = self.top_level(index + 1, end, (tokens.TemplateParamSeparator,))
        bounds = [index] + separators + [end]
        name = self.raw(index + 1, bounds[1]).strip().replace("_", " ")
        if name[:9].lower() == "template:":
            name = name[9:].strip()
        params, position = {}, 0
        for start, stop in zip(bounds[1:-1], bounds[2:]):
            equals = self.top_level(start + 1, stop, (tokens.TemplateParamEquals,))
            if equals:
                params[self.raw(start + 1, equals[0]).strip()] = (equals[0] + 1, stop)
            else:
                position += 1
                params[str(position)] = (start + 1, stop)
        return name[:1].lower() + name[1:], params

    def template(self, index: int) -> None:
        """Most templates are dropped; a few carry prose that readers see inline."""
        name, params = self.template_parts(index)
        shown = _INLINE_TEMPLATES.get(name, "1" if name.startswith("lang-") else None)
        if shown is not None:
            if shown in params:
                self.walk(*params[shown])
        elif name in ("ill", "interlanguage link") and "1" in params:
            start = self.length
            self.walk(*params.get("lt", params["1"]))
            target = self.rules.classify(self.raw(*params["1"]))
            if target.kind is LinkKind.ARTICLE and not self.in_link:
                self.links.append((start, self.length, target.title, target.fragment))
        elif name in ("convert", "cvt") and "1" in params and "2" in params:
            self.add(f"{self.raw(*params['1']).strip()} {self.raw(*params['2']).strip()}")


# The walker's handler of each kind of token, as plain functions: a dict of bound methods on the
# walker would make it a reference cycle, leaving each page's tokens to the garbage collector.
_HANDLERS = {
    tokens.Text: _TokenWalker.text, tokens.WikilinkOpen: _TokenWalker.wikilink,
    tokens.HTMLEntityStart: _TokenWalker.entity, tokens.TagOpenOpen: _TokenWalker.tag,
    tokens.HeadingStart: _TokenWalker.heading, tokens.ExternalLinkOpen: _TokenWalker.external_link,
    tokens.TemplateOpen: _TokenWalker.template,
}


def replace_spans(text: str, spans: list[tuple[int, int]], replacement: str) -> str:
    """`text` with each of `spans` (start, end; in order, none overlapping) replaced by `replacement`."""
    cuts = [0, *itertools.chain.from_iterable(spans), len(text)]
    return replacement.join([text[cuts[i]:cuts[i + 1]] for i in range(0, len(cuts), 2)])


def _rewrite(text: str, edges: numpy.ndarray, pattern: re.Pattern, replacement: str) -> tuple[str, numpy.ndarray]:
    """Replace every match of `pattern` and move the link edges (rows of start, end) with the text.

    A link edge inside a replaced span moves out of it: a start to after the replacement, an end
    to before it, so an anchor never gains text it did not have.
    """
    spans = [match.span() for match in pattern.finditer(text)]
    if not spans:
        return text, edges
    text = replace_spans(text, spans, replacement)
    starts, ends = numpy.array(spans, dtype=numpy.int64).T
    # shift[k]: how far the text after the k-th replaced span has moved (shift[0] = 0, before any)
    shift = numpy.concatenate(([0], numpy.cumsum(len(replacement) - (ends - starts))))
    done = numpy.searchsorted(ends, edges, side="right")  # replaced spans wholly before each edge
    next_start = numpy.append(starts, numpy.iinfo(numpy.int64).max)[done]
    inside = next_start < edges
    out_of_span = next_start + shift[done] + numpy.array([len(replacement), 0])
    return text, numpy.where(inside, out_of_span, edges + shift[done])


def _normalize(text: str, edges: numpy.ndarray) -> tuple[str, numpy.ndarray]:
    """Blanks and template debris tidied, in order: each pass tidies what the one before it left."""
    text, edges = _rewrite(text, edges, _INLINE_SPACES, " ")
    length = len(text)
    text, edges = _rewrite(text, edges, _EMPTY_PARENTHESES, "")
    if len(text) != length:  # only removed debris can have left blanks side by side again
        text, edges = _rewrite(text, edges, _INLINE_SPACES, " ")
    text, edges = _rewrite(text, edges, _SPACE_BEFORE_PUNCTUATION, "")
    return _rewrite(text, edges, _LINE_BREAKS, "\n")


def clean(wikitext: str, rules: TitleRules) -> Document:
    """The readable text of an article's wikitext, with a `Link` for every article link in it."""
    stream = _tokenizer().tokenize(_INDENTED_TABLE.sub("", _EXTENSION_TAGS.sub("", wikitext)), 0, True)
    walker = _TokenWalker(stream, rules)
    walker.walk(0, len(stream))
    if walker.bold_from is not None:
        walker.end_bold(walker.length)
    # Bold spans ride along with the links (target None) through the rewrites that move offsets.
    text, spans = "".join(walker.pieces), walker.links + walker.bold
    edges = numpy.array([(start, end) for start, end, _, _ in spans], dtype=numpy.int64).reshape(-1, 2)
    text, edges = _normalize(text, edges)
    leading = len(text) - len(text.lstrip())
    text = text.strip()
    moved: list[list[int]] = (edges - leading).tolist()
    bold = [(start, end) for (start, end), (_, _, target, _) in zip(moved, spans) if target is None]
    # MediaWiki ends bold with the line.
    names = (" ".join(text[max(start, 0):max(end, 0)].split("\n")[0].split()).strip(_NAME_EDGES)
             for start, end in bold)
    document = Document(text=text, links=[], dropped_links=walker.dropped,
                        lead_names=list(dict.fromkeys(name for name in names if name)))
    for (start, end), (_, _, target, fragment) in zip(moved, spans):
        if target is None:
            continue
        start, end = max(start, 0), min(end, len(text))
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if start >= end:  # a label that was only whitespace or markup
            document.dropped_links["empty_anchor"] += 1
            continue
        document.links.append(Link(start, end, target, text[start:end], fragment))
    return document
