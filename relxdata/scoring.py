"""The official relation-extraction score: SemEval-2010 Task 8's macro-F1, as KBP-37 and RELX report it.

"(K+1)-way evaluation with directionality taken into account": labels are relations with a direction,
`per:employee_of(e1,e2)`, plus an undirected negative label (`no_relation`, SemEval's `Other`). Per relation,
direction removed, a true positive is an exact match of relation and direction; precision divides by every
prediction of the relation in either direction, recall by every gold example of it in either direction, so a
wrong direction costs both. The score is the mean of the per-relation F1 over the relations in the gold, the
negative label excluded.

Gold and predictions are files of `id<TAB>label` lines, or mappings id -> label.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from relxdata.errors import RelxdataError
from relxdata.relations import NO_RELATION

DIRECTIONS = ("e1,e2", "e2,e1")
# A parenthesised suffix is meant as a direction; one that is not a valid direction is a typo, not a relation.
_PARENTHESISED_SUFFIX = re.compile(r"(?P<relation>.*?)\s*\((?P<direction>[^()]*)\)")
_EXAMPLE_IDS_SHOWN = 5


@dataclass(frozen=True, slots=True)
class Label:
    relation: str
    direction: str | None  # one of DIRECTIONS, None for an undirected label


@dataclass(frozen=True, slots=True)
class RelationScore:
    relation: str
    true_positives: int
    predicted: int  # predictions of the relation in either direction
    gold: int  # gold examples of the relation in either direction
    precision: float
    recall: float
    f1: float


@dataclass(frozen=True)
class Score:
    """Scores are fractions in [0, 1]; the report prints them as percentages."""

    macro_f1: float
    accuracy: float  # exact labels, direction and negative label included
    correct: int
    examples: int
    negative_label: str
    negative_gold: int
    negative_predicted: int
    relations: tuple[RelationScore, ...]  # the relations in the gold, the ones averaged
    predicted_only: tuple[RelationScore, ...]  # relations predicted but absent from the gold: not averaged


def parse_label(text: str) -> Label:
    """`per:employee_of(e1,e2)` -> (per:employee_of, e1,e2); `no_relation` -> (no_relation, None)."""
    label = text.strip()
    suffixed = _PARENTHESISED_SUFFIX.fullmatch(label)
    if suffixed is None:
        relation, direction = label, None
    else:
        relation, direction = suffixed["relation"], suffixed["direction"]
        if direction not in DIRECTIONS:
            raise RelxdataError(f"label {text!r}: the direction must be (e1,e2) or (e2,e1)")
    if not relation:
        raise RelxdataError(f"label {text!r} has no relation")
    return Label(relation, direction)


def score_labels(gold: Mapping[str, str], predicted: Mapping[str, str], negative_label: str = NO_RELATION, *,
                 gold_name: str = "gold", predicted_name: str = "predictions") -> Score:
    """Score predictions against the gold, both id -> label over the same ids."""
    if not gold:
        raise RelxdataError(f"{gold_name} has no labels")
    check_same_ids(gold, predicted, gold_name, predicted_name)
    pairs = [(_parse_for(example_id, gold[example_id], gold_name),
              _parse_for(example_id, predicted[example_id], predicted_name)) for example_id in gold]
    return _score_pairs(pairs, parse_label(negative_label).relation)


def read_labels(path: str) -> dict[str, str]:
    """The id -> label mapping of an `id<TAB>label` file; blank lines are skipped."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            # Not splitlines(): it also splits at \x1c, \u2028 and the like, which would shift the line numbers.
            lines = f.read().split("\n")
    except FileNotFoundError:
        raise RelxdataError(f"no such file: {path}") from None
    except OSError as exc:
        raise RelxdataError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise RelxdataError(f"{path} is not UTF-8 text") from None
    labels: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 2 or not fields[0].strip() or not fields[1].strip():
            raise RelxdataError(f"{path}:{number}: expected `id<TAB>label`, got {_shorten(line)!r}")
        example_id, label = fields[0].strip(), fields[1]
        if example_id in first_line:
            raise RelxdataError(f"{path}:{number}: duplicate id {example_id!r} "
                                f"(first on line {first_line[example_id]})")
        try:
            parse_label(label)
        except RelxdataError as exc:
            raise RelxdataError(f"{path}:{number}: {exc}") from None
        labels[example_id] = label
        first_line[example_id] = number
    return labels


def score_files(gold_path: str, predicted_path: str, negative_label: str = NO_RELATION) -> Score:
    return score_labels(read_labels(gold_path), read_labels(predicted_path), negative_label,
                        gold_name=gold_path, predicted_name=predicted_path)


def report_lines(score: Score) -> list[str]:
    """A per-relation table; the last line is always `MACRO-F1 <percentage with two decimals>`."""
    rows = [*score.relations, *score.predicted_only]
    width = max([len("relation"), *(len(row.relation) for row in rows)])
    lines = [f"{'relation':<{width}} {'tp':>6} {'pred':>6} {'gold':>6} {'P':>7} {'R':>7} {'F1':>7}"]
    for row in rows:
        line = (f"{row.relation:<{width}} {row.true_positives:>6} {row.predicted:>6} {row.gold:>6} "
                f"{_percent(row.precision):>7} {_percent(row.recall):>7} {_percent(row.f1):>7}")
        lines.append(line + ("  (not in the gold: not averaged)" if row.gold == 0 else ""))
    lines.append(f"accuracy {_percent(score.accuracy)} ({score.correct}/{score.examples} labels exact)")
    lines.append(f"negative label {score.negative_label!r} ({score.negative_gold} gold, {score.negative_predicted} "
                 f"predicted) excluded; macro average over {len(score.relations)} relations")
    lines.append(f"MACRO-F1 {_percent(score.macro_f1)}")
    return lines


def report_json(score: Score) -> str:
    return json.dumps(asdict(score), indent=2, ensure_ascii=False)


def _score_pairs(pairs: list[tuple[Label, Label]], negative_relation: str) -> Score:
    gold_counts = Counter(gold.relation for gold, _ in pairs)
    predicted_counts = Counter(predicted.relation for _, predicted in pairs)
    true_positives = Counter(gold.relation for gold, predicted in pairs if gold == predicted)
    rows = {relation: _relation_score(relation, true_positives[relation], predicted_counts[relation],
                                      gold_counts[relation])
            for relation in sorted(gold_counts.keys() | predicted_counts.keys()) if relation != negative_relation}
    scored = tuple(row for row in rows.values() if row.gold)
    if not scored:
        raise RelxdataError(f"the gold has no relation other than the negative label {negative_relation!r}")
    correct = sum(true_positives.values())
    return Score(macro_f1=math.fsum(row.f1 for row in scored) / len(scored), accuracy=correct / len(pairs),
                 correct=correct, examples=len(pairs), negative_label=negative_relation,
                 negative_gold=gold_counts[negative_relation], negative_predicted=predicted_counts[negative_relation],
                 relations=scored, predicted_only=tuple(row for row in rows.values() if not row.gold))


def _relation_score(relation: str, true_positives: int, predicted: int, gold: int) -> RelationScore:
    precision = true_positives / predicted if predicted else 0.0
    recall = true_positives / gold if gold else 0.0
    # 2PR/(P+R) simplified: the same value without the rounding of two divisions (0.5 stays exactly 0.5).
    f1 = 2 * true_positives / (predicted + gold) if true_positives else 0.0
    return RelationScore(relation, true_positives, predicted, gold, precision, recall, f1)


def check_same_ids(gold: Mapping[str, str], predicted: Mapping[str, str], gold_name: str,
                    predicted_name: str) -> None:
    missing = [example_id for example_id in gold if example_id not in predicted]
    extra = [example_id for example_id in predicted if example_id not in gold]
    problems = []
    if missing:
        problems.append(f"{len(missing)} ids of {gold_name} missing ({_some_ids(missing)})")
    if extra:
        problems.append(f"{len(extra)} ids not in {gold_name} ({_some_ids(extra)})")
    if problems:
        raise RelxdataError(f"{predicted_name}: {'; '.join(problems)}")


def _parse_for(example_id: str, label: str, source: str) -> Label:
    try:
        return parse_label(label)
    except RelxdataError as exc:
        raise RelxdataError(f"{source}, id {example_id!r}: {exc}") from None


def _some_ids(ids: list[str]) -> str:
    shown = ", ".join(repr(example_id) for example_id in ids[:_EXAMPLE_IDS_SHOWN])
    return shown + (", …" if len(ids) > _EXAMPLE_IDS_SHOWN else "")


def _shorten(line: str, limit: int = 80) -> str:
    return line if len(line) <= limit else line[:limit] + "…"


def _percent(fraction: float) -> str:
    return f"{100 * fraction:.2f}"
