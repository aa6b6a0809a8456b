"""What every relxdata pipeline does around Beam: runner options, output directories, progress."""

from __future__ import annotations

import glob
import os
import re
import threading

import apache_beam as beam
from apache_beam.io.filesystems import CompressionTypes, FileSystems
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions, WorkerOptions
from apache_beam.portability.api import beam_provision_api_pb2
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.runners.portability.fn_api_runner.fn_runner import ExtendedProvisionInfo
from tqdm import tqdm

from relxdata.corpora import MANIFEST, write_shard
from relxdata.errors import RelxdataError

# The DirectRunner may hand a pipeline to Prism, which downloads a binary: run in-process instead.
IN_PROCESS_RUNNER = "FnApiRunner"
LOCAL_RUNNER_NAMES = {None, "directrunner", "fnapirunner", "switchingdirectrunner"}


def pipeline_options(pipeline_args: list[str]) -> PipelineOptions:
    """Beam options from the arguments relxdata does not know; local runs use every core."""
    options = PipelineOptions(pipeline_args)
    standard = options.view_as(StandardOptions)
    runner = standard.runner.lower() if isinstance(standard.runner, str) else standard.runner
    if runner in LOCAL_RUNNER_NAMES:
        standard.runner = IN_PROCESS_RUNNER
        direct = options.view_as(DirectOptions)
        if not any(arg.startswith("--direct_num_workers") for arg in pipeline_args):
            direct.direct_num_workers = os.cpu_count() or 1
        if not any(arg.startswith("--direct_running_mode") for arg in pipeline_args):
            direct.direct_running_mode = "multi_processing" if direct.direct_num_workers > 1 else "in_memory"
        harness = options.view_as(WorkerOptions)
        if harness.default_sdk_harness_log_level is None:
            # Local worker processes would otherwise log every gRPC channel they open, and warn about
            # Dataflow-only settings; their errors still reach the terminal.
            harness.default_sdk_harness_log_level = "ERROR"
    return options


def is_local_run(options: PipelineOptions) -> bool:
    return options.view_as(StandardOptions).runner == IN_PROCESS_RUNNER


def pipeline_runner(options: PipelineOptions) -> FnApiRunner | None:
    """The in-process runner for local runs, None (the runner the options name) for the others."""
    if not is_local_run(options):
        return None
    # FnApiRunner hands its worker processes no pipeline options, so they would log at INFO whatever
    # --default_sdk_harness_log_level says; the options travel in the provision info instead.
    provision = beam_provision_api_pb2.ProvisionInfo(retrieval_token="unused-retrieval-token")
    provision.pipeline_options.update(
        {"default_sdk_harness_log_level": options.view_as(WorkerOptions).default_sdk_harness_log_level})
    return FnApiRunner(provision_info=ExtendedProvisionInfo(provision))


def beam_pipeline(options: PipelineOptions) -> beam.Pipeline:
    return beam.Pipeline(runner=pipeline_runner(options), options=options)


def join(directory: str, *names: str) -> str:
    return FileSystems.join(directory, *names)


def write_rows(path: str, rows: list[dict], schema) -> None:
    """Write a shard under a temporary name and rename it, so a shard is whole or absent."""
    temporary = path + ".inprogress"
    with FileSystems.create(temporary, compression_type=CompressionTypes.UNCOMPRESSED) as sink:
        write_shard(rows, schema, sink)
    FileSystems.rename([temporary], [path])


def write_text(path: str, text: str) -> None:
    """Write a small text file (a manifest) atomically."""
    with FileSystems.create(path + ".inprogress", compression_type=CompressionTypes.UNCOMPRESSED) as sink:
        sink.write(text.encode("utf-8"))
    FileSystems.rename([path + ".inprogress"], [path])


def prepare_output(out: str, overwrite: bool) -> None:
    """Refuse to mix a new run into an old output unless asked to replace it."""
    old = [match.path for result in FileSystems.match([join(out, MANIFEST), join(out, "part-*"),
                                                       join(out, "*", "part-*")])
           for match in result.metadata_list]
    if old and not overwrite:
        raise RelxdataError(f"{out} already holds an output ({len(old)} files); pass --overwrite to replace it")
    if old:
        FileSystems.delete(old)
    FileSystems.mkdirs(out) if not FileSystems.exists(out) else None


class ShardProgress:
    """A progress bar fed by the shards that appear in a local output directory."""

    def __init__(self, out: str, pages_per_shard: dict[int, int], enabled: bool):
        self.out, self.pages_per_shard, self.enabled = out, pages_per_shard, enabled
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self):
        if self.enabled:
            self._thread.start()
        return self

    def __exit__(self, *exc_info):
        if self.enabled:
            self._stop.set()
            self._thread.join()

    def _done_pages(self) -> int:
        shards = (re.match(r"part-(\d+)-", os.path.basename(path))
                  for path in glob.glob(os.path.join(self.out, "part-*.parquet")))
        return sum(self.pages_per_shard.get(int(match.group(1)), 0) for match in shards if match)

    def _watch(self) -> None:
        with tqdm(total=sum(self.pages_per_shard.values()), unit="page", desc="pages", smoothing=0.1) as bar:
            while not self._stop.wait(0.5):
                bar.update(self._done_pages() - bar.n)
            bar.update(self._done_pages() - bar.n)
