"""DBpedia as a knowledge source: mapping-based dumps and DBpedia-shaped SPARQL endpoints.

DBpedia keys its resources by Wikipedia title, one chapter per language: `dbpedia.org/resource/…`
for English, `xx.dbpedia.org/resource/…` for the others. A resource IRI is the title with spaces
as `_`, raw Unicode, and only `"#%<>?[\\]^`{|}` percent-encoded, so titles and IRIs convert both
ways and DBpedia facts come out keyed by the wiki's own article titles. Objects named `Subject__1`
or `Subject__Name__1` are intermediate nodes (a term of office, a career step), not articles: no
wiki title holds two underscores in a row, which is how they are told apart.

The dumps (`mappingbased-objects`, `mappingbased-literals`, `.ttl`/`.nt`, bzip2, gzip or plain)
hold one triple a line and are read in byte ranges, in parallel, like the Wikidata JSON dump. A
line that is not a triple (a cut last line, invalid UTF-8) is counted by reason and skipped: real
DBpedia files have both.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Iterable, Iterator
from urllib.parse import unquote

from relxdata.dumps import Opener, open_local
from relxdata.kb import (WHOLE, DumpRange, Fact, KnowledgeBaseError, Literal, SparqlKnowledgeBase, distinct_batches,
                         owned_lines)

ONTOLOGY = "http://dbpedia.org/ontology/"
XSD = "http://www.w3.org/2001/XMLSchema#"
DATATYPE = "http://dbpedia.org/datatype/"
# Short names of the IRIs that inventories and manifests use.
SHORT_NAMES = (("dbo:", ONTOLOGY), ("xsd:", XSD), ("dbd:", DATATYPE),
               ("rdfs:", "http://www.w3.org/2000/01/rdf-schema#"), ("foaf:", "http://xmlns.com/foaf/0.1/"),
               ("owl:", "http://www.w3.org/2002/07/owl#"), ("rdf:", "http://www.w3.org/1999/02/22-rdf-syntax-ns#"))
_RESOURCE = re.compile(r"http://(?:([a-z][a-z0-9-]*)\.)?dbpedia\.org/resource/(.*)", re.S)
_ENCODED = '"#%<>?[\\]^`{|}'
_IRI = r"<((?:[^<>\"{}|^`\\\x00-\x20]|\\u[0-9A-Fa-f]{4}|\\U[0-9A-Fa-f]{8})*)>"
_LITERAL = r'"((?:[^"\\\n\r]|\\.)*)"(?:@([A-Za-z]+(?:-[A-Za-z0-9]+)*)|\^\^<([^<>]*)>)?'
# subject predicate object [graph] .   -- N-Triples, or N-Quads; blanks are spaces or tabs.
_TRIPLE = re.compile(rf"{_IRI}[ \t]+{_IRI}[ \t]+(?:{_IRI}|{_LITERAL}|_:\S+)(?:[ \t]+<[^<>]*>)?[ \t]*\.[ \t\r]*")
_ESCAPE = re.compile(r"\\(?:u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|(.))", re.S)
_ECHAR = {"t": "\t", "b": "\b", "n": "\n", "r": "\r", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


def chapter_resources(lang: str) -> str:
    """Where the resources of a language's DBpedia chapter live."""
    return "http://dbpedia.org/resource/" if lang == "en" else f"http://{lang}.dbpedia.org/resource/"


def iri_of(title: str, lang: str) -> str:
    """The DBpedia resource of a wiki title, by DBpedia's rule."""
    name = "".join(f"%{ord(char):02X}" if char in _ENCODED else char for char in title.replace(" ", "_"))
    return chapter_resources(lang) + name


def resource_title(iri: str) -> tuple[str, str] | None:
    """(chapter language, wiki title) of a DBpedia resource IRI; None for any other IRI.

    Percent-escapes are decoded whatever they encode: some files escape non-ASCII letters too
    (`Maison_Carr%C3%A9e`), and the title must be the same either way.
    """
    match = _RESOURCE.fullmatch(iri)
    if match is None:
        return None
    return match[1] or "en", unquote(match[2]).replace("_", " ")


def is_intermediate(title: str) -> bool:
    """An intermediate node (`Abraham Lincoln  1` from `Abraham_Lincoln__1`), never an article."""
    return "  " in title


def short_name(iri: str) -> str:
    for prefix, namespace in SHORT_NAMES:
        if iri.startswith(namespace):
            return prefix + iri[len(namespace):]
    return iri


def full_iri(name: str) -> str:
    for prefix, namespace in SHORT_NAMES:
        if name.startswith(prefix):
            return namespace + name[len(prefix):]
    return name


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text

    def replace(match: re.Match) -> str:
        code = match[1] or match[2]
        return chr(int(code, 16)) if code else _ECHAR.get(match[3], match[3])
    return _ESCAPE.sub(replace, text)


def literal_of(value: str, datatype: str | None = None, lang: str | None = None) -> Literal:
    return Literal(value, short_name(datatype) if datatype else None, lang.lower() if lang else None)


def parse_triple(line: str) -> tuple[str, str, str | Literal | None] | None:
    """(subject IRI, predicate IRI, object) of one N-Triples (or N-Quads) line; the object is an IRI,
    a `Literal`, or None for a blank node. None when the line is no triple."""
    match = _TRIPLE.fullmatch(line)
    if match is None:
        return None
    subject, predicate, iri, text, lang, datatype = match.groups()
    if iri is not None:
        obj: str | Literal | None = _unescape(iri)
    elif text is not None:
        obj = literal_of(_unescape(text), datatype, lang)
    else:
        obj = None
    return _unescape(subject), _unescape(predicate), obj


def triple_fact(subject: str, predicate: str, obj: str | Literal | None, chapter: str,
                counts: Counter) -> Fact | None:
    """A triple of chapter `chapter` as a fact keyed by wiki titles; None, counted by reason, when one of
    its ends is not an article of that chapter."""
    found = resource_title(subject)
    if found is None or found[0] != chapter or is_intermediate(found[1]):
        counts["kb.skipped.subject_not_an_article"] += 1
        return None
    if isinstance(obj, Literal):
        return Fact(found[1], short_name(predicate), obj)
    target = resource_title(obj) if obj is not None else None
    if target is None or target[0] != chapter:
        counts["kb.skipped.object_not_an_article"] += 1
        return None
    if is_intermediate(target[1]):
        counts["kb.skipped.intermediate_node"] += 1
        return None
    return Fact(found[1], short_name(predicate), target[1])


def read_dbpedia_range(path: str, part: DumpRange, chapter: str, properties: frozenset[str], counts: Counter, *,
                       opener: Opener = open_local, parallelization: int = 0) -> Iterator[Fact]:
    """The facts of `properties` (short names, "dbo:birthPlace") in the lines `part` owns.

    Every line is counted: `kb.triples`, or `kb.bad_lines.<reason>` (comments and blank lines are
    neither); triples whose ends are not articles of `chapter` are counted by `triple_fact`.
    """
    wanted = {full_iri(name) for name in properties}
    with owned_lines(path, part, opener, parallelization) as (lines, _):
        for _, _, raw in lines:
            raw = raw.strip()
            if not raw or raw.startswith(b"#"):
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                counts["kb.bad_lines.invalid_utf8"] += 1
                continue
            triple = parse_triple(line)
            if triple is None:
                counts["kb.bad_lines.not_a_triple"] += 1
                continue
            counts["kb.triples"] += 1
            if triple[1] in wanted:
                fact = triple_fact(*triple, chapter, counts)
                if fact is not None:
                    yield fact


def chapter_of(path: str, *, opener: Opener = open_local) -> str:
    """The chapter of a DBpedia dump: that of the subject of its first triple."""
    with owned_lines(path, WHOLE, opener, 1) as (lines, _):
        for _, _, raw in lines:
            triple = parse_triple(raw.decode("utf-8", "replace").strip())
            if triple is not None:
                found = resource_title(triple[0])
                if found is None:
                    raise KnowledgeBaseError(f"{path}: its first triple's subject {triple[0]} is no DBpedia "
                                             "resource; is this a DBpedia dump?")
                return found[0]
    raise KnowledgeBaseError(f"{path}: holds no N-Triples line; is this a DBpedia dump?")


class DbpediaDump:
    """One chapter's dump files, read whole (the pipelines read them in ranges instead)."""

    def __init__(self, paths: list[str], chapter: str, opener: Opener = open_local):
        self.paths, self.chapter, self.opener = paths, chapter, opener
        self.counts: Counter = Counter()

    def facts(self, subjects: Iterable[str] | None, properties: frozenset[str]) -> Iterator[Fact]:
        wanted = None if subjects is None else frozenset(subjects)
        for path in self.paths:
            for fact in read_dbpedia_range(path, WHOLE, self.chapter, properties, self.counts, opener=self.opener):
                if wanted is None or fact.subject in wanted:
                    yield fact


class DbpediaSparql(SparqlKnowledgeBase):
    """A DBpedia-shaped endpoint (DBpedia's Virtuoso, a local Oxigraph): facts about titles of one chapter.

    Its pages stay below the 10,000 rows that DBpedia's endpoint returns at most; a page cut at the
    endpoint's cap is an error (see `SparqlKnowledgeBase._select`).
    """

    prefixes = f"PREFIX dbo: <{ONTOLOGY}>\n"

    def __init__(self, endpoint: str, chapter: str, *, page_size: int = 9_000, **options):
        super().__init__(endpoint, page_size=page_size, **options)
        self.chapter = chapter
        self.counts: Counter = Counter()

    def facts(self, subjects: Iterable[str] | None, properties: frozenset[str]) -> Iterator[Fact]:
        """Facts of `properties` whose subject is one of the titles `subjects`."""
        return self._facts(subjects, properties, "?s")

    def facts_to(self, objects: Iterable[str], properties: frozenset[str]) -> Iterator[Fact]:
        """Facts of `properties` whose object is one of the titles `objects` (for inverse properties)."""
        return self._facts(objects, properties, "?o")

    def _facts(self, titles: Iterable[str] | None, properties: frozenset[str], bound: str) -> Iterator[Fact]:
        if titles is None:
            raise ValueError("a SPARQL knowledge base is asked about given titles, not about everything")
        if not properties:
            return
        predicates = " ".join(f"<{full_iri(name)}>" for name in sorted(properties))
        for batch in distinct_batches(titles, self.batch_size):
            values = " ".join(f"<{iri_of(title, self.chapter)}>" for title in batch)
            where = f"VALUES {bound} {{ {values} }} VALUES ?p {{ {predicates} }} ?s ?p ?o ."
            for row in self._select("?s ?p ?o", where):
                fact = triple_fact(row["s"]["value"], row["p"]["value"], sparql_term(row["o"]), self.chapter,
                                   self.counts)
                if fact is not None:
                    yield fact


def sparql_term(term: dict) -> str | Literal | None:
    """An RDF term of SPARQL's JSON results: an IRI, a `Literal` or None (a blank node). Virtuoso 7
    marks typed literals `typed-literal`, newer servers `literal` with a `datatype`: both are read."""
    kind = term["type"]
    if kind == "uri":
        return term["value"]
    if kind in ("literal", "typed-literal"):
        return literal_of(term["value"], term.get("datatype"), term.get("xml:lang"))
    return None
