"""A local copy of a single-stream dump's XML, kept while the plan's scan decompresses it anyway.

A bzip2, gzip, xz or zstd dump that is one stream has to be decompressed from its start to find its
pages, so planning it (`dumps.plan_dump`) decompresses all of it once, and each unit then
decompressed its part a second time. When the workers share this machine's disk, the scan also
writes what it decompressed to a temporary file of zstd frames (level 1: about 2.6 times smaller
than the XML, ten times faster to read back than bzip2), and units read their bytes from there.

Whoever runs the plan removes the copy when its readers are done (`XmlCopy.remove`); should it
not, the copy goes when the `XmlCopy` made by the scan is garbage, or at the latest when the process
that made it exits normally. The workers' unpickled `XmlCopy`s remove nothing by themselves.
"""

from __future__ import annotations

import bisect
import os
import shutil
import tempfile
import weakref
from dataclasses import dataclass

import zstandard

# A copy's folder: PREFIX, then the process id of the scan that made it.
PREFIX = "relxdata-xml-"
# Frames of 1 MiB of XML: a unit reads at most one frame's worth that is not its own at each end.
FRAME_BYTES = 1 << 20
LEVEL = 1
# The copy is about 1.4 times a bzip2 dump's size and larger for gzip: made only where the free
# space is this many times the dump's size, so that it never fills the disk the output goes to.
FREE_SPACE_FACTOR = 4


@dataclass(frozen=True)
class XmlCopy:
    """Where each frame of the copy starts in the XML and in the file, each with a final end."""

    path: str
    xml_offsets: tuple[int, ...]
    file_offsets: tuple[int, ...]

    def read(self, start: int, end: int) -> bytes:
        """Bytes `start:end` of the decompressed XML."""
        first = bisect.bisect_right(self.xml_offsets, start) - 1
        last = bisect.bisect_left(self.xml_offsets, end) - 1
        if first < 0 or end > self.xml_offsets[-1]:
            raise ValueError(f"bytes {start}-{end} are not in this copy of 0-{self.xml_offsets[-1]}")
        decompressor = zstandard.ZstdDecompressor()
        with open(self.path, "rb") as copy:
            copy.seek(self.file_offsets[first])
            frames = copy.read(self.file_offsets[last + 1] - self.file_offsets[first])
        base = self.file_offsets[first]
        xml = b"".join(decompressor.decompress(frames[self.file_offsets[i] - base:self.file_offsets[i + 1] - base])
                       for i in range(first, last + 1))
        return xml[start - self.xml_offsets[first]:end - self.xml_offsets[first]]

    def remove(self) -> None:
        """Delete the copy, once every reader is done with it."""
        shutil.rmtree(os.path.dirname(self.path), ignore_errors=True)


class XmlCopyWriter:
    """Writes the XML as the scan decompresses it; `finish` returns the `XmlCopy`, which owns the folder.

    Used as a context manager: leaving it by an exception, or without `finish`, removes the folder.
    """

    def __init__(self, parent: str):
        _remove_copies_of_ended_processes(parent)
        self.directory = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=parent)
        self.path = os.path.join(self.directory, "dump.xml.zst-frames")
        self.file = open(self.path, "wb")
        self.compressor = zstandard.ZstdCompressor(level=LEVEL)
        self.xml_offsets, self.file_offsets = [0], [0]
        self.pending = b""
        self.finished = False

    def write(self, xml: bytes) -> None:
        data = self.pending + xml if self.pending else xml
        whole = len(data) - len(data) % FRAME_BYTES
        for at in range(0, whole, FRAME_BYTES):
            self._frame(data[at:at + FRAME_BYTES])
        self.pending = data[whole:]

    def _frame(self, xml: bytes) -> None:
        self.file.write(self.compressor.compress(xml))
        self.xml_offsets.append(self.xml_offsets[-1] + len(xml))
        self.file_offsets.append(self.file.tell())

    def finish(self) -> XmlCopy:
        if self.pending:
            self._frame(self.pending)
        self.file.close()
        self.finished = True
        copy = XmlCopy(self.path, tuple(self.xml_offsets), tuple(self.file_offsets))
        weakref.finalize(copy, shutil.rmtree, self.directory, True)
        return copy

    def __enter__(self) -> XmlCopyWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        if not self.finished:
            self.file.close()
            shutil.rmtree(self.directory, ignore_errors=True)


def _remove_copies_of_ended_processes(parent: str) -> None:
    """Copies whose process ended without removing them: killed, or interrupted (Ctrl-C ends a local
    run at once, see `pipelines.launch.interrupt_ends_the_process`)."""
    for name in os.listdir(parent):
        pid = name.removeprefix(PREFIX).split("-")[0]
        if name.startswith(PREFIX) and pid.isdigit() and not _running(int(pid)):
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)


def _running(pid: int) -> bool:
    if os.name == "nt":  # there, os.kill with signal 0 would end the process: leave its copy alone
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def room_for_copy(dump_path: str, parent: str) -> bool:
    """Whether `parent` has room for a copy of the local file `dump_path`'s XML."""
    return shutil.disk_usage(parent).free >= FREE_SPACE_FACTOR * os.path.getsize(dump_path)
