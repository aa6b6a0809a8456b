"""`relxdata stats`: stats.json, PNG plots and a dataset card (README.md in the Hugging Face layout) for
a finished output, so `datasets.load_dataset(DIR)` and DuckDB read it as it is."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pyarrow.parquet as pq
import yaml

import relxdata
from relxdata.corpora import corpus_files, make_directory
from relxdata.errors import RelxdataError
from relxdata.plots import plot_stats
from relxdata.stats import OutputStats, Part, output_stats

CARD = "README.md"
STATS = "stats.json"
PLOTS = "plots"
# In every card relxdata writes, after the YAML header (which must come first): a README.md without
# it is the user's, and stays.
CARD_MARK = "<!-- written by `relxdata stats`; running it again replaces this file -->"
# datasets reads a Parquet file in batches of its first row group's rows unless told: a shard
# without rows (a language with few articles leaves some) would make that 0, which it refuses.
READ_BATCH_ROWS = 10_000


@dataclass(frozen=True)
class Dataset:
    """How each kind of output is introduced in its card."""

    title: str
    summary: str
    task_categories: tuple[str, ...]
    # Where the labels come from, and their licence; the text is always Wikipedia's.
    sources: str


DATASETS = {
    "sentences": Dataset(
        "Wikipedia sentences with their links",
        "Sentences of Wikipedia articles, split with spaCy, each with the article links it holds: "
        "`text[start:end] == anchor` (Unicode code points) and `target` is the linked article's title.",
        (), ""),
    "relx-distant": Dataset(
        "RELX-Distant-style relation extraction corpus",
        "Distantly supervised relation extraction: sentences from Wikipedia whose two linked entities "
        "(Wikidata QIDs) hold a Wikidata fact, labelled with the property and RELX-Distant's category; "
        "the entities' spans are `[start, end)` in code points of `sentence`.",
        ("text-classification",), "The facts and item ids are from Wikidata (CC0). "),
    "smiler": Dataset(
        "SMiLER-style relation extraction corpus",
        "Sentences of each article that mention its subject (entity 1) and a second entity of a DBpedia or "
        "Wikidata fact about it, labelled with SMiLER's labels (or no_relation); `split` holds train/dev/test "
        "(96/2/2 by article).",
        ("text-classification",),
        "The facts are from DBpedia (CC BY-SA 3.0) and Wikidata (CC0). "),
    "pairs": Dataset(
        "MTMB sentence pairs",
        "Pairs of a pivot-language and another-language sentence for matching-the-multilingual-blanks "
        "pretraining: label 1 when both express the same relation between the same entities, 0 for strong "
        "negatives that share an entity.",
        ("text-classification",), "The facts and item ids are from Wikidata (CC0). "),
}
SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                   (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B"))


def size_category(rows: int) -> str:
    return next((name for limit, name in SIZE_CATEGORIES if rows < limit), "n>1B")


def _shards_pattern(stats: OutputStats, part: Part, out: str) -> str:
    """The glob of a part's shards, relative to the card."""
    where = os.path.relpath(os.path.join(stats.directory, part.path), out)
    return "part-*.parquet" if where == "." else f"{where}/part-*.parquet".replace(os.sep, "/")


def configs(stats: OutputStats, out: str) -> list[dict]:
    """The card's `configs`: one per part (a language), and `all` (the default) when there are several."""
    per_part = [{"config_name": part.name, "data_files": [{"split": "train", "path": _shards_pattern(stats, part, out)}],
                 "batch_size": READ_BATCH_ROWS} for part in stats.parts]
    if len(per_part) == 1:
        return [{**per_part[0], "config_name": "default"}]
    everything = [entry for config in per_part for entry in config["data_files"]]
    return [{"config_name": "all", "default": True, "data_files": [{"split": "train", "path": [
        entry["path"] for entry in everything]}], "batch_size": READ_BATCH_ROWS}, *per_part]


def _table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(f"{cell:,}" if isinstance(cell, int) else str(cell) for cell in row) + " |"
              for row in rows]
    return lines


def _counts_section(stats: OutputStats) -> list[str]:
    lines = ["## What it holds", "", f"{stats.rows:,} rows.", ""]
    for dimension, counts in stats.counts.items():
        lines += [f"Rows per {dimension}:", ""]
        lines += _table([dimension, "rows", "share"],
                        [[value, count, f"{100 * count / stats.rows:.1f}%"] for value, count in counts.items()])
        lines.append("")
    if stats.problems:
        lines += ["**The shards and the manifests disagree:**", ""] + [f"- {problem}" for problem in stats.problems]
    else:
        lines.append("The shards hold exactly the rows their manifests count.")
    return lines + [""]


def _losses_section(stats: OutputStats) -> list[str]:
    lines = ["## What was left out, and why", ""]
    if not stats.losses:
        return lines + ["The manifests count no page, link or fact that was left out.", ""]
    names = [part.name for part in stats.parts]
    rows = [[f"`{count}`", *[by_part.get(name, 0) for name in names], sum(by_part.values())]
            for count, by_part in stats.losses.items()]
    lines += ["Counted by the run (`_manifest.json`), per part:", ""]
    return lines + _table(["count", *names, "total"] if len(names) > 1 else ["count", names[0], "total"], rows) + [""]


def _columns_section(stats: OutputStats) -> list[str]:
    schema = pq.read_schema(corpus_files([os.path.join(stats.directory, stats.parts[0].path)])[0])
    return ["## Columns", ""] + _table(["column", "type"], [[f"`{f.name}`", f"`{f.type}`"] for f in schema]) + [""]


def _loading_section(stats: OutputStats, out: str) -> list[str]:
    names = [config["config_name"] for config in configs(stats, out)]
    patterns = ", ".join(f"'{_shards_pattern(stats, part, out)}'" for part in stats.parts)
    return ["## Loading", "", "```python", "from datasets import load_dataset", "",
            f'rows = load_dataset("path/to/this/directory", "{names[0]}", split="train")', "```", "",
            "In DuckDB, from this directory:", "", "```sql", f"SELECT lang, count(*) FROM read_parquet([{patterns}]) "
            "GROUP BY lang;", "```", ""]


def _provenance_section(stats: OutputStats) -> list[str]:
    lines = ["## How it was made", ""]
    for part in stats.parts:
        made = part.manifest
        dump = made.get("dump") or {}
        lines += [f"**{part.name}**: relxdata {made.get('version')}, job `{made.get('job')}`"
                  + (f", dump {dump.get('dbname')} of {dump.get('date') or 'an unknown date'}" if dump else "")
                  + f", {made.get('wall_seconds', 0):,.0f} s.", ""]
        if made.get("command"):
            lines += ["```", made["command"], "```", ""]
        inputs = made.get("inputs", [])
        downloaded = any(i.get("download") for i in inputs)
        if inputs:
            lines += _table(["input", "bytes", "sha256"] + ["downloaded from"] * downloaded,
                            [[f"`{os.path.basename(i['path'])}`", i.get("bytes", 0), f"`{i.get('sha256', '')}`"]
                             + [(i.get("download") or {}).get("url", "")] * downloaded for i in inputs])
            lines.append("")
    return lines + ["The full configuration of each run is in its `_manifest.json`.", ""]


def _licence_section(dataset: Dataset) -> list[str]:
    return ["## Licence", "",
            f"{dataset.sources}The text is from Wikipedia, available under the Creative Commons "
            "Attribution-ShareAlike 4.0 licence (CC BY-SA 4.0; older dumps under 3.0), and so is this dataset; "
            "credit the Wikipedia contributors of the articles named in `page_title`.", ""]


def dataset_card(stats: OutputStats, plots: dict[str, str], out: str) -> str:
    dataset = DATASETS[stats.kind]
    languages = sorted(str(lang) for lang in stats.counts["language"]
                       for lang in (lang.split("-") if stats.kind == "pairs" else [lang]))
    header = {"pretty_name": f"{dataset.title} ({', '.join(sorted(set(languages)))})",
              "license": "cc-by-sa-4.0", "language": sorted(set(languages)),
              "multilinguality": "multilingual" if len(set(languages)) > 1 else "monolingual",
              "size_categories": [size_category(stats.rows)], "source_datasets": ["original"],
              **({"task_categories": list(dataset.task_categories)} if dataset.task_categories else {}),
              "tags": ["relation-extraction", "distant-supervision", "wikipedia", "relxdata"],
              "configs": configs(stats, out)}
    lines = ["---", yaml.safe_dump(header, sort_keys=False, allow_unicode=True).rstrip(), "---", CARD_MARK, "",
             f"# {header['pretty_name']}", "", dataset.summary, "",
             f"Built with [relxdata](https://pypi.org/project/relxdata/) {relxdata.__version__}; the numbers "
             f"below are from `relxdata stats` (also in `{STATS}`).", ""]
    lines += _counts_section(stats) + _losses_section(stats)
    lines += ["## Plots", ""] + [f"![{title}]({PLOTS}/{name})" for title, name in plots.items()] + [""]
    lines += _columns_section(stats) + _loading_section(stats, out) + _provenance_section(stats)
    lines += _licence_section(dataset)
    return "\n".join(lines)


def _write(path: str, text: str) -> None:
    with open(path + ".inprogress", "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(path + ".inprogress", path)


def write_stats(directory: str, out: str | None = None, overwrite: bool = False) -> OutputStats:
    """Count a finished output and write OUT/stats.json, OUT/plots/*.png and, last, OUT/README.md."""
    out = out or directory
    card = os.path.join(out, CARD)
    if os.path.exists(card) and not overwrite:
        with open(card, encoding="utf-8", errors="replace") as f:
            if CARD_MARK not in f.read():
                raise RelxdataError(f"{card} exists and was not written by relxdata stats; pass --overwrite to "
                                    "replace it")
    stats = output_stats(directory)
    make_directory(out)
    _write(os.path.join(out, STATS), stats.to_json())
    plots = plot_stats(stats, os.path.join(out, PLOTS))
    _write(card, dataset_card(stats, plots, out))
    return stats


def summary_lines(stats: OutputStats) -> list[str]:
    """What `relxdata stats` prints: the totals per dimension, and any disagreement with the manifests."""
    lines = [f"{stats.kind}: {stats.rows:,} rows in {len(stats.parts)} part(s)"]
    for dimension, counts in stats.counts.items():
        top = ", ".join(f"{value} {count:,}" for value, count in list(counts.items())[:8])
        lines.append(f"  by {dimension}: {top}" + (f", … ({len(counts)} in all)" if len(counts) > 8 else ""))
    lost = {name: sum(by_part.values()) for name, by_part in stats.losses.items()}
    if lost:
        lines.append("  left out: " + ", ".join(f"{name} {count:,}" for name, count in lost.items()))
    lines += [f"  WARNING: {problem}" for problem in stats.problems]
    return lines

