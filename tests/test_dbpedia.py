"""DBpedia as a knowledge source: real dump files and their quirks, the IRI rule, SPARQL and its row cap."""

import bz2
import http.server
import json
import threading
from collections import Counter

import pytest

from relxdata import dbpedia
from relxdata.kb import WHOLE, Fact, KnowledgeBaseError, Literal, plan_line_dump

INTERMEDIATE = 51
OBJECTS = frozenset({"dbo:birthPlace", "dbo:child", "dbo:spouse", "dbo:country", "dbo:termPeriod"})


@pytest.fixture(scope="session")
def dbpedia_data(shared_data):
    return shared_data / "dbpedia"


def read(path, properties, chapter="en", part=WHOLE):
    counts = Counter()
    facts = list(dbpedia.read_dbpedia_range(str(path), part, chapter, properties, counts))
    return facts, counts


@pytest.mark.parametrize("title", ["Abraham Lincoln", "Jules César", "Birmingham, Alabama", "Iron Man (comics)",
                                   "What Is This?", 'Robert John "Mutt" Lange', "Host Hotels & Resorts",
                                   "!Xóõ", "Աբբաս Սիխաթ", "100% Pure", "C++", "A#B{x}"])
def test_iri_rule_round_trips(title):
    for lang in ("en", "hy"):
        iri = dbpedia.iri_of(title, lang)
        assert dbpedia.resource_title(iri) == (lang, title)
    assert dbpedia.iri_of("What Is This?", "en") == "http://dbpedia.org/resource/What_Is_This%3F"
    assert dbpedia.iri_of("Jules César", "fr") == "http://fr.dbpedia.org/resource/Jules_César"


def test_percent_encoded_and_raw_iris_name_the_same_title(dbpedia_data):
    same_as = bz2.decompress((dbpedia_data / "en/nordlys-2015-10-sample/uri_same_as_iri_en.ttl.bz2").read_bytes())
    subject, _, obj = dbpedia.parse_triple(same_as.decode().splitlines()[-1].strip())
    assert subject.endswith("Maison_Carr%C3%A9e") and obj.endswith("Maison_Carrée")
    assert dbpedia.resource_title(subject) == dbpedia.resource_title(obj) == ("en", "Maison Carrée")


def test_sansa_dump_with_a_cut_last_line(dbpedia_data):
    facts, counts = read(dbpedia_data / "en/sansa-dbpedia_sample.nt", OBJECTS | {"dbo:populationTotal"})
    assert counts["kb.bad_lines.not_a_triple"] == 1  # `<…/Abraham_Lincoln> <…/termPeriod> <…/Abraham_Lincoln`
    assert counts["kb.triples"] == 59
    assert Fact("Abraham Lincoln", "dbo:birthPlace", "Hodgenville, Kentucky") in facts
    assert Fact("Abraham Lincoln", "dbo:spouse", "Mary Todd Lincoln") in facts
    assert Fact("Alabama", "dbo:country", "United States") in facts


def test_typed_literals_and_plain_literals_glued_to_the_dot(dbpedia_data):
    facts, _ = read(dbpedia_data / "en/sansa-dbpedia_sample.nt", frozenset({"dbo:deathDate", "dbo:areaTotal"}))
    assert Fact("Abraham Lincoln", "dbo:deathDate", Literal("1865-04-15", "xsd:date")) in facts
    assert Fact("Alabama", "dbo:areaTotal", Literal("1.35765E11", "xsd:double")) in facts
    text = bz2.decompress((dbpedia_data / "en/nordlys-2015-10-sample/mappingbased_literals_en.ttl.bz2").read_bytes())
    glued = next(line for line in text.decode().splitlines() if line.endswith('"BAW".'))
    assert dbpedia.parse_triple(glued)[2] == Literal("BAW")


def test_escapes_and_language_tags_of_2013_files(dbpedia_data):
    facts, counts = read(dbpedia_data / "fr/frwiki-20130420-mappingbased-properties.nt",
                         frozenset({"dbo:alias", "dbo:affiliate"}), chapter="fr")
    assert counts["kb.bad_lines.not_a_triple"] == 0
    values = {fact.object for fact in facts}
    assert Literal("Anthony Edward « Tony » Stark (véritable identité)", None, "fr") in values
    assert Literal("Mighty Avengers\nAnciennement", None, "fr") in values
    assert Literal("Département de la Défense des États-Unis", None, "fr") in values
    assert {fact.subject for fact in facts} == {"Iron Man (comics)"}


def test_invalid_utf8_lines_are_counted_and_skipped(dbpedia_data):
    path = dbpedia_data / "ga/faulty_char_instance-types_lang_ga.head5000.ttl"
    facts, counts = read(path, frozenset({"rdf:type"}), chapter="ga")
    assert counts["kb.bad_lines.invalid_utf8"] == 2  # lines 3 and 3477
    assert counts["kb.triples"] + 2 == 5000
    assert len(facts) == 0  # objects are classes, not articles
    assert counts["kb.skipped.object_not_an_article"] + counts["kb.skipped.subject_not_an_article"] == 4998


def test_sorted_file_with_comments_first_and_its_chapter(dbpedia_data):
    path = dbpedia_data / "hy/fish_mappingbased_csorted.ttl"
    assert dbpedia.chapter_of(str(path)) == "hy"
    facts, counts = read(path, frozenset({"dbo:birthPlace"}), chapter="hy")
    assert counts["kb.triples"] == 781 and counts.get("kb.bad_lines.not_a_triple", 0) == 0
    assert facts and all(len(fact.subject) > 1 and "  " not in fact.object for fact in facts)
    assert read(path, frozenset({"dbo:birthPlace"}), chapter="en")[1]["kb.skipped.subject_not_an_article"] == len(facts)


def test_ntriples_separated_by_tabs(dbpedia_data):
    cassette = json.loads((dbpedia_data / "sparql/dbpedia_describe_as_ntriples.2026-02-23.json").read_text())
    lines = [line for line in cassette[0]["response"]["body"].splitlines() if line.strip()]
    assert all("\t" in line for line in lines[:5])
    assert all(dbpedia.parse_triple(line) is not None for line in lines)


def test_ranges_of_a_bzip2_dump_read_every_fact_once(dbpedia_data, tmp_path):
    lines = (dbpedia_data / "en/rdfrules-mappingbased_objects_sample.head5200.tsv").read_text().splitlines()
    text = "".join(f"{line.rstrip()} .\n" for line in lines)  # RDFRules dropped N-Triples' final " ."
    path = tmp_path / "objects.ttl.bz2"
    path.write_bytes(bz2.compress(text.encode(), compresslevel=1))
    whole, counts = read(path, OBJECTS)
    assert counts["kb.triples"] == 5200
    parts = plan_line_dump(str(path), 7)
    assert len(parts) > 1
    in_parts = [fact for part in parts for fact in read(path, OBJECTS, part=part)[0]]
    assert in_parts == whole
    assert Fact("Albert Einstein", "dbo:birthPlace", "Ulm") in whole
    assert Fact("Berlin", "dbo:country", "Germany") in whole
    assert counts["kb.skipped.intermediate_node"] == INTERMEDIATE  # Abraham_Lincoln__1 … as termPeriod objects


# --- SPARQL ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["dbpedia_select_as_json_via_get.2018-09-22.json",
                                  "dbpedia_select_as_json_via_get.2026-02-23.json"])
def test_virtuoso_7_and_8_json_terms_read_the_same(dbpedia_data, name):
    body = json.loads(json.loads((dbpedia_data / "sparql" / name).read_text())[0]["response"]["body"])
    terms = [term for row in body["results"]["bindings"] for term in row.values()]
    values = [dbpedia.sparql_term(term) for term in terms]
    dates = [value for value in values if isinstance(value, Literal) and value.datatype == "xsd:date"]
    assert dates, "both shapes of a typed literal read as xsd:date"
    assert any(isinstance(value, str) and value.startswith("http://dbpedia.org/resource/") for value in values)


SPARQL_FACTS = """\
<http://dbpedia.org/resource/Abraham_Lincoln> <http://dbpedia.org/ontology/spouse> <http://dbpedia.org/resource/Mary_Todd_Lincoln> .
<http://dbpedia.org/resource/Abraham_Lincoln> <http://dbpedia.org/ontology/termPeriod> <http://dbpedia.org/resource/Abraham_Lincoln__1> .
<http://dbpedia.org/resource/Abraham_Lincoln> <http://dbpedia.org/ontology/birthPlace> <http://dbpedia.org/resource/Hodgenville,_Kentucky> .
<http://dbpedia.org/resource/Robert_Todd_Lincoln> <http://dbpedia.org/ontology/parent> <http://dbpedia.org/resource/Abraham_Lincoln> .
<http://dbpedia.org/resource/Abraham_Lincoln> <http://dbpedia.org/ontology/deathDate> "1865-04-15"^^<http://www.w3.org/2001/XMLSchema#date> .
<http://dbpedia.org/resource/What_Is_This%3F> <http://dbpedia.org/ontology/country> <http://dbpedia.org/resource/Berlin> .
"""


@pytest.fixture(scope="module")
def dbpedia_endpoint(tmp_path_factory, sparql_server):
    path = tmp_path_factory.mktemp("dbpedia") / "facts.nt"
    path.write_text(SPARQL_FACTS, encoding="utf-8")
    return path, sparql_server(path)


def test_sparql_gives_the_facts_of_the_dump(dbpedia_endpoint):
    path, endpoint = dbpedia_endpoint
    properties = frozenset({"dbo:spouse", "dbo:termPeriod", "dbo:birthPlace", "dbo:deathDate", "dbo:country"})
    subjects = ["Abraham Lincoln", "What Is This?", "Nobody"]
    from_dump = set(dbpedia.DbpediaDump([str(path)], "en").facts(subjects, properties))
    remote = dbpedia.DbpediaSparql(endpoint, "en", page_size=2, batch_size=2)
    assert set(remote.facts(subjects, properties)) == from_dump == {
        Fact("Abraham Lincoln", "dbo:spouse", "Mary Todd Lincoln"),
        Fact("Abraham Lincoln", "dbo:birthPlace", "Hodgenville, Kentucky"),
        Fact("Abraham Lincoln", "dbo:deathDate", Literal("1865-04-15", "xsd:date")),
        Fact("What Is This?", "dbo:country", "Berlin")}
    assert remote.counts["kb.skipped.intermediate_node"] == 1
    assert list(remote.facts_to(["Abraham Lincoln"], frozenset({"dbo:parent"}))) == [
        Fact("Robert Todd Lincoln", "dbo:parent", "Abraham Lincoln")]


class CappedVirtuoso(http.server.BaseHTTPRequestHandler):
    """Answers every query as DBpedia's Virtuoso does past its cap: `cap` rows and an X-SPARQL-MaxRows header."""

    cap = 3

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        rows = [{"s": {"type": "uri", "value": f"http://dbpedia.org/resource/S{i}"},
                 "p": {"type": "uri", "value": "http://dbpedia.org/ontology/spouse"},
                 "o": {"type": "uri", "value": "http://dbpedia.org/resource/O"}} for i in range(self.cap)]
        body = json.dumps({"head": {"link": [], "vars": ["s", "p", "o"]},
                           "results": {"distinct": False, "ordered": True, "bindings": rows}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/sparql-results+json")
        self.send_header("X-SPARQL-MaxRows", str(self.cap))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_page_cut_at_the_endpoints_cap_is_an_error():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), CappedVirtuoso)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}/sparql"
        capped = dbpedia.DbpediaSparql(endpoint, "en", page_size=10)
        with pytest.raises(KnowledgeBaseError, match="cut a page at its limit of 3 rows"):
            list(capped.facts(["S0"], frozenset({"dbo:spouse"})))
        # Pages at or below the cap are read page by page: the cap is never reached unseen.
        below = dbpedia.DbpediaSparql(endpoint, "en", page_size=3)
        assert len(list(__import__("itertools").islice(below.facts(["S0"], frozenset({"dbo:spouse"})), 7))) == 7
    finally:
        server.shutdown()
