"""Corpora in the layouts their authors released, for tools that read those."""

from __future__ import annotations

import os

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from relxdata import smiler_tsv
from relxdata.corpora import REQUIRED_COLUMNS, check_corpus, corpus_files, make_directory
from relxdata.errors import RelxdataError

# The released RELX-Distant files hold a JSON array of objects with exactly these keys, in this order.
RELX_JSON_KEYS = ("sentence", "entity1", "entity2", "entity1_indices", "entity2_indices", "relation",
                  "relation_name", "category")
_BATCH_ROWS = 65_536
SMILER_TSV_COLUMNS = ["id", "entity_1", "entity_2", "label", "text", "lang", "entity_1_indices", "entity_2_indices",
                      "split"]
_INDICES = lambda t: pa.types.is_list(t) and pa.types.is_integer(t.value_type)  # noqa: E731
SMILER_COLUMNS = {**{name: pa.types.is_string for name in SMILER_TSV_COLUMNS},
                  "entity_1_indices": _INDICES, "entity_2_indices": _INDICES}


def export_relx_json(corpus: str, out: str, *, overwrite: bool = False) -> int:
    """Write a relx-distant corpus as one JSON array (RELX-Distant's layout); the number of rows.

    Rows stream shard by shard in corpus order; the file appears under its name only when whole, and
    replaces an existing one only with `overwrite`.
    """
    if os.path.exists(out) and not overwrite:
        raise RelxdataError(f"{out} exists; pass --overwrite to replace it")
    files = corpus_files(corpus)
    check_corpus(files, {**REQUIRED_COLUMNS, "relation_name": pa.types.is_string})
    temporary = out + ".inprogress"
    rows = 0
    try:
        sink = open(temporary, "wb")
    except OSError as exc:
        raise RelxdataError(f"cannot write {out}: {exc.strerror or exc}") from None
    with sink:
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


def export_smiler_tsv(corpus: str, out: str, *, dev: bool = False, overwrite: bool = False) -> dict[str, int]:
    """Write a smiler corpus in SMiLER's released layout: `{lang}_corpora_{train,test}.tsv` in the directory
    `out` (dev rows go to train, or to `{lang}_corpora_dev.tsv` with `dev`); the rows per file written.

    Every file appears under its name only when whole; existing ones are replaced only with `overwrite`.
    """
    files = corpus_files(corpus)
    check_corpus(files, SMILER_COLUMNS, "smiler")
    make_directory(out)
    sinks: dict[str, object] = {}
    rows: dict[str, int] = {}
    try:
        for path in files:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=_BATCH_ROWS, columns=SMILER_TSV_COLUMNS):
                for row in batch.to_pylist():
                    split = row["split"] if dev or row["split"] != "dev" else "train"
                    name = f"{row['lang']}_corpora_{split}.tsv"
                    if name not in sinks:
                        target = os.path.join(out, name)
                        if os.path.exists(target) and not overwrite:
                            raise RelxdataError(f"{target} exists; pass --overwrite to replace it")
                        sinks[name] = open(target + ".inprogress", "w", encoding="utf-8", newline="\n")
                        sinks[name].write("\t".join(smiler_tsv.HEADER) + "\n")
                        rows[name] = 0
                    sinks[name].write(smiler_tsv.row_line(row))
                    rows[name] += 1
    except BaseException:
        for name, sink in sinks.items():
            sink.close()
            os.remove(os.path.join(out, name) + ".inprogress")
        raise
    for name, sink in sinks.items():
        sink.close()
        os.replace(os.path.join(out, name) + ".inprogress", os.path.join(out, name))
    return rows
