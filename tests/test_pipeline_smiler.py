"""`relxdata run smiler` end to end on real pages with real DBpedia facts, and the released TSV layout."""

import json

import pytest

from relxdata.cli import main
from relxdata.corpora import MANIFEST, read_rows
from relxdata.smiler import split_of
from relxdata.smiler_tsv import read_tsv

pytestmark = pytest.mark.slow
BEAM = ["--direct_num_workers", "2"]


@pytest.fixture(scope="module")
def dbpedia_facts(shared_data, tmp_path_factory):
    """RDFRules' English mapping-based objects as N-Triples (it dropped the final " ." of each line), and SANSA's
    verbatim excerpt (objects and literals, its last line cut)."""
    folder = tmp_path_factory.mktemp("dbpedia")
    lines = (shared_data / "dbpedia/en/rdfrules-mappingbased_objects_sample.head5200.tsv").read_text().splitlines()
    objects = folder / "mappingbased_objects_en.nt"
    objects.write_text("".join(f"{line.rstrip()} .\n" for line in lines), encoding="utf-8")
    return objects, shared_data / "dbpedia/en/sansa-dbpedia_sample.nt"


@pytest.fixture(scope="module")
def english(wikipedia, dbpedia_facts, tmp_path_factory):
    out = tmp_path_factory.mktemp("smiler") / "en"
    objects, sansa = dbpedia_facts
    assert main(["run", "smiler", "--lang", "en", "--dump", str(wikipedia / "enwiki-2016-sample.xml.bz2"),
                 "--dbpedia", f"{objects},{sansa}", "--negatives", "0.2", "--pages-per-shard", "60", "--out",
                 str(out), *BEAM]) == 0
    return out


def row_view(row):
    return (row["page_title"], row["label"], row["entity_1"], tuple(row["entity_1_indices"]), row["mention_1"],
            row["entity_2"], tuple(row["entity_2_indices"]), row["mention_2"], row["property"])


def test_rows_on_real_pages_with_real_dbpedia_facts(english):
    rows = read_rows(str(english))
    views = {row_view(row) for row in rows}
    einstein = "Albert Einstein was born in Ulm, in the Kingdom of Württemberg in the German Empire on 14 March 1879."
    born = [row for row in rows if row["text"] == einstein]
    assert {row_view(row) for row in born} == {
        ("Albert Einstein", "birth-place", "Albert Einstein", (0, 15), "title", "Ulm", (28, 31), "link",
         "dbo:birthPlace"),
        ("Albert Einstein", "birth-place", "Albert Einstein", (0, 15), "title", "Kingdom of Württemberg", (40, 62),
         "link", "dbo:birthPlace"),
        ("Albert Einstein", "birth-place", "Albert Einstein", (0, 15), "title", "German Empire", (70, 83), "link",
         "dbo:birthPlace"),
        ("Albert Einstein", "has-nationality", "Albert Einstein", (0, 15), "title", "Kingdom of Württemberg",
         (40, 62), "link", "dbo:citizenship")}
    assert ("Animal Farm", "has-author", "Animal Farm", (0, 11), "title", "George Orwell", (55, 68), "link",
            "dbo:author") in views
    assert ("Alabama", "from-country", "Alabama", (0, 7), "title", "United States", (61, 74), "link",
            "dbo:country") in views
    for row in rows:
        assert row["text"][slice(*row["entity_1_indices"])] == row["entity_1"]
        assert row["text"][slice(*row["entity_2_indices"])] == row["entity_2"]
        assert row["entity_1_iri"] == "http://dbpedia.org/resource/" + row["page_title"].replace(" ", "_")
        assert row["split"] == split_of(f"en:{row['page_title']}")  # no page_props here: split by title
    assert sum(row["label"] == "no_relation" for row in rows) > 0
    manifest = json.loads((english / MANIFEST).read_text())
    counts = manifest["counts"]
    assert counts["rows"] == len(rows) == manifest["outputs"]["smiler"]["rows"]
    assert sum(counts["rows_by_label"].values()) == len(rows)
    assert counts["kb"]["bad_lines"]["not_a_triple"] == 1  # SANSA's cut last line
    assert counts["kb"]["skipped"]["intermediate_node"] > 0
    assert manifest["relations"]["dbpedia_chapter"] == "en"
    assert (english / "sentences" / MANIFEST).exists()


def test_sparql_gives_the_rows_of_the_dump(english, dbpedia_facts, sparql_server, tmp_path):
    objects, _ = dbpedia_facts
    from_dump = tmp_path / "dump"
    assert main(["run", "smiler", "--lang", "en", "--sentences", str(english / "sentences"), "--dbpedia",
                 str(objects), "--out", str(from_dump), *BEAM]) == 0
    from_sparql = tmp_path / "sparql"
    assert main(["run", "smiler", "--lang", "en", "--sentences", str(english / "sentences"), "--sparql",
                 sparql_server(objects), "--out", str(from_sparql), *BEAM]) == 0
    rows = read_rows(str(from_dump))
    assert rows and rows == read_rows(str(from_sparql))


def test_german_rows_through_wikidata_qids(wikipedia, dbpedia_facts, tmp_path):
    """The real German Berlin mini dump with English DBpedia facts, carried over through both entities' QIDs."""
    sitelinks = {"Q64": ("Berlin", "Berlin"), "Q183": ("Germany", "Deutschland"),
                 "Q38193": ("Arthur Schopenhauer", "Arthur Schopenhauer"), "Q1792": ("Gdańsk", "Danzig"),
                 "Q1794": ("Frankfurt", "Frankfurt am Main")}
    entities = [{"type": "item", "id": qid, "claims": {},
                 "sitelinks": {"enwiki": {"site": "enwiki", "title": en}, "dewiki": {"site": "dewiki", "title": de}}}
                for qid, (en, de) in sitelinks.items()]
    wikidata = tmp_path / "wikidata.json"
    wikidata.write_text("[\n" + ",\n".join(json.dumps(entity) for entity in entities) + "\n]\n")
    objects, _ = dbpedia_facts
    out = tmp_path / "de"
    assert main(["run", "smiler", "--lang", "de", "--dump", str(wikipedia / "minidumps/dewiki.xml.bz2"),
                 "--dbpedia", str(objects), "--wikidata", str(wikidata), "--negatives", "0", "--out", str(out),
                 *BEAM]) == 0
    rows = read_rows(str(out))
    found = {(row["page_title"], row["label"], row["entity_2"], row["entity_2_iri"], row["entity_1_qid"],
              row["entity_2_qid"], row["mention_2"]) for row in rows}
    assert ("Arthur Schopenhauer", "birth-place", "Danzig", "http://de.dbpedia.org/resource/Danzig", "Q38193",
            "Q1792", "link") in found
    assert ("Berlin", "from-country", "Bundesrepublik Deutschland", "http://de.dbpedia.org/resource/Deutschland",
            "Q64", "Q183", "link") in found
    assert {row["lang"] for row in rows} == {"de"}
    assert all(row["split"] == split_of(row["entity_1_qid"]) for row in rows)
    # Schopenhauer died in Frankfurt: a death place is no SMiLER label, and nothing else is made up.
    assert {row["label"] for row in rows} <= {"birth-place", "from-country", "has-nationality", "is-where"}


def test_exported_tsv_parses_back_into_the_same_rows(english, tmp_path):
    rows = read_rows(str(english))
    assert main(["export", "smiler-tsv", "--corpus", str(english), "--out", str(tmp_path)]) == 0
    files = sorted(path.name for path in tmp_path.glob("*.tsv"))
    assert files == sorted({f"en_corpora_{'test' if row['split'] == 'test' else 'train'}.tsv" for row in rows})
    header = (tmp_path / files[0]).read_text().splitlines()[0]
    assert header == "id\tentity_1\tentity_2\tlabel\ttext\tlang"
    parsed = {row.id: row for path in tmp_path.glob("*.tsv") for row in read_tsv(str(path))}
    assert len(parsed) == len(rows)
    for row in rows:
        back = parsed[row["id"]]
        assert (back.entity_1, back.entity_2, back.label, back.text, back.lang) == (
            row["entity_1"], row["entity_2"], row["label"], row["text"], row["lang"])
        assert (list(back.entity_1_span), list(back.entity_2_span)) == (row["entity_1_indices"],
                                                                       row["entity_2_indices"])
        assert back.text[slice(*back.entity_1_span)] == back.entity_1
    assert main(["export", "smiler-tsv", "--corpus", str(english), "--out", str(tmp_path)]) == 2
    assert main(["export", "smiler-tsv", "--corpus", str(english), "--out", str(tmp_path), "--overwrite"]) == 0
    assert not list(tmp_path.glob("*.inprogress"))


def test_every_label_from_wikidata_alone(tmp_path):
    """With no DBpedia source the labels come from their Wikidata properties: the bundled demo wiki and items."""
    from relxdata.demo import sample_dump, sample_knowledge_base
    out = tmp_path / "en"
    assert main(["run", "smiler", "--lang", "en", "--dump", sample_dump("en"), "--wikidata", sample_knowledge_base(),
                 "--negatives", "0", "--out", str(out), *BEAM]) == 0
    rows = {(row["page_title"], row["label"], row["property"], row["entity_2"], row["entity_1_qid"],
             row["entity_2_qid"], row["mention_2"]) for row in read_rows(str(out))}
    assert rows == {("Marie Curie", "has-spouse", "P26", "Pierre Curie", "Q7186", "Q37463", "link"),
                    ("Berlin", "from-country", "P17", "Germany", "Q64", "Q183", "link"),
                    ("Germany", "is-member-of", "P463", "European Union", "Q183", "Q458", "link"),
                    ("Germany", "is-member-of", "P463", "NATO", "Q183", "Q7184", "link")}
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["relations"]["dbpedia_properties"] == [] and "P19" in manifest["relations"]["wikidata_properties"]


def test_the_cluster_route_of_shard_rows_gives_the_rows_of_the_local_one(english, wikipedia, dbpedia_facts, tmp_path,
                                                                         monkeypatch):
    """On a cluster each shard is joined with the resolutions of its own links; locally they come as a side
    input. Run here on the local runner, the cluster route writes the same shards."""
    import pipelines.smiler

    monkeypatch.setattr(pipelines.smiler, "is_local_run", lambda options: False)
    objects, sansa = dbpedia_facts
    assert main(["run", "smiler", "--lang", "en", "--sentences", str(english / "sentences"), "--dbpedia",
                 f"{objects},{sansa}", "--negatives", "0.2", "--out", str(tmp_path / "cluster"), *BEAM]) == 0
    assert read_rows(tmp_path / "cluster") == read_rows(english) != []
