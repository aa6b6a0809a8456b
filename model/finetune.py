"""Fine-tuning a relation classifier on KBP-37-style data, and evaluation on RELX-style files.

Two heads: the paper's, a linear layer on the [CLS] vector; and Matching the Blanks' entity start, a
linear layer on the hidden states at [E1] and [E2], concatenated.
"""

from __future__ import annotations

import itertools
import json
import random
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import pyarrow.parquet as pq
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from model.data import (RELX_DISTANT_COLUMNS, Encoding, RelationExample, ShardStream, batches_in, example_batches,
                        plan_chunks, rank_chunks, read_relation_file, relx_distant_batches, shard_files)
from model.encoder import Loaded, load_encoder
from model.runtime import Runtime, optimizer_and_schedule, seed_everything, start_runtime
from relxdata.errors import RelxdataError
from relxdata.scoring import score_labels

HEADS = ("cls", "entity-start")
NEGATIVE_LABEL = "no_relation"


@dataclass
class FinetuneConfig:
    train: str
    out: str
    model: str = "tiny-random"
    head: str = "cls"
    dev: str | None = None
    max_length: int = 128
    batch_size: int = 64
    learning_rate: float = 3e-5
    weight_decay: float = 0.1
    warmup_ratio: float = 0.1
    epochs: int = 3
    seed: int = 13
    device: str = "auto"
    precision: str = "auto"
    negative_label: str = NEGATIVE_LABEL
    workers: int = 2
    labels: list[str] = field(default_factory=list)


class RelationClassifier(torch.nn.Module):
    def __init__(self, encoder: torch.nn.Module, labels: list[str], head: str, dropout: float = 0.1):
        super().__init__()
        if head not in HEADS:
            raise RelxdataError(f"--head {head!r}: expected one of {', '.join(HEADS)}")
        self.encoder, self.labels, self.head_kind = encoder, labels, head
        width = encoder.config.hidden_size * (2 if head == "entity-start" else 1)
        self.dropout = torch.nn.Dropout(dropout)
        self.head = torch.nn.Linear(width, len(labels))

    def forward(self, input_ids, attention_mask, e1_pos, e2_pos):
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        if self.head_kind == "cls":
            features = hidden[:, 0]
        else:
            rows = torch.arange(hidden.shape[0], device=hidden.device)
            features = torch.cat([hidden[rows, e1_pos], hidden[rows, e2_pos]], dim=-1)
        return self.head(self.dropout(features)).float()

    def save(self, directory: Path, tokenizer) -> None:
        self.encoder.save_pretrained(directory / "encoder")
        tokenizer.save_pretrained(directory / "encoder")
        torch.save(self.head.state_dict(), directory / "head.pt")
        (directory / "classifier.json").write_text(json.dumps({"head": self.head_kind, "labels": self.labels}) + "\n")

    @classmethod
    def load(cls, directory: str | Path) -> tuple[RelationClassifier, Loaded]:
        directory = Path(directory)
        if not (directory / "classifier.json").is_file():
            raise RelxdataError(f"{directory}: not a fine-tuned model (no classifier.json); run relxdata finetune")
        meta = json.loads((directory / "classifier.json").read_text())
        loaded = load_encoder(str(directory / "encoder"))
        classifier = cls(loaded.model, meta["labels"], meta["head"])
        classifier.head.load_state_dict(torch.load(directory / "head.pt", weights_only=True))
        return classifier, loaded


def _model_inputs(batch: dict, device: torch.device) -> dict:
    return {name: batch[name].to(device, non_blocking=True) for name in ("input_ids", "attention_mask", "e1_pos",
                                                                        "e2_pos")}


@torch.no_grad()
def predict(classifier: RelationClassifier, encoding: Encoding, examples: list[RelationExample], batch_size: int,
            runtime: Runtime) -> list[str]:
    classifier.eval()
    predictions = []
    for batch in example_batches(examples, encoding, {}, batch_size, rng=None):
        with runtime.autocast():
            logits = classifier(**_model_inputs(batch, runtime.device))
        predictions += [classifier.labels[index] for index in logits.argmax(-1).tolist()]
    return predictions


def evaluate_file(classifier: RelationClassifier, encoding: Encoding, path: str | Path, batch_size: int,
                  runtime: Runtime, negative_label: str) -> dict:
    """Predicts every example of a KBP-37 / RELX file and scores it with the official metric."""
    examples = read_relation_file(path)
    predicted = predict(classifier, encoding, examples, batch_size, runtime)
    result = score_labels({example.id: example.label for example in examples},
                          {example.id: label for example, label in zip(examples, predicted)}, negative_label,
                          gold_name=str(path))
    return {"file": str(path), "examples": len(examples), "macro_f1": 100 * result.macro_f1,
            "accuracy": 100 * result.accuracy,
            "predictions": dict(zip((example.id for example in examples), predicted))}


class TrainingData:
    """A KBP-37-format file (held in memory: tens of thousands of lines) or a relx-distant corpus (streamed)."""

    def __init__(self, path: str, batch_size: int, seed: int):
        self.batch_size, self.seed = batch_size, seed
        if Path(path).is_dir():
            self.examples, self.chunks = None, plan_chunks(shard_files(path))
            categories = pq.read_table([chunk.path for chunk in self.chunks], columns=["category"]).column(0)
            self.labels = sorted(categories.unique().to_pylist())
            self.size, self.steps_per_epoch = sum(chunk.rows for chunk in self.chunks), batches_in(self.chunks,
                                                                                                   batch_size)
        else:
            self.examples, self.chunks = read_relation_file(path), None
            self.labels = sorted({example.label for example in self.examples})
            self.size, self.steps_per_epoch = len(self.examples), -(-len(self.examples) // batch_size)

    def texts(self, limit: int = 200_000):
        """Sentences for a random model's tokenizer."""
        if self.examples is not None:
            return (example.text for example in self.examples[:limit])
        return itertools.islice((text for chunk in self.chunks for text in pq.ParquetFile(chunk.path).read_row_group(
            chunk.row_group, columns=["sentence"]).column(0).to_pylist()), limit)

    def batches(self, epoch: int, encoding: Encoding, label_index: dict[str, int], workers: int):
        if self.examples is not None:
            yield from example_batches(self.examples, encoding, label_index, self.batch_size,
                                       random.Random(f"{self.seed}:{epoch}"))
            return
        make_batches = partial(relx_distant_batches, encoding=encoding, labels=label_index,
                               batch_size=self.batch_size)
        stream = ShardStream(rank_chunks(self.chunks, self.seed, epoch, 0, 1), RELX_DISTANT_COLUMNS, make_batches,
                             seed=self.seed + epoch)
        for _, batches in DataLoader(stream, batch_size=None, num_workers=workers, generator=torch.Generator()):
            yield from batches


def finetune(config: FinetuneConfig) -> dict:
    """Trains the classifier on `config.train`; evaluates on `config.dev` after each epoch; saves OUT/final."""
    runtime = start_runtime(config.device, config.precision)
    train = TrainingData(config.train, config.batch_size, config.seed)
    labels = config.labels or train.labels
    loaded = load_encoder(config.model, train.texts)
    seed_everything(config.seed)
    classifier = RelationClassifier(loaded.model, labels, config.head).to(runtime.device)
    encoding = Encoding(loaded.tokenizer, loaded.markers, config.max_length)
    label_index = {label: index for index, label in enumerate(labels)}
    total = train.steps_per_epoch * config.epochs
    optimizer, scheduler = optimizer_and_schedule(classifier, runtime, config.learning_rate, config.weight_decay,
                                                  int(config.warmup_ratio * total), total)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    runtime.log(f"fine-tuning on {train.size:,} examples, {len(labels)} labels, head {config.head}, "
                f"{config.epochs} epochs of {train.steps_per_epoch:,} steps on {runtime.device}")
    history = []
    started = time.perf_counter()
    for epoch in range(config.epochs):
        classifier.train()
        losses = []
        for batch in train.batches(epoch, encoding, label_index, config.workers):
            with runtime.autocast():
                logits = classifier(**_model_inputs(batch, runtime.device))
            loss = F.cross_entropy(logits, batch["labels"].to(runtime.device), ignore_index=-100)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(classifier.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.detach())
        record = {"epoch": epoch + 1, "loss": torch.stack(losses).mean().item()}
        if config.dev:
            dev = evaluate_file(classifier, encoding, config.dev, config.batch_size, runtime, config.negative_label)
            record.update(dev_macro_f1=dev["macro_f1"], dev_accuracy=dev["accuracy"])
        history.append(record)
        runtime.log("epoch {epoch}: loss {loss:.4f}".format(**record)
                    + (f", dev macro-F1 {record['dev_macro_f1']:.2f}" if config.dev else ""))
    final = out / "final"
    classifier.save(final, loaded.tokenizer)
    summary = {"config": asdict(config) | {"labels": labels}, "epochs": history,
               "seconds": round(time.perf_counter() - started, 2), "final": str(final)}
    (out / "run.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def evaluate(model: str, files: list[str], out: str | None, batch_size: int = 64, device: str = "auto",
             precision: str = "auto", negative_label: str = NEGATIVE_LABEL, max_length: int = 128) -> list[dict]:
    """Scores a fine-tuned model on each file; writes `{name}.pred` files and results.json / results.md to `out`."""
    runtime = start_runtime(device, precision)
    classifier, loaded = RelationClassifier.load(model)
    classifier.to(runtime.device)
    encoding = Encoding(loaded.tokenizer, loaded.markers, max_length)
    results = [evaluate_file(classifier, encoding, path, batch_size, runtime, negative_label) for path in files]
    if out:
        directory = Path(out)
        directory.mkdir(parents=True, exist_ok=True)
        for result in results:
            lines = "".join(f"{key}\t{label}\n" for key, label in result["predictions"].items())
            (directory / f"{Path(result['file']).stem}.pred").write_text(lines, encoding="utf-8")
        summary = [{key: value for key, value in result.items() if key != "predictions"} for result in results]
        (directory / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
        (directory / "results.md").write_text(results_table(results) + "\n")
    return results


def results_table(results: list[dict]) -> str:
    """A Markdown table: one row per evaluated file (RELX_en.txt -> en), then the mean macro-F1."""
    rows = ["| data | examples | macro-F1 | accuracy |", "|---|---:|---:|---:|"]
    for result in results:
        name = Path(result["file"]).stem.removeprefix("RELX_")
        rows.append(f"| {name} | {result['examples']:,} | {result['macro_f1']:.2f} | {result['accuracy']:.2f} |")
    if len(results) > 1:
        mean = sum(result["macro_f1"] for result in results) / len(results)
        rows.append(f"| mean | | {mean:.2f} | |")
    return "\n".join(rows)
