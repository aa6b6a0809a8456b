"""MTMB pretraining throughput: pairs/s of a BERT-base-sized random model (mBERT's shape and vocabulary).

Two measurements, both in this process:

1. Training steps at exactly 128 tokens per sentence (the worst case), relxdata's step against a
   reference-style step as the MTB/RELX code ran it: eager attention, LM logits at every position,
   fp32. The ratio is the speed-up of the recipe; on a GPU the report adds model FLOPs utilisation.
2. `relxdata pretrain` end to end on build-pairs shards of a contract corpus (real sentence lengths,
   bucketing, DataLoader workers tokenizing), from the log's pairs/s.

    python benchmarks/bench_pretrain.py                       # CPU: a few steps, takes minutes
    python benchmarks/bench_pretrain.py --device cuda --micro-batch 64 --steps 30   # one GPU
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from report import machine, write_results
from model.encoder import RANDOM_MODELS
from model.pretrain import MTMB, PretrainConfig, pretrain
from model.runtime import optimizer_and_schedule, start_runtime
from relxdata.pairs import PairConfig, build_pairs
from relxdata.synthetic import write_contract_corpus
from transformers import BertForMaskedLM

HERE = Path(__file__).resolve().parent
PEAK_BF16_FLOPS = {"H200": 989e12, "H100": 989e12, "A100": 312e12}  # dense, per GPU


def train_flops_per_pair(hidden: int, layers: int, intermediate: int, vocab: int, length: int,
                         masked_share: float) -> float:
    """Training FLOPs (backward = 2x forward) of a pair of two `length`-token sentences; LM head on the masked share."""
    projections_and_mlp = layers * 2 * (4 * hidden * hidden + 2 * hidden * intermediate)
    attention = layers * 2 * 2 * length * hidden  # scores and the weighted sum, per token
    head = masked_share * 2 * (hidden * hidden + hidden * vocab)
    return 3 * 2 * length * (projections_and_mlp + attention + head)


def reference_step(masked_lm, batch):
    """The reference recipe's loss: logits at every position (the head costs as much as the encoder)."""
    hidden = masked_lm.bert(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    logits = masked_lm.cls(hidden)
    mlm = F.cross_entropy(logits.flatten(0, 1), batch["mlm_labels"].flatten(), ignore_index=-100)
    rows = torch.arange(hidden.shape[0], device=hidden.device)
    relation = torch.cat([hidden[rows, batch["e1_pos"]], hidden[rows, batch["e2_pos"]]], dim=-1)
    side_a, side_b = relation.chunk(2)
    return mlm + F.binary_cross_entropy_with_logits((side_a * side_b).sum(-1), batch["labels"].float())


def time_steps(kind: str, device: str, micro_batch: int, steps: int, length: int = 128) -> dict:
    runtime = start_runtime(device, "fp32" if kind == "reference" else "auto")
    shape = RANDOM_MODELS["base-random"]
    attention = "eager" if kind == "reference" else "sdpa"
    masked_lm = BertForMaskedLM._from_config(shape.config(shape.vocab_size), attn_implementation=attention)
    model = MTMB(masked_lm).to(runtime.device).train()
    optimizer, scheduler = optimizer_and_schedule(model, runtime, 3e-5, 0.1, 0, steps + 2)
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, shape.vocab_size, (2 * micro_batch, length), generator=generator)
    masked = torch.rand(ids.shape, generator=generator) < 0.15
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "mlm_labels": torch.where(masked, ids, -100),
             "e1_pos": torch.full((2 * micro_batch,), 3), "e2_pos": torch.full((2 * micro_batch,), 20),
             "labels": torch.randint(2, (micro_batch,), generator=generator)}
    batch = {name: value.to(runtime.device) for name, value in batch.items()}
    seconds = []
    for _ in range(steps + 1):  # the first step warms up allocators and kernels
        started = time.perf_counter()
        with runtime.autocast():
            loss = reference_step(masked_lm, batch) if kind == "reference" else sum(model(**batch))
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        if runtime.device.type == "cuda":
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - started)
    mean = sum(seconds[1:]) / steps
    result = {"kind": kind, "device": str(runtime.device), "bf16": runtime.bf16, "attention": attention,
              "micro_batch_pairs": micro_batch, "tokens_per_sentence": length, "seconds_per_step": round(mean, 4),
              "pairs_per_s": round(micro_batch / mean, 2)}
    flops = train_flops_per_pair(768, 12, 3072, shape.vocab_size, length, 0.15 if kind != "reference" else 1.0)
    result["model_tflops_per_s"] = round(flops * result["pairs_per_s"] / 1e12, 2)
    if runtime.device.type == "cuda":
        name = torch.cuda.get_device_name(runtime.device)
        peak = next((value for key, value in PEAK_BF16_FLOPS.items() if key in name), None)
        result["gpu"] = name
        if peak and kind != "reference":
            result["mfu"] = round(flops * result["pairs_per_s"] / peak, 3)
    del model, masked_lm, optimizer
    return result


def end_to_end(work: Path, device: str, micro_batch: int, steps: int, workers: int) -> dict:
    corpus, pairs = work / "corpus", work / "pairs"
    if not (pairs / "_manifest.json").exists():
        shutil.rmtree(work, ignore_errors=True)
        write_contract_corpus(str(corpus), 40_000, seed=1, langs={"en": 5, "de": 3, "fr": 3, "es": 2, "tr": 1})
        build_pairs(str(corpus), str(pairs), PairConfig(num_pairs=20_000, pairs_per_shard=5_000), show_progress=False)
    out = work / "run"
    shutil.rmtree(out, ignore_errors=True)
    config = PretrainConfig(pairs=str(pairs), out=str(out), model="base-random", batch_size=64,
                            micro_batch_size=micro_batch, max_steps=steps, log_every=1, save_every=10 ** 9,
                            workers=workers, device=device)
    pretrain(config)
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()][1:]
    return {"steps_timed": len(records), "batch_pairs": 64, "micro_batch_pairs": micro_batch,
            "pairs_per_s": round(sum(r["pairs_per_s"] for r in records) / len(records), 2),
            "tokens_per_s": round(sum(r["tokens_per_s"] for r in records) / len(records), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--micro-batch", type=int, default=8, help="pairs per forward pass (8 on CPU, 64 on a GPU)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per measurement")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--work", type=Path, default=HERE / "work" / "pretrain")
    parser.add_argument("--results", type=Path, default=HERE / "results" / "pretrain.json")
    args = parser.parse_args()
    fixed = [time_steps(kind, args.device, args.micro_batch, args.steps) for kind in ("relxdata", "reference")]
    report = {
        "machine": f"{machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads",
        "fixed_128_tokens": fixed,
        "speedup_over_reference": round(fixed[0]["pairs_per_s"] / fixed[1]["pairs_per_s"], 2),
        "end_to_end": end_to_end(args.work, args.device, args.micro_batch, args.steps + 1, args.workers),
        "authors_v100_pairs_per_s": 23,
    }
    report["hours_per_20m_pairs"] = round(20_000_000 / report["end_to_end"]["pairs_per_s"] / 3600, 1)
    write_results(args.results, report)


if __name__ == "__main__":
    main()
