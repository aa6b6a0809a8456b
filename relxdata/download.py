"""`relxdata download`: the files of one Wikimedia dump run, optionally Wikidata's entity dump and
DBpedia's mapping-based chapter files, each verified against the checksum its publisher gives,
resumed after an interruption, and listed in `_download.json` once all are there.

Planning (status documents -> `RemoteFile`s) is pure and separate from fetching (HTTP with Range
resumes, retries and a bounded number of connections).

Layouts read:
- Wikimedia, `MIRROR/W/` (an HTML index of run directories `YYYYMMDD/`) and
  `MIRROR/W/D/dumpstatus.json`: `{"jobs": {JOB: {"status", "updated", "files": {NAME: {"size",
  "url", "md5", "sha1"}}}}, "version"}`.
- Wikidata, `MIRROR/wikidatawiki/entities/` (dated directories `YYYYMMDD/`, each with the dumps made
  that day and `wikidata-D-sha1sums.txt` in `sha1sum` format, written once the dumps are complete).
- DBpedia Databus, `DATABUS/dbpedia/mappings/ARTIFACT` as JSON-LD (`databus:hasVersion`: the versions)
  and `DATABUS/dbpedia/mappings/ARTIFACT/VERSION` (its parts: `file`, `sha256sum`, `byteSize`).
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import os
import re
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

import requests
from tqdm import tqdm

from relxdata import __version__
from relxdata.errors import RelxdataError

WIKIMEDIA = "https://dumps.wikimedia.org"
DATABUS = "https://databus.dbpedia.org"
MANIFEST = "_download.json"
PART = ".part"
MULTISTREAM = "pages-articles-multistream"
DEFAULT_WHAT = (MULTISTREAM, "page_props", "redirect")
# --what item -> the dumpstatus job of its table
TABLE_JOBS = {"page_props": "pagepropstable", "redirect": "redirecttable", "page": "pagetable"}
WHAT = (MULTISTREAM, *TABLE_JOBS)
MULTISTREAM_SUFFIXES = ("pages-articles-multistream.xml.bz2", "pages-articles-multistream-index.txt.bz2")
# Big wikis dump the multistream file in parts (articlesmultistreamdump) and then join them into the
# one file and index (articlesmultistreamdumprecombine); small wikis have no recombine job.
MULTISTREAM_JOB, RECOMBINE_JOB = "articlesmultistreamdump", "articlesmultistreamdumprecombine"
WIKIDATA_FILES = {"json": "wikidata-{date}-all.json.bz2", "truthy": "wikidata-{date}-truthy-BETA.nt.bz2"}
DBPEDIA_ARTIFACTS = {"objects": "mappingbased-objects", "literals": "mappingbased-literals"}
# A language without a chapter would otherwise walk every version the Databus ever published.
DBPEDIA_VERSIONS_TRIED = 6
JSONLD = "application/ld+json"
CHUNK = 1 << 16
RETRY_STATUSES = frozenset({429})  # and every 5xx


@dataclass(frozen=True)
class RemoteFile:
    """One file to fetch: where from, its name in the download directory, the size and checksum its
    publisher gives (size None: only the server knows it), and the job or dataset it comes from."""
    url: str
    name: str
    size: int | None
    checksum_kind: str  # hashlib's name: sha1, md5 or sha256
    checksum: str
    job: str
    dump_date: str


@dataclass(frozen=True)
class RetryPolicy:
    """How often a failed request is tried again (attempts counts the first one) and how long to wait:
    the server's Retry-After when it gives one, else first_delay doubling; never more than max_delay."""
    attempts: int = 6
    first_delay: float = 1.0
    max_delay: float = 120.0

    def delay(self, retry: int, retry_after: float | None) -> float:
        wanted = retry_after if retry_after is not None else self.first_delay * 2 ** retry
        return min(wanted, self.max_delay)


@dataclass(frozen=True)
class DownloadRequest:
    wiki: str
    date: str  # YYYYMMDD or "latest"
    what: tuple[str, ...]
    to: str
    mirror: str = WIKIMEDIA
    wikidata: str | None = None  # "json" or "truthy"
    dbpedia: tuple[str, ...] = ()  # "objects", "literals"
    contact: str = ""
    connections: int = 2
    databus: str = DATABUS
    timeout: tuple[float, float] = (10.0, 60.0)  # connect, read (seconds without a byte)
    retry: RetryPolicy = field(default_factory=RetryPolicy)


class JobNotDone(RelxdataError):
    """A job the request needs has not finished in this dump run."""


# --- the request -------------------------------------------------------------------------------------

def check_request(request: DownloadRequest) -> None:
    contact = request.contact.strip()
    if not contact:
        raise RelxdataError("download needs a contact (an e-mail address or URL; --contact or RELXDATA_CONTACT) "
                            "for its User-Agent: Wikimedia blocks clients that do not say who runs them")
    if any(ord(char) < 32 for char in contact):
        raise RelxdataError(f"contact {contact!r}: control characters cannot go into a User-Agent")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", request.wiki):
        raise RelxdataError(f"wiki {request.wiki!r}: expected a database name such as frwiki or enwiktionary")
    if request.date != "latest" and not re.fullmatch(r"\d{8}", request.date):
        raise RelxdataError(f"date {request.date!r}: expected YYYYMMDD or latest")
    unknown = [item for item in request.what if item not in WHAT]
    if unknown or not request.what:
        raise RelxdataError(f"what {','.join(request.what)!r}: expected some of {','.join(WHAT)}")
    if request.wikidata not in (None, *WIKIDATA_FILES):
        raise RelxdataError(f"wikidata {request.wikidata!r}: expected one of {', '.join(WIKIDATA_FILES)}")
    unknown = [item for item in request.dbpedia if item not in DBPEDIA_ARTIFACTS]
    if unknown:
        raise RelxdataError(f"dbpedia {','.join(request.dbpedia)!r}: expected some of {','.join(DBPEDIA_ARTIFACTS)}")
    if request.dbpedia and not request.wiki.endswith("wiki"):
        raise RelxdataError(f"dbpedia: DBpedia has chapters of Wikipedias (such as frwiki), not of {request.wiki}")
    for name, url in (("mirror", request.mirror), ("databus", request.databus)):
        if not re.match(r"https?://", url):
            raise RelxdataError(f"{name} {url!r}: expected an http:// or https:// URL")
    if request.connections < 1:
        raise RelxdataError(f"connections {request.connections}: at least 1")


def user_agent(contact: str) -> str:
    return f"relxdata/{__version__} ({contact.strip()})"


# --- planning (pure) ---------------------------------------------------------------------------------

def run_dates(index_html: str) -> list[str]:
    """The dated run directories (`YYYYMMDD/`) an HTML directory index links to, newest first."""
    return sorted(set(re.findall(r'href="(\d{8})/"', index_html)), reverse=True)


def wiki_jobs(jobs: dict, what: Iterable[str]) -> list[tuple[str, tuple[str, ...]]]:
    """(job, file name suffixes after `W-D-`) for each --what item, as this run names its jobs."""
    planned = []
    for item in dict.fromkeys(what):
        if item == MULTISTREAM:
            planned.append((RECOMBINE_JOB if RECOMBINE_JOB in jobs else MULTISTREAM_JOB, MULTISTREAM_SUFFIXES))
        else:
            planned.append((TABLE_JOBS[item], (f"{item}.sql.gz",)))
    return planned


def plan_wiki_files(status: dict, wiki: str, date: str, what: Iterable[str], mirror: str) -> list[RemoteFile]:
    """The files of `what` in one run's dumpstatus.json, with the sizes and checksums it gives; a job
    that is not done raises JobNotDone."""
    jobs = status.get("jobs") if isinstance(status, dict) else None
    if not isinstance(jobs, dict):
        raise RelxdataError(f"{mirror}/{wiki}/{date}/dumpstatus.json has no jobs")
    files = []
    for job, suffixes in wiki_jobs(jobs, what):
        if job not in jobs:
            raise JobNotDone(f"{wiki} {date}: the run has no job {job}")
        state = jobs[job].get("status")
        if state != "done":
            raise JobNotDone(f"{wiki} {date}: job {job} is {state}, not done")
        listed = jobs[job].get("files") or {}
        for suffix in suffixes:
            name = f"{wiki}-{date}-{suffix}"
            entry = listed.get(name)
            if entry is None:
                raise RelxdataError(f"{wiki} {date}: job {job} lists no file {name}")
            kind = next((kind for kind in ("sha1", "md5") if entry.get(kind)), None)
            if kind is None:
                raise RelxdataError(f"{wiki} {date}: job {job} gives no checksum of {name}")
            size = entry.get("size")
            files.append(RemoteFile(f"{mirror}/{wiki}/{date}/{name}", name, None if size is None else int(size),
                                    kind, entry[kind].lower(), job, date))
    return files


def checksum_listing(text: str) -> dict[str, str]:
    """File name -> checksum from `sha1sum`/`md5sum` output (`HEX  NAME` lines)."""
    listing = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and re.fullmatch(r"[0-9a-fA-F]{32,64}", parts[0]):
            listing[parts[1].lstrip("*")] = parts[0].lower()
    return listing


def plan_wikidata_file(sha1sums: str, kind: str, date: str, entities: str) -> RemoteFile | None:
    """The `kind` dump of one dated entities directory, if its sha1sums file lists it (the listing
    comes after the dump is complete)."""
    name = WIKIDATA_FILES[kind].format(date=date)
    sha1 = checksum_listing(sha1sums).get(name)
    if sha1 is None:
        return None
    return RemoteFile(f"{entities}/{date}/{name}", name, None, "sha1", sha1, "wikidatawiki/entities", date)


def dbpedia_versions(artifact: dict) -> list[str]:
    """The versions of a Databus artifact (its JSON-LD), newest first."""
    versions = []
    for node in _jsonld_nodes(artifact):
        listed = node.get("databus:hasVersion") or []
        for version in listed if isinstance(listed, list) else [listed]:
            uri = version.get("@id") if isinstance(version, dict) else version
            if isinstance(uri, str):
                versions.append(uri.rstrip("/").rsplit("/", 1)[-1])
    return sorted(set(versions), reverse=True)


def dbpedia_name(artifact: str, lang: str) -> str:
    return f"{artifact}_lang={lang}.ttl.bz2"


def plan_dbpedia_file(version_doc: dict, artifact: str, version: str, lang: str, databus: str) -> RemoteFile | None:
    """The `lang` chapter file among the parts of one Databus version (its JSON-LD), with the sha256
    the Databus publishes; None when this version has no such part."""
    name = dbpedia_name(artifact, lang)
    version_url = f"{databus}/dbpedia/mappings/{artifact}/{version}"
    for node in _jsonld_nodes(version_doc):
        file_id = _jsonld_value(node, "file")
        if not (isinstance(file_id, str) and file_id.endswith(f"/{name}")):
            continue
        sha256 = _jsonld_value(node, "sha256sum")
        if not (isinstance(sha256, str) and re.fullmatch(r"[0-9a-fA-F]{64}", sha256)):
            raise RelxdataError(f"{version_url}: the Databus gives no sha256 of {name}")
        size = _jsonld_value(node, "byteSize")
        return RemoteFile(f"{version_url}/{name}", name, None if size is None else int(str(size)), "sha256",
                          sha256.lower(), f"dbpedia/mappings/{artifact}", version)
    return None


def _jsonld_nodes(doc: dict) -> Iterator[dict]:
    """A JSON-LD document's top node and the nodes of its @graph."""
    if isinstance(doc, dict):
        yield doc
        yield from (node for node in doc.get("@graph", []) if isinstance(node, dict))


def _jsonld_value(node: dict, key: str):
    """A property's plain value, whether compacted to `key` or kept with its prefix, and whether a
    literal or a value object."""
    for name in (key, f"databus:{key}", f"dcat:{key}"):
        if name in node:
            value = node[name]
            if isinstance(value, list):
                value = value[0] if value else None
            return value.get("@value", value.get("@id")) if isinstance(value, dict) else value
    return None


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Retry-After in seconds, from either of its forms (delta-seconds or an HTTP date)."""
    if not value or not value.strip():
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - now).total_seconds())


# --- HTTP ----------------------------------------------------------------------------------------------

class _Transient(Exception):
    """An answer worth asking again for: no connection, a cut body, 429 or 5xx."""

    def __init__(self, problem: str, retry_after: float | None = None):
        super().__init__(problem)
        self.retry_after = retry_after


_TRANSIENT_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


def _one_line(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())


class _Http:
    """Requests with the User-Agent, timeouts and retries of one download; a Session per thread."""

    def __init__(self, agent: str, timeout: tuple[float, float], retry: RetryPolicy):
        self.agent, self.timeout, self.retry = agent, timeout, retry
        self._local, self._sessions, self._lock = threading.local(), [], threading.Lock()

    def session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            session = requests.Session()
            session.headers["User-Agent"] = self.agent
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return self._local.session

    def close(self) -> None:
        for session in self._sessions:
            session.close()

    def answer(self, url: str, headers: dict[str, str], stream: bool) -> requests.Response:
        """One request; a transient failure raises _Transient."""
        try:
            response = self.session().get(url, headers=headers, stream=stream, timeout=self.timeout)
        except _TRANSIENT_ERRORS as exc:
            raise _Transient(_one_line(exc)) from None
        if response.status_code in RETRY_STATUSES or response.status_code >= 500:
            response.close()
            raise _Transient(f"HTTP {response.status_code} {response.reason}",
                             retry_after_seconds(response.headers.get("Retry-After"), datetime.now(timezone.utc)))
        return response

    def optional_text(self, url: str, accept: str | None = None) -> str | None:
        """A small document, or None when the server has none (404, 410)."""
        headers = {"Accept": accept} if accept else {}
        retry = 0
        while True:
            try:
                response = self.answer(url, headers, stream=False)
                break
            except _Transient as exc:
                retry += 1
                if retry >= self.retry.attempts:
                    raise RelxdataError(f"{url}: {exc} (gave up after {retry} attempts)") from None
                time.sleep(self.retry.delay(retry - 1, exc.retry_after))
        if response.status_code in (404, 410):
            return None
        if response.status_code != 200:
            raise RelxdataError(f"{url}: HTTP {response.status_code} {response.reason}")
        try:
            return response.content.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RelxdataError(f"{url}: not UTF-8 text ({exc})") from None

    def text(self, url: str, missing: str, accept: str | None = None) -> str:
        """A small document the download cannot do without; `missing` says what its absence means."""
        text = self.optional_text(url, accept)
        if text is None:
            raise RelxdataError(f"{url} is not there (HTTP 404): {missing}")
        return text


def _json(text: str, url: str):
    try:
        return json.loads(text)
    except ValueError as exc:
        raise RelxdataError(f"{url}: not JSON ({exc})") from None


# --- planning against the servers ---------------------------------------------------------------------

def _wiki_plan(http: _Http, request: DownloadRequest) -> tuple[str, list[RemoteFile]]:
    """The dump date and files of the run asked for; `latest`: the newest run whose jobs are all done."""
    base = f"{request.mirror}/{request.wiki}"
    if request.date != "latest":
        url = f"{base}/{request.date}/dumpstatus.json"
        status = _json(http.text(url, f"{request.wiki} has no dump run {request.date} at {request.mirror}"), url)
        return request.date, plan_wiki_files(status, request.wiki, request.date, request.what, request.mirror)
    dates = run_dates(http.text(f"{base}/", f"no wiki {request.wiki} at {request.mirror} "
                                            "(expected a database name such as frwiki)"))
    refusals = []
    for date in dates:
        url = f"{base}/{date}/dumpstatus.json"
        text = http.optional_text(url)
        if text is None:
            refusals.append(f"{request.wiki} {date}: no dumpstatus.json")
            continue
        try:
            return date, plan_wiki_files(_json(text, url), request.wiki, date, request.what, request.mirror)
        except JobNotDone as exc:
            refusals.append(str(exc))
    newest = f" (newest: {refusals[0]})" if refusals else ""
    raise RelxdataError(f"{base}/: no dump run has every job needed done{newest}")


def _wikidata_plan(http: _Http, request: DownloadRequest) -> RemoteFile:
    """The newest complete entity dump of the kind asked for."""
    entities = f"{request.mirror}/wikidatawiki/entities"
    index = http.text(f"{entities}/", "this mirror has no Wikidata entity dumps")
    for date in run_dates(index):
        sums = http.optional_text(f"{entities}/{date}/wikidata-{date}-sha1sums.txt")
        planned = None if sums is None else plan_wikidata_file(sums, request.wikidata, date, entities)
        if planned is not None:
            return planned
    raise RelxdataError(f"{entities}/: no dated directory lists a complete "
                        f"{WIKIDATA_FILES[request.wikidata].format(date='D')} in its sha1sums file")


def _dbpedia_plan(http: _Http, request: DownloadRequest, kind: str) -> RemoteFile:
    """The `kind` chapter file of the wiki's language in the newest Databus version that has it."""
    artifact = DBPEDIA_ARTIFACTS[kind]
    lang = request.wiki.removesuffix("wiki").replace("_", "-")
    artifact_url = f"{request.databus}/dbpedia/mappings/{artifact}"
    versions = dbpedia_versions(_json(http.text(artifact_url, "no such Databus artifact", JSONLD), artifact_url))
    if not versions:
        raise RelxdataError(f"{artifact_url}: the Databus lists no versions of it")
    for version in versions[:DBPEDIA_VERSIONS_TRIED]:
        url = f"{artifact_url}/{version}"
        planned = plan_dbpedia_file(_json(http.text(url, "a version the artifact lists is missing", JSONLD), url),
                                    artifact, version, lang, request.databus)
        if planned is not None:
            return planned
    tried = ", ".join(versions[:DBPEDIA_VERSIONS_TRIED])
    raise RelxdataError(f"{artifact_url}: none of its newest versions ({tried}) has {dbpedia_name(artifact, lang)} "
                        f"(is there a DBpedia chapter for '{lang}'?)")


def _plan_download(request: DownloadRequest, http: _Http) -> tuple[str, list[RemoteFile]]:
    dump_date, files = _wiki_plan(http, request)
    if request.wikidata:
        files.append(_wikidata_plan(http, request))
    files.extend(_dbpedia_plan(http, request, kind) for kind in dict.fromkeys(request.dbpedia))
    return dump_date, files


# --- fetching ------------------------------------------------------------------------------------------

class _Stopped(Exception):
    """Another file failed: this one stops, leaving its .part to resume from."""


def digest(path: Path, kind: str, stop: threading.Event | None = None) -> str:
    hasher = hashlib.new(kind, usedforsecurity=False)
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            if stop is not None and stop.is_set():
                raise _Stopped
            hasher.update(chunk)
    return hasher.hexdigest()


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """(first byte, whole size) of a Content-Range header; None where it gives none."""
    found = re.fullmatch(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*", value or "")
    if not found:
        return None, None
    start, whole = found.groups()
    return (None if start is None else int(start)), (None if whole == "*" else int(whole))


def _validator(response: requests.Response) -> str | None:
    """What If-Range may carry: a strong ETag, else Last-Modified (weak ETags are not allowed)."""
    etag = response.headers.get("ETag")
    if etag and not etag.startswith("W/"):
        return etag
    return response.headers.get("Last-Modified")


class _Progress:
    """One bar in bytes over all files, updated from every connection."""

    def __init__(self, files: list[RemoteFile], enabled: bool):
        self._bar = tqdm(total=sum(file.size or 0 for file in files), unit="B", unit_scale=True,
                         unit_divisor=1024, desc="download", disable=not enabled)
        self._lock = threading.Lock()

    def add(self, count: int) -> None:
        with self._lock:
            self._bar.update(count)

    def expect(self, count: int) -> None:
        with self._lock:
            self._bar.total += count
            self._bar.refresh()

    def close(self) -> None:
        self._bar.close()


@dataclass
class _Part:
    """A file being fetched: `NAME.part`, and beside it `NAME.part.json`, what the server said about
    it (URL, validator, whole size), so that a later process resumes only the same remote file."""
    path: Path
    record: Path
    url: str
    validator: str | None = None
    whole: int | None = None
    counted: int = 0  # its bytes on the progress bar
    announced: bool = False  # its size is in the bar's total

    @classmethod
    def of(cls, directory: Path, file: RemoteFile) -> _Part:
        part = cls(directory / f"{file.name}{PART}", directory / f"{file.name}{PART}.json", file.url,
                   announced=file.size is not None)
        try:
            seen = json.loads(part.record.read_text())
        except (OSError, ValueError):
            return part
        if seen.get("url") != file.url:  # a .part of another file of that name (an older version)
            part.path.unlink(missing_ok=True)
            part.record.unlink(missing_ok=True)
            return part
        part.validator, part.whole = seen.get("validator"), seen.get("whole")
        return part

    def size(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0

    def remember(self, validator: str | None, whole: int | None) -> None:
        self.validator, self.whole = validator, whole
        scratch = self.record.with_name(self.record.name + ".tmp")
        scratch.write_text(json.dumps({"url": self.url, "validator": validator, "whole": whole}))
        os.replace(scratch, self.record)


def _request_headers(part: _Part, offset: int) -> dict[str, str]:
    headers = {"Accept-Encoding": "identity"}  # the bytes as stored, so that ranges and sizes agree
    if offset:
        headers["Range"] = f"bytes={offset}-"
        if part.validator:
            headers["If-Range"] = part.validator
    return headers


class _Fetcher:
    def __init__(self, directory: Path, http: _Http, progress: _Progress, stop: threading.Event):
        self.directory, self.http, self.progress, self.stop = directory, http, progress, stop

    def fetch(self, file: RemoteFile) -> int:
        """Fetches `file` unless it is already there and intact; returns its size."""
        final = self.directory / file.name
        if final.is_file() and (file.size is None or final.stat().st_size == file.size) \
                and digest(final, file.checksum_kind, self.stop) == file.checksum:
            size = final.stat().st_size
            if file.size is None:
                self.progress.expect(size)
            self.progress.add(size)
            return size
        part = _Part.of(self.directory, file)
        part.counted = part.size()
        self.progress.add(part.counted)
        size = self._receive(file, part)
        actual = digest(part.path, file.checksum_kind, self.stop)
        if actual != file.checksum:
            part.path.unlink()
            part.record.unlink(missing_ok=True)
            raise RelxdataError(f"{file.url}: checksum mismatch, expected {file.checksum_kind} {file.checksum}, "
                                f"got {actual}; the download was removed")
        os.replace(part.path, final)
        part.record.unlink(missing_ok=True)
        return size

    def _receive(self, file: RemoteFile, part: _Part) -> int:
        """Brings `part` to the whole remote file, resuming where it ends; returns the whole size."""
        retries = 0
        while True:
            offset = part.size()
            if file.size is not None and offset >= file.size:
                if offset == file.size:  # complete, left by a run stopped before its check
                    return offset
                self._restart(part)
                continue
            try:
                with self.http.answer(file.url, _request_headers(part, offset), stream=True) as response:
                    whole = self._accepted(response, file, part, offset)
                    if response.status_code != 416:
                        self._append(response, part)
                if whole is None or part.size() == whole:
                    return part.size()
                raise _Transient(f"the answer ended after {part.size()} of {whole} bytes")
            except _Transient as exc:
                if part.size() > offset:  # it moved on: a flaky line, not a dead one
                    retries = 0
                retries += 1
                if retries >= self.http.retry.attempts:
                    raise RelxdataError(f"{file.url}: {exc} (gave up after {retries} attempts)") from None
                time.sleep(self.http.retry.delay(retries - 1, exc.retry_after))

    def _accepted(self, response: requests.Response, file: RemoteFile, part: _Part, offset: int) -> int | None:
        """Checks the answer to a request from byte `offset` and readies `part` for its body; returns
        the remote file's whole size (None: unknown)."""
        start, whole = _content_range(response.headers.get("Content-Range"))
        if response.status_code == 416:
            if whole == offset:  # nothing after the part: it is complete
                return whole
            self._restart(part)
            raise _Transient(f"HTTP 416 for bytes {offset}- of a {whole}-byte file; starting over")
        if response.status_code == 206:
            if start != offset or (None not in (whole, part.whole) and whole != part.whole):
                self._restart(part)
                raise _Transient("the remote file is not the one the partial download began; starting over")
        elif response.status_code == 200:
            self._restart(part)  # the server ignored Range, or If-Range found the remote file changed
            length = response.headers.get("Content-Length", "")
            whole = int(length) if length.isdigit() else None
        else:
            raise RelxdataError(f"{file.url}: HTTP {response.status_code} {response.reason}")
        if whole is None:
            whole = file.size
        elif file.size is not None and whole != file.size:
            raise RelxdataError(f"{file.url}: the server has {whole} bytes, {file.job} says {file.size}")
        if whole is not None and not part.announced:
            self.progress.expect(whole)
            part.announced = True
        if response.status_code == 200 or part.validator is None:
            part.remember(_validator(response), whole)
        return whole

    def _append(self, response: requests.Response, part: _Part) -> None:
        with part.path.open("ab") as out:
            try:
                for chunk in response.iter_content(CHUNK):
                    if self.stop.is_set():
                        raise _Stopped
                    out.write(chunk)
                    part.counted += len(chunk)
                    self.progress.add(len(chunk))
            except _TRANSIENT_ERRORS as exc:
                raise _Transient(_one_line(exc)) from None

    def _restart(self, part: _Part) -> None:
        part.path.unlink(missing_ok=True)
        part.record.unlink(missing_ok=True)
        part.validator = part.whole = None
        self.progress.add(-part.counted)
        part.counted = 0


def _fetch_all(files: list[RemoteFile], directory: Path, http: _Http, connections: int,
               progress: bool) -> dict[str, int]:
    """Fetches every file over at most `connections` connections; the first failure stops the rest
    (their .part files stay for a rerun) and is raised."""
    bar, stop = _Progress(files, progress), threading.Event()
    fetcher = _Fetcher(directory, http, bar, stop)
    sizes: dict[str, int] = {}
    try:
        with ThreadPoolExecutor(max_workers=connections) as pool:
            futures = {pool.submit(fetcher.fetch, file): file for file in files}
            try:
                for future in as_completed(futures):
                    sizes[futures[future].name] = future.result()
            except BaseException:
                stop.set()
                for future in futures:
                    future.cancel()
                raise
    finally:
        bar.close()
    return sizes


# --- the directory and its manifest -------------------------------------------------------------------

def _prepared_directory(to: str) -> Path:
    directory = Path(to)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        raise RelxdataError(f"{to}: cannot write the download there ({exc.strerror or exc})") from None
    return directory


def manifest_of(request: DownloadRequest, dump_date: str, files: list[RemoteFile],
                sizes: dict[str, int]) -> dict:
    return {
        "tool": f"relxdata {__version__}",
        "wiki": request.wiki,
        "dump_date": dump_date,
        "mirror": request.mirror,
        "databus": request.databus if request.dbpedia else None,
        "files": [{"name": file.name, "url": file.url, "bytes": sizes[file.name],
                   file.checksum_kind: file.checksum, "job": file.job, "dump_date": file.dump_date}
                  for file in files],
    }


def _write_manifest(directory: Path, manifest: dict) -> None:
    scratch = directory / f"{MANIFEST}{PART}"
    scratch.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(scratch, directory / MANIFEST)


def download(request: DownloadRequest, progress: bool = True) -> dict:
    """Fetches and verifies the files `request` asks for into `request.to`, then writes `_download.json`
    there (last: its presence means every file listed is complete) and returns it."""
    check_request(request)
    request = replace(request, mirror=request.mirror.rstrip("/"), databus=request.databus.rstrip("/"))
    directory = _prepared_directory(request.to)
    http = _Http(user_agent(request.contact), request.timeout, request.retry)
    try:
        dump_date, files = _plan_download(request, http)
        # The directory changes from here on; an earlier manifest would vouch for it while it does.
        (directory / MANIFEST).unlink(missing_ok=True)
        sizes = _fetch_all(files, directory, http, request.connections, progress)
    finally:
        http.close()
    manifest = manifest_of(request, dump_date, files, sizes)
    _write_manifest(directory, manifest)
    return manifest


def provenance_of(path: str) -> dict | None:
    """The `_download.json` entry (name, url, bytes, checksum, job, dump_date) of a file that
    `download` fetched, for a pipeline to copy into its own manifest; None for any other file, or
    one that changed size since."""
    file = Path(path)
    manifest = file.parent / MANIFEST
    try:
        text = manifest.read_text(encoding="utf-8")
    except OSError:
        return None
    entries = _json(text, str(manifest)).get("files", [])
    for entry in entries:
        if entry.get("name") == file.name:
            try:
                return entry if file.stat().st_size == entry.get("bytes") else None
            except OSError:
                return None
    return None
