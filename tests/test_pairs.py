import json
from collections import Counter
from itertools import product
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from relxdata.cli import main
from relxdata.pairs import PairConfig, build_pairs, sample_distinct
from relxdata.corpora import RELX_DISTANT, row_id
from relxdata.synthetic import write_contract_corpus

LANGS = {"en": 5, "de": 3, "fr": 3, "es": 2, "tr": 1}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus")
    write_contract_corpus(str(path), 4000, seed=3, langs=LANGS, shards=3)
    return path


@pytest.fixture(scope="module")
def built(corpus, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pairs")
    build_pairs(str(corpus), str(out), PairConfig(num_pairs=2400, pairs_per_shard=1000, threads=2),
                show_progress=False)
    return out


def rows_by_id(corpus: Path) -> dict:
    return {row["id"]: row for row in pq.read_table(corpus).to_pylist()}


def assert_obeys_the_rules(pairs: list[dict], source: dict) -> None:
    for pair in pairs:
        a, b = source[pair["id_a"]], source[pair["id_b"]]
        assert pair["lang_a"] == a["lang"] == "en" and pair["lang_b"] == b["lang"] != "en"
        assert (pair["text_a"], pair["text_b"]) == (a["sentence"], b["sentence"])
        assert (pair["e1_a"], pair["e2_a"]) == (a["entity1_indices"], a["entity2_indices"])
        assert (pair["e1_b"], pair["e2_b"]) == (b["entity1_indices"], b["entity2_indices"])
        assert (pair["relation_a"], pair["relation_b"]) == (a["relation"], b["relation"])
        shared = {a["entity1"], a["entity2"]} & {b["entity1"], b["entity2"]}
        if pair["label"] == 1:
            assert (a["entity1"], a["entity2"], a["category"]) == (b["entity1"], b["entity2"], b["category"])
            assert pair["shared_entity"] is None
        else:
            assert pair["label"] == 0
            assert shared == {pair["shared_entity"]}
            assert a["category"] != b["category"]
    assert Counter((p["label"], p["lang_b"]) for p in pairs) == {
        (label, lang): len(pairs) // 8 for label, lang in product((0, 1), ("de", "es", "fr", "tr"))}
    assert len({(p["id_a"], p["id_b"]) for p in pairs}) == len(pairs)
    assert len({p["pair_id"] for p in pairs}) == len(pairs)
    flags = [p[f] for p in pairs for f in ("blank_e1_a", "blank_e2_a", "blank_e1_b", "blank_e2_b")]
    assert abs(sum(flags) / len(flags) - 0.7) < 0.02


def test_every_pair_obeys_the_rules(corpus, built):
    pairs = pq.read_table(built).to_pylist()
    assert len(pairs) == 2400
    assert_obeys_the_rules(pairs, rows_by_id(corpus))


def test_classes_and_languages_are_mixed_in_every_shard(built):
    first = pq.read_table(sorted(built.glob("part-*.parquet"))[0]).to_pylist()
    assert {p["label"] for p in first} == {0, 1} and len({p["lang_b"] for p in first}) == 4


def test_manifest(built, corpus):
    document = json.loads((built / "_manifest.json").read_text())
    assert document["counts"]["pairs"] == 2400
    assert document["counts"]["pairs_by_class"]["negative"] == {"de": 300, "es": 300, "fr": 300, "tr": 300}
    assert document["languages"] == {"pivot": "en", "paired": ["de", "es", "fr", "tr"]}
    assert len(document["inputs"]) == 3 and all(len(i["sha256"]) == 64 for i in document["inputs"])
    assert document["outputs"]["pairs"] == {"directory": ".", "shards": 3, "rows": 2400}


def test_supply_is_counted_exactly(corpus, built):
    """The inclusion-exclusion counts against listing every candidate pair."""
    source = list(rows_by_id(corpus).values())
    pivot = [r for r in source if r["lang"] == "en"]
    supply = json.loads((built / "_manifest.json").read_text())["supply"]
    for lang in ("de", "tr"):
        other = [r for r in source if r["lang"] == lang]
        positive = negative = 0
        for a, b in product(pivot, other):
            if (a["entity1"], a["entity2"], a["category"]) == (b["entity1"], b["entity2"], b["category"]):
                positive += 1
            shared = {a["entity1"], a["entity2"]} & {b["entity1"], b["entity2"]}
            if len(shared) == 1 and a["category"] != b["category"]:
                negative += 1
        assert supply[lang] == {"positive": positive, "negative": negative}


def test_same_seed_same_bytes_any_thread_count(corpus, built, tmp_path):
    out = tmp_path / "again"
    build_pairs(str(corpus), str(out), PairConfig(num_pairs=2400, pairs_per_shard=1000, threads=1),
                show_progress=False)
    names = sorted(p.name for p in built.glob("part-*.parquet"))
    assert names == sorted(p.name for p in out.glob("part-*.parquet"))
    for name in names:
        assert (built / name).read_bytes() == (out / name).read_bytes()
    other = tmp_path / "seed"
    build_pairs(str(corpus), str(other), PairConfig(num_pairs=2400, seed=14, pairs_per_shard=1000),
                show_progress=False)
    assert pq.read_table(other)["id_b"].to_pylist() != pq.read_table(built)["id_b"].to_pylist()


def write_rows(directory: Path, rows: list[tuple]) -> Path:
    """Rows of (lang, sentence, entity1, entity2, category, e1 span, e2 span)."""
    directory.mkdir(parents=True, exist_ok=True)
    columns = {name: [] for name in RELX_DISTANT.names}
    for number, (lang, sentence, e1, e2, category, span1, span2) in enumerate(rows):
        relation = category.split("_")[0]
        values = {"id": row_id(lang, number, 0, e1, e2, relation), "lang": lang, "sentence": sentence,
                  "entity1": e1, "entity2": e2, "entity1_indices": span1, "entity2_indices": span2,
                  "relation": relation, "relation_name": relation, "category": category, "page_id": number,
                  "page_title": f"Page {number}", "entity1_text": sentence[span1[0]:span1[1]],
                  "entity2_text": sentence[span2[0]:span2[1]]}
        for name, value in values.items():
            columns[name].append(value)
    pq.write_table(pa.table(columns, schema=RELX_DISTANT), directory / "part-00000-of-00001.parquet")
    return directory


HEXAPLA = [
    ("en", "The Hexapla was compiled by Origen.", "Q1194960", "Q167287", "P50", [4, 11], [28, 34]),
    ("de", "Origenes wurde in Alexandria geboren.", "Q167287", "Q87", "P19", [0, 8], [18, 28]),
    ("en", "Origen was born in Alexandria.", "Q167287", "Q87", "P19", [0, 6], [19, 29]),
]


def test_the_papers_example(tmp_path):
    corpus = write_rows(tmp_path / "corpus", HEXAPLA)
    out = tmp_path / "pairs"
    build_pairs(str(corpus), str(out), PairConfig(num_pairs=2, blank_prob=0.0), show_progress=False)
    pairs = sorted(pq.read_table(out).to_pylist(), key=lambda p: p["label"])
    assert [(p["label"], p["text_a"], p["text_b"], p["shared_entity"]) for p in pairs] == [
        (0, "The Hexapla was compiled by Origen.", "Origenes wurde in Alexandria geboren.", "Q167287"),
        (1, "Origen was born in Alexandria.", "Origenes wurde in Alexandria geboren.", None)]
    assert pairs[0]["e2_a"] == [28, 34] and pairs[0]["e1_b"] == [0, 8]
    assert not any(p[f] for p in pairs for f in ("blank_e1_a", "blank_e2_a", "blank_e1_b", "blank_e2_b"))


def test_too_small_a_corpus_stops_with_what_it_can_supply(tmp_path, capsys):
    corpus = write_rows(tmp_path / "corpus", HEXAPLA)
    assert main(["build-pairs", "--corpus", str(corpus), "--out", str(tmp_path / "out"), "--num-pairs", "4"]) == 2
    assert capsys.readouterr().err.strip() == (
        "relxdata: error: the corpus cannot supply 2 pairs per class and language (de: 1 positive, 1 negative); "
        "at most 2 pairs keep the classes and languages balanced: lower --num-pairs or pass --allow-fewer")
    assert not (tmp_path / "out" / "_manifest.json").exists()
    assert main(["build-pairs", "--corpus", str(corpus), "--out", str(tmp_path / "out"), "--num-pairs", "4",
                 "--allow-fewer", "--overwrite"]) == 0
    assert pq.read_table(tmp_path / "out").num_rows == 2


@pytest.mark.parametrize("change, message", [
    (lambda t: t.drop_columns(["entity2"]), "the relx-distant column 'entity2' is missing"),
    (lambda t: t.set_column(t.schema.get_field_index("entity1"), "entity1", pa.array(range(t.num_rows))),
     "column 'entity1' has type int64, which the relx-distant contract does not allow"),
    (lambda t: t.slice(0, 0), "the corpus has no rows"),
])
def test_bad_corpus_is_one_clear_line(tmp_path, capsys, change, message):
    corpus = write_rows(tmp_path / "corpus", HEXAPLA)
    shard = corpus / "part-00000-of-00001.parquet"
    pq.write_table(change(pq.read_table(shard)), shard)
    assert main(["build-pairs", "--corpus", str(corpus), "--out", str(tmp_path / "out"), "--num-pairs", "2"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("relxdata: error: ") and error.endswith(message) and "\n" not in error


@pytest.mark.parametrize("args, message", [
    (["--corpus", "nowhere"], "no such corpus directory: nowhere"),
    (["--blank-prob", "1.5"], "--blank-prob must be between 0 and 1"),
    (["--num-pairs", "3"], "--num-pairs 3 does not split evenly"),
    (["--pivot", "ja"], "the pivot language 'ja' has no rows in the corpus (languages: de, en)"),
    (["--langs", "de,xx"], "--langs names languages without rows in the corpus: xx"),
])
def test_bad_options(tmp_path, capsys, args, message):
    corpus = write_rows(tmp_path / "corpus", HEXAPLA)
    argv = ["build-pairs", "--corpus", str(corpus), "--out", str(tmp_path / "out"), "--num-pairs", "2", *args]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_sample_distinct():
    import numpy as np

    for population, size in ((10, 10), (1000, 10), (10**12, 5000), (100, 60)):
        drawn = sample_distinct(np.random.default_rng(1), population, size)
        assert len(drawn) == size == len(set(drawn.tolist())) and drawn.min() >= 0 and drawn.max() < population
    with pytest.raises(ValueError):
        sample_distinct(np.random.default_rng(1), 5, 6)


@pytest.mark.slow
def test_the_beam_pipeline_obeys_the_same_rules_whatever_the_workers(corpus, tmp_path):
    outputs = []
    for workers in (1, 2):
        out = tmp_path / f"beam{workers}"
        assert main(["run", "pairs", "--corpus", str(corpus), "--out", str(out), "--num-pairs", "2400",
                     "--pairs-per-shard", "1000", f"--direct_num_workers={workers}"]) == 0
        outputs.append(out)
    names = sorted(p.name for p in outputs[0].glob("part-*.parquet"))
    assert names == ["part-00000-of-00003.parquet", "part-00001-of-00003.parquet", "part-00002-of-00003.parquet"]
    for name in names:
        assert (outputs[0] / name).read_bytes() == (outputs[1] / name).read_bytes()
    pairs = pq.read_table(outputs[0]).to_pylist()
    assert len(pairs) == 2400
    assert_obeys_the_rules(pairs, rows_by_id(corpus))
    document = json.loads((outputs[0] / "_manifest.json").read_text())
    assert document["counts"]["pairs"] == 2400 and document["counts"]["pairs_by_class"]["positive"]["tr"] == 300
    local = tmp_path / "local"
    build_pairs(str(corpus), str(local), PairConfig(num_pairs=2400), show_progress=False)
    assert document["supply"] == json.loads((local / "_manifest.json").read_text())["supply"]


@pytest.mark.slow
def test_the_beam_pipeline_stops_when_the_corpus_is_too_small(tmp_path, capsys):
    corpus = write_rows(tmp_path / "corpus", HEXAPLA)
    assert main(["run", "pairs", "--corpus", str(corpus), "--out", str(tmp_path / "out"), "--num-pairs", "4",
                 "--langs", "de", "--direct_num_workers=1"]) == 2
    assert capsys.readouterr().err.strip() == (
        "relxdata: error: the corpus cannot supply 2 pairs per class and language (de: 1 positive, 1 negative); "
        "at most 2 pairs keep the classes and languages balanced: lower --num-pairs or pass --allow-fewer")
    assert not (tmp_path / "out" / "_manifest.json").exists()


def test_duplicate_ids_are_refused(tmp_path, capsys):
    corpus = write_rows(tmp_path / "corpus", HEXAPLA)
    shard = corpus / "part-00000-of-00001.parquet"
    table = pq.read_table(shard)
    pq.write_table(pa.concat_tables([table, table.slice(0, 1)]), shard)
    assert main(["build-pairs", "--corpus", str(corpus), "--out", str(tmp_path / "out"), "--num-pairs", "2"]) == 2
    assert capsys.readouterr().err.strip() == (
        "relxdata: error: the corpus has 1 rows whose id another row has too; ids must be unique")


def test_a_directory_of_per_language_corpora_reads_as_one(corpus, tmp_path, capsys):
    """`--corpus relx-distant/` (en/, de/, … below it) and the same directories named one by one give the same
    pairs, from every language's rows."""
    table = pq.read_table(corpus)
    for lang in LANGS:
        (tmp_path / "langs" / lang).mkdir(parents=True)
        pq.write_table(table.filter(pa.compute.equal(table["lang"], lang)),
                       tmp_path / "langs" / lang / "part-00000-of-00001.parquet")
    config = PairConfig(num_pairs=2400, pairs_per_shard=1000, threads=2)
    build_pairs(str(tmp_path / "langs"), str(tmp_path / "whole"), config, show_progress=False)
    build_pairs([str(tmp_path / "langs" / lang) for lang in sorted(LANGS)], str(tmp_path / "named"), config,
                show_progress=False)
    whole = sorted((tmp_path / "whole").glob("part-*.parquet"))
    assert [path.read_bytes() for path in whole] == [
        path.read_bytes() for path in sorted((tmp_path / "named").glob("part-*.parquet"))]
    pairs = pq.read_table(tmp_path / "whole").to_pylist()
    assert_obeys_the_rules(pairs, rows_by_id(corpus))
    assert Counter(pair["lang_b"] for pair in pairs) == {"de": 600, "fr": 600, "es": 600, "tr": 600}
    assert main(["build-pairs", "--corpus", str(tmp_path / "langs"), str(tmp_path / "langs" / "de"),
                 "--out", str(tmp_path / "twice")]) == 2
    assert capsys.readouterr().err.strip() == (
        "relxdata: error: a corpus is named twice (a directory and one inside it?)")
