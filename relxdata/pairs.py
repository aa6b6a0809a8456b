"""MTMB sentence pairs from a RELX-Distant corpus: positives, strong negatives and blanks.

Every pair joins a pivot-language row `a` with a row `b` of another language:

- positive (label 1): `a` and `b` have the same entity1, entity2 and category;
- strong negative (label 0): they share exactly one entity, and their categories differ.

For each (class, language) the candidate pairs form an index space: the groups of rows that share
a key, one after another, each holding `pivot rows x other rows` pairs. Drawing distinct indices
from that space uniformly and mapping each to its group by the cumulative counts samples distinct
pairs uniformly without ever listing them. Only integer codes of the corpus rows are in memory;
the texts stay in DuckDB, which joins them to the sampled pairs one shard at a time.
"""

from __future__ import annotations

import argparse
import glob
import math
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from typing import Sequence

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm import tqdm

from relxdata.corpora import (COMPRESSION, MANIFEST, ROW_GROUP_ROWS, check_corpus, corpus_files, file_fingerprint,
                              manifest, shard_name)
from relxdata.errors import RelxdataError

POSITIVE, NEGATIVE = 1, 0
CLASS_NAMES = {POSITIVE: "positive", NEGATIVE: "negative"}
# DuckDB's spill and scratch directory inside the output, removed when the run ends (or by the next run).
WORKDIR_PREFIX = ".build-pairs-"
SPAN = pa.list_(pa.int32())
PAIRS = pa.schema([
    ("pair_id", pa.string()), ("label", pa.int8()), ("lang_a", pa.string()), ("lang_b", pa.string()),
    ("text_a", pa.string()), ("text_b", pa.string()), ("e1_a", SPAN), ("e2_a", SPAN), ("e1_b", SPAN),
    ("e2_b", SPAN), ("relation_a", pa.string()), ("relation_b", pa.string()), ("shared_entity", pa.string()),
    ("blank_e1_a", pa.bool_()), ("blank_e2_a", pa.bool_()), ("blank_e1_b", pa.bool_()), ("blank_e2_b", pa.bool_()),
    ("id_a", pa.string()), ("id_b", pa.string()),
])


def add_pair_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the pair rules, which `build-pairs` and `run pairs` share."""
    parser.add_argument("--corpus", required=True, nargs="+", metavar="DIR",
                        help="relx-distant corpus directories (part-*.parquet), or directories of them (one per "
                             "language, e.g. the demo's relx-distant/)")
    parser.add_argument("--num-pairs", type=int, default=20_000_000, help="pairs to build (default 20,000,000)")
    parser.add_argument("--seed", type=int, default=13, help="random seed (default 13)")
    parser.add_argument("--blank-prob", type=float, default=0.7,
                        help="probability that an entity mention is to be replaced by [BLANK] (default 0.7)")
    parser.add_argument("--pivot", default="en", help="the pivot language (default en)")
    parser.add_argument("--langs", help="comma-separated non-pivot languages (default: all in the corpus)")
    parser.add_argument("--allow-fewer", action="store_true",
                        help="build as many balanced pairs as the corpus allows instead of stopping")
    parser.add_argument("--pairs-per-shard", type=int, default=250_000, help="rows per shard (default 250,000)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output in --out")


@dataclass(frozen=True)
class PairConfig:
    num_pairs: int = 20_000_000
    seed: int = 13
    blank_prob: float = 0.7
    pivot: str = "en"
    langs: tuple[str, ...] | None = None
    allow_fewer: bool = False
    pairs_per_shard: int = 250_000
    memory_limit: str = "1GB"
    threads: int | None = None


@dataclass
class Sample:
    """The pairs drawn for one (class, language): row ids of a and b, and the shared entity code."""

    label: int
    lang: str
    rid_a: np.ndarray
    rid_b: np.ndarray
    shared: np.ndarray


@dataclass
class Plan:
    langs: list[str]
    supply: dict[str, dict[str, int]] = field(default_factory=dict)
    quota: dict[str, int] = field(default_factory=dict)


# --- the corpus ---------------------------------------------------------------------------------

class Corpus:
    """The corpus in a DuckDB database on disk, with integer codes for what sampling needs."""

    def __init__(self, files: list[str], workdir: str, memory_limit: str, threads: int):
        self.db = duckdb.connect(os.path.join(workdir, "corpus.duckdb"))
        try:
            self._load(files, workdir, memory_limit, threads)
        except BaseException:
            self.db.close()
            raise

    def _load(self, files: list[str], workdir: str, memory_limit: str, threads: int) -> None:
        self.db.execute(f"SET memory_limit = '{memory_limit}'")
        self.db.execute(f"SET temp_directory = '{os.path.join(workdir, 'spill')}'")
        self.db.execute(f"SET threads = {threads}")
        # A row's number is its shard's place in name order and its place in the shard: as stable
        # as an order by id, without sorting the texts.
        self.db.execute("""
            CREATE TABLE corpus (rid BIGINT, id VARCHAR, lang VARCHAR, sentence VARCHAR, entity1 VARCHAR,
                                 entity2 VARCHAR, entity1_indices INTEGER[], entity2_indices INTEGER[],
                                 relation VARCHAR, category VARCHAR)""")
        for number, path in enumerate(files):
            self.db.execute("""
                INSERT INTO corpus
                SELECT (?::BIGINT << 32) + file_row_number, id, lang, sentence, entity1, entity2, entity1_indices,
                       entity2_indices, relation, category
                FROM read_parquet(?, file_row_number = true)""", [number, path])
        duplicated = self.db.execute("SELECT count(*) - count(DISTINCT id) FROM corpus").fetchone()[0]
        if duplicated:
            raise RelxdataError(f"the corpus has {duplicated} rows whose id another row has too; ids must be unique")
        self.db.execute("""
            CREATE TABLE entities AS
            SELECT entity, (row_number() OVER (ORDER BY entity)) - 1 AS code
            FROM (SELECT entity1 AS entity FROM corpus UNION SELECT entity2 FROM corpus)""")
        self.db.execute("""
            CREATE TABLE categories AS
            SELECT category, (row_number() OVER (ORDER BY category)) - 1 AS code
            FROM (SELECT DISTINCT category FROM corpus)""")
        self.langs = [row[0] for row in self.db.execute("SELECT DISTINCT lang FROM corpus ORDER BY lang").fetchall()]
        self.entity_count = self.db.execute("SELECT count(*) FROM entities").fetchone()[0]

    def codes(self, lang: str) -> dict[str, np.ndarray]:
        """rid, entity1, entity2 and category codes of one language's rows, in rid order."""
        return self.db.execute("""
            SELECT c.rid, e1.code AS e1, e2.code AS e2, k.code AS category
            FROM corpus c JOIN entities e1 ON e1.entity = c.entity1 JOIN entities e2 ON e2.entity = c.entity2
                 JOIN categories k ON k.category = c.category
            WHERE c.lang = ? ORDER BY c.rid""", [lang]).fetchnumpy()

    def entity_names(self) -> pa.Array:
        """Entity names indexed by code."""
        return self.db.sql("SELECT entity FROM entities ORDER BY code").to_arrow_table().column(0).combine_chunks()

    def category_count(self) -> int:
        return self.db.execute("SELECT count(*) FROM categories").fetchone()[0]

    def pair_rows(self, shard: pa.Table) -> pa.Table:
        """The corpus columns of each shard row's a and b, in shard order."""
        self.db.register("shard", shard)
        try:
            return self.db.sql("""
                SELECT s.pos, a.lang AS lang_a, b.lang AS lang_b, a.sentence AS text_a, b.sentence AS text_b,
                       a.entity1_indices AS e1_a, a.entity2_indices AS e2_a,
                       b.entity1_indices AS e1_b, b.entity2_indices AS e2_b,
                       a.relation AS relation_a, b.relation AS relation_b, a.id AS id_a, b.id AS id_b
                FROM shard s JOIN corpus a ON a.rid = s.rid_a JOIN corpus b ON b.rid = s.rid_b
                ORDER BY s.pos""").to_arrow_table()
        finally:
            self.db.unregister("shard")


# --- groups and counting ---------------------------------------------------------------------------

@dataclass
class Groups:
    """Rows of the pivot and of one other language, grouped by a shared key present on both sides."""

    rid_a: np.ndarray  # pivot rows sorted by key
    rid_b: np.ndarray
    start_a: np.ndarray  # per common key: where its rows begin and how many there are
    count_a: np.ndarray
    start_b: np.ndarray
    count_b: np.ndarray

    @classmethod
    def by_key(cls, key_a, rid_a, key_b, rid_b) -> "Groups":
        order_a, order_b = np.lexsort((rid_a, key_a)), np.lexsort((rid_b, key_b))
        keys_a, start_a, count_a = np.unique(key_a[order_a], return_index=True, return_counts=True)
        keys_b, start_b, count_b = np.unique(key_b[order_b], return_index=True, return_counts=True)
        _, in_a, in_b = np.intersect1d(keys_a, keys_b, assume_unique=True, return_indices=True)
        return cls(rid_a[order_a], rid_b[order_b], start_a[in_a], count_a[in_a], start_b[in_b], count_b[in_b])

    @property
    def sizes(self) -> np.ndarray:
        return self.count_a.astype(np.int64) * self.count_b.astype(np.int64)

    def pairs(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Map indices of the pair space to (position in sorted a, position in sorted b, group)."""
        ends = np.cumsum(self.sizes)
        group = np.searchsorted(ends, indices, side="right")
        local = indices - (ends[group] - self.sizes[group])
        i, j = np.divmod(local, self.count_b[group])
        return self.start_a[group] + i, self.start_b[group] + j, group


def pair_count(key_a: np.ndarray, key_b: np.ndarray) -> int:
    """How many (a, b) pairs have equal keys."""
    keys_a, count_a = np.unique(key_a, return_counts=True)
    keys_b, count_b = np.unique(key_b, return_counts=True)
    _, in_a, in_b = np.intersect1d(keys_a, keys_b, assume_unique=True, return_indices=True)
    return int(np.dot(count_a[in_a].astype(np.int64), count_b[in_b].astype(np.int64)))


def _mentions(codes: dict[str, np.ndarray]):
    """Each row twice, once per entity: (row, entity, the other entity, category)."""
    rid = np.concatenate([codes["rid"], codes["rid"]])
    entity = np.concatenate([codes["e1"], codes["e2"]]).astype(np.int64)
    other = np.concatenate([codes["e2"], codes["e1"]]).astype(np.int64)
    category = np.concatenate([codes["category"], codes["category"]]).astype(np.int64)
    return rid, entity, other, category


class Candidates:
    """The positive and negative pair spaces between the pivot and one language."""

    def __init__(self, pivot: dict[str, np.ndarray], other: dict[str, np.ndarray], entities: int, categories: int):
        self.entities, self.categories = entities, categories
        self.positive = Groups.by_key(self._positive_key(pivot), pivot["rid"], self._positive_key(other), other["rid"])
        self.mentions_a, self.mentions_b = _mentions(pivot), _mentions(other)
        rid_a, entity_a, _, _ = self.mentions_a
        rid_b, entity_b, _, _ = self.mentions_b
        # Mention positions, not rows, are grouped, so that each row's other entity stays at hand.
        self.negative = Groups.by_key(entity_a, np.arange(len(rid_a)), entity_b, np.arange(len(rid_b)))

    def _positive_key(self, codes) -> np.ndarray:
        return (codes["e1"].astype(np.int64) * self.entities + codes["e2"]) * self.categories + codes["category"]

    def positive_supply(self) -> int:
        return int(self.positive.sizes.sum())

    def negative_supply(self) -> int:
        """Pairs sharing an entity, less those sharing the other entity too or the category."""
        _, entity_a, other_a, category_a = self.mentions_a
        _, entity_b, other_b, category_b = self.mentions_b
        same_other = pair_count(entity_a * self.entities + other_a, entity_b * self.entities + other_b)
        same_category = pair_count(entity_a * self.categories + category_a, entity_b * self.categories + category_b)
        same_both = pair_count((entity_a * self.entities + other_a) * self.categories + category_a,
                               (entity_b * self.entities + other_b) * self.categories + category_b)
        return int(self.negative.sizes.sum()) - same_other - same_category + same_both

    def sample_positive(self, rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        indices = sample_distinct(rng, self.positive_supply(), size)
        i, j, _ = self.positive.pairs(indices)
        return self.positive.rid_a[i], self.positive.rid_b[j], np.full(size, -1, dtype=np.int64)

    def sample_negative(self, rng: np.random.Generator, size: int, supply: int):
        """Rejection sampling in the space of pairs that share an entity; the valid share is known."""
        def members(indices):
            i, j, _ = self.negative.pairs(indices)
            return self.negative.rid_a[i], self.negative.rid_b[j]

        def valid(indices):
            mention_a, mention_b = members(indices)
            return ((self.mentions_a[2][mention_a] != self.mentions_b[2][mention_b])
                    & (self.mentions_a[3][mention_a] != self.mentions_b[3][mention_b]))

        indices = draw_valid(rng, int(self.negative.sizes.sum()), size, supply, valid)
        mention_a, mention_b = members(indices)
        return self.mentions_a[0][mention_a], self.mentions_b[0][mention_b], self.mentions_a[1][mention_a]


def draw_valid(rng: np.random.Generator, population: int, size: int, valid_count: int, is_valid) -> np.ndarray:
    """`size` distinct indices below `population` for which `is_valid` holds, in random order.

    `valid_count` (how many valid indices exist, at least `size`) sets how many to draw at once.
    """
    draw = min(population, math.ceil(size * population / max(valid_count, 1) * 1.1) + 64)
    while True:
        indices = sample_distinct(rng, population, draw)
        kept = indices[is_valid(indices)]
        if len(kept) >= size or draw == population:
            return kept[:size]
        draw = min(population, draw * 2)


def sample_distinct(rng: np.random.Generator, population: int, size: int) -> np.ndarray:
    """`size` distinct integers below `population`, in random order, in O(size) memory."""
    if size > population:
        raise ValueError("cannot draw more distinct values than the population holds")
    if size * 2 >= population:
        return rng.permutation(population)[:size]
    chosen = np.empty(0, dtype=np.int64)
    while len(chosen) < size:
        batch = rng.integers(0, population, size=int((size - len(chosen)) * 1.05) + 16, dtype=np.int64)
        merged = np.concatenate([chosen, batch])
        _, first = np.unique(merged, return_index=True)
        chosen = merged[np.sort(first)]
    return chosen[:size]


# --- building -------------------------------------------------------------------------------------------

def plan_pairs(config: PairConfig, corpus: Corpus, candidates: dict[str, Candidates]) -> Plan:
    """Quotas per (class, language), or a clear stop when the corpus cannot supply them."""
    plan = Plan(langs=list(candidates))
    for lang, space in candidates.items():
        plan.supply[lang] = {"positive": space.positive_supply(), "negative": space.negative_supply()}
    combinations = len(plan.langs) * 2
    per_combination = config.num_pairs // combinations
    if config.num_pairs % combinations:
        raise RelxdataError(f"--num-pairs {config.num_pairs} does not split evenly into positives and negatives "
                            f"for {len(plan.langs)} languages; use a multiple of {combinations}")
    smallest = min(min(supply.values()) for supply in plan.supply.values())
    if smallest < per_combination:
        if not config.allow_fewer:
            available = "; ".join(f"{lang}: {s['positive']:,} positive, {s['negative']:,} negative"
                                  for lang, s in plan.supply.items())
            raise RelxdataError(f"the corpus cannot supply {per_combination:,} pairs per class and language "
                                f"({available}); at most {smallest * combinations:,} pairs keep the classes and "
                                "languages balanced: lower --num-pairs or pass --allow-fewer")
        per_combination = smallest
    plan.quota = {lang: per_combination for lang in plan.langs}
    return plan


def choose_languages(config: PairConfig, corpus: Corpus) -> list[str]:
    if config.pivot not in corpus.langs:
        raise RelxdataError(f"the pivot language {config.pivot!r} has no rows in the corpus "
                            f"(languages: {', '.join(corpus.langs)})")
    if config.langs is None:
        langs = [lang for lang in corpus.langs if lang != config.pivot]
    else:
        missing = [lang for lang in config.langs if lang not in corpus.langs]
        if missing:
            raise RelxdataError(f"--langs names languages without rows in the corpus: {', '.join(missing)}")
        langs = [lang for lang in config.langs if lang != config.pivot]
    if not langs:
        raise RelxdataError("the corpus has no language besides the pivot to pair with")
    return langs


def draw_samples(config: PairConfig, plan: Plan, candidates: dict[str, Candidates]) -> list[Sample]:
    samples = []
    for number, lang in enumerate(plan.langs):
        space, quota = candidates[lang], plan.quota[lang]
        # One generator per (class, language): the draws do not depend on each other's order.
        rid_a, rid_b, shared = space.sample_positive(np.random.default_rng([config.seed, number, POSITIVE]), quota)
        samples.append(Sample(POSITIVE, lang, rid_a, rid_b, shared))
        rid_a, rid_b, shared = space.sample_negative(np.random.default_rng([config.seed, number, NEGATIVE]), quota,
                                                     plan.supply[lang]["negative"])
        samples.append(Sample(NEGATIVE, lang, rid_a, rid_b, shared))
    return samples


def write_pair_shards(config: PairConfig, corpus: Corpus, samples: list[Sample], out: str, progress) -> list[str]:
    """Shuffle every pair together and write shards of `pairs_per_shard` rows."""
    rid_a = np.concatenate([s.rid_a for s in samples])
    rid_b = np.concatenate([s.rid_b for s in samples])
    label = np.concatenate([np.full(len(s.rid_a), s.label, dtype=np.int8) for s in samples])
    shared = np.concatenate([s.shared for s in samples])
    names = corpus.entity_names()
    rng = np.random.default_rng([config.seed, 2])
    order = rng.permutation(len(rid_a))
    blanks = rng.random((len(rid_a), 4)) < config.blank_prob
    count = max(1, math.ceil(len(order) / config.pairs_per_shard))
    written = []
    for shard in range(count):
        first = shard * config.pairs_per_shard
        positions = order[first:first + config.pairs_per_shard]
        numbers = pa.array(np.arange(first, first + len(positions)))
        rows = corpus.pair_rows(pa.table({"pos": numbers, "rid_a": rid_a[positions], "rid_b": rid_b[positions]}))
        flags = blanks[first:first + len(positions)]
        codes = shared[positions]
        table = pa.table({
            "pair_id": pc.binary_join_element_wise(
                f"{config.seed}-", pc.utf8_lpad(numbers.cast(pa.string()), width=10, padding="0"), ""),
            "label": label[positions], "lang_a": rows["lang_a"], "lang_b": rows["lang_b"],
            "text_a": rows["text_a"], "text_b": rows["text_b"], "e1_a": rows["e1_a"], "e2_a": rows["e2_a"],
            "e1_b": rows["e1_b"], "e2_b": rows["e2_b"], "relation_a": rows["relation_a"],
            "relation_b": rows["relation_b"], "shared_entity": names.take(pa.array(codes, mask=codes < 0)),
            "blank_e1_a": flags[:, 0], "blank_e2_a": flags[:, 1], "blank_e1_b": flags[:, 2], "blank_e2_b": flags[:, 3],
            "id_a": rows["id_a"], "id_b": rows["id_b"],
        }).cast(PAIRS)
        name = shard_name(shard, count)
        temporary = os.path.join(out, name + ".inprogress")
        pq.write_table(table, temporary, compression=COMPRESSION, row_group_size=ROW_GROUP_ROWS)
        os.replace(temporary, os.path.join(out, name))
        written.append(name)
        progress.update(len(positions))
    return written


def build_pairs(corpora: str | Sequence[str], out: str, config: PairConfig, show_progress: bool = True) -> dict:
    """Build the pair shards and `_manifest.json` in `out` from the rows of every corpus directory in
    `corpora` (see `corpus_files`); returns the manifest's counts."""
    started = time.time()
    corpora = [corpora] if isinstance(corpora, str) else list(corpora)
    files = corpus_files(corpora)
    rows = check_corpus(files)
    os.makedirs(out, exist_ok=True)
    for stale in glob.glob(os.path.join(out, WORKDIR_PREFIX + "*")):  # left by a killed run
        shutil.rmtree(stale, ignore_errors=True)
    workdir = tempfile.mkdtemp(prefix=WORKDIR_PREFIX, dir=out)
    corpus = None
    try:
        corpus = Corpus(files, workdir, config.memory_limit, config.threads or os.cpu_count() or 1)
        langs = choose_languages(config, corpus)
        pivot = corpus.codes(config.pivot)
        categories = corpus.category_count()
        candidates = {lang: Candidates(pivot, corpus.codes(lang), corpus.entity_count, categories) for lang in langs}
        plan = plan_pairs(config, corpus, candidates)
        samples = draw_samples(config, plan, candidates)
        total = sum(len(sample.rid_a) for sample in samples)
        with tqdm(total=total, unit="pair", desc="pairs", disable=not show_progress) as progress:
            shards = write_pair_shards(config, corpus, samples, out, progress)
    except (duckdb.InterruptException, RuntimeError) as exc:
        # DuckDB turns Ctrl-C during a query into an error of its own: it is the user's interrupt.
        if isinstance(exc, duckdb.InterruptException) or "interrupted" in str(exc).lower():
            raise KeyboardInterrupt from None
        raise
    finally:
        if corpus is not None:
            corpus.db.close()
        shutil.rmtree(workdir, ignore_errors=True)
    counts = {"corpus_rows": rows, "pairs": total}
    for sample in samples:
        counts[f"pairs_by_class.{CLASS_NAMES[sample.label]}.{sample.lang}"] = len(sample.rid_a)
    text = manifest(
        job="build-pairs", config={"corpus": corpora, "out": out, **asdict(config)},
        inputs=[file_fingerprint(path) for path in files], counts=counts,
        outputs={"pairs": {"directory": ".", "shards": len(shards), "rows": total}},
        extra={"languages": {"pivot": config.pivot, "paired": plan.langs}, "supply": plan.supply,
               "per_class_and_language": plan.quota},
        wall_seconds=time.time() - started)
    temporary = os.path.join(out, MANIFEST + ".inprogress")
    with open(temporary, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(temporary, os.path.join(out, MANIFEST))
    return counts
