"""Synthetic corpora that follow the relx-distant contract, for tests and benchmarks.

Facts link entities of Zipf-like popularity through the RELX-Distant categories; each sentence
expresses one fact in one language, with the language shares of RELX-Distant and sentences of its
length (about 25 words). The text is random words, so only the structure is realistic.
"""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from relxdata.corpora import COMPRESSION, RELX_DISTANT, row_id, shard_name

RELX_DISTANT_SHARES = {"en": 815_689, "fr": 652_842, "de": 652_062, "es": 397_875, "tr": 57_114}
CATEGORIES = ["P127", "P140", "P171", "P172", "P175", "P19", "P22", "P25", "P26", "P27", "P2936", "P30", "P31",
              "P3373", "P361", "P451", "P463", "P495", "P50", "P674", "P749", "P17_P131_P150_P706", "P36_P1376",
              "P178_P176"]


def write_contract_corpus(out: str, sentences: int, *, seed: int = 0, langs: dict[str, int] | None = None,
                          entities: int | None = None, facts: int | None = None, shards: int = 4,
                          cue_words: bool = False) -> None:
    """Write `sentences` relx-distant rows as Parquet shards in `out`.

    With `cue_words` the word after entity 1 names the category, a signal that a model can learn.
    """
    shares = langs or RELX_DISTANT_SHARES
    rng = np.random.default_rng(seed)
    entities = entities or max(50, sentences // 4)
    facts = facts or max(40, sentences // 6)
    popularity = 1.0 / np.arange(1, entities + 1) ** 0.9
    popularity /= popularity.sum()
    subjects = rng.choice(entities, facts, p=popularity)
    objects = rng.choice(entities, facts, p=popularity)
    objects = np.where(objects == subjects, (objects + 1) % entities, objects)
    categories = rng.integers(0, len(CATEGORIES), facts)
    fact_weight = 1.0 / np.arange(1, facts + 1) ** 0.7
    fact_of_row = rng.choice(facts, sentences, p=fact_weight / fact_weight.sum())
    names = list(shares)
    weights = np.array([shares[name] for name in names], dtype=float)
    lang_of_row = rng.choice(len(names), sentences, p=weights / weights.sum())
    lengths = np.clip(rng.normal(25, 9, sentences).astype(int), 8, 80)
    vocabulary = [f"w{n}" for n in range(5000)]
    rows_per_shard = -(-sentences // shards)
    os.makedirs(out, exist_ok=True)
    for shard in range(shards):
        columns: dict[str, list] = {name: [] for name in RELX_DISTANT.names}
        for row in range(shard * rows_per_shard, min(sentences, (shard + 1) * rows_per_shard)):
            fact = fact_of_row[row]
            lang = names[lang_of_row[row]]
            entity1, entity2 = f"Q{subjects[fact] + 1}", f"Q{objects[fact] + 1}"
            text1, text2 = f"Entity{subjects[fact] + 1}", f"Entity{objects[fact] + 1}"
            words = [vocabulary[w] for w in rng.integers(0, len(vocabulary), lengths[row])]
            first, second = sorted(rng.choice(len(words), 2, replace=False))
            category = CATEGORIES[categories[fact]]
            if cue_words:
                words.insert(first, f"rel{category.lower()}")
                second += 1
            before = " ".join(words[:first])
            middle = " ".join(words[first:second])
            start1 = len(before) + (1 if before else 0)
            start2 = start1 + len(text1) + 1 + len(middle) + (1 if middle else 0)
            sentence = " ".join(part for part in (before, text1, middle, text2, " ".join(words[second:])) if part)
            sentence += "."
            relation = category.split("_")[0]
            page_id = int(row // 7)
            columns["id"].append(row_id(lang, page_id, row % 7, entity1, entity2, relation))
            columns["lang"].append(lang)
            columns["sentence"].append(sentence)
            columns["entity1"].append(entity1)
            columns["entity2"].append(entity2)
            columns["entity1_indices"].append([start1, start1 + len(text1)])
            columns["entity2_indices"].append([start2, start2 + len(text2)])
            columns["relation"].append(relation)
            columns["relation_name"].append(relation)
            columns["category"].append(category)
            columns["page_id"].append(page_id)
            columns["page_title"].append(f"Page {page_id}")
            columns["entity1_text"].append(text1)
            columns["entity2_text"].append(text2)
        table = pa.table(columns, schema=RELX_DISTANT)
        pq.write_table(table, os.path.join(out, shard_name(shard, shards)), compression=COMPRESSION)
