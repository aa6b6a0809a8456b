"""Pages per second and peak memory of `relxdata run smiler` beside `run relx-distant`, on the same pages.

The dump is enwiki-2016-sample's 206 real pages repeated `--copies` times (bench_sentences), with
the wiki of bench_relx_distant around it (redirect.sql and a Wikidata JSON dump, whose sitelinks
give both jobs their QIDs). SMiLER's facts are a DBpedia mapping-based dump in the English
chapter's layout: for `--fact-share` of the titles each article links to, a fact of one of the
inventory's DBpedia properties from the article (`dbo:…`, entity-valued), and a population literal
for every tenth article. Each job is a whole process, extracting the dump itself; its peak is the
resident memory of its whole process tree.

    python benchmarks/bench_smiler.py --copies 40 --processes 2
"""

from __future__ import annotations

import argparse
import bz2
import datetime
import json
import shutil
import sys
import tempfile
from pathlib import Path

from bench_relx_distant import DUMP, WIKIDATA, WIKILINK, build_inputs, draw, measured
from bench_sentences import enlarged_dump
from report import write_results

from relxdata.corpora import MANIFEST
from relxdata.dbpedia import full_iri, iri_of
from relxdata.dumps import plan_dump, read_pages
from relxdata.relations import load_smiler_labels
from relxdata.titles import LinkKind, TitleRules

HERE = Path(__file__).resolve().parent


def dbpedia_lines(dump: Path, fact_share: float) -> tuple[list[str], int]:
    """N-Triples of facts from each article of `dump` to some of the titles it links to."""
    properties = sorted({name for label in load_smiler_labels().labels if label.value is None
                         for name, inverse in label.dbpedia if not inverse})
    plan = plan_dump(str(dump), parallelization=2)
    rules = TitleRules.for_wiki("en", plan.siteinfo.case, [(ns.name, ns.key) for ns in plan.siteinfo.namespaces])
    lines, targets_of = [], {}
    for page in read_pages(plan):
        if page.ns != 0 or page.redirect is not None:
            continue
        if page.text not in targets_of:  # the copies share their texts
            found = (rules.classify(raw) for raw in WIKILINK.findall(page.text))
            targets_of[page.text] = sorted({t.title for t in found if t.kind is LinkKind.ARTICLE and t.title})
        subject = f"<{iri_of(page.title, 'en')}>"
        for target in targets_of[page.text]:
            share = draw("dbpedia", page.title, target)
            if share < fact_share:
                prop = full_iri(properties[int(share * 1e9) % len(properties)])
                lines.append(f"{subject} <{prop}> <{iri_of(target, 'en')}> .")
        if page.page_id % 10 == 0:
            lines.append(f'{subject} <{full_iri("dbo:populationTotal")}> '
                         f'"{page.page_id % 100_000}"^^<http://www.w3.org/2001/XMLSchema#nonNegativeInteger> .')
    return lines, len(lines)


def run_job(job: str, args: list[str], work: Path, processes: int, pages: int) -> dict:
    out, log = work / job, work / f"{job}.log"
    seconds, peak_mib, status = measured([sys.executable, "-m", "relxdata.cli", "run", job, "--lang", "en",
                                          "--out", str(out), f"--direct_num_workers={processes}", *args], log)
    if status != 0:
        sys.exit(f"{job} failed (log: {log}):\n{log.read_text()[-3000:]}")
    rows = json.loads((out / MANIFEST).read_text())["counts"].get("rows", 0)
    shutil.rmtree(out)
    return {"seconds": round(seconds, 1), "pages_per_second": round(pages / seconds, 1), "peak_rss_mib": peak_mib,
            "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=40)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--fact-share", type=float, default=0.3)
    parser.add_argument("--work", type=Path, default=HERE / "work")
    parser.add_argument("--results", type=Path,
                        default=HERE / "results" / f"smiler-{datetime.date.today().isoformat()}.json")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    dump, pages = enlarged_dump(args.copies, args.work)
    with tempfile.TemporaryDirectory(dir=args.work, prefix="smiler-") as tmp:
        work = Path(tmp)
        built = build_inputs(dump, work, fact_share=args.fact_share, red_links=0.03)
        lines, facts = dbpedia_lines(dump, args.fact_share)
        objects = work / "mappingbased-objects_lang=en.ttl.bz2"
        with bz2.open(objects, "wt", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")
        common = ["--dump", str(dump), "--wikidata", str(work / WIKIDATA),
                  "--redirects", str(work / f"{DUMP}-redirect.sql.gz")]
        relx = run_job("relx-distant", common, work, args.processes, pages)
        smiler = run_job("smiler", [*common, "--dbpedia", str(objects)], work, args.processes, pages)
    write_results(args.results, {
        "copies": args.copies, "pages": pages, "processes": args.processes,
        "inputs": {**built, "dbpedia_facts": facts},
        "relx-distant": relx, "smiler": smiler,
        "smiler_over_relx_distant": {"pages_per_second": round(smiler["pages_per_second"] / relx["pages_per_second"], 2),
                                     "peak_rss": round(smiler["peak_rss_mib"] / relx["peak_rss_mib"], 2)},
    })


if __name__ == "__main__":
    main()
