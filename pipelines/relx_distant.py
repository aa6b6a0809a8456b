"""Sentence shards + a knowledge base -> RELX-Distant rows: Parquet shards + `_manifest.json`.

    relxdata run relx-distant --lang en --dump enwiki-...-multistream.xml.bz2 --index ... \\
        --page-props enwiki-...-page_props.sql.gz --wikidata latest-all.json.bz2 --out relx/en
    relxdata run relx-distant --lang en --sentences sentences/en --page-props ... --wikidata ... --out relx/en

What passes between the stages (pipelines/stages.py) grows with the wiki's titles, not its links:
1. sentence shards: extracted from the dump into OUT/sentences (as `run sentences` writes them), or
   those of an earlier run (`--sentences`); each shard gives its distinct link targets, and the
   dump's articles and redirect edges;
2. every distinct link target walks the redirects, one CoGroupByKey per hop, and the title it
   arrives at meets the title -> QID table (page_props joined with the dump's page ids, Wikidata
   sitelinks, or SPARQL lookups for small jobs): one resolution per target;
3. the knowledge base's facts of the inventory are kept when both their entities are linked to,
   and grouped by the unordered pair of QIDs;
4. each sentence shard, with the resolutions and those facts at hand, becomes the output shard of
   the same number: entity pairs per sentence, their facts, rows sorted and written. The manifest
   comes last.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from collections import Counter
from dataclasses import replace

import apache_beam as beam

from pipelines.launch import beam_pipeline, fresh_output, join, write_rows
from pipelines.sentences import (SENTENCES_DIRECTORY, add_dump_arguments, check_corpus_options,
                                 prepare_corpus_job)
from pipelines.stages import (ReadWikidataFn, ResolveLinks, SentenceShardsOf, ShardLinks, TitleTables, WriteManifest,
                              WriteShards, open_input, read_once)
from relxdata import kb
from relxdata.corpora import LINK_RESOLUTIONS, RELX_DISTANT, shard_name
from relxdata.distant import pair_key, sentence_rows
from relxdata.errors import RelxdataError
from relxdata.linking import DEFAULT_MAX_HOPS
from relxdata.relations import Relation, load_relations

JOB = "relx-distant"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="relxdata run relx-distant",
        description="Sentences whose linked entities have a Wikidata fact, as RELX-Distant rows (Parquet shards "
                    "+ manifest). Options not listed here go to Beam, e.g. --runner DataflowRunner.")
    add_dump_arguments(parser, sentences_instead=True)
    titles = parser.add_argument_group("title -> QID")
    titles.add_argument("--page-props", help="the wiki's page_props.sql(.gz): wikibase_item and disambiguation")
    titles.add_argument("--redirects", help="the wiki's redirect.sql(.gz), besides the dump's redirect pages")
    titles.add_argument("--max-redirect-hops", type=int, default=DEFAULT_MAX_HOPS,
                        help=f"longest redirect chain followed (default {DEFAULT_MAX_HOPS})")
    facts = parser.add_argument_group("facts (exactly one)")
    facts.add_argument("--wikidata", help="Wikidata JSON dump (latest-all.json.bz2/.gz); also gives sitelinks")
    facts.add_argument("--truthy", help="Wikidata truthy N-Triples dump (latest-truthy.nt.bz2)")
    facts.add_argument("--sparql", help="a SPARQL endpoint URL with Wikidata's wd:/wdt: IRIs (small jobs)")
    parser.add_argument("--relations", help="relation inventory, JSON lines (default: RELX-Distant's 24 categories)")
    parser.add_argument("--negatives", type=float, default=0.0, metavar="RATE",
                        help="also keep this share of co-occurring entity pairs without a fact as no_relation")
    parser.add_argument("--seed", type=int, default=13, help="seed of the negative sample (default 13)")
    parser.add_argument("--wikidata-parts", type=int, default=64,
                        help="ranges the Wikidata JSON dump is read in, in parallel (default 64)")
    return parser


def check_sources(args: argparse.Namespace) -> None:
    given = [name for name in ("wikidata", "truthy", "sparql") if getattr(args, name)]
    if len(given) != 1:
        raise RelxdataError("give exactly one source of facts: --wikidata, --truthy or --sparql")
    if not (args.page_props or args.wikidata or args.sparql):
        raise RelxdataError("--truthy has no sitelinks: give --page-props to map titles to QIDs")
    check_corpus_options(args)


class ShardRowsFn(beam.DoFn):
    """A sentence shard -> its relx-distant rows, written as the output shard of the same number.

    Its links meet their resolutions, its entity pairs the facts between them, and its texts the
    labelled pairs, all in this one step (side inputs), so no per-link record waits in the runner.
    """

    def __init__(self, shards, out: str, relations: dict[str, Relation], negatives: float, seed: int):
        self.shards, self.out = shards, out
        self.relations, self.negatives, self.seed = relations, negatives, seed

    def process(self, index: int, resolutions: dict, facts: dict):
        counts: Counter = Counter()
        rows = []
        for sentence in self.shards.read(index, columns=["lang", "page_id", "page_title", "sent_index", "text",
                                                         "links"]):
            rows += sentence_rows(sentence, resolutions, facts, self.relations, self.negatives, self.seed, counts)
        rows.sort(key=row_order)
        write_rows(join(self.out, shard_name(index, self.shards.count)), rows, RELX_DISTANT)
        counts.update(key for row in rows for key in count_keys(row))
        yield dict(counts)


def fact_by_pair(fact: kb.Fact):
    return pair_key(fact.subject, fact.object), fact


# --- knowledge sources ----------------------------------------------------------------------------

class SparqlTitlesFn(beam.DoFn):
    """A batch of titles -> their QIDs and disambiguation marks, from a SPARQL endpoint."""

    def __init__(self, endpoint: str, lang: str):
        self.endpoint, self.lang = endpoint, lang

    def setup(self):
        self.kb = kb.SparqlKnowledgeBase(self.endpoint)

    def process(self, titles: list[str]):
        found = dict(self.kb.sitelinks(titles, self.lang))
        disambiguations = self.kb.disambiguations(found.values())
        for title, qid in sorted(found.items()):
            yield title, ("qid", qid)
            if qid in disambiguations:
                yield title, ("disambiguation", "")


class SparqlFactsFn(beam.DoFn):
    """A batch of QIDs -> the facts of the inventory they are the subject of."""

    def __init__(self, endpoint: str, properties: frozenset[str]):
        self.endpoint, self.properties = endpoint, properties

    def setup(self):
        self.kb = kb.SparqlKnowledgeBase(self.endpoint)

    def process(self, qids: list[str]):
        for fact in self.kb.facts(qids, self.properties):
            yield fact_by_pair(fact)


class SparqlTitles(beam.PTransform):
    """Titles -> their (title, entry) parts from a SPARQL endpoint, in batches."""

    def __init__(self, endpoint: str, lang: str):
        super().__init__()
        self.endpoint, self.lang = endpoint, lang

    def expand(self, titles):
        return (titles
                | "BatchTitles" >> beam.BatchElements(min_batch_size=50, max_batch_size=200)
                | "SparqlTitles" >> beam.ParDo(SparqlTitlesFn(self.endpoint, self.lang)))


# --- the run ------------------------------------------------------------------------------------------

def row_order(row: dict):
    return row["page_id"], row["sentence"], row["entity1"], row["entity2"], row["relation"], row["id"]


def resolution_row(lang: str):
    def to_row(element) -> dict:
        title, resolution = element
        return {"lang": lang, "title": title, "qid": resolution.qid,
                "reason": resolution.reason.value if resolution.reason else None, "hops": resolution.hops}
    return to_row


def title_hash(row: dict) -> str:
    return hashlib.sha1(row["title"].encode("utf-8")).hexdigest()


def count_keys(row: dict) -> tuple[str, ...]:
    return ("rows", f"rows_by_language.{row['lang']}", f"rows_by_category.{row['category']}",
            f"rows_by_relation.{row['relation']}")


def between_entities(element, entities: set[str]) -> bool:
    """Whether a (pair, fact) joins two entities that the wiki links to: the only facts rows can use."""
    _, fact = element
    return fact.subject in entities and fact.object in entities


def relx_outputs(shards: int, sentences_directory: str | None):
    def outputs(counts: dict) -> dict:
        described = {
            "relx-distant": {"directory": ".", "shards": shards, "rows": counts.get("rows", 0)},
            "links": {"directory": "links", "shards": shards, "rows": counts.get("link_targets", 0)},
        }
        if sentences_directory:
            described["sentences"] = {"directory": sentences_directory, "shards": shards,
                                      "rows": counts.get("sentences", 0)}
        return described
    return outputs


class LinkedFacts(beam.PTransform):
    """(title, Resolution) -> the facts of the inventory whose two entities are both linked to, grouped as
    (pair key, facts); from the Wikidata JSON dump, the truthy dump, or a SPARQL endpoint (exactly one)."""

    def __init__(self, properties: frozenset[str], wikidata: str | None, wikidata_ranges: list[kb.DumpRange],
                 truthy: str | None, sparql: str | None):
        super().__init__()
        self.properties, self.wikidata, self.wikidata_ranges = properties, wikidata, wikidata_ranges
        self.truthy, self.sparql = truthy, sparql

    def expand(self, resolutions):
        pipeline = resolutions.pipeline
        entities = (resolutions
                    | "LinkedQids" >> beam.FlatMap(lambda kv: [kv[1].qid] if kv[1].qid else [])
                    | "DistinctQids" >> beam.Distinct())
        counts = pipeline | "NoCounts" >> beam.Create([])
        if self.wikidata:
            read = (pipeline
                    | "WikidataRanges" >> beam.Create(self.wikidata_ranges)
                    | "SpreadRanges" >> beam.Reshuffle()
                    | "ReadWikidata" >> beam.ParDo(ReadWikidataFn(self.wikidata, self.properties, JOB)).with_outputs(
                        "counts", main="facts"))
            facts, counts = read.facts | "FactsByPair" >> beam.Map(fact_by_pair), read.counts
        elif self.truthy:
            facts = read_once(pipeline, "Truthy", self.truthy, lambda path: map(
                fact_by_pair, kb.read_truthy_ntriples(path, self.properties, opener=open_input)))
        else:
            facts = (entities
                     | "BatchQids" >> beam.BatchElements(min_batch_size=50, max_batch_size=200)
                     | "SparqlFacts" >> beam.ParDo(SparqlFactsFn(self.sparql, self.properties)))
        by_pair = (facts
                   | "BetweenLinked" >> beam.Filter(between_entities, beam.pvalue.AsSingleton(
                       entities | "EntitySet" >> beam.combiners.ToSet()))
                   | "ByPair" >> beam.GroupByKey())
        return {"facts": by_pair, "counts": counts}


def run(argv: list[str] | None = None) -> None:
    started_at = time.time()
    args, pipeline_args = build_parser().parse_known_args(argv)
    check_sources(args)
    inventory = load_relations(args.relations)
    inputs = [path for path in (args.page_props, args.redirects, args.wikidata, args.truthy) if path]
    job = prepare_corpus_job(args, pipeline_args, inputs, JOB, started_at)
    shards, description = job.shards, job.description
    wikidata_ranges = (kb.plan_line_dump(args.wikidata, args.wikidata_parts, opener=open_input)
                       if args.wikidata else [])
    description = replace(description, extra={**description.extra, "relations": {
        "source": inventory.source, "categories": sorted({r.category for r in inventory.relations}),
        "properties": sorted(inventory.properties)}})
    with fresh_output(args.out, args.overwrite), job.progress(args.out), beam_pipeline(job.options) as pipeline:
        source = pipeline | "SentenceShards" >> SentenceShardsOf(shards, job.extraction, description)
        links = source["shards"] | "ShardLinks" >> ShardLinks(shards)
        tables = ((links.articles, links.redirects)
                  | "TitleTables" >> TitleTables(args.lang, args.redirects, args.page_props, args.wikidata,
                                                 wikidata_ranges))
        edges, entries = tables["edges"], tables["entries"]
        lookup = SparqlTitles(args.sparql, args.lang) if args.sparql and not args.page_props else None
        resolutions = ((links.targets, edges, entries)
                       | "ResolveLinks" >> ResolveLinks(args.max_redirect_hops, lookup))
        facts = resolutions | "LinkedFacts" >> LinkedFacts(inventory.properties, args.wikidata, wikidata_ranges,
                                                           args.truthy, args.sparql)
        written = (source["shards"]
                   | "SpreadShards" >> beam.Reshuffle()
                   | "ShardRows" >> beam.ParDo(
                       ShardRowsFn(shards, args.out, inventory.by_property(), args.negatives, args.seed),
                       beam.pvalue.AsDict(resolutions), beam.pvalue.AsDict(facts["facts"])))
        links_written = (resolutions
                         | "ResolutionRows" >> beam.Map(resolution_row(args.lang))
                         | "WriteResolutions" >> WriteShards(join(args.out, "links"), LINK_RESOLUTIONS, shards.count,
                                                             title_hash, lambda row: row["title"]))
        targets = resolutions | "CountTargets" >> beam.Map(lambda kv: {"link_targets": 1})
        _ = ((source["counts"], facts["counts"], written, links_written, targets)
             | "AllCounts" >> beam.Flatten()
             | "WriteManifest" >> WriteManifest(args.out, description, relx_outputs(
                 shards.count, None if args.sentences else SENTENCES_DIRECTORY)))
