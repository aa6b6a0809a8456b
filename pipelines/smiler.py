"""Sentence shards + DBpedia (and Wikidata) -> SMiLER rows: Parquet shards + `_manifest.json`.

    relxdata run smiler --lang en --dump enwiki-...-multistream.xml.bz2 --index ... \\
        --dbpedia mappingbased-objects_lang=en.ttl.bz2,mappingbased-literals_lang=en.ttl.bz2 \\
        --page-props enwiki-...-page_props.sql.gz --out smiler/en
    relxdata run smiler --lang de --sentences sentences/de --dbpedia mappingbased-objects_lang=en.ttl.bz2 \\
        --wikidata latest-all.json.bz2 --out smiler/de

The stages (pipelines/stages.py) are those of relx-distant up to link resolution; then:
1. the knowledge source's facts of the inventory become labelled facts keyed by entity 1, in the
   label's direction: from the wiki's own DBpedia chapter (keyed by its titles), from another
   chapter (carried over through the Wikidata QIDs of both entities), from Wikidata for the labels
   DBpedia lacks, or from a DBpedia-shaped SPARQL endpoint;
2. each article that holds sentences gathers what is known about its subject (its facts, the
   titles it has a fact with, the redirects to it, its QID) and goes to the shard it lies in;
3. each sentence shard, with that and the resolutions of its links at hand, becomes the output shard of
   the same number (relxdata.smiler decides the rows). The manifest comes last.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from dataclasses import replace
from typing import Iterable, Mapping

import apache_beam as beam

from pipelines.launch import beam_pipeline, fresh_output, is_local_run, join, write_rows
from pipelines.sentences import (SENTENCES_DIRECTORY, add_dump_arguments, check_files, check_corpus_options,
                                 prepare_corpus_job)
from pipelines.stages import (ReadSitelinksFn, ReadWikidataFn, ResolutionsByShard, ResolveLinks, SentenceShardsOf,
                              ShardLinks, TitleTables, WriteManifest, merge_entry, open_input)
from relxdata import dbpedia, kb
from relxdata.corpora import SMILER, shard_name
from relxdata.errors import RelxdataError
from relxdata.kb import Literal
from relxdata.linking import DEFAULT_MAX_HOPS
from relxdata.relations import LabelSource, load_smiler_labels
from relxdata.smiler import ArticleKnowledge, article_rows, fact_order, labelled_facts

JOB = "smiler"
SENTENCE_COLUMNS = ["page_id", "page_title", "sent_index", "text", "links"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="relxdata run smiler",
        description="Sentences of entity 1's article that mention entity 2, labelled with a DBpedia (or Wikidata) "
                    "relation, as SMiLER rows (Parquet shards + manifest). Options not listed here go to Beam, "
                    "e.g. --runner DataflowRunner.")
    add_dump_arguments(parser, sentences_instead=True)
    titles = parser.add_argument_group("titles")
    titles.add_argument("--page-props", help="the wiki's page_props.sql(.gz): QIDs (for splits and entity QIDs) "
                                             "and disambiguation marks")
    titles.add_argument("--redirects", help="the wiki's redirect.sql(.gz), besides the dump's redirect pages")
    titles.add_argument("--max-redirect-hops", type=int, default=DEFAULT_MAX_HOPS,
                        help=f"longest redirect chain followed (default {DEFAULT_MAX_HOPS})")
    facts = parser.add_argument_group("facts")
    facts.add_argument("--dbpedia", metavar="TTL[,TTL...]",
                       help="DBpedia mapping-based objects and literals dumps (.ttl/.nt, bz2, gz or plain) of one "
                            "chapter; another chapter's facts are carried over through Wikidata QIDs (--wikidata)")
    facts.add_argument("--sparql", metavar="URL", help="a DBpedia-shaped SPARQL endpoint of this wiki's chapter "
                                                       "(small jobs), instead of --dbpedia")
    facts.add_argument("--wikidata", help="Wikidata JSON dump: the labels DBpedia lacks, sitelinks (QIDs), and "
                                          "with no DBpedia source, every label")
    parser.add_argument("--relations", help="SMiLER inventory, JSON lines (default: the shipped 35 labels; "
                                            "see `relxdata relations --schema smiler`)")
    parser.add_argument("--negatives", type=float, default=0.05, metavar="RATE",
                        help="keep this share of entity-1/linked-entity pairs without any fact as no_relation "
                             "(default 0.05)")
    parser.add_argument("--seed", type=int, default=13, help="seed of the negative sample (default 13)")
    parser.add_argument("--wikidata-parts", type=int, default=64,
                        help="ranges the Wikidata JSON dump is read in, in parallel (default 64)")
    parser.add_argument("--dbpedia-parts", type=int, default=16,
                        help="ranges each DBpedia dump is read in, in parallel (default 16)")
    return parser


def check_sources(args: argparse.Namespace) -> list[str]:
    """The DBpedia dump paths; refuses a combination of sources that cannot give rows."""
    paths = [path.strip() for path in (args.dbpedia or "").split(",") if path.strip()]
    if args.dbpedia is not None and not paths:
        raise RelxdataError("--dbpedia names no file")
    if not (paths or args.sparql or args.wikidata):
        raise RelxdataError("give a source of facts: --dbpedia, --sparql or --wikidata")
    if paths and args.sparql:
        raise RelxdataError("give --dbpedia or --sparql, not both")
    check_corpus_options(args)
    return paths


def dbpedia_chapter(paths: list[str], lang: str, wikidata: str | None) -> str | None:
    """The one chapter the DBpedia dumps are of; another chapter than the wiki's needs Wikidata's sitelinks."""
    if not paths:
        return None
    chapters = {path: dbpedia.chapter_of(path, opener=open_input) for path in paths}
    if len(set(chapters.values())) > 1:
        raise RelxdataError("the --dbpedia files are of different chapters: "
                            + ", ".join(f"{path} ({chapter})" for path, chapter in chapters.items()))
    chapter = next(iter(chapters.values()))
    if chapter != lang and not wikidata:
        raise RelxdataError(f"the --dbpedia files are of the {chapter!r} chapter, not {lang!r}: their facts are carried "
                            "over through Wikidata QIDs, so give --wikidata (its sitelinks name both wikis' articles)")
    return chapter


# --- facts -------------------------------------------------------------------------------------------

class ReadDbpediaFn(beam.DoFn):
    """(path, range) of a DBpedia dump -> its facts of `properties`, keyed by the chapter's titles."""

    def __init__(self, chapter: str, properties: frozenset[str]):
        self.chapter, self.properties = chapter, properties

    def process(self, part):
        path, dump_range = part
        counts: Counter = Counter()
        yield from dbpedia.read_dbpedia_range(path, dump_range, self.chapter, self.properties, counts,
                                              opener=open_input)
        yield beam.pvalue.TaggedOutput("counts", dict(counts))


class SparqlDbpediaFn(beam.DoFn):
    """A batch of article titles -> the facts of the inventory to and from them, from a DBpedia-shaped endpoint."""

    def __init__(self, endpoint: str, chapter: str, source: LabelSource):
        self.endpoint, self.chapter = endpoint, chapter
        self.direct = frozenset(p for p, labels in source.labels.items() if any(not inv for _, inv in labels))
        self.inverse = frozenset(p for p, labels in source.labels.items() if any(inv for _, inv in labels))

    def setup(self):
        self.kb = dbpedia.DbpediaSparql(self.endpoint, self.chapter)

    def process(self, titles: list[str]):
        yield from self.kb.facts(titles, self.direct)
        yield from self.kb.facts_to(titles, self.inverse)
        yield beam.pvalue.TaggedOutput("counts", dict(self.kb.counts))
        self.kb.counts.clear()


class LabelFactsFn(beam.DoFn):
    """A fact -> (entity 1, labelled fact) for each label it gives."""

    def __init__(self, source: LabelSource):
        self.source = source

    def process(self, fact: kb.Fact):
        found, mismatched = labelled_facts(fact, self.source)
        yield from found
        if mismatched:
            yield beam.pvalue.TaggedOutput("counts", {"facts.skipped.value_kind_mismatch": mismatched})


def rekey_entity_1(element, space: str):
    """Facts of entity 1 in one key space meet its key in the next (QID or title); unmatched are counted."""
    key, joined = element
    facts = joined["fact"]
    if not joined["to"]:
        yield beam.pvalue.TaggedOutput("counts", {f"facts.skipped.entity_1_without_{space}": len(facts)})
        return
    for new_key in joined["to"]:
        for fact in facts:
            yield new_key, fact


def rekey_entity_2(element, space: str):
    _, joined = element
    if not joined["to"]:
        yield beam.pvalue.TaggedOutput("counts", {f"facts.skipped.entity_2_without_{space}": len(joined["fact"])})
        return
    for new_key in joined["to"]:
        for entity_1, fact in joined["fact"]:
            qid = fact.entity_2 if space == "title" else fact.entity_2_qid
            yield entity_1, replace(fact, entity_2=new_key, entity_2_qid=qid)


class Rekey(beam.PTransform):
    """(key, labelled fact) in one key space -> the same facts with both entities keyed in the next, through a
    (key, new key) mapping: chapter titles -> QIDs, or QIDs -> this wiki's titles."""

    def __init__(self, space: str):
        super().__init__()
        self.space = space

    def expand(self, pcolls):
        facts, mapping = pcolls
        first = ({"fact": facts, "to": mapping}
                 | "JoinEntity1" >> beam.CoGroupByKey()
                 | "Entity1" >> beam.FlatMap(rekey_entity_1, self.space).with_outputs("counts", main="facts"))
        values = first.facts | "Values" >> beam.Filter(lambda kv: isinstance(kv[1].entity_2, Literal))
        entities = (first.facts
                    | "Entities" >> beam.Filter(lambda kv: not isinstance(kv[1].entity_2, Literal))
                    | "ByEntity2" >> beam.Map(lambda kv: (kv[1].entity_2, kv)))
        second = ({"fact": entities, "to": mapping}
                  | "JoinEntity2" >> beam.CoGroupByKey()
                  | "Entity2" >> beam.FlatMap(rekey_entity_2, self.space).with_outputs("counts", main="facts"))
        return {"facts": (values, second.facts) | "Rekeyed" >> beam.Flatten(),
                "counts": (first.counts, second.counts) | "RekeyCounts" >> beam.Flatten()}


def qid_entries(element) -> Iterable[tuple[str, str]]:
    title, (kind, value) = element
    if kind == "qid":
        yield title, value


class LabelledFacts(beam.PTransform):
    """Everything the sources say, as (title of entity 1 in this wiki, LabelledFact)."""

    def __init__(self, args: argparse.Namespace, chapter: str | None, paths: list[str], sources, wikidata_ranges):
        super().__init__()
        self.args, self.chapter, self.paths, self.wikidata_ranges = args, chapter, paths, wikidata_ranges
        self.from_dbpedia, self.from_wikidata = sources

    def expand(self, pcolls):
        articles_placed, entries = pcolls
        pipeline = entries.pipeline
        args = self.args
        wiki_titles = (entries
                       | "QidEntries" >> beam.FlatMap(qid_entries)
                       | "ByQid" >> beam.Map(lambda kv: (kv[1], kv[0])))
        labelled, counts = [], []
        if self.paths or args.sparql:
            if self.paths:
                parts = [(path, part) for path in self.paths
                         for part in kb.plan_line_dump(path, args.dbpedia_parts, opener=open_input)]
                read = (pipeline
                        | "DbpediaRanges" >> beam.Create(parts)
                        | "SpreadDbpedia" >> beam.Reshuffle()
                        | "ReadDbpedia" >> beam.ParDo(ReadDbpediaFn(self.chapter, self.from_dbpedia.properties))
                        .with_outputs("counts", main="facts"))
            else:
                read = (articles_placed
                        | "ArticleTitles" >> beam.Keys()
                        | "BatchTitles" >> beam.BatchElements(min_batch_size=50, max_batch_size=200)
                        | "SparqlDbpedia" >> beam.ParDo(SparqlDbpediaFn(args.sparql, args.lang, self.from_dbpedia))
                        .with_outputs("counts", main="facts"))
            counts.append(read.counts)
            dbpedia_facts = self.labelled(read.facts, self.from_dbpedia, "Dbpedia", counts)
            if self.chapter not in (None, args.lang):
                chapter_qids = (pipeline
                                | "ChapterSitelinkRanges" >> beam.Create(self.wikidata_ranges)
                                | "SpreadChapterSitelinks" >> beam.Reshuffle()
                                | "ReadChapterSitelinks" >> beam.ParDo(
                                    ReadSitelinksFn(args.wikidata, f"{self.chapter}wiki"))
                                | "ChapterQids" >> beam.FlatMap(qid_entries))
                dbpedia_facts = self.rekeyed(dbpedia_facts, chapter_qids, "qid", "ChapterToQid", counts)
                dbpedia_facts = self.rekeyed(dbpedia_facts, wiki_titles, "title", "QidToTitle", counts)
            labelled.append(dbpedia_facts)
        if self.from_wikidata.properties:
            read = (pipeline
                    | "WikidataRanges" >> beam.Create(self.wikidata_ranges)
                    | "SpreadWikidata" >> beam.Reshuffle()
                    | "ReadWikidata" >> beam.ParDo(ReadWikidataFn(args.wikidata, self.from_wikidata.entity_properties,
                                                                  JOB, self.from_wikidata.value_properties))
                    .with_outputs("counts", main="facts"))
            counts.append(read.counts)
            wikidata_facts = self.labelled(read.facts, self.from_wikidata, "Wikidata", counts)
            labelled.append(self.rekeyed(wikidata_facts, wiki_titles, "title", "WikidataToTitle", counts))
        return {"facts": labelled | "AllFacts" >> beam.Flatten(), "counts": counts | "FactCounts" >> beam.Flatten()}

    @staticmethod
    def labelled(facts, source: LabelSource, name: str, counts: list):
        labelled = facts | f"Label{name}" >> beam.ParDo(LabelFactsFn(source)).with_outputs("counts", main="facts")
        counts.append(labelled.counts)
        return labelled.facts

    @staticmethod
    def rekeyed(facts, mapping, space: str, name: str, counts: list):
        rekeyed = (facts, mapping) | name >> Rekey(space)
        counts.append(rekeyed["counts"])
        return rekeyed["facts"]


# --- what is known about each article -----------------------------------------------------------------

def related_titles(element) -> Iterable[tuple[str, str]]:
    """A fact between two entities relates them both ways: neither pair is a no_relation negative."""
    entity_1, fact = element
    if not isinstance(fact.entity_2, Literal):
        yield entity_1, fact.entity_2
        yield fact.entity_2, entity_1


def redirect_aliases(element) -> Iterable[tuple[str, str]]:
    """A title that reaches an article through redirects is one of its names."""
    title, resolution = element
    if resolution.hops and resolution.arrived:
        yield resolution.arrived, title


class ArticleKnowledgeFn(beam.DoFn):
    def __init__(self, with_negatives: bool):
        self.with_negatives = with_negatives

    def process(self, element):
        title, joined = element
        facts = sorted(set(joined["fact"]), key=fact_order)
        if not joined["placed"]:
            if facts:
                yield beam.pvalue.TaggedOutput("counts", {"facts.skipped.entity_1_without_article": len(facts)})
            return
        if not facts and not self.with_negatives:
            return
        knowledge = ArticleKnowledge(title, merge_entry(joined["entry"]).qid, tuple(sorted(set(joined["alias"]))),
                                     tuple(facts), frozenset(joined["related"]))
        for index in joined["placed"]:
            yield index, knowledge


class ArticleKnowledgeByShard(beam.PTransform):
    """Facts, related titles, redirect names and QIDs of each article -> (shard index, ArticleKnowledge)."""

    def __init__(self, with_negatives: bool):
        super().__init__()
        self.with_negatives = with_negatives

    def expand(self, parts):
        placed, facts, resolutions, entries = parts
        gathered = ({"placed": placed, "fact": facts,
                     "related": facts | "Related" >> beam.FlatMap(related_titles),
                     "alias": resolutions | "Aliases" >> beam.FlatMap(redirect_aliases),
                     "entry": entries | "QidsOnly" >> beam.Filter(lambda kv: kv[1][0] == "qid")}
                    | "ByArticle" >> beam.CoGroupByKey()
                    | "Know" >> beam.ParDo(ArticleKnowledgeFn(self.with_negatives)).with_outputs("counts",
                                                                                                 main="known"))
        return {"known": gathered.known, "counts": gathered.counts}


# --- rows ---------------------------------------------------------------------------------------------

class ShardRowsFn(beam.DoFn):
    """A sentence shard, the knowledge of its articles and the resolutions of its links -> its SMiLER rows,
    written as the output shard of the same number."""

    def __init__(self, shards, out: str, negatives: float, seed: int):
        self.shards, self.out, self.negatives, self.seed = shards, out, negatives, seed

    def process(self, element, resolutions: Mapping | None = None):
        """`element`: (index, {"known": ..., "resolution": its own links'}) from a join, or without
        "resolution" when the wiki's resolutions come as a side input."""
        index, joined = element
        if resolutions is None:
            resolutions = dict(joined["resolution"])
        known = {knowledge.title: knowledge for knowledge in joined["known"]}
        names = {row["title"]: row.get("lead_names") or []
                 for row in self.shards.read(index, "articles") if row["title"] in known}
        by_page: dict[str, list[dict]] = {}
        for sentence in self.shards.read(index, columns=SENTENCE_COLUMNS):
            if sentence["page_title"] in known:
                by_page.setdefault(sentence["page_title"], []).append(sentence)
        counts: Counter = Counter()
        rows = []
        for title, sentences in by_page.items():
            knowledge = known[title]
            knowledge = replace(knowledge, names=tuple(dict.fromkeys([*names.get(title, []), *knowledge.names])))
            counts["articles.with_knowledge"] += 1
            rows += article_rows(knowledge, sorted(sentences, key=lambda s: s["sent_index"]), resolutions,
                                 lang=self.shards.lang, case=self.shards.case, negatives=self.negatives,
                                 seed=self.seed, counts=counts)
        rows.sort(key=lambda row: row["page_id"])  # stable: each article's rows stay in sentence order
        write_rows(join(self.out, shard_name(index, self.shards.count)), rows, SMILER)
        for row in rows:
            counts.update(("rows", f"rows_by_language.{row['lang']}", f"rows_by_label.{row['label']}",
                           f"rows_by_split.{row['split']}", f"rows_by_mention.entity_1.{row['mention_1']}",
                           f"rows_by_mention.entity_2.{row['mention_2']}"))
        yield dict(counts)


def smiler_outputs(shards: int, sentences_directory: str | None):
    def outputs(counts: dict) -> dict:
        described = {"smiler": {"directory": ".", "shards": shards, "rows": counts.get("rows", 0)}}
        if sentences_directory:
            described["sentences"] = {"directory": sentences_directory, "shards": shards,
                                      "rows": counts.get("sentences", 0)}
        return described
    return outputs


def run(argv: list[str] | None = None) -> None:
    started_at = time.time()
    args, pipeline_args = build_parser().parse_known_args(argv)
    paths = check_sources(args)
    inventory = load_smiler_labels(args.relations)
    inputs = [path for path in (args.page_props, args.redirects, *paths, args.wikidata) if path]
    check_files(inputs)
    chapter = dbpedia_chapter(paths, args.lang, args.wikidata) if paths else (args.lang if args.sparql else None)
    sources = inventory.sources(dbpedia=bool(paths or args.sparql), wikidata=bool(args.wikidata))
    job = prepare_corpus_job(args, pipeline_args, inputs, JOB, started_at)
    shards, description = job.shards, job.description
    wikidata_ranges = (kb.plan_line_dump(args.wikidata, args.wikidata_parts, opener=open_input)
                       if args.wikidata else [])
    description = replace(description, extra={**description.extra, "relations": {
        "source": inventory.source, "labels": [label.label for label in inventory.labels],
        "dbpedia_chapter": chapter, "dbpedia_properties": sorted(sources[0].properties),
        "wikidata_properties": sorted(sources[1].properties)}})
    with (job, fresh_output(args.out, args.overwrite), job.progress(args.out),
          beam_pipeline(job.options) as pipeline):
        source = pipeline | "SentenceShards" >> SentenceShardsOf(shards, job.extraction, description)
        links = source["shards"] | "ShardLinks" >> ShardLinks(shards)
        tables = ((links.articles, links.redirects)
                  | "TitleTables" >> TitleTables(args.lang, args.redirects, args.page_props, args.wikidata,
                                                 wikidata_ranges))
        edges, entries = tables["edges"], tables["entries"]
        names = links.redirects | "RedirectTitles" >> beam.Map(lambda kv: kv[1].source)
        titles = (links.targets, names) | "TitlesToResolve" >> beam.Flatten()
        resolutions = (titles, edges, entries) | "ResolveLinks" >> ResolveLinks(args.max_redirect_hops)
        facts = (links.placed, entries) | "LabelledFacts" >> LabelledFacts(args, chapter, paths, sources,
                                                                          wikidata_ranges)
        known = ((links.placed, facts["facts"], resolutions, entries)
                 | "ArticleKnowledge" >> ArticleKnowledgeByShard(args.negatives > 0))
        every_shard = source["shards"] | "EveryShard" >> beam.Map(lambda index: (index, None))
        by_shard = {"shard": every_shard, "known": known["known"]}
        # Locally every worker gets all resolutions (the in-process runner holds less that way); on a
        # cluster each shard is joined with its own links' resolutions, and no worker holds the wiki's.
        side_inputs = [beam.pvalue.AsDict(resolutions)] if is_local_run(job.options) else []
        if not side_inputs:
            by_shard["resolution"] = (links.linked, resolutions) | "ResolutionsByShard" >> ResolutionsByShard()
        written = (by_shard
                   | "KnowledgeByShard" >> beam.CoGroupByKey()
                   | "ShardRows" >> beam.ParDo(ShardRowsFn(shards, args.out, args.negatives, args.seed),
                                               *side_inputs))
        _ = ((source["counts"], facts["counts"], known["counts"], written)
             | "AllCounts" >> beam.Flatten()
             | "WriteManifest" >> WriteManifest(args.out, description, smiler_outputs(
                 shards.count, None if args.sentences else SENTENCES_DIRECTORY)))
