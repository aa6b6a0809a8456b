"""Planning a Wikidata JSON dump (`latest-all.json.bz2`) for parallel reading: launcher cost and worker speed.

The old planner decompressed the whole dump once on the launcher to learn indexed_bzip2's block offsets;
the new one cuts the file into compressed byte ranges and reads only its size and ends, while each
worker finds its first bzip2 block by the block magic. For bzip2 files of growing size this measures,
on the launcher, the seconds and bytes read of both (the old one for files up to --old-max-mb, larger
ones estimated from its seconds per MB, since it only grows linearly); then, per worker, the speed of
the new range reader against indexed_bzip2 reading the whole of a file with one thread.

The files are valid multi-stream dumps (as pbzip2 or lbzip2 write them): a first stream holding '[',
one stream of entity lines repeated, and a last one holding ']'. The entities look like Wikidata's
(labels in several languages, statements with hashes and ids), so they compress about as well.

    python benchmarks/bench_wikidata_plan.py --sizes 10 100 500 --old-max-mb 100
"""

from __future__ import annotations

import argparse
import bz2
import io
import json
import random
import sys
import time
import uuid
from pathlib import Path

import indexed_bzip2

from relxdata import kb

HERE = Path(__file__).resolve().parent
MB = 1 << 20


class CountingFile(io.RawIOBase):
    """A file that counts the bytes read from it and the seeks."""

    def __init__(self, path: str, counts: dict[str, int]):
        self.inner, self.counts = open(path, "rb"), counts

    def readable(self):
        return True

    def seekable(self):
        return True

    def readinto(self, buffer):
        data = self.inner.read(len(buffer))
        buffer[:len(data)] = data
        self.counts["read"] += len(data)
        return len(data)

    def seek(self, offset, whence=io.SEEK_SET):
        self.counts["seeks"] += 1
        return self.inner.seek(offset, whence)

    def tell(self):
        return self.inner.tell()

    def close(self):
        self.inner.close()
        super().close()


def counting_opener(counts):
    return lambda path: CountingFile(path, counts)


# --- dumps --------------------------------------------------------------------------------------------

def entity_lines(count: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    syllables = ["ka", "lo", "mi", "ne", "ra", "to", "su", "vi", "an", "el", "or", "is", "ber", "gan", "dor", "lin"]
    words = ["".join(rng.choice(syllables) for _ in range(rng.randrange(1, 5))).capitalize() for _ in range(5000)]
    langs = ["en", "de", "fr", "es", "it", "nl", "pl", "ru", "ja", "sv", "pt", "zh"]
    props = [f"P{p}" for p in (31, 17, 131, 625, 18, 373, 910, 279, 21, 27, 106, 569, 570, 19, 20, 735, 734, 1412)]
    lines = []
    for n in range(1, count + 1):
        qid, name = f"Q{n}", " ".join(rng.choice(words) for _ in range(rng.randrange(1, 4)))
        claims = {}
        for prop in rng.sample(props, rng.randrange(3, 14)):
            claims[prop] = [{
                "mainsnak": {"snaktype": "value", "property": prop, "hash": f"{rng.getrandbits(160):040x}",
                             "datavalue": {"value": {"entity-type": "item", "numeric-id": (v := rng.randrange(10**8)),
                                                     "id": f"Q{v}"}, "type": "wikibase-entityid"},
                             "datatype": "wikibase-item"},
                "type": "statement", "id": f"{qid}${uuid.UUID(int=rng.getrandbits(128))}".upper(), "rank": "normal",
                "references": [{"hash": f"{rng.getrandbits(160):040x}", "snaks-order": ["P143"], "snaks": {"P143": [
                    {"snaktype": "value", "property": "P143", "datatype": "wikibase-item", "datavalue": {
                        "value": {"entity-type": "item", "numeric-id": 328, "id": "Q328"},
                        "type": "wikibase-entityid"}}]}}]}
                for _ in range(rng.randrange(1, 3))]
        labels = {lang: {"language": lang, "value": name} for lang in rng.sample(langs, rng.randrange(1, 12))}
        description = " ".join(rng.choice(words).lower() for _ in range(5))
        entity = {"type": "item", "id": qid, "lastrevid": rng.randrange(10**9), "aliases": {}, "claims": claims,
                  "labels": labels, "descriptions": {"en": {"language": "en", "value": description}},
                  "sitelinks": {"enwiki": {"site": "enwiki", "title": name, "badges": []}}}
        lines.append(json.dumps(entity, separators=(",", ":")).encode())
    return lines


def streams(work: Path, entities: int) -> tuple[bytes, bytes, bytes]:
    """The first, repeated and last streams of the dumps; made once."""
    paths = [work / f"{name}-{entities}.bz2" for name in ("head", "middle", "tail")]
    if not all(path.exists() for path in paths):
        lines = entity_lines(entities, seed=11)
        data = [b"[\n" + b"".join(line + b",\n" for line in lines[:10]),
                b"".join(line + b",\n" for line in lines[10:]),
                b"".join(line + b",\n" for line in lines[:9]) + lines[9] + b"\n]\n"]
        for path, raw in zip(paths, data):
            path.write_bytes(bz2.compress(raw, 9))
    return tuple(path.read_bytes() for path in paths)


def dump_of(work: Path, megabytes: int, head: bytes, middle: bytes, tail: bytes) -> tuple[Path, int]:
    """A dump of about `megabytes` MiB (compressed), and its size in decompressed bytes."""
    times = max(1, round((megabytes * MB - len(head) - len(tail)) / len(middle)))
    path = work / f"latest-all-{megabytes}MB.json.bz2"
    if not path.exists() or path.stat().st_size != len(head) + times * len(middle) + len(tail):
        with path.open("wb") as file:
            file.write(head)
            for _ in range(times):
                file.write(middle)
            file.write(tail)
    return path, times


# --- the two planners -----------------------------------------------------------------------------

def old_plan(path: str, parts: int, threads: int, opener) -> int:
    """What the old planner did: decompress everything to learn the block offsets, then find the line
    starts at the cuts; returns the number of blocks found."""
    with opener(path) as raw, indexed_bzip2.open(raw, parallelization=threads) as stream:
        size = 0
        while chunk := stream.read(4 * MB):
            size += len(chunk)
        blocks = stream.block_offsets()
        for part in range(1, parts):
            stream.seek(size * part // parts - 1)
            while (chunk := stream.read(1 << 16)) and b"\n" not in chunk:
                pass
    return len(blocks)


def timed(function, repeats=1):
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 500], help="compressed MiB")
    parser.add_argument("--parts", type=int, default=1000)
    parser.add_argument("--entities", type=int, default=3000, help="entities in the repeated stream")
    parser.add_argument("--old-max-mb", type=int, default=100, help="run the old planner up to this size")
    parser.add_argument("--old-threads", type=int, default=1, help="indexed_bzip2 threads for the old planner")
    parser.add_argument("--range-mb", type=int, default=10, help="compressed MiB of the range a worker reads")
    parser.add_argument("--work", type=Path, default=HERE / "work" / "wikidata-plan")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    head, middle, tail = streams(args.work, args.entities)
    decompressed_middle = len(bz2.decompress(middle))
    print(f"repeated stream: {len(middle) / MB:.2f} MiB compressed, ratio {decompressed_middle / len(middle):.1f}",
          flush=True)

    print(f"\nplanning {args.parts} ranges on the launcher (old: indexed_bzip2, {args.old_threads} thread(s))")
    print(f"{'file MiB':>9} {'old s':>9} {'old MiB read':>13} {'new ms':>8} {'new bytes read':>15} {'new seeks':>10}")
    old_rate = None
    for megabytes in sorted(args.sizes):
        path, _ = dump_of(args.work, megabytes, head, middle, tail)
        size = path.stat().st_size
        new_counts = {"read": 0, "seeks": 0}
        new_seconds, plan = timed(lambda: kb.plan_line_dump(str(path), args.parts,
                                                            opener=counting_opener(new_counts)), repeats=5)
        assert len(plan) == args.parts
        new_read, new_seeks = new_counts["read"] // 5, new_counts["seeks"] // 5
        if megabytes <= args.old_max_mb:
            old_counts = {"read": 0, "seeks": 0}
            old_seconds, _ = timed(lambda: old_plan(str(path), args.parts, args.old_threads,
                                                    counting_opener(old_counts)))
            old_rate = old_seconds / size
            old = f"{old_seconds:9.1f} {old_counts['read'] / MB:13.1f}"
        else:
            old = f"{old_rate * size:8.0f}* {size / MB:12.1f}*" if old_rate else f"{'-':>9} {'-':>13}"
        print(f"{size / MB:9.1f} {old} {new_seconds * 1e3:8.2f} {new_read:15d} {new_seeks:10d}", flush=True)
    print("* estimated: the old planner reads and decompresses the whole file, in time linear in its size")

    # Per worker: one range of --range-mb from the middle of the largest file, against indexed_bzip2
    # reading the whole of a file of that size with one thread.
    path, _ = dump_of(args.work, max(args.sizes), head, middle, tail)
    size = path.stat().st_size
    start = size // 2
    part = kb.DumpRange(1, start, start + args.range_mb * MB, compressed=True)
    small, _ = dump_of(args.work, args.range_mb, head, middle, tail)
    print(f"\nper worker: a {args.range_mb} MiB range of the {size / MB:.0f} MiB file vs "
          f"the whole {small.stat().st_size / MB:.1f} MiB file by indexed_bzip2")
    print(f"{'reader':<44} {'s':>6} {'MiB/s in':>9} {'MiB/s out':>10} {'entities/s':>11} {'MiB read':>9}")

    def lines_of_range(threads, counts):
        out = 0
        with kb.owned_lines(str(path), part, counting_opener(counts), threads) as (lines, _):
            for _, _, line in lines:
                out += len(line) + 1
        return out

    def whole_ibz2():
        out = 0
        with indexed_bzip2.open(str(small), parallelization=1) as stream:
            while chunk := stream.read(4 * MB):
                out += len(chunk)
        return out

    rows = []
    for threads in (1, 2):
        counts = {"read": 0, "seeks": 0}
        seconds, out = timed(lambda: lines_of_range(threads, counts))
        rows.append((f"new range reader, lines, {threads} thread(s)", seconds, part.end - part.start, out, None,
                     counts["read"]))
    counts = {"read": 0, "seeks": 0}
    seconds, entities = timed(lambda: sum(1 for _ in kb.read_json_dump_range(
        str(path), part, opener=counting_opener(counts), parallelization=1)))
    rows.append(("new range reader, entities (orjson), 1 thread", seconds, part.end - part.start, None, entities,
                 counts["read"]))
    seconds, out = timed(whole_ibz2)
    rows.append(("indexed_bzip2 whole file, decompress, 1 thread", seconds, small.stat().st_size, out, None,
                 small.stat().st_size))
    seconds, entities = timed(lambda: sum(1 for _ in kb.iter_entities(str(small), parallelization=1)))
    rows.append(("indexed_bzip2 whole file, entities, 1 thread", seconds, small.stat().st_size, None, entities,
                 small.stat().st_size))
    for name, seconds, compressed, out, entities, read in rows:
        print(f"{name:<44} {seconds:6.2f} {compressed / MB / seconds:9.2f} "
              f"{(out / MB / seconds) if out else float('nan'):10.1f} "
              f"{(entities / seconds) if entities else float('nan'):11.0f} {read / MB:9.1f}", flush=True)
    print(f"the range owns compressed bytes {part.start}:{part.end}; its worker read "
          f"{(rows[0][5] - (part.end - part.start)) / MB:.2f} MiB beyond them (read-ahead and its last line)")


if __name__ == "__main__":
    sys.exit(main())
