"""Pretraining, resuming, fine-tuning and evaluating a tiny random BERT on CPU."""

import json
import os
import random
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch

from model.data import read_relation_file
from model.encoder import load_encoder, load_masked_lm
from model.pretrain import PretrainConfig, pretrain
from relxdata.cli import main
from relxdata.pairs import PairConfig, build_pairs
from relxdata.scoring import score_labels
from relxdata.synthetic import CATEGORIES, write_contract_corpus

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pairs(tmp_path_factory) -> Path:
    """Pairs from a contract corpus whose sentences carry a word that names their relation."""
    root = tmp_path_factory.mktemp("mtmb")
    write_contract_corpus(str(root / "corpus"), 3000, seed=5, langs={"en": 3, "de": 2, "fr": 2}, shards=2,
                          cue_words=True)
    build_pairs(str(root / "corpus"), str(root / "pairs"), PairConfig(num_pairs=2000, pairs_per_shard=500, threads=2),
                show_progress=False)
    return root / "pairs"


def losses(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_pretraining_lowers_both_losses(pairs, tmp_path):
    config = PretrainConfig(pairs=str(pairs), out=str(tmp_path / "run"), batch_size=16, learning_rate=3e-3,
                            warmup_ratio=0.05, max_steps=60, log_every=1, save_every=1000, workers=1)
    summary = pretrain(config)
    steps = losses(tmp_path / "run")
    assert [record["step"] for record in steps] == list(range(1, 61)) and summary["pairs"] == 960
    for loss in ("mlm_loss", "match_loss"):
        first = sum(record[loss] for record in steps[:10]) / 10
        last = sum(record[loss] for record in steps[-10:]) / 10
        assert last < 0.9 * first, (loss, first, last)
    # fine-tuning starts from the pretrained encoder: same weights, same tokenizer and markers, no LM head
    pretrained, encoder = load_masked_lm(str(tmp_path / "run" / "final")), load_encoder(str(tmp_path / "run" / "final"))
    assert type(encoder.model).__name__ == "BertModel" and encoder.markers == pretrained.markers
    assert torch.equal(encoder.model.encoder.layer[1].output.dense.weight,
                       pretrained.model.bert.encoder.layer[1].output.dense.weight)
    assert encoder.tokenizer.get_vocab() == pretrained.tokenizer.get_vocab()


def test_resuming_gives_the_losses_of_an_unbroken_run(pairs, tmp_path):
    out = tmp_path / "run"
    config = PretrainConfig(pairs=str(pairs), out=str(out), batch_size=32, micro_batch_size=16, learning_rate=3e-3,
                            max_steps=8, log_every=1, save_every=3, workers=2)
    pretrain(config)
    unbroken = losses(out)
    assert sorted(path.name for path in (out / "checkpoints").iterdir()) == ["step-00000006", "step-00000008"]
    # as if the run had died after step 6
    shutil.rmtree(out / "checkpoints" / "step-00000008")
    shutil.rmtree(out / "final")
    (out / "metrics.jsonl").write_text("")
    config.resume = True
    pretrain(config)
    resumed = losses(out)
    assert [record["step"] for record in resumed] == [7, 8]
    for before, after in zip(unbroken[6:], resumed):
        assert (after["mlm_loss"], after["match_loss"], after["lr"]) == (
            before["mlm_loss"], before["match_loss"], before["lr"])


def write_blocks(source: Path, target: Path, count: int) -> Path:
    blocks = source.read_text(encoding="utf-8").split("\n\n\n")[:count]
    target.write_text("\n\n\n".join(blocks) + "\n\n\n", encoding="utf-8")
    return target


def test_finetune_and_evaluate_beat_chance_on_kbp37(shared_data, tmp_path, capsys):
    kbp37 = shared_data / "relation_eval" / "kbp37"
    train = write_blocks(kbp37 / "train.txt", tmp_path / "train.txt", 3000)
    dev = write_blocks(kbp37 / "dev.txt", tmp_path / "dev.txt", 500)
    assert main(["finetune", "--train", str(train), "--out", str(tmp_path / "ft"), "--head", "entity-start",
                 "--learning-rate", "1e-3", "--epochs", "5", "--batch-size", "32"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"the classifier is in {tmp_path / 'ft' / 'final'}"
    relx = shared_data / "relation_eval" / "relx"
    assert main(["evaluate", "--model", str(tmp_path / "ft" / "final"), "--data", str(dev), str(relx / "RELX_en.txt"),
                 "--out", str(tmp_path / "eval")]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[:2] == ["| data | examples | macro-F1 | accuracy |", "|---|---:|---:|---:|"]
    assert table[2].startswith("| dev | 500 |") and table[3].startswith("| en | 502 |")

    gold = {example.id: example.label for example in read_relation_file(dev)}
    predicted = dict(line.split("\t") for line in (tmp_path / "eval" / "dev.pred").read_text().splitlines())
    model = score_labels(gold, predicted)
    labels = sorted({example.label for example in read_relation_file(train)})
    majority = Counter(example.label for example in read_relation_file(train)).most_common(1)[0][0]
    always_majority = score_labels(gold, {key: majority for key in gold})
    rng = random.Random(0)
    uniform = [score_labels(gold, {key: rng.choice(labels) for key in gold}).macro_f1 for _ in range(20)]
    assert model.macro_f1 > max(always_majority.macro_f1, max(uniform), 2 * sum(uniform) / len(uniform))
    assert model.accuracy > always_majority.accuracy
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert round(results[0]["macro_f1"], 6) == round(100 * model.macro_f1, 6)


def test_two_processes_with_torchrun_train_and_resume_exactly(pairs, tmp_path):
    """DDP on CPU (gloo): each process reads its own row groups; a resumed job logs the unbroken job's losses."""
    out = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "-m", "relxdata.cli", "pretrain", "--pairs", str(pairs), "--out", str(out), "--batch-size", "16",
               "--learning-rate", "3e-3", "--max-steps", "4", "--log-every", "1", "--save-every", "2",
               "--workers", "1", "--device", "cpu"]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    finished = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=600)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "8 per micro-batch x 1 x 2 processes" in finished.stdout
    unbroken = losses(out)
    assert [record["step"] for record in unbroken] == [1, 2, 3, 4]
    assert sorted(path.name for path in (out / "checkpoints" / "step-00000002").iterdir()) == [
        "model", "rng-0.pt", "rng-1.pt", "trainer.pt"]
    shutil.rmtree(out / "checkpoints" / "step-00000004")
    shutil.rmtree(out / "final")
    (out / "metrics.jsonl").write_text("")
    finished = subprocess.run(command + ["--resume"], capture_output=True, text=True, env=environment, timeout=600)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert [(r["step"], r["mlm_loss"], r["match_loss"]) for r in losses(out)] == [
        (r["step"], r["mlm_loss"], r["match_loss"]) for r in unbroken[2:]]
    assert (out / "final" / "model.safetensors").is_file()


def test_finetune_streams_a_relx_distant_corpus(tmp_path, capsys):
    corpus = tmp_path / "corpus"
    write_contract_corpus(str(corpus), 1500, seed=9, langs={"en": 1, "de": 1}, shards=3, cue_words=True)
    assert main(["finetune", "--train", str(corpus), "--out", str(tmp_path / "ft"), "--head", "entity-start",
                 "--learning-rate", "3e-3", "--epochs", "3", "--batch-size", "32", "--workers", "1"]) == 0
    run = json.loads((tmp_path / "ft" / "run.json").read_text())
    assert run["config"]["labels"] == sorted(CATEGORIES)
    assert [epoch["epoch"] for epoch in run["epochs"]] == [1, 2, 3]
    # held-out sentences of the same kind, as a KBP-37-format file labelled with their categories
    held_out = tmp_path / "held_out"
    write_contract_corpus(str(held_out), 300, seed=10, langs={"en": 1}, shards=1, cue_words=True)
    rows = pq.read_table(held_out).to_pylist()
    blocks = []
    for row in rows:
        (s1, e1), (s2, e2) = row["entity1_indices"], row["entity2_indices"]
        text = row["sentence"]
        tagged = f"{text[:s1]}<e1> {text[s1:e1]} </e1>{text[e1:s2]}<e2> {text[s2:e2]} </e2>{text[e2:]}"
        blocks.append(f'{row["id"]}\t"{tagged}"\n{row["category"]}\nComment:\n\n')
    (tmp_path / "held_out.txt").write_text("".join(blocks))
    capsys.readouterr()
    assert main(["evaluate", "--model", str(tmp_path / "ft" / "final"), "--data", str(tmp_path / "held_out.txt"),
                 "--out", str(tmp_path / "eval")]) == 0
    result, = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert result["examples"] == 300 and result["accuracy"] > 50, result  # chance: 1 in 24
