import random
import re
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from relxdata.cli import main
from relxdata.corpora import read_rows
from relxdata.synthetic import write_contract_corpus


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["run", "sentences", "--help"],
                                  ["run", "relx-distant", "--help"], ["run", "smiler", "--help"],
                                  ["run", "pairs", "--help"],
                                  ["build-pairs", "--help"], ["relations", "--help"], ["export", "--help"],
                                  ["score", "--help"], ["demo", "--help"]])
def test_every_command_has_help(argv):
    result = subprocess.run([sys.executable, "-m", "relxdata.cli", *argv], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout


def test_unknown_job(capsys):
    assert main(["run", "everything"]) == 2
    assert capsys.readouterr().err.strip() == "relxdata: error: unknown job 'everything'; jobs: sentences, relx-distant, smiler, pairs"


@pytest.mark.slow
def test_demo_runs_from_the_installed_package(demo):
    out, printed = demo
    assert "Q270 P1376 (capital of) Q36: Nació en [E1 Varsovia], la capital de [E2 Polonia]." in printed
    for lang in ("en", "de", "fr", "es", "tr"):
        rows = read_rows(out / "relx-distant" / lang)
        # Warsaw-Poland (3 rows) and Pierre Curie-Paris-France (5 rows) in every language.
        assert {("Q270", "P17", "Q36"), ("Q37463", "P19", "Q90"), ("Q90", "P1376", "Q142")} <= {
            (row["entity1"], row["relation"], row["entity2"]) for row in rows}
        assert len(rows) == (14 if lang == "en" else 8)
    en = {(row["entity1"], row["relation"], row["entity2"]): row for row in read_rows(out / "relx-distant" / "en")}
    warsaw = en[("Q270", "P1376", "Q36")]  # linked as [[Warszawa|Warsaw]], a redirect
    assert warsaw["sentence"][slice(*warsaw["entity1_indices"])] == "Warsaw"
    assert "has-population (title, literal): In 2020, <e1>Berlin</e1> had <e2>3,664,088</e2> inhabitants." in printed
    smiler = {lang: {(row["page_title"], row["label"], row["entity_2"], row["entity_2_qid"])
                     for row in read_rows(out / "smiler" / lang)} for lang in ("en", "de")}
    assert ("Marie Curie", "has-spouse", "Pierre Curie", "Q37463") in smiler["en"]
    assert ("Berlin", "from-country", "Bundesrepublik Deutschland", "Q183") in smiler["de"]
    # build-pairs read the five per-language outputs as one corpus, and the tiny model trained on them
    pairs = read_rows(out / "pairs")
    assert len(pairs) == 40 and {row["lang_b"] for row in pairs} == {"de", "es", "fr", "tr"}
    assert sorted(row["label"] for row in pairs) == [0] * 20 + [1] * 20
    steps = (out / "model" / "metrics.jsonl").read_text().splitlines()
    assert len(steps) == 5 and (out / "model" / "final" / "config.json").exists()
    assert "relx-distant: 46 rows in 5 part(s)" in printed and "pairs: 40 rows in 1 part(s)" in printed


def test_export_of_a_missing_corpus_is_one_line(tmp_path, capsys):
    assert main(["export", "relx-json", "--corpus", str(tmp_path / "nope"), "--out", str(tmp_path / "x.json")]) == 2
    assert capsys.readouterr().err.strip() == f"relxdata: error: no such corpus directory: {tmp_path / 'nope'}"


@pytest.fixture
def hostile(tmp_path, wikipedia):
    """Files users give by mistake: a directory, a PNG, an empty folder; and the real sample dump."""
    png = tmp_path / "picture.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty.sql").write_bytes(b"")
    write_contract_corpus(str(tmp_path / "corpus"), 40, seed=1, langs={"en": 1, "de": 1}, shards=1)
    return {"dir": str(tmp_path / "empty"), "png": str(png), "empty_file": str(tmp_path / "empty.sql"),
            "corpus": str(tmp_path / "corpus"), "dump": str(wikipedia / "enwiki-2016-sample.xml.bz2"),
            "out": str(tmp_path / "out"), "kbp": str(wikipedia.parent / "relation_eval/kbp37/dev.txt")}


@pytest.mark.parametrize("argv, message", [
    (["run", "sentences", "--lang", "en", "--dump", "{dir}", "--out", "{out}"], "{dir} is a directory, not a file"),
    (["run", "relx-distant", "--lang", "en", "--dump", "{dump}", "--page-props", "{dir}", "--wikidata", "{png}",
      "--out", "{out}"], "{dir} is a directory, not a file"),
    (["run", "sentences", "--lang", "en", "--dump", "{png}", "--out", "{out}"],
     "{png}: a PNG image, not a dump relxdata reads"),
    (["run", "sentences", "--lang", "en", "--dump", "{dump}", "--index", "{png}", "--out", "{out}"],
     "{png}: not a multistream index (offset:page_id:title lines): not UTF-8 text"),
    (["run", "sentences", "--lang", "en", "--dump", "{dump}", "--out", "{png}/out"],
     "cannot create the output directory {png}/out: Not a directory"),
    (["run", "sentences", "--lang", "en", "--dump", "{dump}", "--out", "{png}"], "--out {png} is a file"),
    (["run", "smiler", "--lang", "en", "--dump", "{dump}", "--dbpedia", "{png}", "--out", "{out}"],
     "{png}: holds no N-Triples line; is this a DBpedia dump?"),
    (["relations", "--relations", "{png}"], "cannot read the relation inventory {png}: not UTF-8 text"),
    (["finetune", "--train", "{png}", "--out", "{out}"], "{png}: not UTF-8 text; expected a KBP-37-format file"),
    (["finetune", "--task", "smiler", "--train", "{png}", "--out", "{out}"],
     "{png}: not UTF-8 text; expected a SMiLER TSV file"),
    (["finetune", "--train", "{kbp}", "--model", "{dir}", "--out", "{out}"], "no config.json"),
    (["score", "--task", "smiler", "{png}", "{png}"], "{png}: not UTF-8 text"),
    (["export", "smiler-tsv", "--corpus", "{dir}", "--out", "{out}"], "{dir} holds no part-*.parquet shards"),
    (["build-pairs", "--corpus", "{png}", "--out", "{out}"], "{png} is a file, not a corpus directory"),
    (["run", "relx-distant", "--lang", "en", "--dump", "{dump}", "--page-props", "{png}", "--wikidata", "{png}",
      "--out", "{out}"], "{png}: a PNG image, not a dump relxdata reads (MySQL table dumps: .sql, .sql.gz and "
                         ".sql.bz2)"),
    (["export", "relx-json", "--corpus", "{corpus}", "--out", "{png}/x.json"], "cannot write {png}/x.json: Not a "
                                                                              "directory"),
    (["demo", "--out", "{png}/demo"], "cannot create the output directory {png}/demo/dumps: Not a directory"),
    (["stats", "{dir}"], "{dir} holds no _manifest.json, nor do its subdirectories: not a finished relxdata output"),
    (["stats", "{png}"], "{png} is a file, not an output directory"),
    (["stats", "{out}"], "no such output directory: {out}"),
    (["download", "--wiki", "enwiki", "--what", "pages,images", "--to", "{out}", "--contact", "me@example.org"],
     "pages"),
])
def test_user_mistakes_end_in_one_line(hostile, capsys, argv, message):
    assert main([part.format(**hostile) for part in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("relxdata: error: ") and "\n" not in err and "Traceback" not in err
    assert message.format(**hostile) in err


PROGRESS_BAR = re.compile(r"\w+: +\d+%\||\w+s: [\d,]+ of [\d,]+ ")  # on a terminal, or in a log


class FailingEndpoint(BaseHTTPRequestHandler):
    """A SPARQL endpoint that answers every query with the status its path names: /500, /429."""

    def answer(self):
        status = int(self.path.strip("/").split("?")[0])
        self.send_response(status)
        self.send_header("Retry-After", "0")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = answer

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def failing_endpoint():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FailingEndpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize("knowledge, message", [
    (["--wikidata", "{empty}"], "{empty}: does not start with a '[' line; not a Wikidata JSON dump"),
    (["--wikidata", "{noise}"], "{noise}: does not start with a '[' line; not a Wikidata JSON dump"),
    (["--wikidata", "{png}"], "{png}: does not start with a '[' line; not a Wikidata JSON dump"),
    (["--truthy", "{png}", "--page-props", "{page_props}"], "{png}: "),
    (["--sparql", "http://127.0.0.1:{closed}/sparql"], "SPARQL endpoint http://127.0.0.1:{closed}/sparql is "
                                                       "unreachable"),
    (["--sparql", "{endpoint}/500"], "SPARQL endpoint {endpoint}/500"),
    (["--sparql", "{endpoint}/429"], "SPARQL endpoint {endpoint}/429"),
], ids=["empty-json", "random-json", "png-json", "png-truthy", "closed-port", "http-500", "http-429"])
def test_errors_inside_beam_workers_end_in_one_line_and_leave_nothing(knowledge, message, tmp_path, shared_data,
                                                                      failing_endpoint):
    """Found by a user: 230-500 lines of worker tracebacks, and an output folder left behind."""
    from relxdata.demo import sample_dump

    png = tmp_path / "picture.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    (tmp_path / "empty.json").write_bytes(b"")
    (tmp_path / "noise.json").write_bytes(random.Random(7).randbytes(5000))
    names = {"png": png, "empty": tmp_path / "empty.json", "noise": tmp_path / "noise.json",
             "page_props": shared_data / "sql/2024-schema/rmwiki/20240301/rmwiki-20240301-page_props.sql.gz",
             "closed": closed_port(), "endpoint": failing_endpoint}
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "relxdata.cli", "run", "relx-distant", "--lang", "en", "--dump", sample_dump("en"),
         *[arg.format(**names) for arg in knowledge], "--out", str(out), "--direct_num_workers", "1"],
        capture_output=True, text=True, timeout=300)
    lines = [line for line in result.stderr.splitlines() if line.strip() and not PROGRESS_BAR.match(line)]
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("relxdata: error: " + message.format(**names)), result.stderr
    assert not out.exists()


@pytest.mark.slow
def test_an_out_that_names_a_file_is_one_line_and_the_file_stays(tmp_path):
    from relxdata.demo import sample_dump, sample_knowledge_base

    (tmp_path / "out").write_text("mine")
    result = subprocess.run(
        [sys.executable, "-m", "relxdata.cli", "run", "relx-distant", "--lang", "en", "--dump", sample_dump("en"),
         "--wikidata", sample_knowledge_base(), "--out", str(tmp_path / "out")], capture_output=True, text=True,
        timeout=300)
    assert (result.returncode, result.stderr) == (2, f"relxdata: error: --out {tmp_path / 'out'} is a file, not a "
                                                     "directory\n")
    assert (tmp_path / "out").read_text() == "mine"


def test_debug_shows_the_traceback_of_a_user_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RELXDATA_DEBUG", "0")  # restored after the test; --debug sets it for Beam's workers
    assert main(["stats", str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err == f"relxdata: error: no such output directory: {tmp_path / 'nope'}\n"
    assert main(["--debug", "stats", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):") and "relxdata/stats.py" in err
    assert err.endswith(f"relxdata: error: no such output directory: {tmp_path / 'nope'}\n")


def test_the_demo_says_it_skips_pretraining_without_the_model_module(tmp_path, capsys, monkeypatch):
    import importlib.util

    from relxdata import demo

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "torch" else find_spec(name))
    assert demo.pretrain_demo_model(str(tmp_path), str(tmp_path / "pairs")) is None
    printed = capsys.readouterr().out
    assert f"== skipped: relxdata pretrain --pairs {tmp_path / 'pairs'} --out {tmp_path / 'model'}" in printed
    assert "pip install 'relxdata[model]'" in printed and not (tmp_path / "model").exists()
