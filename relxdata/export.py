"""Corpora in the layouts their authors released, for tools that read those."""

from __future__ import annotations

import os

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from relxdata.corpora import REQUIRED_COLUMNS, check_corpus, corpus_files

# The released RELX-Distant files hold a JSON array of objects with exactly these keys, in this order.
RELX_JSON_KEYS = ("sentence", "entity1", "entity2", "entity1_indices", "entity2_indices", "relation",
                  "relation_name", "category")
_BATCH_ROWS = 65_536


def export_relx_json(corpus: str, out: str) -> int:
    """Write a relx-distant corpus as one JSON array (RELX-Distant's layout); the number of rows.

    Rows stream shard by shard in corpus order; the file appears under its name only when whole.
    """
    files = corpus_files(corpus)
    check_corpus(files, {**REQUIRED_COLUMNS, "relation_name": pa.types.is_string})
    temporary = out + ".inprogress"
    rows = 0
    with open(temporary, "wb") as sink:
        sink.write(b"[")
        for path in files:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=_BATCH_ROWS, columns=list(RELX_JSON_KEYS)):
                for record in batch.to_pylist():
                    sink.write(b"\n" if rows == 0 else b",\n")
                    sink.write(orjson.dumps({key: record[key] for key in RELX_JSON_KEYS}))
                    rows += 1
        sink.write(b"\n]\n")
    os.replace(temporary, out)
    return rows
