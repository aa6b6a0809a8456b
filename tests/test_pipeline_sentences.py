"""End to end: `relxdata run sentences` on real dumps, through Beam's in-process runner."""

import json
import tempfile
from pathlib import Path

import pytest

from relxdata.cli import main
from relxdata.corpora import read_rows
from relxdata.dumps import write_multistream

pytestmark = pytest.mark.slow


def run(*args) -> int:
    return main(["run", "sentences", *map(str, args)])


def manifest(out: Path) -> dict:
    return json.loads((out / "_manifest.json").read_text())


@pytest.fixture(scope="module")
def english(wikipedia, tmp_path_factory):
    """The 2016 sample, once with one worker and once with two."""
    outputs = {}
    for workers in (1, 2):
        out = tmp_path_factory.mktemp(f"en{workers}")
        copies_before = set(Path(tempfile.gettempdir()).glob("relxdata-xml-*"))
        assert run("--lang", "en", "--dump", wikipedia / "enwiki-2016-sample.xml.bz2", "--out", out,
                   "--pages-per-shard", 40, "--overwrite", f"--direct_num_workers={workers}") == 0
        # the units were read from the scan's copy of the XML (relxdata.xml_copy), removed by the run
        assert set(Path(tempfile.gettempdir()).glob("relxdata-xml-*")) == copies_before
        outputs[workers] = out
    return outputs


def test_same_bytes_with_one_and_two_workers(english):
    one, two = english[1], english[2]
    names = sorted(p.relative_to(one).as_posix() for p in one.rglob("part-*.parquet"))
    assert len(names) == 24  # 6 units, each a shard of sentences, articles, redirects and quarantine
    assert names == sorted(p.relative_to(two).as_posix() for p in two.rglob("part-*.parquet"))
    for name in names:
        assert (one / name).read_bytes() == (two / name).read_bytes(), name
    assert "part-00005-of-00006.parquet" in names


def test_manifest_accounts_for_every_page(english):
    document = manifest(english[1])
    pages = document["counts"]["pages"]
    assert pages["read"] == 206 == document["dump"]["pages_planned"]
    assert pages["read"] == pages["emitted"] + sum(pages["skipped"].values())
    assert pages["skipped"] == {"redirect": 100}
    assert document["counts"]["sentences"] == len(read_rows(english[1])) == document["outputs"]["sentences"]["rows"]
    assert document["inputs"][0]["bytes"] == 1695871
    assert document["inputs"][0]["sha256"] == "a53f4648dec40467ebdcbc7a1307eddb51fe6e28e9309f6ebde81ba0d04bea2d"
    assert document["dump"]["schema_version"] == "0.10" and document["dump"]["truncation"] is None
    assert document["config"]["runner"] == "FnApiRunner"
    # Every page of namespace 0 that is no redirect is an article, with or without sentences.
    articles = read_rows(str(english[1] / "articles"))
    assert len(articles) == document["outputs"]["articles"]["rows"] == 106
    assert {"lang": "en", "page_id": 600, "title": "Andorra",
            "lead_names": ["Andorra", "Principality of Andorra", "Principality of the Valleys of Andorra"]} in articles
    # What later jobs need to apply the wiki's title rules without the dump.
    siteinfo = document["dump"]["siteinfo"]
    assert siteinfo["case"] == "first-letter" and ["Category", 14] in siteinfo["namespaces"]
    links = document["counts"]["links"]
    assert links["emitted"] == sum(len(row["links"]) for row in read_rows(english[1]))
    assert links["dropped"]["file"] > 0 and links["dropped"]["category"] > 0


def test_andorra_sentences_and_link_offsets(english):
    rows = [row for row in read_rows(english[1]) if row["page_title"] == "Andorra"]
    assert [row["sent_index"] for row in rows] == list(range(len(rows)))
    first = rows[0]
    assert first["page_id"] == 600 and first["lang"] == "en"
    assert first["text"] == ("Andorra, officially the Principality of Andorra (Principat d'Andorra), also called the "
                             "Principality of the Valleys of Andorra (Principat de les Valls d'Andorra), is a sovereign "
                             "landlocked microstate in Southwestern Europe, located in the eastern Pyrenees mountains "
                             "and bordered by Spain and France.")
    assert [(l["start"], l["end"], l["target"], l["anchor"]) for l in first["links"]] == [
        (177, 187, "Landlocked country", "landlocked"), (188, 198, "Microstate", "microstate"),
        (202, 221, "Iberian Peninsula", "Southwestern Europe"), (246, 254, "Pyrenees", "Pyrenees"),
        (281, 286, "Spain", "Spain"), (291, 297, "France", "France")]
    assert rows[1]["text"] == "Created under a charter in A.D. 988, the present Principality was formed in A.D. 1278."
    for row in read_rows(english[1]):
        for link in row["links"]:
            assert row["text"][link["start"]:link["end"]] == link["anchor"]


def test_redirects_are_their_own_output(english):
    redirects = {row["title"]: row for row in read_rows(english[1] / "redirects")}
    assert len(redirects) == 100
    assert redirects["AccessibleComputing"]["target"] == "Computer accessibility"
    assert redirects["AndorrA"]["target"] == "Andorra"
    assert read_rows(english[1] / "quarantine") == []


def test_multistream_gives_the_same_rows(wikipedia, english, tmp_path):
    dump, index = tmp_path / "ms.xml.bz2", tmp_path / "ms-index.txt.bz2"
    write_multistream(str(wikipedia / "enwiki-2016-sample.xml.bz2"), str(dump), str(index))
    out = tmp_path / "out"
    assert run("--lang", "en", "--dump", dump, "--index", index, "--out", out, "--pages-per-shard", 100) == 0
    assert read_rows(out) == read_rows(english[1])
    assert manifest(out)["dump"]["compression"] == "multistream"


def test_truncated_dump_fails_clearly_and_leaves_no_manifest(wikipedia, tmp_path, capsys):
    dump = wikipedia / "enwiki-2022-head-truncated.xml.bz2"
    out = tmp_path / "out"
    assert run("--lang", "en", "--dump", dump, "--out", out) == 2
    error = capsys.readouterr().err.strip()
    assert error == (f"relxdata: error: {dump}: truncated at byte 10532835 (no closing </mediawiki>) after 251 "
                     "whole pages; rerun with --allow-truncated to keep them")
    assert not (out / "_manifest.json").exists()


def test_truncated_dump_accepted_when_allowed(wikipedia, tmp_path):
    out = tmp_path / "out"
    assert run("--lang", "en", "--dump", wikipedia / "enwiki-2022-head-truncated.xml.bz2", "--out", out,
               "--allow-truncated", "--limit", 251, "--pages-per-shard", 100) == 0
    document = manifest(out)
    assert document["counts"]["pages"]["read"] == 251
    rows = read_rows(out)
    assert rows[-1]["page_title"] == "Alexander Graham Bell"


def test_truncation_recorded_in_the_manifest(wikipedia, tmp_path):
    path = wikipedia / "multistream/jawiki-20220501-pages-articles-multistream.xml_head10000.txt"
    out = tmp_path / "out"
    assert run("--lang", "ja", "--dump", path, "--out", out, "--allow-truncated", "--namespaces", "0,4") == 0
    document = manifest(out)
    assert document["dump"]["truncation"] == {"offset": 1245111, "pages_kept": 25, "reason": "page 26 is cut off"}
    assert document["counts"]["pages"]["read"] == 25


@pytest.mark.parametrize("lang, name, title, sentence", [
    ("de", "minidumps/dewiki.xml.bz2", "Berlin", "Der Stadtstaat besteht aus zwölf Bezirken."),
    ("fr", "minidumps/frwiki.xml.bz2", None, None),
    ("es", "minidumps/eswiki.xml.bz2", None, None),
    ("tr", "minidumps/trwiki.xml.bz2", None, None),
    ("ja", "jawiki-2025-head.xml.bz2", "アンパサンド", "ラテン語で「…と…」を表す接続詞 \"et\" の合字を起源とする。"),
])
def test_languages(wikipedia, tmp_path, lang, name, title, sentence):
    out = tmp_path / lang
    assert run("--lang", lang, "--dump", wikipedia / name, "--out", out) == 0
    document = manifest(out)
    rows = read_rows(out)
    assert rows and all(row["lang"] == lang for row in rows)
    pages = document["counts"]["pages"]
    assert pages["read"] == pages["emitted"] + sum(pages.get("skipped", {}).values())
    if lang == "ja":
        assert document["sentence_splitter"]["used"] == "xx"
        assert pages["split_by_fallback"] == pages["emitted"]
    if title:
        assert sentence in [row["text"] for row in rows if row["page_title"] == title]


def test_limit(wikipedia, tmp_path):
    out = tmp_path / "out"
    assert run("--lang", "en", "--dump", wikipedia / "enwiki-2016-sample.xml.bz2", "--out", out, "--limit", 12) == 0
    assert manifest(out)["counts"]["pages"]["read"] == 12


@pytest.mark.parametrize("args, message", [
    (["--lang", "en", "--dump", "missing.xml.bz2"], "relxdata: error: no such file: missing.xml.bz2"),
    (["--lang", "english", "--dump", "{sample}"], "relxdata: error: unknown Wikipedia language code 'english'"),
    (["--lang", "en", "--dump", "{sample}", "--limit", "0"],
     "relxdata: error: --limit must be a positive number of pages"),
    (["--lang", "en", "--dump", "{sample}", "--namespaces", "main"],
     "relxdata: error: --namespaces takes comma-separated integers, not 'main'"),
])
def test_bad_input_is_one_clear_line(wikipedia, tmp_path, capsys, args, message):
    sample = str(wikipedia / "enwiki-redirect-sample.xml.bz2")
    args = [arg.replace("{sample}", sample) for arg in args]
    assert run(*args, "--out", tmp_path / "out") == 2
    assert capsys.readouterr().err.strip() == message


def test_existing_output_is_not_overwritten_by_accident(wikipedia, tmp_path, capsys):
    out = tmp_path / "out"
    sample = wikipedia / "enwiki-redirect-sample.xml.bz2"
    assert run("--lang", "en", "--dump", sample, "--out", out) == 0
    assert run("--lang", "en", "--dump", sample, "--out", out) == 2
    assert "already holds an output" in capsys.readouterr().err
    assert run("--lang", "en", "--dump", sample, "--out", out, "--overwrite") == 0
