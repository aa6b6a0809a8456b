"""Wikipedia dump -> sentences that carry their links: Parquet shards + `_manifest.json`.

    relxdata run sentences --lang en --dump enwiki-...-pages-articles-multistream.xml.bz2 \
        --index enwiki-...-multistream-index.txt.bz2 --out sentences/en [beam options]

One work unit (a run of whole bz2 streams or pages, about --pages-per-shard pages) becomes one
shard in each output, so the output is the same whatever the runner or worker count.
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import time
from dataclasses import dataclass

from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from pipelines.launch import (PageProgress, Progress, ShardProgress, UnitProgress, beam_pipeline, fresh_output,
                              is_local_run, is_within, join, pipeline_options)
from pipelines.stages import (RunDescription, SentenceShards, SentenceShardsOf, finished_sentences, open_input,
                              siteinfo_description)
from relxdata import sqldump
from relxdata.corpora import file_fingerprint
from relxdata.dumps import DumpPlan, plan_dump
from relxdata.errors import RelxdataError
from relxdata.extraction import ExtractionConfig
from relxdata.sentences import SentenceSplitter

JOB = "sentences"
# Where a corpus job that extracts the dump itself keeps its sentence shards, inside its --out.
SENTENCES_DIRECTORY = "sentences"


def add_dump_arguments(parser: argparse.ArgumentParser, sentences_instead: bool = False) -> None:
    """The options of every job that reads a Wikipedia dump into sentences; with `sentences_instead`
    the job may read the shards of an earlier `run sentences` instead of the dump."""
    parser.add_argument("--lang", required=True, help="wiki language code, e.g. en, de, ja")
    source = parser.add_mutually_exclusive_group(required=True) if sentences_instead else parser
    source.add_argument("--dump", required=not sentences_instead,
                        help="*-pages-articles-multistream.xml.bz2 (with --index), *.xml.bz2, *.xml.gz, *.xml.xz, "
                             "*.xml.zst or *.xml")
    if sentences_instead:
        source.add_argument("--sentences", metavar="DIR",
                            help="the output of an earlier `relxdata run sentences` of this wiki, read instead "
                                 "of extracting the dump again")
    parser.add_argument("--index", help="the multistream index (-index.txt or -index.txt.bz2)")
    parser.add_argument("--out", required=True, help="output directory (local path or gs://...)")
    parser.add_argument("--limit", type=int, help="read only the first N pages of the dump")
    parser.add_argument("--pages-per-shard", type=int, default=1000,
                        help="pages per work unit and output shard (default 1000)")
    parser.add_argument("--namespaces", default="0", help="comma-separated namespaces to keep (default 0)")
    parser.add_argument("--spacy-model", help="an installed trained spaCy pipeline to split sentences with")
    parser.add_argument("--allow-truncated", action="store_true",
                        help="keep every whole page of a truncated dump and record the truncation")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output in --out")
    parser.add_argument("--page-timeout", type=float, default=60.0,
                        help="seconds one page may take before it is quarantined (default 60)")
    parser.add_argument("--max-page-bytes", type=int, default=4 << 20,
                        help="larger wikitext is quarantined (default 4 MiB)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="relxdata run sentences",
        description="Turn a Wikipedia XML dump into sentences with their links (Parquet shards + manifest). "
                    "Options not listed here go to Beam, e.g. --runner DataflowRunner --project P --region R.")
    add_dump_arguments(parser)
    return parser


def dump_date(path: str) -> str | None:
    """The date in a Wikimedia dump's file name (enwiki-20160111-...), if it has one."""
    match = re.search(r"-(\d{8})-", os.path.basename(path))
    return match.group(1) if match else None


@dataclass(frozen=True)
class DumpJob:
    """A checked dump job: its plan, extraction settings, and how the manifest describes it."""

    plan: DumpPlan
    config: ExtractionConfig
    options: PipelineOptions
    description: RunDescription
    # Where the workers of a local run tell their pages done; None on a cluster.
    units: UnitProgress | None

    def progress(self) -> PageProgress:
        return PageProgress(self.units or UnitProgress.fresh(), {unit.index: unit.pages for unit in self.plan.units},
                            self.units is not None)

    def __enter__(self) -> DumpJob:
        return self

    def __exit__(self, *exc_info) -> None:
        """The run is over: its workers are done with the plan's copy of the XML, if it has one."""
        if self.plan.xml_copy is not None:
            self.plan.xml_copy.remove()

    def shards(self, directory: str) -> SentenceShards:
        """Where this job's sentence shards go."""
        return SentenceShards.described(directory, len(self.plan.units), self.config.lang,
                                        self.description.extra["dump"]["siteinfo"])


def check_files(paths) -> None:
    for path in filter(None, paths):
        if not FileSystems.exists(path):
            raise RelxdataError(f"no such file: {path}")
        if os.path.isdir(path):
            raise RelxdataError(f"{path} is a directory, not a file")


def prepare_dump_job(args: argparse.Namespace, pipeline_args: list[str], inputs: list[str], job: str,
                     started_at: float) -> DumpJob:
    """Check the dump options, plan the work units, and describe the run; `inputs` are fingerprinted."""
    check_files((args.dump, args.index, *inputs))
    if args.limit is not None and args.limit < 1:
        raise RelxdataError("--limit must be a positive number of pages")
    if args.pages_per_shard < 1:
        raise RelxdataError("--pages-per-shard must be positive")
    try:
        namespaces = tuple(int(ns) for ns in args.namespaces.split(","))
    except ValueError:
        raise RelxdataError(f"--namespaces takes comma-separated integers, not {args.namespaces!r}") from None
    config = ExtractionConfig(lang=args.lang, namespaces=namespaces, spacy_model=args.spacy_model,
                              max_page_bytes=args.max_page_bytes, page_timeout_s=args.page_timeout)
    splitter = SentenceSplitter(args.lang, args.spacy_model).info  # fails early on a bad language or model
    # Local workers share this machine's disk: a single-stream dump is then decompressed only once.
    local = is_local_run(pipeline_options(pipeline_args))
    plan = plan_dump(args.dump, args.index, pages_per_unit=args.pages_per_shard, limit=args.limit,
                     allow_truncated=args.allow_truncated, parallelization=os.cpu_count() or 1,
                     opener=open_input, copy_xml_in=tempfile.gettempdir() if local else None)
    options = pipeline_options(pipeline_args, work_units=len(plan.units))
    description = RunDescription(
        job=job,
        config={**vars(args), "namespaces": list(namespaces), "beam_options": pipeline_args,
                "runner": str(options.view_as(StandardOptions).runner)},
        inputs=[file_fingerprint(path, open_input) for path in filter(None, (args.dump, args.index, *inputs))],
        extra={
            "dump": {"date": dump_date(args.dump), "dbname": plan.siteinfo.dbname,
                     "generator": plan.siteinfo.generator, "schema_version": plan.siteinfo.schema_version,
                     "compression": plan.compression.value, "pages_planned": plan.pages,
                     "truncation": vars(plan.truncation) if plan.truncation else None,
                     "siteinfo": siteinfo_description(plan)},
            "sentence_splitter": vars(splitter),
        },
        started_at=started_at)
    return DumpJob(plan, config, options, description, UnitProgress.fresh() if local else None)


@dataclass(frozen=True)
class CorpusSource:
    """Where a corpus job's sentences come from: extracted from the dump first (`extraction`), or the
    shards of an earlier `run sentences` (`--sentences`); and how the job's manifest describes them."""

    extraction: DumpJob | None
    shards: SentenceShards
    options: PipelineOptions
    description: RunDescription

    def progress(self, out: str) -> Progress:
        if self.extraction:  # extraction is most of the work: count its pages
            return self.extraction.progress()
        # each sentence shard becomes the output shard of the same number
        return ShardProgress(out, self.shards.count, is_local_run(self.options))

    def __enter__(self) -> CorpusSource:
        return self

    def __exit__(self, *exc_info) -> None:
        if self.extraction:
            self.extraction.__exit__(*exc_info)


def check_corpus_options(args: argparse.Namespace) -> None:
    """The options every corpus job shares: the negative rate, the redirect hops, and `--sentences`, which
    replaces extraction (the options that shape it are refused, and a directory that --out replaces)."""
    if not 0.0 <= args.negatives <= 1.0:
        raise RelxdataError("--negatives takes a rate between 0 and 1")
    if args.max_redirect_hops < 1:
        raise RelxdataError("--max-redirect-hops must be at least 1")
    if not args.sentences:
        return
    ignored = [option for option, value in (("--index", args.index), ("--limit", args.limit),
                                            ("--spacy-model", args.spacy_model)) if value]
    if ignored:
        raise RelxdataError(f"{', '.join(ignored)} shape extraction, which --sentences has done already; "
                            "leave them out, or give --dump instead")
    if is_within(args.sentences, args.out):
        raise RelxdataError(f"--sentences {args.sentences} lies inside --out {args.out}, whose old output is "
                            "replaced: copy or move the sentences out first")


def prepare_corpus_job(args: argparse.Namespace, pipeline_args: list[str], inputs: list[str], job: str,
                       started_at: float) -> CorpusSource:
    """The sentences of a corpus job (relx-distant, smiler), checked; `inputs` (its other files) fingerprinted.
    With --dump, the shards go to OUT/sentences, a `run sentences` output of its own."""
    check_files(inputs)
    for path, table in ((args.page_props, "page_props"), (args.redirects, "redirect")):
        if path:
            sqldump.check_table_dump(path, table, opener=open_input)
    if args.sentences:
        finished = finished_sentences(args.sentences, args.lang)
        description = finished.describe(job, {**vars(args), "beam_options": pipeline_args},
                                        [file_fingerprint(path, open_input) for path in inputs], started_at)
        return CorpusSource(None, finished.shards, pipeline_options(pipeline_args, finished.shards.count),
                            description)
    extraction = prepare_dump_job(args, pipeline_args, inputs, job=job, started_at=started_at)
    return CorpusSource(extraction, extraction.shards(join(args.out, SENTENCES_DIRECTORY)), extraction.options,
                        extraction.description)


def run(argv: list[str] | None = None) -> None:
    started_at = time.time()
    args, pipeline_args = build_parser().parse_known_args(argv)
    job = prepare_dump_job(args, pipeline_args, inputs=[], job=JOB, started_at=started_at)
    plan, shards = job.plan, job.shards(args.out)
    with job, fresh_output(args.out, args.overwrite), job.progress(), beam_pipeline(job.options) as pipeline:
        _ = pipeline | "SentenceShards" >> SentenceShardsOf(shards, job, job.description)
