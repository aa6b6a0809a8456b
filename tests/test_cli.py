import subprocess
import sys

import pytest

from relxdata.cli import main
from relxdata.corpora import read_rows


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
def test_demo_runs_from_the_installed_package(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 0
    printed = capsys.readouterr().out
    assert "Q270 P1376 (capital of) Q36: Nació en [E1 Varsovia], la capital de [E2 Polonia]." in printed
    for lang in ("en", "de", "fr", "es", "tr"):
        rows = read_rows(tmp_path / "demo" / "relx-distant" / lang)
        # Warsaw-Poland (3 rows) and Pierre Curie-Paris-France (5 rows) in every language.
        assert {("Q270", "P17", "Q36"), ("Q37463", "P19", "Q90"), ("Q90", "P1376", "Q142")} <= {
            (row["entity1"], row["relation"], row["entity2"]) for row in rows}
        assert len(rows) == (14 if lang == "en" else 8)
    en = {(row["entity1"], row["relation"], row["entity2"]): row for row in read_rows(tmp_path / "demo" / "relx-distant" / "en")}
    warsaw = en[("Q270", "P1376", "Q36")]  # linked as [[Warszawa|Warsaw]], a redirect
    assert warsaw["sentence"][slice(*warsaw["entity1_indices"])] == "Warsaw"
    assert "has-population (title, literal): In 2020, <e1>Berlin</e1> had <e2>3,664,088</e2> inhabitants." in printed
    smiler = {lang: {(row["page_title"], row["label"], row["entity_2"], row["entity_2_qid"])
                     for row in read_rows(tmp_path / "demo" / "smiler" / lang)} for lang in ("en", "de")}
    assert ("Marie Curie", "has-spouse", "Pierre Curie", "Q37463") in smiler["en"]
    assert ("Berlin", "from-country", "Bundesrepublik Deutschland", "Q183") in smiler["de"]


def test_export_of_a_missing_corpus_is_one_line(tmp_path, capsys):
    assert main(["export", "relx-json", "--corpus", str(tmp_path / "nope"), "--out", str(tmp_path / "x.json")]) == 2
    assert capsys.readouterr().err.strip() == f"relxdata: error: no such corpus directory: {tmp_path / 'nope'}"


@pytest.fixture
def hostile(tmp_path, wikipedia):
    """Files users give by mistake: a directory, a PNG, an empty folder; and the real sample dump."""
    png = tmp_path / "picture.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    (tmp_path / "empty").mkdir()
    return {"dir": str(tmp_path / "empty"), "png": str(png), "dump": str(wikipedia / "enwiki-2016-sample.xml.bz2"),
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
])
def test_user_mistakes_end_in_one_line(hostile, capsys, argv, message):
    assert main([part.format(**hostile) for part in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("relxdata: error: ") and "\n" not in err and "Traceback" not in err
    assert message.format(**hostile) in err
