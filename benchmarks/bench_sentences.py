"""Pages per second of `relxdata run sentences` against WikiExtractor and against the ceiling.

All three run as whole processes, one after another, on the same enlarged real sample:

- ceiling: decompress the dump and parse its XML into pages (relxdata.dumps), nothing else;
- WikiExtractor 3.1.0 with `--links --json` (clean text and links, no sentences, no offsets);
- relxdata: clean text, links with exact offsets, spaCy sentences, Parquet shards, manifest.

The sample is the 206 real pages of enwiki-2016-sample repeated `copies` times with new ids and
titles, so each tool reads the same bytes. Each setting `COPIESxPROCESSES` gives both tools that
many worker processes (relxdata `--direct_num_workers`, WikiExtractor `--processes`, which adds a
reader and a writer process of its own). Every tool runs `--attempts` times per setting, start-up
included; the CPU seconds are those of its whole process tree.

With `--multistream`, every setting is also measured on the same pages written the way Wikimedia
publishes them and `relxdata download` fetches them: a multistream bz2 dump (100 pages a stream)
and its index, which relxdata is given and WikiExtractor reads as one bz2 file.

    python benchmarks/bench_sentences.py --settings 5x1 40x2 --attempts 2 [--multistream]
"""

from __future__ import annotations

import argparse
import bz2
import compileall
import json
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from report import write_results

import pipelines
import relxdata
from relxdata.dumps import write_multistream

HERE = Path(__file__).resolve().parent
SAMPLE = HERE.parent.parent / "shared" / "data" / "wikipedia" / "enwiki-2016-sample.xml.bz2"


def enlarged_dump(copies: int, work: Path) -> tuple[Path, int]:
    """The sample's pages `copies` times over, as one bz2 file; returns it and its page count."""
    path = work / f"enwiki-sample-x{copies}.xml.bz2"
    xml = bz2.decompress(SAMPLE.read_bytes())
    head, rest = xml.split(b"<page>", 1)
    body, tail = (b"<page>" + rest).rsplit(b"</page>", 1)
    body += b"</page>"
    pages = body.count(b"<page>")
    if not path.exists():
        with bz2.open(path, "wb") as out:
            out.write(head)
            for copy in range(copies):
                renamed = re.sub(rb"<title>(.*?)</title>", lambda m: b"<title>%s %d</title>" % (m.group(1), copy),
                                 body)
                renamed = re.sub(rb"(<page>\s*<title>.*?</title>\s*<ns>\d+</ns>\s*<id>)(\d+)</id>",
                                 lambda m: m.group(1) + b"%d</id>" % (int(m.group(2)) + copy * 10_000_000), renamed,
                                 flags=re.S)
                out.write(renamed)
            out.write(tail)
    return path, pages * copies


def multistream_dump(copies: int, work: Path) -> tuple[Path, Path]:
    """The enlarged sample as a multistream dump and its index; returns both."""
    dump, index = work / f"enwiki-sample-x{copies}-multistream.xml.bz2", work / f"enwiki-sample-x{copies}-index.txt.bz2"
    if not dump.exists():
        write_multistream(str(enlarged_dump(copies, work)[0]), str(dump), str(index))
    return dump, index


def timed(name: str, command: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, of the whole process tree) of a command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        sys.exit(f"{name} failed:\n{result.stderr[-3000:]}")
    return seconds, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def measure(copies: int, processes: int, work: Path, multistream: bool) -> dict:
    """One run of each tool on the sample enlarged `copies` times, with `processes` workers each."""
    dump, pages = enlarged_dump(copies, work)
    index = None
    if multistream:
        dump, index = multistream_dump(copies, work)
    for leftover in ("wikiextractor", "relxdata"):
        shutil.rmtree(work / leftover, ignore_errors=True)
    runs = {
        "ceiling": timed("ceiling", [sys.executable, "-c", (
            "from relxdata.dumps import plan_dump, read_pages\n"
            f"plan = plan_dump({str(dump)!r}, {str(index) if index else None!r}, parallelization={processes})\n"
            "print(sum(1 for _ in read_pages(plan)))")]),
        "wikiextractor": timed("WikiExtractor", [
            sys.executable, "-m", "wikiextractor.WikiExtractor", "--links", "--json", "--processes",
            str(processes), "-q", "-o", str(work / "wikiextractor"), str(dump)]),
        "relxdata": timed("relxdata", [
            sys.executable, "-m", "relxdata.cli", "run", "sentences", "--lang", "en", "--dump", str(dump),
            "--out", str(work / "relxdata"), "--pages-per-shard", "100", f"--direct_num_workers={processes}",
            *(["--index", str(index)] if index else [])]),
    }
    manifest = json.loads((work / "relxdata" / "_manifest.json").read_text())
    seconds = {name: wall for name, (wall, _) in runs.items()}
    return {
        "copies": copies, "processes": processes, "dump": "multistream" if multistream else "single-stream",
        "pages": pages,
        "articles": manifest["counts"]["pages"]["emitted"], "sentences": manifest["counts"]["sentences"],
        "seconds": {name: round(wall, 2) for name, wall in seconds.items()},
        "cpu_seconds": {name: round(cpu, 2) for name, (_, cpu) in runs.items()},
        "pages_per_second": {name: round(pages / wall, 1) for name, wall in seconds.items()},
        "relxdata_vs_wikiextractor": round(seconds["wikiextractor"] / seconds["relxdata"], 3),
        "relxdata_vs_ceiling": round(seconds["ceiling"] / seconds["relxdata"], 3),
    }


def setting(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)x(\d+)", text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not COPIESxPROCESSES, e.g. 40x2")
    return int(match[1]), int(match[2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", type=setting, nargs="+", default=[(5, 1), (40, 2)],
                        help="COPIESxPROCESSES, each measured in turn (default: 5x1 40x2)")
    parser.add_argument("--attempts", type=int, default=2, help="runs of each tool per setting (default 2)")
    parser.add_argument("--multistream", action="store_true",
                        help="also measure each setting on the multistream dump and its index")
    parser.add_argument("--work", type=Path, default=HERE / "work")
    parser.add_argument("--results", type=Path, default=HERE / "results" / "sentences.json")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    # An installed package comes with its bytecode (pip compiles it), as WikiExtractor's does; a
    # source checkout run with PYTHONDONTWRITEBYTECODE=1 would compile relxdata in every process.
    for package in (relxdata, pipelines):
        compileall.compile_dir(Path(package.__file__).parent, quiet=1)
    runs = [measure(copies, processes, args.work, multistream) for copies, processes in args.settings
            for multistream in (False, True)[:1 + args.multistream] for _ in range(args.attempts)]
    write_results(args.results, {"runs": runs})


if __name__ == "__main__":
    main()
