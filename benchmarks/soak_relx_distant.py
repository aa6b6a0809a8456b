"""Soak check: `run relx-distant` beside busy processes gives the shards of an idle run, every time.

Beam 2.77's local runner used to lose elements between the joins on an overloaded machine
(docs/performance.md). This runs relx-distant once on an idle machine, then `--runs` times beside
`--busy` processes that each spin one core, and compares every output file byte for byte.

    python benchmarks/soak_relx_distant.py --copies 40 --runs 5 --busy 3
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import multiprocessing
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench_relx_distant import DUMP, WIKIDATA, build_inputs, last_error, measured
from bench_sentences import enlarged_dump
from report import write_results

HERE = Path(__file__).resolve().parent


def spin() -> None:
    while True:
        pass


def output_digests(out: Path) -> dict[str, str]:
    """SHA-256 of every shard under `out` (manifests differ in wall time and are left out)."""
    return {str(path.relative_to(out)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(out.rglob("*.parquet"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=40)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--busy", type=int, default=3, help="busy processes beside each run")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--work", type=Path, default=HERE / "work")
    parser.add_argument("--results", type=Path,
                        default=HERE / "results" / f"soak-{datetime.date.today().isoformat()}.json")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    dump, pages = enlarged_dump(args.copies, args.work)
    runs, reference = [], None
    with tempfile.TemporaryDirectory(dir=args.work, prefix="soak-") as tmp:
        work = Path(tmp)
        build_inputs(dump, work, fact_share=0.3, red_links=0.03)
        for number in range(args.runs + 1):
            busy = 0 if number == 0 else args.busy
            spinners = [multiprocessing.Process(target=spin, daemon=True) for _ in range(busy)]
            for spinner in spinners:
                spinner.start()
            out, log = work / "out", args.work / f"soak-{number}.log"
            shutil.rmtree(out, ignore_errors=True)
            try:
                seconds, peak_mib, status = measured([
                    sys.executable, "-m", "relxdata.cli", "run", "relx-distant", "--lang", "en", "--dump", str(dump),
                    "--wikidata", str(work / WIKIDATA), "--redirects", str(work / f"{DUMP}-redirect.sql.gz"),
                    "--out", str(out), "--pages-per-shard", "100", f"--direct_num_workers={args.processes}"], log)
            finally:
                for spinner in spinners:
                    spinner.terminate()
            digests = output_digests(out) if status == 0 else {}
            reference = reference or digests
            run = {"busy_processes": busy, "seconds": round(seconds, 1), "peak_rss_mib": peak_mib,
                   "complete": status == 0, "shards": len(digests), "identical_to_idle_run": digests == reference,
                   **({} if status == 0 else {"error": last_error(log)})}
            print(run, flush=True)
            runs.append(run)
            time.sleep(2)
    write_results(args.results, {
        "pages": pages, "copies": args.copies, "processes": args.processes, "runs": runs,
        "all_complete_and_identical": all(run["complete"] and run["identical_to_idle_run"] for run in runs),
    })


if __name__ == "__main__":
    main()
