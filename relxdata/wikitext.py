"""Wikitext to readable text with the article links in it, through mwparserfromhell.

The fast path: MediaWiki extracts extension tags (`<ref>`, `<math>`, `<gallery>`...) and comments
before it parses anything else, matching each opening tag to the first closing tag without nesting.
We do the same with one regular expression for the tags whose content never reaches the prose,
which removes most of an article's templates (citations) before mwparserfromhell's tokenizer and
tree builder see them. Bold and italic quotes are left to the text (`skip_style_tags`), where they
are simply deleted, instead of being parsed into tags. The tree is then walked once.
"""

from __future__ import annotations

import html
import re
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass, field

import mwparserfromhell
from mwparserfromhell.nodes import (Argument, Comment, ExternalLink, Heading, HTMLEntity, Tag, Template,
                                    Text, Wikilink)
from mwparserfromhell.wikicode import Wikicode

from relxdata.titles import LinkKind, TitleRules

# Extension tags whose content never shows as prose, and comments; matched as MediaWiki does.
DROPPED_EXTENSION_TAGS = ("ref", "math", "chem", "ce", "score", "timeline", "gallery", "imagemap", "graph",
                          "mapframe", "maplink", "templatedata", "templatestyles", "syntaxhighlight", "source",
                          "hiero", "inputbox", "categorytree", "includeonly", "indicator", "references", "pre")
_EXTENSION_TAGS = re.compile(
    r"<!--.*?(?:-->|\Z)|<(" + "|".join(DROPPED_EXTENSION_TAGS) + r")\b[^>]*?(?:/>|>.*?(?:</\1\s*>|\Z))",
    re.S | re.I)
# HTML and wiki-markup tags whose whole content is dropped after parsing.
DROPPED_TAGS = frozenset(DROPPED_EXTENSION_TAGS) | {"table", "style", "script", "noscript"}
# Tags that begin and end a line of their own.
BLOCK_TAGS = frozenset({"p", "div", "blockquote", "center", "poem", "li", "dd", "dt", "ul", "ol", "dl", "br",
                        "hr", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "caption", "figure"})
_STYLE_QUOTES = re.compile(r"'''''|'''|''")
_MAGIC_WORDS = re.compile(r"__[A-Z]+(?:_[A-Z]+)*__")
# Runs of spaces, or any other inline blank: single spaces are left alone (most of the text).
_INLINE_SPACES = re.compile(r"[ \t\u00a0\u2009\u200b]{2,}|[\t\u00a0\u2009\u200b]")
# Debris left where templates were: "Andorra (; , ), officially", "( ; born 1879)", "word ,".
_EMPTY_PARENTHESES = re.compile(r"\([ ,;:]*\)|(?<=\()[ ,;:]+")
_SPACE_BEFORE_PUNCTUATION = re.compile(r" +(?=[,.;:!?](?: |$))", re.M)
_LINE_BREAKS = re.compile(r" *\n\s*")
# In order: each pass tidies what the one before it left.
_NORMALIZATION = ((_INLINE_SPACES, " "), (_EMPTY_PARENTHESES, ""), (_INLINE_SPACES, " "),
                  (_SPACE_BEFORE_PUNCTUATION, ""), (_LINE_BREAKS, "\n"))


@dataclass(frozen=True)
class Link:
    """An article link: `text[start:end] == anchor`, offsets in code points."""

    start: int
    end: int
    target: str
    anchor: str
    fragment: str = ""


@dataclass
class Document:
    """Readable text, one paragraph (or list item, or heading) per line, with its article links."""

    text: str
    links: list[Link]
    dropped_links: Counter = field(default_factory=Counter)


def _template_name(template: Template) -> str:
    name = str(template.name).strip().replace("_", " ")
    if name[:9].lower() == "template:":
        name = name[9:].strip()
    return name[:1].lower() + name[1:]


class _Builder:
    """Appends text pieces while remembering where links start and end."""

    def __init__(self, rules: TitleRules):
        self.rules = rules
        self.pieces: list[str] = []
        self.length = 0
        self.links: list[tuple[int, int, str, str]] = []
        self.dropped: Counter = Counter()
        self.in_link = False

    def add(self, text: str) -> None:
        if text:
            self.pieces.append(text)
            self.length += len(text)

    def newline(self) -> None:
        self.add("\n")

    def walk(self, code: Wikicode) -> None:
        for node in code.nodes:
            if isinstance(node, Text):
                self.add(_MAGIC_WORDS.sub("", _STYLE_QUOTES.sub("", node.value)))
            elif isinstance(node, Wikilink):
                self.wikilink(node)
            elif isinstance(node, HTMLEntity):
                self.add(node.normalize())
            elif isinstance(node, Tag):
                self.tag(node)
            elif isinstance(node, Heading):
                self.newline()
                self.walk(node.title)
                self.newline()
            elif isinstance(node, ExternalLink):
                if node.title is not None:
                    self.walk(node.title)
            elif isinstance(node, Template):
                self.template(node)
            # Comments and {{{arguments}}} never show.
            elif not isinstance(node, (Comment, Argument)):
                self.add(str(node))

    def wikilink(self, node: Wikilink) -> None:
        raw = str(node.title)
        target = self.rules.classify(raw)
        if target.kind in (LinkKind.FILE, LinkKind.CATEGORY, LinkKind.INTERLANGUAGE):
            self.dropped[target.kind.value] += 1
            return
        start = self.length
        nested = self.in_link
        self.in_link = True
        if node.text is not None:
            self.walk(node.text)
        else:
            self.add(_STYLE_QUOTES.sub("", html.unescape(raw.strip().removeprefix(":")).replace("_", " ")))
        self.in_link = nested
        if nested:
            self.dropped["nested"] += 1
        elif target.kind is LinkKind.ARTICLE:
            self.links.append((start, self.length, target.title, target.fragment))
        else:
            self.dropped[target.kind.value] += 1

    def tag(self, node: Tag) -> None:
        name = str(node.tag).strip().lower()
        if name in DROPPED_TAGS:
            return
        block = name in BLOCK_TAGS
        if block:
            self.newline()
        if node.contents is not None and not node.self_closing:
            self.walk(node.contents)
        if block and name not in ("li", "dd", "dt"):
            self.newline()

    def template(self, node: Template) -> None:
        """Most templates are dropped; a few carry prose that readers see inline."""
        name = _template_name(node)
        if name in ("nowrap", "nobr", "nobreak", "small", "big", "lang") or name.startswith("lang-"):
            shown = "2" if name == "lang" else "1"
            if node.has(shown):
                self.walk(node.get(shown).value)
        elif name in ("ill", "interlanguage link") and node.has("1"):
            label = node.get("lt").value if node.has("lt") else node.get("1").value
            start = self.length
            self.walk(label)
            target = self.rules.classify(str(node.get("1").value))
            if target.kind is LinkKind.ARTICLE and not self.in_link:
                self.links.append((start, self.length, target.title, target.fragment))
        elif name in ("convert", "cvt") and node.has("1") and node.has("2"):
            self.add(f"{node.get('1').value.strip_code().strip()} {node.get('2').value.strip_code().strip()}")


def _rewrite(text: str, links: list, pattern: re.Pattern, replacement: str) -> tuple[str, list]:
    """Replace every match of `pattern` and move the link offsets with the text.

    A link edge inside a replaced span moves out of it: a start to after the replacement, an end
    to before it, so an anchor never gains text it did not have.
    """
    pieces, starts, ends, shifts = [], [], [], []
    last, shift = 0, 0
    for match in pattern.finditer(text):
        pieces += (text[last:match.start()], replacement)
        starts.append(match.start())
        ends.append(match.end())
        shift += len(replacement) - (match.end() - match.start())
        shifts.append(shift)
        last = match.end()
    if not starts:
        return text, links
    pieces.append(text[last:])

    def moved(offset: int, is_end: bool) -> int:
        done = bisect_right(ends, offset)
        before = shifts[done - 1] if done else 0
        if done < len(starts) and starts[done] < offset:
            return starts[done] + before + (0 if is_end else len(replacement))
        return offset + before

    return "".join(pieces), [(moved(s, False), moved(e, True), t, f) for s, e, t, f in links]


def clean(wikitext: str, rules: TitleRules) -> Document:
    """The readable text of an article's wikitext, with a `Link` for every article link in it."""
    code = mwparserfromhell.parse(_EXTENSION_TAGS.sub("", wikitext), skip_style_tags=True)
    builder = _Builder(rules)
    builder.walk(code)
    text, links = "".join(builder.pieces), builder.links
    for pattern, replacement in _NORMALIZATION:
        text, links = _rewrite(text, links, pattern, replacement)
    leading = len(text) - len(text.lstrip())
    text = text.strip()
    document = Document(text=text, links=[], dropped_links=builder.dropped)
    for start, end, target, fragment in links:
        start, end = max(start - leading, 0), min(end - leading, len(text))
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if start >= end:  # a label that was only whitespace or markup
            document.dropped_links["empty_anchor"] += 1
            continue
        document.links.append(Link(start, end, target, text[start:end], fragment))
    return document
