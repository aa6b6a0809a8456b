"""HERBERTa (Seganti et al., EACL 2021): joint entity and relation extraction as two BERT models.

- The relation classifier reads `[CLS] sentence [SEP]` and predicts the sentence's label (the SMiLER
  relations and no_relation) from [CLS].
- The entity tagger reads `[CLS] [relation] [SEP] sentence [SEP]`, the relation as one reserved token
  (BERT's `[unusedN]` rows, or added tokens for a vocabulary without them), and predicts the start and
  end token of entity 1 and of entity 2, like BERT for question answering, trained with
  L = ¼ (L1,start + L1,end + L2,start + L2,end), each a cross-entropy over the sentence's tokens.

At inference the classifier's relation feeds the tagger. The two are trained independently, each with
its own checkpoint, early stopping on the dev set (relation micro-F1 for the classifier, entity-pair
micro-F1 given the gold relation for the tagger).
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from model.data import pad
from model.encoder import Loaded, load_encoder
from model.runtime import Runtime, optimizer_and_schedule, seed_everything, start_runtime
from model.smiler_data import SmilerExample, Tokenized, languages, read_many, tokenize
from relxdata import smiler_scoring
from relxdata.errors import RelxdataError
from relxdata.relations import NO_RELATION
from relxdata.smiler_tsv import HEADER, TaggedRow, tag

MAX_ENTITY_TOKENS = 30  # the longest entity the tagger predicts
FIRST_RELATION_TOKEN = 10  # [unused10] on: [unused1..5] hold the entity markers


@dataclass
class HerbertaConfig:
    """The options of `relxdata finetune --task smiler`."""

    train: list[str]
    out: str
    dev: list[str] = field(default_factory=list)
    model: str = "tiny-random"
    langs: str | None = None
    max_length: int = 128
    batch_size: int = 32
    learning_rate: float = 3e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    epochs: int = 4
    patience: int = 2
    dev_share: float = 0.0
    seed: int = 13
    device: str = "auto"
    precision: str = "auto"
    negative_label: str = NO_RELATION


class SentenceClassifier(torch.nn.Module):
    """The relation of a sentence from its [CLS] vector."""

    def __init__(self, encoder: torch.nn.Module, tokenizer, labels: list[str], dropout: float = 0.1):
        super().__init__()
        self.encoder, self.tokenizer, self.labels = encoder, tokenizer, labels
        self.dropout = torch.nn.Dropout(dropout)
        self.head = torch.nn.Linear(encoder.config.hidden_size, len(labels))

    def forward(self, input_ids, attention_mask):
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.head(self.dropout(hidden[:, 0])).float()


class EntityTagger(torch.nn.Module):
    """Start and end logits of entity 1 and entity 2 at every token: (batch, tokens, 4)."""

    def __init__(self, encoder: torch.nn.Module, tokenizer, labels: list[str], relation_tokens: list[int]):
        super().__init__()
        self.encoder, self.tokenizer, self.labels, self.relation_tokens = encoder, tokenizer, labels, relation_tokens
        self.head = torch.nn.Linear(encoder.config.hidden_size, 4)

    def forward(self, input_ids, attention_mask):
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.head(hidden).float()


def relation_tokens(loaded: Loaded, labels: list[str]) -> list[int]:
    """One token per label: BERT's [unused10…] rows when the vocabulary has them, else added ones."""
    vocab = loaded.tokenizer.get_vocab()
    reserved = [f"[unused{FIRST_RELATION_TOKEN + index}]" for index in range(len(labels))]
    if all(token in vocab for token in reserved):
        return [vocab[token] for token in reserved]
    added = [f"[REL{index}]" for index in range(len(labels))]
    loaded.tokenizer.add_special_tokens({"extra_special_tokens": added}, replace_extra_special_tokens=False)
    if len(loaded.tokenizer) > loaded.model.get_input_embeddings().num_embeddings:
        loaded.model.resize_token_embeddings(len(loaded.tokenizer))
    return loaded.tokenizer.convert_tokens_to_ids(added)


# --- batches -----------------------------------------------------------------------------------------

TAGGER_PREFIX = 3  # [CLS] [relation] [SEP] before the sentence's tokens


def classifier_batch(items: Sequence[Tokenized], targets: Sequence[int], tokenizer) -> dict:
    ids, mask = pad([[tokenizer.cls_token_id, *item.ids, tokenizer.sep_token_id] for item in items],
                    tokenizer.pad_token_id)
    return {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor(list(targets), dtype=torch.long)}


def tagger_batch(items: Sequence[Tokenized], relation_ids: Sequence[int], tokenizer) -> dict:
    """Inputs, the mask of the sentence's own tokens, and (when known) the four gold token positions."""
    sequences = [[tokenizer.cls_token_id, relation, tokenizer.sep_token_id, *item.ids, tokenizer.sep_token_id]
                 for item, relation in zip(items, relation_ids)]
    ids, mask = pad(sequences, tokenizer.pad_token_id)
    sentence = torch.zeros_like(mask, dtype=torch.bool)
    for row, item in enumerate(items):
        sentence[row, TAGGER_PREFIX:TAGGER_PREFIX + len(item.ids)] = True
    batch = {"input_ids": ids, "attention_mask": mask, "sentence": sentence}
    if all(item.e1 is not None for item in items):
        batch["positions"] = torch.tensor([[item.e1[0], item.e1[1], item.e2[0], item.e2[1]] for item in items],
                                          dtype=torch.long) + TAGGER_PREFIX
    return batch


def tagger_loss(logits: torch.Tensor, sentence: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """¼ of the four cross-entropies over the sentence's tokens."""
    masked = logits.masked_fill(~sentence.unsqueeze(-1), float("-inf"))
    return sum(F.cross_entropy(masked[:, :, k], positions[:, k]) for k in range(4)) / 4


def best_spans(logits: torch.Tensor, sentence: torch.Tensor) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Per row, the best (start, end) of entity 1 and of entity 2 with start <= end < start + MAX_ENTITY_TOKENS,
    as token positions of the sentence (the prefix removed)."""
    masked = logits.masked_fill(~sentence.unsqueeze(-1), float("-inf"))
    length = masked.shape[1]
    position = torch.arange(length, device=logits.device)
    allowed = (position[:, None] <= position[None, :]) & (position[None, :] < position[:, None] + MAX_ENTITY_TOKENS)
    first = _argmax_span(masked[:, :, 0], masked[:, :, 1], allowed.expand(masked.shape[0], -1, -1))
    # Entity 2 may not overlap entity 1: (i, j) overlaps (a, b) when i <= b and j >= a.
    a, b = first[:, 0, None, None], first[:, 1, None, None]
    apart = allowed & ~((position[None, :, None] <= b) & (position[None, None, :] >= a))
    second = _argmax_span(masked[:, :, 2], masked[:, :, 3], apart)
    return [((s1 - TAGGER_PREFIX, e1 - TAGGER_PREFIX), (s2 - TAGGER_PREFIX, e2 - TAGGER_PREFIX))
            for (s1, e1), (s2, e2) in zip(first.tolist(), second.tolist())]


def n_best_pairs(logits: torch.Tensor, sentence: torch.Tensor, n: int) -> list[list[tuple]]:
    """Per row, the `n` best ((e1 start, e1 end), (e2 start, e2 end), score) with entity 2 apart from entity 1,
    token positions of the sentence, best first; the score is the sum of the four logits."""
    masked = logits.masked_fill(~sentence.unsqueeze(-1), float("-inf")).cpu()
    length = masked.shape[1]
    position = torch.arange(length)
    allowed = (position[:, None] <= position[None, :]) & (position[None, :] < position[:, None] + MAX_ENTITY_TOKENS)
    rows = []
    for row in masked:
        first = (row[:, 0, None] + row[None, :, 1]).masked_fill(~allowed, float("-inf"))
        second = (row[:, 2, None] + row[None, :, 3]).masked_fill(~allowed, float("-inf"))
        pairs = []
        for score_1, flat_1 in zip(*first.flatten().topk(min(n, first.numel()))):
            a, b = divmod(flat_1.item(), length)
            apart = second.masked_fill((position[:, None] <= b) & (position[None, :] >= a), float("-inf"))
            for score_2, flat_2 in zip(*apart.flatten().topk(min(n, apart.numel()))):
                c, d = divmod(flat_2.item(), length)
                if torch.isfinite(score_1 + score_2):
                    pairs.append(((a - TAGGER_PREFIX, b - TAGGER_PREFIX), (c - TAGGER_PREFIX, d - TAGGER_PREFIX),
                                  (score_1 + score_2).item()))
        rows.append(sorted(pairs, key=lambda pair: -pair[2])[:n])
    return rows


def _argmax_span(starts: torch.Tensor, ends: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """(batch, 2): the start and end token maximising start + end logits among the `allowed` (start, end) pairs."""
    length = starts.shape[1]
    scores = (starts.unsqueeze(2) + ends.unsqueeze(1)).masked_fill(~allowed, float("-inf")).flatten(1)
    best = scores.argmax(1)
    return torch.stack([best // length, best % length], dim=1)


# --- training ----------------------------------------------------------------------------------------

@dataclass
class Prepared:
    """Examples with their tokens, the ones that could be tokenized with both entities."""

    examples: list[SmilerExample]
    tokens: list[Tokenized]


def prepare(examples: list[SmilerExample], tokenizer, budget: int, counts: Counter) -> Prepared:
    tokens = tokenize(tokenizer, [example.text for example in examples],
                      [(example.e1, example.e2) for example in examples], budget, counts)
    kept = [(example, item) for example, item in zip(examples, tokens) if item is not None]
    return Prepared([example for example, _ in kept], [item for _, item in kept])


def held_out(key: str, share: float) -> bool:
    return int.from_bytes(hashlib.sha1(key.encode("utf-8")).digest()[:8], "big") / 2 ** 64 < share


def shuffled_batches(size: int, batch_size: int, rng: random.Random) -> list[list[int]]:
    order = list(range(size))
    rng.shuffle(order)
    return [order[start:start + batch_size] for start in range(0, size, batch_size)]


def train_one(name: str, model: torch.nn.Module, batches: Callable[[int], list[dict]], loss_of, dev_score,
              config: HerbertaConfig, runtime: Runtime, steps_per_epoch: int) -> tuple[torch.nn.Module, list[dict]]:
    """One readable loop for either model: AdamW with warm-up, early stopping on `dev_score` (higher is better)."""
    total = steps_per_epoch * config.epochs
    optimizer, scheduler = optimizer_and_schedule(model, runtime, config.learning_rate, config.weight_decay,
                                                  int(config.warmup_ratio * total), total)
    best, best_state, waited, history = float("-inf"), None, 0, []
    for epoch in range(config.epochs):
        model.train()
        losses, started = [], time.perf_counter()
        for batch in batches(epoch):
            batch = {key: value.to(runtime.device, non_blocking=True) for key, value in batch.items()}
            with runtime.autocast():
                loss = loss_of(model, batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.detach())
        record = {"epoch": epoch + 1, "loss": torch.stack(losses).mean().item(),
                  "seconds": round(time.perf_counter() - started, 2)}
        score = dev_score(model) if dev_score else None
        if score is not None:
            record["dev"] = round(score, 2)
        history.append(record)
        runtime.log(f"{name} epoch {epoch + 1}: loss {record['loss']:.4f}"
                    + (f", dev micro-F1 {score:.2f}" if score is not None else ""))
        if score is None:
            continue
        if score > best:
            best, best_state, waited = score, copy.deepcopy(model.state_dict()), 0
        else:
            waited += 1
            if waited >= config.patience:
                runtime.log(f"{name}: no better on dev for {waited} epochs; keeping epoch {epoch + 1 - waited}")
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    return model, history


def finetune_herberta(config: HerbertaConfig) -> dict:
    """Trains the classifier, then the tagger; saves OUT/classifier and OUT/tagger (each a checkpoint)."""
    runtime = start_runtime(config.device, config.precision)
    langs, skipped, counts = languages(config.langs), [], Counter()
    train = read_many(config.train, "train", langs, skipped)
    dev = read_many(config.dev, "dev", langs, skipped) if config.dev else []
    if not dev and config.dev_share > 0:  # the released files have no dev split: hold some rows out, by id
        held = [held_out(example.id, config.dev_share) for example in train]
        dev = [example for example, out in zip(train, held) if out]
        train = [example for example, out in zip(train, held) if not out]
    labels = sorted({example.label for example in train} | {config.negative_label})
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    texts = lambda: (example.text for example in train[:200_000])  # noqa: E731  (a random model's tokenizer)
    summary = {"config": asdict(config), "labels": labels, "train_examples": len(train), "dev_examples": len(dev),
               "skipped_rows": len(skipped), "skipped_examples": skipped[:20]}
    for line in skipped[:5]:
        runtime.log(f"skipped {line}")

    seed_everything(config.seed)
    loaded = load_encoder(config.model, texts)
    tokenizer = loaded.tokenizer
    budget = config.max_length - 2
    prepared, prepared_dev = prepare(train, tokenizer, budget, counts), prepare(dev, tokenizer, budget, counts)
    index = {label: number for number, label in enumerate(labels)}
    classifier = SentenceClassifier(loaded.model, tokenizer, labels).to(runtime.device)
    plan = lambda epoch: shuffled_batches(len(prepared.tokens), config.batch_size,  # noqa: E731
                                          random.Random(f"{config.seed}:{epoch}"))
    runtime.log(f"HERBERTa on {len(prepared.tokens):,} examples ({len(labels)} labels), dev {len(prepared_dev.tokens):,}, "
                f"on {runtime.device}")
    classifier, summary["classifier"] = train_one(
        "classifier", classifier,
        lambda epoch: [classifier_batch([prepared.tokens[i] for i in rows],
                                        [index[prepared.examples[i].label] for i in rows], tokenizer)
                       for rows in plan(epoch)],
        lambda model, batch: F.cross_entropy(model(batch["input_ids"], batch["attention_mask"]), batch["labels"]),
        (lambda model: relation_f1(model, prepared_dev, config, runtime)) if dev else None,
        config, runtime, -(-len(prepared.tokens) // config.batch_size))
    save(classifier, tokenizer, out / "classifier", {"kind": "classifier", "labels": labels})

    seed_everything(config.seed)
    # A random tagger reads the classifier's learned vocabulary: one tokenizer for both models.
    loaded = load_encoder(config.model, texts, tokenizer=copy.deepcopy(tokenizer))
    tokens = relation_tokens(loaded, labels)
    tagger = EntityTagger(loaded.model, loaded.tokenizer, labels, tokens).to(runtime.device)
    tagger_budget = config.max_length - 2 - TAGGER_PREFIX
    prepared = prepare(train, loaded.tokenizer, tagger_budget, counts)
    prepared_dev = prepare(dev, loaded.tokenizer, tagger_budget, counts)
    plan = lambda epoch: shuffled_batches(len(prepared.tokens), config.batch_size,  # noqa: E731
                                          random.Random(f"{config.seed}:{epoch}"))
    tagger, summary["tagger"] = train_one(
        "tagger", tagger,
        lambda epoch: [tagger_batch([prepared.tokens[i] for i in rows],
                                    [tokens[index[prepared.examples[i].label]] for i in rows], loaded.tokenizer)
                       for rows in plan(epoch)],
        lambda model, batch: tagger_loss(model(batch["input_ids"], batch["attention_mask"]), batch["sentence"],
                                         batch["positions"]),
        (lambda model: pair_f1(model, prepared_dev, index, config, runtime)) if dev else None,
        config, runtime, -(-len(prepared.tokens) // config.batch_size))
    save(tagger, loaded.tokenizer, out / "tagger", {"kind": "tagger", "labels": labels, "relation_tokens": tokens})
    summary["counts"] = dict(counts)
    (out / "run.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def save(model: torch.nn.Module, tokenizer, directory: Path, meta: dict) -> None:
    model.encoder.save_pretrained(directory / "encoder")
    tokenizer.save_pretrained(directory / "encoder")
    torch.save(model.head.state_dict(), directory / "head.pt")
    (directory / "herberta.json").write_text(json.dumps(meta) + "\n")


def load(directory: Path) -> torch.nn.Module:
    meta_path = directory / "herberta.json"
    if not meta_path.is_file():
        raise RelxdataError(f"{directory}: not a HERBERTa model (no herberta.json); run relxdata finetune --task smiler")
    meta = json.loads(meta_path.read_text())
    loaded = load_encoder(str(directory / "encoder"))
    model = (SentenceClassifier(loaded.model, loaded.tokenizer, meta["labels"]) if meta["kind"] == "classifier"
             else EntityTagger(loaded.model, loaded.tokenizer, meta["labels"], meta["relation_tokens"]))
    model.head.load_state_dict(torch.load(directory / "head.pt", weights_only=True))
    return model


# --- prediction and scores -------------------------------------------------------------------------------

@torch.no_grad()
def predict_labels(classifier: SentenceClassifier, tokens: Sequence[Tokenized], batch_size: int,
                   runtime: Runtime) -> list[str]:
    classifier.eval()
    tokenizer = classifier.tokenizer
    labels = []
    for start in range(0, len(tokens), batch_size):
        batch = classifier_batch(tokens[start:start + batch_size], [0] * len(tokens[start:start + batch_size]),
                                 tokenizer)
        with runtime.autocast():
            logits = classifier(batch["input_ids"].to(runtime.device), batch["attention_mask"].to(runtime.device))
        labels += [classifier.labels[index] for index in logits.argmax(-1).tolist()]
    return labels


@torch.no_grad()
def predict_spans(tagger: EntityTagger, tokens: Sequence[Tokenized], labels: Sequence[str], batch_size: int,
                  runtime: Runtime, n_best: int = 0) -> tuple[list, list]:
    """Character spans of entity 1 and entity 2 for each sentence, given its relation; with `n_best`, also
    the n best pairs of each sentence as ((e1 span), (e2 span), score) in characters."""
    tagger.eval()
    tokenizer = tagger.tokenizer
    index = {label: number for number, label in enumerate(tagger.labels)}
    spans, candidates = [], []
    for start in range(0, len(tokens), batch_size):
        items = tokens[start:start + batch_size]
        relations = [tagger.relation_tokens[index.get(label, 0)] for label in labels[start:start + batch_size]]
        batch = tagger_batch([Tokenized(item.ids, item.offsets, None, None) for item in items], relations, tokenizer)
        with runtime.autocast():
            logits = tagger(batch["input_ids"].to(runtime.device), batch["attention_mask"].to(runtime.device))
        sentence = batch["sentence"].to(runtime.device)
        for item, pair in zip(items, best_spans(logits, sentence)):
            spans.append(tuple(_characters(item, token_pair) for token_pair in pair))
        if n_best:
            candidates += [[(_characters(item, first), _characters(item, second), round(score, 4))
                            for first, second, score in row]
                           for item, row in zip(items, n_best_pairs(logits, sentence, n_best))]
    return spans, candidates


def _characters(item: Tokenized, tokens: tuple[int, int]) -> tuple[int, int]:
    return item.offsets[tokens[0]][0], item.offsets[tokens[1]][1]


def _rows(examples: Sequence[SmilerExample], labels: Sequence[str], spans) -> dict[str, TaggedRow]:
    return {example.id: TaggedRow(example.id, "", "", label, example.text, example.lang, e1, e2)
            for example, label, (e1, e2) in zip(examples, labels, spans)}


def _gold(examples: Sequence[SmilerExample]) -> list[TaggedRow]:
    return [TaggedRow(e.id, "", "", e.label, e.text, e.lang, e.e1, e.e2) for e in examples]


def relation_f1(classifier, prepared: Prepared, config: HerbertaConfig, runtime: Runtime) -> float:
    labels = predict_labels(classifier, prepared.tokens, config.batch_size, runtime)
    spans = [(example.e1, example.e2) for example in prepared.examples]
    return smiler_scoring.score_rows(_gold(prepared.examples), _rows(prepared.examples, labels, spans),
                                     config.negative_label).relation.f1


def pair_f1(tagger, prepared: Prepared, index: dict, config: HerbertaConfig, runtime: Runtime) -> float:
    """Entity-pair micro-F1 with the gold relation as the tagger's input."""
    labels = [example.label for example in prepared.examples]
    spans, _ = predict_spans(tagger, prepared.tokens, labels, config.batch_size, runtime)
    return smiler_scoring.score_rows(_gold(prepared.examples), _rows(prepared.examples, labels, spans),
                                     config.negative_label).entity_pair.f1


def evaluate_herberta(model_dir: str, files: list[str], out: str | None, *, langs: str | None = None,
                      batch_size: int = 64, max_length: int = 128, device: str = "auto", precision: str = "auto",
                      negative_label: str = NO_RELATION, n_best: int = 0) -> list[dict]:
    """Classifier -> tagger on every sentence of each file; the SMiLER metrics per file (per language and label),
    predictions written in the released layout to OUT/{name}.pred.tsv with results.json and results.md, and
    with `n_best` the n best entity pairs of each sentence to OUT/{name}.nbest.jsonl."""
    runtime = start_runtime(device, precision)
    directory = Path(model_dir)
    classifier = load(directory / "classifier").to(runtime.device)
    tagger = load(directory / "tagger").to(runtime.device)
    results = []
    for path in files:
        skipped: list[str] = []
        examples = read_many([path], "test", languages(langs), skipped)
        counts: Counter = Counter()
        texts, unknown = [example.text for example in examples], [None] * len(examples)
        labels = predict_labels(classifier, tokenize(classifier.tokenizer, texts, unknown, max_length - 2, counts),
                                batch_size, runtime)
        tagger_tokens = tokenize(tagger.tokenizer, texts, unknown, max_length - 2 - TAGGER_PREFIX, counts)
        spans, candidates = predict_spans(tagger, tagger_tokens, labels, batch_size, runtime, n_best)
        predicted = _rows(examples, labels, spans)
        report = smiler_scoring.score(_gold(examples), predicted, negative_label, gold_name=path)
        results.append({"file": path, "examples": len(examples), "skipped_rows": len(skipped),
                        "report": report, "predicted": predicted, "n_best": candidates})
    if out:
        target = Path(out)
        target.mkdir(parents=True, exist_ok=True)
        for result in results:
            name = Path(result["file"]).name.removesuffix(".tsv")
            with (target / f"{name}.pred.tsv").open("w", encoding="utf-8") as sink:
                sink.write("\t".join(HEADER) + "\n")
                for row in result["predicted"].values():
                    e1, e2 = row.entity_1_span, row.entity_2_span
                    text = tag(row.text, e1, e2) if e1[1] <= e2[0] or e2[1] <= e1[0] else row.text
                    sink.write("\t".join((row.id, row.text[slice(*e1)], row.text[slice(*e2)], row.label, text,
                                          row.lang)) + "\n")
            if result["n_best"]:
                with (target / f"{name}.nbest.jsonl").open("w", encoding="utf-8") as sink:
                    for row, pairs in zip(result["predicted"].values(), result["n_best"]):
                        sink.write(json.dumps({"id": row.id, "label": row.label, "pairs": [
                            {"entity_1": list(e1), "entity_2": list(e2), "score": score} for e1, e2, score in pairs]})
                            + "\n")
        (target / "results.json").write_text(json.dumps(
            [{"file": r["file"], "examples": r["examples"], "skipped_rows": r["skipped_rows"],
              **json.loads(smiler_scoring.report_json(r["report"]))} for r in results], indent=2) + "\n")
        (target / "results.md").write_text("\n\n".join(results_table(r) for r in results) + "\n")
    return results


def results_table(result: dict) -> str:
    lines = [f"### {result['file']} ({result['examples']:,} rows)", "", "```",
             *smiler_scoring.report_lines(result["report"]), "```"]
    return "\n".join(lines)
