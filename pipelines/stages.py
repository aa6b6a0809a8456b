"""The stages that every corpus job composes: sentence shards, link resolution, output, the manifest.

Extraction (the expensive part) runs once per dump and leaves sentence shards on disk, with the
dump's articles and redirects beside them; `run sentences` stops there, and the corpus jobs either
extract the same shards first or read those of an earlier run (`--sentences DIR`). After that,
what passes between stages grows with the wiki's titles, never with its links or sentences:
distinct link targets, redirect edges, title entries, one resolution per target, and the facts
between linked entities. A shard's sentences are read again only in the step that turns them into
rows with those tables at hand. Beam's in-process runner holds every PCollection between stages
in memory, so this is what keeps a whole wiki within one machine.
"""

from __future__ import annotations

import gc
import json
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable

import apache_beam as beam
from apache_beam.io.filesystems import CompressionTypes, FileSystems
from apache_beam.metrics import Metrics

from pipelines.launch import UnitProgress, join, write_rows, write_text
from relxdata import kb, sqldump
from relxdata.corpora import (ARTICLES, MANIFEST, QUARANTINE, REDIRECTS, SENTENCES, flat_counts, manifest,
                              read_shard, shard_name)
from relxdata.dumps import DumpPlan, WorkUnit, read_unit
from relxdata.errors import RelxdataError
from relxdata.extraction import ExtractionConfig, PageExtractor
from relxdata.linking import RedirectEdge, Resolution, TitleEntry, Walk, follow, settle
from relxdata.titles import LinkKind, TitleRules

# The side outputs of extraction, each a directory of shards named like the sentence shards.
SIDE_OUTPUTS = (("", SENTENCES, "sentences"), ("articles", ARTICLES, "articles"),
                ("redirects", REDIRECTS, "redirects"), ("quarantine", QUARANTINE, "quarantine"))
QUARANTINE_REASONS = ("too_large", "timeout", "parse_error")
# A redirect edge from the dump's own pages wins over one from redirect.sql (which may be older).
FROM_DUMP, FROM_SQL = 0, 1


def open_input(path: str):
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def sum_counts(counts: Iterable[dict]) -> dict:
    total: dict = {}
    for part in counts:
        for key, value in part.items():
            total[key] = total.get(key, 0) + value
    return total


# --- sentence shards ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class SentenceShards:
    """A directory of sentence shards and their side outputs, as `run sentences` writes it."""

    directory: str
    count: int
    lang: str
    case: str = "first-letter"
    namespaces: tuple[tuple[str, int], ...] = ()

    @classmethod
    def described(cls, directory: str, count: int, lang: str, siteinfo: dict) -> "SentenceShards":
        """The shards of a dump whose siteinfo is as `siteinfo_description` records it."""
        return cls(directory, count, lang, siteinfo["case"], tuple((name, key) for name, key in siteinfo["namespaces"]))

    def path(self, index: int, side: str = "") -> str:
        name = shard_name(index, self.count)
        return join(self.directory, side, name) if side else join(self.directory, name)

    def rules(self) -> TitleRules:
        return TitleRules.for_wiki(self.lang, self.case, self.namespaces)

    def read(self, index: int, side: str = "", columns: list[str] | None = None) -> list[dict]:
        with open_input(self.path(index, side)) as source:
            return read_shard(source, columns)


@dataclass(frozen=True)
class FinishedSentences:
    """An earlier `run sentences` output, checked: its shards, how it was made, and what it counted."""

    shards: SentenceShards
    manifest: dict

    @property
    def counts(self) -> dict[str, int]:
        """The extraction counts, flat ("pages.read": n), as the corpus job's manifest carries them on."""
        return flat_counts(self.manifest.get("counts", {}))

    def describe(self, job: str, config: dict, inputs: list[dict], started_at: float) -> "RunDescription":
        """A corpus job run on these sentences: their dump's fingerprint, date and siteinfo carry on."""
        made = self.manifest
        return RunDescription(
            job=job, config=config, inputs=[*made["inputs"], *inputs],
            extra={"sentences": {"directory": self.shards.directory, "config": made["config"]},
                   "dump": made["dump"], "sentence_splitter": made.get("sentence_splitter")},
            started_at=started_at, carried_counts=self.counts)


def finished_sentences(directory: str, lang: str) -> FinishedSentences:
    """The output of `run sentences` in `directory`, refused unless it is complete and for `lang`."""
    path = join(directory, MANIFEST)
    if not FileSystems.exists(path):
        raise RelxdataError(f"--sentences {directory}: no {MANIFEST}; is this the output of a finished "
                            "`relxdata run sentences`?")
    with open_input(path) as source:
        try:
            document = json.loads(source.read())
        except ValueError as exc:
            raise RelxdataError(f"{path}: not a relxdata manifest ({exc})") from None
    if document.get("job") != "sentences":
        raise RelxdataError(f"--sentences {directory}: the manifest is of a {document.get('job')!r} job, "
                            "not of `run sentences`")
    made_for = document.get("config", {}).get("lang")
    if made_for != lang:
        raise RelxdataError(f"--sentences {directory}: these sentences are of language {made_for!r}, not {lang!r}")
    dump = document.get("dump") or {}
    if "siteinfo" not in dump or not document.get("inputs"):
        raise RelxdataError(f"--sentences {directory}: the manifest names no dump fingerprint or siteinfo; "
                            "it was written by an older relxdata: run `relxdata run sentences` again")
    count = document["outputs"]["sentences"]["shards"]
    shards = SentenceShards.described(directory, count, lang, dump["siteinfo"])
    present = {match.path for result in FileSystems.match([join(directory, "part-*"), join(directory, "*", "part-*")])
               for match in result.metadata_list}
    missing = [shards.path(index, side) for index in range(count) for side in ("", "articles", "redirects")
               if shards.path(index, side) not in present]
    if missing:
        raise RelxdataError(f"--sentences {directory}: {len(missing)} of its shards are missing, e.g. {missing[0]}")
    return FinishedSentences(shards, document)


def siteinfo_description(plan: DumpPlan) -> dict:
    """What later jobs need to apply the wiki's title rules to the shards without the dump."""
    return {"case": plan.siteinfo.case,
            "namespaces": [[ns.name, ns.key] for ns in plan.siteinfo.namespaces if ns.name]}


class ExtractUnitFn(beam.DoFn):
    """Reads one work unit, extracts its sentences and writes its shards; yields the shard's index."""

    def __init__(self, plan: DumpPlan, config: ExtractionConfig, shards: SentenceShards, job: str,
                 progress: UnitProgress | None):
        self.plan, self.config, self.shards, self.job, self.progress = plan, config, shards, job, progress

    def setup(self):
        self.extractor = PageExtractor(self.config, self.plan.siteinfo)
        # spaCy's tables are long-lived: keep the collector, which runs between units, from rescanning them.
        gc.freeze()

    def process(self, unit: WorkUnit):
        pages = read_unit(self.plan, unit, open_input)
        output = self.extractor.extract(self.progress.counting(unit.index, pages) if self.progress else pages)
        for side, schema, kind in SIDE_OUTPUTS:
            write_rows(self.shards.path(unit.index, side), getattr(output, kind), schema)
        for key, value in output.counts.items():
            Metrics.counter(self.job, key).inc(value)
        yield beam.pvalue.TaggedOutput("counts", dict(output.counts))
        yield unit.index


class ExtractSentences(beam.PTransform):
    """Work units -> sentence shards on disk; the indices of the shards written, and each unit's counts."""

    def __init__(self, plan: DumpPlan, config: ExtractionConfig, shards: SentenceShards, job: str,
                 progress: UnitProgress | None):
        super().__init__()
        self.plan, self.config, self.shards, self.job, self.progress = plan, config, shards, job, progress

    def expand(self, units):
        return (units
                | "Distribute" >> beam.Reshuffle()
                | "ExtractAndWrite" >> beam.ParDo(ExtractUnitFn(self.plan, self.config, self.shards, self.job,
                                                                self.progress))
                .with_outputs("counts", main="shards"))


class SentenceShardsOf(beam.PTransform):
    """The numbers of a job's sentence shards once they are on disk, and the extraction's counts.

    With an extraction (a `DumpJob`), the dump is extracted into `shards` first, which then gets its
    own `run sentences` manifest; without one, the shards are those of an earlier run.
    """

    def __init__(self, shards: SentenceShards, extraction=None, description: "RunDescription | None" = None):
        super().__init__()
        self.shards, self.extraction, self.description = shards, extraction, description

    def expand(self, pipeline):
        if self.extraction is None:
            return {"shards": pipeline | "Existing" >> beam.Create(range(self.shards.count)),
                    "counts": pipeline | "NoCounts" >> beam.Create([])}
        plan, job = self.extraction.plan, self.description.job
        extracted = (pipeline
                     | "WorkUnits" >> beam.Create(plan.units)
                     | "Extract" >> ExtractSentences(plan, self.extraction.config, self.shards, job,
                                                     self.extraction.units))
        _ = extracted.counts | "WriteSentencesManifest" >> WriteManifest(
            self.shards.directory, replace(self.description, job="sentences"), sentences_outputs(self.shards.count))
        return {"shards": extracted.shards, "counts": extracted.counts}


def sentences_outputs(shards: int) -> Callable[[dict], dict]:
    def outputs(counts: dict) -> dict:
        quarantined = sum(counts.get(f"pages.skipped.{reason}", 0) for reason in QUARANTINE_REASONS)
        # An article is emitted, empty, or quarantined: every page of the kept namespaces but redirects.
        articles = counts.get("pages.emitted", 0) + counts.get("pages.skipped.empty", 0) + quarantined
        return {
            "sentences": {"directory": ".", "shards": shards, "rows": counts.get("sentences", 0)},
            "articles": {"directory": "articles", "shards": shards, "rows": articles},
            "redirects": {"directory": "redirects", "shards": shards,
                          "rows": counts.get("pages.skipped.redirect", 0)},
            "quarantine": {"directory": "quarantine", "shards": shards, "rows": quarantined},
        }
    return outputs


# --- what the shards say about links ---------------------------------------------------------------

class ShardLinksFn(beam.DoFn):
    """A sentence shard -> its distinct link target titles; on the side, (target, shard index) of each, and its
    articles and redirect edges."""

    def __init__(self, shards: SentenceShards):
        self.shards = shards

    def setup(self):
        self.rules = self.shards.rules()

    def process(self, index: int):
        targets = {link["target"] for row in self.shards.read(index, columns=["links"]) for link in row["links"]}
        for target in sorted(targets):
            yield target
            yield beam.pvalue.TaggedOutput("linked", (target, index))
        for row in self.shards.read(index, "articles", ["page_id", "title"]):
            yield beam.pvalue.TaggedOutput("articles", (row["page_id"], row["title"]))
            yield beam.pvalue.TaggedOutput("placed", (row["title"], index))
        for row in self.shards.read(index, "redirects", ["page_id", "title", "target"]):
            target = self.rules.classify(row["target"])
            edge = RedirectEdge(row["title"], target.title, target.kind is LinkKind.ARTICLE)
            yield beam.pvalue.TaggedOutput("redirects", (row["page_id"], edge))


class ShardLinks(beam.PTransform):
    """Shard indices -> link target titles, (title, shard index) of the targets linked in each shard, and the
    dump's (page_id, title) articles, (page_id, edge) redirects and (title, shard index) places of the
    articles."""

    def __init__(self, shards: SentenceShards):
        super().__init__()
        self.shards = shards

    def expand(self, indices):
        return (indices
                | "Spread" >> beam.Reshuffle()
                | "ReadLinks" >> beam.ParDo(ShardLinksFn(self.shards)).with_outputs(
                    "linked", "articles", "redirects", "placed", main="targets"))


# --- link resolution -----------------------------------------------------------------------------

def redirect_edges_from_sql(element) -> Iterable[tuple[str, tuple[int, RedirectEdge]]]:
    """redirect.sql rows meet the dump's pages on page id, which gives their titles."""
    _, joined = element
    for source in joined["title"]:
        for row in joined["row"]:
            article = row.namespace == 0 and not row.interwiki
            yield source, (FROM_SQL, RedirectEdge(source, row.title, article))


class RedirectEdges(beam.PTransform):
    """The dump's redirects, and redirect.sql's rows when given -> (source title, (priority, edge))."""

    def __init__(self, sql_rows=None):
        super().__init__()
        self.sql_rows = sql_rows  # (page_id, sqldump.Redirect) or None

    def expand(self, pcolls):
        articles, redirects = pcolls
        edges = redirects | "DumpEdges" >> beam.Map(lambda kv: (kv[1].source, (FROM_DUMP, kv[1])))
        if self.sql_rows is None:
            return edges
        titles = ((articles, redirects | "RedirectTitles" >> beam.Map(lambda kv: (kv[0], kv[1].source)))
                  | "PageTitles" >> beam.Flatten())
        sql_edges = ({"title": titles, "row": self.sql_rows}
                     | "JoinRedirectSql" >> beam.CoGroupByKey()
                     | "SqlEdges" >> beam.FlatMap(redirect_edges_from_sql))
        return (edges, sql_edges) | "AllEdges" >> beam.Flatten()


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


def settle_walks(element) -> Iterable[tuple[str, Resolution]]:
    _, joined = element
    entry = merge_entry(joined["entry"])
    for walk in joined["walk"]:
        yield walk.origin, settle(walk, entry)


class ResolveLinks(beam.PTransform):
    """Link target titles, redirect edges and title entries -> (title, Resolution) for each distinct target.

    `entries` holds (title, ("page"|"qid"|"disambiguation", value)); `lookup`, when given, maps the
    titles that walks arrive at to more such entries (a SPARQL endpoint for small jobs).
    """

    def __init__(self, max_hops: int, lookup: beam.PTransform | None = None):
        super().__init__()
        self.max_hops, self.lookup = max_hops, lookup

    def expand(self, pcolls):
        targets, edges, entries = pcolls
        walks = (targets
                 | "DistinctTargets" >> beam.Distinct()
                 | "StartWalks" >> beam.Map(lambda title: (title, Walk.start(title))))
        arrived = (walks, edges) | "FollowRedirects" >> FollowRedirects(self.max_hops)
        if self.lookup is not None:
            looked_up = (arrived
                         | "ArrivedTitles" >> beam.Keys()
                         | "DistinctArrived" >> beam.Distinct()
                         | "LookUp" >> self.lookup)
            entries = (entries, looked_up) | "WithLookedUp" >> beam.Flatten()
        return ({"walk": arrived, "entry": entries}
                | "JoinEntries" >> beam.CoGroupByKey()
                | "Settle" >> beam.FlatMap(settle_walks))


def resolutions_to_shards(element) -> Iterable[tuple[int, tuple[str, Resolution]]]:
    title, joined = element
    for resolution in joined["resolution"]:
        for index in joined["linked"]:
            yield index, (title, resolution)


class ResolutionsByShard(beam.PTransform):
    """(title, shard index) of the links and (title, Resolution) -> (shard index, (title, Resolution)): each
    shard gets the resolutions of its own links, where a side input would put all of them in every worker."""

    def expand(self, pcolls):
        linked, resolutions = pcolls
        return ({"linked": linked, "resolution": resolutions}
                | "ByTitle" >> beam.CoGroupByKey()
                | "ToShards" >> beam.FlatMap(resolutions_to_shards))


# --- what titles are: page ids, QIDs, disambiguation marks ------------------------------------

def read_once(pipeline, label: str, path: str, read):
    """A file that only one worker can stream (SQL and N-Triples dumps) as a PCollection."""
    return pipeline | f"{label}Path" >> beam.Create([path]) | f"Read{label}" >> beam.FlatMap(read)


def title_entries_from_page_props(element) -> Iterable[tuple[str, tuple[str, str]]]:
    """page_props rows meet the dump's articles on page id, which gives their titles."""
    _, joined = element
    for title in joined["title"]:
        for prop in joined["prop"]:
            if prop.name == "wikibase_item":
                yield title, ("qid", prop.value)
            elif prop.name == "disambiguation":
                yield title, ("disambiguation", "")


class TitleEntries(beam.PTransform):
    """The dump's (page_id, title) articles -> what each title is: (title, ("page"|"qid"|"disambiguation", value)),
    from the dump itself and from page_props, or else from the Wikidata dump's sitelinks."""

    def __init__(self, lang: str, page_props: str | None, wikidata: str | None,
                 wikidata_ranges: list[kb.DumpRange]):
        super().__init__()
        self.lang, self.page_props, self.wikidata, self.wikidata_ranges = lang, page_props, wikidata, wikidata_ranges

    def expand(self, articles):
        pipeline = articles.pipeline
        entries = [articles | "Pages" >> beam.Map(lambda kv: (kv[1], ("page", "")))]
        if self.page_props:
            props = read_once(pipeline, "PageProps", self.page_props,
                              lambda path: ((p.page_id, p) for p in sqldump.read_page_props(path, opener=open_input)))
            entries.append({"title": articles, "prop": props}
                           | "JoinPageProps" >> beam.CoGroupByKey()
                           | "PagePropEntries" >> beam.FlatMap(title_entries_from_page_props))
        elif self.wikidata:
            entries.append(pipeline
                           | "SitelinkRanges" >> beam.Create(self.wikidata_ranges)
                           | "SpreadSitelinkRanges" >> beam.Reshuffle()
                           | "ReadSitelinks" >> beam.ParDo(ReadSitelinksFn(self.wikidata, f"{self.lang}wiki")))
        return entries | "AllEntries" >> beam.Flatten()


class TitleTables(beam.PTransform):
    """The (page_id, title) articles and (page_id, edge) redirects that `ShardLinks` found -> the redirect edges
    (the dump's, and redirect.sql's when given) and the title entries (pages, QIDs, disambiguation marks) that
    link resolution needs."""

    def __init__(self, lang: str, redirects_sql: str | None, page_props: str | None, wikidata: str | None,
                 wikidata_ranges: list[kb.DumpRange]):
        super().__init__()
        self.lang, self.redirects_sql, self.page_props = lang, redirects_sql, page_props
        self.wikidata, self.wikidata_ranges = wikidata, wikidata_ranges

    def expand(self, pcolls):
        articles, redirects = pcolls
        sql_rows = None
        if self.redirects_sql:
            sql_rows = read_once(articles.pipeline, "RedirectSql", self.redirects_sql, lambda path: (
                (row.page_id, row) for row in sqldump.read_redirects(path, open_input)))
        return {"edges": (articles, redirects) | "RedirectEdges" >> RedirectEdges(sql_rows),
                "entries": articles | "TitleEntries" >> TitleEntries(self.lang, self.page_props, self.wikidata,
                                                                     self.wikidata_ranges)}


class ReadWikidataFn(beam.DoFn):
    """One range of the Wikidata JSON dump -> the item facts of `properties` and the value facts (quantities,
    times, strings) of `value_properties`; the entities read, and values skipped, on the side."""

    def __init__(self, path: str, properties: frozenset[str], job: str, value_properties: frozenset[str] = frozenset()):
        self.path, self.properties, self.job, self.value_properties = path, properties, job, value_properties

    def process(self, dump_range):
        counts: Counter = Counter()
        for entity in kb.read_json_dump_range(self.path, dump_range, opener=open_input):
            counts["kb.entities"] += 1
            yield from kb.entity_facts(entity, self.properties)
            if self.value_properties:
                yield from kb.entity_values(entity, self.value_properties, counts)
        Metrics.counter(self.job, "wikidata_entities").inc(counts["kb.entities"])
        yield beam.pvalue.TaggedOutput("counts", dict(counts))


class ReadSitelinksFn(beam.DoFn):
    """One range of the JSON dump -> the wiki's titles as title entries: their item, disambiguation marks.

    A pass of its own: the facts that rows can use are known only once titles are resolved."""

    def __init__(self, path: str, site: str):
        self.path, self.site = path, site

    def process(self, dump_range):
        for entity in kb.read_json_dump_range(self.path, dump_range, opener=open_input):
            title = kb.entity_sitelink(entity, self.site)
            if title is not None:
                yield title, ("qid", entity["id"])
                if any(fact.object == kb.DISAMBIGUATION_PAGE for fact in kb.entity_facts(entity, frozenset({"P31"}))):
                    yield title, ("disambiguation", "")


# --- output ------------------------------------------------------------------------------------------

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
        every_shard = rows.pipeline | "EveryShard" >> beam.Create([(shard, None) for shard in range(self.shards)])
        placed = rows | "Place" >> beam.Map(lambda row: (int(self.key(row)[:12], 16) % self.shards, row))
        return ((placed, every_shard)
                | "WithEveryShard" >> beam.Flatten()
                | "GroupByShard" >> beam.GroupByKey()
                | "Write" >> beam.ParDo(WriteShardFn(self.directory, self.schema, self.order), shards=self.shards))


# --- the manifest ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunDescription:
    """How a run is described in its manifest: what was asked, from which inputs, and what it found."""

    job: str
    config: dict
    inputs: list[dict]
    extra: dict = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)
    # Counts that an earlier stage already made (the extraction behind `--sentences`).
    carried_counts: dict = field(default_factory=dict)

    def manifest(self, counts: dict, outputs: dict) -> str:
        return manifest(job=self.job, config=self.config, inputs=self.inputs, counts=counts, outputs=outputs,
                        extra=self.extra, wall_seconds=time.time() - self.started_at)


class WriteManifest(beam.PTransform):
    """A PCollection of count dicts -> their sum, then `_manifest.json` in `out`, written once every count
    (and so every shard written before it) is in. `outputs(counts)` describes the output directories."""

    def __init__(self, out: str, description: RunDescription, outputs: Callable[[dict], dict]):
        super().__init__()
        self.out, self.description, self.outputs = out, description, outputs

    def expand(self, counts):
        return (counts
                | "SumCounts" >> beam.CombineGlobally(sum_counts)
                | "Write" >> beam.Map(self.write))

    def write(self, counts: dict) -> None:
        counts = sum_counts([self.description.carried_counts, counts])
        write_text(join(self.out, MANIFEST), self.description.manifest(counts, self.outputs(counts)))
