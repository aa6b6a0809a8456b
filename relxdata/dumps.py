"""MediaWiki XML dumps: siteinfo, pages, multistream indexes and plans for reading in parallel.

A dump is read in two steps. `plan_dump` looks at the file once (the multistream index, or one
scan of the decompressed XML) and cuts it into `WorkUnit`s of whole pages; `read_unit` then reads
any one unit on its own, so units are the unit of parallel work. Inside a unit the bytes are a run
of `<page>` elements, which parse without the dump's XML namespace, so every export schema (0.8 to
0.11) reads the same way.
"""

from __future__ import annotations

import bz2
import contextlib
import enum
import html
import io
import lzma
import os
import re
import xml.etree.ElementTree as ET
import zlib
from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Iterator

import indexed_bzip2
import zstandard

from relxdata.errors import DumpError
from relxdata.xml_copy import XmlCopy, XmlCopyWriter, room_for_copy

PAGE_OPEN = b"<page>"
PAGE_CLOSE = b"</page>"
FOOTER = b"</mediawiki>"
SCAN_CHUNK = 8 << 20
# Decompressors report a damaged or cut input in different ways.
DECOMPRESSION_ERRORS = (EOFError, OSError, RuntimeError, ValueError, zlib.error, lzma.LZMAError, zstandard.ZstdError)

Opener = Callable[[str], BinaryIO]


def open_local(path: str) -> BinaryIO:
    return open(path, "rb")


class Compression(str, enum.Enum):
    MULTISTREAM = "multistream"
    BZIP2 = "bzip2"
    GZIP = "gzip"
    XZ = "xz"
    ZSTD = "zstd"
    NONE = "none"


READABLE_FORMATS = ".xml, .xml.bz2 (multistream or not), .xml.gz, .xml.xz and .xml.zst"
# Formats people have dumps in that relxdata does not read: refused by name, not as "not an XML export".
_OTHER_FORMATS = ((b"7z\xbc\xaf\x27\x1c", "a 7z archive"), (b"PK\x03\x04", "a zip archive"),
                  (b"\x04\x22\x4d\x18", "an lz4 file"), (b"Rar!", "a rar archive"), (b"\x89PNG", "a PNG image"),
                  (b"LZIP", "an lzip file"), (b"\x1f\x9d", "a .Z (compress) file"))


@dataclass(frozen=True)
class Namespace:
    key: int
    name: str
    case: str


@dataclass(frozen=True)
class Siteinfo:
    dbname: str
    case: str
    generator: str
    schema_version: str
    namespaces: tuple[Namespace, ...]


@dataclass(frozen=True)
class Page:
    page_id: int
    ns: int
    title: str
    redirect: str | None
    text: str
    timestamp: str = ""


@dataclass(frozen=True)
class WorkUnit:
    """A run of whole pages: compressed byte offsets for multistream, decompressed ones otherwise."""

    index: int
    start: int
    end: int
    pages: int
    first_page: int


@dataclass(frozen=True)
class Truncation:
    """Where a damaged or cut dump stops being readable, for the manifest."""

    offset: int
    pages_kept: int
    reason: str


@dataclass(frozen=True)
class IndexEntry:
    offset: int
    page_id: int
    title: str


@dataclass(frozen=True)
class DumpPlan:
    path: str
    compression: Compression
    siteinfo: Siteinfo
    units: tuple[WorkUnit, ...]
    pages: int
    truncation: Truncation | None = None
    # indexed_bzip2's map from compressed bit offsets to decompressed offsets, so units can seek.
    bzip2_block_offsets: dict[int, int] = field(default_factory=dict, repr=False)
    # The XML as the scan decompressed it, for units to read instead (`relxdata.xml_copy`).
    xml_copy: XmlCopy | None = None


def compression_of(magic: bytes) -> Compression:
    """A file's compression, from its first three bytes."""
    if magic == b"BZh":
        return Compression.BZIP2
    if magic[:2] == b"\x1f\x8b":
        return Compression.GZIP
    if magic == b"\xfd7z":
        return Compression.XZ
    if magic == b"\x28\xb5\x2f":
        return Compression.ZSTD
    return Compression.NONE


def other_format(head: bytes) -> str | None:
    """What a file is when it starts like a format relxdata does not read (a 7z archive…), else None."""
    return next((name for magic, name in _OTHER_FORMATS if head.startswith(magic)), None)


def detect_compression(path: str, opener: Opener = open_local, formats: str = READABLE_FORMATS) -> Compression:
    """The compression of a dump; a file of another format is refused, naming it and the `formats` read."""
    with opener(path) as f:
        head = f.read(8)
    found = other_format(head)
    if found is not None:
        raise DumpError(f"{path}: {found}, not a dump relxdata reads ({formats})")
    return compression_of(head[:3])


def new_decompressor(compression: Compression):
    """A decompressor object for one stream (`decompress`, `eof`, `unused_data`) of a compressed file."""
    if compression is Compression.GZIP:
        return zlib.decompressobj(zlib.MAX_WBITS | 16)
    if compression is Compression.XZ:
        return lzma.LZMADecompressor()
    if compression is Compression.ZSTD:
        return zstandard.ZstdDecompressor().decompressobj()
    return bz2.BZ2Decompressor()


class ChunkStream(io.RawIOBase):
    """A readable binary stream over an iterator of byte chunks (decompressed data read once, in order)."""

    def __init__(self, chunks: Iterator[bytes]):
        self.chunks, self.pending = chunks, b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self.pending:
            self.pending = next(self.chunks, None)
            if self.pending is None:
                self.pending = b""
                return 0
        size = min(len(buffer), len(self.pending))
        buffer[:size] = self.pending[:size]
        self.pending = self.pending[size:]
        return size


# --- siteinfo ---------------------------------------------------------------------------------

def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def parse_siteinfo(header: bytes, path: str) -> Siteinfo:
    """Parse the `<mediawiki>` opening and `<siteinfo>` that precede the first page."""
    end = header.find(b"</siteinfo>")
    if end < 0:
        raise DumpError(f"{path}: no <siteinfo> before the first page; is this a MediaWiki XML export?")
    try:
        root = ET.fromstring(header[: end + len(b"</siteinfo>")] + FOOTER)
    except ET.ParseError as exc:
        raise DumpError(f"{path}: unreadable <siteinfo> header ({exc})") from None
    if _local(root.tag) != "mediawiki":
        raise DumpError(f"{path}: not a MediaWiki XML export (root element <{_local(root.tag)}>)")
    info = next((child for child in root if _local(child.tag) == "siteinfo"), None)
    fields = {_local(child.tag): child for child in info}
    namespaces = tuple(
        Namespace(int(ns.get("key")), ns.text or "", ns.get("case", "first-letter"))
        for ns in (fields["namespaces"] if "namespaces" in fields else ())
    )
    return Siteinfo(
        dbname=(fields["dbname"].text or "") if "dbname" in fields else "",
        case=(fields["case"].text or "first-letter") if "case" in fields else "first-letter",
        generator=(fields["generator"].text or "") if "generator" in fields else "",
        schema_version=root.get("version", ""),
        namespaces=namespaces,
    )


# --- pages --------------------------------------------------------------------------------------

def parse_pages(data: bytes, path: str, where: int) -> Iterator[Page]:
    """Parse a run of whole `<page>` elements; `where` locates the run in errors."""
    tail = data.rstrip()
    if tail.endswith(FOOTER):
        tail = tail[: -len(FOOTER)]
    parser = ET.XMLPullParser(events=("end",))
    try:
        parser.feed(b"<pages>")
        parser.feed(tail)
        parser.feed(b"</pages>")
        parser.close()
    except ET.ParseError as exc:
        line, column = exc.position
        raise DumpError(f"{path}: corrupt XML in the pages starting at byte {where} "
                        f"(line {line}, column {column} of that run): {exc.msg}") from None
    for _, element in parser.read_events():
        if element.tag == "page":
            yield _page(element)
            element.clear()


def _page(element: ET.Element) -> Page:
    revisions = element.findall("revision")
    revision = revisions[-1] if revisions else None
    redirect = element.find("redirect")
    return Page(
        page_id=int(element.findtext("id")),
        ns=int(element.findtext("ns") or 0),
        title=element.findtext("title") or "",
        redirect=redirect.get("title") if redirect is not None else None,
        text=(revision.findtext("text") or "") if revision is not None else "",
        timestamp=(revision.findtext("timestamp") or "") if revision is not None else "",
    )


# --- multistream index --------------------------------------------------------------------------

def read_index(path: str, opener: Opener = open_local) -> list[IndexEntry]:
    """Read `offset:page_id:title` lines; titles may themselves contain ':'."""
    with opener(path) as raw:
        stream = bz2.open(raw) if raw.read(3) == b"BZh" else raw
        raw.seek(0)
        entries = []
        lines = enumerate(io.TextIOWrapper(stream, encoding="utf-8"), start=1)
        while True:
            try:
                number, line = next(lines, (0, None))
            except (UnicodeDecodeError, *DECOMPRESSION_ERRORS) as exc:
                raise DumpError(f"{path}: not a multistream index (offset:page_id:title lines): "
                                f"{'not UTF-8 text' if isinstance(exc, UnicodeDecodeError) else exc}") from None
            if line is None:
                break
            line = line.rstrip("\n")
            if not line:
                continue
            offset, sep1, rest = line.partition(":")
            page_id, sep2, title = rest.partition(":")
            if not (sep1 and sep2 and offset.isdigit() and page_id.isdigit()):
                raise DumpError(f"{path}: line {number} is not 'offset:page_id:title': {line[:80]!r}")
            entries.append(IndexEntry(int(offset), int(page_id), title))
    return entries


def index_streams(entries: list[IndexEntry]) -> list[tuple[int, int]]:
    """(offset, pages) for each bz2 stream, in file order."""
    streams: list[tuple[int, int]] = []
    for entry in entries:
        if streams and streams[-1][0] == entry.offset:
            streams[-1] = (entry.offset, streams[-1][1] + 1)
        else:
            streams.append((entry.offset, 1))
    return streams


# --- planning -------------------------------------------------------------------------------------

def plan_dump(path: str, index: str | None = None, *, pages_per_unit: int = 1000, limit: int | None = None,
              allow_truncated: bool = False, parallelization: int = 1, opener: Opener = open_local,
              copy_xml_in: str | None = None) -> DumpPlan:
    """Look at a dump once and cut it into units of about `pages_per_unit` whole pages.

    A truncated or corrupt dump raises `DumpError` naming the file and where it broke, unless
    `allow_truncated`, in which case the plan keeps every whole page and records the truncation.
    With `copy_xml_in` (a folder that every reader of the plan shares), a local compressed
    single-stream dump's XML is kept there as the scan decompresses it, if there is room, and its
    units are read from that copy (`relxdata.xml_copy`).
    """
    if pages_per_unit < 1:
        raise ValueError("pages_per_unit must be positive")
    if index is not None:
        return _plan_multistream(path, index, pages_per_unit, limit, allow_truncated, opener)
    compression = detect_compression(path, opener)
    copy_in = copy_xml_in if (copy_xml_in and compression is not Compression.NONE and os.path.isfile(path)
                              and room_for_copy(path, copy_xml_in)) else None
    return _plan_by_scanning(path, compression, pages_per_unit, limit, allow_truncated, parallelization, opener,
                             copy_in)


def _plan_multistream(path, index, pages_per_unit, limit, allow_truncated, opener) -> DumpPlan:
    streams = index_streams(read_index(index, opener))
    if not streams:
        raise DumpError(f"{index}: the multistream index is empty")
    with opener(path) as f:
        f.seek(0, io.SEEK_END)
        size = f.tell()
        if streams[-1][0] >= size:
            raise DumpError(f"{path}: the index names a stream at byte {streams[-1][0]} but the file has "
                            f"{size} bytes; wrong index for this dump, or a truncated download")
        f.seek(0)
        header = _decompress_streams(f.read(streams[0][0]), path, 0)
    siteinfo = parse_siteinfo(header, path)
    pages_in_index = sum(pages for _, pages in streams)
    pages_wanted = pages_in_index if limit is None else min(limit, pages_in_index)
    truncation = None
    before_last = pages_in_index - streams[-1][1]
    if pages_wanted > before_last:
        whole, reason = _check_last_stream(path, streams[-1], size, opener)
        if reason is not None:
            truncation = Truncation(offset=streams[-1][0], pages_kept=before_last + whole, reason=reason)
            _refuse_unless_allowed(path, truncation, allow_truncated)
            pages_wanted = min(pages_wanted, truncation.pages_kept)
    ends = [offset for offset, _ in streams[1:]] + [size]
    units: list[WorkUnit] = []
    unit_start, unit_pages, taken = None, 0, 0
    for (offset, pages), end in zip(streams, ends):
        if taken >= pages_wanted:
            break
        keep = min(pages, pages_wanted - taken)
        unit_start = offset if unit_start is None else unit_start
        unit_pages += keep
        taken += keep
        if unit_pages >= pages_per_unit or taken == pages_wanted:
            units.append(WorkUnit(len(units), unit_start, end, unit_pages, taken - unit_pages))
            unit_start, unit_pages = None, 0
    return DumpPlan(path, Compression.MULTISTREAM, siteinfo, tuple(units), taken, truncation)


def _check_last_stream(path, last_stream, size, opener) -> tuple[int, str | None]:
    """Whole pages in the final stream, and why the file is truncated there (None if it is not)."""
    offset, pages = last_stream
    with opener(path) as f:
        f.seek(offset)
        compressed = f.read(size - offset)
    decompressor = bz2.BZ2Decompressor()
    data = b""
    try:
        while compressed:
            data += decompressor.decompress(compressed)
            compressed = decompressor.unused_data if decompressor.eof else b""
            if compressed:
                decompressor = bz2.BZ2Decompressor()
    except DECOMPRESSION_ERRORS as exc:
        return data.count(PAGE_CLOSE), f"corrupt bz2 data ({exc})"
    whole = data.count(PAGE_CLOSE)
    if not decompressor.eof:
        return whole, "the last bz2 stream is cut off"
    if whole < pages:
        return whole, f"page {whole + 1} of the last stream is cut off"
    if not data.rstrip().endswith(FOOTER):
        return whole, "no closing </mediawiki>"
    return whole, None


def _refuse_unless_allowed(path: str, truncation: Truncation, allow_truncated: bool) -> None:
    if not allow_truncated:
        raise DumpError(f"{path}: truncated at byte {truncation.offset} ({truncation.reason}) after "
                        f"{truncation.pages_kept} whole pages; rerun with --allow-truncated to keep them")


def _plan_by_scanning(path, compression, pages_per_unit, limit, allow_truncated, parallelization,
                      opener, copy_in) -> DumpPlan:
    scan, block_offsets, copy = _scan(path, compression, pages_per_unit, limit, parallelization, opener, copy_in)
    if scan.broken and compression is Compression.BZIP2:
        # indexed_bzip2 decodes ahead and fails before it returns what was readable; the
        # sequential decoder finds exactly where the damage starts. (A damaged dump gets no copy.)
        scan, block_offsets, copy = _scan(path, compression, pages_per_unit, limit, 0, opener, None)
    if scan.header is None:
        raise DumpError(f"{path}: no <page> found; is this a MediaWiki XML export?")
    siteinfo = parse_siteinfo(scan.header, path)
    truncation = scan.truncation()
    if truncation is not None:
        _refuse_unless_allowed(path, truncation, allow_truncated)
    return DumpPlan(path, compression, siteinfo, tuple(scan.units()), scan.whole_pages, truncation,
                    block_offsets, copy)


def _scan(path, compression, pages_per_unit, limit, parallelization, opener, copy_in):
    """The scanned page boundaries, indexed_bzip2's block offsets, and the XML's copy (a damaged
    dump gets none: its units read from the dump, as far as it can be read)."""
    scan = _PageScanner(path, pages_per_unit, limit)
    block_offsets: dict[int, int] = {}
    with opener(path) as raw, (XmlCopyWriter(copy_in) if copy_in else contextlib.nullcontext()) as copy:
        parallel = compression is Compression.BZIP2 and parallelization > 0
        stream = indexed_bzip2.open(raw, parallelization=parallelization) if parallel else None
        chunks = iter(lambda: stream.read(SCAN_CHUNK), b"") if parallel else decompressed_chunks(raw, compression)
        try:
            for chunk in chunks:
                scan.feed(chunk)
                if copy:
                    copy.write(chunk)
                if scan.done:
                    break
        except DECOMPRESSION_ERRORS as exc:
            scan.broken = f"{compression.value} data ends or is corrupt ({exc or type(exc).__name__})"
        if parallel and not scan.broken:
            block_offsets = stream.block_offsets()
        return scan, block_offsets, copy.finish() if copy and not scan.broken else None


class _PageScanner:
    """Find page boundaries in decompressed XML fed chunk by chunk, keeping only unit boundaries."""

    def __init__(self, path: str, pages_per_unit: int, limit: int | None):
        self.path, self.pages_per_unit, self.limit = path, pages_per_unit, limit
        self.offset = 0
        self.carry = b""
        self.header: bytes | None = None
        self.header_buffer = b""
        self.whole_pages = 0
        self.open_page: int | None = None
        self.last_end = 0
        self.footer_after_last_end = False
        self.unit_starts: list[int] = []
        self.unit_ends: list[int] = []
        self.broken: str | None = None
        self.done = False

    def feed(self, chunk: bytes) -> None:
        data = self.carry + chunk
        base = self.offset - len(self.carry)
        if self.header is None:
            self.header_buffer += chunk
            first = self.header_buffer.find(PAGE_OPEN)
            if first >= 0:
                self.header, self.header_buffer = self.header_buffer[:first], b""
        for match in re.finditer(rb"<page>|</page>|</mediawiki>", data):
            position = base + match.start()
            token = match.group()
            if token == PAGE_OPEN:
                if self.whole_pages % self.pages_per_unit == 0:
                    self.unit_starts.append(position)
                self.open_page = position
                self.footer_after_last_end = False
            elif token == PAGE_CLOSE:
                self.whole_pages += 1
                self.last_end = position + len(PAGE_CLOSE)
                self.open_page = None
                if self.whole_pages % self.pages_per_unit == 0:
                    self.unit_ends.append(self.last_end)
                if self.limit is not None and self.whole_pages >= self.limit:
                    self.done = True
                    return
            else:
                self.footer_after_last_end = self.open_page is None
        # Keep a tail so that a tag cut by the chunk boundary is seen whole next time, but never
        # a tail that already holds a whole tag (those were handled above).
        keep = len(FOOTER) - 1
        tail_start = max(len(data) - keep, 0)
        last_tag = data.rfind(b">", tail_start)
        if last_tag >= 0:
            tail_start = last_tag + 1
        self.carry = data[tail_start:]
        self.offset = base + len(data)

    def truncation(self) -> Truncation | None:
        if self.done:
            return None
        if self.broken:
            reason = self.broken
        elif self.open_page is not None:
            reason = f"page {self.whole_pages + 1} is cut off"
        elif not self.footer_after_last_end:
            reason = "no closing </mediawiki>"
        else:
            return None
        return Truncation(offset=self.last_end, pages_kept=self.whole_pages, reason=reason)

    def units(self) -> list[WorkUnit]:
        ends = self.unit_ends[: len(self.unit_starts)]
        if len(ends) < len(self.unit_starts) and self.whole_pages % self.pages_per_unit:
            ends.append(self.last_end)
        units = []
        for index, (start, end) in enumerate(zip(self.unit_starts, ends)):
            first = index * self.pages_per_unit
            pages = min(self.pages_per_unit, self.whole_pages - first)
            units.append(WorkUnit(index=index, start=start, end=end, pages=pages, first_page=first))
        return units


def decompressed_chunks(raw: BinaryIO, compression: Compression) -> Iterator[bytes]:
    """Decompressed data in chunks, one stream after another; everything readable before damage
    is yielded before the error is raised."""
    if compression is Compression.NONE:
        yield from iter(lambda: raw.read(SCAN_CHUNK), b"")
        return
    decompressor = new_decompressor(compression)
    while block := raw.read(SCAN_CHUNK // 8):
        while block:
            yield decompressor.decompress(block)
            block = decompressor.unused_data if decompressor.eof else b""
            if block:
                decompressor = new_decompressor(compression)
    if not decompressor.eof:
        raise EOFError("the compressed data ends before its end-of-stream marker")


def _decompress_streams(data: bytes, path: str, offset: int) -> bytes:
    try:
        return bz2.decompress(data)
    except DECOMPRESSION_ERRORS as exc:
        raise DumpError(f"{path}: corrupt bz2 data in the streams starting at byte {offset}: {exc}") from None


# --- reading ------------------------------------------------------------------------------------

def read_unit_bytes(plan: DumpPlan, unit: WorkUnit, opener: Opener = open_local) -> bytes:
    if plan.xml_copy is not None:
        return plan.xml_copy.read(unit.start, unit.end)
    if plan.compression is Compression.MULTISTREAM:
        with opener(plan.path) as f:
            f.seek(unit.start)
            return _decompress_streams(f.read(unit.end - unit.start), plan.path, unit.start)
    return read_range(plan, unit.start, unit.end, opener)


def read_range(plan: DumpPlan, start: int, end: int, opener: Opener = open_local) -> bytes:
    """Bytes `start:end` of a single-stream dump's decompressed XML."""
    with opener(plan.path) as raw:
        try:
            if plan.compression is Compression.NONE:
                raw.seek(start)
                return raw.read(end - start)
            if plan.bzip2_block_offsets:
                with indexed_bzip2.open(raw, parallelization=1) as stream:
                    stream.set_block_offsets(plan.bzip2_block_offsets)
                    stream.seek(start)
                    return stream.read(end - start)
            # gzip, and bzip2 damaged past this range: decompress from the start of the file.
            pieces, position = [], 0
            for chunk in decompressed_chunks(raw, plan.compression):
                if position + len(chunk) > start:
                    pieces.append(chunk[max(start - position, 0): end - position])
                position += len(chunk)
                if position >= end:
                    break
            return b"".join(pieces)
        except DECOMPRESSION_ERRORS as exc:
            raise DumpError(f"{plan.path}: cannot read bytes {start}-{end} of the decompressed XML: "
                            f"{exc or type(exc).__name__}") from None


def read_unit(plan: DumpPlan, unit: WorkUnit, opener: Opener = open_local) -> Iterator[Page]:
    """The pages of one unit, in dump order."""
    data = read_unit_bytes(plan, unit, opener)
    for number, page in enumerate(parse_pages(data, plan.path, unit.start)):
        if number >= unit.pages:
            break
        yield page


def read_pages(plan: DumpPlan, opener: Opener = open_local) -> Iterator[Page]:
    """Every page of the plan, one unit after another."""
    for unit in plan.units:
        yield from read_unit(plan, unit, opener)


# --- writing multistream dumps ---------------------------------------------------------------------

_PAGE_ID = re.compile(rb"<id>(\d+)</id>")
_TITLE = re.compile(rb"<title>(.*?)</title>", re.S)


def write_multistream(source: str, out_path: str, index_path: str, pages_per_stream: int = 100) -> int:
    """Rewrite a dump as `pages-articles-multistream.xml.bz2` plus its `-index.txt.bz2`.

    Like Wikimedia's own: the header is one bz2 stream, every `pages_per_stream` pages another, the
    footer the last. Returns the number of pages written.
    """
    plan = plan_dump(source, pages_per_unit=pages_per_stream)
    header = read_range(plan, 0, plan.units[0].start) if plan.units else b""
    written = 0
    with open(out_path, "wb") as out, bz2.open(index_path, "wt", encoding="utf-8") as index:
        out.write(bz2.compress(header))
        for unit in plan.units:
            offset = out.tell()
            data = read_unit_bytes(plan, unit)
            for page in re.finditer(rb"<page>.*?</page>", data, re.S):
                page_id = int(_PAGE_ID.search(page.group()).group(1))
                title = html.unescape(_TITLE.search(page.group()).group(1).decode("utf-8"))
                index.write(f"{offset}:{page_id}:{title}\n")
                written += 1
            out.write(bz2.compress(b"  " + data.strip() + b"\n"))
        out.write(bz2.compress(b"</mediawiki>\n"))
    return written
