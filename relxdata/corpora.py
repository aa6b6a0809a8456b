"""Corpus shards: the Parquet schemas of DESIGN.md, shard names, and the manifest."""

from __future__ import annotations

import glob
import hashlib
import json
import os
import platform
import posixpath
import shlex
import sys
from typing import BinaryIO, Callable, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

import relxdata
from relxdata.download import provenance_of
from relxdata.errors import RelxdataError

MANIFEST = "_manifest.json"
COMPRESSION = "zstd"
# Readers such as the model's DataLoader workers hold one row group at a time: keep them small.
ROW_GROUP_ROWS = 10_000

LINK = pa.struct([("start", pa.int32()), ("end", pa.int32()), ("target", pa.string()), ("anchor", pa.string())])
SENTENCES = pa.schema([
    ("lang", pa.string()), ("page_id", pa.int64()), ("page_title", pa.string()), ("sent_index", pa.int32()),
    ("text", pa.string()), ("links", pa.list_(LINK)),
])
REDIRECTS = pa.schema([
    ("lang", pa.string()), ("page_id", pa.int64()), ("title", pa.string()), ("ns", pa.int32()),
    ("target", pa.string()), ("fragment", pa.string()),
])
# Every page of the kept namespaces, with or without sentences: what link targets can arrive at;
# lead_names are the bold phrases of its lead, the names it gives its subject.
ARTICLES = pa.schema([("lang", pa.string()), ("page_id", pa.int64()), ("title", pa.string()),
                      ("lead_names", pa.list_(pa.string()))])
QUARANTINE = pa.schema([
    ("lang", pa.string()), ("page_id", pa.int64()), ("ns", pa.int32()), ("title", pa.string()),
    ("reason", pa.string()), ("detail", pa.string()), ("wikitext", pa.string()),
])
LINK_RESOLUTIONS = pa.schema([
    ("lang", pa.string()), ("title", pa.string()), ("qid", pa.string()), ("reason", pa.string()),
    ("hops", pa.int32()),
])
RELX_DISTANT = pa.schema([
    ("id", pa.string()), ("lang", pa.string()), ("sentence", pa.string()), ("entity1", pa.string()),
    ("entity2", pa.string()), ("entity1_indices", pa.list_(pa.int32())), ("entity2_indices", pa.list_(pa.int32())),
    ("relation", pa.string()), ("relation_name", pa.string()), ("category", pa.string()),
    ("page_id", pa.int64()), ("page_title", pa.string()), ("entity1_text", pa.string()),
    ("entity2_text", pa.string()),
])
SMILER = pa.schema([
    ("id", pa.string()), ("lang", pa.string()), ("label", pa.string()), ("entity_1", pa.string()),
    ("entity_2", pa.string()), ("text", pa.string()), ("entity_1_indices", pa.list_(pa.int32())),
    ("entity_2_indices", pa.list_(pa.int32())), ("entity_1_iri", pa.string()), ("entity_2_iri", pa.string()),
    ("entity_1_qid", pa.string()), ("entity_2_qid", pa.string()), ("property", pa.string()),
    ("mention_1", pa.string()), ("mention_2", pa.string()), ("page_id", pa.int64()), ("page_title", pa.string()),
    ("split", pa.string()),
])

# The relx-distant columns that later stages read, with the Arrow types that the contract allows.
REQUIRED_COLUMNS = {
    "id": pa.types.is_string, "lang": pa.types.is_string, "sentence": pa.types.is_string,
    "entity1": pa.types.is_string, "entity2": pa.types.is_string, "category": pa.types.is_string,
    "relation": pa.types.is_string,
    "entity1_indices": lambda t: pa.types.is_list(t) and pa.types.is_integer(t.value_type),
    "entity2_indices": lambda t: pa.types.is_list(t) and pa.types.is_integer(t.value_type),
}


def shard_name(index: int, count: int) -> str:
    return f"part-{index:05d}-of-{count:05d}.parquet"


def row_id(lang: str, page_id: int, sent_index: int, entity1: str, entity2: str, relation: str) -> str:
    key = f"{lang}\t{page_id}\t{sent_index}\t{entity1}\t{entity2}\t{relation}"
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:20]


def write_shard(rows: list[dict], schema: pa.Schema, sink: BinaryIO) -> None:
    """Write rows as one zstd Parquet file; the same rows always give the same bytes."""
    table = pa.Table.from_pylist(rows, schema=schema)
    pq.write_table(table, sink, compression=COMPRESSION, row_group_size=ROW_GROUP_ROWS)


def read_shard(source: BinaryIO, columns: list[str] | None = None) -> list[dict]:
    """The rows of one shard, only `columns` (all when None), in file order."""
    return pq.read_table(source, columns=columns).to_pylist()


def read_rows(directory: str) -> list[dict]:
    """Every row of a shard directory, in shard order (for tests and small corpora)."""
    names = sorted(name for name in os.listdir(directory) if name.startswith("part-") and name.endswith(".parquet"))
    rows: list[dict] = []
    for name in names:
        rows.extend(pq.read_table(os.path.join(directory, name)).to_pylist())
    return rows


def file_fingerprint(path: str, open_file: Callable[[str], BinaryIO] = lambda p: open(p, "rb")) -> dict:
    """Size and SHA-256 of an input file, read in blocks; and where it came from, when `relxdata download`
    fetched it (its `_download.json` entry: URL, the publisher's checksum, dump date)."""
    digest, size = hashlib.sha256(), 0
    with open_file(path) as f:
        while block := f.read(1 << 22):
            digest.update(block)
            size += len(block)
    fingerprint = {"path": path, "bytes": size, "sha256": digest.hexdigest()}
    source = provenance_of(path) if "://" not in path else None
    return {**fingerprint, "download": source} if source else fingerprint


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


def flat_counts(nested: dict, prefix: str = "") -> dict[str, float]:
    """The inverse of `nest_counts`: {"pages": {"skipped": {"redirect": 3}}} -> {"pages.skipped.redirect": 3}."""
    flat: dict[str, float] = {}
    for key, value in nested.items():
        name = f"{prefix}.{key}" if prefix else key
        flat.update(flat_counts(value, name) if isinstance(value, dict) else {name: value})
    return flat


def command_line() -> str:
    """This process's command line, as the user typed it (`relxdata run sentences --lang en ...`)."""
    return shlex.join([os.path.basename(sys.argv[0]), *sys.argv[1:]])


def manifest(*, job: str, config: dict, inputs: list[dict], counts: dict, outputs: dict, extra: dict,
             wall_seconds: float) -> str:
    document = {
        "tool": "relxdata", "version": relxdata.__version__, "job": job, "python": platform.python_version(),
        "command": command_line(), "config": config, "inputs": inputs, **extra, "counts": nest_counts(counts),
        "outputs": outputs, "wall_seconds": round(wall_seconds, 3),
    }
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def _local_shards(pattern: str) -> list[str]:
    return glob.glob(pattern)


def make_directory(path: str) -> None:
    """Create an output directory (and its parents), or fail with one line that says why."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise RelxdataError(f"cannot create the output directory {path}: {exc.strerror or exc}") from None


def corpus_files(directories: str | Sequence[str],
                 match: Callable[[str], list[str]] = _local_shards) -> list[str]:
    """The shards of one or more corpora, in order: each directory's part-*.parquet, or, for a directory
    of corpora (one per language, as `demo` and per-language runs write them), its subdirectories'.

    `match` lists the paths a glob pattern names (Beam's FileSystems for gs:// and other remote paths).
    """
    files: list[str] = []
    for directory in [directories] if isinstance(directories, str) else directories:
        if "://" not in directory and os.path.isfile(directory):
            raise RelxdataError(f"{directory} is a file, not a corpus directory")
        if "://" not in directory and not os.path.isdir(directory):
            raise RelxdataError(f"no such corpus directory: {directory}")
        shards = sorted(match(posixpath.join(directory, "part-*.parquet")))
        if not shards:
            shards = sorted(match(posixpath.join(directory, "*", "part-*.parquet")))
        if not shards:
            raise RelxdataError(f"{directory} holds no part-*.parquet shards, nor do its subdirectories")
        files.extend(shards)
    if len(set(files)) < len(files):
        raise RelxdataError("a corpus is named twice (a directory and one inside it?)")
    return files


def check_corpus(files: list[str], columns: dict = REQUIRED_COLUMNS, contract: str = "relx-distant") -> int:
    """Check every shard against a contract (the columns it needs, with their types); the number of rows."""
    rows = 0
    for path in files:
        try:
            metadata = pq.read_metadata(path)
        except (OSError, pa.ArrowInvalid) as exc:
            raise RelxdataError(f"{path}: not a readable Parquet file ({exc})") from None
        schema = metadata.schema.to_arrow_schema()
        for column, type_ok in columns.items():
            if column not in schema.names:
                raise RelxdataError(f"{path}: the {contract} column {column!r} is missing")
            if not type_ok(schema.field(column).type):
                raise RelxdataError(f"{path}: column {column!r} has type {schema.field(column).type}, which the "
                                    f"{contract} contract does not allow")
        rows += metadata.num_rows
    if rows == 0:
        raise RelxdataError("the corpus has no rows")
    return rows
