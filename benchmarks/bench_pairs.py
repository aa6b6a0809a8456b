"""`relxdata build-pairs` at scale: pairs per second and peak RSS for 1M, 2M and 4M pairs.

The corpus follows the relx-distant contract: 2.5M sentences in en, fr, de, es and tr with
RELX-Distant's language shares and sentence lengths (`relxdata.synthetic`). Each build runs as a
whole process under GNU time, which reports its peak resident memory. A least-squares line through
the three times projects 20M pairs.

    python benchmarks/bench_pairs.py --sentences 2500000 --pairs 1000000 2000000 4000000
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from report import write_results
from relxdata.synthetic import write_contract_corpus

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, default=2_500_000)
    parser.add_argument("--pairs", type=int, nargs="+", default=[1_000_000, 2_000_000, 4_000_000])
    parser.add_argument("--work", type=Path, default=HERE / "work")
    parser.add_argument("--results", type=Path, default=HERE / "results" / "pairs.json")
    args = parser.parse_args()
    corpus = args.work / f"relx-distant-{args.sentences}"
    if not (corpus / "_complete").exists():
        shutil.rmtree(corpus, ignore_errors=True)
        started = time.perf_counter()
        write_contract_corpus(str(corpus), args.sentences, seed=7, shards=16)
        (corpus / "_complete").write_text(f"{time.perf_counter() - started:.1f} s\n")
    runs = []
    for pairs in args.pairs:
        out = args.work / f"pairs-{pairs}"
        shutil.rmtree(out, ignore_errors=True)
        started = time.perf_counter()
        result = subprocess.run(["/usr/bin/time", "-f", "%M", sys.executable, "-m", "relxdata.cli", "build-pairs",
                                 "--corpus", str(corpus), "--out", str(out), "--num-pairs", str(pairs)],
                                capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if result.returncode != 0:
            sys.exit(result.stderr[-3000:])
        peak_kib = int(result.stderr.strip().splitlines()[-1])
        runs.append({"pairs": pairs, "seconds": round(seconds, 1), "pairs_per_second": round(pairs / seconds),
                     "peak_rss_mib": round(peak_kib / 1024)})
        print(runs[-1], flush=True)
        shutil.rmtree(out, ignore_errors=True)
    slope, intercept = np.polyfit([r["pairs"] for r in runs], [r["seconds"] for r in runs], 1)
    results = {
        "sentences": args.sentences, "runs": runs,
        "seconds_per_million_pairs": round(slope * 1e6, 1), "fixed_seconds": round(intercept, 1),
        "projected_20M_seconds": round(slope * 20e6 + intercept),
    }
    write_results(args.results, results)


if __name__ == "__main__":
    main()
