"""Entity markers and marker-aware encoding of one sentence with two entity spans."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from transformers import BertTokenizerFast, PreTrainedTokenizerBase

E1_START, E1_END, E2_START, E2_END, BLANK = "[E1]", "[/E1]", "[E2]", "[/E2]", "[BLANK]"
MARKERS = (E1_START, E1_END, E2_START, E2_END)
# BERT vocabularies reserve [unusedN] rows; the RELX code put its markers there instead of growing the vocabulary.
RESERVED = ("[unused1]", "[unused2]", "[unused3]", "[unused4]", "[unused5]")
WORDPIECE_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


@dataclass(frozen=True)
class MarkerIds:
    e1_start: int
    e1_end: int
    e2_start: int
    e2_end: int
    blank: int

    @property
    def all(self) -> tuple[int, ...]:
        return (self.e1_start, self.e1_end, self.e2_start, self.e2_end, self.blank)


@dataclass(frozen=True)
class Encoded:
    """Token ids of `[CLS] … [E1] … [/E1] … [E2] … [/E2] … [SEP]`; the positions of [E1] and [E2]."""

    input_ids: list[int]
    e1_pos: int
    e2_pos: int


def marker_ids(tokenizer: PreTrainedTokenizerBase) -> MarkerIds:
    """The ids of the markers and [BLANK], reusing [unused1..5] when the vocabulary has them.

    Adds whatever is missing as special tokens; the caller resizes the embeddings to `len(tokenizer)`.
    """
    vocab = tokenizer.get_vocab()
    if all(token in vocab for token in RESERVED):
        return MarkerIds(*(vocab[token] for token in RESERVED))
    missing = [token for token in (*MARKERS, BLANK) if token not in vocab]
    if missing:
        tokenizer.add_special_tokens({"extra_special_tokens": missing}, replace_extra_special_tokens=False)
    return MarkerIds(*tokenizer.convert_tokens_to_ids([*MARKERS, BLANK]))


def train_wordpiece(texts: Iterable[str], vocab_size: int) -> BertTokenizerFast:
    """A cased WordPiece tokenizer learned from `texts`, with the markers already in its vocabulary."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    backend = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=False)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.decoder = decoders.WordPiece()
    specials = WORDPIECE_SPECIALS + [*MARKERS, BLANK]
    # Its progress bars print blank lines when stdout is not a terminal, and take no time worth showing.
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False)
    backend.train_from_iterator(texts, trainer)
    cls, sep = backend.token_to_id("[CLS]"), backend.token_to_id("[SEP]")
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return BertTokenizerFast(tokenizer_object=backend, do_lower_case=False)


def _pieces(text: str, e1: Sequence[int], e2: Sequence[int]) -> tuple[list[str], bool]:
    """The text cut at both spans (an entity may be empty, as in a few KBP-37 lines): left, first entity, middle, second entity, right; and whether e2 comes first."""
    e2_first = tuple(e2) < tuple(e1)
    (a_start, a_end), (b_start, b_end) = (e2, e1) if e2_first else (e1, e2)
    if not 0 <= a_start <= a_end <= b_start <= b_end <= len(text):
        raise ValueError(f"entity spans {list(e1)} and {list(e2)} overlap or leave the sentence")
    return [text[:a_start], text[a_start:a_end], text[a_end:b_start], text[b_start:b_end], text[b_end:]], e2_first


def _fit(lengths: list[int], budget: int) -> list[int]:
    """How many tokens of each piece to keep: entities first, then the middle, then the context around them."""
    left, first, middle, second, right = lengths
    if first + second > budget:
        first = min(first, max(budget // 2, budget - second))
        second = min(second, budget - first)
    middle = min(middle, budget - first - second)
    room = budget - first - second - middle
    keep_left = min(left, max(room // 2, room - right))
    return [keep_left, first, middle, second, min(right, room - keep_left)]


def _middle_cut(ids: list[int], keep: int) -> list[int]:
    """`keep` tokens of the text between the entities, taken next to both of them."""
    if keep >= len(ids):
        return ids
    head = (keep + 1) // 2
    return ids[:head] + ids[len(ids) - (keep - head):]


def encode_marked(tokenizer: PreTrainedTokenizerBase, markers: MarkerIds, examples: Sequence[tuple],
                  max_length: int) -> list[Encoded]:
    """Encodes `(text, e1, e2, blank_e1, blank_e2)` tuples; spans are `[start, end)` in code points.

    A blanked entity's tokens become one [BLANK] between its markers. Over-long sentences lose tokens
    from the outside in (context, then the middle, then the entities' own tokens), never a marker.
    """
    budget = max_length - 6  # [CLS], [SEP] and the four markers
    if budget < 2:
        raise ValueError("max_length must leave room for [CLS], [SEP], four markers and two entities")
    pieces, orders = [], []
    for text, e1, e2, _, _ in examples:
        cut, e2_first = _pieces(text, e1, e2)
        pieces.extend(cut)
        orders.append(e2_first)
    piece_ids = tokenizer(pieces, add_special_tokens=False)["input_ids"] if pieces else []
    encoded = []
    for index, (_, _, _, blank_e1, blank_e2) in enumerate(examples):
        left, first, middle, second, right = piece_ids[5 * index: 5 * index + 5]
        e2_first = orders[index]
        blank_first, blank_second = (blank_e2, blank_e1) if e2_first else (blank_e1, blank_e2)
        first = [markers.blank] if blank_first else first
        second = [markers.blank] if blank_second else second
        keep = _fit([len(left), len(first), len(middle), len(second), len(right)], budget)
        open_first, close_first, open_second, close_second = (
            (markers.e2_start, markers.e2_end, markers.e1_start, markers.e1_end) if e2_first
            else (markers.e1_start, markers.e1_end, markers.e2_start, markers.e2_end))
        head = [tokenizer.cls_token_id, *left[len(left) - keep[0]:], open_first]
        ids = head + first[:keep[1]] + [close_first] + _middle_cut(middle, keep[2]) + [open_second]
        second_pos = len(ids) - 1
        ids += second[:keep[3]] + [close_second] + right[:keep[4]] + [tokenizer.sep_token_id]
        first_pos = len(head) - 1
        e1_pos, e2_pos = (second_pos, first_pos) if e2_first else (first_pos, second_pos)
        encoded.append(Encoded(ids, e1_pos, e2_pos))
    return encoded
