"""The model's inputs: markers, marker-aware truncation, KBP-37 / RELX files, shard streams."""

from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from torch.utils.data import DataLoader
from transformers import BertTokenizerFast

from model.data import (ShardStream, batches_in, bucket, parse_tagged, plan_chunks, rank_chunks,
                        read_relation_file)
from model.tokens import encode_marked, marker_ids, train_wordpiece
from relxdata.errors import RelxdataError

SENTENCE = "Warsaw is the capital and largest city of Poland."


@pytest.fixture(scope="module")
def tokenizer():
    return train_wordpiece([SENTENCE, "Pierre Curie was born in Paris, France."] * 20, 300)


def tokens(tokenizer, encoded):
    return tokenizer.convert_ids_to_tokens(encoded.input_ids)


def test_markers_surround_entities_in_either_order(tokenizer):
    markers = marker_ids(tokenizer)
    forward, backward = encode_marked(tokenizer, markers, [(SENTENCE, (0, 6), (42, 48), False, False),
                                                           (SENTENCE, (42, 48), (0, 6), False, True)], 64)
    assert tokens(tokenizer, forward) == ["[CLS]", "[E1]", "Warsaw", "[/E1]", "is", "the", "capital", "and",
                                          "largest", "city", "of", "[E2]", "Poland", "[/E2]", ".", "[SEP]"]
    assert (forward.e1_pos, forward.e2_pos) == (1, 11)
    assert tokens(tokenizer, backward) == ["[CLS]", "[E2]", "[BLANK]", "[/E2]", "is", "the", "capital", "and",
                                           "largest", "city", "of", "[E1]", "Poland", "[/E1]", ".", "[SEP]"]
    assert (backward.e1_pos, backward.e2_pos) == (11, 1)


def test_truncation_keeps_every_marker(tokenizer):
    markers = marker_ids(tokenizer)
    example = ("a b c d " + SENTENCE + " x y z", (8, 14), (50, 56), False, False)
    for max_length in range(8, 30):
        encoded = encode_marked(tokenizer, markers, [example], max_length)[0]
        assert len(encoded.input_ids) <= max_length
        assert [encoded.input_ids.count(marker) for marker in markers.all[:4]] == [1, 1, 1, 1]
        assert encoded.input_ids[encoded.e1_pos] == markers.e1_start
        assert encoded.input_ids[encoded.e2_pos] == markers.e2_start
    shortest = encode_marked(tokenizer, markers, [example], 8)[0]
    assert tokens(tokenizer, shortest) == ["[CLS]", "[E1]", "Warsaw", "[/E1]", "[E2]", "Poland", "[/E2]", "[SEP]"]
    # the context goes first, then the middle of the text between the entities
    middle = encode_marked(tokenizer, markers, [example], 12)[0]
    assert tokens(tokenizer, middle) == ["[CLS]", "[E1]", "Warsaw", "[/E1]", "is", "the", "city", "of", "[E2]",
                                         "Poland", "[/E2]", "[SEP]"]
    context = encode_marked(tokenizer, markers, [example], 18)[0]
    assert tokens(tokenizer, context)[:2] == ["[CLS]", "d"] and tokens(tokenizer, context)[-3:] == [".", "[UNK]", "[SEP]"]


def test_bert_vocabularies_lend_their_unused_rows():
    vocab = ["[PAD]", "[unused0]", "[unused1]", "[unused2]", "[unused3]", "[unused4]", "[unused5]", "[UNK]", "[CLS]",
             "[SEP]", "[MASK]", "warsaw", "poland"]
    bert = BertTokenizerFast(vocab={token: index for index, token in enumerate(vocab)})
    assert marker_ids(bert).all == (2, 3, 4, 5, 6)
    assert len(bert) == len(vocab)
    plain = [token for token in vocab if "unused" not in token]
    without = BertTokenizerFast(vocab={token: index for index, token in enumerate(plain)})
    assert marker_ids(without).all == (7, 8, 9, 10, 11)
    assert without.convert_ids_to_tokens([7, 11]) == ["[E1]", "[BLANK]"]


@pytest.mark.parametrize("sentence, text, e1, e2", [
    ('" <e1> Thom Yorke </e1> of <e2> Radiohead </e2> has included . "', "Thom Yorke of Radiohead has included .",
     "Thom Yorke", "Radiohead"),
    ('"(<e2> SIMSREE </e2>) ist <e1>Viva</e1>."', "(SIMSREE) ist Viva.", "Viva", "SIMSREE"),
    ('" Kent Station ( ) is an <e1> </e1> railway station in Cork <e2> Ireland </e2> . "',
     "Kent Station ( ) is an  railway station in Cork Ireland .", "", "Ireland"),
])
def test_tagged_sentences(sentence, text, e1, e2):
    parsed, span1, span2 = parse_tagged(sentence)
    assert parsed == text
    assert (parsed[slice(*span1)], parsed[slice(*span2)]) == (e1, e2)


@pytest.mark.parametrize("sentence", ['"<e1> a </e1> b"', '"<e1> a <e2> b </e1> c </e2>"', '"</e1> a <e2> b </e2>"'])
def test_bad_tags(sentence):
    with pytest.raises(ValueError):
        parse_tagged(sentence)


def test_the_real_evaluation_files(shared_data):
    root = shared_data / "relation_eval"
    train = read_relation_file(root / "kbp37" / "train.txt")
    assert len(train) == 15_917
    labels = Counter(example.label for example in train)
    assert len(labels) == 37 and labels["org:alternate_names(e2,e1)"] == 233  # one of them had a trailing space
    assert train[0].text[slice(*train[0].e1)] == "Thom Yorke"
    for lang in ("en", "de", "es", "fr", "tr"):  # four of the five lack the final blank line
        examples = read_relation_file(root / "relx" / f"RELX_{lang}.txt")
        assert len(examples) == 502 and len({example.id for example in examples}) == 502
    german = read_relation_file(root / "relx" / "RELX_de.txt")[0]
    assert (german.id, german.label) == ("17647", "org:stateorprovince_of_headquarters(e1,e2)")
    assert (german.text[slice(*german.e1)], german.text[slice(*german.e2)]) == ("Sacramento Heatwave", "Kalifornien")


def test_a_broken_block_names_its_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text('1\t"<e1> a </e1> and <e2> b </e2>"\nper:title(e1,e2)\n\n2\t"no tags"\nno_relation\n')
    with pytest.raises(RelxdataError, match=r"bad.txt:4: a sentence needs exactly one"):
        read_relation_file(path)


def write_shards(directory, files: int, rows: int, row_group: int) -> None:
    directory.mkdir()
    for file in range(files):
        values = list(range(file * rows, (file + 1) * rows))
        pq.write_table(pa.table({"value": values}), directory / f"part-{file:05d}-of-{files:05d}.parquet",
                       row_group_size=row_group)


def test_ranks_share_out_chunks_evenly_and_differently_each_epoch(tmp_path):
    write_shards(tmp_path / "shards", files=3, rows=50, row_group=20)
    chunks = plan_chunks(sorted((tmp_path / "shards").glob("*.parquet")))
    assert [chunk.rows for chunk in chunks] == [20, 20, 10] * 3
    ranks = [rank_chunks(chunks, seed=1, epoch=0, rank=rank, world=2) for rank in range(2)]
    assert [len(part) for part in ranks] == [4, 4]  # the ninth chunk waits for the next epoch
    assert not set(ranks[0]) & set(ranks[1])
    assert rank_chunks(chunks, 1, 0, 0, 2) == ranks[0] and rank_chunks(chunks, 1, 1, 0, 2) != ranks[0]
    assert batches_in(chunks, 8) == 3 * (3 + 3 + 2)


def test_workers_deliver_chunks_in_plan_order(tmp_path):
    write_shards(tmp_path / "shards", files=2, rows=30, row_group=10)
    chunks = plan_chunks(sorted((tmp_path / "shards").glob("*.parquet")))

    def first_values(table, rng):
        return [table.column("value").to_pylist()[:2]]

    def read(workers: int, start: int):
        stream = ShardStream(chunks, ["value"], first_values, seed=0, start_chunk=start)
        return [(index, batches) for index, batches in DataLoader(stream, batch_size=None, num_workers=workers)]

    alone = read(0, 0)
    assert alone == [(i, [[10 * i, 10 * i + 1]]) for i in range(6)]
    assert read(1, 0) == alone and read(2, 0) == alone
    assert read(2, 3) == alone[3:]


def test_buckets_group_similar_lengths_and_cover_every_row():
    import random
    lengths = [5, 50, 6, 48, 7, 52, 4, 49]
    batches = bucket(lengths, 4, random.Random(0))
    assert sorted(row for batch in batches for row in batch) == list(range(8))
    assert sorted(sorted(lengths[row] for row in batch) for batch in batches) == [[4, 5, 6, 7], [48, 49, 50, 52]]


def test_batches_are_padded_to_their_longest_sentence(tokenizer):
    from model.data import Encoding, example_batches, RelationExample
    encoding = Encoding(tokenizer, marker_ids(tokenizer), 64)
    examples = [RelationExample("1", SENTENCE, (0, 6), (42, 48), "capital"),
                RelationExample("2", "Paris, France.", (0, 5), (7, 13), "other")]
    batch, = example_batches(examples, encoding, {"capital": 0}, 8, rng=None)
    assert batch["input_ids"].shape == (2, 16) and batch["attention_mask"].sum(1).tolist() == [16, 10]
    assert batch["labels"].tolist() == [0, -100]
    assert torch.equal(batch["input_ids"][1, 10:], torch.zeros(6, dtype=torch.long))
