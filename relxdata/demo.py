"""`relxdata demo`: the whole chain on the bundled sample, with no downloads."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import time
from importlib import resources

from relxdata.card import summary_lines, write_stats
from relxdata.corpora import MANIFEST, make_directory, read_rows
from relxdata.dumps import write_multistream
from relxdata.errors import RelxdataError

DEMO_LANGUAGES = ("en", "de", "fr", "es", "tr")
# As many as the demo corpus supplies in balance: 5 per class and language.
DEMO_PAIRS = 40


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
    """sentences -> relx-distant and smiler (five languages) -> build-pairs -> a few pretraining steps ->
    stats, plots and dataset cards; prints each step's command and where everything is."""
    if os.path.exists(os.path.join(out, "relx-distant")) and not overwrite:
        raise RelxdataError(f"{out} already holds a demo output; pass --overwrite to replace it")
    started = time.time()
    build_corpora(out)
    pairs = build_demo_pairs(out)
    model = pretrain_demo_model(out, pairs)
    print(f"\n== relxdata stats {os.path.join(out, 'relx-distant')} (and smiler, pairs)")
    for name in ("relx-distant", "smiler", "pairs"):
        for line in summary_lines(write_stats(os.path.join(out, name))):
            print(f"   {line}")
    print(f"\nDone in {time.time() - started:.0f} s. Everything is in {os.path.abspath(out)}:")
    where = [("dumps/", "the sample wikis as multistream dumps with their indexes"),
             ("relx-distant/<lang>/", "RELX-Distant rows; sentences/ and links/ beside them; _manifest.json"),
             ("smiler/<lang>/", "SMiLER rows"), ("pairs/", "MTMB sentence pairs"),
             (f"{model}/" if model else "", "the pretrained tiny model (final/), metrics.jsonl"),
             ("relx-distant/README.md, smiler/README.md, pairs/README.md", "dataset cards; stats.json and plots/ "
                                                                           "beside each")]
    for path, what in where:
        if path:
            print(f"   {path:<58} {what}")


def build_corpora(out: str) -> None:
    from pipelines import relx_distant, smiler

    dumps = os.path.join(out, "dumps")
    make_directory(dumps)
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


def build_demo_pairs(out: str) -> str:
    from relxdata.pairs import PairConfig, build_pairs

    corpus, pairs = os.path.join(out, "relx-distant"), os.path.join(out, "pairs")
    print(f"\n== relxdata build-pairs --corpus {corpus} --out {pairs} --num-pairs {DEMO_PAIRS} --allow-fewer")
    shutil.rmtree(pairs, ignore_errors=True)
    counts = build_pairs(corpus, pairs, PairConfig(num_pairs=DEMO_PAIRS, allow_fewer=True), show_progress=False)
    print(f"   {counts['pairs']} pairs of an English and a de, es, fr or tr sentence, half of them positive "
          "(same relation, same entities), half strong negatives (one entity shared); for example:")
    rows = read_rows(pairs)
    for label in (1, 0):
        example = next(row for row in rows if row["label"] == label)
        print(f"   {label}: {example['text_a']} | {example['text_b']}")
    return pairs


def pretrain_demo_model(out: str, pairs: str) -> str | None:
    """A few pretraining steps of the tiny random model on the pairs, when the model module is installed."""
    model = os.path.join(out, "model")
    command = f"relxdata pretrain --pairs {pairs} --out {model} --model tiny-random --max-steps 5 --batch-size 8"
    if any(importlib.util.find_spec(name) is None for name in ("torch", "transformers")):
        print(f"\n== skipped: {command}\n   (the model module needs torch and transformers: "
              "pip install 'relxdata[model]')")
        return None
    from model.pretrain import PretrainConfig, pretrain

    print(f"\n== {command}")
    shutil.rmtree(model, ignore_errors=True)
    pretrain(PretrainConfig(pairs=pairs, out=model, max_steps=5, batch_size=8, workers=0, log_every=1))
    return "model"
