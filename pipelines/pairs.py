"""relx-distant corpus -> MTMB pairs, for corpora and pair counts that outgrow one machine.

    relxdata run pairs --corpus gs://bucket/relx-distant --out gs://bucket/pairs [options] [beam options]

The rules are those of `relxdata build-pairs` (docs/build-pairs.md); the sampling is done in two
levels so that no worker holds the whole index space:

1. rows are grouped by key (entity1, entity2, category for positives; each entity for negatives)
   and every group counts its valid (pivot, other-language) pairs;
2. per (class, language) the group counts alone are gathered, and the share of that class and
   language is split over the groups by drawing distinct indices uniformly from all their pairs;
3. each group draws its share of distinct valid pairs from its own rows.

A uniform draw of the groups' shares followed by uniform draws inside each group is a uniform draw
of distinct pairs. A pair's position is a hash of the seed and its two row ids: it picks the shard,
orders the shard and draws the blanks, so the output does not depend on how work was spread.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import time
from collections import Counter

import apache_beam as beam
import numpy as np
import pyarrow.parquet as pq
from apache_beam.io.filesystems import CompressionTypes, FileSystems
from apache_beam.io.parquetio import ReadAllFromParquet
from apache_beam.metrics import Metrics

from pipelines.launch import (beam_pipeline, fresh_output, join, matching_paths, pipeline_options, write_rows,
                              write_text)
from relxdata.corpora import MANIFEST, check_corpus, corpus_files, manifest, shard_name
from relxdata.errors import RelxdataError
from relxdata.pairs import CLASS_NAMES, NEGATIVE, PAIRS, POSITIVE, add_pair_arguments, draw_valid, sample_distinct

JOB = "pairs"
ROW_COLUMNS = ["id", "lang", "sentence", "entity1", "entity2", "entity1_indices", "entity2_indices", "relation",
               "category"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="relxdata run pairs",
        description="MTMB pairs with Beam (the rules of `relxdata build-pairs`). Options not listed here go to "
                    "Beam, e.g. --runner DataflowRunner --project P --region R.")
    add_pair_arguments(parser)
    parser.add_argument("--out", required=True, help="output directory (local path or gs://...)")
    return parser


def corpus_languages(files: list[str]) -> list[str]:
    """The languages of a corpus, from its `lang` column alone."""
    langs: set[str] = set()
    for path in files:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            langs.update(pq.read_table(f, columns=["lang"]).column("lang").unique().to_pylist())
    return sorted(langs)


def position(seed: int, id_a: str, id_b: str) -> int:
    """A pair's pseudo-random 64-bit position, the same on every worker."""
    digest = hashlib.blake2b(f"{seed}\t{id_a}\t{id_b}".encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def group_seed(seed: int, label: int, lang: str, key) -> int:
    digest = hashlib.blake2b(repr((seed, label, lang, key)).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


# --- 1. groups and their counts -------------------------------------------------------------------

class PairGroups(beam.DoFn):
    """key -> (lang, row id, ...) members; for each language, its members and the pivot's, with the
    number of valid pairs between them.

    Positives are keyed by (entity1, entity2, category) and every pair is valid; negatives are keyed
    by one entity, their members carry (row id, other entity, category), and a pair is valid when both
    differ.
    """

    def __init__(self, label: int, pivot: str, langs: tuple[str, ...]):
        self.label, self.pivot, self.langs = label, pivot, langs

    def process(self, element):
        key, members = element
        by_lang: dict[str, list[tuple]] = {}
        for member in members:
            by_lang.setdefault(member[0], []).append(member[1:])
        pivot = sorted(by_lang.get(self.pivot, []))
        for lang in self.langs if pivot else ():
            other = sorted(by_lang.get(lang, []))
            if other:
                valid = len(pivot) * len(other) if self.label == POSITIVE else _valid_negatives(pivot, other)
                yield (self.label, lang, key), {"a": pivot, "b": other, "valid": valid}


def _valid_negatives(pivot: list[tuple], other: list[tuple]) -> int:
    """Pairs of mentions (id, other entity, category) whose other entities and categories both differ."""
    def matches(field) -> int:
        counts_a, counts_b = Counter(map(field, pivot)), Counter(map(field, other))
        return sum(counts_a[value] * counts_b[value] for value in counts_a.keys() & counts_b.keys())

    return (len(pivot) * len(other) - matches(lambda m: m[1]) - matches(lambda m: m[2])
            + matches(lambda m: (m[1], m[2])))


def mentions(row: dict):
    yield row["entity1"], (row["lang"], row["id"], row["entity2"], row["category"])
    yield row["entity2"], (row["lang"], row["id"], row["entity1"], row["category"])


# --- 2. shares per group --------------------------------------------------------------------------------

def supply_of(totals) -> dict:
    """[((language, class), valid pairs)] -> {language: {"positive": n, "negative": n}}."""
    supply: dict = {}
    for (lang, label), valid in sorted(totals):
        supply.setdefault(lang, {"positive": 0, "negative": 0})[CLASS_NAMES[label]] = valid
    return supply


def share_per_combination(supply: dict, num_pairs: int, langs: tuple[str, ...], allow_fewer: bool) -> int:
    combinations = 2 * len(langs)
    wanted = num_pairs // combinations
    smallest = min(supply.get(lang, {}).get(name, 0) for lang in langs for name in ("positive", "negative"))
    if smallest < wanted:
        if not allow_fewer:
            available = "; ".join(f"{lang}: {supply.get(lang, {}).get('positive', 0):,} positive, "
                                  f"{supply.get(lang, {}).get('negative', 0):,} negative" for lang in langs)
            raise RelxdataError(f"the corpus cannot supply {wanted:,} pairs per class and language ({available}); "
                                f"at most {smallest * combinations:,} pairs keep the classes and languages "
                                "balanced: lower --num-pairs or pass --allow-fewer")
        return smallest
    return wanted


class SplitShares(beam.DoFn):
    """(class, language) -> every group's valid count; yields each group's share of the draw."""

    def __init__(self, seed: int):
        self.seed = seed

    def process(self, element, share: int):
        (label, lang), groups = element
        groups = sorted(groups)
        keys = [key for key, _ in groups]
        ends = np.cumsum([valid for _, valid in groups])
        rng = np.random.default_rng(group_seed(self.seed, label, lang, "shares"))
        drawn = np.searchsorted(ends, sample_distinct(rng, int(ends[-1]), share), side="right")
        for index, count in zip(*np.unique(drawn, return_counts=True)):
            yield (label, lang, keys[index]), int(count)


# --- 3. pairs inside each group ------------------------------------------------------------------------

class DrawPairs(beam.DoFn):
    def __init__(self, seed: int):
        self.seed = seed

    def process(self, element):
        group, joined = element
        shares, members = list(joined["share"]), list(joined["members"])
        if shares:
            yield from self.draw(group, shares[0], members[0])

    def draw(self, group, share: int, rows: dict):
        label, lang, key = group
        a, b, valid = rows["a"], rows["b"], rows["valid"]
        rng = np.random.default_rng(group_seed(self.seed, label, lang, key))
        if label == POSITIVE:
            indices = sample_distinct(rng, len(a) * len(b), share)
        else:
            other_a, other_b = np.array([m[1] for m in a]), np.array([m[1] for m in b])
            category_a, category_b = np.array([m[2] for m in a]), np.array([m[2] for m in b])

            def is_valid(candidates):
                i, j = np.divmod(candidates, len(b))
                return (other_a[i] != other_b[j]) & (category_a[i] != category_b[j])

            indices = draw_valid(rng, len(a) * len(b), share, valid, is_valid)
        Metrics.counter(JOB, f"pairs.{CLASS_NAMES[label]}.{lang}").inc(len(indices))
        for i, j in zip(*np.divmod(indices, len(b))):
            yield {"label": label, "id_a": a[i][0], "id_b": b[j][0],
                   "shared_entity": None if label == POSITIVE else key}


# --- texts, shards, manifest -----------------------------------------------------------------------------

def attach(element, side: str):
    """Join one side's corpus row to the pairs that name it."""
    _, joined = element
    rows = list(joined["row"])
    for pair in joined["pairs"]:
        row = rows[0]
        yield {**pair, f"lang_{side}": row["lang"], f"text_{side}": row["sentence"],
               f"e1_{side}": row["entity1_indices"], f"e2_{side}": row["entity2_indices"],
               f"relation_{side}": row["relation"]}


class WriteShard(beam.DoFn):
    def __init__(self, out: str, seed: int, blank_prob: float):
        self.out, self.seed, self.blank_prob = out, seed, blank_prob

    def process(self, element, shards: int):
        shard, pairs = element
        # Every shard index arrives at least once, as None, so that no shard file is missing.
        rows = sorted((pair for pair in pairs if pair is not None), key=lambda pair: pair["position"])
        for row in rows:
            blanks = np.random.default_rng([self.seed, row.pop("position")]).random(4) < self.blank_prob
            row.update(pair_id=f"{self.seed}-{position(self.seed, row['id_a'], row['id_b']):016x}",
                       blank_e1_a=bool(blanks[0]), blank_e2_a=bool(blanks[1]),
                       blank_e1_b=bool(blanks[2]), blank_e2_b=bool(blanks[3]))
        write_rows(join(self.out, shard_name(shard, shards)), rows, PAIRS)
        yield len(rows)


def run(argv: list[str] | None = None) -> None:
    started_at = time.time()
    args, pipeline_args = build_parser().parse_known_args(argv)
    files = corpus_files(args.corpus, match=matching_paths)
    if all("://" not in path for path in files):
        check_corpus(files)
    langs = tuple(lang for lang in (args.langs.split(",") if args.langs else corpus_languages(files))
                  if lang != args.pivot)
    if not langs:
        raise RelxdataError("no language besides the pivot to pair with")
    if args.num_pairs % (2 * len(langs)):
        raise RelxdataError(f"--num-pairs {args.num_pairs} does not split evenly into positives and negatives "
                            f"for {len(langs)} languages; use a multiple of {2 * len(langs)}")
    seed, pivot = args.seed, args.pivot
    with fresh_output(args.out, args.overwrite), beam_pipeline(pipeline_options(pipeline_args)) as pipeline:
        rows = (pipeline
                | "Shards" >> beam.Create(files)
                | "Read" >> ReadAllFromParquet(columns=ROW_COLUMNS))
        wanted = rows | "InLanguages" >> beam.Filter(lambda row: row["lang"] in (pivot, *langs))
        positive = (wanted
                    | "ByEntityPair" >> beam.Map(
                        lambda r: ((r["entity1"], r["entity2"], r["category"]), (r["lang"], r["id"])))
                    | "GroupEntityPairs" >> beam.GroupByKey()
                    | "PositiveGroups" >> beam.ParDo(PairGroups(POSITIVE, pivot, langs)))
        negative = (wanted
                    | "Mentions" >> beam.FlatMap(mentions)
                    | "GroupMentions" >> beam.GroupByKey()
                    | "NegativeGroups" >> beam.ParDo(PairGroups(NEGATIVE, pivot, langs)))
        groups = (positive, negative) | "AllGroups" >> beam.Flatten()
        counts = groups | "ValidCounts" >> beam.Map(lambda g: (g[0], g[1]["valid"]))
        supply = (counts
                  | "ByLanguageAndClass" >> beam.Map(lambda c: ((c[0][1], c[0][0]), c[1]))
                  | "SumValid" >> beam.CombinePerKey(sum)
                  | "Totals" >> beam.combiners.ToList()
                  | "Supply" >> beam.Map(supply_of))
        share = supply | "Share" >> beam.Map(share_per_combination, args.num_pairs, langs, args.allow_fewer)
        shares = (counts
                  | "ByCombination" >> beam.Map(lambda c: ((c[0][0], c[0][1]), (c[0][2], c[1])))
                  | "GroupCombinations" >> beam.GroupByKey()
                  | "SplitShares" >> beam.ParDo(SplitShares(seed), share=beam.pvalue.AsSingleton(share)))
        pairs = ({"share": shares, "members": groups}
                 | "JoinShares" >> beam.CoGroupByKey()
                 | "DrawPairs" >> beam.ParDo(DrawPairs(seed)))
        by_id = rows | "RowsById" >> beam.Map(lambda row: (row["id"], row))
        for side in ("a", "b"):
            pairs = ({"pairs": pairs | f"ById_{side}" >> beam.Map(lambda p, s=side: (p[f"id_{s}"], p)),
                      "row": by_id}
                     | f"Join_{side}" >> beam.CoGroupByKey()
                     | f"Attach_{side}" >> beam.FlatMap(attach, side))
        shard_count = share | "ShardCount" >> beam.Map(
            lambda s: max(1, math.ceil(s * 2 * len(langs) / args.pairs_per_shard)))
        every_shard = shard_count | "EveryShard" >> beam.FlatMap(lambda n: [(shard, None) for shard in range(n)])
        placed = pairs | "Place" >> beam.Map(place, seed, n=beam.pvalue.AsSingleton(shard_count))
        written = ((placed, every_shard)
                   | "WithEveryShard" >> beam.Flatten()
                   | "GroupShards" >> beam.GroupByKey()
                   | "WriteShards" >> beam.ParDo(WriteShard(args.out, seed, args.blank_prob),
                                                 shards=beam.pvalue.AsSingleton(shard_count)))
        by_class = (pairs
                    | "ClassAndLanguage" >> beam.Map(lambda p: (f"pairs_by_class.{CLASS_NAMES[p['label']]}."
                                                                f"{p['lang_b']}", 1))
                    | "CountByClass" >> beam.CombinePerKey(sum)
                    | "ByClass" >> beam.combiners.ToDict())
        description = {"config": {**vars(args), "beam_options": pipeline_args},
                       "inputs": [{"path": path} for path in sorted(files)],
                       "languages": {"pivot": pivot, "paired": list(langs)}}
        _ = (written
             | "CountPairs" >> beam.CombineGlobally(sum)
             | "WriteManifest" >> beam.Map(write_pairs_manifest, args.out, description, started_at,
                                           by_class=beam.pvalue.AsSingleton(by_class),
                                           supply=beam.pvalue.AsSingleton(supply),
                                           shards=beam.pvalue.AsSingleton(shard_count)))


def place(pair: dict, seed: int, n: int):
    """(shard, pair with its position)."""
    where = position(seed, pair["id_a"], pair["id_b"])
    return where % n, {**pair, "position": where}


def write_pairs_manifest(pairs: int, out: str, description: dict, started_at: float, by_class: dict, supply: dict,
                         shards: int) -> None:
    text = manifest(job=JOB, config=description["config"], inputs=description["inputs"],
                    counts={"pairs": pairs, **by_class},
                    outputs={"pairs": {"directory": ".", "shards": shards, "rows": pairs}},
                    extra={"languages": description["languages"], "supply": supply},
                    wall_seconds=time.time() - started_at)
    write_text(join(out, MANIFEST), text)
