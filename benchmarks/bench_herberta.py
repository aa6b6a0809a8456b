"""HERBERTa training throughput: examples/s of the relation classifier and of the entity tagger at BERT-base size.

Both models are a random BERT of bert-base's shape (`base-random`: 12 layers, hidden 768, mBERT's
vocabulary), trained with relxdata's own step (`model.herberta`: the classifier's cross-entropy on
[CLS], the tagger's four start/end cross-entropies) on full 128-token inputs, the worst case. The
time of `--steps` optimizer steps is measured after one warm-up step, in this process.

    python benchmarks/bench_herberta.py                                   # CPU: a few steps, minutes
    python benchmarks/bench_herberta.py --device cuda --batch 32 --steps 30   # a GPU
"""

from __future__ import annotations

import argparse
import datetime
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import BertConfig, BertModel

from report import write_results
from model.encoder import RANDOM_MODELS
from model.herberta import TAGGER_PREFIX, EntityTagger, SentenceClassifier, tagger_loss
from model.runtime import optimizer_and_schedule, start_runtime

HERE = Path(__file__).resolve().parent
LABELS = [f"label-{number}" for number in range(36)]  # SMiLER's 35 relations and no_relation


def batch_of(kind: str, size: int, length: int, vocab: int, generator: torch.Generator) -> dict:
    ids = torch.randint(1000, vocab, (size, length), generator=generator)
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    if kind == "classifier":
        batch["labels"] = torch.randint(0, len(LABELS), (size,), generator=generator)
    else:
        sentence = torch.zeros_like(ids, dtype=torch.bool)
        sentence[:, TAGGER_PREFIX:length - 1] = True
        batch["sentence"] = sentence
        batch["positions"] = torch.randint(TAGGER_PREFIX, length - 1, (size, 4), generator=generator)
    return batch


def time_model(kind: str, device: str, precision: str, size: int, steps: int, length: int = 128) -> dict:
    runtime = start_runtime(device, precision)
    shape = RANDOM_MODELS["base-random"]
    config = BertConfig(vocab_size=shape.vocab_size, hidden_size=shape.hidden_size, num_hidden_layers=shape.layers,
                        num_attention_heads=shape.heads, intermediate_size=shape.intermediate_size)
    encoder = BertModel._from_config(config, add_pooling_layer=False, attn_implementation="sdpa")
    model = (SentenceClassifier(encoder, None, LABELS) if kind == "classifier"
             else EntityTagger(encoder, None, LABELS, list(range(10, 46)))).to(runtime.device)
    optimizer, scheduler = optimizer_and_schedule(model, runtime, 3e-5, 0.01, 0, steps + 1)
    generator = torch.Generator().manual_seed(13)
    batches = [{key: value.to(runtime.device) for key, value in
                batch_of(kind, size, length, shape.vocab_size, generator).items()} for _ in range(steps + 1)]

    def step(batch: dict) -> None:
        with runtime.autocast():
            logits = model(batch["input_ids"], batch["attention_mask"])
            loss = (F.cross_entropy(logits, batch["labels"]) if kind == "classifier"
                    else tagger_loss(logits, batch["sentence"], batch["positions"]))
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)

    model.train()
    step(batches[0])  # warm-up: allocations, kernels
    if runtime.device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for batch in batches[1:]:
        step(batch)
    if runtime.device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    return {"batch": size, "steps": steps, "tokens_per_example": length, "seconds": round(seconds, 2),
            "examples_per_second": round(size * steps / seconds, 2), "bf16": runtime.bf16,
            "device": str(runtime.device)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--results", type=Path)
    args = parser.parse_args()
    results = {kind: time_model(kind, args.device, args.precision, args.batch, args.steps)
               for kind in ("classifier", "tagger")}
    device = results["classifier"]["device"].split(":")[0]
    path = args.results or HERE / "results" / f"herberta-{device}-{datetime.date.today().isoformat()}.json"
    write_results(path, {"model": "base-random (bert-base shape, mBERT vocabulary)", **results})


if __name__ == "__main__":
    main()
