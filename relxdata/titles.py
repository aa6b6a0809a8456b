"""Wiki page titles: normalising link targets and telling articles from everything else."""

from __future__ import annotations

import enum
import html
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Iterable
from urllib.parse import unquote

# Canonical English namespace names, valid on every wiki whatever its language.
CANONICAL_NAMESPACES = {
    "Media": -2, "Special": -1, "Talk": 1, "User": 2, "User talk": 3, "Project": 4, "Project talk": 5,
    "File": 6, "Image": 6, "File talk": 7, "Image talk": 7, "MediaWiki": 8, "MediaWiki talk": 9,
    "Template": 10, "Template talk": 11, "Help": 12, "Help talk": 13, "Category": 14, "Category talk": 15,
    "Portal": 100, "Portal talk": 101, "Draft": 118, "Draft talk": 119, "Module": 828, "Module talk": 829,
}
FILE_NAMESPACE = 6
CATEGORY_NAMESPACE = 14
# Languages whose title case rule maps a dotted lower-case i to a dotted capital İ.
DOTTED_I_LANGUAGES = {"tr", "az", "crh", "kaa", "tt"}

_WHITESPACE = re.compile(r"[\s_]+")
_PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")


class LinkKind(enum.Enum):
    ARTICLE = "article"
    FILE = "file"
    CATEGORY = "category"
    INTERLANGUAGE = "interlanguage"
    INTERWIKI = "interwiki"
    OTHER_NAMESPACE = "other_namespace"
    SAME_PAGE = "section_only"


@dataclass(frozen=True)
class LinkTarget:
    kind: LinkKind
    title: str
    fragment: str = ""


@lru_cache(maxsize=1)
def wiki_conventions() -> dict:
    """Namespace aliases, redirect magic words and interwiki prefixes shipped with relxdata."""
    text = resources.files("relxdata").joinpath("data/wikis.json").read_text(encoding="utf-8")
    return json.loads(text)


def _fold(name: str) -> str:
    return _WHITESPACE.sub(" ", name).strip().casefold()


@dataclass(frozen=True)
class TitleRules:
    """How one wiki spells titles: its case rule, namespace names and interwiki prefixes."""

    lang: str
    case: str
    namespaces: dict[str, int]
    interlanguage: frozenset[str]
    interwiki: frozenset[str]

    @classmethod
    def for_wiki(cls, lang: str, case: str = "first-letter",
                 namespace_names: Iterable[tuple[str, int]] = ()) -> "TitleRules":
        """Rules for the wiki in language `lang`, given the namespace names from its <siteinfo>."""
        conventions = wiki_conventions()
        namespaces = {_fold(name): key for name, key in CANONICAL_NAMESPACES.items()}
        for key, table in ((FILE_NAMESPACE, "file_namespace"), (CATEGORY_NAMESPACE, "category_namespace")):
            for name in conventions[table].get(lang, []):
                namespaces[_fold(name)] = key
        namespaces.update((_fold(name), key) for name, key in namespace_names if name)
        return cls(
            lang=lang,
            case=case,
            namespaces=namespaces,
            interlanguage=frozenset(conventions["interlanguage_prefixes"]),
            interwiki=frozenset(conventions["interwiki_prefixes"]),
        )

    def normalize(self, raw: str) -> str:
        """The canonical form of a title: entities and %-escapes decoded, spaces, case rule."""
        title = _decode(raw)
        return self._apply_case(title)

    def _apply_case(self, title: str) -> str:
        if self.case != "first-letter" or not title:
            return title
        first = title[0]
        if first == "i" and self.lang in DOTTED_I_LANGUAGES:
            upper = "İ"
        else:
            upper = first.upper()
        return upper + title[1:]

    def classify(self, raw: str) -> LinkTarget:
        """Classify a wikilink target as written in `[[target|label]]`."""
        target = _decode(raw)
        forced = target.startswith(":")
        if forced:
            target = target[1:].strip()
        title, _, fragment = target.partition("#")
        title, fragment = title.strip(), fragment.strip()
        if not title:
            return LinkTarget(LinkKind.SAME_PAGE, "", fragment)
        prefix, colon, rest = title.partition(":")
        if colon:
            folded = _fold(prefix)
            namespace = self.namespaces.get(folded)
            if namespace is not None and namespace != 0:
                if namespace == FILE_NAMESPACE and not forced:
                    kind = LinkKind.FILE
                elif namespace == CATEGORY_NAMESPACE and not forced:
                    kind = LinkKind.CATEGORY
                else:
                    kind = LinkKind.OTHER_NAMESPACE
                return LinkTarget(kind, f"{prefix.strip()}:{self._apply_case(rest.strip())}", fragment)
            if folded in self.interlanguage:
                kind = LinkKind.INTERWIKI if forced else LinkKind.INTERLANGUAGE
                return LinkTarget(kind, title, fragment)
            if folded in self.interwiki:
                return LinkTarget(LinkKind.INTERWIKI, title, fragment)
        return LinkTarget(LinkKind.ARTICLE, self._apply_case(title), fragment)

    def namespace_of(self, title: str) -> int:
        prefix, colon, _ = title.partition(":")
        return self.namespaces.get(_fold(prefix), 0) if colon else 0


def _decode(raw: str) -> str:
    text = html.unescape(raw)
    if _PERCENT_ESCAPE.search(text):
        text = unquote(text)
    return _WHITESPACE.sub(" ", text).strip()
