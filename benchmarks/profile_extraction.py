"""Where one process spends its time per article of `run sentences`, step by step.

Reads the real enwiki-2016-sample (106 articles, 100 redirects), warms every cache on it once, then
times each step over all its articles, in the steady state of a worker (the cycle collector paused,
as `PageExtractor.extract` runs), `--rounds` times, keeping each step's fastest round:

    python benchmarks/profile_extraction.py
"""

from __future__ import annotations

import argparse
import gc
import io
import tempfile
import time
from pathlib import Path

from report import write_results

from relxdata import sentences, wikitext
from relxdata.corpora import SENTENCES, write_shard
from relxdata.dumps import plan_dump, read_pages
from relxdata.extraction import ExtractionConfig, PageExtractor

HERE = Path(__file__).resolve().parent
SAMPLE = HERE.parent.parent / "shared" / "data" / "wikipedia" / "enwiki-2016-sample.xml.bz2"


def fastest(step, rounds: int) -> float:
    """The fastest of `rounds` runs of `step`, in seconds."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--results", type=Path, default=HERE / "results" / "extraction-profile.json")
    args = parser.parse_args()
    plan = plan_dump(str(SAMPLE))
    copied = plan_dump(str(SAMPLE), copy_xml_in=tempfile.gettempdir())  # as a local run reads it
    pages = list(read_pages(plan))
    extractor = PageExtractor(ExtractionConfig("en"), plan.siteinfo)
    rules, splitter = extractor.rules, extractor.splitter
    articles = [page.text for page in pages if page.redirect is None and page.ns == 0]
    prepared = [wikitext._INDENTED_TABLE.sub("", wikitext._EXTENSION_TAGS.sub("", text)) for text in articles]
    streams = [wikitext._tokenizer().tokenize(text, 0, True) for text in prepared]
    documents = [wikitext.clean(text, rules) for text in articles]
    condensed = [sentences._condense(document.text, splitter.condensable)[0] for document in documents]
    output = extractor.extract(pages)

    def walk():
        for stream in streams:
            wikitext._TokenWalker(stream, rules).walk(0, len(stream))

    steps = {
        "read (bz2 + XML)": lambda: list(read_pages(plan)),
        "read (the scan's zstd copy + XML, local runs)": lambda: list(read_pages(copied)),
        "extension tags and comments out": lambda: [wikitext._INDENTED_TABLE.sub("", wikitext._EXTENSION_TAGS.sub("", t))
                                                    for t in articles],
        "mwparserfromhell tokenizer (C)": lambda: [wikitext._tokenizer().tokenize(t, 0, True) for t in prepared],
        "token walk": walk,
        "clean (all of the above but read)": lambda: [wikitext.clean(text, rules) for text in articles],
        "condense": lambda: [sentences._condense(document.text, splitter.condensable) for document in documents],
        "spaCy tokenizer": lambda: [splitter.nlp.tokenizer(text) for text in condensed],
        "split (condense, tokenizer, sentence rule, links)": lambda: [splitter.split(d) for d in documents],
        "extract (read excluded: clean, split, rows, counts)": lambda: extractor.extract(pages),
        "Parquet (sentences shard)": lambda: write_shard(output.sentences, SENTENCES, io.BytesIO()),
    }
    gc.disable()
    per_article = {name: round(fastest(step, args.rounds) / len(articles) * 1000, 2) for name, step in steps.items()}
    gc.enable()
    copied.xml_copy.remove()
    per_article["normalize and links (clean - the steps above)"] = round(
        per_article["clean (all of the above but read)"] - per_article["extension tags and comments out"]
        - per_article["mwparserfromhell tokenizer (C)"] - per_article["token walk"], 2)
    write_results(args.results, {"articles": len(articles), "pages": len(pages), "ms_per_article": per_article})


if __name__ == "__main__":
    main()
