"""Wikipedia dump + knowledge base -> RELX-Distant rows: Parquet shards + `_manifest.json`.

    relxdata run relx-distant --lang en --dump enwiki-...-multistream.xml.bz2 --index ... \\
        --page-props enwiki-...-page_props.sql.gz --wikidata latest-all.json.bz2 --out relx/en

Every big table meets another only in a join on keys, so no worker holds a whole map:
1. pages -> sentences with links (as `run sentences`), the dump's article titles, redirect edges;
2. every distinct link target walks the redirects, one CoGroupByKey per hop;
3. the title a walk arrives at is joined with the title -> QID table (page_props joined with the
   dump's page ids, Wikidata sitelinks, or SPARQL lookups for small jobs);
4. resolutions go back to their pages; every pair of entities in a sentence is joined with the
   facts between them, keyed by the unordered pair;
5. rows are hashed into shards, sorted and written; the manifest comes last.
"""

from __future__ import annotations

import argparse
import hashlib
import gc
import itertools
import math
import time
from typing import Iterable

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipelines.launch import (ShardProgress, beam_pipeline, is_local_run, join, prepare_output, write_rows,
                              write_text)
from pipelines.sentences import add_dump_arguments, open_input, prepare_dump_job, sum_counts
from relxdata import kb, sqldump
from relxdata.corpora import LINK_RESOLUTIONS, MANIFEST, QUARANTINE, RELX_DISTANT, manifest, shard_name
from relxdata.distant import SentenceRef, entity_pairs, fact_rows, keeps_negative, mentions, negative_row, pair_key
from relxdata.dumps import DumpPlan, WorkUnit, read_unit
from relxdata.errors import RelxdataError
from relxdata.extraction import ExtractionConfig, PageExtractor
from relxdata.linking import (DEFAULT_MAX_HOPS, RedirectEdge, Resolution, TitleEntry, Walk, follow,
                              settle)
from relxdata.relations import Relation, load_relations
from relxdata.titles import LinkKind

JOB = "relx-distant"
DISAMBIGUATION_ITEM = "Q4167410"
# A redirect edge from the dump's own pages wins over one from redirect.sql (which may be older).
FROM_DUMP, FROM_SQL = 0, 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="relxdata run relx-distant",
        description="Sentences whose linked entities have a Wikidata fact, as RELX-Distant rows (Parquet shards "
                    "+ manifest). Options not listed here go to Beam, e.g. --runner DataflowRunner.")
    add_dump_arguments(parser)
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
    parser.add_argument("--num-shards", type=int, help="output shards (default: one per 20 work units)")
    parser.add_argument("--wikidata-parts", type=int, default=64,
                        help="ranges the Wikidata JSON dump is read in, in parallel (default 64)")
    return parser


def check_sources(args: argparse.Namespace) -> None:
    given = [name for name in ("wikidata", "truthy", "sparql") if getattr(args, name)]
    if len(given) != 1:
        raise RelxdataError("give exactly one source of facts: --wikidata, --truthy or --sparql")
    if not (args.page_props or args.wikidata or args.sparql):
        raise RelxdataError("--truthy has no sitelinks: give --page-props to map titles to QIDs")
    if not 0.0 <= args.negatives <= 1.0:
        raise RelxdataError("--negatives takes a rate between 0 and 1")
    if args.max_redirect_hops < 1:
        raise RelxdataError("--max-redirect-hops must be at least 1")
    if args.num_shards is not None and args.num_shards < 1:
        raise RelxdataError("--num-shards must be positive")


# --- 1. pages ---------------------------------------------------------------------------------

class ExtractPagesFn(beam.DoFn):
    """One work unit -> its pages' linked sentences; titles, redirect edges and counts on the side."""

    def __init__(self, plan: DumpPlan, config: ExtractionConfig, out: str):
        self.plan, self.config, self.out = plan, config, out

    def setup(self):
        self.extractor = PageExtractor(self.config, self.plan.siteinfo)
        gc.freeze()  # spaCy's tables live as long as the worker

    def process(self, unit: WorkUnit):
        output = self.extractor.extract(read_unit(self.plan, unit, open_input))
        write_rows(join(self.out, "quarantine", shard_name(unit.index, len(self.plan.units))),
                   output.quarantine, QUARANTINE)
        linked = (row for row in output.sentences if row["links"])
        for page_id, rows in itertools.groupby(linked, key=lambda row: row["page_id"]):
            yield page_id, list(rows)
        for page_id, title in output.articles:
            yield beam.pvalue.TaggedOutput("articles", (page_id, title))
        for row in output.redirects:
            target = self.extractor.rules.classify(row["target"])
            edge = RedirectEdge(row["title"], target.title, target.kind is LinkKind.ARTICLE)
            yield beam.pvalue.TaggedOutput("redirects", (row["page_id"], edge))
        yield beam.pvalue.TaggedOutput("counts", dict(output.counts))


# --- 2.-3. link resolution ----------------------------------------------------------------------

def redirect_edges_from_sql(element) -> Iterable[tuple[str, tuple[int, RedirectEdge]]]:
    """redirect.sql rows meet the dump's pages on page id, which gives their titles."""
    _, joined = element
    for source in joined["title"]:
        for row in joined["row"]:
            article = row.namespace == 0 and not row.interwiki
            yield source, (FROM_SQL, RedirectEdge(source, row.title, article))


def title_entries_from_page_props(element) -> Iterable[tuple[str, tuple[str, str]]]:
    """page_props rows meet the dump's articles on page id, which gives their titles."""
    _, joined = element
    for title in joined["title"]:
        for prop in joined["prop"]:
            if prop.name == "wikibase_item":
                yield title, ("qid", prop.value)
            elif prop.name == "disambiguation":
                yield title, ("disambiguation", "")


def merge_entry(parts: Iterable[tuple[str, str]]) -> TitleEntry:
    qid, disambiguation, is_page = None, False, False
    for kind, value in parts:
        if kind == "qid":
            qid = min(qid, value) if qid else value
        elif kind == "disambiguation":
            disambiguation = True
        elif kind == "page":
            is_page = True
    return TitleEntry(qid, disambiguation, is_page)


class FollowRedirects(beam.PTransform):
    """(title, Walk) and (title, (priority, edge)) -> finished walks keyed by where they arrived."""

    def __init__(self, max_hops: int):
        super().__init__()
        self.max_hops = max_hops

    def expand(self, pcolls):
        walks, edges = pcolls
        finished = []
        for hop in range(self.max_hops + 1):
            stepped = ({"walk": walks, "edge": edges}
                       | f"Hop{hop}" >> beam.CoGroupByKey()
                       | f"Follow{hop}" >> beam.FlatMap(self.step).with_outputs("done", main="walking"))
            finished.append(stepped.done)
            walks = stepped.walking
        # `follow` ends every walk by hop max_hops + 1 (as arrived, looped or too long).
        return finished | "Finished" >> beam.Flatten()

    def step(self, element):
        current, joined = element
        edges = sorted(joined["edge"], key=lambda edge: edge[0])
        edge = edges[0][1] if edges else None
        for walk in joined["walk"]:
            walk = follow(walk, edge, self.max_hops)
            if walk.done:
                yield beam.pvalue.TaggedOutput("done", (walk.current, walk))
            else:
                yield walk.current, walk


def settle_walks(element) -> Iterable[tuple[str, Resolution]]:
    title, joined = element
    entry = merge_entry(joined["entry"])
    for walk in joined["walk"]:
        yield walk.origin, settle(walk, entry)


# --- 4. rows ----------------------------------------------------------------------------------

def lost_resolution(page_id: int, target: str) -> str:
    # Every target of a page is settled before the join, so a gap means the runner dropped elements.
    return (f"page {page_id} links to {target!r}, but no resolution of that title reached the page: "
            "the runner lost elements between the joins. Beam's local runner does this with several worker "
            "processes on an overloaded machine (see docs/performance.md); rerun with --direct_num_workers 1 "
            "or on an idle machine")


class SentencePairsFn(beam.DoFn):
    """A page's sentences + its links' resolutions -> entity pairs keyed for the fact join."""

    def __init__(self, lang: str):
        self.lang = lang

    def process(self, element):
        page_id, joined = element
        resolutions = {resolution.title: resolution for resolution in joined["resolution"]}
        qids = {title: resolution.qid for title, resolution in resolutions.items() if resolution.qid}
        counts: dict[str, int] = {}
        for rows in joined["sentences"]:
            for row in rows:
                for link in row["links"]:
                    resolution = resolutions.get(link["target"])
                    if resolution is None:
                        raise RelxdataError(lost_resolution(page_id, link["target"]))
                    key = "links.resolved" if resolution.qid else f"links.unresolved.{resolution.reason.value}"
                    counts[key] = counts.get(key, 0) + 1
                found = mentions(row["links"], qids)
                if len(found) < 2:
                    continue
                sentence = SentenceRef(self.lang, page_id, row["page_title"], row["sent_index"], row["text"])
                for first, second in entity_pairs(found):
                    counts["entity_pairs"] = counts.get("entity_pairs", 0) + 1
                    yield pair_key(first.qid, second.qid), (sentence, first, second)
        yield beam.pvalue.TaggedOutput("counts", counts)


class MakeRowsFn(beam.DoFn):
    """Entity pairs + the facts between them -> relx-distant rows (and sampled negatives)."""

    def __init__(self, relations: dict[str, Relation], negatives: float, seed: int):
        self.relations, self.negatives, self.seed = relations, negatives, seed

    def process(self, element):
        _, joined = element
        facts = list(joined["fact"])
        for sentence, first, second in joined["pair"]:
            rows = fact_rows(sentence, first, second, facts, self.relations)
            if not rows and keeps_negative(sentence, first, second, self.negatives, self.seed):
                rows = [negative_row(sentence, first, second)]
            yield from rows


def fact_by_pair(fact: kb.Fact):
    return pair_key(fact.subject, fact.object), fact


# --- knowledge sources ----------------------------------------------------------------------------

class ReadWikidataFn(beam.DoFn):
    """One range of the JSON dump -> facts of the inventory, and the wiki's sitelinks as title entries."""

    def __init__(self, path: str, properties: frozenset[str], site: str, need_sitelinks: bool):
        self.path, self.properties, self.site, self.need_sitelinks = path, properties, site, need_sitelinks

    def process(self, dump_range):
        wanted = self.properties | {"P31"}
        entities = 0
        for entity in kb.read_json_dump_range(self.path, dump_range, opener=open_input):
            entities += 1
            facts = kb.entity_facts(entity, wanted)
            for fact in facts:
                if fact.property in self.properties:
                    yield fact_by_pair(fact)
            title = kb.entity_sitelink(entity, self.site) if self.need_sitelinks else None
            if title is not None:
                yield beam.pvalue.TaggedOutput("entries", (title, ("qid", entity["id"])))
                if any(f.property == "P31" and f.object == DISAMBIGUATION_ITEM for f in facts):
                    yield beam.pvalue.TaggedOutput("entries", (title, ("disambiguation", "")))
        Metrics.counter(JOB, "wikidata_entities").inc(entities)
        yield beam.pvalue.TaggedOutput("counts", {"kb.entities": entities})


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


def read_once(pipeline, label: str, path: str, read):
    """A file that only one worker can stream (SQL and N-Triples dumps) as a PCollection."""
    return pipeline | f"{label}Path" >> beam.Create([path]) | f"Read{label}" >> beam.FlatMap(read)


# --- 5. output -------------------------------------------------------------------------------------

class WriteShardFn(beam.DoFn):
    def __init__(self, directory: str, schema, order):
        self.directory, self.schema, self.order = directory, schema, order

    def process(self, element, shards: int):
        shard, rows = element
        rows = sorted((row for row in rows if row is not None), key=self.order)
        write_rows(join(self.directory, shard_name(shard, shards)), rows, self.schema)
        yield {}  # nothing to count, but the manifest waits for it


class WriteShards(beam.PTransform):
    """Rows -> exactly `shards` files, each row placed by a hash of its key and sorted in its file."""

    def __init__(self, directory: str, schema, shards: int, key, order):
        super().__init__()
        self.directory, self.schema, self.shards, self.key, self.order = directory, schema, shards, key, order

    def expand(self, rows):
        every_shard = rows.pipeline | beam.Create([(shard, None) for shard in range(self.shards)])
        placed = rows | beam.Map(lambda row: (int(self.key(row)[:12], 16) % self.shards, row))
        return ((placed, every_shard)
                | beam.Flatten()
                | beam.GroupByKey()
                | beam.ParDo(WriteShardFn(self.directory, self.schema, self.order), shards=self.shards))


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


def count_row(row: dict) -> dict:
    return {"rows": 1, f"rows_by_language.{row['lang']}": 1, f"rows_by_category.{row['category']}": 1,
            f"rows_by_relation.{row['relation']}": 1}


def write_manifest(counts: dict, out: str, description: dict, started_at: float, shards: int) -> None:
    outputs = {
        "relx-distant": {"directory": ".", "shards": shards, "rows": counts.get("rows", 0)},
        "links": {"directory": "links", "shards": shards, "rows": counts.get("link_targets", 0)},
        "quarantine": {"directory": "quarantine", "shards": description["units"],
                       "rows": sum(value for key, value in counts.items()
                                   if key in ("pages.skipped.too_large", "pages.skipped.timeout",
                                              "pages.skipped.parse_error"))},
    }
    text = manifest(job=JOB, config=description["config"], inputs=description["inputs"], counts=counts,
                    outputs=outputs, extra=description["extra"], wall_seconds=time.time() - started_at)
    write_text(join(out, MANIFEST), text)


def run(argv: list[str] | None = None) -> None:
    started_at = time.time()
    args, pipeline_args = build_parser().parse_known_args(argv)
    check_sources(args)
    inventory = load_relations(args.relations)
    inputs = [path for path in (args.page_props, args.redirects, args.wikidata, args.truthy) if path]
    job = prepare_dump_job(args, pipeline_args, inputs)
    plan, lang = job.plan, args.lang
    properties = inventory.properties
    relations = inventory.by_property()
    shards = args.num_shards or max(1, math.ceil(len(plan.units) / 20))
    wikidata_ranges = (kb.plan_json_dump(args.wikidata, args.wikidata_parts, opener=open_input)
                       if args.wikidata else [])
    description = {**job.description, "units": len(plan.units)}
    description["extra"] = {**job.description["extra"], "relations": {
        "source": inventory.source, "categories": sorted({r.category for r in inventory.relations}),
        "properties": sorted(properties)}}
    prepare_output(args.out, args.overwrite)
    progress = ShardProgress(join(args.out, "quarantine"), {unit.index: unit.pages for unit in plan.units},
                             is_local_run(job.options))
    with progress, beam_pipeline(job.options) as pipeline:
        extracted = (pipeline
                     | "WorkUnits" >> beam.Create(plan.units)
                     | "Distribute" >> beam.Reshuffle()
                     | "ExtractPages" >> beam.ParDo(ExtractPagesFn(plan, job.config, args.out)).with_outputs(
                         "articles", "redirects", "counts", main="pages"))
        pages, articles, counts = extracted.pages, extracted.articles, [extracted.counts]

        # Redirect edges by source title: the dump's own, and redirect.sql's joined with its pages on page id.
        edges = extracted.redirects | "DumpEdges" >> beam.Map(lambda kv: (kv[1].source, (FROM_DUMP, kv[1])))
        if args.redirects:
            sql_rows = read_once(pipeline, "RedirectSql", args.redirects,
                                 lambda path: ((row.page_id, row) for row in sqldump.read_redirects(path, open_input)))
            titles = ((articles, extracted.redirects | "RedirectTitles" >> beam.Map(lambda kv: (kv[0], kv[1].source)))
                      | "PageTitles" >> beam.Flatten())
            sql_edges = ({"title": titles, "row": sql_rows}
                         | "JoinRedirectSql" >> beam.CoGroupByKey()
                         | "SqlEdges" >> beam.FlatMap(redirect_edges_from_sql))
            edges = (edges, sql_edges) | "AllEdges" >> beam.Flatten()

        # What each title is: a page of the dump, an item, a disambiguation page.
        entries = [articles | "Pages" >> beam.Map(lambda kv: (kv[1], ("page", "")))]
        if args.page_props:
            props = read_once(pipeline, "PageProps", args.page_props,
                              lambda path: ((p.page_id, p) for p in sqldump.read_page_props(path, opener=open_input)))
            entries.append({"title": articles, "prop": props}
                           | "JoinPageProps" >> beam.CoGroupByKey()
                           | "PagePropEntries" >> beam.FlatMap(title_entries_from_page_props))

        # Facts keyed by entity pair (and sitelinks, when they map titles).
        if args.wikidata:
            read = (pipeline
                    | "WikidataRanges" >> beam.Create(wikidata_ranges)
                    | "SpreadRanges" >> beam.Reshuffle()
                    | "ReadWikidata" >> beam.ParDo(ReadWikidataFn(
                        args.wikidata, properties, f"{lang}wiki", need_sitelinks=not args.page_props)).with_outputs(
                        "entries", "counts", main="facts"))
            facts = read.facts
            counts.append(read.counts)
            if not args.page_props:
                entries.append(read.entries)
        elif args.truthy:
            facts = read_once(pipeline, "Truthy", args.truthy, lambda path: map(
                fact_by_pair, kb.read_truthy_ntriples(path, properties, opener=open_input)))

        # Link targets walk the redirects, then meet their title's entry.
        targets = (pages
                   | "Targets" >> beam.FlatMap(lambda kv: ((target, kv[0]) for target in sorted(
                       {link["target"] for row in kv[1] for link in row["links"]}))))
        walks = (targets
                 | "TargetTitles" >> beam.Keys()
                 | "DistinctTargets" >> beam.Distinct()
                 | "StartWalks" >> beam.Map(lambda title: (title, Walk.start(title))))
        arrived = (walks, edges) | "FollowRedirects" >> FollowRedirects(args.max_redirect_hops)
        if args.sparql and not args.page_props:
            entries.append(arrived
                           | "ArrivedTitles" >> beam.Keys()
                           | "DistinctArrived" >> beam.Distinct()
                           | "BatchTitles" >> beam.BatchElements(min_batch_size=50, max_batch_size=200)
                           | "SparqlTitles" >> beam.ParDo(SparqlTitlesFn(args.sparql, lang)))
        resolutions = ({"walk": arrived, "entry": entries | "AllEntries" >> beam.Flatten()}
                       | "JoinEntries" >> beam.CoGroupByKey()
                       | "Settle" >> beam.FlatMap(settle_walks))

        # Resolutions go back to their pages; entity pairs meet their facts.
        by_page = ({"resolution": resolutions, "page": targets}
                   | "JoinTargets" >> beam.CoGroupByKey()
                   | "ByPage" >> beam.FlatMap(lambda kv: ((page_id, resolution)
                                                          for page_id in kv[1]["page"]
                                                          for resolution in kv[1]["resolution"])))
        pairs = ({"sentences": pages, "resolution": by_page}
                 | "JoinPages" >> beam.CoGroupByKey()
                 | "EntityPairs" >> beam.ParDo(SentencePairsFn(lang)).with_outputs("counts", main="pairs"))
        counts.append(pairs.counts)
        if args.sparql:
            facts = (pairs.pairs
                     | "PairQids" >> beam.FlatMap(lambda kv: (kv[1][1].qid, kv[1][2].qid))
                     | "DistinctQids" >> beam.Distinct()
                     | "BatchQids" >> beam.BatchElements(min_batch_size=50, max_batch_size=200)
                     | "SparqlFacts" >> beam.ParDo(SparqlFactsFn(args.sparql, properties)))
        rows = ({"pair": pairs.pairs, "fact": facts}
                | "JoinFacts" >> beam.CoGroupByKey()
                | "MakeRows" >> beam.ParDo(MakeRowsFn(relations, args.negatives, args.seed)))

        counts.append(rows | "CountRows" >> beam.Map(count_row))
        counts.append(resolutions | "CountTargets" >> beam.Map(lambda kv: {"link_targets": 1}))
        written = [
            rows | "WriteRows" >> WriteShards(args.out, RELX_DISTANT, shards, lambda row: row["id"], row_order),
            (resolutions
             | "ResolutionRows" >> beam.Map(resolution_row(lang))
             | "WriteResolutions" >> WriteShards(join(args.out, "links"), LINK_RESOLUTIONS, shards, title_hash,
                                                 lambda row: row["title"])),
        ]
        _ = ((*counts, *written)
             | "AllCounts" >> beam.Flatten()
             | "SumCounts" >> beam.CombineGlobally(sum_counts)
             | "WriteManifest" >> beam.Map(write_manifest, args.out, description, started_at, shards))
