"""`relxdata stats`: counts that agree with the rows and the manifests, plots, and a dataset card that
datasets and DuckDB read."""

import json
from collections import Counter
from pathlib import Path

import duckdb
import pytest
from matplotlib.image import imread

from relxdata.card import CARD, STATS, write_stats
from relxdata.cli import main
from relxdata.corpora import MANIFEST, RELX_DISTANT, manifest, read_rows, shard_name, write_shard
from relxdata.stats import output_stats


def rows_of(directory: Path) -> list[dict]:
    parts = [directory] if (directory / MANIFEST).exists() else sorted(p for p in directory.iterdir() if p.is_dir())
    return [row for part in parts for row in read_rows(part)]


def manifest_counts(directory: Path, key: str) -> Counter:
    total = Counter()
    for path in directory.glob(f"*/{MANIFEST}") if not (directory / MANIFEST).exists() else [directory / MANIFEST]:
        total.update(json.loads(path.read_text())["counts"].get(key, {}))
    return total


@pytest.mark.slow
@pytest.mark.parametrize("name, columns", [
    ("relx-distant", {"language": "lang", "relation": "relation", "category": "category"}),
    ("smiler", {"language": "lang", "label": "label", "split": "split"}),
    ("pairs", {"relation": "relation_a"}),
])
def test_stats_of_the_demo_agree_with_rows_and_manifests(demo, name, columns, tmp_path, monkeypatch):
    directory = demo[0] / name
    stats = json.loads((directory / STATS).read_text())
    rows = rows_of(directory)
    assert stats["rows"] == len(rows) and stats["problems"] == []
    for dimension, column in columns.items():
        assert stats["counts"][dimension] == dict(Counter(row[column] for row in rows))
        if name != "pairs":
            assert stats["counts"][dimension] == manifest_counts(directory, f"rows_by_{dimension}")
    if name == "pairs":
        assert stats["counts"]["class"] == {"negative": 20, "positive": 20}
        assert stats["counts"]["language"] == {"en-de": 10, "en-es": 10, "en-fr": 10, "en-tr": 10}
    else:  # what was left out, per language, as the manifests count it: two English redirects, one
        # file link in each sample wiki
        assert stats["losses"]["pages.skipped.redirect"] == {"en": 2}
        assert stats["losses"]["links.dropped.file"] == {lang: 1 for lang in ("de", "en", "es", "fr", "tr")}
    histogram = stats["histograms"]["sentence_length"]["bins"]
    assert sum(count for _, count in histogram) == len(rows)
    # every plot the card shows is a PNG that reads back as an image
    card = (directory / CARD).read_text()
    plots = sorted((directory / "plots").glob("*.png"))
    assert len(plots) >= 4
    for plot in plots:
        assert f"(plots/{plot.name})" in card
        height, width, _ = imread(plot).shape
        assert width == 800 and height >= 150  # 8 inches at 100 dpi; bar charts grow with their bars
    # the card is a Hugging Face dataset card that datasets reads offline, as it is
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loaded = datasets.load_dataset(str(directory), split="train", cache_dir=str(tmp_path / "cache"))
    assert loaded.num_rows == len(rows)
    if name != "pairs":
        german = datasets.load_dataset(str(directory), "de", split="train", cache_dir=str(tmp_path / "cache"))
        assert german.num_rows == stats["counts"]["language"]["de"] and set(german["lang"]) == {"de"}
    assert "license: cc-by-sa-4.0" in card
    pattern = "part-*.parquet" if name == "pairs" else "*/part-*.parquet"
    assert duckdb.sql(f"SELECT count(*) FROM '{directory}/{pattern}'").fetchall() == [(len(rows),)]


def write_corpus(directory: Path, rows: list[dict], rows_in_manifest: int | None = None) -> None:
    directory.mkdir(parents=True)
    with open(directory / shard_name(0, 1), "wb") as sink:
        write_shard(rows, RELX_DISTANT, sink)
    counts = {"rows": len(rows), **{f"rows_by_language.{lang}": n for lang, n in Counter(r["lang"] for r in rows).items()},
              **{f"rows_by_relation.{rel}": n for rel, n in Counter(r["relation"] for r in rows).items()},
              **{f"rows_by_category.{cat}": n for cat, n in Counter(r["category"] for r in rows).items()},
              "pages.read": 3, "pages.skipped.redirect": 1, "links.unresolved.red_link": 4, "links.resolved": 9}
    outputs = {"relx-distant": {"directory": ".", "shards": 1, "rows": rows_in_manifest or len(rows)}}
    (directory / MANIFEST).write_text(manifest(job="relx-distant", config={"lang": "en"}, inputs=[], counts=counts,
                                               outputs=outputs, extra={}, wall_seconds=1.0))


def relx_row(sentence: str, e1: str, e2: str, page_id: int, relation: str = "P19") -> dict:
    span = lambda anchor: [sentence.index(anchor), sentence.index(anchor) + len(anchor)]
    return {"id": f"{page_id}-{e1}", "lang": "en", "sentence": sentence, "entity1": "Q1", "entity2": "Q2",
            "entity1_indices": span(e1), "entity2_indices": span(e2), "relation": relation,
            "relation_name": "place of birth", "category": relation, "page_id": page_id, "page_title": "T",
            "entity1_text": e1, "entity2_text": e2}


SENTENCES = [
    relx_row("Ada was born in London.", "Ada", "London", 1),  # 23 characters; 12 between the entities
    relx_row("London, birthplace of Ada.", "Ada", "London", 1),  # entity 2 first: 16 between
    relx_row("Alan Turing was born in Maida Vale, a district of London, in the year 1912, and he studied at "
             "King's College in Cambridge.", "Alan Turing", "Cambridge", 2, "P69"),
]


def test_counts_histograms_and_losses_are_exact(tmp_path):
    write_corpus(tmp_path / "corpus", SENTENCES)
    stats = output_stats(str(tmp_path / "corpus"))
    assert (stats.kind, stats.rows, stats.problems) == ("relx-distant", 3, [])
    assert stats.counts == {"language": {"en": 3}, "relation": {"P19": 2, "P69": 1}, "category": {"P19": 2, "P69": 1}}
    assert stats.histograms["sentence_length"] == [(20, 2), (120, 1)]
    assert stats.histograms["entity_distance"] == [(10, 2), (100, 1)]
    assert stats.rows_per_page == [(1, 1, 1), (2, 2, 1)]  # one article with one row, one with two
    assert stats.losses == {"links.unresolved.red_link": {"en": 4}, "pages.skipped.redirect": {"en": 1}}


def test_shards_that_disagree_with_the_manifest_are_reported(tmp_path, capsys):
    write_corpus(tmp_path / "corpus", SENTENCES, rows_in_manifest=5)
    assert main(["stats", str(tmp_path / "corpus")]) == 0
    assert "  WARNING: the manifests say 5 rows, the shards hold 3" in capsys.readouterr().out
    assert "**The shards and the manifests disagree:**" in (tmp_path / "corpus" / CARD).read_text()


def test_unfinished_or_mixed_outputs_and_foreign_cards_are_refused(tmp_path, capsys):
    (tmp_path / "unfinished").mkdir()
    (tmp_path / "unfinished" / shard_name(0, 1)).write_bytes(b"PAR1")
    assert main(["stats", str(tmp_path / "unfinished")]) == 2
    assert capsys.readouterr().err.startswith(f"relxdata: error: {tmp_path / 'unfinished'} holds no _manifest.json")
    write_corpus(tmp_path / "corpus", SENTENCES)
    (tmp_path / "corpus" / CARD).write_text("# My own notes\n")
    assert main(["stats", str(tmp_path / "corpus")]) == 2
    assert capsys.readouterr().err.strip() == (f"relxdata: error: {tmp_path / 'corpus' / CARD} exists and was not "
                                               "written by relxdata stats; pass --overwrite to replace it")
    assert main(["stats", str(tmp_path / "corpus"), "--overwrite"]) == 0
    assert main(["stats", str(tmp_path / "corpus")]) == 0  # its own card it replaces
    write_stats(str(tmp_path / "corpus"))
    assert (tmp_path / "corpus" / CARD).read_text().count("# RELX-Distant-style") == 1
