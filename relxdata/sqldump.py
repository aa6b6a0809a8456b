"""MediaWiki's MySQL table dumps (page, page_props, redirect…) read as a stream of rows.

Wikimedia publishes each table as mysqldump output: a CREATE TABLE statement, then INSERT
statements of thousands of rows each (about 1 MB per line for enwiki, GBs per file). The reader
keeps a buffer of a few MB and matches one whole row per regular-expression match, so it never
holds a statement, let alone a file. Columns are picked by the names in CREATE TABLE, so every
schema version reads the same way (3- and 4-column page_props, 12- and 14-column page).

To read from Beam's file systems, pass an opener that does not decompress by itself, e.g.
`lambda path: FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)`; the
compression is told from the file's first bytes.
"""

from __future__ import annotations

import contextlib
import gzip
import operator
import re
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterator, Sequence

import indexed_bzip2

from relxdata.dumps import DECOMPRESSION_ERRORS, Compression, Opener, detect_compression, open_local
from relxdata.errors import RelxdataError

CHUNK = 4 << 20
# Bounds the buffer: this much data without one whole row or statement in it is not a dump.
MAX_UNPARSED = 64 << 20
# A dump that mysqldump began must end with its closing line; else a file cut between two
# statements would read as complete.
SQL_FORMATS = "MySQL table dumps: .sql, .sql.gz and .sql.bz2"
MYSQLDUMP_HEADER = b"-- MySQL dump"
MYSQLDUMP_FOOTER = b"\n-- Dump completed"
FOOTER_WINDOW = 128

_STRING = rb"'[^'\\]*(?:(?:\\.|'')[^'\\]*)*'"
_VALUE = _STRING + rb"|NULL|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
_SPACES = re.compile(rb"\s*")
_SQL_START = re.compile(rb"\s*(?:--|/\*|[A-Za-z])")
# Whitespace, comments, and the ';' that ends a /*!…*/ conditional comment: nothing to read there.
_SKIPPED = re.compile(rb"(?:\s+|;|--[^\n]*\n|/\*.*?\*/)*", re.S)
# An INSERT up to its rows, or any other whole statement, which must not be an INSERT: one this
# reader does not understand is an error, never a statement skipped with its rows.
_STATEMENT = re.compile(rb"INSERT\s+INTO\s+`(?P<insert>[^`]+)`\s+VALUES"
                        rb"|(?!INSERT|REPLACE)[^;'`]*(?:(?:" + _STRING + rb"|`[^`]*`)[^;'`]*)*;", re.S | re.I)
_CREATE_TABLE = re.compile(rb"CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?`([^`]+)`\s*\((.*)\)", re.S | re.I)
# mysqldump writes one column per line, and keys on lines that do not start with a name.
_COLUMN = re.compile(rb"^\s*`([^`]+)`", re.M)
# A row of any width, to tell a row that does not fit the table from a malformed one.
_ANY_ROW = re.compile(rb"\s*\((?:" + _VALUE + rb")(?:,(?:" + _VALUE + rb"))*\)\s*[,;]", re.S)
_ANY_VALUE = re.compile(_VALUE, re.S)
_ESCAPE = re.compile(rb"\\(.)|''", re.S)
# MySQL keeps the backslash of \% and \_ (they only mean something in LIKE patterns); any other
# escaped character stands for itself.
_ESCAPED = {b"0": b"\0", b"b": b"\b", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"Z": b"\x1a",
            b"%": b"\\%", b"_": b"\\_"}
_QUOTE = ord("'")
_BACKSLASH = ord("\\")
_SEMICOLON = ord(";")

Row = tuple[int | float | str | None, ...]


class SqlDumpError(RelxdataError):
    """A SQL dump is truncated, corrupt, of another table, or not a MySQL table dump."""


@dataclass(frozen=True, slots=True)
class PageProp:
    page_id: int
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class RedirectRow:
    page_id: int
    namespace: int
    title: str
    interwiki: str
    fragment: str


@dataclass(frozen=True, slots=True)
class PageRow:
    page_id: int
    namespace: int
    title: str
    is_redirect: bool


def read_table(path: str, table: str | None = None, columns: Sequence[str] | None = None, *,
               opener: Opener = open_local) -> tuple[list[str], Iterator[Row]]:
    """The dump's column names and an iterator over its rows, with only `columns` (in that order)
    when given. The dump is read up to CREATE TABLE at once, so a dump of another table than
    `table` or one without the columns fails here rather than deep inside a pipeline; iterate the
    rows to the end (or close them) to close the file."""
    with contextlib.ExitStack() as stack:
        stream = stack.enter_context(_decompressed(path, opener))
        scanner = _Scanner(path, stream)
        name, names = scanner.create_table()
        if table is not None and name != table:
            raise SqlDumpError(f"{path}: this is a dump of table `{name}`, not `{table}`")
        selected = list(names if columns is None else columns)
        if missing := [column for column in selected if column not in names]:
            raise SqlDumpError(f"{path}: table `{name}` has no column {', '.join(missing)} "
                               f"(it has {', '.join(names)})")
        return selected, _rows(scanner, name, names, selected, stack.pop_all())


# The columns relxdata reads of each table.
TABLE_COLUMNS = {"page_props": ("pp_page", "pp_propname", "pp_value"),
                 "redirect": ("rd_from", "rd_namespace", "rd_title", "rd_interwiki", "rd_fragment")}


def check_table_dump(path: str, table: str, opener: Opener = open_local) -> None:
    """Fail now, with one line, when `path` is not a dump of `table` with the columns relxdata reads: a
    pipeline would only find out in a worker, after the extraction."""
    _, rows = read_table(path, table, TABLE_COLUMNS[table], opener=opener)
    next(rows, None)  # a started generator closes its file when closed
    rows.close()


def read_page_props(path: str, names: frozenset[str] = frozenset({"wikibase_item", "disambiguation"}),
                    opener: Opener = open_local) -> Iterator[PageProp]:
    _, rows = read_table(path, "page_props", TABLE_COLUMNS["page_props"], opener=opener)
    for page_id, name, value in rows:
        if name in names:
            yield PageProp(page_id, name, value)


def read_redirects(path: str, opener: Opener = open_local) -> Iterator[RedirectRow]:
    """Titles with spaces, as in XML dumps; interwiki and fragment are "" where the row has none."""
    _, rows = read_table(path, "redirect", TABLE_COLUMNS["redirect"], opener=opener)
    for page_id, namespace, title, interwiki, fragment in rows:
        yield RedirectRow(page_id, namespace, title.replace("_", " "), interwiki or "", fragment or "")


def read_pages(path: str, opener: Opener = open_local) -> Iterator[PageRow]:
    """Titles with spaces, as in XML dumps."""
    _, rows = read_table(path, "page", ("page_id", "page_namespace", "page_title", "page_is_redirect"),
                         opener=opener)
    for page_id, namespace, title, is_redirect in rows:
        yield PageRow(page_id, namespace, title.replace("_", " "), bool(is_redirect))


@contextlib.contextmanager
def _decompressed(path: str, opener: Opener) -> Iterator[BinaryIO]:
    # Not rapidgzip: (0.16) it returns what it could read of a truncated .gz without an error, and
    # gzip's decompression takes a small part of the time that parsing the rows takes.
    compression = detect_compression(path, opener, SQL_FORMATS)
    with opener(path) as raw:
        if compression is Compression.GZIP:
            with gzip.GzipFile(fileobj=raw) as stream:
                yield stream
        elif compression is Compression.BZIP2:
            # bzip2 costs almost half as much time as parsing: decompress on every core (0), beside it.
            with indexed_bzip2.open(raw, parallelization=0) as stream:
                yield stream
        else:
            yield raw


def _rows(scanner: _Scanner, table: str, columns: list[str], selected: list[str],
          closing: contextlib.ExitStack) -> Iterator[Row]:
    kept = [column for column in columns if column in selected]
    # The pattern captures the selected columns in the dump's order; `pick` puts them in the caller's.
    pick = operator.itemgetter(*[kept.index(column) for column in selected]) if len(selected) > 1 else tuple
    # Rows as mysqldump writes them, without spaces inside: that makes matching twice as fast.
    row_pattern = re.compile(
        rb"\s*\("
        + rb",".join(b"(%s)" % _VALUE if column in selected else b"(?:%s)" % _VALUE for column in columns)
        + rb"\)\s*[,;]", re.S)
    with closing:
        while statement := scanner.next_statement():
            if statement["insert"] is not None:
                into = statement["insert"].decode("utf-8", "replace")
                if into != table:
                    raise scanner.error(f"an INSERT INTO `{into}` in a dump of `{table}`", statement.start())
                yield from scanner.rows(row_pattern, pick, len(columns))
            elif _CREATE_TABLE.match(statement.group()):
                raise scanner.error(f"a second CREATE TABLE in a dump of `{table}`", statement.start())


def _value(token: bytes) -> int | float | str | None:
    # Most values are non-negative integers, and isdigit is the cheapest test there is.
    if token.isdigit():
        return int(token)
    if token[0] == _QUOTE:
        return _text(token)
    if token == b"NULL":
        return None
    return int(token) if token[1:].isdigit() else float(token)


def _text(quoted: bytes) -> str:
    """Titles are binary columns: one that MediaWiki cut inside a character still reads, with a U+FFFD."""
    text = quoted[1:-1]
    if _BACKSLASH in text or _QUOTE in text:
        text = _ESCAPE.sub(_unescape, text)
    return text.decode("utf-8", "replace")


def _unescape(match: re.Match) -> bytes:
    escaped = match.group(1)
    if escaped is None:
        return b"'"
    return _ESCAPED.get(escaped, escaped)


class _Scanner:
    """A position in the decompressed dump, over a buffer of one chunk plus the unparsed rest of
    the one before; keeps count of bytes and lines before the buffer for error messages."""

    def __init__(self, path: str, stream: BinaryIO):
        self.path = path
        self.stream = stream
        self.buffer = b""
        self.position = 0
        self.offset = 0
        self.lines = 0
        self.ended = False
        self.tail = b""
        self.from_mysqldump = False

    def error(self, problem: str, position: int | None = None) -> SqlDumpError:
        position = self.position if position is None else position
        line = self.lines + self.buffer.count(b"\n", 0, position) + 1
        return SqlDumpError(f"{self.path}: {problem} at line {line}, byte {self.offset + position} "
                            f"of the decompressed dump")

    def refill(self) -> bool:
        """Read the next chunk after the unparsed rest; False when there is nothing more."""
        if self.ended:
            return False
        if len(self.buffer) - self.position > MAX_UNPARSED:
            raise self.error(f"no complete statement or row within {MAX_UNPARSED >> 20} MiB")
        try:
            chunk = self.stream.read(CHUNK)
        except DECOMPRESSION_ERRORS as exc:
            raise SqlDumpError(f"{self.path}: the compressed data is truncated or corrupt after byte "
                               f"{self.offset + len(self.buffer)} of the decompressed dump "
                               f"({exc or type(exc).__name__})") from None
        self.lines += self.buffer.count(b"\n", 0, self.position)
        self.offset += self.position
        self.tail = (self.tail + chunk[-FOOTER_WINDOW:])[-FOOTER_WINDOW:]
        # A final newline ends a last "-- comment" that has none, so comments only match whole.
        self.buffer = self.buffer[self.position:] + (chunk or b"\n")
        self.position = 0
        self.ended = not chunk
        return True

    def create_table(self) -> tuple[str, list[str]]:
        """Read the dump up to CREATE TABLE; the table's name and column names."""
        self.refill()
        if self.buffer.strip() == b"":
            raise SqlDumpError(f"{self.path}: empty; not a MySQL table dump")
        if not _SQL_START.match(self.buffer):
            raise SqlDumpError(f"{self.path}: not a MySQL table dump: it starts with {self.buffer[:24]!r}")
        self.from_mysqldump = self.buffer.startswith(MYSQLDUMP_HEADER)
        while statement := self.next_statement():
            if statement["insert"] is not None:
                raise self.error("an INSERT before any CREATE TABLE", statement.start())
            if create := _CREATE_TABLE.match(statement.group()):
                name, body = create.groups()
                return name.decode("utf-8"), [column.decode("utf-8") for column in _COLUMN.findall(body)]
        raise SqlDumpError(f"{self.path}: not a MySQL table dump: it starts without a CREATE TABLE statement")

    def next_statement(self) -> re.Match | None:
        """The next statement, read up to VALUES if it is an INSERT; None at the end of the dump."""
        while True:
            self.position = _SKIPPED.match(self.buffer, self.position).end()
            if statement := _STATEMENT.match(self.buffer, self.position):
                self.position = statement.end()
                return statement
            if not self.refill():
                break
        if self.position < len(self.buffer):
            raise self.error("a truncated or malformed statement")
        if self.from_mysqldump and MYSQLDUMP_FOOTER not in self.tail:
            raise SqlDumpError(f"{self.path}: the dump ends without mysqldump's closing '-- Dump completed' "
                               f"line: it is truncated")
        return None

    def rows(self, row_pattern: re.Pattern, pick: Callable[[tuple], tuple], width: int) -> Iterator[Row]:
        """The rows of the INSERT whose VALUES keyword was the last thing read."""
        while True:
            buffer, position = self.buffer, self.position
            while row := row_pattern.match(buffer, position):
                yield tuple(map(_value, pick(row.groups())))
                position = row.end()
                if buffer[position - 1] == _SEMICOLON:
                    self.position = position
                    return
            # Past the spaces, so that errors point at the row's parenthesis.
            self.position = _SPACES.match(buffer, position).end()
            if other := _ANY_ROW.match(buffer, self.position):
                found = len(_ANY_VALUE.findall(other.group()))
                raise self.error(f"a row of {found} values in a table of {width} columns")
            if not self.refill():
                raise self.error("a truncated or malformed row")
