"""Encoders: a local Hugging Face checkpoint, or a random BERT with a WordPiece tokenizer learned on the input."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import (AutoModel, AutoModelForMaskedLM, AutoTokenizer, BertConfig, BertForMaskedLM, BertModel,
                          PreTrainedModel, PreTrainedTokenizerBase)

from model.tokens import MarkerIds, marker_ids, train_wordpiece
from relxdata.errors import RelxdataError

# Nothing here may reach the Hugging Face hub: a name that is not a local directory is an error, not a download.
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@dataclass(frozen=True)
class RandomBert:
    """A randomly initialised BERT: for tests, smoke runs and throughput measurements."""

    hidden_size: int
    layers: int
    heads: int
    intermediate_size: int
    vocab_size: int
    max_positions: int = 512

    def config(self, vocab_size: int) -> BertConfig:
        return BertConfig(vocab_size=vocab_size, hidden_size=self.hidden_size, num_hidden_layers=self.layers,
                          num_attention_heads=self.heads, intermediate_size=self.intermediate_size,
                          max_position_embeddings=self.max_positions)


RANDOM_MODELS = {
    "tiny-random": RandomBert(hidden_size=64, layers=2, heads=2, intermediate_size=128, vocab_size=1000),
    # mBERT's shape and vocabulary size, so that its cost is the real model's
    "base-random": RandomBert(hidden_size=768, layers=12, heads=12, intermediate_size=3072, vocab_size=119_547),
}
MODEL_HELP = f"a local Hugging Face checkpoint directory, or one of {', '.join(RANDOM_MODELS)}"


@dataclass
class Loaded:
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    markers: MarkerIds


def _checkpoint_dir(spec: str) -> Path:
    path = Path(spec)
    if not path.is_dir():
        raise RelxdataError(f"--model {spec!r}: not a directory; expected {MODEL_HELP} (nothing is downloaded)")
    if not (path / "config.json").is_file():
        raise RelxdataError(f"--model {spec!r}: no config.json, so not a Hugging Face checkpoint directory; "
                            f"expected {MODEL_HELP}")
    return path


def _random_tokenizer(spec: str, texts: Callable[[], Iterable[str]] | None,
                      tokenizer: PreTrainedTokenizerBase | None) -> PreTrainedTokenizerBase:
    if tokenizer is not None:
        return tokenizer
    if texts is None:
        raise RelxdataError(f"--model {spec} learns its tokenizer from the training text, and there is none here")
    return train_wordpiece(texts(), RANDOM_MODELS[spec].vocab_size)


def _with_markers(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> Loaded:
    markers = marker_ids(tokenizer)
    if len(tokenizer) > model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(len(tokenizer))
    return Loaded(model, tokenizer, markers)


def load_masked_lm(spec: str, texts: Callable[[], Iterable[str]] | None = None,
                   tokenizer: PreTrainedTokenizerBase | None = None) -> Loaded:
    """An encoder with its masked-LM head, for pretraining; a random model learns its tokenizer from `texts`
    unless it is given one."""
    if spec in RANDOM_MODELS:
        tokenizer = _random_tokenizer(spec, texts, tokenizer)
        config = RANDOM_MODELS[spec].config(max(len(tokenizer), RANDOM_MODELS[spec].vocab_size))
        return _with_markers(BertForMaskedLM._from_config(config, attn_implementation="sdpa"), tokenizer)
    path = _checkpoint_dir(spec)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModelForMaskedLM.from_pretrained(path, local_files_only=True, attn_implementation="sdpa")
    return _with_markers(model, tokenizer)


def load_encoder(spec: str, texts: Callable[[], Iterable[str]] | None = None,
                 tokenizer: PreTrainedTokenizerBase | None = None) -> Loaded:
    """The bare encoder (no LM head), for fine-tuning: a checkpoint, a pretraining output, or a random model
    (which learns its tokenizer from `texts` unless it is given one)."""
    if spec in RANDOM_MODELS:
        tokenizer = _random_tokenizer(spec, texts, tokenizer)
        config = RANDOM_MODELS[spec].config(max(len(tokenizer), RANDOM_MODELS[spec].vocab_size))
        return _with_markers(BertModel._from_config(config, add_pooling_layer=False, attn_implementation="sdpa"),
                             tokenizer)
    path = _checkpoint_dir(spec)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True, attn_implementation="sdpa", add_pooling_layer=False)
    return _with_markers(model, tokenizer)


def mlm_head(masked_lm: PreTrainedModel) -> torch.nn.Module:
    """The module that maps hidden states to vocabulary logits (BERT's `cls`, XLM-R's `lm_head`)."""
    for name in ("cls", "lm_head"):
        if hasattr(masked_lm, name):
            return getattr(masked_lm, name)
    raise RelxdataError(f"{type(masked_lm).__name__}: no masked-LM head (cls or lm_head) to pretrain")
