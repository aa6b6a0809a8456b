"""Extraction gives the same shards, byte for byte, as the reference recorded before it was sped up.

`tests/data/extraction-digests.json` holds, for every real sample in shared/data/wikipedia, the
SHA-256 of each shard that `run sentences` writes for it (100 pages per unit), made by the
pure-Python path of commit 7521644. Parquet files carry the version of the library that wrote them,
so the bytes are compared when this pyarrow is the one that made the reference; the rows (as
canonical JSON) are compared always.

    python tests/test_extraction_unchanged.py   # rewrite the reference (only from a reference checkout)
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
from pathlib import Path

import pyarrow
import pytest

from relxdata.corpora import ARTICLES, QUARANTINE, REDIRECTS, SENTENCES, write_shard
from relxdata.dumps import plan_dump, read_unit
from relxdata.extraction import ExtractionConfig, PageExtractor

from conftest import REAL_DUMPS, WIKIPEDIA

REFERENCE = Path(__file__).parent / "data" / "extraction-digests.json"
SIDES = (("sentences", SENTENCES), ("articles", ARTICLES), ("redirects", REDIRECTS), ("quarantine", QUARANTINE))


def shard_digests(wikipedia: Path, sample: str, lang: str, allow_truncated: bool) -> dict[str, list[str]]:
    """`side/part-i` -> [SHA-256 of the Parquet bytes, SHA-256 of the rows as canonical JSON]."""
    plan = plan_dump(str(wikipedia / sample), pages_per_unit=100, allow_truncated=allow_truncated)
    extractor = PageExtractor(ExtractionConfig(lang=lang), plan.siteinfo)
    digests = {}
    for unit in plan.units:
        output = extractor.extract(read_unit(plan, unit))
        for side, schema in SIDES:
            rows = getattr(output, side)
            sink = io.BytesIO()
            write_shard(rows, schema, sink)
            digests[f"{side}/part-{unit.index}"] = [
                hashlib.sha256(sink.getvalue()).hexdigest(),
                hashlib.sha256(json.dumps(rows, sort_keys=True, ensure_ascii=False).encode()).hexdigest()]
    return digests


@pytest.mark.slow
@pytest.mark.parametrize("sample, lang, allow_truncated", REAL_DUMPS, ids=[sample for sample, *_ in REAL_DUMPS])
def test_shards_are_those_of_the_reference(wikipedia, sample, lang, allow_truncated):
    reference = json.loads(REFERENCE.read_text())
    expected = reference["samples"][sample]
    digests = shard_digests(wikipedia, sample, lang, allow_truncated)
    assert digests.keys() == expected.keys()
    assert {shard: rows for shard, (_, rows) in digests.items()} == {
        shard: rows for shard, (_, rows) in expected.items()}
    if pyarrow.__version__ == reference["pyarrow"]:
        assert {shard: parquet for shard, (parquet, _) in digests.items()} == {
            shard: parquet for shard, (parquet, _) in expected.items()}


if __name__ == "__main__":
    REFERENCE.write_text(json.dumps({
        "pyarrow": pyarrow.__version__,
        "samples": {sample: shard_digests(WIKIPEDIA, sample, lang, allow) for sample, lang, allow in REAL_DUMPS},
    }, indent=1, sort_keys=True) + "\n")
    sys.exit(0)
