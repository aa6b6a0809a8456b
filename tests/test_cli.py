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
