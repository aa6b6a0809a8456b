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
3. the knowledge base's facts of the inventory about linked entities are read; locally only those
   whose two entities are both linked pass, checked against the set of linked QIDs;
4. each shard gets, by joins on the link target and on the fact's subject, the resolutions of its
   own links and the facts of the entities it links to (no worker holds them all), and becomes the
   output shard of the same number: entity pairs per sentence, their facts, rows sorted and
   written. The manifest comes last.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from collections import Counter
from typing import Iterable, Mapping
from dataclasses import replace

import apache_beam as beam

from pipelines.launch import beam_pipeline, fresh_output, is_local_run, join, write_rows
from pipelines.sentences import (SENTENCES_DIRECTORY, add_dump_arguments, check_corpus_options,
                                 prepare_corpus_job)
from pipelines.stages import (ReadWikidataFn, ResolutionsByShard, ResolveLinks, SentenceShardsOf, ShardLinks,
                              TitleTables, WriteManifest, WriteShards, open_input, read_once)
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
    """A sentence shard, the resolutions of its links and the facts between its linked entities -> its
    relx-distant rows, written as the output shard of the same number.

    Its links meet their resolutions, its entity pairs the facts between them, and its texts the labelled
    pairs, all in this one step, so no per-link record waits in the runner.
    """

    def __init__(self, shards, out: str, relations: dict[str, Relation], negatives: float, seed: int):
        self.shards, self.out = shards, out
        self.relations, self.negatives, self.seed = relations, negatives, seed

    def process(self, element, resolutions: Mapping | None = None, facts: Mapping | None = None):
        """`element`: a shard index, with the wiki's resolutions and facts by pair as side inputs; or
        (index, {"resolution": its own, "fact": about its entities}) from a join."""
        if resolutions is None:
            index, joined = element
            resolutions, facts = dict(joined["resolution"]), facts_by_pair(joined["fact"])
        else:
            index = element
        counts: Counter = Counter()
        rows = []
        for sentence in self.shards.read(index, columns=["lang", "page_id", "page_title", "sent_index", "text",
                                                         "links"]):
            rows += sentence_rows(sentence, resolutions, facts, self.relations, self.negatives, self.seed, counts)
        rows.sort(key=row_order)
        write_rows(join(self.out, shard_name(index, self.shards.count)), rows, RELX_DISTANT)
        counts.update(key for row in rows for key in count_keys(row))
        yield dict(counts)


def facts_by_pair(facts: Iterable[kb.Fact]) -> dict[str, list[kb.Fact]]:
    grouped: dict[str, list[kb.Fact]] = {}
    for fact in facts:
        grouped.setdefault(pair_key(fact.subject, fact.object), []).append(fact)
    return grouped


class ShardRows(beam.PTransform):
    """Shard indices, (title, shard index) of their links, (title, Resolution) and facts -> the output
    shards, written, and their counts.

    With `broadcast` (local runs) every worker gets all resolutions and the facts between linked entities
    as side inputs: Beam's in-process runner, which holds every collection in memory, holds less that way.
    Otherwise each shard is joined with the resolutions of its own links and the facts about the entities
    it links to, and no worker holds the wiki's.
    """

    def __init__(self, fn: ShardRowsFn, broadcast: bool):
        super().__init__()
        self.fn, self.broadcast = fn, broadcast

    def expand(self, pcolls):
        indices, linked, resolutions, facts = pcolls
        if self.broadcast:
            by_pair = (facts
                       | "KeyByPair" >> beam.Map(lambda fact: (pair_key(fact.subject, fact.object), fact))
                       | "ByPair" >> beam.GroupByKey())
            return (indices
                    | "Spread" >> beam.Reshuffle()
                    | "Write" >> beam.ParDo(self.fn, beam.pvalue.AsDict(resolutions), beam.pvalue.AsDict(by_pair)))
        by_shard = (linked, resolutions) | "ResolutionsByShard" >> ResolutionsByShard()
        return ({"shard": indices | "EveryShard" >> beam.Map(lambda index: (index, None)),
                 "resolution": by_shard, "fact": (by_shard, facts) | "FactsByShard" >> FactsByShard()}
                | "ByShard" >> beam.CoGroupByKey()
                | "Write" >> beam.ParDo(self.fn))


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
        yield from self.kb.facts(qids, self.properties)


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


def between_entities(fact: kb.Fact, entities: set[str]) -> bool:
    """Whether a fact joins two entities that the wiki links to: the only facts rows can use."""
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
    """(title, Resolution) -> the facts of the inventory about linked entities, from the Wikidata JSON dump, the
    truthy dump, or a SPARQL endpoint (exactly one).

    With `prefilter` (local runs) only the facts between two linked entities pass, checked against the set
    of linked QIDs in every worker: the in-process runner then never holds the rest of Wikidata's facts.
    Without it (clusters), `FactsByShard` keeps the facts of linked subjects by a join instead, and no
    worker holds the set.
    """

    def __init__(self, properties: frozenset[str], wikidata: str | None, wikidata_ranges: list[kb.DumpRange],
                 truthy: str | None, sparql: str | None, prefilter: bool):
        super().__init__()
        self.properties, self.wikidata, self.wikidata_ranges = properties, wikidata, wikidata_ranges
        self.truthy, self.sparql, self.prefilter = truthy, sparql, prefilter

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
            facts, counts = read.facts, read.counts
        elif self.truthy:
            facts = read_once(pipeline, "Truthy", self.truthy,
                              lambda path: kb.read_truthy_ntriples(path, self.properties, opener=open_input))
        else:
            facts = (entities
                     | "BatchQids" >> beam.BatchElements(min_batch_size=50, max_batch_size=200)
                     | "SparqlFacts" >> beam.ParDo(SparqlFactsFn(self.sparql, self.properties)))
        if self.prefilter:
            facts = facts | "BetweenLinked" >> beam.Filter(between_entities, beam.pvalue.AsSingleton(
                entities | "EntitySet" >> beam.combiners.ToSet()))
        return {"facts": facts, "counts": counts}


def facts_to_shards(element) -> Iterable[tuple[int, kb.Fact]]:
    _, joined = element
    shards = set(joined["shard"])
    for fact in joined["fact"]:
        for index in shards:
            yield index, fact


class FactsByShard(beam.PTransform):
    """(shard index, (title, Resolution)) and facts -> (shard index, fact) for each shard that links to the
    fact's subject: each shard gets the facts its rows can use."""

    def expand(self, pcolls):
        resolutions_by_shard, facts = pcolls
        subjects = resolutions_by_shard | "SubjectShards" >> beam.FlatMap(
            lambda element: [(element[1][1].qid, element[0])] if element[1][1].qid else [])
        return ({"shard": subjects, "fact": facts | "BySubject" >> beam.Map(lambda fact: (fact.subject, fact))}
                | "JoinSubjects" >> beam.CoGroupByKey()
                | "ToShards" >> beam.FlatMap(facts_to_shards))


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
    with job, fresh_output(args.out, args.overwrite), job.progress(args.out), beam_pipeline(job.options) as pipeline:
        source = pipeline | "SentenceShards" >> SentenceShardsOf(shards, job.extraction, description)
        links = source["shards"] | "ShardLinks" >> ShardLinks(shards)
        tables = ((links.articles, links.redirects)
                  | "TitleTables" >> TitleTables(args.lang, args.redirects, args.page_props, args.wikidata,
                                                 wikidata_ranges))
        edges, entries = tables["edges"], tables["entries"]
        lookup = SparqlTitles(args.sparql, args.lang) if args.sparql and not args.page_props else None
        resolutions = ((links.targets, edges, entries)
                       | "ResolveLinks" >> ResolveLinks(args.max_redirect_hops, lookup))
        local = is_local_run(job.options)
        facts = resolutions | "LinkedFacts" >> LinkedFacts(inventory.properties, args.wikidata, wikidata_ranges,
                                                           args.truthy, args.sparql, prefilter=local)
        written = ((source["shards"], links.linked, resolutions, facts["facts"])
                   | "ShardRows" >> ShardRows(
                       ShardRowsFn(shards, args.out, inventory.by_property(), args.negatives, args.seed), local))
        links_written = (resolutions
                         | "ResolutionRows" >> beam.Map(resolution_row(args.lang))
                         | "WriteResolutions" >> WriteShards(join(args.out, "links"), LINK_RESOLUTIONS, shards.count,
                                                             title_hash, lambda row: row["title"]))
        targets = resolutions | "CountTargets" >> beam.Map(lambda kv: {"link_targets": 1})
        _ = ((source["counts"], facts["counts"], written, links_written, targets)
             | "AllCounts" >> beam.Flatten()
             | "WriteManifest" >> WriteManifest(args.out, description, relx_outputs(
                 shards.count, None if args.sentences else SENTENCES_DIRECTORY)))
