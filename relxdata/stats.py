"""What a relxdata output holds: counts per language, relation, label and split, histograms, and the
manifest's drop and skip reasons, read with DuckDB straight from the shards.

An output is one finished job directory (its `_manifest.json` says which job), or a directory of
them, one per language, as `relxdata demo` and per-language runs write them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import duckdb

from relxdata.corpora import MANIFEST, corpus_files, flat_counts
from relxdata.errors import RelxdataError


@dataclass(frozen=True)
class HistogramSpec:
    """A histogram of an SQL expression over the rows, in bins of `width`; values from `cap` up share the last."""

    title: str
    expression: str
    width: int
    cap: int
    unit: str


@dataclass(frozen=True)
class Layout:
    """How one job's rows are counted: SQL expressions per dimension, histograms, and the rows' page."""

    dimensions: dict[str, str]
    histograms: dict[str, HistogramSpec]
    page: str | None = "lang, page_id"
    # The manifest's own counts per dimension (`rows_by_language`), checked against the shards.
    manifest_counts: dict[str, str] = field(default_factory=dict)


def _gap(span_1: str, span_2: str) -> str:
    """The characters between two [start, end) spans (DuckDB lists count from 1), 0 when they touch or overlap."""
    return f"greatest(0, greatest({span_1}[1], {span_2}[1]) - least({span_1}[2], {span_2}[2]))"


def _sentence_length(column: str) -> HistogramSpec:
    return HistogramSpec("sentence length", f"length({column})", 20, 600, "characters")


def _entity_distance(span_1: str, span_2: str) -> HistogramSpec:
    return HistogramSpec("entity distance", _gap(span_1, span_2), 10, 300, "characters between the two entities")


LAYOUTS: dict[str, Layout] = {
    "sentences": Layout(
        dimensions={"language": "lang"},
        histograms={"sentence_length": _sentence_length("text"),
                    "links_per_sentence": HistogramSpec("links per sentence", "len(links)", 1, 20, "links")}),
    "relx-distant": Layout(
        dimensions={"language": "lang", "relation": "relation", "category": "category"},
        histograms={"sentence_length": _sentence_length("sentence"),
                    "entity_distance": _entity_distance("entity1_indices", "entity2_indices")},
        manifest_counts={"language": "rows_by_language", "relation": "rows_by_relation",
                         "category": "rows_by_category"}),
    "smiler": Layout(
        dimensions={"language": "lang", "label": "label", "split": "split"},
        histograms={"sentence_length": _sentence_length("text"),
                    "entity_distance": _entity_distance("entity_1_indices", "entity_2_indices")},
        manifest_counts={"language": "rows_by_language", "label": "rows_by_label", "split": "rows_by_split"}),
    "pairs": Layout(
        dimensions={"language": "lang_a || '-' || lang_b",
                    "class": "CASE label WHEN 1 THEN 'positive' ELSE 'negative' END",
                    "relation": "relation_a"},
        histograms={"sentence_length": _sentence_length("text_a"),
                    "entity_distance": _entity_distance("e1_a", "e2_a")},
        page=None),
}
JOB_LAYOUTS = {"sentences": "sentences", "relx-distant": "relx-distant", "smiler": "smiler", "pairs": "pairs",
               "build-pairs": "pairs"}
# Count names that say why something did not reach the output.
LOSS_WORDS = {"skipped", "dropped", "unresolved", "unmatched", "bad_lines", "not_found", "quarantined", "truncated"}


@dataclass(frozen=True)
class Part:
    """One finished job directory of the output: its path relative to the output, and its manifest."""

    path: str
    manifest: dict

    @property
    def name(self) -> str:
        return self.path if self.path != "." else self.manifest.get("config", {}).get("lang") or "all"


@dataclass
class OutputStats:
    directory: str
    kind: str
    parts: list[Part]
    rows: int
    counts: dict[str, dict[str, int]]
    histograms: dict[str, list[tuple[int, int]]]
    # (least rows, most rows, articles), in bins that double: 1, 2, 3-4, 5-8, ...
    rows_per_page: list[tuple[int, int, int]]
    losses: dict[str, dict[str, int]]
    problems: list[str]

    @property
    def layout(self) -> Layout:
        return LAYOUTS[self.kind]

    def to_json(self) -> str:
        document = {
            "directory": self.directory, "kind": self.kind, "parts": [part.path for part in self.parts],
            "rows": self.rows, "counts": self.counts,
            "histograms": {name: {"unit": self.layout.histograms[name].unit, "width": self.layout.histograms[name].width,
                                  "cap": self.layout.histograms[name].cap, "bins": bins}
                           for name, bins in self.histograms.items()},
            "rows_per_page": self.rows_per_page, "losses": self.losses, "problems": self.problems,
        }
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _read_manifest(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as exc:
        raise RelxdataError(f"{path}: not a readable relxdata manifest ({exc})") from None


def find_parts(directory: str) -> list[Part]:
    """The finished job directories of an output: `directory` itself, or its subdirectories."""
    if os.path.isfile(directory):
        raise RelxdataError(f"{directory} is a file, not an output directory")
    if not os.path.isdir(directory):
        raise RelxdataError(f"no such output directory: {directory}")
    if os.path.exists(os.path.join(directory, MANIFEST)):
        return [Part(".", _read_manifest(os.path.join(directory, MANIFEST)))]
    parts = [Part(name, _read_manifest(os.path.join(directory, name, MANIFEST)))
             for name in sorted(os.listdir(directory)) if os.path.exists(os.path.join(directory, name, MANIFEST))]
    if not parts:
        raise RelxdataError(f"{directory} holds no {MANIFEST}, nor do its subdirectories: not a finished relxdata "
                            "output (a run that did not finish leaves none)")
    jobs = {part.manifest.get("job") for part in parts}
    if len(jobs) > 1:
        raise RelxdataError(f"{directory} mixes outputs of different jobs ({', '.join(sorted(map(str, jobs)))}); "
                            "give one job's directory")
    return parts


def _kind(parts: list[Part], directory: str) -> str:
    job = parts[0].manifest.get("job")
    if job not in JOB_LAYOUTS:
        raise RelxdataError(f"{directory}: the manifest names the job {job!r}, which stats does not know "
                            f"(known: {', '.join(JOB_LAYOUTS)})")
    return JOB_LAYOUTS[job]


def _histogram(db: duckdb.DuckDBPyConnection, spec: HistogramSpec) -> list[tuple[int, int]]:
    rows = db.execute(f"""
        SELECT least(floor(({spec.expression}) / {spec.width}) * {spec.width}, {spec.cap})::BIGINT AS bin, count(*)
        FROM rows WHERE ({spec.expression}) IS NOT NULL GROUP BY bin ORDER BY bin""").fetchall()
    return [(int(start), int(count)) for start, count in rows]


def losses_of(parts: list[Part]) -> dict[str, dict[str, int]]:
    """The manifest counts that say why something was lost (`pages.skipped.redirect`), per part."""
    losses: dict[str, dict[str, int]] = {}
    for part in parts:
        for name, value in flat_counts(part.manifest.get("counts", {})).items():
            if LOSS_WORDS & set(name.split(".")) and value:
                losses.setdefault(name, {})[part.name] = int(value)
    return dict(sorted(losses.items()))


def _manifest_problems(parts: list[Part], layout: Layout, counts: dict[str, dict[str, int]], rows: int) -> list[str]:
    """Where the shards disagree with what the manifests say they hold."""
    problems = []
    said = sum(output.get("rows", 0) for part in parts
               for output in part.manifest.get("outputs", {}).values() if output.get("directory") == ".")
    if said != rows:
        problems.append(f"the manifests say {said:,} rows, the shards hold {rows:,}")
    for dimension, key in layout.manifest_counts.items():
        expected: dict[str, int] = {}
        for part in parts:
            for value, count in part.manifest.get("counts", {}).get(key, {}).items():
                expected[value] = expected.get(value, 0) + int(count)
        if expected != counts[dimension]:
            problems.append(f"rows per {dimension}: the manifests say {expected}, the shards hold {counts[dimension]}")
    return problems


def output_stats(directory: str) -> OutputStats:
    """Read every shard of a finished output (one job directory, or one per language) and count."""
    parts = find_parts(directory)
    kind = _kind(parts, directory)
    layout = LAYOUTS[kind]
    files = corpus_files([os.path.join(directory, part.path) for part in parts])
    db = duckdb.connect()
    try:
        db.read_parquet(files).create_view("rows")
        rows = db.execute("SELECT count(*) FROM rows").fetchone()[0]
        counts = {dimension: dict(db.execute(f"SELECT ({expression}) AS value, count(*) FROM rows GROUP BY value "
                                             "ORDER BY count(*) DESC, value").fetchall())
                  for dimension, expression in layout.dimensions.items()}
        histograms = {name: _histogram(db, spec) for name, spec in layout.histograms.items()}
        rows_per_page = [] if layout.page is None else [
            ((1 << int(bin) - 1) + 1 if bin else 1, 1 << int(bin), int(pages)) for bin, pages in db.execute(
                f"SELECT ceil(log2(n))::INTEGER AS bin, count(*) FROM "
                f"(SELECT count(*) AS n FROM rows GROUP BY {layout.page}) GROUP BY bin ORDER BY bin").fetchall()]
    except duckdb.Error as exc:
        raise RelxdataError(f"{directory}: the shards do not hold {kind} rows ({exc})") from None
    finally:
        db.close()
    return OutputStats(directory=directory, kind=kind, parts=parts, rows=rows, counts=counts, histograms=histograms,
                       rows_per_page=rows_per_page, losses=losses_of(parts),
                       problems=_manifest_problems(parts, layout, counts, rows))
