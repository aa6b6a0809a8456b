"""SMiLER's metrics on hand-made cases of known scores, through `relxdata score --task smiler`."""

import json

import pytest

from relxdata.cli import main
from relxdata.smiler_tsv import TagError, read_tsv, tag, untag

HEADER = "id\tentity_1\tentity_2\tlabel\ttext\tlang\n"
TEXT = "Marie married Pierre in Paris."  # Marie [0, 5), Pierre [14, 20), Paris [24, 29)
MARIE, PIERRE, PARIS = (0, 5), (14, 20), (24, 29)


def tsv(path, rows):
    lines = [f"{key}\t{TEXT[slice(*e1)]}\t{TEXT[slice(*e2)]}\t{label}\t{tag(TEXT, e1, e2)}\t{lang}\n"
             for key, label, e1, e2, lang in rows]
    path.write_text(HEADER + "".join(lines), encoding="utf-8")
    return str(path)


GOLD = [("1", "has-spouse", MARIE, PIERRE, "en"), ("2", "birth-place", PIERRE, PARIS, "en"),
        ("3", "no_relation", MARIE, PARIS, "en"), ("4", "has-spouse", PIERRE, MARIE, "en"),
        ("5", "has-spouse", MARIE, PIERRE, "de")]
PRED = [("1", "has-spouse", MARIE, PIERRE, "en"),      # right label, right spans: every measure
        ("2", "has-child", PIERRE, PARIS, "en"),       # wrong label, right spans: entity pair only
        ("3", "has-type", MARIE, PARIS, "en"),         # a relation where the gold has none: predicted, no TP
        ("4", "has-spouse", PIERRE, PARIS, "en"),      # right label, one wrong span: relation and entity 1
        ("5", "no_relation", MARIE, PIERRE, "de")]     # nothing predicted: a gold row missed


@pytest.fixture
def files(tmp_path):
    return tsv(tmp_path / "en_corpora_test.tsv", GOLD), tsv(tmp_path / "pred.tsv", PRED)


def test_known_scores(files, capsys):
    assert main(["score", "--task", "smiler", *files]) == 0
    lines = capsys.readouterr().out.splitlines()
    # 4 rows predicted (1-4), 4 gold rows (1, 2, 4, 5) with a label other than no_relation.
    assert lines[-3:] == ["RELATION-MICRO-F1 50.00", "ENTITY-PAIR-MICRO-F1 50.00", "COMBINED-MICRO-F1 25.00"]
    assert main(["score", "--task", "smiler", "--json", *files]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["overall"]["f1"] == {"relation": 50.0, "entity_pair": 50.0, "combined": 25.0, "entity_1": 75.0,
                                       "entity_2": 50.0}
    assert report["by_language"]["de"]["f1"]["combined"] == 0.0
    assert report["by_language"]["en"]["f1"]["relation"] == 57.14  # 2·2 / (4 + 3)
    assert report["by_label"]["has-spouse"]["f1"]["combined"] == 40.0  # 2·1 / (2 predicted + 3 gold)
    assert set(report["by_label"]) == {"birth-place", "has-child", "has-spouse", "has-type"}


def test_no_relation_is_ignored_on_both_sides(tmp_path, capsys):
    gold = tsv(tmp_path / "gold.tsv", GOLD[:3])
    pred = tsv(tmp_path / "pred.tsv", [GOLD[0], GOLD[1], ("3", "no_relation", MARIE, PIERRE, "en")])
    assert main(["score", "--task", "smiler", gold, pred]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "COMBINED-MICRO-F1 100.00"  # row 3's spans do not count


def test_ids_must_match_and_tags_must_close(tmp_path, files, capsys):
    gold, _ = files
    short = tsv(tmp_path / "short.tsv", PRED[:4])
    assert main(["score", "--task", "smiler", gold, short]) == 2
    assert "1 ids of" in capsys.readouterr().err
    broken = tmp_path / "broken.tsv"
    broken.write_text(HEADER + "1\tMarie\tPierre\thas-spouse\t<e1>Marie married <e2>Pierre</e2>\ten\n")
    assert main(["score", "--task", "smiler", gold, str(broken)]) == 2
    assert capsys.readouterr().err.strip() == f"relxdata: error: {broken}:2: <e1> is never closed"


@pytest.mark.parametrize("tagged, expected", [
    ("<e1>Brazil</e1>ian <e2>team</e2>", ("Brazilian team", (0, 6), (10, 14))),
    ("<e2>Paris</e2> and <e1>Marie</e1>", ("Paris and Marie", (10, 15), (0, 5))),
    ("x<e1>a</e1><e2>b</e2>y", ("xaby", (1, 2), (2, 3))),
])
def test_tags_may_split_words_and_come_in_either_order(tagged, expected):
    assert untag(tagged) == expected
    text, e1, e2 = expected
    assert tag(text, e1, e2) == tagged


@pytest.mark.parametrize("tagged, problem", [
    ("<e1>a</e1> b", "lacks <e2>"), ("<e1>a <e2>b</e1></e2>", "spans overlap"),
    ("<e1>a</e1> b</e2>", "closes a tag that is not open"),
    ("<e1>a</e1><e1>b</e1><e2>c</e2>", "opens twice")])
def test_broken_tags(tagged, problem):
    with pytest.raises(TagError, match=problem):
        untag(tagged)


def test_the_header_must_be_the_released_one(tmp_path):
    path = tmp_path / "x.tsv"
    path.write_text("id\ttext\n")
    with pytest.raises(TagError, match="the header is not"):
        list(read_tsv(str(path)))
