"""Build hostile zips for tests, fast and small: gigabytes of zeros from one compressed block repeated.

zipfile cannot take pre-compressed data, and deflating 3 GB in a test takes ~6 s, so this writes the
zip format itself (local headers, zip64 extras, central directory). A deflate block ended with a full
flush does not refer back to earlier data, so one compressed MiB of zeros can be repeated N times and
followed by an empty final block: a valid stream of N MiB of zeros. The CRC is computed for real.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

MIB = 1 << 20


@dataclass
class Member:
    """One zip member: its compressed stream, true sizes and CRC, and (optionally) a lying declared size."""

    name: str
    stream: bytes | list[bytes]  # raw deflate; a list is written piece by piece
    size: int
    crc: int
    declared_size: int | None = None

    @property
    def compressed(self) -> int:
        return len(self.stream) if isinstance(self.stream, bytes) else sum(len(b) for b in self.stream)


def deflated(name: str, data: bytes) -> Member:
    """A member holding ``data``, deflated normally."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return Member(name, c.compress(data) + c.flush(), len(data), zlib.crc32(data))


def zeros(name: str, mib: int, declared_size: int | None = None) -> Member:
    """A member of ``mib`` MiB of zeros, about 1 KB compressed per MiB (the repeated-block trick)."""
    block = bytes(MIB)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    tail = zlib.compressobj(9, zlib.DEFLATED, -15).flush()  # an empty final block
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(block, crc)
    return Member(name, [piece] * mib + [tail], mib * MIB, crc, declared_size)


def write_zip(path: Path, members: list[Member]) -> Path:
    """Write members as a zip (zip64 extras where a size passes 4 GiB - 1)."""
    central = []
    with open(path, "wb") as out:
        for m in members:
            offset = out.tell()
            name = m.name.encode()
            size = m.size if m.declared_size is None else m.declared_size
            big = size >= 0xFFFFFFFF or m.compressed >= 0xFFFFFFFF
            extra = struct.pack("<HHQQ", 1, 16, size, m.compressed) if big else b""
            s32, c32 = (0xFFFFFFFF, 0xFFFFFFFF) if big else (size, m.compressed)
            version = 45 if big else 20
            out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, version, 0, 8, 0, 0x21, m.crc, c32, s32,
                                  len(name), len(extra)) + name + extra)
            for piece in ([m.stream] if isinstance(m.stream, bytes) else m.stream):
                out.write(piece)
            central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, version, version, 0, 8, 0, 0x21, m.crc,
                                       c32, s32, len(name), len(extra), 0, 0, 0, 0, offset) + name + extra)
        start = out.tell()
        for c in central:
            out.write(c)
        out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central), out.tell() - start,
                              start, 0))
    return path


def release_members(folder: Path, top: str, skip: tuple[str, ...] = ()) -> list[Member]:
    """The files of a release folder as deflated members under ``top/``."""
    return [deflated(f"{top}/{p.name}", p.read_bytes()) for p in sorted(folder.iterdir())
            if p.is_file() and p.name not in skip]
