"""Knowledge bases: every source of (subject, property, object) facts behind one interface.

Wikidata comes three ways, and all three give the same facts: the JSON dump (`latest-all.json`,
one entity per line, read in parallel by byte ranges of the file), the truthy N-Triples dump and a
SPARQL endpoint. "Truthy" is Wikidata's own notion: per property the best-ranked statements (preferred
if there are any, else normal, never deprecated), of which only item-valued ones become facts.
Subjects are items too: statements about properties and lexemes describe the schema, not the world.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import time
import urllib.error
from collections import Counter
from dataclasses import dataclass
from http.client import HTTPException
from typing import BinaryIO, Callable, Iterable, Iterator, Protocol

import indexed_bzip2
import orjson
import rapidgzip
from SPARQLWrapper import JSON, POST, SPARQLWrapper
from SPARQLWrapper.SPARQLExceptions import SPARQLWrapperException

from relxdata import __version__
from relxdata.bzip2_ranges import (Bzip2Blocks, Bzip2Error, Chunk, LinesOwned, block_place,
                                   check_bzip2_ends)
from relxdata.dumps import (DECOMPRESSION_ERRORS, ChunkStream, Compression, Opener, compression_of, decompressed_chunks,
                            open_local)
from relxdata.errors import RelxdataError

ENTITY = "http://www.wikidata.org/entity/"
DIRECT = "http://www.wikidata.org/prop/direct/"
DISAMBIGUATION_PAGE = "Q4167410"
USER_AGENT = f"relxdata/{__version__} (https://github.com/relxdata/relxdata; relation-extraction corpus builder)"
CHUNK = 4 << 20
# Statuses that mean "later", not "never": rate limiting and overloaded or restarting servers.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
_QID = re.compile(r"Q[1-9][0-9]*")
_PID = re.compile(r"P[1-9][0-9]*")
_LANG = re.compile(r"[a-z][a-z0-9-]*")
_TRUTHY = re.compile(rb"<http://www\.wikidata\.org/entity/(Q\d+)>[ \t]+<http://www\.wikidata\.org/prop/direct/"
                     rb"(P\d+)>[ \t]+<http://www\.wikidata\.org/entity/(Q\d+)>[ \t]*\.[ \t\r]*")
_PREFIXES = ("PREFIX wd: <http://www.wikidata.org/entity/>\nPREFIX wdt: <http://www.wikidata.org/prop/direct/>\n"
             "PREFIX schema: <http://schema.org/>\n")


class KnowledgeBaseError(RelxdataError):
    """A knowledge source is unreadable: a damaged dump, an endpoint that refuses or fails."""


@dataclass(frozen=True, slots=True)
class Literal:
    """A value, not an entity: its lexical form, datatype ("xsd:gYear", or a full IRI) and language tag."""

    value: str
    datatype: str | None = None
    lang: str | None = None


@dataclass(frozen=True, slots=True)
class Fact:
    """`subject` and an entity `object` are a source's own entity keys (QIDs for Wikidata, article
    titles for DBpedia); a literal-valued property has a `Literal` object."""

    subject: str
    property: str
    object: str | Literal


class KnowledgeBase(Protocol):
    def facts(self, subjects: Iterable[str] | None, properties: frozenset[str]) -> Iterator[Fact]:
        """Facts of `properties` about `subjects` (None: about everything, where the source allows)."""


# --- Wikidata entities ------------------------------------------------------------------------------

def entity_facts(entity: dict, properties: frozenset[str]) -> list[Fact]:
    """The truthy item-valued facts of `properties` about one entity, each once, in dump order."""
    if entity.get("type") != "item":
        return []
    subject = entity["id"]
    facts: dict[Fact, None] = {}
    for prop, statements in (entity.get("claims") or {}).items():  # an empty map is dumped as []
        if prop in properties:
            for statement in _best_ranked(statements):
                target = _item_value(statement["mainsnak"])
                if target is not None:
                    facts[Fact(subject, prop, target)] = None
    return list(facts)


def _best_ranked(statements: list[dict]) -> list[dict]:
    # The rank is compared over all statements, whatever their value: a preferred "unknown value"
    # outranks a normal item, exactly as in the truthy RDF.
    preferred = [s for s in statements if s.get("rank") == "preferred"]
    return preferred or [s for s in statements if s.get("rank", "normal") == "normal"]


def _item_value(snak: dict) -> str | None:
    datavalue = snak.get("datavalue") or {}
    if snak.get("snaktype") != "value" or datavalue.get("type") != "wikibase-entityid":
        return None
    value = datavalue["value"]
    if value.get("entity-type") != "item":
        return None
    return value.get("id") or f"Q{value['numeric-id']}"  # dumps before 2015 carry only numeric-id


# Units of Wikidata quantities that literal labels read, with the factor to their base unit (metre,
# kilogram, year): the unit DBpedia stores lengths, masses and durations in.
UNIT_FACTORS = {f"{ENTITY}{qid}": factor for qid, factor in (
    ("Q11573", 1.0), ("Q828224", 1000.0), ("Q174728", 0.01), ("Q174789", 0.001), ("Q3710", 0.3048),
    ("Q253276", 1609.344), ("Q11570", 1.0), ("Q191118", 1000.0), ("Q41803", 0.001), ("Q100995", 0.45359237),
    ("Q577", 1.0), ("Q199", 1.0))}
UNITLESS = "1"
# Wikidata time precisions: 9 is a year, 10 a month, 11 a day.
YEAR_PRECISION, DAY_PRECISION = 9, 11


def entity_values(entity: dict, properties: frozenset[str], counts: Counter | None = None) -> list[Fact]:
    """The truthy value facts of `properties` about one item: quantities (in their base unit), points in
    time (a day as xsd:date, a year or month as xsd:gYear) and strings, as `Literal`s; values in a unit
    or precision that cannot be written as such are counted under `kb.skipped.<reason>`."""
    if entity.get("type") != "item":
        return []
    facts: dict[Fact, None] = {}
    for prop, statements in (entity.get("claims") or {}).items():
        if prop in properties:
            for statement in _best_ranked(statements):
                value, reason = _literal_value(statement["mainsnak"])
                if value is not None:
                    facts[Fact(entity["id"], prop, value)] = None
                elif reason and counts is not None:
                    counts[f"kb.skipped.{reason}"] += 1
    return list(facts)


def _literal_value(snak: dict) -> tuple[Literal | None, str | None]:
    datavalue = snak.get("datavalue") or {}
    if snak.get("snaktype") != "value":
        return None, None
    kind, value = datavalue.get("type"), datavalue.get("value")
    if kind == "string":
        return Literal(value), None
    if kind == "quantity":
        factor = 1.0 if value.get("unit") == UNITLESS else UNIT_FACTORS.get(value.get("unit"))
        if factor is None:
            return None, "unknown_unit"
        amount = float(value["amount"]) * factor
        return Literal(repr(amount) if not amount.is_integer() else str(int(amount)), "xsd:double"), None
    if kind == "time":
        match = re.fullmatch(r"\+(\d{1,9})-(\d\d)-(\d\d)T.*", value.get("time", ""))
        precision = value.get("precision", 0)
        if match is None or precision < YEAR_PRECISION:
            return None, "imprecise_or_ancient_time"
        year = str(int(match[1]))
        if precision >= DAY_PRECISION and match[2] != "00" and match[3] != "00":
            return Literal(f"{year.zfill(4)}-{match[2]}-{match[3]}", "xsd:date"), None
        return Literal(year, "xsd:gYear"), None
    return None, "not_a_value"


def entity_sitelink(entity: dict, site: str) -> str | None:
    """The title of the entity's article on `site` ("enwiki"), if it has one."""
    return ((entity.get("sitelinks") or {}).get(site) or {}).get("title")


# --- line-oriented dumps in ranges ---------------------------------------------------------------------
#
# Wikidata's JSON dump and DBpedia's N-Triples dumps hold one record a line. A range is cut from the file's bytes, never from the decompressed data, so planning reads nothing
# but the file's size and ends. Each worker finds its own line starts: a range owns each line that
# starts right after a newline at a byte offset in [start, end) of an uncompressed file, or in a
# bzip2 block whose first bit lies in compressed bytes [start, end); range 0 also owns the first line.
# relxdata.bzip2_ranges finds the blocks and says why every line has exactly one owner.

@dataclass(frozen=True)
class DumpRange:
    """A part of a dump to read on its own: bytes `start:end` of the file (end None: to the end).

    `compressed` True: compressed byte offsets of a bzip2 file, whose blocks a worker finds itself;
    False: byte offsets of an uncompressed file; `DumpRange(0, 0, None)` is the whole dump,
    whatever its compression.
    """

    index: int
    start: int
    end: int | None
    compressed: bool = False


WHOLE = DumpRange(0, 0, None)


def plan_line_dump(path: str, parts: int, *, opener: Opener = open_local,
                   parallelization: int = 0) -> list[DumpRange]:
    """Cut a dump into at most `parts` byte ranges; every line falls in exactly one.

    Planning reads only the file's size and, for bzip2, its first and last few bytes (a file that
    does not end with an end-of-stream marker is refused as truncated), so it costs the same for a
    100 GB dump as for a small one. A gzip, xz or zstd dump stays one range, since workers could only seek in it
    by decompressing from the start. `parallelization` (decompression threads, 0: all cores) only
    matters when reading; it is accepted here for symmetry.
    """
    if parts < 1:
        raise ValueError("parts must be positive")
    with _raw_file(path, opener) as (raw, compression, size):
        if compression is Compression.BZIP2:
            with _bzip2_errors_as_ours():
                check_bzip2_ends(path, raw, size)
        elif compression in (Compression.GZIP, Compression.XZ, Compression.ZSTD):
            return [WHOLE]
    parts = min(parts, size)
    if parts <= 1:
        return [WHOLE]
    compressed = compression is Compression.BZIP2
    cuts: list[int | None] = [size * part // parts for part in range(parts)]
    cuts.append(None)
    return [DumpRange(index, cuts[index], cuts[index + 1], compressed) for index in range(parts)]


def iter_entities(path: str, *, opener: Opener = open_local, parallelization: int = 0) -> Iterator[dict]:
    """Every entity of a Wikidata JSON dump, in dump order."""
    return read_json_dump_range(path, WHOLE, opener=opener, parallelization=parallelization)


def read_json_dump_range(path: str, part: DumpRange, *, opener: Opener = open_local,
                         parallelization: int = 0) -> Iterator[dict]:
    """The entities whose lines `part` owns, in dump order; the dump's '[' and ']' lines are checked,
    not yielded. The range that owns the first line checks the '['; the one that owns the last line
    that is not blank checks that it is the ']' and that only blanks follow."""
    first = part.start == 0
    with owned_lines(path, part, opener, parallelization) as (lines, where):
        opened, closed, last = not first, False, None
        for key, begin, line in lines:
            line = line.strip()
            if not line:
                continue
            if not opened:
                if line != b"[":
                    raise KnowledgeBaseError(f"{path}: does not start with a '[' line; not a Wikidata JSON dump")
                opened = True
            elif line == b"]":
                closed = True
            elif closed:
                raise KnowledgeBaseError(f"{path}: data after the closing ']' at {where(key, begin)}")
            else:
                try:
                    entity = orjson.loads(memoryview(line)[:-1] if line.endswith(b",") else line)  # no copy
                except orjson.JSONDecodeError as exc:
                    raise KnowledgeBaseError(f"{path}: the line at {where(key, begin)} is not JSON "
                                             f"({exc}); the dump is truncated or corrupt") from None
                yield entity
            last = key, begin
        if first and not opened:
            raise KnowledgeBaseError(f"{path}: does not start with a '[' line; not a Wikidata JSON dump")
        if last is not None:  # was ours the last line that is not blank? Only what follows tells.
            follow = lines.next_nonblank()
            if closed and follow is not None:
                raise KnowledgeBaseError(f"{path}: data after the closing ']' at {where(*follow)}")
            if not closed and follow is None:
                raise KnowledgeBaseError(f"{path}: truncated: no closing ']' after the line at {where(*last)}")


def read_truthy_ntriples(path: str, properties: frozenset[str], *, opener: Opener = open_local,
                         parallelization: int = 0) -> Iterator[Fact]:
    """Item-to-item `wdt:` facts of `properties` from a truthy N-Triples dump; literals, other
    predicates, unknown values (blank nodes, genids) and non-item entities are skipped."""
    wanted = {prop.encode() for prop in properties}
    offset, line = 0, b""
    seen: set[bytes] = set()  # one entity's triples are contiguous, so repeats are found among them
    subject = b""
    for offset, line in _lines(path, opener, parallelization):
        match = _TRUTHY.fullmatch(line)
        if match is None or match[2] not in wanted:
            continue
        if match[1] != subject:
            subject = match[1]
            seen.clear()
        if match[0] not in seen:
            seen.add(match[0])
            yield Fact(match[1].decode(), match[2].decode(), match[3].decode())
    # Every triple ends with '.', so a last line without one was cut off.
    last = line.rstrip()
    if last and not last.startswith(b"#") and not last.endswith(b"."):
        raise KnowledgeBaseError(f"{path}: truncated: the last line (decompressed byte {offset}) is cut off")


def _decompressed_place(key: int, offset: int) -> str:
    return f"decompressed byte {key + offset}"


@contextlib.contextmanager
def owned_lines(path: str, part: DumpRange, opener: Opener,
                 parallelization: int) -> Iterator[tuple[LinesOwned, Callable[[int, int], str]]]:
    """The lines `part` owns, and how to name a place in them."""
    if part == WHOLE:
        with _decompressed(path, opener, parallelization) as opened, contextlib.closing(opened.chunks()) as chunks:
            yield LinesOwned(chunks, True), _decompressed_place
        return
    with _raw_file(path, opener) as (raw, compression, size):
        if part.compressed:
            if compression is not Compression.BZIP2:
                raise KnowledgeBaseError(f"{path}: planned as a bzip2 file in compressed byte ranges, "
                                         "but it is not bzip2 (any more)")
            blocks = Bzip2Blocks(path, raw, size, parallelization or os.cpu_count() or 1)
            chunks, place = blocks.range_chunks(part.start, part.end), block_place
        else:
            if compression is not Compression.NONE:
                raise KnowledgeBaseError(f"{path}: planned as an uncompressed file in byte ranges, "
                                         f"but it is {compression.value} (now)")
            chunks, place = _file_chunks(raw, size, part.start, part.end), _decompressed_place
        with contextlib.closing(chunks), _bzip2_errors_as_ours():  # closing stops the threads that decode ahead
            yield LinesOwned(chunks, part.start == 0), place


@contextlib.contextmanager
def _bzip2_errors_as_ours() -> Iterator[None]:
    """bzip2_ranges knows nothing of knowledge bases: its errors become ours, word for word."""
    try:
        yield
    except Bzip2Error as exc:
        raise KnowledgeBaseError(str(exc)) from None


def _lines(path: str, opener: Opener, parallelization: int) -> Iterator[tuple[int, bytes]]:
    """(decompressed offset, line without its newline) for each line of the whole file."""
    with _decompressed(path, opener, parallelization) as opened:
        for key, offset, line in LinesOwned(opened.chunks(), True):
            yield key + offset, line


def _file_chunks(raw: BinaryIO, size: int, start: int, end: int | None) -> Iterator[Chunk]:
    """An uncompressed file from byte `start`: the newlines before byte `end` lie in the range."""
    if end is not None and start >= min(end, size):
        return
    raw.seek(start)
    position = start
    while chunk := raw.read(CHUNK):
        yield position, chunk, len(chunk) if end is None else max(0, min(len(chunk), end - position))
        position += len(chunk)


@dataclass(frozen=True)
class _Opened:
    path: str
    stream: BinaryIO
    compression: Compression
    compressed_size: int

    def chunks(self) -> Iterator[Chunk]:
        """All the decompressed bytes, as chunks keyed by their decompressed offset; damage becomes an
        error that says where."""
        position = 0
        try:
            while chunk := self.stream.read(CHUNK):
                yield position, chunk, len(chunk)
                position += len(chunk)
        except DECOMPRESSION_ERRORS as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise KnowledgeBaseError(f"{self.path}: unreadable after byte {position} of the decompressed data "
                                     f"({reason}); the file is truncated or corrupt") from None
        if self.compression is Compression.GZIP:
            # rapidgzip may take a cut deflate stream for the end of the data; where it stopped tells.
            stopped = self.stream.tell_compressed() // 8
            if stopped < self.compressed_size:
                raise KnowledgeBaseError(f"{self.path}: the gzip data ends at compressed byte {stopped} of "
                                         f"{self.compressed_size}; the file is truncated or corrupt")


@contextlib.contextmanager
def _raw_file(path: str, opener: Opener) -> Iterator[tuple[BinaryIO, Compression, int]]:
    """The file as it is stored, its compression (by its first bytes) and its size."""
    try:
        raw = opener(path)
    except OSError as exc:
        raise KnowledgeBaseError(f"{path}: cannot open: {exc.strerror or exc}") from None
    with raw:
        compression = compression_of(raw.read(3))
        size = raw.seek(0, io.SEEK_END)
        raw.seek(0)
        yield raw, compression, size


@contextlib.contextmanager
def _decompressed(path: str, opener: Opener, parallelization: int) -> Iterator[_Opened]:
    with _raw_file(path, opener) as (raw, compression, size):
        if compression is Compression.BZIP2:
            with indexed_bzip2.open(raw, parallelization=parallelization) as stream:
                yield _Opened(path, stream, compression, size)
        elif compression is Compression.GZIP:
            with rapidgzip.open(raw, parallelization=parallelization) as stream:
                yield _Opened(path, stream, compression, size)
        elif compression in (Compression.XZ, Compression.ZSTD):
            yield _Opened(path, ChunkStream(decompressed_chunks(raw, compression)), compression, size)
        else:
            yield _Opened(path, raw, compression, size)


# --- file-backed knowledge bases --------------------------------------------------------------------------

@dataclass(frozen=True)
class WikidataJsonDump:
    path: str
    opener: Opener = open_local
    parallelization: int = 0

    def facts(self, subjects: Iterable[str] | None, properties: frozenset[str]) -> Iterator[Fact]:
        entities = iter_entities(self.path, opener=self.opener, parallelization=self.parallelization)
        return _about(subjects, (fact for entity in entities for fact in entity_facts(entity, properties)))


@dataclass(frozen=True)
class TruthyNTriples:
    path: str
    opener: Opener = open_local
    parallelization: int = 0

    def facts(self, subjects: Iterable[str] | None, properties: frozenset[str]) -> Iterator[Fact]:
        return _about(subjects, read_truthy_ntriples(self.path, properties, opener=self.opener,
                                                     parallelization=self.parallelization))


def _about(subjects: Iterable[str] | None, facts: Iterator[Fact]) -> Iterator[Fact]:
    """A file is read whole whatever is asked; `subjects` only narrows what comes out."""
    if subjects is None:
        return facts
    wanted = frozenset(subjects)
    return (fact for fact in facts if fact.subject in wanted)


# --- SPARQL ---------------------------------------------------------------------------------------------

class SparqlKnowledgeBase:
    """A Wikidata-shaped SPARQL endpoint (WDQS, QLever, Oxigraph, Virtuoso), asked in batches.

    An answer that says "later" (429, 5xx with Retry-After, a cut body) is asked again up to `retries`
    times; silence (no answer within `timeout` seconds) only `silence_retries` times, so an endpoint
    that never answers ends the job within (1 + silence_retries) × timeout, not after every retry.
    """

    def __init__(self, endpoint: str, *, user_agent: str = USER_AGENT, batch_size: int = 200,
                 page_size: int = 10_000, timeout: int = 60, retries: int = 5, silence_retries: int = 1,
                 backoff: float = 1.0, sleep: Callable[[float], None] = time.sleep):
        # SPARQLWrapper takes whole seconds: it would turn 0.5 into 0, no timeout at all.
        if batch_size < 1 or page_size < 1 or timeout < 1 or retries < 0:
            raise ValueError("batch_size, page_size and timeout (s) must be positive, retries not negative")
        self.endpoint, self.user_agent, self.timeout = endpoint, user_agent, timeout
        self.batch_size, self.page_size, self.retries, self.backoff = batch_size, page_size, retries, backoff
        self.sleep, self.silence_retries = sleep, silence_retries

    def facts(self, subjects: Iterable[str] | None, properties: frozenset[str]) -> Iterator[Fact]:
        if subjects is None:
            raise ValueError("a SPARQL knowledge base is asked about given subjects, not about everything")
        if not properties:
            return
        predicates = " ".join(f"wdt:{_checked(prop, _PID)}" for prop in sorted(properties))
        for batch in distinct_batches(subjects, self.batch_size):
            values = " ".join(f"wd:{_checked(qid, _QID)}" for qid in batch)
            where = (f"VALUES ?s {{ {values} }} VALUES ?p {{ {predicates} }} ?s ?p ?o . "
                     f'FILTER(isIRI(?o) && STRSTARTS(STR(?o), "{ENTITY}Q"))')
            for row in self._select("?s ?p ?o", where):
                yield Fact(row["s"]["value"].removeprefix(ENTITY), row["p"]["value"].removeprefix(DIRECT),
                           row["o"]["value"].removeprefix(ENTITY))

    def sitelinks(self, titles: Iterable[str], lang: str) -> Iterator[tuple[str, str]]:
        """(title, QID) for the titles that are articles of the `lang` Wikipedia."""
        wiki = f"https://{_checked(lang, _LANG)}.wikipedia.org/"
        for batch in distinct_batches(titles, self.batch_size):
            names = " ".join(f"{_literal(title)}@{lang}" for title in batch)
            where = (f"VALUES ?name {{ {names} }} "
                     f"?article schema:about ?item ; schema:isPartOf <{wiki}> ; schema:name ?name .")
            for row in self._select("?name ?item", where):
                yield row["name"]["value"], row["item"]["value"].removeprefix(ENTITY)

    def disambiguations(self, qids: Iterable[str]) -> set[str]:
        """The items among `qids` that are instances of Wikimedia disambiguation page."""
        instances = self.facts(qids, frozenset({"P31"}))
        return {fact.subject for fact in instances if fact.object == DISAMBIGUATION_PAGE}

    prefixes = _PREFIXES

    def _select(self, variables: str, where: str) -> Iterator[dict[str, dict]]:
        """All rows (each variable's RDF term as SPARQL's JSON gives it), page by page; ORDER BY keeps
        pages from overlapping or leaving gaps.

        Virtuoso (DBpedia's endpoint) returns at most its `X-SPARQL-MaxRows` rows whatever the LIMIT,
        and says so only in that header: a page cut there would pass for the last one and lose the
        rest silently, so it is an error that names a page size below the cap.
        """
        offset = 0
        while True:
            rows, max_rows = self._query(f"{self.prefixes}SELECT DISTINCT {variables} WHERE {{ {where} }} "
                                         f"ORDER BY {variables} LIMIT {self.page_size} OFFSET {offset}")
            if max_rows is not None and max_rows < self.page_size and len(rows) >= max_rows:
                raise KnowledgeBaseError(
                    f"SPARQL endpoint {self.endpoint} cut a page at its limit of {max_rows} rows "
                    f"(X-SPARQL-MaxRows); ask with a page size below {max_rows}")
            yield from rows
            if len(rows) < self.page_size:
                return
            offset += self.page_size

    def _query(self, query: str) -> tuple[list[dict[str, dict]], int | None]:
        """The rows of one query, and the endpoint's row cap when it names one."""
        client = SPARQLWrapper(self.endpoint, agent=self.user_agent)
        client.setQuery(query)
        client.setMethod(POST)  # batches of VALUES outgrow what servers accept in a URL
        client.setReturnFormat(JSON)
        client.setTimeout(self.timeout)
        attempt = silences = 0
        while True:
            silent = False
            try:
                result = client.query()
                cap = result.info().get("x-sparql-maxrows", "")
                return result.convert()["results"]["bindings"], int(cap) if cap.strip().isdigit() else None
            except urllib.error.HTTPError as exc:
                problem, transient = f"HTTP {exc.code} {exc.reason}", exc.code in RETRY_STATUSES
                delay = _retry_after(exc.headers.get("Retry-After")) if transient else None
            except urllib.error.URLError as exc:
                if not isinstance(exc.reason, TimeoutError):
                    raise KnowledgeBaseError(
                        f"SPARQL endpoint {self.endpoint} is unreachable: {exc.reason}") from None
                problem, transient, delay, silent = f"no answer within {self.timeout} s", True, None, True
            except TimeoutError:
                problem, transient, delay, silent = f"no answer within {self.timeout} s", True, None, True
            except (ConnectionError, HTTPException, ValueError) as exc:
                # Cut answers (ValueError: a truncated JSON body) are worth another try.
                problem, transient, delay = f"{type(exc).__name__}: {exc}", True, None
            except SPARQLWrapperException as exc:
                problem, transient, delay = str(exc).splitlines()[0], False, None
            silences += silent
            if not transient or attempt == self.retries or silences > self.silence_retries:
                tries = f" after {attempt + 1} attempts" if transient else ""
                raise KnowledgeBaseError(f"SPARQL endpoint {self.endpoint}: {problem}{tries}")
            self.sleep(delay if delay is not None else self.backoff * 2 ** attempt)
            attempt += 1


def _retry_after(value: str | None) -> float | None:
    """The seconds form of Retry-After; the date form is rare enough to fall back to backoff."""
    return float(value) if value and value.strip().isdigit() else None


def _checked(value: str, pattern: re.Pattern) -> str:
    if not pattern.fullmatch(value):
        raise ValueError(f"not a valid identifier here: {value!r}")
    return value


def _literal(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def distinct_batches(items: Iterable[str], size: int) -> Iterator[list[str]]:
    """Distinct items in batches, so that a repeated subject or title is not answered twice."""
    seen: set[str] = set()
    batch: list[str] = []
    for item in items:
        if item not in seen:
            seen.add(item)
            batch.append(item)
            if len(batch) == size:
                yield batch
                batch = []
    if batch:
        yield batch


# --- choosing a source -------------------------------------------------------------------------------------

def open_knowledge_base(*, wikidata_json: str | None = None, truthy_nt: str | None = None,
                        sparql: str | None = None, opener: Opener = open_local, parallelization: int = 0,
                        **sparql_options) -> KnowledgeBase:
    """The one knowledge source the user named; `sparql_options` go to `SparqlKnowledgeBase`."""
    if sum(source is not None for source in (wikidata_json, truthy_nt, sparql)) != 1:
        raise KnowledgeBaseError("name exactly one knowledge source: a Wikidata JSON dump, "
                                 "a truthy N-Triples dump or a SPARQL endpoint")
    if wikidata_json is not None:
        return WikidataJsonDump(wikidata_json, opener, parallelization)
    if truthy_nt is not None:
        return TruthyNTriples(truthy_nt, opener, parallelization)
    return SparqlKnowledgeBase(sparql, **sparql_options)
