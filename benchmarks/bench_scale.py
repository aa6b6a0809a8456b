"""Peak memory and pages/s of `run sentences` and `run relx-distant` as the wiki grows.

Each size is the real enwiki-2016-sample (206 pages) repeated `copies` times (bench_sentences),
with the benchmark wiki of bench_relx_distant around it (redirect.sql, a Wikidata JSON dump). Every
run is a whole process; its peak is the resident memory of its whole process tree, sampled twice
a second. The growth per 1,000 pages is the slope between the smallest and the largest size, and
the projection for a 1M-page wiki extends that line.

    python benchmarks/bench_scale.py --copies 25 100 200 --processes 2
"""

from __future__ import annotations

import argparse
import datetime
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench_relx_distant import DUMP, WIKIDATA, build_inputs, measured
from bench_sentences import enlarged_dump
from report import write_results

HERE = Path(__file__).resolve().parent
PROJECTED_PAGES = 1_000_000


def run_job(job: str, args: list[str], work: Path, processes: int) -> dict:
    out, log = work / job, work / f"{job}.log"
    shutil.rmtree(out, ignore_errors=True)
    seconds, peak_mib, status = measured([sys.executable, "-m", "relxdata.cli", "run", job, "--lang", "en",
                                          "--out", str(out), f"--direct_num_workers={processes}", *args], log)
    if status != 0:
        sys.exit(f"{job} failed (log: {log}):\n{log.read_text()[-3000:]}")
    shutil.rmtree(out)
    return {"seconds": round(seconds, 1), "peak_rss_mib": peak_mib}


def growth(runs: list[dict], job: str) -> dict:
    """MiB per 1,000 pages between the smallest and largest run, and the line extended to 1M pages."""
    first, last = runs[0], runs[-1]
    slope = (last[job]["peak_rss_mib"] - first[job]["peak_rss_mib"]) / (last["pages"] - first["pages"]) * 1000
    projected = last[job]["peak_rss_mib"] + slope * (PROJECTED_PAGES - last["pages"]) / 1000
    return {"mib_per_1000_pages": round(slope, 1), "projected_peak_mib_at_1m_pages": round(projected)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, nargs="+", default=[25, 100, 200])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--pages-per-shard", type=int, default=1000)
    parser.add_argument("--work", type=Path, default=HERE / "work")
    parser.add_argument("--results", type=Path,
                        default=HERE / "results" / f"scale-{datetime.date.today().isoformat()}.json")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    runs = []
    for copies in sorted(args.copies):
        dump, pages = enlarged_dump(copies, args.work)
        with tempfile.TemporaryDirectory(dir=args.work, prefix="scale-") as tmp:
            work, started = Path(tmp), time.perf_counter()
            build_inputs(dump, work, fact_share=0.3, red_links=0.03)
            print(f"x{copies}: {pages} pages, inputs in {time.perf_counter() - started:.0f} s", flush=True)
            shard = ["--pages-per-shard", str(args.pages_per_shard)]
            sentences = run_job("sentences", ["--dump", str(dump), *shard], work, args.processes)
            relx = run_job("relx-distant", ["--dump", str(dump), "--wikidata", str(work / WIKIDATA),
                                            "--redirects", str(work / f"{DUMP}-redirect.sql.gz"), *shard],
                           work, args.processes)
        run = {"copies": copies, "pages": pages}
        for job, measurement in (("sentences", sentences), ("relx-distant", relx)):
            run[job] = {**measurement, "pages_per_second": round(pages / measurement["seconds"], 1)}
        print(run, flush=True)
        runs.append(run)
    write_results(args.results, {
        "processes": args.processes, "pages_per_shard": args.pages_per_shard, "runs": runs,
        "growth": {job: growth(runs, job) for job in ("sentences", "relx-distant")} if len(runs) > 1 else None,
    })


if __name__ == "__main__":
    main()
