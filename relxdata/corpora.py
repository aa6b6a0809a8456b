"""Corpus shards: the Parquet schemas of DESIGN.md, shard names, and the manifest."""

from __future__ import annotations

import hashlib
import json
import os
import platform
from typing import BinaryIO, Callable

import pyarrow as pa
import pyarrow.parquet as pq

import relxdata

MANIFEST = "_manifest.json"
COMPRESSION = "zstd"

LINK = pa.struct([("start", pa.int32()), ("end", pa.int32()), ("target", pa.string()), ("anchor", pa.string())])
SENTENCES = pa.schema([
    ("lang", pa.string()), ("page_id", pa.int64()), ("page_title", pa.string()), ("sent_index", pa.int32()),
    ("text", pa.string()), ("links", pa.list_(LINK)),
])
REDIRECTS = pa.schema([
    ("lang", pa.string()), ("page_id", pa.int64()), ("title", pa.string()), ("ns", pa.int32()),
    ("target", pa.string()), ("fragment", pa.string()),
])
QUARANTINE = pa.schema([
    ("lang", pa.string()), ("page_id", pa.int64()), ("ns", pa.int32()), ("title", pa.string()),
    ("reason", pa.string()), ("detail", pa.string()), ("wikitext", pa.string()),
])


def shard_name(index: int, count: int) -> str:
    return f"part-{index:05d}-of-{count:05d}.parquet"


def write_shard(rows: list[dict], schema: pa.Schema, sink: BinaryIO) -> None:
    """Write rows as one zstd Parquet file; the same rows always give the same bytes."""
    table = pa.Table.from_pylist(rows, schema=schema)
    pq.write_table(table, sink, compression=COMPRESSION)


def read_rows(directory: str) -> list[dict]:
    """Every row of a shard directory, in shard order (for tests and small corpora)."""
    names = sorted(name for name in os.listdir(directory) if name.startswith("part-") and name.endswith(".parquet"))
    rows: list[dict] = []
    for name in names:
        rows.extend(pq.read_table(os.path.join(directory, name)).to_pylist())
    return rows


def file_fingerprint(path: str, open_file: Callable[[str], BinaryIO] = lambda p: open(p, "rb")) -> dict:
    """Size and SHA-256 of an input file, read in blocks."""
    digest, size = hashlib.sha256(), 0
    with open_file(path) as f:
        while block := f.read(1 << 22):
            digest.update(block)
            size += len(block)
    return {"path": path, "bytes": size, "sha256": digest.hexdigest()}


def nest_counts(flat: dict[str, float]) -> dict:
    """{"pages.skipped.redirect": 3} -> {"pages": {"skipped": {"redirect": 3}}}, keys sorted."""
    nested: dict = {}
    for key in sorted(flat):
        *parents, leaf = key.split(".")
        level = nested
        for parent in parents:
            level = level.setdefault(parent, {})
        level[leaf] = flat[key]
    return nested


def manifest(*, job: str, config: dict, inputs: list[dict], counts: dict, outputs: dict, extra: dict,
             wall_seconds: float) -> str:
    document = {
        "tool": "relxdata", "version": relxdata.__version__, "job": job, "python": platform.python_version(),
        "config": config, "inputs": inputs, **extra, "counts": nest_counts(counts), "outputs": outputs,
        "wall_seconds": round(wall_seconds, 3),
    }
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
