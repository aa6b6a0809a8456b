"""What every relxdata pipeline does around Beam: runner options, output directories, progress."""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Collection, Iterable, Iterator

import apache_beam as beam
from apache_beam.io.filesystems import CompressionTypes, FileSystems
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions, WorkerOptions
from apache_beam.portability.api import beam_provision_api_pb2
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.runners.portability.fn_api_runner.fn_runner import ExtendedProvisionInfo
from apache_beam.runners.worker import data_plane
from tqdm import tqdm

from relxdata.corpora import MANIFEST, write_shard
from relxdata.errors import INTERRUPTED, RelxdataError, debugging, user_error_in

# The DirectRunner may hand a pipeline to Prism, which downloads a binary: run in-process instead.
IN_PROCESS_RUNNER = "FnApiRunner"
LOCAL_RUNNER_NAMES = {None, "directrunner", "fnapirunner", "switchingdirectrunner"}


def pipeline_options(pipeline_args: list[str], work_units: int | None = None) -> PipelineOptions:
    """Beam options from the arguments relxdata does not know. Local runs use a worker per core, but
    no more workers than the job has `work_units`: each worker is a process that takes seconds to
    start, and one with no unit to work on only delays the first page."""
    options = PipelineOptions(pipeline_args)
    standard = options.view_as(StandardOptions)
    runner = standard.runner.lower() if isinstance(standard.runner, str) else standard.runner
    if runner in LOCAL_RUNNER_NAMES:
        standard.runner = IN_PROCESS_RUNNER
        direct = options.view_as(DirectOptions)
        if not any(arg.startswith("--direct_num_workers") for arg in pipeline_args):
            direct.direct_num_workers = max(min(os.cpu_count() or 1, work_units or sys.maxsize), 1)
        if not any(arg.startswith("--direct_running_mode") for arg in pipeline_args):
            direct.direct_running_mode = "multi_processing" if direct.direct_num_workers > 1 else "in_memory"
        harness = options.view_as(WorkerOptions)
        if harness.default_sdk_harness_log_level is None and not debugging():
            # Local worker processes would otherwise log every gRPC channel they open, warn about
            # Dataflow-only settings, and log each failure's traceback before the runner raises it
            # (with that same traceback) to the command.
            harness.default_sdk_harness_log_level = "CRITICAL"
    return options


def is_local_run(options: PipelineOptions) -> bool:
    return options.view_as(StandardOptions).runner == IN_PROCESS_RUNNER


class SerializedFlushOutputStream(data_plane.TimeBasedBufferingClosableOutputStream):
    """Beam's time-flushed data stream, with writes kept out of a flush in progress.

    Beam's own (2.77) flushes from a timer thread as `callback(self.get()); self._clear()` under a
    lock that only other flushes take, so whatever a writer appends between the two is wiped
    unsent, silently. The local runner sends each worker its input through such a stream, flushed
    every second: on an overloaded machine, where sending takes longer, whole chunks of a join's
    elements vanish (docs/performance.md). Writing under the flush lock closes that window.
    """

    def write(self, b, nested=False):
        with self._flush_lock:
            super().write(b, nested)


def guard_data_channel() -> None:
    """Make Beam's gRPC data channels in this process build `SerializedFlushOutputStream`s."""
    # `ClosableOutputStream.create` looks the class up in data_plane's globals when a stream is made.
    data_plane.TimeBasedBufferingClosableOutputStream = SerializedFlushOutputStream


def pipeline_runner(options: PipelineOptions) -> FnApiRunner | None:
    """The in-process runner for local runs, None (the runner the options name) for the others."""
    if not is_local_run(options):
        return None
    guard_data_channel()
    # FnApiRunner hands its worker processes no pipeline options, so they would log at INFO whatever
    # --default_sdk_harness_log_level says; the options travel in the provision info instead.
    provision = beam_provision_api_pb2.ProvisionInfo(retrieval_token="unused-retrieval-token")
    provision.pipeline_options.update(
        {"default_sdk_harness_log_level": options.view_as(WorkerOptions).default_sdk_harness_log_level})
    return FnApiRunner(provision_info=ExtendedProvisionInfo(provision))


# The lines of a (chained) Python traceback after its first.
TRACEBACK = re.compile(rb"$|\s|During handling of the above|The above exception|[\w.]+: ")


class QuietWorkers:
    """Keeps what local worker processes print about a user error off the terminal.

    A worker prints the whole traceback of a failed bundle to the stderr it inherited, before the
    runner raises the same error to the command, which reports a user error (a RelxdataError) as
    one line. While a local pipeline runs, file descriptor 2 feeds a thread that passes everything
    through but traceback blocks that end in a user error, and Beam's import-time noise.
    """

    NOISE = (b"WARNING:root:apitools not found", b"INFO:__main__:Logging handler created.")

    def __init__(self, enabled: bool):
        self.enabled = enabled

    def __enter__(self):
        if self.enabled:
            sys.stderr.flush()
            self._terminal = os.dup(2)
            reader, writer = os.pipe()
            os.dup2(writer, 2)
            os.close(writer)
            self._thread = threading.Thread(target=self._filter, args=(reader,), daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc_info):
        if self.enabled:
            sys.stderr.flush()
            os.dup2(self._terminal, 2)  # this process no longer writes into the pipe
            # The thread ends when the workers, which hold the pipe's other writers, have exited.
            self._thread.join(10)
            if not self._thread.is_alive():
                os.close(self._terminal)

    def _filter(self, reader: int) -> None:
        pending, block = b"", []
        with os.fdopen(reader, "rb", buffering=0) as pipe:
            while chunk := pipe.read(1 << 16):
                lines = (pending + chunk).split(b"\n")
                pending = lines.pop()
                for line in lines:
                    if line.startswith(b"Traceback (most recent call last):") or (block and TRACEBACK.match(line)):
                        block.append(line)
                        continue
                    self._pass(block)
                    block = []
                    if not line.startswith(self.NOISE):
                        os.write(self._terminal, line + b"\n")
                if pending and not block:  # a progress bar redraws without a newline
                    os.write(self._terminal, pending)
                    pending = b""
        self._pass(block + ([pending] if pending else []))

    def _pass(self, block: list[bytes]) -> None:
        text = b"\n".join(block)
        if block and user_error_in(text.decode("utf-8", "replace")) is None:
            os.write(self._terminal, text + b"\n")


@contextlib.contextmanager
def beam_pipeline(options: PipelineOptions) -> Iterator[beam.Pipeline]:
    """A pipeline that runs when the `with` block ends, on the runner the options name."""
    # The interrupt handler keeps the terminal's stderr before QuietWorkers turns fd 2 into its pipe.
    with (interrupt_ends_the_process(is_local_run(options)), QuietWorkers(is_local_run(options) and not debugging()),
          beam.Pipeline(runner=pipeline_runner(options), options=options) as pipeline):
        yield pipeline


@contextlib.contextmanager
def interrupt_ends_the_process(enabled: bool) -> Iterator[None]:
    """Ctrl-C during a local run ends the process at once, with one line and exit status 130.

    Beam's in-process runner waits on its workers in threads that a KeyboardInterrupt does not stop:
    raised in the main thread, it can leave the process waiting for them for good. The output has no
    manifest yet, so there is nothing to finish; the workers, in the same process group, get the
    same Ctrl-C, and a worker whose runner is gone ends with its control channel.
    """
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return
    terminal = os.dup(2)

    def stop(signum, frame):
        # To the terminal itself: fd 2 may be QuietWorkers' pipe, whose thread would not pass it on in time.
        os.write(terminal, f"\n{INTERRUPTED}\n".encode())
        os._exit(130)

    previous = signal.signal(signal.SIGINT, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        os.close(terminal)


def join(directory: str, *names: str) -> str:
    return FileSystems.join(directory, *names)


def matching_paths(pattern: str) -> list[str]:
    """The paths a glob pattern names, on any filesystem Beam reads (local, gs://, …)."""
    return [match.path for result in FileSystems.match([pattern]) for match in result.metadata_list]


def is_within(path: str, directory: str) -> bool:
    """Whether `path` is `directory` or lies under it (local paths are compared absolute)."""
    if "://" not in path + directory:
        path, directory = os.path.abspath(path), os.path.abspath(directory)
    return path.rstrip("/") == directory.rstrip("/") or path.startswith(directory.rstrip("/") + "/")


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


# The files of an output, its sentence shards one level down (with their own side outputs) included.
OUTPUT_FILES = (f"{MANIFEST}*", "part-*", f"*/{MANIFEST}*", "*/part-*", "*/*/part-*")


def _output_files(out: str) -> list[str]:
    return [path for pattern in OUTPUT_FILES for path in matching_paths(join(out, pattern))]


def prepare_output(out: str, overwrite: bool) -> None:
    """Refuse to mix a new run into an old output unless asked to replace it."""
    old = _output_files(out)
    if old and not overwrite:
        raise RelxdataError(f"{out} already holds an output ({len(old)} files); pass --overwrite to replace it")
    if old:
        FileSystems.delete(old)
    try:
        if not FileSystems.exists(out):
            FileSystems.mkdirs(out)
        elif os.path.isfile(out):
            raise RelxdataError(f"--out {out} is a file, not a directory")
    except OSError as exc:
        # Beam's local file system wraps the OSError of os.makedirs in another.
        cause = exc.args[0] if exc.args and isinstance(exc.args[0], OSError) else exc
        raise RelxdataError(f"cannot create the output directory {out}: {cause.strerror or cause}") from None


@contextlib.contextmanager
def fresh_output(out: str, overwrite: bool) -> Iterator[None]:
    """`prepare_output`, and a run that fails takes what it wrote with it: the directory, when the run
    made it, else its files. So a failed run leaves nothing behind, and its rerun needs no --overwrite.
    (A killed run cannot clean up; its output has no manifest, and the rerun replaces it with
    --overwrite.)"""
    made = not FileSystems.exists(out)
    prepare_output(out, overwrite)
    try:
        yield
    except Exception:
        if made:
            FileSystems.delete([out])
        else:
            FileSystems.delete(_output_files(out) + matching_paths(join(out, "**.inprogress")))
        raise


class Progress:
    """Progress of a local run on stderr, polled twice a second: on a terminal a bar with the rate and
    the time left; elsewhere (CI, logs) a line every `LINE_SECONDS`, since a redrawn bar is one
    endless line there."""

    LINE_SECONDS = 5.0

    def __init__(self, total: int, enabled: bool, unit: str = "page"):
        self.total, self.enabled, self.unit = total, enabled, unit
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def done(self) -> int:
        raise NotImplementedError

    def __enter__(self):
        if self.enabled:
            self._thread.start()
        return self

    def __exit__(self, *exc_info):
        if self.enabled:
            self._stop.set()
            self._thread.join()

    def _watch(self) -> None:
        if sys.stderr.isatty():
            with tqdm(total=self.total, unit=self.unit, desc=f"{self.unit}s", smoothing=0.1) as bar:
                while not self._stop.wait(0.5):
                    bar.update(self.done() - bar.n)
                bar.update(self.done() - bar.n)
            return
        # The rate is of the time the count took to get where it is, not of the stages after it.
        started = moved_at = time.monotonic()
        done, stopping = 0, False
        while not stopping:
            stopping = self._stop.wait(self.LINE_SECONDS)
            if (now := self.done()) != done:
                done, moved_at = now, time.monotonic()
            print(self.line(done, moved_at - started), file=sys.stderr, flush=True)

    def line(self, done: int, seconds: float) -> str:
        """`pages: 1,234 of 8,240 (15%), 160 pages/s, 0:44 left`"""
        share = f" ({100 * done // self.total}%)" if self.total else ""
        rate = done / seconds if seconds > 0 else 0.0
        left = f", {_clock((self.total - done) / rate)} left" if rate and done < self.total else ""
        return f"{self.unit}s: {done:,} of {self.total:,}{share}, {rate:,.0f} {self.unit}s/s{left}"


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{seconds:02d}" if minutes >= 60 else f"{minutes}:{seconds:02d}"


class ShardProgress(Progress):
    """Progress counted in the shards that appear in a local output directory."""

    def __init__(self, out: str, shards: int, enabled: bool):
        super().__init__(shards, enabled, "shard")
        self.out = out

    def done(self) -> int:
        return len(glob.glob(os.path.join(self.out, "part-*.parquet")))


@dataclass(frozen=True)
class UnitProgress:
    """How many pages each work unit of a local run has done, told by the workers (processes that share
    nothing else) in one small file per unit, in a folder of the run's own."""

    directory: str
    every_seconds: float = 0.5

    def counting(self, unit: int, pages: Iterable) -> Iterator:
        """`pages`, telling how many have been taken at most every `every_seconds`, and once at the end."""
        told, taken = time.monotonic(), 0
        for page in pages:
            yield page
            taken += 1
            if time.monotonic() - told >= self.every_seconds:
                self.tell(unit, taken)
                told = time.monotonic()
        self.tell(unit, taken)

    @classmethod
    def fresh(cls) -> "UnitProgress":
        """A folder name of its own, made when the progress display starts (`PageProgress`)."""
        return cls(os.path.join(tempfile.gettempdir(), f"relxdata-progress-{uuid.uuid4().hex}"))

    def tell(self, unit: int, pages: int) -> None:
        path = os.path.join(self.directory, str(unit))
        with contextlib.suppress(OSError):  # progress is for show: the work goes on without it
            with open(path + ".new", "w") as record:
                record.write(str(pages))
            os.replace(path + ".new", path)  # the reader never sees half a number

    def told(self, skip: Collection[int] = ()) -> dict[int, int]:
        """Each unit's pages done, as last told; units in `skip` are not read."""
        counts = {}
        for name in os.listdir(self.directory):
            if name.isdigit() and int(name) not in skip:
                with contextlib.suppress(OSError, ValueError), open(os.path.join(self.directory, name)) as record:
                    counts[int(name)] = int(record.read())
        return counts


class PageProgress(Progress):
    """Progress of an extraction in pages, as its workers tell it through a `UnitProgress`; the folder
    goes with the run. A unit that has done all its `unit_pages` is not read again: a whole wiki has
    thousands of units, and only those in progress change."""

    def __init__(self, units: UnitProgress, unit_pages: dict[int, int], enabled: bool):
        super().__init__(sum(unit_pages.values()), enabled, "page")
        self.units, self.unit_pages = units, unit_pages
        self._finished: dict[int, int] = {}

    def done(self) -> int:
        in_progress = {}
        for unit, pages in self.units.told(skip=self._finished.keys()).items():
            if pages >= self.unit_pages.get(unit, pages + 1):
                self._finished[unit] = pages
            else:
                in_progress[unit] = pages
        return sum(self._finished.values()) + sum(in_progress.values())

    def __enter__(self):
        if self.enabled:
            os.makedirs(self.units.directory, exist_ok=True)
        return super().__enter__()

    def __exit__(self, *exc_info):
        super().__exit__(*exc_info)
        shutil.rmtree(self.units.directory, ignore_errors=True)
