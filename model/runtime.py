"""Devices, dtypes, processes (torchrun), RNG state and the optimiser recipe shared by pretraining and fine-tuning."""

from __future__ import annotations

import json
import os
import random
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from transformers import get_linear_schedule_with_warmup

from relxdata.errors import RelxdataError


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    rank: int = 0
    world: int = 1
    bf16: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0

    def autocast(self):
        """bf16 autocast where asked for; the master weights and the optimiser stay in fp32."""
        if not self.bf16:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)

    def log(self, message: str) -> None:
        if self.main:
            print(message, flush=True)


def start_runtime(device: str = "auto", precision: str = "auto") -> Runtime:
    """One process of a `torchrun` job (WORLD_SIZE, RANK, LOCAL_RANK set), or a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RelxdataError("--device cuda: no CUDA device is visible")
        chosen = torch.device("cuda", local_rank if world > 1 else torch.device(device).index or 0)
        torch.cuda.set_device(chosen)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    elif device == "cpu":
        chosen = torch.device("cpu")
    else:
        raise RelxdataError(f"--device {device!r}: expected auto, cpu, cuda or cuda:N")
    if precision not in ("auto", "bf16", "fp32"):
        raise RelxdataError(f"--precision {precision!r}: expected auto, bf16 or fp32")
    bf16 = precision == "bf16" or (precision == "auto" and chosen.type == "cuda" and torch.cuda.is_bf16_supported())
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if chosen.type == "cuda" else "gloo")
    return Runtime(chosen, rank, world, bf16)


def stop_runtime(runtime: Runtime) -> None:
    if runtime.world > 1 and dist.is_initialized():
        dist.destroy_process_group()


def optimizer_and_schedule(model: torch.nn.Module, runtime: Runtime, learning_rate: float, weight_decay: float,
                           warmup_steps: int, total_steps: int):
    """AdamW (fused on GPU), no decay on biases and LayerNorm weights, linear warm-up then linear decay."""
    decayed, plain = [], []
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            (plain if parameter.ndim < 2 or "LayerNorm" in name or "layer_norm" in name else decayed).append(parameter)
    groups = [{"params": decayed, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=learning_rate, fused=runtime.device.type == "cuda")
    return optimizer, get_linear_schedule_with_warmup(optimizer, warmup_steps, total_steps)


def rng_state(generator: torch.Generator) -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
             "generator": generator.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict, generator: torch.Generator) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    generator.set_state(state["generator"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> torch.Generator:
    """Seeds the global RNGs (weights, dropout) and returns a generator of its own for masking."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


class MetricsLog:
    """Appends one JSON object a line to `metrics.jsonl` and prints a readable line (main process only)."""

    def __init__(self, directory: Path, runtime: Runtime):
        self.path, self.runtime = directory / "metrics.jsonl", runtime

    def write(self, record: dict, line: str) -> None:
        if not self.runtime.main:
            return
        with self.path.open("a", encoding="utf-8") as sink:
            sink.write(json.dumps(record) + "\n")
        print(line, flush=True)
