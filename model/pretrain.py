"""MTMB pretraining: masked LM plus the matching objective on English/non-English sentence pairs.

The relation representation of a sentence is the concatenation of the hidden states at its [E1] and
[E2] start markers; a pair's score is sigmoid(r_a · r_b), trained with binary cross-entropy on the pair
label. The LM head only sees the masked positions: with mBERT's 119,547-word vocabulary a head over
every position costs as much as the encoder.
"""

from __future__ import annotations

import itertools
import json
import shutil
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import pyarrow.parquet as pq
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from transformers import AutoTokenizer

from model.data import (PAIR_COLUMNS, Encoding, ShardStream, batches_in, pair_batches, plan_chunks, rank_chunks,
                        shard_files)
from model.encoder import load_masked_lm, mlm_head, RANDOM_MODELS
from model.runtime import (MetricsLog, Runtime, optimizer_and_schedule, restore_rng, rng_state, seed_everything,
                           start_runtime, stop_runtime)
from relxdata.errors import RelxdataError

IGNORE = -100  # cross_entropy's ignore_index: positions that are not masked


@dataclass
class PretrainConfig:
    pairs: str
    out: str
    model: str = "tiny-random"
    max_length: int = 128
    batch_size: int = 64
    micro_batch_size: int = 0
    learning_rate: float = 3e-5
    weight_decay: float = 0.1
    warmup_ratio: float = 0.1
    epochs: int = 1
    max_steps: int = 0
    mlm_probability: float = 0.15
    seed: int = 13
    workers: int = 2
    log_every: int = 50
    save_every: int = 1000
    keep_checkpoints: int = 2
    resume: bool = False
    device: str = "auto"
    precision: str = "auto"
    tokenizer_sample: int = 200_000


@dataclass
class Position:
    """Optimizer steps done, and the next micro-batch to train on: epoch, chunk of the epoch, batch of the chunk."""

    step: int = 0
    epoch: int = 0
    chunk: int = 0
    batch: int = 0


class MTMB(torch.nn.Module):
    """An encoder with its LM head; `forward` returns the masked-LM and the matching loss of a pair batch."""

    def __init__(self, masked_lm: torch.nn.Module):
        super().__init__()
        self.masked_lm = masked_lm
        self.lm_head = mlm_head(masked_lm)

    def forward(self, input_ids, attention_mask, mlm_labels, e1_pos, e2_pos, labels):
        hidden = self.masked_lm.base_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        masked = mlm_labels != IGNORE
        logits = self.lm_head(hidden[masked])
        mlm_loss = F.cross_entropy(logits.float(), mlm_labels[masked])
        rows = torch.arange(hidden.shape[0], device=hidden.device)
        relation = torch.cat([hidden[rows, e1_pos], hidden[rows, e2_pos]], dim=-1).float()
        side_a, side_b = relation.chunk(2)
        match_loss = F.binary_cross_entropy_with_logits((side_a * side_b).sum(-1), labels.float())
        return mlm_loss, match_loss


def mask_tokens(input_ids: torch.Tensor, attention_mask: torch.Tensor, special_ids: torch.Tensor, mask_id: int,
                vocab_size: int, probability: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking: `probability` of the ordinary tokens become targets; 80% [MASK], 10% random, 10% kept.

    Markers, [BLANK], [CLS], [SEP] and padding are never targets. At least one target per batch.
    """
    maskable = attention_mask.bool() & ~torch.isin(input_ids, special_ids)
    targets = (torch.rand(input_ids.shape, generator=generator) < probability) & maskable
    if not targets.any() and maskable.any():
        targets.view(-1)[maskable.view(-1).nonzero()[0]] = True
    labels = torch.where(targets, input_ids, IGNORE)
    roll = torch.rand(input_ids.shape, generator=generator)
    masked_ids = torch.where(targets & (roll < 0.8), mask_id, input_ids)
    replaced = targets & (roll >= 0.8) & (roll < 0.9)
    masked_ids = torch.where(replaced, torch.randint(vocab_size, input_ids.shape, generator=generator), masked_ids)
    return masked_ids, labels


def _pair_texts(files: list[Path], limit: int):
    """Sentences for a random model's tokenizer: the first `limit` pairs, both sides."""
    def texts():
        seen = 0
        for path in files:
            for batch in pq.ParquetFile(path).iter_batches(columns=["text_a", "text_b"], batch_size=4096):
                for column in ("text_a", "text_b"):
                    yield from batch.column(column).to_pylist()
                seen += batch.num_rows
                if seen >= limit:
                    return
    return texts


def _latest_checkpoint(out: Path) -> Path | None:
    done = sorted((out / "checkpoints").glob("step-*[0-9]"))
    return done[-1] if done else None


def _load_model(config: PretrainConfig, out: Path, files: list[Path], runtime: Runtime, checkpoint: Path | None):
    if checkpoint is not None:
        return load_masked_lm(str(checkpoint / "model"))
    if config.model not in RANDOM_MODELS:
        return load_masked_lm(config.model)
    # Every process must use the same vocabulary: the first learns it, the others read it.
    if runtime.main:
        loaded = load_masked_lm(config.model, _pair_texts(files, config.tokenizer_sample))
        loaded.tokenizer.save_pretrained(out / "tokenizer")
    if runtime.world > 1:
        dist.barrier()
    if not runtime.main:
        loaded = load_masked_lm(config.model, tokenizer=AutoTokenizer.from_pretrained(out / "tokenizer"))
    return loaded


def _micro_batch(config: PretrainConfig, runtime: Runtime) -> tuple[int, int]:
    micro = config.micro_batch_size or config.batch_size // runtime.world
    if micro < 1 or config.batch_size % (micro * runtime.world):
        raise RelxdataError(f"--batch-size {config.batch_size} is not a multiple of --micro-batch-size {micro} "
                            f"x {runtime.world} processes")
    return micro, config.batch_size // (micro * runtime.world)


def _epoch_ends(config: PretrainConfig, chunks, micro: int, accumulation: int, world: int) -> list[int]:
    """The optimizer step at which each epoch ends; all ranks stop together, at the shortest rank's end."""
    ends, step = [], 0
    for epoch in range(config.epochs):
        batches = min(batches_in(rank_chunks(chunks, config.seed, epoch, rank, world), micro) for rank in range(world))
        step += batches // accumulation
        ends.append(step)
    if config.max_steps:
        ends = [min(end, config.max_steps) for end in ends]
    if not ends or ends[-1] == 0:
        raise RelxdataError(f"{config.pairs}: too few pairs for one step of {config.batch_size}")
    return ends


def _next_position(position: Position, chunk: int, batch: int, batches: int, epoch_ends: list[int]) -> Position:
    """Where training goes on after an optimizer step that ended on `batch` of `chunk`."""
    step = position.step + 1
    if step == epoch_ends[position.epoch]:
        return Position(step, position.epoch + 1)
    if batch + 1 < batches:
        return Position(step, position.epoch, chunk, batch + 1)
    return Position(step, position.epoch, chunk + 1, 0)


def _save_checkpoint(out: Path, model: MTMB, tokenizer, optimizer, scheduler, position: Position,
                     generator: torch.Generator, runtime: Runtime, config: PretrainConfig) -> None:
    """Writes checkpoints/step-N atomically: everything needed to continue exactly where this step ended."""
    final = out / "checkpoints" / f"step-{position.step:08d}"
    staging = final.with_name(final.name + ".partial")
    if runtime.main:
        shutil.rmtree(staging, ignore_errors=True)
        model.masked_lm.save_pretrained(staging / "model")
        tokenizer.save_pretrained(staging / "model")
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "position": asdict(position), "config": asdict(config)}, staging / "trainer.pt")
    if runtime.world > 1:
        dist.barrier()
    torch.save(rng_state(generator), staging / f"rng-{runtime.rank}.pt")
    if runtime.world > 1:
        dist.barrier()
    if runtime.main:
        shutil.rmtree(final, ignore_errors=True)
        staging.rename(final)
        for old in sorted((out / "checkpoints").glob("step-*[0-9]"))[:-config.keep_checkpoints]:
            shutil.rmtree(old)


def pretrain(config: PretrainConfig) -> dict:
    """Runs (or resumes) pretraining; writes checkpoints, metrics.jsonl, and the model in OUT/final."""
    runtime = start_runtime(config.device, config.precision)
    try:
        return _pretrain(config, runtime)
    finally:
        stop_runtime(runtime)


def _pretrain(config: PretrainConfig, runtime: Runtime) -> dict:
    out = Path(config.out)
    files = shard_files(config.pairs)
    checkpoint = _latest_checkpoint(out) if config.resume else None
    if config.resume and checkpoint is None:
        raise RelxdataError(f"--resume: no checkpoint in {out / 'checkpoints'}")
    if runtime.main:
        out.mkdir(parents=True, exist_ok=True)
    generator = seed_everything(config.seed)
    loaded = _load_model(config, out, files, runtime, checkpoint)
    tokenizer = loaded.tokenizer
    model = MTMB(loaded.model).to(runtime.device).train()  # from_pretrained() returns a model in eval mode
    micro, accumulation = _micro_batch(config, runtime)
    chunks = plan_chunks(files)
    epoch_ends = _epoch_ends(config, chunks, micro, accumulation, runtime.world)
    total_steps = epoch_ends[-1]
    optimizer, scheduler = optimizer_and_schedule(model, runtime, config.learning_rate, config.weight_decay,
                                                  int(config.warmup_ratio * total_steps), total_steps)
    position = Position()
    if checkpoint is not None:
        state = torch.load(checkpoint / "trainer.pt", map_location=runtime.device, weights_only=False)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        position = Position(**state["position"])
        restore_rng(torch.load(checkpoint / f"rng-{runtime.rank}.pt", weights_only=False), generator)
        runtime.log(f"resuming from {checkpoint} at step {position.step}")
    trained = DistributedDataParallel(model) if runtime.world > 1 else model
    special_ids = torch.tensor(sorted({*tokenizer.all_special_ids, *loaded.markers.all}))
    encoding = Encoding(tokenizer, loaded.markers, config.max_length)
    metrics = MetricsLog(out, runtime)
    runtime.log(f"pretraining {sum(p.numel() for p in model.parameters()):,} parameters on {runtime.device}"
                f"{' in bf16' if runtime.bf16 else ''}: {total_steps:,} steps of {config.batch_size} pairs "
                f"({micro} per micro-batch x {accumulation} x {runtime.world} processes)")

    started, window_start = time.perf_counter(), time.perf_counter()
    window = {"mlm": torch.zeros((), device=runtime.device), "match": torch.zeros((), device=runtime.device),
              "pairs": 0, "tokens": 0, "micro": 0}
    pending = 0
    while position.step < total_steps:
        epoch = position.epoch
        epoch_chunks = rank_chunks(chunks, config.seed, epoch, runtime.rank, runtime.world)
        stream = ShardStream(epoch_chunks, PAIR_COLUMNS, partial(pair_batches, encoding=encoding, batch_size=micro),
                             seed=config.seed + epoch, start_chunk=position.chunk)
        # A loader generator of its own: creating the loader must not draw from the global RNG (dropout's).
        loader = DataLoader(stream, batch_size=None, num_workers=config.workers, generator=torch.Generator(),
                            pin_memory=runtime.device.type == "cuda")
        first_chunk, skip = position.chunk, position.batch
        for chunk_index, batches in loader:
            for batch_index, batch in itertools.islice(enumerate(batches), skip if chunk_index == first_chunk else 0,
                                                       None):
                input_ids, mlm_labels = mask_tokens(batch["input_ids"], batch["attention_mask"], special_ids,
                                                    tokenizer.mask_token_id, len(tokenizer), config.mlm_probability,
                                                    generator)
                inputs = {"input_ids": input_ids, "attention_mask": batch["attention_mask"],
                          "mlm_labels": mlm_labels, "e1_pos": batch["e1_pos"], "e2_pos": batch["e2_pos"],
                          "labels": batch["labels"]}
                inputs = {name: value.to(runtime.device, non_blocking=True) for name, value in inputs.items()}
                pending += 1
                syncing = pending == accumulation or runtime.world == 1
                with nullcontext() if syncing else trained.no_sync():
                    with runtime.autocast():
                        mlm_loss, match_loss = trained(**inputs)
                    ((mlm_loss + match_loss) / accumulation).backward()
                window["mlm"] += mlm_loss.detach()
                window["match"] += match_loss.detach()
                window["pairs"] += len(batch["labels"])
                window["tokens"] += int(batch["attention_mask"].sum())
                window["micro"] += 1
                if pending < accumulation:
                    continue
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                pending = 0
                position = _next_position(position, chunk_index, batch_index, len(batches), epoch_ends)
                if position.step % config.log_every == 0 or position.step == total_steps:
                    _log(metrics, window, position, scheduler, runtime, total_steps, time.perf_counter() - window_start)
                    window.update(mlm=torch.zeros_like(window["mlm"]), match=torch.zeros_like(window["match"]),
                                  pairs=0, tokens=0, micro=0)
                    window_start = time.perf_counter()
                if position.step % config.save_every == 0 or position.step == total_steps:
                    _save_checkpoint(out, model, tokenizer, optimizer, scheduler, position, generator, runtime, config)
                if position.epoch != epoch or position.step == total_steps:
                    break
            if position.epoch != epoch or position.step == total_steps:
                break
        if position.epoch == epoch and position.step < total_steps:
            raise RelxdataError(f"{config.pairs}: the shards ended before epoch {epoch + 1}; did they change?")

    wall = time.perf_counter() - started
    summary = {"steps": total_steps, "pairs": total_steps * config.batch_size, "seconds_this_run": round(wall, 2),
               "final": str(out / "final")}
    if runtime.main:
        shutil.rmtree(out / "final", ignore_errors=True)
        model.masked_lm.save_pretrained(out / "final")
        tokenizer.save_pretrained(out / "final")
        (out / "run.json").write_text(json.dumps({"config": asdict(config), **summary}, indent=2) + "\n")
    return summary


def _log(metrics: MetricsLog, window: dict, position: Position, scheduler, runtime: Runtime, total_steps: int,
         seconds: float) -> None:
    losses = torch.stack([window["mlm"], window["match"]]) / max(window["micro"], 1)
    counts = torch.tensor([window["pairs"], window["tokens"]], dtype=torch.float64, device=runtime.device)
    if runtime.world > 1:
        dist.all_reduce(losses)
        dist.all_reduce(counts)
        losses /= runtime.world
    mlm, match = losses.tolist()
    pairs_per_second, tokens_per_second = (counts / seconds).tolist()
    record = {"step": position.step, "epoch": position.epoch, "mlm_loss": mlm, "match_loss": match,
              "lr": scheduler.get_last_lr()[0], "pairs_per_s": pairs_per_second, "tokens_per_s": tokens_per_second}
    metrics.write(record, f"step {position.step:,}/{total_steps:,}  mlm {mlm:.4f}  match {match:.4f}  "
                          f"lr {record['lr']:.2e}  {pairs_per_second:,.1f} pairs/s  {tokens_per_second:,.0f} tokens/s")
