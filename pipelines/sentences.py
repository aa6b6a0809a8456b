"""Wikipedia dump -> sentences that carry their links: Parquet shards + `_manifest.json`.

    relxdata run sentences --lang en --dump enwiki-...-pages-articles-multistream.xml.bz2 \
        --index enwiki-...-multistream-index.txt.bz2 --out sentences/en [beam options]

One work unit (a run of whole bz2 streams or pages, about --pages-per-shard pages) becomes one
shard in each output, so the output is the same whatever the runner or worker count.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import time
from dataclasses import dataclass

import apache_beam as beam
from apache_beam.io.filesystems import CompressionTypes, FileSystems
from apache_beam.metrics import Metrics

from pipelines.launch import (ShardProgress, beam_pipeline, is_local_run, join, pipeline_options, prepare_output,
                              write_rows, write_text)
from relxdata.corpora import MANIFEST, QUARANTINE, REDIRECTS, SENTENCES, file_fingerprint, manifest, shard_name
from relxdata.dumps import DumpPlan, WorkUnit, plan_dump, read_unit
from relxdata.errors import RelxdataError
from relxdata.extraction import ExtractionConfig, PageExtractor
from relxdata.sentences import SentenceSplitter

JOB = "sentences"
SIDE_OUTPUTS = (("", SENTENCES, "sentences"), ("redirects", REDIRECTS, "redirects"),
                ("quarantine", QUARANTINE, "quarantine"))


def add_dump_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of every job that reads a Wikipedia dump into sentences."""
    parser.add_argument("--lang", required=True, help="wiki language code, e.g. en, de, ja")
    parser.add_argument("--dump", required=True,
                        help="*-pages-articles-multistream.xml.bz2 (with --index), *.xml.bz2, *.xml.gz or *.xml")
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


def open_input(path: str):
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


class ExtractUnitFn(beam.DoFn):
    """Reads one work unit, extracts its sentences and writes its shards; yields its counts."""

    def __init__(self, plan: DumpPlan, config: ExtractionConfig, out: str):
        self.plan, self.config, self.out = plan, config, out

    def setup(self):
        self.extractor = PageExtractor(self.config, self.plan.siteinfo)
        # spaCy's tables are long-lived: keep the collector from rescanning them for every page.
        gc.freeze()

    def process(self, unit: WorkUnit):
        output = self.extractor.extract(read_unit(self.plan, unit, open_input))
        name = shard_name(unit.index, len(self.plan.units))
        for directory, schema, kind in SIDE_OUTPUTS:
            write_rows(join(self.out, directory, name) if directory else join(self.out, name),
                       getattr(output, kind), schema)
        for key, value in output.counts.items():
            Metrics.counter(JOB, key).inc(value)
        yield dict(output.counts)


class ExtractSentences(beam.PTransform):
    """Work units -> shards written under `out`; the output PCollection holds each unit's counts."""

    def __init__(self, plan: DumpPlan, config: ExtractionConfig, out: str):
        super().__init__()
        self.plan, self.config, self.out = plan, config, out

    def expand(self, units):
        return (units
                | "Distribute" >> beam.Reshuffle()
                | "ExtractAndWrite" >> beam.ParDo(ExtractUnitFn(self.plan, self.config, self.out)))


def sum_counts(counts) -> dict:
    total: dict = {}
    for unit_counts in counts:
        for key, value in unit_counts.items():
            total[key] = total.get(key, 0) + value
    return total


QUARANTINE_REASONS = ("too_large", "timeout", "parse_error")


def write_manifest(counts: dict, out: str, description: dict, started_at: float, shards: int) -> None:
    """Runs after every shard is written; its file marks the output complete."""
    outputs = {
        "sentences": {"directory": ".", "shards": shards, "rows": counts.get("sentences", 0)},
        "redirects": {"directory": "redirects", "shards": shards, "rows": counts.get("pages.skipped.redirect", 0)},
        "quarantine": {"directory": "quarantine", "shards": shards,
                       "rows": sum(counts.get(f"pages.skipped.{reason}", 0) for reason in QUARANTINE_REASONS)},
    }
    text = manifest(job=JOB, counts=counts, outputs=outputs, wall_seconds=time.time() - started_at, **description)
    write_text(join(out, MANIFEST), text)


def dump_date(path: str) -> str | None:
    """The date in a Wikimedia dump's file name (enwiki-20160111-...), if it has one."""
    match = re.search(r"-(\d{8})-", os.path.basename(path))
    return match.group(1) if match else None


@dataclass(frozen=True)
class DumpJob:
    """A checked dump job: its plan, extraction settings, and how the manifest describes it."""

    plan: DumpPlan
    config: ExtractionConfig
    options: beam.options.pipeline_options.PipelineOptions
    description: dict


def prepare_dump_job(args: argparse.Namespace, pipeline_args: list[str], inputs: list[str]) -> DumpJob:
    """Check the dump options, plan the work units, and describe the run; `inputs` are fingerprinted."""
    for path in filter(None, (args.dump, args.index, *inputs)):
        if not FileSystems.exists(path):
            raise RelxdataError(f"no such file: {path}")
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
    options = pipeline_options(pipeline_args)
    plan = plan_dump(args.dump, args.index, pages_per_unit=args.pages_per_shard, limit=args.limit,
                     allow_truncated=args.allow_truncated, parallelization=os.cpu_count() or 1,
                     opener=open_input)
    description = {
        "config": {**vars(args), "namespaces": list(namespaces), "beam_options": pipeline_args,
                   "runner": str(options.view_as(beam.options.pipeline_options.StandardOptions).runner)},
        "inputs": [file_fingerprint(path, open_input) for path in filter(None, (args.dump, args.index, *inputs))],
        "extra": {
            "dump": {"date": dump_date(args.dump), "dbname": plan.siteinfo.dbname,
                     "generator": plan.siteinfo.generator, "schema_version": plan.siteinfo.schema_version,
                     "compression": plan.compression.value, "pages_planned": plan.pages,
                     "truncation": vars(plan.truncation) if plan.truncation else None},
            "sentence_splitter": vars(splitter),
        },
    }
    return DumpJob(plan, config, options, description)


def run(argv: list[str] | None = None) -> None:
    started_at = time.time()
    args, pipeline_args = build_parser().parse_known_args(argv)
    job = prepare_dump_job(args, pipeline_args, inputs=[])
    plan = job.plan
    prepare_output(args.out, args.overwrite)
    shards = len(plan.units)
    progress = ShardProgress(args.out, {unit.index: unit.pages for unit in plan.units}, is_local_run(job.options))
    with progress, beam_pipeline(job.options) as pipeline:
        _ = (pipeline
             | "WorkUnits" >> beam.Create(plan.units)
             | "ExtractSentences" >> ExtractSentences(plan, job.config, args.out)
             | "SumCounts" >> beam.CombineGlobally(sum_counts)
             | "WriteManifest" >> beam.Map(write_manifest, args.out, job.description, started_at, shards))
