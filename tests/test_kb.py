import bz2
import gzip
import http.server
import io
import json
import lzma
import os
import pickle
import random
import re
import socket
import threading
import time
import urllib.parse
import urllib.request

import indexed_bzip2
import pytest
import zstandard

from relxdata import bzip2_ranges, kb
from relxdata.errors import RelxdataError
from relxdata.kb import Fact

ENTITY = "http://www.wikidata.org/entity/"
DIRECT = "http://www.wikidata.org/prop/direct/"
SOMEVALUE, NOVALUE = object(), object()
# Invented identifier: a disambiguation page, whose title also exercises quoting in SPARQL.
DISAMBIGUATION = "Q900000001"

# (subject, property, value, rank). Values: an item or property id, a "string", SOMEVALUE or NOVALUE.
# Real statements of Douglas Adams (Q42) and his places, plus a few set up to test the rules.
STATEMENTS = [
    ("Q42", "P31", "Q5", "normal"),
    ("Q42", "P19", "Q350", "normal"),
    ("Q42", "P20", "Q159288", "normal"),  # P20 is not asked for
    ("Q42", "P27", "Q145", "normal"),
    ("Q42", "P69", "Q691283", "normal"),
    ("Q42", "P69", "Q4961791", "normal"),
    ("Q42", "P735", "Q463035", "preferred"),
    ("Q42", "P735", "Q19688263", "normal"),  # outranked by the preferred given name
    ("Q42", "P551", "Q159288", "deprecated"),
    ("Q42", "P551", "Q84", "normal"),
    ("Q42", "P551", "Q909993", "normal"),
    ("Q42", "P40", SOMEVALUE, "normal"),
    ("Q42", "P1412", NOVALUE, "normal"),
    ("Q42", "P214", "113230702", "normal"),  # VIAF id: a string
    ("Q350", "P31", "Q515", "normal"),
    ("Q350", "P17", "Q145", "normal"),
    ("Q350", "P17", "Q145", "normal"),  # the same value twice is one fact
    ("Q145", "P36", "Q84", "normal"),
    ("Q84", "P1376", "Q145", "normal"),
    ("Q84", "P131", SOMEVALUE, "preferred"),  # a preferred unknown value outranks a normal item
    ("Q84", "P131", "Q23306", "normal"),
    ("Q5", "P1963", "P19", "normal"),  # property-valued: not a fact between items
    ("P19", "P31", "Q18608756", "normal"),  # a property's statement: not about the world
    (DISAMBIGUATION, "P31", "Q4167410", "normal"),
]
SITELINKS = {"Q42": {"en": "Douglas Adams", "de": "Douglas Adams"}, "Q350": {"en": "Cambridge"},
             "Q145": {"en": "United Kingdom"}, "Q84": {"en": "London"},
             DISAMBIGUATION: {"en": 'Adams "Mr. \\ Adams" (disambiguation)'}}
PROPERTIES = frozenset({"P31", "P19", "P27", "P69", "P735", "P551", "P40", "P1412", "P214", "P17", "P36", "P1376",
                        "P131", "P1963"})
EXPECTED = {
    Fact("Q42", "P31", "Q5"), Fact("Q42", "P19", "Q350"), Fact("Q42", "P27", "Q145"),
    Fact("Q42", "P69", "Q691283"), Fact("Q42", "P69", "Q4961791"), Fact("Q42", "P735", "Q463035"),
    Fact("Q42", "P551", "Q84"), Fact("Q42", "P551", "Q909993"), Fact("Q350", "P31", "Q515"),
    Fact("Q350", "P17", "Q145"), Fact("Q145", "P36", "Q84"), Fact("Q84", "P1376", "Q145"),
    Fact(DISAMBIGUATION, "P31", "Q4167410"),
}
ITEMS = sorted({subject for subject, *_ in STATEMENTS if subject.startswith("Q")})


# --- the fixture in three shapes ---------------------------------------------------------------------

def snak(prop, value):
    if value is SOMEVALUE or value is NOVALUE:
        return {"snaktype": "somevalue" if value is SOMEVALUE else "novalue", "property": prop}
    if isinstance(value, str) and value[0] in "QP" and value[1:].isdigit():
        kind = "item" if value[0] == "Q" else "property"
        return {"snaktype": "value", "property": prop, "datatype": f"wikibase-{kind}",
                "datavalue": {"type": "wikibase-entityid",
                              "value": {"entity-type": kind, "numeric-id": int(value[1:]), "id": value}}}
    return {"snaktype": "value", "property": prop, "datatype": "external-id",
            "datavalue": {"type": "string", "value": value}}


def entities():
    result = {}
    for number, (subject, prop, value, rank) in enumerate(STATEMENTS):
        entity = result.setdefault(subject, {
            "type": "item" if subject[0] == "Q" else "property", "id": subject, "labels": {}, "claims": {},
            "sitelinks": {f"{lang}wiki": {"site": f"{lang}wiki", "title": title, "badges": []}
                          for lang, title in SITELINKS.get(subject, {}).items()}})
        entity["claims"].setdefault(prop, []).append(
            {"mainsnak": snak(prop, value), "type": "statement", "id": f"{subject}${number}", "rank": rank,
             "references": [{"hash": "fa278ebfc458360e5aed63d5058cca83c46134f1", "snaks": {}}]})
    return list(result.values())


def json_dump_bytes(entity_list):
    """The exact latest-all.json layout: '[', one entity per line with a trailing comma but the last, ']'."""
    return b"[\n" + b",\n".join(json.dumps(e).encode() for e in entity_list) + b"\n]\n"


def best_statements(statements):
    preferred = [s for s in statements if s[3] == "preferred"]
    return preferred or [s for s in statements if s[3] == "normal"]


def truthy_lines():
    """Truthy N-Triples as Wikidata writes them, with the lines a reader must skip."""
    yield "# truthy dump of the test fixture"
    for subject in dict.fromkeys(s for s, *_ in STATEMENTS):
        yield f'<{ENTITY}{subject}> <http://www.w3.org/2000/01/rdf-schema#label> "label of {subject}"@en .'
        by_property = {}
        for statement in STATEMENTS:
            if statement[0] == subject:
                by_property.setdefault(statement[1], []).append(statement)
        for prop, statements in by_property.items():
            yield f"<{ENTITY}{subject}> <http://www.wikidata.org/prop/{prop}> <{ENTITY}statement/{subject}-{prop}> ."
            for number, (_, _, value, _) in enumerate(best_statements(statements)):
                if value is SOMEVALUE:  # skolem IRIs today, blank nodes in older dumps
                    yield f"<{ENTITY}{subject}> <{DIRECT}{prop}> <http://www.wikidata.org/.well-known/genid/{number}> ."
                    yield f"<{ENTITY}{subject}> <{DIRECT}{prop}> _:b{subject}{number} ."
                elif value is NOVALUE:
                    yield (f"<{ENTITY}{subject}> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> "
                           f"<http://www.wikidata.org/prop/novalue/{prop}> .")
                elif value[0] in "QP" and value[1:].isdigit():
                    yield f"<{ENTITY}{subject}> <{DIRECT}{prop}> <{ENTITY}{value}> ."
                else:
                    yield f'<{ENTITY}{subject}> <{DIRECT}{prop}> "{value}" .'
        for lang, title in SITELINKS.get(subject, {}).items():
            article = f"https://{lang}.wikipedia.org/wiki/{urllib.parse.quote(title.replace(' ', '_'))}"
            literal = title.replace("\\", "\\\\").replace('"', '\\"')
            yield f"<{article}> <http://schema.org/about> <{ENTITY}{subject}> ."
            yield f"<{article}> <http://schema.org/isPartOf> <https://{lang}.wikipedia.org/> ."
            yield f'<{article}> <http://schema.org/name> "{literal}"@{lang} .'


@pytest.fixture(scope="session")
def fixture_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kb")
    (folder / "latest-all.json.bz2").write_bytes(bz2.compress(json_dump_bytes(entities())))
    text = "\n".join(truthy_lines()) + "\n"
    (folder / "latest-truthy.nt").write_text(text, encoding="utf-8")
    (folder / "latest-truthy.nt.bz2").write_bytes(bz2.compress(text.encode()))
    return folder


@pytest.fixture(scope="session")
def oxigraph(fixture_files, sparql_server):
    """A real SPARQL endpoint on loopback holding the fixture's truthy triples and sitelinks."""
    return sparql_server(fixture_files / "latest-truthy.nt")


# --- one fact set from every backend ----------------------------------------------------------------

def test_json_dump_gives_the_truthy_item_facts(fixture_files):
    facts = list(kb.WikidataJsonDump(str(fixture_files / "latest-all.json.bz2")).facts(None, PROPERTIES))
    assert len(facts) == len(set(facts))
    assert set(facts) == EXPECTED


@pytest.mark.parametrize("name", ["latest-truthy.nt", "latest-truthy.nt.bz2"])
def test_truthy_ntriples_give_the_same_facts(fixture_files, name):
    facts = list(kb.TruthyNTriples(str(fixture_files / name)).facts(None, PROPERTIES))
    assert len(facts) == len(set(facts))
    assert set(facts) == EXPECTED


def test_sparql_gives_the_same_facts(oxigraph):
    facts = list(kb.SparqlKnowledgeBase(oxigraph).facts(ITEMS, PROPERTIES))
    assert len(facts) == len(set(facts))
    assert set(facts) == EXPECTED


def test_every_backend_filters_by_subject_and_property(fixture_files, oxigraph):
    sources = [kb.open_knowledge_base(wikidata_json=str(fixture_files / "latest-all.json.bz2")),
               kb.open_knowledge_base(truthy_nt=str(fixture_files / "latest-truthy.nt.bz2")),
               kb.open_knowledge_base(sparql=oxigraph, batch_size=1)]
    for source in sources:
        assert set(source.facts(["Q84", "Q350"], frozenset({"P17", "P1376"}))) == {
            Fact("Q350", "P17", "Q145"), Fact("Q84", "P1376", "Q145")}, source


def test_sparql_pages_return_every_fact_once(oxigraph):
    endpoint = kb.SparqlKnowledgeBase(oxigraph, page_size=2, batch_size=3)
    queries = []
    query = endpoint._query
    endpoint._query = lambda text: queries.append(text) or query(text)
    facts = list(endpoint.facts(ITEMS, PROPERTIES))
    assert sorted(facts, key=str) == sorted(EXPECTED, key=str)
    assert any("OFFSET 2" in text for text in queries) and len(queries) > len(ITEMS) / 3


def test_sparql_sitelinks_and_disambiguations(oxigraph):
    endpoint = kb.SparqlKnowledgeBase(oxigraph, batch_size=2)
    titles = ["Douglas Adams", "London", "No such article", SITELINKS[DISAMBIGUATION]["en"], "London"]
    assert sorted(endpoint.sitelinks(titles, "en")) == [
        (SITELINKS[DISAMBIGUATION]["en"], DISAMBIGUATION), ("Douglas Adams", "Q42"), ("London", "Q84")]
    assert list(endpoint.sitelinks(titles, "de")) == [("Douglas Adams", "Q42")]
    assert endpoint.disambiguations(["Q42", DISAMBIGUATION, "Q84"]) == {DISAMBIGUATION}


def test_knowledge_base_needs_exactly_one_source(fixture_files):
    with pytest.raises(RelxdataError, match="exactly one"):
        kb.open_knowledge_base()
    with pytest.raises(RelxdataError, match="exactly one"):
        kb.open_knowledge_base(wikidata_json="a.json.bz2", sparql="http://127.0.0.1:1/")


# --- real Wikidata dumps ---------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def wikidata(shared_data):
    return shared_data / "wikidata"


def by_id(path):
    return {entity["id"]: entity for entity in kb.iter_entities(str(path))}


def test_twenty_entities_dump(wikidata):
    entities_ = by_id(wikidata / "twenty-entities-dump-layout.json.bz2")
    assert len(entities_) == 20 and list(entities_)[0] == "Q58921" and list(entities_)[-1] == "Q59064"
    # Andros Townsend: the preferred given name only.
    assert kb.entity_facts(entities_["Q59064"], frozenset({"P31", "P19", "P27", "P735"})) == [
        Fact("Q59064", "P31", "Q5"), Fact("Q59064", "P19", "Q1368969"), Fact("Q59064", "P27", "Q145"),
        Fact("Q59064", "P735", "Q23305665")]
    # Max Born: an employer listed twice, an award nomination listed twelve times.
    assert kb.entity_facts(entities_["Q58978"], frozenset({"P27", "P108", "P1411"})) == [
        Fact("Q58978", "P27", "Q1206012"), Fact("Q58978", "P27", "Q145"), Fact("Q58978", "P27", "Q174193"),
        Fact("Q58978", "P108", "Q50662"), Fact("Q58978", "P108", "Q152838"), Fact("Q58978", "P108", "Q152087"),
        Fact("Q58978", "P108", "Q160302"), Fact("Q58978", "P1411", "Q38104")]
    assert kb.entity_facts(entities_["Q58978"], frozenset({"P1871"})) == []  # deprecated strings only
    assert kb.entity_sitelink(entities_["Q58978"], "dewiki") == "Max Born"
    assert kb.entity_sitelink(entities_["Q58921"], "enwiki") == "Temminck's stint"
    assert kb.entity_sitelink(entities_["Q59054"], "enwiki") is None
    assert sum(len(kb.entity_facts(e, frozenset({"P31"}))) for e in entities_.values()) == 27


def test_wdtk_dump_with_numeric_ids_and_properties(wikidata):
    entities_ = by_id(wikidata / "wdtk-2015-sample-dump-layout.json.gz")
    assert len(entities_) == 101
    assert sum(e["type"] == "property" for e in entities_.values()) == 46
    assert kb.entity_facts(entities_["Q8"], frozenset({"P31"})) == [Fact("Q8", "P31", "Q331769"),
                                                                    Fact("Q8", "P31", "Q9415")]
    assert kb.entity_facts(entities_["Q42"], frozenset({"P31"})) == [Fact("Q42", "P31", "Q5")]
    assert kb.entity_facts(entities_["P19"], frozenset({"P31"})) == []
    assert kb.entity_facts(entities_["Q58"], frozenset({"P31"})) == []
    assert kb.entity_sitelink(entities_["Q42"], "enwiki") is None
    assert sum(len(kb.entity_facts(e, frozenset({"P31"}))) for e in entities_.values()) == 119


# --- reading in ranges ------------------------------------------------------------------------------

def synthetic_entities(count):
    return [{"type": "item", "id": f"Q{n}", "claims": {}, "labels": {"en": {"value": "x" * (n * 37 % 3000)}}}
            for n in range(1, count + 1)]


def write_dump(path, entity_list):
    data = json_dump_bytes(entity_list)
    if path.suffix == ".bz2":  # two streams of small blocks, as parallel compressors write
        half = len(data) // 2
        data = bz2.compress(data[:half], 1) + bz2.compress(data[half:], 1)
    elif path.suffix == ".gz":
        data = gzip.compress(data)
    elif path.suffix == ".xz":
        data = lzma.compress(data)
    elif path.suffix == ".zst":  # two frames
        half = len(data) // 2
        data = zstandard.ZstdCompressor().compress(data[:half]) + zstandard.ZstdCompressor().compress(data[half:])
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize("name", ["dump.json", "dump.json.bz2", "dump.json.gz"])
def test_ranges_read_every_entity_exactly_once(tmp_path, monkeypatch, name):
    monkeypatch.setattr(kb, "CHUNK", 4096)  # lines cross chunk boundaries
    path = write_dump(tmp_path / name, synthetic_entities(600))
    whole = [entity["id"] for entity in kb.iter_entities(path)]
    assert whole == [f"Q{n}" for n in range(1, 601)]
    for parts in (1, 2, 3, 7, 64, 5000):
        plan = kb.plan_line_dump(path, parts)
        assert len(plan) <= parts and plan[-1].end is None
        assert [r.end for r in plan[:-1]] == [r.start for r in plan[1:]]
        assert all(r.start < r.end for r in plan[:-1])  # never an empty range, even for 5000 parts
        if not name.endswith(".gz") and parts in (7, 64):
            assert len(plan) == parts
        # Ranges are independent: read them last first.
        pieces = {r.index: [e["id"] for e in kb.read_json_dump_range(path, r)] for r in reversed(plan)}
        assert [qid for index in sorted(pieces) for qid in pieces[index]] == whole, parts


@pytest.mark.parametrize("name", ["dump.json.gz", "dump.json.xz", "dump.json.zst"])
def test_gzip_xz_and_zstd_stay_one_range_and_read_whole(tmp_path, name):
    entities_ = synthetic_entities(50)
    path = write_dump(tmp_path / name, entities_)
    assert kb.plan_line_dump(path, 8) == [kb.DumpRange(0, 0, None)]
    assert [entity["id"] for entity in kb.iter_entities(path)] == [entity["id"] for entity in entities_]


def test_plans_are_small_byte_ranges(tmp_path):
    path = write_dump(tmp_path / "dump.json.bz2", synthetic_entities(600))
    size = (tmp_path / "dump.json.bz2").stat().st_size
    plan = kb.plan_line_dump(path, 4)
    assert [(r.index, r.start, r.end, r.compressed) for r in plan] == [
        (0, 0, size // 4, True), (1, size // 4, size // 2, True), (2, size // 2, size * 3 // 4, True),
        (3, size * 3 // 4, None, True)]
    assert pickle.loads(pickle.dumps(plan)) == plan
    plain = write_dump(tmp_path / "dump.json", synthetic_entities(10))
    assert all(not r.compressed for r in kb.plan_line_dump(plain, 3))
    assert kb.plan_line_dump(path, 1) == kb.plan_line_dump(plain, 1) == [kb.WHOLE]


def owned_lines(path, part, threads):
    with kb.owned_lines(path, part, kb.open_local, threads) as (lines, _):
        return [line for _, _, line in lines]


def assert_every_line_read_once(path, parts_list, *, opener=kb.open_local):
    """Whatever the number of parts, each line of the file is owned by exactly one range, and the
    ranges read (last first: they are independent) give the entities of the whole dump, in dump order."""
    whole = [entity["id"] for entity in kb.iter_entities(path, parallelization=1)]
    with open(path, "rb") as file:
        data = file.read()
    lines = (bz2.decompress(data) if data.startswith(b"BZh") else data).split(b"\n")
    for parts in parts_list:
        plan = kb.plan_line_dump(path, parts, opener=opener, parallelization=1)
        assert 1 <= len(plan) <= parts and plan[0].start == 0 and plan[-1].end is None
        assert [r.end for r in plan[:-1]] == [r.start for r in plan[1:]]
        assert [r.index for r in plan] == list(range(len(plan)))
        threads = 1 if parts % 2 else 3  # blocks decoded one by one, or ahead in threads
        pieces = {r.index: [e["id"] for e in kb.read_json_dump_range(path, r, opener=opener, parallelization=threads)]
                  for r in reversed(plan)}
        assert [qid for index in sorted(pieces) for qid in pieces[index]] == whole, parts
        owned = [line for r in plan for line in owned_lines(path, r, threads)]
        assert owned == lines or owned == lines[:-1] and lines[-1] == b"", parts  # the empty one after the last newline
    return whole


def test_real_dump_ranges(wikidata):
    path = str(wikidata / "twenty-entities-dump-layout.json.bz2")
    whole = assert_every_line_read_once(path, [1, 2, 3, 4, 5, 6, 7, 8, 40, 1000])
    assert len(whole) == 20
    for parts in (2, 3, 6, 40):
        plan = kb.plan_line_dump(path, parts, parallelization=2)
        assert [e["id"] for r in plan for e in kb.read_json_dump_range(path, r, parallelization=1)] == whole


BLOCK = 100_000 - 19  # bytes in a block of bzip2 level 1 (the input has no runs of four or more)


def runless_text(rng, length):
    """Letters and digits with no byte twice in a row: bzip2's run-length step leaves them as they are."""
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    text, previous = [], ""
    while len(text) < length:
        char = alphabet[rng.randrange(len(alphabet))]
        if char != previous:
            text.append(char)
            previous = char
    return "".join(text)


def block_edge_dump(blocks=8, long_line_at=3):
    """A dump whose level-1 bzip2 blocks end right after a newline (odd boundaries) or right before one
    (even boundaries), with one line over two blocks long; returns (entities, the dump's bytes)."""
    rng = random.Random(5)
    entities, size, boundary = [], 2, 1  # size: bytes of b"[\n" and the lines so far, with their ",\n"
    while boundary <= blocks:
        target = BLOCK * boundary - boundary % 2  # where a newline should be
        entity = {"type": "item", "id": f"Q{len(entities) + 1}", "claims": {}, "labels": {"en": {"value": ""}}}
        bare = len(json.dumps(entity)) + 2
        if boundary == long_line_at:
            label = 2 * BLOCK + rng.randrange(BLOCK)
            boundary = (size + bare + label) // BLOCK + 1
        else:
            gap = target - (size + bare - 1)  # the label that puts this line's newline on the target
            label = rng.randrange(50, 3000)
            if gap - label - bare < 50:
                label, boundary = gap, boundary + 1
        entity["labels"]["en"]["value"] = runless_text(rng, label)
        entities.append(entity)
        size += bare + label
    entities.append({"type": "item", "id": f"Q{len(entities) + 1}", "claims": {}})
    return entities, json_dump_bytes(entities)


def test_block_edges_and_lines_longer_than_a_block(tmp_path):
    entities_, data = block_edge_dump()
    compressed = bz2.compress(data, 1)
    with indexed_bzip2.open(io.BytesIO(compressed), parallelization=1) as stream:
        stream.read()
        starts = sorted(stream.block_offsets().values())[:-1]
    assert starts[:4] == [0, BLOCK, 2 * BLOCK, 3 * BLOCK]  # the layout this test is about
    assert data[BLOCK - 1:BLOCK + 1] == b"\n{" and data[2 * BLOCK - 1:2 * BLOCK + 1] == b",\n"
    assert max(map(len, data.split(b"\n"))) > 2 * BLOCK
    assert sum(data[start - 1:start] == b"\n" for start in starts) >= 3
    assert sum(data[start:start + 1] == b"\n" for start in starts) >= 3
    path = tmp_path / "edges.json.bz2"
    path.write_bytes(compressed)
    whole = assert_every_line_read_once(str(path), [1, 2, 3, 4, 5, 6, 7, 9, 12, 31, 200])
    assert whole == [e["id"] for e in entities_]


def test_chance_matches_of_the_magics_are_rejected(tmp_path, monkeypatch):
    """Bits that look like a block's or a stream end's magic but are neither: a decoding tells."""
    magics_in = bzip2_ranges._magics_in

    def with_chance_matches(data, first, stop, base):
        fake = [(bit, bit % 3 == 0) for bit in range((base + first) * 8 // 150_001 * 150_001 + 7, (base + stop) * 8,
                                                         150_001) if bit >= (base + first) * 8]
        return sorted(set(magics_in(data, first, stop, base)) | set(fake))

    monkeypatch.setattr(bzip2_ranges, "_magics_in", with_chance_matches)
    entities_, data = block_edge_dump()
    path = tmp_path / "edges.json.bz2"
    path.write_bytes(bz2.compress(data, 1))
    assert with_chance_matches(path.read_bytes(), 0, 40_000, 0)[:4] == [(7, False), (32, False), (150_008, False),
                                                                        (300_009, True)]
    assert assert_every_line_read_once(str(path), [2, 3, 7, 40]) == [e["id"] for e in entities_]


def test_multistream_ranges(tmp_path):
    """Streams as parallel compressors write them, cut mid-line, of other levels, one of them empty."""
    entities_ = synthetic_entities(400)
    data = json_dump_bytes(entities_)
    cuts = [0, 1, 70_000, 70_001, 250_000, 250_000, 400_000, len(data) - 2, len(data)]
    streams = [bz2.compress(data[a:b], [1, 9, 3][n % 3]) for n, (a, b) in enumerate(zip(cuts, cuts[1:]))]
    assert bz2.compress(b"") in streams
    path = tmp_path / "multi.json.bz2"
    path.write_bytes(b"".join(streams))
    whole = assert_every_line_read_once(str(path), [1, 2, 3, 4, 5, 6, 8, 11, 50, 700])
    assert whole == [e["id"] for e in entities_]


def test_plain_ranges_own_lines_by_the_newline_before_them(tmp_path):
    path = tmp_path / "dump.json"
    path.write_bytes(json_dump_bytes(synthetic_entities(100)).replace(b",\n", b",\n\n"))  # blank lines too
    assert_every_line_read_once(str(path), [1, 2, 3, 5, 8, 97, 10_000])


def test_a_range_without_a_block_start_reads_nothing(tmp_path):
    path = tmp_path / "dump.json.bz2"
    path.write_bytes(bz2.compress(json_dump_bytes(synthetic_entities(30))))  # one block
    plan = kb.plan_line_dump(str(path), 5)
    assert len(plan) == 5
    assert [len(list(kb.read_json_dump_range(str(path), r))) for r in plan] == [30, 0, 0, 0, 0]


class CountingFile(io.RawIOBase):
    """A read-only file that counts the bytes read from it."""

    def __init__(self, inner, counts):
        self.inner, self.counts = inner, counts

    def readable(self):
        return True

    def seekable(self):
        return True

    def readinto(self, buffer):
        data = self.inner.read(len(buffer))
        buffer[:len(data)] = data
        self.counts["read"] += len(data)
        return len(data)

    def seek(self, offset, whence=io.SEEK_SET):
        self.counts["seeks"] += 1
        return self.inner.seek(offset, whence)

    def tell(self):
        return self.inner.tell()

    def close(self):
        self.inner.close()
        super().close()


class RepeatedStreams(io.RawIOBase):
    """A bzip2 file made on the fly: `head`, `middle` `times` over, then `tail`; valid, as big as asked."""

    def __init__(self, head, middle, times, tail):
        self.parts = [(0, head), (len(head), middle), (len(head) + len(middle) * times, tail)]
        self.size, self.middle, self.position = len(head) + len(middle) * times + len(tail), middle, 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def seek(self, offset, whence=io.SEEK_SET):
        self.position = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence] + offset
        return self.position

    def tell(self):
        return self.position

    def readinto(self, buffer):
        done = 0
        while done < len(buffer) and self.position < self.size:
            start, data = [(start, data) for start, data in self.parts if start <= self.position][-1]
            offset = self.position - start
            if data is self.middle:
                offset %= len(data)
            piece = data[offset:offset + len(buffer) - done]
            buffer[done:done + len(piece)] = piece
            done += len(piece)
            self.position += len(piece)
        return done


@pytest.fixture(scope="module")
def repeated_streams():
    """Three streams that make a dump when the middle one is repeated any number of times."""
    rng = random.Random(9)
    lines = [json.dumps({"type": "item", "id": f"Q{n}", "claims": {"P31": [{"mainsnak": {"datavalue": {
        "value": {"id": f"Q{rng.randrange(10**7)}"}}}}]}, "labels": {"en": {"value": runless_text(rng, 200)}}})
        for n in range(1, 8001)]
    head = bz2.compress(b"[\n" + "".join(f"{line},\n" for line in lines[:10]).encode())
    middle = bz2.compress("".join(f"{line},\n" for line in lines[10:]).encode())  # about 1.2 MB
    tail = bz2.compress("".join(f"{line},\n" for line in lines[:9]).encode() + lines[9].encode() + b"\n]\n")
    return head, middle, tail


def test_planning_a_big_bzip2_dump_touches_a_bounded_part_of_it(tmp_path, repeated_streams):
    head, middle, tail = repeated_streams
    path = tmp_path / "latest-all.json.bz2"
    with path.open("wb") as file:  # about 300 MB on disk
        file.write(head)
        for _ in range(300 * 2**20 // len(middle)):
            file.write(middle)
        file.write(tail)
    counts = {"read": 0, "seeks": 0}
    opener = lambda name: CountingFile(open(name, "rb"), counts)  # noqa: E731
    plan = kb.plan_line_dump(str(path), 300, opener=opener)
    assert len(plan) == 300 and plan[-1].end is None
    assert counts["read"] < 64 and counts["seeks"] <= 4  # the header, the size and the last bytes
    # The same for a 100 GB file, which no test could decompress on the launcher.
    times = 100 * 2**30 // len(middle)
    big_opener = lambda name: CountingFile(RepeatedStreams(head, middle, times, tail), counts)  # noqa: E731
    assert RepeatedStreams(head, middle, times, tail).size > 100e9
    planned = dict(counts)
    counts.update(read=0, seeks=0)
    big_plan = kb.plan_line_dump("big.json.bz2", 100_000, opener=big_opener)
    assert counts == planned and big_plan[-1].start > 99e9
    # A worker reads its range and a bounded stretch after it, wherever it lies.
    for name, source, part in [(path, opener, plan[150]), ("big.json.bz2", big_opener, big_plan[50_000]),
                               (path, opener, plan[-1])]:
        counts.update(read=0, seeks=0)
        ids = [e["id"] for e in kb.read_json_dump_range(str(name), part, opener=source)]
        assert len(ids) > 1000, part
        assert counts["read"] <= (part.end or os.path.getsize(path)) - part.start + 2 * len(middle), part
    assert ids[-1] == "Q10"  # the last range ends the dump


# --- damaged input ------------------------------------------------------------------------------------

DUMP = json_dump_bytes(synthetic_entities(300))
LINE_3 = DUMP.index(b'{"type": "item", "id": "Q3"')


@pytest.mark.parametrize("name, data, message", [
    ("cut.json", DUMP[:DUMP.rindex(b"\n]")], "truncated: no closing ']'"),
    ("cut-line.json", DUMP[:LINE_3 + 20], f"line at decompressed byte {LINE_3} is not JSON"),
    ("garbage.json", DUMP[:LINE_3] + b"<html>oops</html>,\n" + DUMP[LINE_3:], f"byte {LINE_3} is not JSON"),
    ("not-a-dump.json", DUMP[2:], "does not start with a '\\[' line"),
    ("after-end.json", DUMP + b'{"id": "Q9"}\n', "data after the closing"),
    ("cut.json.bz2", bz2.compress(DUMP)[:-300], "truncated or corrupt"),
    ("cut.json.gz", gzip.compress(DUMP)[:-300], "truncated or corrupt"),
    ("cut.json.xz", lzma.compress(DUMP)[:-300], "truncated or corrupt"),
    ("cut.json.zst", zstandard.ZstdCompressor().compress(DUMP)[:-300], "truncated or corrupt"),
])
def test_damaged_json_dumps_are_errors_naming_file_and_place(tmp_path, name, data, message):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(kb.KnowledgeBaseError, match=message) as error:
        list(kb.iter_entities(str(path)))
    assert str(error.value).startswith(f"{path}: ") and "\n" not in str(error.value)


def test_a_damaged_bzip2_dump_cannot_be_planned(tmp_path):
    path = tmp_path / "cut.json.bz2"
    path.write_bytes(bz2.compress(DUMP)[:-300])
    with pytest.raises(kb.KnowledgeBaseError, match=f"{path}: unreadable after byte"):
        kb.plan_line_dump(str(path), 4)


def range_errors(path, parts):
    """The errors of reading each range of a plan, one by one."""
    errors = []
    for part in kb.plan_line_dump(str(path), parts):
        try:
            list(kb.read_json_dump_range(str(path), part))
        except kb.KnowledgeBaseError as exc:
            errors.append(str(exc))
    assert all(e.startswith(f"{path}: ") and "\n" not in e for e in errors)
    return errors


JSON_DAMAGE = [
    ("cut", DUMP[:DUMP.rindex(b"\n]")], "truncated: no closing ']'"),
    ("cut-after-a-comma", DUMP[:LINE_3], "truncated: no closing ']'"),
    ("cut-line", DUMP[:LINE_3 + 20], "is not JSON"),
    ("garbage", DUMP[:LINE_3] + b"<html>oops</html>,\n" + DUMP[LINE_3:], "is not JSON"),
    ("not-a-dump", DUMP[2:], "does not start with a '\\[' line"),
    ("after-end", DUMP + b'{"id": "Q9"}\n', "data after the closing"),
    ("after-end-in-the-last-range", DUMP + b"\n" * 300_000 + b"x", "data after the closing"),
]


@pytest.mark.parametrize("name, data, message", JSON_DAMAGE)
@pytest.mark.parametrize("suffix", [".json", ".json.bz2"])
def test_damaged_json_dumps_read_in_ranges_are_errors(tmp_path, name, data, message, suffix):
    path = tmp_path / f"{name}{suffix}"
    half = len(data) // 2
    path.write_bytes(bz2.compress(data[:half], 1) + bz2.compress(data[half:], 1) if suffix == ".json.bz2" else data)
    for parts in (2, 3, 7, 40):
        errors = range_errors(path, parts)
        assert any(re.search(message, e) for e in errors), (parts, errors)
        if suffix == ".json.bz2":
            where = r"decompressed byte \d+ of the bzip2 block at compressed byte \d+ \(bit [0-7]\)"
            assert re.search(where, errors[0]) or message.startswith("does not start"), errors
        elif name == "cut-line":
            assert errors == [f"{path}: the line at decompressed byte {LINE_3} is not JSON (unexpected end of data: "
                              f"line 1 column 21 (char 20)); the dump is truncated or corrupt"]


def test_a_bzip2_dump_truncated_after_planning_is_an_error_saying_where(tmp_path):
    data = block_edge_dump()[1]
    cut = data.index(b"\n", len(data) // 2) + 1  # streams of whole lines
    first, second = bz2.compress(data[:cut], 1), bz2.compress(data[cut:], 1)
    whole = first + second
    path = tmp_path / "dump.json.bz2"
    middle = len(first) + len(second) // 2
    for size, message in [
        (middle, r"truncated: the bzip2 block at compressed byte \d+ \(bit [0-7]\) does not end before the end of the "
                 rf"file at compressed byte {middle}; the file is truncated or corrupt$"),
        (len(whole) - 3, rf"truncated: the file ends at compressed byte {len(whole) - 3}, inside the bzip2 "
                         r"end-of-stream marker at compressed byte \d+$"),
        (len(first), r"truncated: no closing '\]' after the line at decompressed byte \d+ of the bzip2 block at "
                     r"compressed byte \d+ \(bit [0-7]\)$"),  # a whole stream less: still a valid bzip2 file
    ]:
        path.write_bytes(whole)
        plan = kb.plan_line_dump(str(path), 6)
        path.write_bytes(whole[:size])
        errors = []
        for part in plan:
            try:
                list(kb.read_json_dump_range(str(path), part))
            except kb.KnowledgeBaseError as exc:
                errors.append(str(exc))
        assert len(errors) == 1 and errors[0].startswith(f"{path}: ") and re.search(message, errors[0]), errors
        if size != len(first):
            with pytest.raises(kb.KnowledgeBaseError, match=f"{path}: unreadable after byte {size} of the compressed "
                                                            "data, where the file ends without a bzip2 end-of-stream"):
                kb.plan_line_dump(str(path), 6)


def test_a_corrupt_bzip2_block_is_an_error_saying_where(tmp_path):
    data = bytearray(bz2.compress(block_edge_dump()[1], 1))
    data[len(data) // 2] ^= 0x10
    path = tmp_path / "dump.json.bz2"
    path.write_bytes(data)
    for parts in (1, 2, 5, 30):
        errors = range_errors(path, parts)
        if parts == 1:  # read whole, by indexed_bzip2
            assert errors and "truncated or corrupt" in errors[0]
        else:
            assert any(re.search(r"the bzip2 block at compressed byte \d+ \(bit [0-7]\) does not decode \(its CRC or "
                                 r"format is wrong\); the file is truncated or corrupt$", e) for e in errors), errors


def test_a_range_of_another_kind_of_file_is_an_error(tmp_path):
    path = tmp_path / "dump.json.bz2"
    path.write_bytes(bz2.compress(DUMP))
    with pytest.raises(kb.KnowledgeBaseError, match="planned as an uncompressed file in byte ranges, but it is bzip2"):
        list(kb.read_json_dump_range(str(path), kb.DumpRange(1, 10, 20)))
    path.write_bytes(DUMP)
    with pytest.raises(kb.KnowledgeBaseError, match="planned as a bzip2 file in compressed byte ranges, but it is not"):
        list(kb.read_json_dump_range(str(path), kb.DumpRange(1, 10, 20, compressed=True)))


def test_missing_file_is_one_line_error(tmp_path):
    with pytest.raises(kb.KnowledgeBaseError, match="no-such.json.bz2: cannot open: No such file"):
        kb.plan_line_dump(str(tmp_path / "no-such.json.bz2"), 2)


@pytest.mark.parametrize("name, damage", [
    ("cut.nt", lambda text: text[:-30]),
    ("cut.nt.bz2", lambda text: bz2.compress(text)[:-30]),
    # rapidgzip reads this one as empty, without complaint
    ("cut.nt.gz", lambda text: gzip.compress(text)[:-9]),
])
def test_truncated_truthy_dump_is_an_error(fixture_files, tmp_path, name, damage):
    path = tmp_path / name
    path.write_bytes(damage((fixture_files / "latest-truthy.nt").read_bytes()))
    with pytest.raises(kb.KnowledgeBaseError, match=f"{path}: .*(truncated|corrupt)"):
        list(kb.read_truthy_ntriples(str(path), PROPERTIES))


# --- SPARQL over a scripted server ------------------------------------------------------------------

RESULT = json.dumps({"head": {"vars": ["s", "p", "o"]}, "results": {"bindings": [
    {"s": {"type": "uri", "value": f"{ENTITY}Q42"}, "p": {"type": "uri", "value": f"{DIRECT}P19"},
     "o": {"type": "uri", "value": f"{ENTITY}Q350"}}]}}).encode()


@pytest.fixture
def scripted():
    """An endpoint that plays back (status, headers, body, delay) answers, the last one forever."""
    answers, requests = [], []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            requests.append((dict(self.headers), urllib.parse.parse_qs(body.decode())))
            status, headers, payload, delay = answers[min(len(requests), len(answers)) - 1]
            time.sleep(delay)
            self.send_response(status)
            for name, value in {"Content-Type": "application/sparql-results+json", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.handle_error = lambda request, address: None  # a client that gave up waiting
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/sparql", answers, requests
    server.shutdown()
    server.server_close()


def test_429_waits_as_long_as_retry_after_says(scripted):
    endpoint, answers, requests = scripted
    answers += [(429, {"Retry-After": "1"}, b"slow down", 0), (200, {}, RESULT, 0)]
    sleeps = []
    source = kb.SparqlKnowledgeBase(endpoint, backoff=7, sleep=sleeps.append)
    assert list(source.facts(["Q42", "Q42"], frozenset({"P19"}))) == [Fact("Q42", "P19", "Q350")]
    assert sleeps == [1] and len(requests) == 2
    headers, form = requests[-1]
    assert headers["User-Agent"] == kb.USER_AGENT and kb.USER_AGENT.startswith("relxdata/")
    assert "VALUES ?s { wd:Q42 } VALUES ?p { wdt:P19 }" in form["query"][0]


def test_503_forever_is_an_error_after_the_retries(scripted):
    endpoint, answers, requests = scripted
    answers.append((503, {}, b"down for maintenance", 0))
    sleeps = []
    source = kb.SparqlKnowledgeBase(endpoint, retries=2, backoff=0.5, sleep=sleeps.append)
    with pytest.raises(kb.KnowledgeBaseError) as error:
        list(source.facts(["Q42"], frozenset({"P19"})))
    assert str(error.value) == f"SPARQL endpoint {endpoint}: HTTP 503 Service Unavailable after 3 attempts"
    assert sleeps == [0.5, 1.0] and len(requests) == 3


def test_a_stalled_answer_is_retried_then_an_error(scripted):
    endpoint, answers, requests = scripted
    answers += [(200, {}, RESULT, 1.5)]
    sleeps = []
    source = kb.SparqlKnowledgeBase(endpoint, timeout=1, retries=1, sleep=sleeps.append)
    with pytest.raises(kb.KnowledgeBaseError, match="after 2 attempts"):
        list(source.facts(["Q42"], frozenset({"P19"})))
    assert sleeps == [1.0] and len(requests) == 2


def test_an_endpoint_that_never_answers_ends_the_job_after_two_silences():
    """A server that accepts connections and never answers: two timeouts, not six, then one line."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    endpoint = f"http://127.0.0.1:{listener.getsockname()[1]}/sparql"
    sleeps = []
    started = time.monotonic()
    try:
        source = kb.SparqlKnowledgeBase(endpoint, timeout=1, retries=5, sleep=sleeps.append)
        with pytest.raises(kb.KnowledgeBaseError) as error:
            list(source.facts(["Q42"], frozenset({"P19"})))
    finally:
        listener.close()
    assert str(error.value) == f"SPARQL endpoint {endpoint}: no answer within 1 s after 2 attempts"
    assert sleeps == [1.0] and time.monotonic() - started < 10


def test_unreachable_endpoint_is_a_one_line_error_without_retries():
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{sock.getsockname()[1]}/sparql"
    sleeps = []
    with pytest.raises(RelxdataError) as error:
        list(kb.SparqlKnowledgeBase(endpoint, sleep=sleeps.append).facts(["Q42"], frozenset({"P19"})))
    message = str(error.value)
    assert message.startswith(f"SPARQL endpoint {endpoint} is unreachable: ") and "refused" in message
    assert "\n" not in message and sleeps == []


def test_sparql_refuses_identifiers_that_would_change_the_query():
    source = kb.SparqlKnowledgeBase("http://127.0.0.1:1/sparql")
    with pytest.raises(ValueError, match="Q42 }"):
        list(source.facts(["Q42 } ?s ?p ?o {"], frozenset({"P19"})))
    with pytest.raises(ValueError, match="subjects"):
        list(source.facts(None, frozenset({"P19"})))


def value_statement(prop, datavalue, rank="normal"):
    return {"mainsnak": {"snaktype": "value", "property": prop, "datavalue": datavalue}, "type": "statement",
            "rank": rank}


def test_value_facts_in_their_base_unit():
    from collections import Counter
    from relxdata.kb import Literal, entity_values
    unit = "http://www.wikidata.org/entity/"
    claims = {
        "P2043": [value_statement("P2043", {"type": "quantity", "value": {"amount": "+6650", "unit": unit + "Q828224"}})],
        "P2067": [value_statement("P2067", {"type": "quantity", "value": {"amount": "+190", "unit": unit + "Q11570"}}),
                  value_statement("P2067", {"type": "quantity", "value": {"amount": "+7", "unit": unit + "Q1"}},
                                  "deprecated")],
        "P1082": [value_statement("P1082", {"type": "quantity", "value": {"amount": "+3664088", "unit": "1"}})],
        "P2250": [value_statement("P2250", {"type": "quantity", "value": {"amount": "+20.5", "unit": unit + "Q577"}})],
        "P585": [value_statement("P585", {"type": "time", "value": {"time": "+1865-04-15T00:00:00Z", "precision": 11}})],
        "P575": [value_statement("P575", {"type": "time", "value": {"time": "+1939-00-00T00:00:00Z", "precision": 9}}),
                 value_statement("P575", {"type": "time", "value": {"time": "-0500-00-00T00:00:00Z", "precision": 7}})],
        "P281": [value_statement("P281", {"type": "string", "value": "10115"})],
        "P2048": [value_statement("P2048", {"type": "quantity", "value": {"amount": "+3", "unit": unit + "Q12345"}})],
    }
    counts = Counter()
    facts = entity_values({"type": "item", "id": "Q1", "claims": claims}, frozenset(claims), counts)
    assert {(fact.property, fact.object) for fact in facts} == {
        ("P2043", Literal("6650000", "xsd:double")), ("P2067", Literal("190", "xsd:double")),
        ("P1082", Literal("3664088", "xsd:double")), ("P2250", Literal("20.5", "xsd:double")),
        ("P585", Literal("1865-04-15", "xsd:date")), ("P575", Literal("1939", "xsd:gYear")),
        ("P281", Literal("10115"))}
    assert counts == {"kb.skipped.unknown_unit": 1, "kb.skipped.imprecise_or_ancient_time": 1}


def test_a_truncated_answer_is_retried_then_an_error(scripted):
    """An answer cut mid-JSON (a proxy that dropped the rest): retried, then one line naming the endpoint."""
    endpoint, answers, requests = scripted
    answers.append((200, {}, RESULT[:len(RESULT) // 2], 0))
    sleeps = []
    source = kb.SparqlKnowledgeBase(endpoint, retries=1, sleep=sleeps.append)
    with pytest.raises(kb.KnowledgeBaseError) as error:
        list(source.facts(["Q42"], frozenset({"P19"})))
    assert str(error.value).startswith(f"SPARQL endpoint {endpoint}: ")
    assert "after 2 attempts" in str(error.value) and len(requests) == 2
