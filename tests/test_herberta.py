"""HERBERTa: SMiLER data for the models, both models learning a learnable signal, and the chain classifier -> tagger."""

import json
import random
from collections import Counter

import pytest

from model.encoder import load_encoder
from model.smiler_data import languages, read_many, token_span, tokenize
from relxdata.cli import main
from relxdata.errors import RelxdataError
from relxdata.smiler_tsv import HEADER, read_tsv, tag

PEOPLE = ["Anna Berg", "Bruno Costa", "Carla Diaz", "Dario Ek", "Elena Fox", "Felix Gray", "Greta Holm", "Hugo Ito",
          "Irma Jones", "Jonas Kim", "Karin Lund", "Lars Moe", "Mira Nagy", "Nils Ortiz", "Olga Park", "Pavel Quinn"]
PLACES = ["Oslo", "Lisbon", "Quito", "Lyon", "Porto", "Tartu", "Bergen", "Graz", "Split", "Turku"]
BOOKS = ["The Long Road", "Winter Light", "Blue Harbour", "Silent Stones", "The Glass Year"]
# template ({1} is entity 1, {2} entity 2), label, where each entity is drawn from
TEMPLATES = [
    ("{1} was born in {2} .", "birth-place", PEOPLE, PLACES),
    ("{1} married {2} in a small ceremony .", "has-spouse", PEOPLE, PEOPLE),
    ("{2} wrote the novel {1} .", "has-author", BOOKS, PEOPLE),
    ("In {2} , {1} met old friends .", "no_relation", PEOPLE, PLACES),
]


def contract_rows(count: int, seed: int, lang: str = "en"):
    """SMiLER rows whose label follows from the sentence's wording and whose entities fill its slots."""
    rng = random.Random(seed)
    rows = []
    for number in range(count):
        template, label, first, second = TEMPLATES[number % len(TEMPLATES)]
        e1, e2 = rng.choice(first), rng.choice([name for name in second if name not in first] or second)
        while e2 == e1:
            e2 = rng.choice(second)
        text = template.replace("{1}", e1).replace("{2}", e2)
        s1, s2 = text.index(e1), text.index(e2)
        rows.append((f"{lang}{seed}-{number}", label, (s1, s1 + len(e1)), (s2, s2 + len(e2)), text, lang))
    return rows


def write_tsv(path, rows, extra_lines=()):
    lines = [f"{key}\t{text[slice(*e1)]}\t{text[slice(*e2)]}\t{label}\t{tag(text, e1, e2)}\t{lang}\n"
             for key, label, e1, e2, text, lang in rows]
    path.write_text("\t".join(HEADER) + "\n" + "".join(lines) + "".join(extra_lines), encoding="utf-8")
    return str(path)


def test_reader_skips_broken_rows_with_file_and_line(tmp_path):
    path = write_tsv(tmp_path / "de_corpora_train.tsv", contract_rows(3, seed=1, lang="de"),
                     ["x1\ta\tb\thas-child\t\tde\n", "x2\ta\tb\thas-child\t<e1>a</e1> and <e2>b\tde\n"])
    skipped = []
    examples = read_many([path], "train", None, skipped)
    assert len(examples) == 3
    assert skipped == [f"{path}:5: empty text", f"{path}:6: <e2> is never closed"]
    assert read_many([path], "train", languages("en,de"), []) == examples
    with pytest.raises(RelxdataError, match="no examples in the languages"):
        read_many([path], "train", languages("EURO") - {"de"}, [])


def test_language_mixtures():
    assert languages("de+en") == {"de", "en"}
    assert languages("SVO") >= {"en", "es", "fr"} and "de" not in languages("SVO")
    assert len(languages("ALL")) == 14 and languages(None) is None


def test_word_pieces_never_lose_an_entity():
    loaded = load_encoder("tiny-random", lambda: ["Brazilian teams play in Rio de Janeiro ."] * 50)
    text = "Brazilian teams play in Rio de Janeiro ."
    counts = Counter()
    [item] = tokenize(loaded.tokenizer, [text], [((0, 6), (24, 38))], budget=40, counts=counts)
    e1 = item.offsets[item.e1[0]][0], item.offsets[item.e1[1]][1]
    e2 = item.offsets[item.e2[0]][0], item.offsets[item.e2[1]][1]
    assert e1[0] == 0 and e1[1] >= 6  # "Brazil" inside "Brazilian": the tokens that cover it
    assert text[slice(*e2)] == "Rio de Janeiro"
    assert token_span(item.offsets, (100, 101)) is None
    # A long sentence keeps a window around both entities.
    long_text = "word " * 60 + "Rio de Janeiro is far from Lisbon ." + " more" * 60
    start = long_text.index("Rio")
    [cut] = tokenize(loaded.tokenizer, [long_text], [((start, start + 14), (long_text.index("Lisbon"),
                                                                            long_text.index("Lisbon") + 6))],
                     budget=20, counts=counts)
    assert len(cut.ids) == 20 and long_text[cut.offsets[cut.e2[0]][0]:cut.offsets[cut.e2[1]][1]] == "Lisbon"
    assert counts["examples.cut_to_max_length"] == 1


@pytest.mark.slow
def test_both_models_learn_and_chain_on_a_contract_corpus(tmp_path, capsys):
    train = write_tsv(tmp_path / "en_corpora_train.tsv", contract_rows(480, seed=1))
    dev = write_tsv(tmp_path / "en_corpora_dev.tsv", contract_rows(60, seed=2))
    test = write_tsv(tmp_path / "en_corpora_test.tsv", contract_rows(80, seed=3))
    out = tmp_path / "herberta"
    assert main(["finetune", "--task", "smiler", "--train", train, "--dev", dev, "--model", "tiny-random",
                 "--out", str(out), "--epochs", "12", "--batch-size", "16", "--learning-rate", "2e-3",
                 "--weight-decay", "0", "--device", "cpu", "--max-length", "32"]) == 0
    run = json.loads((out / "run.json").read_text())
    assert (out / "classifier" / "herberta.json").exists() and (out / "tagger" / "herberta.json").exists()
    assert run["classifier"][-1]["loss"] < run["classifier"][0]["loss"]
    assert run["tagger"][-1]["loss"] < run["tagger"][0]["loss"]
    capsys.readouterr()
    assert main(["evaluate", "--task", "smiler", "--model", str(out), "--data", test, "--out", str(tmp_path / "eval"),
                 "--device", "cpu", "--max-length", "32", "--n-best", "3"]) == 0
    printed = capsys.readouterr().out
    combined = float(printed.strip().splitlines()[-2].split()[-1])  # the line before the closing ```
    # Chance: a random one of 4 labels and random spans among ~10 tokens each: well under 5.
    assert combined > 60, printed
    predictions = tmp_path / "eval" / "en_corpora_test.pred.tsv"
    assert main(["score", "--task", "smiler", test, str(predictions)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == f"COMBINED-MICRO-F1 {combined:.2f}"
    # The n best pairs: best first, the first being the prediction.
    predicted = {row.id: row for row in read_tsv(str(predictions))}
    for line in (tmp_path / "eval" / "en_corpora_test.nbest.jsonl").read_text().splitlines():
        record = json.loads(line)
        scores = [pair["score"] for pair in record["pairs"]]
        assert 1 <= len(scores) <= 3 and scores == sorted(scores, reverse=True)
        row = predicted[record["id"]]
        assert (tuple(record["pairs"][0]["entity_1"]), tuple(record["pairs"][0]["entity_2"])) == (
            row.entity_1_span, row.entity_2_span)


def test_released_files_without_dev_hold_out_a_share(tmp_path):
    train = write_tsv(tmp_path / "en_corpora_train.tsv", contract_rows(200, seed=1))
    out = tmp_path / "held"
    assert main(["finetune", "--task", "smiler", "--train", train, "--dev-share", "0.1", "--out", str(out),
                 "--epochs", "1", "--device", "cpu", "--max-length", "32"]) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["train_examples"] + run["dev_examples"] == 200 and 5 < run["dev_examples"] < 40
    assert "dev" in run["classifier"][0]
