"""`relxdata demo`: the whole chain on the bundled sample, with no downloads."""

from __future__ import annotations

import json
import os
from importlib import resources

from relxdata.corpora import MANIFEST, read_rows
from relxdata.dumps import write_multistream
from relxdata.errors import RelxdataError

DEMO_LANGUAGES = ("en", "de", "fr", "es", "tr")


def sample_dump(lang: str) -> str:
    """Path of the bundled hand-written sample wiki for `lang`."""
    return str(resources.files("relxdata").joinpath(f"data/demo/{lang}wiki-demo.xml"))


def sample_knowledge_base() -> str:
    """Path of the bundled Wikidata sample (dump layout): the demo articles' entities and their facts."""
    return str(resources.files("relxdata").joinpath("data/demo/wikidata-demo.json"))


def sample_dbpedia() -> str:
    """Path of the bundled DBpedia sample (English chapter, mapping-based objects and literals)."""
    return str(resources.files("relxdata").joinpath("data/demo/dbpedia-demo.ttl"))


def _marked(row: dict) -> str:
    """The sentence with its two entities marked as [[anchor]]."""
    spans = sorted([(*row["entity1_indices"], 1), (*row["entity2_indices"], 2)])
    text, pieces, last = row["sentence"], [], 0
    for start, end, number in spans:
        pieces += [text[last:start], f"[E{number} {text[start:end]}]"]
        last = end
    return "".join(pieces + [text[last:]])


def _tagged(row: dict) -> str:
    from relxdata.smiler_tsv import tag
    return tag(row["text"], tuple(row["entity_1_indices"]), tuple(row["entity_2_indices"]))


def run_demo(out: str, overwrite: bool = False) -> None:
    from pipelines import relx_distant, smiler

    if os.path.exists(os.path.join(out, "relx-distant")) and not overwrite:
        raise RelxdataError(f"{out} already holds a demo output; pass --overwrite to replace it")
    dumps = os.path.join(out, "dumps")
    os.makedirs(dumps, exist_ok=True)
    knowledge_base = sample_knowledge_base()
    for lang in DEMO_LANGUAGES:
        dump = os.path.join(dumps, f"{lang}wiki-demo-pages-articles-multistream.xml.bz2")
        index = os.path.join(dumps, f"{lang}wiki-demo-pages-articles-multistream-index.txt.bz2")
        write_multistream(sample_dump(lang), dump, index, pages_per_stream=2)
        target = os.path.join(out, "relx-distant", lang)
        print(f"== {lang}: relxdata run relx-distant --lang {lang} --dump {dump} --index {index} "
              f"--wikidata {knowledge_base} --out {target}")
        relx_distant.run(["--lang", lang, "--dump", dump, "--index", index, "--wikidata", knowledge_base,
                          "--out", target, "--pages-per-shard", "2", "--overwrite", "--direct_num_workers", "2"])
        counts = json.loads(open(os.path.join(target, MANIFEST), encoding="utf-8").read())["counts"]
        rows = read_rows(target)
        unresolved = counts.get("links", {}).get("unresolved", {})
        print(f"   {counts['sentences']} sentences, {counts['links']['resolved']} links resolved to Wikidata items "
              f"({sum(unresolved.values())} not: {unresolved}), {len(rows)} rows; for example:")
        for row in rows[:3]:
            print(f"   {row['entity1']} {row['relation']} ({row['relation_name']}) {row['entity2']}: {_marked(row)}")
    dbpedia = sample_dbpedia()
    for lang in DEMO_LANGUAGES:
        sentences = os.path.join(out, "relx-distant", lang, "sentences")
        target = os.path.join(out, "smiler", lang)
        print(f"== {lang}: relxdata run smiler --lang {lang} --sentences {sentences} --dbpedia {dbpedia} "
              f"--wikidata {knowledge_base} --out {target}")
        smiler.run(["--lang", lang, "--sentences", sentences, "--dbpedia", dbpedia, "--wikidata", knowledge_base,
                    "--negatives", "0.2", "--out", target, "--overwrite", "--direct_num_workers", "2"])
        rows = read_rows(target)
        how = "from English DBpedia facts through Wikidata QIDs" if lang != "en" else "from DBpedia facts"
        print(f"   {len(rows)} SMiLER rows {how}; for example:")
        for row in rows[:3]:
            print(f"   {row['label']} ({row['mention_1']}, {row['mention_2']}): {_tagged(row)}")
    print(f"\nShards and manifests are in {os.path.abspath(os.path.join(out, 'relx-distant'))}/<lang>/ "
          f"and {os.path.abspath(os.path.join(out, 'smiler'))}/<lang>/")
