"""`relxdata.download` against a real HTTP server on 127.0.0.1 that serves a dump tree in Wikimedia's
layout (and Wikidata's entities directory and a DBpedia Databus) made of the bytes of real files from
the shared sample data, with faults injected per test. The downloader never looks inside the files,
so which real files stand in for which dump only matters for their sizes."""

import bz2
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from relxdata import __version__
from relxdata.download import (MANIFEST, DownloadRequest, RemoteFile, RetryPolicy, download, plan_wiki_files,
                               provenance_of, retry_after_seconds)
from relxdata.errors import RelxdataError

WIKI, DONE, RUNNING = "rmwiki", "20240301", "20240401"
CONTACT = "tests@relxdata.example"
FAST = RetryPolicy(attempts=3, first_delay=0.01, max_delay=2.0)
# Where the server cuts a connection: a whole number of the client's 64 KiB reads, since the read
# that meets the cut keeps none of its bytes.
CUT = 2 * 65536
XML = f"{WIKI}-{DONE}-pages-articles-multistream.xml.bz2"
INDEX = f"{WIKI}-{DONE}-pages-articles-multistream-index.txt.bz2"
JOB_SUFFIXES = {
    "articlesmultistreamdump": ("pages-articles-multistream.xml.bz2", "pages-articles-multistream-index.txt.bz2"),
    "pagepropstable": ("page_props.sql.gz",),
    "redirecttable": ("redirect.sql.gz",),
    "pagetable": ("page.sql.gz",),
}


def sha1(body: bytes) -> str:
    return hashlib.sha1(body).hexdigest()


@pytest.fixture(scope="module")
def sources(shared_data) -> dict[str, bytes]:
    """The bytes each dump file of the tree serves, by file name suffix."""
    sql = shared_data / "sql" / "2024-schema" / WIKI / DONE
    return {
        "pages-articles-multistream.xml.bz2": (shared_data / "wikipedia" / "enwiki-2016-sample.xml.bz2").read_bytes(),
        "pages-articles-multistream-index.txt.bz2": (
            shared_data / "wikipedia" / "multistream" /
            "jawiktionary-20210401-pages-articles-multistream-index.txt.bz2").read_bytes(),
        "page_props.sql.gz": (sql / f"{WIKI}-{DONE}-page_props.sql.gz").read_bytes(),
        "redirect.sql.gz": (sql / f"{WIKI}-{DONE}-redirect.sql.gz").read_bytes(),
        "page.sql.gz": (sql / f"{WIKI}-{DONE}-page.sql.gz").read_bytes(),
    }


def index_html(path: str, names: list[str]) -> str:
    """A directory index as nginx's autoindex (dumps.wikimedia.org) writes it."""
    rows = "".join(f'<a href="{name}">{name}</a>{" " * (51 - len(name))}01-Mar-2024 08:10       -\n'
                   for name in names)
    return (f"<html>\n<head><title>Index of {path}</title></head>\n<body bgcolor=\"white\">\n"
            f"<h1>Index of {path}</h1><hr><pre><a href=\"../\">../</a>\n{rows}</pre><hr></body>\n</html>\n")


def dumpstatus(wiki: str, date: str, bodies: dict[str, bytes], states: dict[str, str] = {}) -> dict:
    """A dumpstatus.json in the real layout (version 0.8): every job with its status, a done job with
    its files' size, url, md5 and sha1; jobs not done list none yet."""
    jobs = {}
    for job, suffixes in JOB_SUFFIXES.items():
        state = states.get(job, "done")
        files = {} if state != "done" else {
            f"{wiki}-{date}-{suffix}": {"size": len(bodies[suffix]), "url": f"/{wiki}/{date}/{wiki}-{date}-{suffix}",
                                        "md5": hashlib.md5(bodies[suffix]).hexdigest(), "sha1": sha1(bodies[suffix])}
            for suffix in suffixes}
        jobs[job] = {"status": state, "updated": f"{date[:4]}-{date[4:6]}-02 10:11:12", "files": files}
    jobs["metahistorybz2dump"] = {"status": "waiting", "updated": f"{date[:4]}-{date[4:6]}-02 10:11:12", "files": {}}
    return {"jobs": jobs, "version": "0.8"}


class DumpServer:
    """What the server holds (path -> bytes) and the faults it injects; it logs every request."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.redirects: dict[str, str] = {}
        self.requests: list[dict] = []
        self.unavailable: dict[str, int] = {}  # path -> 503 answers still to give
        self.retry_after = "1"
        self.cut_after: dict[str, int] = {}  # path -> bytes sent before the connection drops, once
        self.ignore_range = False
        self.validators = True  # ETag and Last-Modified
        self.throttle = 0.0  # seconds per 16 KiB sent
        self.sending = self.most_sending = 0  # bodies being sent at once
        self.url = ""
        self.lock = threading.Lock()

    def publish(self, path: str, body: bytes | str | dict) -> None:
        if isinstance(body, dict):
            body = json.dumps(body, indent=2)
        self.files[path] = body.encode() if isinstance(body, str) else body

    def seen(self, path: str) -> list[dict]:
        return [request for request in self.requests if request["path"] == path]


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        dump: DumpServer = self.server.dump
        path = self.path
        with dump.lock:
            dump.requests.append({"path": path, "time": time.monotonic(),
                                  **{key.lower(): value for key, value in self.headers.items()}})
            unavailable = dump.unavailable.get(path, 0)
            if unavailable:
                dump.unavailable[path] = unavailable - 1
            cut = dump.cut_after.pop(path, None)
        if path in dump.redirects:
            self.send_response(302)
            self.send_header("Location", dump.redirects[path])
            self.end_headers()
            return
        body = dump.files.get(path)
        if body is None:
            self.send_error(404)
            return
        if unavailable:
            self.send_response(503)
            self.send_header("Retry-After", dump.retry_after)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        etag = f'"{sha1(body)[:16]}"'
        start = 0
        wanted = self.headers.get("Range", "")
        if wanted.startswith("bytes=") and not dump.ignore_range and self.headers.get("If-Range", etag) == etag:
            start = int(wanted[len("bytes="):].rstrip("-"))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        if dump.validators:
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", "Sat, 02 Mar 2024 10:11:12 GMT")
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        end = len(body) if cut is None else min(len(body), start + cut)
        with dump.lock:
            dump.sending += 1
            dump.most_sending = max(dump.most_sending, dump.sending)
        try:
            for at in range(start, end, 16384):
                time.sleep(dump.throttle)  # before a write, so that the last one ends the sending
                self.wfile.write(body[at:min(end, at + 16384)])
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away (a killed download)
        finally:
            with dump.lock:
                dump.sending -= 1
        self.close_connection = True


@pytest.fixture
def server(sources):
    """The dump tree of rmwiki: run DONE complete; the newer run RUNNING has dumped redirect, is
    dumping page_props, and page and the articles wait."""
    dump = DumpServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.dump = dump
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    dump.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    dump.publish(f"/{WIKI}/", index_html(f"/{WIKI}/", [f"{DONE}/", f"{RUNNING}/", "latest/"]))
    for date, states in ((DONE, {}), (RUNNING, {"pagepropstable": "in-progress", "pagetable": "waiting",
                                                          "articlesmultistreamdump": "waiting"})):
        dump.publish(f"/{WIKI}/{date}/dumpstatus.json", dumpstatus(WIKI, date, sources, states))
        for job, suffixes in JOB_SUFFIXES.items():
            if states.get(job, "done") == "done":
                for suffix in suffixes:
                    dump.publish(f"/{WIKI}/{date}/{WIKI}-{date}-{suffix}", sources[suffix])
    yield dump
    httpd.shutdown()
    httpd.server_close()
    thread.join(10)


def request_for(server: DumpServer, to: Path, **changes) -> DownloadRequest:
    fields = dict(wiki=WIKI, date="latest", what=("pages-articles-multistream", "page_props", "redirect"),
                  to=str(to), mirror=server.url, contact=CONTACT, retry=FAST, timeout=(5.0, 5.0))
    return DownloadRequest(**{**fields, **changes})


def entry(server: DumpServer, suffix: str, body: bytes, job: str) -> dict:
    name = f"{WIKI}-{DONE}-{suffix}"
    return {"name": name, "url": f"{server.url}/{WIKI}/{DONE}/{name}", "bytes": len(body), "sha1": sha1(body),
            "job": job, "dump_date": DONE}


def file_requests(server: DumpServer) -> list[str]:
    return [request["path"] for request in server.requests if request["path"].startswith(f"/{WIKI}/{DONE}/{WIKI}-")]


def leftovers(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir()) if directory.exists() else []


# --- planning -------------------------------------------------------------------------------------------

def test_a_small_wiki_takes_the_multistream_file_and_index_from_its_multistream_job(sources):
    status = dumpstatus(WIKI, DONE, sources)
    files = plan_wiki_files(status, WIKI, DONE, ["page_props", "pages-articles-multistream"], "https://m.example")
    body = sources["page_props.sql.gz"]
    assert files[0] == RemoteFile(f"https://m.example/{WIKI}/{DONE}/{WIKI}-{DONE}-page_props.sql.gz",
                                  f"{WIKI}-{DONE}-page_props.sql.gz", len(body), "sha1", sha1(body),
                                  "pagepropstable", DONE)
    assert [(file.name, file.size, file.job) for file in files[1:]] == [
        (XML, 1695871, "articlesmultistreamdump"), (INDEX, 1941321, "articlesmultistreamdump")]


def test_a_big_wiki_takes_the_recombined_file_not_its_parts():
    def described(name, size, digit):
        return {"size": size, "url": f"/enwiki/20240801/{name}", "md5": digit * 32, "sha1": digit * 40}
    parts = {name: described(name, 1000, "1") for name in (
        "enwiki-20240801-pages-articles-multistream1.xml-p1p41242.bz2",
        "enwiki-20240801-pages-articles-multistream-index1.txt-p1p41242.bz2")}
    combined = {"enwiki-20240801-pages-articles-multistream.xml.bz2": described(
                    "enwiki-20240801-pages-articles-multistream.xml.bz2", 22_000_000_000, "a"),
                "enwiki-20240801-pages-articles-multistream-index.txt.bz2": described(
                    "enwiki-20240801-pages-articles-multistream-index.txt.bz2", 250_000_000, "b")}
    status = {"jobs": {"articlesmultistreamdump": {"status": "done", "updated": "2024-08-03 11:50:45", "files": parts},
                       "articlesmultistreamdumprecombine": {"status": "done", "updated": "2024-08-03 12:50:45",
                                                            "files": combined}},
              "version": "0.8"}
    files = plan_wiki_files(status, "enwiki", "20240801", ["pages-articles-multistream"], "https://m.example")
    assert [(file.name, file.size, file.checksum, file.job) for file in files] == [
        ("enwiki-20240801-pages-articles-multistream.xml.bz2", 22_000_000_000, "a" * 40,
         "articlesmultistreamdumprecombine"),
        ("enwiki-20240801-pages-articles-multistream-index.txt.bz2", 250_000_000, "b" * 40,
         "articlesmultistreamdumprecombine")]
    status["jobs"]["articlesmultistreamdumprecombine"]["status"] = "waiting"
    with pytest.raises(RelxdataError) as error:
        plan_wiki_files(status, "enwiki", "20240801", ["pages-articles-multistream"], "https://m.example")
    assert str(error.value) == "enwiki 20240801: job articlesmultistreamdumprecombine is waiting, not done"


def test_retry_after_in_seconds_and_as_an_http_date():
    now = datetime(2024, 3, 2, 10, 0, 0, tzinfo=timezone.utc)
    assert retry_after_seconds("120", now) == 120.0
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30.0
    assert retry_after_seconds(format_datetime(now - timedelta(seconds=30), usegmt=True), now) == 0.0
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None
    policy = RetryPolicy(attempts=5, first_delay=1.0, max_delay=10.0)
    assert [policy.delay(retry, None) for retry in range(5)] == [1.0, 2.0, 4.0, 8.0, 10.0]
    assert policy.delay(0, 3.0) == 3.0 and policy.delay(0, 600.0) == 10.0


# --- downloads ------------------------------------------------------------------------------------------

def test_latest_skips_a_run_still_dumping_and_fetches_the_done_one(server, sources, tmp_path):
    out = tmp_path / "rm"
    manifest = download(request_for(server, out), progress=False)
    assert manifest == {
        "tool": f"relxdata {__version__}", "wiki": WIKI, "dump_date": DONE, "mirror": server.url, "databus": None,
        "files": [entry(server, "pages-articles-multistream.xml.bz2", sources["pages-articles-multistream.xml.bz2"],
                        "articlesmultistreamdump"),
                  entry(server, "pages-articles-multistream-index.txt.bz2",
                        sources["pages-articles-multistream-index.txt.bz2"], "articlesmultistreamdump"),
                  entry(server, "page_props.sql.gz", sources["page_props.sql.gz"], "pagepropstable"),
                  entry(server, "redirect.sql.gz", sources["redirect.sql.gz"], "redirecttable")]}
    assert json.loads((out / MANIFEST).read_text()) == manifest
    for suffix in ("pages-articles-multistream.xml.bz2", "pages-articles-multistream-index.txt.bz2",
                   "page_props.sql.gz", "redirect.sql.gz"):
        assert (out / f"{WIKI}-{DONE}-{suffix}").read_bytes() == sources[suffix]
    assert leftovers(out) == sorted([MANIFEST, XML, INDEX, f"{WIKI}-{DONE}-page_props.sql.gz",
                                     f"{WIKI}-{DONE}-redirect.sql.gz"])
    assert [request["path"] for request in server.requests[:3]] == [
        f"/{WIKI}/", f"/{WIKI}/{RUNNING}/dumpstatus.json", f"/{WIKI}/{DONE}/dumpstatus.json"]
    assert {request["user-agent"] for request in server.requests} == {f"relxdata/{__version__} ({CONTACT})"}


def test_a_named_run_with_a_job_not_done_is_refused_in_one_line(server, tmp_path):
    with pytest.raises(RelxdataError) as error:
        download(request_for(server, tmp_path / "rm", date=RUNNING, what=("redirect", "page_props")), progress=False)
    assert str(error.value) == f"{WIKI} {RUNNING}: job pagepropstable is in-progress, not done"
    assert leftovers(tmp_path / "rm") == []
    assert [request["path"] for request in server.requests] == [f"/{WIKI}/{RUNNING}/dumpstatus.json"]


def test_no_done_run_at_all_is_refused(server, tmp_path):
    server.publish(f"/{WIKI}/{DONE}/dumpstatus.json",
                   dumpstatus(WIKI, DONE, {}, {job: "failed" for job in JOB_SUFFIXES}))
    with pytest.raises(RelxdataError) as error:
        download(request_for(server, tmp_path / "rm"), progress=False)
    assert str(error.value) == (f"{server.url}/{WIKI}/: no dump run has every job needed done "
                                f"(newest: {WIKI} {RUNNING}: job articlesmultistreamdump is waiting, not done)")


def test_a_503_with_retry_after_is_waited_out(server, sources, tmp_path):
    path = f"/{WIKI}/{DONE}/{WIKI}-{DONE}-redirect.sql.gz"
    server.unavailable[path], server.retry_after = 1, "1"
    download(request_for(server, tmp_path / "rm", date=DONE, what=("redirect",)), progress=False)
    first, second = server.seen(path)
    assert second["time"] - first["time"] >= 1.0
    assert (tmp_path / "rm" / f"{WIKI}-{DONE}-redirect.sql.gz").read_bytes() == sources["redirect.sql.gz"]


def test_a_cut_connection_resumes_with_range(server, sources, tmp_path):
    path = f"/{WIKI}/{DONE}/{XML}"
    server.cut_after[path] = CUT
    download(request_for(server, tmp_path / "rm", what=("pages-articles-multistream",)), progress=False)
    first, second = server.seen(path)
    assert "range" not in first
    etag = f'"{sha1(sources["pages-articles-multistream.xml.bz2"])[:16]}"'
    assert (second["range"], second["if-range"]) == (f"bytes={CUT}-", etag)
    assert (tmp_path / "rm" / XML).read_bytes() == sources["pages-articles-multistream.xml.bz2"]
    assert leftovers(tmp_path / "rm") == sorted([MANIFEST, XML, INDEX])


def test_a_server_that_ignores_range_is_read_again_from_the_start(server, sources, tmp_path):
    path = f"/{WIKI}/{DONE}/{XML}"
    server.cut_after[path], server.ignore_range = CUT, True
    download(request_for(server, tmp_path / "rm", what=("pages-articles-multistream",)), progress=False)
    assert [request.get("range") for request in server.seen(path)] == [None, f"bytes={CUT}-"]
    assert (tmp_path / "rm" / XML).read_bytes() == sources["pages-articles-multistream.xml.bz2"]


@pytest.mark.parametrize("validators", [True, False], ids=["if-range", "size"])
def test_a_remote_file_that_changed_since_the_partial_download_is_fetched_whole(server, sources, tmp_path,
                                                                               validators):
    """The first run dies after a cut (one attempt allowed); the remote file is then replaced. The
    rerun notices by If-Range (the server answers 200) or, without validators, by the changed size."""
    server.validators = validators
    path, out = f"/{WIKI}/{DONE}/{XML}", tmp_path / "rm"
    server.cut_after[path] = CUT
    with pytest.raises(RelxdataError) as error:
        download(request_for(server, out, what=("pages-articles-multistream",),
                             retry=RetryPolicy(attempts=1)), progress=False)
    assert str(error.value).startswith(f"{server.url}{path}: ")
    assert str(error.value).endswith("(gave up after 1 attempts)")
    assert MANIFEST not in leftovers(out) and XML not in leftovers(out)
    assert (out / f"{XML}.part").stat().st_size == CUT
    changed = {**sources, "pages-articles-multistream.xml.bz2": b"a newer dump" + server.files[path]}
    server.publish(path, changed["pages-articles-multistream.xml.bz2"])
    server.publish(f"/{WIKI}/{DONE}/dumpstatus.json", dumpstatus(WIKI, DONE, changed))
    download(request_for(server, out, what=("pages-articles-multistream",)), progress=False)
    assert (out / XML).read_bytes() == changed["pages-articles-multistream.xml.bz2"]
    ranged = [request for request in server.seen(path) if "range" in request]
    assert ranged[0]["range"] == f"bytes={CUT}-"
    assert ranged[0].get("if-range") == (f'"{sha1(sources["pages-articles-multistream.xml.bz2"])[:16]}"'
                                         if validators else None)
    assert leftovers(out) == sorted([MANIFEST, XML, INDEX])


def test_a_checksum_mismatch_removes_the_file_and_says_so(server, sources, tmp_path):
    status = dumpstatus(WIKI, DONE, sources)
    status["jobs"]["redirecttable"]["files"][f"{WIKI}-{DONE}-redirect.sql.gz"]["sha1"] = "0" * 40
    server.publish(f"/{WIKI}/{DONE}/dumpstatus.json", status)
    out = tmp_path / "rm"
    with pytest.raises(RelxdataError) as error:
        download(request_for(server, out, date=DONE, what=("redirect",)), progress=False)
    assert str(error.value) == (
        f"{server.url}/{WIKI}/{DONE}/{WIKI}-{DONE}-redirect.sql.gz: checksum mismatch, expected sha1 {'0' * 40}, "
        f"got {sha1(sources['redirect.sql.gz'])}; the download was removed")
    assert leftovers(out) == []


def test_retries_are_bounded(server, tmp_path):
    path = f"/{WIKI}/{DONE}/{WIKI}-{DONE}-page_props.sql.gz"
    server.unavailable[path], server.retry_after = 99, "0"
    out = tmp_path / "rm"
    with pytest.raises(RelxdataError) as error:
        download(request_for(server, out, what=("page_props",)), progress=False)
    assert str(error.value) == f"{server.url}{path}: HTTP 503 Service Unavailable (gave up after 3 attempts)"
    assert len(server.seen(path)) == 3
    assert leftovers(out) == []


def test_files_already_there_and_intact_are_not_fetched_again(server, sources, tmp_path):
    out = tmp_path / "rm"
    first = download(request_for(server, out), progress=False)
    assert len(file_requests(server)) == 4
    server.requests.clear()
    (out / f"{WIKI}-{DONE}-redirect.sql.gz").write_bytes(b"damaged")
    assert download(request_for(server, out), progress=False) == first
    assert file_requests(server) == [f"/{WIKI}/{DONE}/{WIKI}-{DONE}-redirect.sql.gz"]
    assert (out / f"{WIKI}-{DONE}-redirect.sql.gz").read_bytes() == sources["redirect.sql.gz"]


def test_wikidata_and_dbpedia_files_come_with_their_published_checksums(server, shared_data, tmp_path):
    entities = "/wikidatawiki/entities"
    wikidata = (shared_data / "wikidata" / "twenty-entities-dump-layout.json.bz2").read_bytes()
    server.publish(f"{entities}/", index_html(f"{entities}/", ["20240403/", "20240410/", "latest-all.json.bz2"]))
    # The newer directory holds only that day's lexemes dump so far.
    server.publish(f"{entities}/20240410/wikidata-20240410-sha1sums.txt",
                   f"{'c' * 40}  wikidata-20240410-lexemes.json.bz2\n")
    server.publish(f"{entities}/20240403/wikidata-20240403-sha1sums.txt",
                   f"{'d' * 40}  wikidata-20240403-lexemes.json.bz2\n{sha1(wikidata)}  wikidata-20240403-all.json.bz2\n")
    server.publish(f"{entities}/20240403/wikidata-20240403-all.json.bz2", wikidata)
    dbpedia = bz2.compress((shared_data / "dbpedia" / "hy" / "fish_mappingbased_csorted.ttl").read_bytes())
    artifact = f"{server.url}/databus/dbpedia/mappings/mappingbased-objects"
    server.publish("/databus/dbpedia/mappings/mappingbased-objects", {
        "@context": "https://downloads.dbpedia.org/databus/context.jsonld", "@id": artifact,
        "@type": "databus:Artifact",
        "databus:hasVersion": [{"@id": f"{artifact}/2022.12.01"}, {"@id": f"{artifact}/2023.06.01"}]})
    for version, langs in (("2023.06.01", ["en", "fr"]), ("2022.12.01", ["en", "rm"])):
        parts = [{"@id": f"{artifact}/{version}#mappingbased-objects_lang={lang}.ttl.bz2", "@type": "Part",
                  "file": f"{artifact}/{version}/mappingbased-objects_lang={lang}.ttl.bz2",
                  "downloadURL": f"{server.url}/repo/{version}/mappingbased-objects_lang={lang}.ttl.bz2",
                  "formatExtension": "ttl", "compression": "bzip2", "dcv:lang": lang,
                  "byteSize": str(len(dbpedia)), "sha256sum": hashlib.sha256(dbpedia).hexdigest()}
                 for lang in langs]
        server.publish(f"/databus/dbpedia/mappings/mappingbased-objects/{version}", {
            "@context": "https://downloads.dbpedia.org/databus/context.jsonld",
            "@graph": [{"@id": f"{artifact}/{version}", "@type": ["Version", "Dataset"], "hasVersion": version,
                        "distribution": [part["@id"] for part in parts]}, *parts]})
    # As on the real Databus, a file's identifier redirects to the download server.
    server.redirects["/databus/dbpedia/mappings/mappingbased-objects/2022.12.01/mappingbased-objects_lang=rm.ttl.bz2"] = \
        f"{server.url}/repo/2022.12.01/mappingbased-objects_lang=rm.ttl.bz2"
    server.publish("/repo/2022.12.01/mappingbased-objects_lang=rm.ttl.bz2", dbpedia)
    out = tmp_path / "rm"
    manifest = download(request_for(server, out, what=("page_props",), wikidata="json", dbpedia=("objects",),
                                    databus=f"{server.url}/databus"), progress=False)
    assert manifest["databus"] == f"{server.url}/databus"
    assert manifest["files"][1:] == [
        {"name": "wikidata-20240403-all.json.bz2",
         "url": f"{server.url}{entities}/20240403/wikidata-20240403-all.json.bz2", "bytes": len(wikidata),
         "sha1": sha1(wikidata), "job": "wikidatawiki/entities", "dump_date": "20240403"},
        {"name": "mappingbased-objects_lang=rm.ttl.bz2",
         "url": f"{artifact}/2022.12.01/mappingbased-objects_lang=rm.ttl.bz2", "bytes": len(dbpedia),
         "sha256": hashlib.sha256(dbpedia).hexdigest(), "job": "dbpedia/mappings/mappingbased-objects",
         "dump_date": "2022.12.01"}]
    assert (out / "wikidata-20240403-all.json.bz2").read_bytes() == wikidata
    assert (out / "mappingbased-objects_lang=rm.ttl.bz2").read_bytes() == dbpedia
    assert {request["accept"] for request in server.requests if request["path"].startswith("/databus/dbpedia/")
            and not request["path"].endswith(".bz2")} == {"application/ld+json"}


def test_provenance_of_a_downloaded_file(server, sources, tmp_path):
    out = tmp_path / "rm"
    manifest = download(request_for(server, out, what=("page_props", "redirect")), progress=False)
    assert provenance_of(str(out / f"{WIKI}-{DONE}-redirect.sql.gz")) == manifest["files"][1] == \
        entry(server, "redirect.sql.gz", sources["redirect.sql.gz"], "redirecttable")
    assert provenance_of(str(out / "elsewhere.sql.gz")) is None
    (out / f"{WIKI}-{DONE}-redirect.sql.gz").write_bytes(b"replaced by hand")
    assert provenance_of(str(out / f"{WIKI}-{DONE}-redirect.sql.gz")) is None
    (tmp_path / "loose.sql.gz").write_bytes(sources["page.sql.gz"])
    assert provenance_of(str(tmp_path / "loose.sql.gz")) is None


def test_user_mistakes_are_one_line_errors(server, tmp_path):
    cases = [
        (dict(contact="  "), "download needs a contact (an e-mail address or URL; --contact or RELXDATA_CONTACT) "
                             "for its User-Agent: Wikimedia blocks clients that do not say who runs them"),
        (dict(wiki="xxwiki"), f"{server.url}/xxwiki/ is not there (HTTP 404): no wiki xxwiki at {server.url} "
                              "(expected a database name such as frwiki)"),
        (dict(date="20230101"), f"{server.url}/{WIKI}/20230101/dumpstatus.json is not there (HTTP 404): "
                                f"{WIKI} has no dump run 20230101 at {server.url}"),
        (dict(date="2024-03-01"), "date '2024-03-01': expected YYYYMMDD or latest"),
        (dict(what=("pages-articles",)),
         "what 'pages-articles': expected some of pages-articles-multistream,page_props,redirect,page"),
    ]
    for changes, message in cases:
        with pytest.raises(RelxdataError) as error:
            download(request_for(server, tmp_path / "rm", **changes), progress=False)
        assert str(error.value) == message
    (tmp_path / "a-file").write_text("")
    with pytest.raises(RelxdataError) as error:
        download(request_for(server, tmp_path / "a-file" / "rm"), progress=False)
    assert str(error.value) == f"{tmp_path / 'a-file' / 'rm'}: cannot write the download there (Not a directory)"
    assert leftovers(tmp_path / "rm") == []


def test_a_killed_download_resumes_and_ends_as_an_unbroken_one(server, sources, tmp_path):
    unbroken = download(request_for(server, tmp_path / "unbroken"), progress=False)
    server.requests.clear()
    server.most_sending, server.throttle = 0, 0.02  # about 800 KB/s, so that a kill lands midway
    out, part = tmp_path / "killed", tmp_path / "killed" / f"{XML}.part"
    code = ("import sys\nfrom relxdata.download import DownloadRequest, download\n"
            "download(DownloadRequest(wiki=sys.argv[1], date='latest', to=sys.argv[2], mirror=sys.argv[3], "
            "contact=sys.argv[4], what=('pages-articles-multistream', 'page_props', 'redirect')), progress=False)\n")
    process = subprocess.Popen([sys.executable, "-c", code, WIKI, str(out), server.url, CONTACT],
                               start_new_session=True, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while process.poll() is None and time.monotonic() < deadline and \
            (not part.exists() or part.stat().st_size < 300_000):
        time.sleep(0.01)
    assert process.poll() is None, f"the download ended before the kill: {process.stderr.read()[-1000:]}"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)
    assert server.most_sending == 2  # the default number of connections
    process.stderr.close()
    kept = part.stat().st_size
    assert 300_000 <= kept < len(sources["pages-articles-multistream.xml.bz2"])
    assert MANIFEST not in leftovers(out) and XML not in leftovers(out)
    server.throttle = 0.0
    server.requests.clear()
    assert download(request_for(server, out), progress=False) == unbroken
    assert server.seen(f"/{WIKI}/{DONE}/{XML}")[0]["range"] == f"bytes={kept}-"
    for name in (XML, INDEX, f"{WIKI}-{DONE}-page_props.sql.gz", f"{WIKI}-{DONE}-redirect.sql.gz"):
        assert (out / name).read_bytes() == (tmp_path / "unbroken" / name).read_bytes()
    assert leftovers(out) == leftovers(tmp_path / "unbroken")


@pytest.mark.slow
def test_the_command_downloads_and_the_pipelines_record_where_their_input_came_from(server, sources, tmp_path,
                                                                                   capsys):
    from relxdata.cli import main

    out = tmp_path / "rm"
    assert main(["download", "--wiki", WIKI, "--date", "latest", "--what", "pages-articles-multistream,redirect",
                 "--to", str(out), "--mirror", server.url, "--contact", CONTACT]) == 0
    total = sum(len(sources[suffix]) for suffix in ("pages-articles-multistream.xml.bz2",
                                                    "pages-articles-multistream-index.txt.bz2", "redirect.sql.gz"))
    assert capsys.readouterr().out.strip() == f"3 files, {total:,} bytes, verified, in {out} (dump of {DONE})"
    # the sample behind the served "multistream" file is one bz2 stream: read it without the index
    assert main(["run", "sentences", "--lang", "en", "--dump", str(out / XML), "--limit", "3",
                 "--out", str(tmp_path / "sentences"), "--direct_num_workers", "1"]) == 0
    made = json.loads((tmp_path / "sentences" / "_manifest.json").read_text())
    assert made["inputs"][0]["download"] == entry(server, "pages-articles-multistream.xml.bz2",
                                                  sources["pages-articles-multistream.xml.bz2"],
                                                  "articlesmultistreamdump")


def test_the_command_wants_a_contact(server, tmp_path, capsys, monkeypatch):
    from relxdata.cli import main

    monkeypatch.delenv("RELXDATA_CONTACT", raising=False)
    assert main(["download", "--wiki", WIKI, "--to", str(tmp_path / "rm"), "--mirror", server.url]) == 2
    error = capsys.readouterr().err
    assert error.startswith("relxdata: error: ") and error.count("\n") == 1 and "contact" in error
