import bz2
import io
import random

import pytest

from relxdata.bzip2_ranges import Bzip2Blocks, Bzip2Error, LinesOwned, block_place, check_bzip2_ends
from relxdata.errors import RelxdataError


def text_lines(count, seed=3):
    """Lines of letters without runs (bzip2 level 1 then makes a block of every ~100 KB of them)."""
    rng = random.Random(seed)
    lines = []
    for _ in range(count):
        line, previous = [], ""
        for _ in range(rng.randrange(0, 400)):
            char = rng.choice("abcdefghij")
            if char != previous:
                line.append(char)
                previous = char
        lines.append("".join(line).encode())
    return lines


DATA = b"\n".join(text_lines(2000)) + b"\n"
COMPRESSED = bz2.compress(DATA, 1)


def blocks_of(data, threads=1):
    return Bzip2Blocks("f.bz2", io.BytesIO(data), len(data), threads)


def test_blocks_from_the_header_give_the_whole_data():
    blocks = list(blocks_of(COMPRESSED).blocks(0, header=True))
    assert len(blocks) >= 3 and b"".join(data for _, data in blocks) == DATA
    assert any(bit % 8 for bit, _ in blocks)  # blocks start at any bit, not only at whole bytes


@pytest.mark.parametrize("threads", [1, 3])
def test_a_block_is_found_from_any_offset_and_verified_by_decoding(threads):
    starts = [bit for bit, _ in blocks_of(COMPRESSED).blocks(0, header=True)]
    for low in (1, starts[1] - 1, starts[1], starts[1] + 1):
        bit, (data, end, is_end) = blocks_of(COMPRESSED, threads).find_block(low, None)
        assert bit == min(start for start in starts if start >= low)
        assert DATA.find(data) >= 0 and (end in starts or is_end)
    assert blocks_of(COMPRESSED).find_block(starts[-1] + 1, None) is None  # only the end-of-stream marker is left


@pytest.mark.parametrize("parts", [1, 2, 3, 5, 50])
def test_ranges_own_every_line_once(parts):
    size = len(COMPRESSED)
    cuts = [size * part // parts for part in range(parts)] + [None]
    owned = []
    for start, end in zip(cuts, cuts[1:]):
        chunks = blocks_of(COMPRESSED, 1 + parts % 2).range_chunks(start, end)
        owned += [line for _, _, line in LinesOwned(chunks, start == 0)]
    assert owned == DATA.split(b"\n")[:-1]


@pytest.mark.parametrize("chunk", [1, 2, 7, 1000])
@pytest.mark.parametrize("parts", [1, 2, 3, 9, 40])
def test_plain_chunks_own_lines_by_the_newline_before_them(chunk, parts):
    data = b"a\n\nbb\nccc\ndddd\n" * 3 + b"last"

    def chunks(start, end):
        for at in range(start, len(data), chunk):
            piece = data[at:at + chunk]
            yield at, piece, len(piece) if end is None else max(0, min(len(piece), end - at))

    cuts = [len(data) * part // parts for part in range(parts)] + [None]
    owned = [line for start, end in zip(cuts, cuts[1:]) for _, _, line in LinesOwned(chunks(start, end), start == 0)]
    assert owned == data.split(b"\n")


def test_what_follows_the_owned_lines():
    lines = LinesOwned(iter([(0, b"x\ny\n  \n z\n", 2)]), True)
    assert [(key, begin, line) for key, begin, line in lines] == [(0, 0, b"x"), (0, 2, b"y")]
    assert lines.next_nonblank() == (0, 8)  # the "z"


def test_damaged_ends_are_errors_naming_the_file():
    check_bzip2_ends("f.bz2", io.BytesIO(COMPRESSED), len(COMPRESSED))
    with pytest.raises(Bzip2Error, match="^f.bz2: unreadable after byte 1000 of the compressed data"):
        check_bzip2_ends("f.bz2", io.BytesIO(COMPRESSED[:1000]), 1000)
    with pytest.raises(Bzip2Error, match="^f.bz2: not a bzip2 stream at compressed byte 0"):
        check_bzip2_ends("f.bz2", io.BytesIO(b"BZh9" + COMPRESSED[10:]), len(COMPRESSED) - 6)
    assert issubclass(Bzip2Error, RelxdataError)
    assert block_place(8 * 40 + 3, 7) == "decompressed byte 7 of the bzip2 block at compressed byte 40 (bit 3)"
