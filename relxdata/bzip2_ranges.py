"""Reading a file in ranges of its compressed bytes, each range on its own, and the lines each one owns.

A range is bytes [start, end) of the file as it is stored, cut without reading the file, so planning
costs the same for a 100 GB bzip2 file as for a small one. A worker given a range finds its own way in:
every bzip2 block starts with a 48-bit magic, at any bit shift, and decodes without the blocks before
it. So the worker scans its range for the magic at each of the eight shifts and verifies the first match
by decoding that block alone, as a one-block stream whose CRC Python's bz2 checks: a chance match of the
magic inside compressed data fails to decode, and the next one is tried. From there the worker follows
the chain of blocks, across the streams of a multi-stream file, as far as its last line goes.

Which range owns which line: a range owns each line that starts right after a newline in a block whose
first bit lies in its bytes [start, end); the range at byte 0 also owns the file's first line. A range
reads past its end as far as its last line goes. So every line has exactly one owner, whatever the
number of ranges, and a range without a block start or a newline of its own reads nothing.
`LinesOwned` applies that rule to any `Chunk`s, so uncompressed files (where a range owns the lines
that start after a newline at a byte offset in [start, end)) and whole files read the same way.
"""

from __future__ import annotations

import bisect
import bz2
import itertools
import re
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO, Iterator

from relxdata.errors import RelxdataError

# (key, data, inside): `data` follows on the previous chunk's data; its newlines before `inside` lie in
# the range. `key` names where `data` starts: its decompressed offset, or a bzip2 block's start bit.
Chunk = tuple[int, bytes, int]


class Bzip2Error(RelxdataError):
    """A bzip2 file is truncated or corrupt; the message names the file and the place."""


# --- bzip2 blocks, found and decoded on their own -------------------------------------------------------
#
# A bzip2 file is one or more streams: "BZh" and a level digit, blocks, then an end-of-stream marker,
# the stream's combined CRC and padding to a whole byte. Every block starts with a 48-bit magic and
# its own CRC, at any bit position. Decoding one block needs no other: "BZh9", the block's bits, an
# end-of-stream marker and the block's CRC (the combined CRC of a one-block stream) make a stream of
# its own, which Python's bz2 decodes and checks. A block ends where the next magic (of a block or a
# stream end) starts; a chance match inside compressed data fails to decode and the next one is tried.

_BLOCK_MAGIC = 0x314159265359
_END_MAGIC = 0x177245385090
_MAGIC_BITS = (1 << 48) - 1
_BLOCK_HEADER_BITS = 48 + 32  # the magic and the block's CRC
_END_BITS = 48 + 32  # the end-of-stream marker and the combined CRC
_SCAN_FIRST = 1 << 16  # bytes scanned for magics at first
_READ_AHEAD = 1 << 20  # bytes read at least, when a worker reads on
_TRIED_ENDS = 8  # chance matches of a magic, each at odds of 2**-48 a bit, never come in such numbers


def check_bzip2_ends(path: str, raw: BinaryIO, size: int) -> None:
    """A stream header first and an end-of-stream marker last, or the file is damaged: ~20 bytes read.

    `raw` is the file at offset 0 and `size` its length in bytes."""
    head = raw.read(10)
    if not _is_stream_header(head[:4]) or int.from_bytes(head[4:10], "big") not in (_BLOCK_MAGIC, _END_MAGIC):
        raise Bzip2Error(f"{path}: not a bzip2 stream at compressed byte 0; the file is corrupt")
    tail_at = max(0, size - 11)  # the marker, the CRC and under a byte of padding
    raw.seek(tail_at)
    tail = raw.read(size - tail_at)
    magics = _magics_in(tail, 0, len(tail), tail_at)
    if not any(is_end and (bit + _END_BITS + 7) // 8 == size for bit, is_end in magics):
        raise Bzip2Error(f"{path}: unreadable after byte {size} of the compressed data, where the file ends "
                         "without a bzip2 end-of-stream marker; the file is truncated or corrupt")


def block_place(bit: int, offset: int) -> str:
    """Decompressed byte `offset` of the block that starts at `bit`, in words, for error messages."""
    return f"decompressed byte {offset} of the bzip2 block at compressed byte {bit // 8} (bit {bit % 8})"


class Bzip2Blocks:
    """The blocks of a (multi-stream) bzip2 file, found from any compressed offset and decoded one by one."""

    def __init__(self, path: str, raw: BinaryIO, size: int, threads: int = 1):
        self.path, self.raw, self.size, self.threads = path, raw, size, threads
        self._buffer, self._buffer_at, self._position = b"", 0, None  # file bytes from _buffer_at; raw's offset
        self._keep_from = 0  # the buffer keeps the bytes from here (the block being decoded) when it reads on
        self._magics: list[tuple[int, bool]] = []  # every magic in bits [_scanned_from, _scanned_to)
        self._scanned_from = self._scanned_to = 0

    def range_chunks(self, start: int, end: int | None) -> Iterator[Chunk]:
        """The blocks from the first that starts in compressed bytes [start, end) (the file's first
        block for start 0) to the end of the file, keyed by start bit; those of the range are inside."""
        until = None if end is None else end * 8
        if start == 0:
            blocks = self.blocks(0, header=True, ahead_until=until)
        else:
            found = self.find_block(start * 8, until)
            if found is None:
                return
            blocks = self.blocks(found[0], decoded=found[1], ahead_until=until)
        for bit, data in blocks:
            yield bit, data, len(data) if end is None or bit < end * 8 else 0

    def find_block(self, low: int, high: int | None) -> tuple[int, tuple[bytes, int, bool]] | None:
        """The first block that starts at a bit in [low, high), decoded, or None."""
        self._keep_from = low // 8
        magic = self._next_magic(low)
        while magic is not None and (high is None or magic[0] < high):
            bit, is_end = magic
            if not is_end:
                try:
                    return bit, self.decode(bit)
                except Bzip2Error:
                    pass  # a chance match, or a damaged block, which the range before ours reads and reports
            magic = self._next_magic(bit + 1)
        return None

    def blocks(self, bit: int, *, header: bool = False, decoded: tuple[bytes, int, bool] | None = None,
               ahead_until: int | None = None) -> Iterator[tuple[int, bytes]]:
        """(start bit, data) of each block from the one at `bit` (a stream header's, if `header`) on.

        With more than one thread, the blocks that start before bit `ahead_until` are decoded ahead,
        in parallel, on the guess that each magic ahead starts a block; what follows is decoded as
        it is needed (a range's last line seldom runs far past its end)."""
        pool = ThreadPoolExecutor(self.threads) if self.threads > 1 else None
        try:
            yield from self._blocks(bit, header, decoded, pool, ahead_until)
        finally:
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)

    def _blocks(self, bit: int, header: bool, decoded: tuple[bytes, int, bool] | None,
                pool: ThreadPoolExecutor | None, ahead_until: int | None) -> Iterator[tuple[int, bytes]]:
        guesses: dict[int, tuple[Future, int, bool]] = {}
        guessed_to = bit  # the magics before this bit have been guessed at
        while True:
            if header:
                at = bit // 8
                if at == self.size:
                    return
                if not _is_stream_header(self._bytes(at, at + 4)):
                    raise Bzip2Error(f"{self.path}: no bzip2 stream header at compressed byte {at}, after the "
                                     "end of the stream before; the file is corrupt")
                bit = (at + 4) * 8
                magic = int.from_bytes(self._bytes(at + 4, at + 10), "big")
                if magic == _END_MAGIC:  # an empty stream
                    bit = self._after_end(bit)
                    continue
                if magic != _BLOCK_MAGIC:
                    raise Bzip2Error(f"{self.path}: no bzip2 block after the stream header at compressed byte "
                                     f"{at}; the file is truncated or corrupt")
                header = False
            if decoded is None and pool is not None and (ahead_until is None or bit < ahead_until):
                guessed_to = self._guess(pool, guesses, bit, max(bit, guessed_to), ahead_until)
                for stale in [start for start in guesses if start < bit]:  # chance matches of a magic
                    guesses.pop(stale)[0].cancel()
                if (guess := guesses.pop(bit, None)) is not None and (data := guess[0].result()) is not None:
                    decoded = data, guess[1], guess[2]
            data, end, is_end = decoded or self.decode(bit)
            decoded = None
            yield bit, data
            bit, header = (self._after_end(end), True) if is_end else (end, False)

    def _guess(self, pool: ThreadPoolExecutor, guesses: dict[int, tuple[Future, int, bool]], bit: int,
               after: int, until: int | None) -> int:
        """Decode ahead, from the magic at or after bit `after`, as many blocks as twice the threads;
        returns the bit of the first magic not guessed at."""
        self._keep_from = bit // 8
        magic = self._next_magic(after)
        while magic is not None and len(guesses) < 2 * self.threads and (until is None or magic[0] < until):
            start, is_end = magic
            following = self._next_magic(start + 1)
            if following is None:
                break
            if not is_end:
                guesses[start] = pool.submit(_decode_span, *self._span(start, following[0])), *following
            magic = following
        return self.size * 8 if magic is None else magic[0]

    def decode(self, bit: int) -> tuple[bytes, int, bool]:
        """The data of the block at `bit`, the bit where it ends, and whether its stream ends there."""
        self._keep_from = bit // 8
        magic, tried = self._next_magic(bit + 1), 0
        while magic is not None and tried < _TRIED_ENDS:
            end, is_end = magic
            data = _decode_span(*self._span(bit, end))
            if data is not None:
                return data, end, is_end
            magic, tried = self._next_magic(end + 1), tried + 1
        place = f"the bzip2 block at compressed byte {bit // 8} (bit {bit % 8})"
        if tried == 0:  # not even a chance match after it: the end of the block is missing
            raise Bzip2Error(f"{self.path}: truncated: {place} does not end before the end of the file at "
                             f"compressed byte {self.size}; the file is truncated or corrupt")
        raise Bzip2Error(f"{self.path}: {place} does not decode (its CRC or format is wrong); "
                         "the file is truncated or corrupt")

    def _span(self, bit: int, end: int) -> tuple[bytes, int, int]:
        """The bytes that hold bits [bit, end), the first one's place in them, and the number of bits."""
        first = bit // 8
        return self._bytes(first, (end + 7) // 8), bit - first * 8, end - bit

    def _after_end(self, bit: int) -> int:
        """The bit after the end-of-stream marker at `bit`, its CRC and its padding."""
        at = (bit + _END_BITS + 7) // 8
        if at > self.size:
            raise Bzip2Error(f"{self.path}: truncated: the file ends at compressed byte {self.size}, inside the "
                             f"bzip2 end-of-stream marker at compressed byte {bit // 8}")
        return at * 8

    def _next_magic(self, bit: int) -> tuple[int, bool] | None:
        """The first magic at or after `bit`, found by scanning on from where the last scan stopped."""
        if not self._scanned_from <= bit <= self._scanned_to:
            self._magics, self._scanned_from = [], bit // 8 * 8
            self._scanned_to = self._scanned_from
        while True:
            index = bisect.bisect_left(self._magics, (bit, False))
            if index > 1024:  # forget those behind
                del self._magics[:index]
                self._scanned_from, index = bit, 0
            if index < len(self._magics):
                return self._magics[index]
            start = self._scanned_to // 8
            if start >= self.size:
                return None
            # A little first (the next magic is usually a block away), then more and more, up to a MiB.
            scanned = self._scanned_to // 8 - self._scanned_from // 8
            stop = min(start + min(_READ_AHEAD, max(_SCAN_FIRST, scanned)), self.size)
            offset = self._cover(start, stop + 6)
            self._magics += _magics_in(self._buffer, offset, offset + stop - start, self._buffer_at)
            self._scanned_to = stop * 8

    def _bytes(self, start: int, stop: int) -> bytes:
        offset = self._cover(start, stop)
        return self._buffer[offset:offset + min(stop, self.size) - start]

    def _cover(self, start: int, stop: int) -> int:
        """Have file bytes [start, stop) (up to the file's end) in the buffer; where `start` is in it."""
        stop = min(stop, self.size)
        buffered_to = self._buffer_at + len(self._buffer)
        if self._buffer_at <= start and stop <= buffered_to:
            return start - self._buffer_at
        if self._buffer_at <= start <= buffered_to:  # read on, keeping what is still wanted
            keep = max(self._buffer_at, min(start, self._keep_from))
            pieces, read_at = [self._buffer[keep - self._buffer_at:]], buffered_to
        else:
            keep, pieces, read_at = start, [], start
        if self._position != read_at:
            self.raw.seek(read_at)
        wanted = max(stop - read_at, _READ_AHEAD)
        while wanted > 0 and (piece := self.raw.read(wanted)):
            pieces.append(piece)
            wanted -= len(piece)
            read_at += len(piece)
        self._position = read_at
        self._buffer, self._buffer_at = b"".join(pieces), keep
        return start - keep


def _decode_span(data: bytes, shift: int, length: int) -> bytes | None:
    """The block of `length` bits from bit `shift` of `data`, decoded as a stream of its own and checked
    by its CRC; None if those bits are not one block."""
    if length <= _BLOCK_HEADER_BITS or len(data) * 8 < shift + length:
        return None
    block = (int.from_bytes(data, "big") >> (len(data) * 8 - shift - length)) & ((1 << length) - 1)
    crc = (block >> (length - _BLOCK_HEADER_BITS)) & 0xFFFFFFFF
    padding = -(length + _END_BITS) % 8
    stream = (((block << 48 | _END_MAGIC) << 32 | crc) << padding).to_bytes((length + _END_BITS + padding) // 8, "big")
    decompressor = bz2.BZ2Decompressor()
    try:
        decoded = decompressor.decompress(b"BZh9" + stream)
    except (OSError, EOFError, ValueError):
        return None
    return decoded if decompressor.eof and not decompressor.unused_data else None


def _is_stream_header(head: bytes) -> bool:
    return len(head) == 4 and head[:3] == b"BZh" and 0x31 <= head[3] <= 0x39


def _magic_needles() -> tuple[tuple[bytes, int, int, int, bool], ...]:
    """(5 whole bytes to search, bit shift, pattern, mask over 7 bytes, is the end-of-stream marker)."""
    needles = []
    for magic, is_end in ((_BLOCK_MAGIC, False), (_END_MAGIC, True)):
        for shift in range(8):
            pattern, mask = magic << (8 - shift), _MAGIC_BITS << (8 - shift)
            needles.append((pattern.to_bytes(7, "big")[1:6], shift, pattern, mask, is_end))
    return tuple(needles)


_NEEDLES = _magic_needles()


def _magics_in(data: bytes, first: int, stop: int, base: int) -> list[tuple[int, bool]]:
    """(file bit offset, is an end-of-stream marker) of every magic whose first byte is data[first:stop];
    `base` is the file offset of data[0]."""
    found = []
    for needle, shift, pattern, mask, is_end in _NEEDLES:
        whole = 6 if shift == 0 else 7  # bytes the magic touches
        at = data.find(needle, first + 1, stop + 5)
        while at >= 0:
            start = at - 1
            window = int.from_bytes(data[start:start + 7].ljust(7, b"\0"), "big")
            if start + whole <= len(data) and window & mask == pattern:
                found.append(((base + start) * 8 + shift, is_end))
            at = data.find(needle, at + 1, stop + 5)
    found.sort()
    return found


# --- the lines a range owns ------------------------------------------------------------------------------

_NONBLANK = re.compile(rb"[^ \t\n\r\x0b\x0c]")


class LinesOwned:
    """The lines a range owns, as (key, offset in that chunk, line without its newline)."""

    def __init__(self, chunks: Iterator[Chunk], owns_first: bool):
        self._chunks, self._owns_first = chunks, owns_first
        self._rest: Iterator[Chunk] | None = None  # what follows the last line (None: nothing)

    def __iter__(self) -> Iterator[tuple[int, int, bytes]]:
        pending: list[bytes] = []  # the current line so far
        started, key, begin = self._owns_first, None, 0  # (key, begin): where the current line starts
        for chunk_key, data, inside in self._chunks:
            at = 0
            if not started:
                newline = data.find(b"\n", 0, inside)
                if newline < 0:
                    if inside < len(data):
                        return  # the range ends without a newline of its own: it owns no line
                    continue
                started, at = True, newline + 1
                key, begin = chunk_key, at
            elif key is None:
                key, begin = chunk_key, 0
            last = data.rfind(b"\n", at, inside)
            if last >= 0:
                for piece in data[at:last].split(b"\n"):
                    end = at + len(piece)
                    if pending:
                        pending.append(piece)
                        piece, pending = b"".join(pending), []
                    yield key, begin, piece
                    at = end + 1
                    key, begin = chunk_key, at
            if inside < len(data):  # the range ends in this chunk: its last line ends at the next newline
                newline = data.find(b"\n", at)
                if newline >= 0:
                    pending.append(data[at:newline])
                    yield key, begin, b"".join(pending)
                    self._rest = itertools.chain([(chunk_key, data, newline + 1)],
                                                 ((k, d, 0) for k, d, _ in self._chunks))
                    return
            if at < len(data):
                pending.append(data[at:])
            elif not pending:
                key = None  # the next line starts with the next chunk
        if key is not None:
            yield key, begin, b"".join(pending)

    def next_nonblank(self) -> tuple[int, int] | None:
        """Where the first byte that is not blank after the owned lines is; None: there is none."""
        for key, data, at in self._rest or ():
            if match := _NONBLANK.search(data, at):
                return key, match.start()
        return None
