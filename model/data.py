"""What the model reads: pair and relx-distant shards as streams of padded batches, and KBP-37 / RELX files.

Shards are read a Parquet row group at a time ("chunks"). An epoch is a seeded order of chunks; rank r
of a DDP job takes every world-th of them, and DataLoader worker w every W-th of those. The loader
returns a chunk's batches together, in chunk order, so `(chunk, batch)` is an exact position to resume at.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import torch
from torch.utils.data import IterableDataset, get_worker_info

from model.tokens import Encoded, MarkerIds, encode_marked
from relxdata.errors import RelxdataError

PAIR_COLUMNS = ["label", "text_a", "text_b", "e1_a", "e2_a", "e1_b", "e2_b",
                "blank_e1_a", "blank_e2_a", "blank_e1_b", "blank_e2_b"]
RELX_DISTANT_COLUMNS = ["id", "sentence", "entity1_indices", "entity2_indices", "category"]
BUCKET_BATCHES = 32  # batches whose rows are sorted by length together: less padding, still shuffled
_TAG = re.compile(r"<(/?)(e[12])>")


@dataclass(frozen=True)
class RelationExample:
    """One sentence of a KBP-37 / RELX file: spans `[start, end)` of the two entities in `text`."""

    id: str
    text: str
    e1: tuple[int, int]
    e2: tuple[int, int]
    label: str


@dataclass(frozen=True)
class Chunk:
    path: str
    row_group: int
    rows: int


def parse_tagged(sentence: str) -> tuple[str, tuple[int, int], tuple[int, int]]:
    """`" <e1> Thom Yorke </e1> of <e2> Radiohead </e2> "` -> the text without tags and both entity spans.

    The spaces inside the tags go; the ones around them stay, so `(<e2> SIMSREE </e2>)` gives `(SIMSREE)`.
    """
    parts = _TAG.split(sentence.strip().strip('"'))
    # split() alternates text with a tag's two groups: [text, "", "e1", text, "/", "e1", text, …]
    text, spans, opened = parts[0].lstrip(), {}, {}
    for index in range(1, len(parts), 3):
        closing, name, segment = parts[index:index + 3]
        if closing:
            if name not in opened:
                raise ValueError(f"</{name}> without <{name}>")
            start = opened.pop(name)
            text = text[:start] + text[start:].rstrip()
            spans[name] = (start, len(text))
            text += segment
        else:
            if name in opened or name in spans:
                raise ValueError(f"<{name}> twice")
            opened[name] = len(text)
            text += segment.lstrip()
    if set(spans) != {"e1", "e2"} or opened:
        raise ValueError("a sentence needs exactly one <e1>…</e1> and one <e2>…</e2>")
    (_, a_end), (b_start, _) = sorted(spans.values())
    if a_end > b_start:
        raise ValueError("the entities overlap")
    return text.rstrip(), spans["e1"], spans["e2"]


def read_relation_file(path: str | Path) -> list[RelationExample]:
    """Reads KBP-37 / RELX files: blocks of `id<TAB>"sentence"`, the label, an optional comment, a blank line."""
    path = Path(path)
    if not path.is_file():
        raise RelxdataError(f"{path}: no such file")
    examples, block, block_line = [], [], 0
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise RelxdataError(f"{path}: not UTF-8 text; expected a KBP-37-format file") from None
    for number, line in enumerate([*lines, ""], start=1):
        if line.strip():
            block_line = block_line or number
            block.append(line)
            continue
        if block:
            examples.append(_block_example(path, block_line, block))
        block, block_line = [], 0
    if not examples:
        raise RelxdataError(f"{path}: no examples (expected blocks of id<TAB>sentence, label, blank line)")
    return examples


def _block_example(path: Path, line: int, block: list[str]) -> RelationExample:
    head = block[0].split("\t", 1)
    if len(head) != 2 or len(block) < 2:
        raise RelxdataError(f"{path}:{line}: expected `id<TAB>sentence` then a label line")
    try:
        text, e1, e2 = parse_tagged(head[1])
    except ValueError as exc:
        raise RelxdataError(f"{path}:{line}: {exc}") from None
    return RelationExample(head[0].strip(), text, e1, e2, block[1].strip())


def plan_chunks(files: Sequence[str | Path]) -> list[Chunk]:
    """Every row group of the shards, from their footers only."""
    chunks = []
    for path in sorted(str(file) for file in files):
        metadata = pq.ParquetFile(path).metadata
        chunks += [Chunk(path, group, metadata.row_group(group).num_rows) for group in range(metadata.num_row_groups)
                   if metadata.row_group(group).num_rows]
    return chunks


def rank_chunks(chunks: Sequence[Chunk], seed: int, epoch: int, rank: int, world: int) -> list[Chunk]:
    """This rank's chunks for an epoch; every rank gets the same number (a remainder under `world` is left out)."""
    order = list(chunks)
    random.Random(f"{seed}:{epoch}").shuffle(order)
    per_rank = len(order) // world
    return order[rank::world][:per_rank]


def batches_in(chunks: Sequence[Chunk], batch_size: int) -> int:
    return sum(math.ceil(chunk.rows / batch_size) for chunk in chunks)


def bucket(lengths: Sequence[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Row indices cut into batches of similar length: shuffled rows, sorted within windows, batches shuffled."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    window = batch_size * BUCKET_BATCHES
    batches = []
    for start in range(0, len(order), window):
        rows = sorted(order[start:start + window], key=lambda row: lengths[row])
        batches += [rows[index:index + batch_size] for index in range(0, len(rows), batch_size)]
    rng.shuffle(batches)
    return batches


def pad(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pads to the longest sequence of the batch: input ids and attention mask, both int64."""
    width = max(len(sequence) for sequence in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, sequence in enumerate(sequences):
        ids[row, :len(sequence)] = torch.tensor(sequence, dtype=torch.long)
        mask[row, :len(sequence)] = 1
    return ids, mask


def sentence_batch(encoded: Sequence[Encoded], labels: Sequence[int], pad_id: int) -> dict[str, torch.Tensor]:
    ids, mask = pad([item.input_ids for item in encoded], pad_id)
    return {"input_ids": ids, "attention_mask": mask,
            "e1_pos": torch.tensor([item.e1_pos for item in encoded]),
            "e2_pos": torch.tensor([item.e2_pos for item in encoded]),
            "labels": torch.tensor(labels, dtype=torch.long)}


@dataclass
class Encoding:
    """What a reader needs to turn rows into batches: the tokenizer, the marker ids, the length limit."""

    tokenizer: object
    markers: MarkerIds
    max_length: int

    def encode(self, examples: Sequence[tuple]) -> list[Encoded]:
        return encode_marked(self.tokenizer, self.markers, examples, self.max_length)


def pair_batches(table: pa.Table, encoding: Encoding, batch_size: int, rng: random.Random) -> list[dict]:
    """Pair rows -> batches whose `input_ids` stack the a sentences over the b sentences (one encoder call)."""
    rows = table.to_pydict()
    side_a = encoding.encode(list(zip(rows["text_a"], rows["e1_a"], rows["e2_a"],
                                      rows["blank_e1_a"], rows["blank_e2_a"])))
    side_b = encoding.encode(list(zip(rows["text_b"], rows["e1_b"], rows["e2_b"],
                                      rows["blank_e1_b"], rows["blank_e2_b"])))
    lengths = [max(len(a.input_ids), len(b.input_ids)) for a, b in zip(side_a, side_b)]
    batches = []
    for indices in bucket(lengths, batch_size, rng):
        both = [side_a[i] for i in indices] + [side_b[i] for i in indices]
        batch = sentence_batch(both, [rows["label"][i] for i in indices], encoding.tokenizer.pad_token_id)
        batches.append(batch)
    return batches


def relx_distant_batches(table: pa.Table, encoding: Encoding, labels: dict[str, int], batch_size: int,
                         rng: random.Random) -> list[dict]:
    """relx-distant rows -> single-sentence batches labelled with the row's category."""
    rows = table.to_pydict()
    encoded = encoding.encode([(text, e1, e2, False, False) for text, e1, e2 in
                               zip(rows["sentence"], rows["entity1_indices"], rows["entity2_indices"])])
    targets = [labels[category] for category in rows["category"]]
    return [sentence_batch([encoded[i] for i in indices], [targets[i] for i in indices],
                           encoding.tokenizer.pad_token_id)
            for indices in bucket([len(item.input_ids) for item in encoded], batch_size, rng)]


def example_batches(examples: Sequence[RelationExample], encoding: Encoding, labels: dict[str, int],
                    batch_size: int, rng: random.Random | None) -> list[dict]:
    """Batches of file examples; without `rng` in file order (for prediction), else bucketed and shuffled."""
    encoded = encoding.encode([(example.text, example.e1, example.e2, False, False) for example in examples])
    targets = [labels.get(example.label, -100) for example in examples]
    if rng is None:
        groups = [list(range(start, min(start + batch_size, len(encoded))))
                  for start in range(0, len(encoded), batch_size)]
    else:
        groups = bucket([len(item.input_ids) for item in encoded], batch_size, rng)
    return [sentence_batch([encoded[i] for i in group], [targets[i] for i in group], encoding.tokenizer.pad_token_id)
            for group in groups]


class ShardStream(IterableDataset):
    """Yields `(chunk index, [batch, …])` for this rank's chunks from `start_chunk` on, in order.

    Worker w of W reads chunks start_chunk + w, + W, …; the DataLoader takes one from each worker in
    turn, so the chunks arrive in plan order whatever the worker count.
    """

    def __init__(self, chunks: Sequence[Chunk], columns: list[str],
                 make_batches: Callable[[pa.Table, random.Random], list[dict]], seed: int, start_chunk: int = 0):
        self.chunks, self.columns, self.make_batches = list(chunks), columns, make_batches
        self.seed, self.start_chunk = seed, start_chunk

    def __iter__(self) -> Iterator[tuple[int, list[dict]]]:
        worker = get_worker_info()
        worker_id, workers = (worker.id, worker.num_workers) if worker else (0, 1)
        for index in range(self.start_chunk + worker_id, len(self.chunks), workers):
            chunk = self.chunks[index]
            table = pq.ParquetFile(chunk.path).read_row_group(chunk.row_group, columns=self.columns)
            rng = random.Random(f"{self.seed}:{chunk.path}:{chunk.row_group}")
            yield index, self.make_batches(table, rng=rng)


def shard_files(directory: str | Path) -> list[Path]:
    files = sorted(Path(directory).glob("part-*.parquet"))
    if not files:
        raise RelxdataError(f"{directory}: no part-*.parquet shards")
    return files
