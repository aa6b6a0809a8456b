"""SMiLER's metrics (HERBERTa, Seganti et al. 2021), as DESIGN.md defines them.

Gold and predictions are rows in the released layout (`relxdata.smiler_tsv`), matched by id; spans
are code points of the untagged text. Let `pred` be the rows predicted with a label other than the
negative label and `gold` the rows whose gold label is not it. Each micro-F1 is
2·TP / (|pred| + |gold|):

- relation: rows of `pred` whose label equals the gold label;
- entity pair: rows of `pred` whose gold label is not negative and whose two spans equal the gold ones;
- combined: rows of `pred` with the gold label and both gold spans;
- entity 1 and entity 2 alone: as the entity pair, with one span.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from relxdata.relations import NO_RELATION
from relxdata.scoring import check_same_ids
from relxdata.smiler_tsv import TaggedRow, read_tsv

MEASURES = ("relation", "entity_pair", "combined", "entity_1", "entity_2")


@dataclass(frozen=True)
class MicroF1:
    true_positives: int
    predicted: int
    gold: int

    @property
    def f1(self) -> float:
        """As a percentage."""
        total = self.predicted + self.gold
        return 100 * 2 * self.true_positives / total if total else 0.0


@dataclass(frozen=True)
class SmilerScore:
    rows: int
    relation: MicroF1
    entity_pair: MicroF1
    combined: MicroF1
    entity_1: MicroF1
    entity_2: MicroF1

    def f1s(self) -> dict[str, float]:
        return {measure: round(getattr(self, measure).f1, 2) for measure in MEASURES}


@dataclass(frozen=True)
class SmilerReport:
    overall: SmilerScore
    by_language: dict[str, SmilerScore]
    by_label: dict[str, SmilerScore]
    negative_label: str


def score_rows(gold: list[TaggedRow], predicted: Mapping[str, TaggedRow],
               negative_label: str = NO_RELATION) -> SmilerScore:
    """The five micro-F1s of `predicted` (by id) against the `gold` rows."""
    counts = {measure: 0 for measure in MEASURES}
    predicted_positive = gold_positive = 0
    for row in gold:
        guess = predicted[row.id]
        gold_positive += row.label != negative_label
        if guess.label == negative_label:
            continue
        predicted_positive += 1
        same_1, same_2 = guess.entity_1_span == row.entity_1_span, guess.entity_2_span == row.entity_2_span
        same_label = guess.label == row.label
        if row.label != negative_label:
            counts["relation"] += same_label
            counts["entity_pair"] += same_1 and same_2
            counts["combined"] += same_label and same_1 and same_2
            counts["entity_1"] += same_1
            counts["entity_2"] += same_2
    return SmilerScore(len(gold), **{measure: MicroF1(count, predicted_positive, gold_positive)
                                     for measure, count in counts.items()})


def score(gold: list[TaggedRow], predicted: Mapping[str, TaggedRow], negative_label: str = NO_RELATION, *,
          gold_name: str = "GOLD", predicted_name: str = "PRED") -> SmilerReport:
    """Overall, per language and per gold label (a label's rows are those it is the gold or predicted label of)."""
    check_same_ids({row.id: row for row in gold}, predicted, gold_name, predicted_name)
    languages = sorted({row.lang for row in gold})
    labels = sorted({row.label for row in gold} | {row.label for row in predicted.values()} - {negative_label})
    return SmilerReport(
        overall=score_rows(gold, predicted, negative_label),
        by_language={lang: score_rows([row for row in gold if row.lang == lang], predicted, negative_label)
                     for lang in languages},
        by_label={label: _label_score(gold, predicted, label, negative_label) for label in labels
                  if label != negative_label},
        negative_label=negative_label)


def _label_score(gold: list[TaggedRow], predicted: Mapping[str, TaggedRow], label: str,
                 negative_label: str) -> SmilerScore:
    """One label as a binary task: the label, or anything else as the negative."""
    def binary(row: TaggedRow) -> TaggedRow:
        return row if row.label == label else _relabelled(row, negative_label)
    rows = [row for row in gold if row.label == label or predicted[row.id].label == label]
    return score_rows([binary(row) for row in rows], {row.id: binary(predicted[row.id]) for row in rows},
                      negative_label)


def _relabelled(row: TaggedRow, label: str) -> TaggedRow:
    return TaggedRow(row.id, row.entity_1, row.entity_2, label, row.text, row.lang, row.entity_1_span,
                     row.entity_2_span)


def score_files(gold_path: str, predicted_path: str, negative_label: str = NO_RELATION) -> SmilerReport:
    gold = list(read_tsv(gold_path))
    predicted = {row.id: row for row in read_tsv(predicted_path)}
    return score(gold, predicted, negative_label, gold_name=gold_path, predicted_name=predicted_path)


def report_lines(report: SmilerReport) -> list[str]:
    """Tables per language and per label; the last line is always `COMBINED-MICRO-F1 <percentage>`."""
    header = f"{'':<24} {'rows':>7} {'relation':>9} {'pair':>7} {'combined':>9} {'e1':>7} {'e2':>7}"

    def line(name: str, result: SmilerScore) -> str:
        f1 = result.f1s()
        return (f"{name:<24} {result.rows:>7} {f1['relation']:>9.2f} {f1['entity_pair']:>7.2f} "
                f"{f1['combined']:>9.2f} {f1['entity_1']:>7.2f} {f1['entity_2']:>7.2f}")
    lines = ["by language", header, *(line(lang, result) for lang, result in report.by_language.items()),
             "", "by label", header, *(line(label, result) for label, result in report.by_label.items()),
             "", header, line("all", report.overall),
             f"micro-F1 in %, {report.negative_label!r} ignored: "
             f"{report.overall.combined.predicted} rows predicted and {report.overall.combined.gold} gold rows "
             "with another label",
             f"RELATION-MICRO-F1 {report.overall.relation.f1:.2f}",
             f"ENTITY-PAIR-MICRO-F1 {report.overall.entity_pair.f1:.2f}",
             f"COMBINED-MICRO-F1 {report.overall.combined.f1:.2f}"]
    return lines


def report_json(report: SmilerReport) -> str:
    def scored(result: SmilerScore) -> dict:
        return {**asdict(result), "f1": result.f1s()}
    return json.dumps({"overall": scored(report.overall),
                       "by_language": {lang: scored(result) for lang, result in report.by_language.items()},
                       "by_label": {label: scored(result) for label, result in report.by_label.items()},
                       "negative_label": report.negative_label}, indent=2, ensure_ascii=False)
