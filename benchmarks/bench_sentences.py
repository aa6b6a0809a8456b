"""Pages per second of `relxdata run sentences` against WikiExtractor and against the ceiling.

All three run as whole processes, one after another, on the same enlarged real sample:

- ceiling: decompress the dump and parse its XML into pages (relxdata.dumps), nothing else;
- WikiExtractor 3.1.0 with `--links --json` (clean text and links, no sentences, no offsets);
- relxdata: clean text, links with exact offsets, spaCy sentences, Parquet shards, manifest.

The sample is the 206 real pages of enwiki-2016-sample repeated `--copies` times with new ids and
titles, so each tool reads the same bytes. Both tools get `--processes` worker processes.

    python benchmarks/bench_sentences.py --copies 10 --processes 2
"""

from __future__ import annotations

import argparse
import bz2
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from report import write_results

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


def timed(name: str, command: list[str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{name} failed:\n{result.stderr[-3000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--work", type=Path, default=HERE / "work")
    parser.add_argument("--results", type=Path, default=HERE / "results" / "sentences.json")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    dump, pages = enlarged_dump(args.copies, args.work)
    for leftover in ("wikiextractor", "relxdata"):
        shutil.rmtree(args.work / leftover, ignore_errors=True)

    ceiling = timed("ceiling", [sys.executable, "-c", (
        "import sys\nfrom relxdata.dumps import plan_dump, read_pages\n"
        f"plan = plan_dump({str(dump)!r}, parallelization={args.processes})\n"
        "print(sum(1 for _ in read_pages(plan)))")])
    wikiextractor = timed("WikiExtractor", [
        sys.executable, "-m", "wikiextractor.WikiExtractor", "--links", "--json", "--processes",
        str(args.processes), "-q", "-o", str(args.work / "wikiextractor"), str(dump)])
    relxdata = timed("relxdata", [
        sys.executable, "-m", "relxdata.cli", "run", "sentences", "--lang", "en", "--dump", str(dump),
        "--out", str(args.work / "relxdata"), "--pages-per-shard", "100",
        f"--direct_num_workers={args.processes}"])
    manifest = json.loads((args.work / "relxdata" / "_manifest.json").read_text())

    results = {
        "pages": pages, "processes": args.processes, "copies": args.copies,
        "articles": manifest["counts"]["pages"]["emitted"], "sentences": manifest["counts"]["sentences"],
        "seconds": {"ceiling": round(ceiling, 2), "wikiextractor": round(wikiextractor, 2),
                    "relxdata": round(relxdata, 2)},
        "pages_per_second": {name: round(pages / seconds, 1) for name, seconds in
                             (("ceiling", ceiling), ("wikiextractor", wikiextractor), ("relxdata", relxdata))},
        "relxdata_vs_wikiextractor": round(wikiextractor / relxdata, 3),
        "relxdata_vs_ceiling": round(ceiling / relxdata, 3),
    }
    write_results(args.results, results)


if __name__ == "__main__":
    main()
