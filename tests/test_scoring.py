import json
import re
from pathlib import Path

import pytest

from relxdata.cli import main
from relxdata.errors import RelxdataError
from relxdata.scoring import Label, RelationScore, parse_label, read_labels, score_files, score_labels

# The worked example of the brief, scored with SemEval's negative label.
GOLD = {"a": "A(e1,e2)", "b": "A(e1,e2)", "c": "B(e1,e2)", "d": "Other"}
PREDICTED = {"a": "A(e1,e2)", "b": "A(e2,e1)", "c": "Other", "d": "B(e1,e2)"}


def write_labels(path: Path, labels: dict[str, str]) -> str:
    path.write_text("".join(f"{example_id}\t{label}\n" for example_id, label in labels.items()), encoding="utf-8")
    return str(path)


def read_block_file_labels(path: Path) -> dict[str, str]:
    """id -> label of a KBP-37 / RELX file: `id<TAB>"sentence"`, then the label on the next line."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return {match[1]: lines[number + 1] for number, line in enumerate(lines)
            if (match := re.match(r'(\d+)\t"', line))}


@pytest.mark.parametrize("text, expected", [
    ("per:employee_of(e1,e2)", Label("per:employee_of", "e1,e2")),
    ("org:members(e2,e1)", Label("org:members", "e2,e1")),
    ("Cause-Effect(e2,e1)", Label("Cause-Effect", "e2,e1")),
    ("org:top_members/employees(e1,e2)", Label("org:top_members/employees", "e1,e2")),
    ("org:alternate_names(e2,e1) ", Label("org:alternate_names", "e2,e1")),  # as in KBP-37's train.txt
    ("no_relation", Label("no_relation", None)),
    (" Other\n", Label("Other", None)),
])
def test_parse_label(text, expected):
    assert parse_label(text) == expected


@pytest.mark.parametrize("text, message", [
    ("A(e1, e2)", "label 'A(e1, e2)': the direction must be (e1,e2) or (e2,e1)"),
    ("A(e3,e1)", "the direction must be (e1,e2) or (e2,e1)"),
    ("(e1,e2)", "label '(e1,e2)' has no relation"),
    ("  ", "has no relation"),
])
def test_parse_label_refuses_what_is_no_label(text, message):
    with pytest.raises(RelxdataError, match=re.escape(message)):
        parse_label(text)


def test_the_worked_example():
    score = score_labels(GOLD, PREDICTED, negative_label="Other")
    assert score.relations == (RelationScore("A", true_positives=1, predicted=2, gold=2, precision=0.5, recall=0.5,
                                             f1=0.5),
                               RelationScore("B", true_positives=0, predicted=1, gold=1, precision=0.0, recall=0.0,
                                             f1=0.0))
    assert score.macro_f1 == 0.25
    assert (score.correct, score.examples, score.accuracy) == (1, 4, 0.25)
    assert (score.negative_label, score.negative_gold, score.negative_predicted) == ("Other", 1, 1)
    assert score.predicted_only == ()


def test_a_relation_predicted_but_absent_from_the_gold_is_not_averaged():
    gold = {"a": "A(e1,e2)", "b": "A(e1,e2)", "c": "B(e2,e1)", "d": "no_relation"}
    predicted = {"a": "A(e1,e2)", "b": "Z(e1,e2)", "c": "B(e2,e1)", "d": "Z(e2,e1)"}
    score = score_labels(gold, predicted)
    # Z's wrong predictions cost A its recall (b) and nobody else's precision.
    assert [(row.relation, row.precision, row.recall, row.f1) for row in score.relations] == [
        ("A", 1.0, 0.5, pytest.approx(2 / 3)), ("B", 1.0, 1.0, 1.0)]
    assert score.macro_f1 == pytest.approx(5 / 6)
    assert score.predicted_only == (RelationScore("Z", 0, 2, 0, 0.0, 0.0, 0.0),)
    assert score.accuracy == 0.5


def test_perfect_predictions_score_100():
    score = score_labels(GOLD, GOLD, negative_label="Other")
    assert (score.macro_f1, score.accuracy) == (1.0, 1.0)


def test_the_right_relation_in_the_wrong_direction_scores_nothing():
    gold = {"a": "A(e1,e2)", "b": "A(e2,e1)", "c": "B(e1,e2)"}
    predicted = {"a": "A(e2,e1)", "b": "A(e1,e2)", "c": "B(e2,e1)"}
    score = score_labels(gold, predicted)
    assert [(row.relation, row.predicted, row.gold, row.f1) for row in score.relations] == [("A", 2, 2, 0.0),
                                                                                          ("B", 1, 1, 0.0)]
    assert (score.macro_f1, score.accuracy) == (0.0, 0.0)


def test_the_negative_label_is_never_averaged_but_its_mistakes_count():
    gold = {"a": "A(e1,e2)", "b": "A(e1,e2)", "c": "no_relation", "d": "no_relation"}
    predicted = {"a": "A(e1,e2)", "b": "no_relation", "c": "A(e1,e2)", "d": "no_relation"}
    score = score_labels(gold, predicted)
    # Predicting no_relation for b costs A recall; predicting A for c costs A precision.
    assert score.relations == (RelationScore("A", 1, 2, 2, 0.5, 0.5, 0.5),)
    assert score.macro_f1 == 0.5
    assert (score.accuracy, score.negative_gold, score.negative_predicted) == (0.5, 2, 2)


def test_a_negative_label_the_gold_does_not_use_is_a_relation_like_any_other():
    score = score_labels(GOLD, PREDICTED)  # SemEval's Other, scored with the default no_relation
    assert [row.relation for row in score.relations] == ["A", "B", "Other"]
    assert score.macro_f1 == pytest.approx(0.5 / 3)
    assert (score.negative_label, score.negative_gold, score.negative_predicted) == ("no_relation", 0, 0)


def test_undirected_relations():
    gold = {"x": "sibling", "y": "sibling", "z": "A(e1,e2)", "w": "no_relation"}
    predicted = {"x": "sibling", "y": "no_relation", "z": "A", "w": "no_relation"}
    score = score_labels(gold, predicted)
    # An undirected A is not A(e1,e2), but it is a prediction of A.
    assert [(row.relation, row.true_positives, row.predicted, row.gold) for row in score.relations] == [
        ("A", 0, 1, 1), ("sibling", 1, 1, 2)]
    assert score.macro_f1 == pytest.approx((0 + 2 / 3) / 2)


def test_labels_are_compared_without_surrounding_whitespace():
    assert score_labels({"a": "A(e2,e1) ", "b": "no_relation"}, {"a": "A(e2,e1)", "b": " no_relation"}).accuracy == 1.0


def test_a_gold_of_only_negatives_has_no_score():
    with pytest.raises(RelxdataError, match="the gold has no relation other than the negative label 'no_relation'"):
        score_labels({"a": "no_relation"}, {"a": "A(e1,e2)"})


def test_the_ids_must_be_the_same():
    gold = {str(number): "A(e1,e2)" for number in range(10)}
    predicted = {**{str(number): "A(e1,e2)" for number in range(3, 10)}, "x": "A(e1,e2)"}
    with pytest.raises(RelxdataError) as error:
        score_labels(gold, predicted)
    assert str(error.value) == "predictions: 3 ids of gold missing ('0', '1', '2'); 1 ids not in gold ('x')"
    with pytest.raises(RelxdataError, match=re.escape("7 ids of gold missing ('3', '4', '5', '6', '7', …)")):
        score_labels(gold, {"0": "A(e1,e2)", "1": "A(e1,e2)", "2": "A(e1,e2)"})


def test_a_bad_label_in_a_mapping_names_its_id():
    with pytest.raises(RelxdataError, match=re.escape("predictions, id 'a': label 'A(e1 e2)': the direction")):
        score_labels({"a": "A(e1,e2)"}, {"a": "A(e1 e2)"})


def test_read_labels_skips_blank_lines(tmp_path):
    path = tmp_path / "gold.txt"
    path.write_text("\ufeff1\tA(e1,e2)\n\n  \n2\tno_relation\r\n3\tB(e2,e1) \n", encoding="utf-8")
    assert read_labels(str(path)) == {"1": "A(e1,e2)", "2": "no_relation", "3": "B(e2,e1) "}


@pytest.mark.parametrize("text, message", [
    ("1\tA(e1,e2)\n2 A(e1,e2)\n", "gold.txt:2: expected `id<TAB>label`, got '2 A(e1,e2)'"),
    ("1\tA(e1,e2)\textra\n", "gold.txt:1: expected `id<TAB>label`"),
    ("\tA(e1,e2)\n", "gold.txt:1: expected `id<TAB>label`"),
    ("1\t \n", "gold.txt:1: expected `id<TAB>label`"),
    ("1\tA(e1,e2)\n\n1\tB(e1,e2)\n", "gold.txt:3: duplicate id '1' (first on line 1)"),
    ("1\tA(e1,e2)\n2\tA(e2, e1)\n", "gold.txt:2: label 'A(e2, e1)': the direction must be (e1,e2) or (e2,e1)"),
])
def test_read_labels_errors_name_the_file_and_line(tmp_path, text, message):
    path = tmp_path / "gold.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RelxdataError) as error:
        read_labels(str(path))
    assert message in str(error.value)


def test_file_errors(tmp_path):
    gold = write_labels(tmp_path / "gold.txt", GOLD)
    with pytest.raises(RelxdataError, match="no such file: .*nope.txt"):
        score_files(gold, str(tmp_path / "nope.txt"))
    (tmp_path / "empty.txt").write_text("\n\n", encoding="utf-8")
    with pytest.raises(RelxdataError, match="empty.txt has no labels"):
        score_files(str(tmp_path / "empty.txt"), gold)
    short = write_labels(tmp_path / "pred.txt", {"a": "Other"})
    with pytest.raises(RelxdataError, match=re.escape(f"{short}: 3 ids of {gold} missing ('b', 'c', 'd')")):
        score_files(gold, short)
    (tmp_path / "latin1.txt").write_bytes("a\tCafé\n".encode("latin-1"))
    with pytest.raises(RelxdataError, match="latin1.txt is not UTF-8 text"):
        score_files(gold, str(tmp_path / "latin1.txt"))


def test_cli_prints_the_table_and_the_macro_f1_last(tmp_path, capsys):
    gold = write_labels(tmp_path / "gold.txt", GOLD)
    predicted = write_labels(tmp_path / "pred.txt", PREDICTED)
    assert main(["score", gold, predicted, "--negative-label", "Other"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        "relation     tp   pred   gold       P       R      F1",
        "A             1      2      2   50.00   50.00   50.00",
        "B             0      1      1    0.00    0.00    0.00",
        "accuracy 25.00 (1/4 labels exact)",
        "negative label 'Other' (1 gold, 1 predicted) excluded; macro average over 2 relations",
        "MACRO-F1 25.00",
    ]
    assert captured.err == ""


def test_cli_marks_relations_not_in_the_gold_and_warns_of_an_unused_negative_label(tmp_path, capsys):
    gold = write_labels(tmp_path / "gold.txt", {"a": "A(e1,e2)", "b": "A(e1,e2)"})
    predicted = write_labels(tmp_path / "pred.txt", {"a": "A(e1,e2)", "b": "Z(e1,e2)"})
    assert main(["score", gold, predicted]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[2] == "Z             0      1      0    0.00    0.00    0.00  (not in the gold: not averaged)"
    assert lines[-1] == "MACRO-F1 66.67"
    assert "warning: the negative label 'no_relation' occurs in neither file" in captured.err


def test_cli_json(tmp_path, capsys):
    gold = write_labels(tmp_path / "gold.txt", GOLD)
    predicted = write_labels(tmp_path / "pred.txt", PREDICTED)
    assert main(["score", gold, predicted, "--negative-label", "Other", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["macro_f1"], result["accuracy"], result["negative_label"]) == (0.25, 0.25, "Other")
    assert result["relations"][0] == {"relation": "A", "true_positives": 1, "predicted": 2, "gold": 2,
                                      "precision": 0.5, "recall": 0.5, "f1": 0.5}
    assert result["predicted_only"] == []


def test_cli_errors_are_one_line(tmp_path, capsys):
    gold = write_labels(tmp_path / "gold.txt", GOLD)
    duplicated = tmp_path / "pred.txt"
    duplicated.write_text("a\tOther\na\tOther\n", encoding="utf-8")
    assert main(["score", gold, str(duplicated)]) == 2
    assert capsys.readouterr().err == f"relxdata: error: {duplicated}:2: duplicate id 'a' (first on line 1)\n"
    assert main(["score", gold, str(tmp_path / "nope.txt")]) == 2
    assert capsys.readouterr().err == f"relxdata: error: no such file: {tmp_path / 'nope.txt'}\n"


@pytest.fixture(scope="module")
def kbp37_test(shared_data) -> dict[str, str]:
    return read_block_file_labels(shared_data / "relation_eval" / "kbp37" / "test.txt")


def test_kbp37_test_predicted_as_its_most_frequent_labels(kbp37_test, tmp_path, capsys):
    # Counted with `sed -n '2~4p' test.txt | sort | uniq -c`: 3,405 examples, 419 no_relation, 18 relations in
    # both directions; per:employee_of 338 (e1,e2) + 230 (e2,e1).
    assert len(kbp37_test) == 3405
    assert len({parse_label(label).relation for label in kbp37_test.values()} - {"no_relation"}) == 18

    majority = score_labels(kbp37_test, dict.fromkeys(kbp37_test, "no_relation"))
    assert (majority.macro_f1, majority.correct) == (0.0, 419)

    # All predictions are employee_of: P = 338/3405, R = 338/568, F1 = 2*338/(3405+568); the other 17 score 0.
    gold = write_labels(tmp_path / "gold.txt", kbp37_test)
    predicted = write_labels(tmp_path / "pred.txt", dict.fromkeys(kbp37_test, "per:employee_of(e1,e2)"))
    employee_of = score_files(gold, predicted)
    assert employee_of.macro_f1 == pytest.approx(2 * 338 / (3405 + 568) / 18)
    assert main(["score", gold, predicted]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "MACRO-F1 0.95"


def test_kbp37_test_against_itself_scores_100(kbp37_test, tmp_path, capsys):
    gold = write_labels(tmp_path / "gold.txt", kbp37_test)
    assert main(["score", gold, gold]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "MACRO-F1 100.00"


def test_kbp37_train_label_with_a_trailing_space_matches_its_stripped_form(shared_data):
    gold = read_block_file_labels(shared_data / "relation_eval" / "kbp37" / "train.txt")
    assert "org:alternate_names(e2,e1) " in gold.values()
    score = score_labels(gold, {example_id: label.strip() for example_id, label in gold.items()})
    assert (score.macro_f1, score.accuracy) == (1.0, 1.0)
