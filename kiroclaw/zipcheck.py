"""Structural checks of zip files, read from the raw bytes before :mod:`zipfile` parses anything.

The end record must end exactly at the end of the file (no data hides after it), the central directory's
real entry count is bounded before ``zipfile`` builds one object per entry, and entries may not overlap or
disagree between local header and central directory (quoted-overlap bombs). Used by
:mod:`kiroclaw.archives` for sniffing and extraction.
"""

from __future__ import annotations

import os
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from .errors import UnsafeContentError


@dataclass(frozen=True)
class ZipEnd:
    """The end-of-central-directory record that ends exactly at the end of the file.

    :ivar position: its offset in the file, in bytes.
    :ivar entries: the entry count it declares, or ``None`` (ZIP64 marker).
    :ivar directory_bytes: the central directory's size it declares (the file size for a ZIP64 marker,
        an upper bound).
    :ivar directory_offset: where it says the central directory starts, or ``None`` (ZIP64 marker).
    """

    position: int
    entries: int | None
    directory_bytes: int
    directory_offset: int | None


def zip_end_record(path: Path, size: int) -> ZipEnd | None:
    """Find the end record whose comment ends exactly at the end of the file (so no data hides after
    it), read before ``zipfile`` parses anything; ``None`` when there is none."""
    tail_len = min(size, 22 + 65535)
    with path.open("rb") as handle:
        handle.seek(size - tail_len)
        tail = handle.read(tail_len)
    index = tail.rfind(b"PK\x05\x06")
    while index >= 0:
        if index + 22 <= len(tail):
            entries, directory_bytes, offset, comment_len = struct.unpack("<HIIH", tail[index + 10 : index + 22])
            if index + 22 + comment_len == len(tail):
                return ZipEnd(
                    position=size - tail_len + index,
                    entries=None if entries == 0xFFFF else entries,
                    directory_bytes=size if directory_bytes == 0xFFFFFFFF else directory_bytes,
                    directory_offset=None if offset == 0xFFFFFFFF else offset,
                )
        index = tail.rfind(b"PK\x05\x06", 0, index)
    return None


def zip_directory_entries(path: Path, end: ZipEnd, stop_after: int) -> int:
    """Count the central directory's entry headers by walking them (46 fixed bytes + name, extra and
    comment each), stopping past ``stop_after``: the end record's count can lie, and zipfile would build a
    ZipInfo for every entry before any cap applied. ``0`` for a ZIP64 or out-of-range offset (zipfile
    checks those; the declared size was bounded before)."""
    offset = end.directory_offset
    if offset is None or offset > end.position:
        return 0
    count = 0
    position = offset
    with path.open("rb") as handle:
        handle.seek(offset)
        while position + 46 <= end.position and count <= stop_after:
            header = handle.read(46)
            if len(header) < 46 or header[:4] != b"PK\x01\x02":
                break
            name_len, extra_len, comment_len = struct.unpack("<HHH", header[28:34])
            skip = name_len + extra_len + comment_len
            handle.seek(skip, os.SEEK_CUR)
            position += 46 + skip
            count += 1
    return count


def zip_check_layout(handle: IO[bytes], infos: list[zipfile.ZipInfo], central_start: int) -> None:
    """Refuse overlapping entries, duplicate local headers and local/central name mismatches."""
    spans: list[tuple[int, int, str]] = []
    for info in infos:
        handle.seek(info.header_offset)
        header = handle.read(30)
        if len(header) != 30 or header[:4] != b"PK\x03\x04":
            raise UnsafeContentError("corrupt zip archive (bad local header)")
        name_len, extra_len = struct.unpack("<HH", header[26:30])
        local_name = handle.read(name_len)
        if local_name != info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437", "replace"):
            raise UnsafeContentError("corrupt zip archive (local header and central directory disagree)")
        end = info.header_offset + 30 + name_len + extra_len + info.compress_size
        spans.append((info.header_offset, end, info.filename))
    spans.sort()
    for (_start, end, _name), following in zip(spans, [*spans[1:], (central_start, central_start, "")], strict=True):
        if end > following[0]:
            raise UnsafeContentError("the zip archive has overlapping entries (zip bomb); refused")


def zip_name(info: zipfile.ZipInfo) -> str:
    # orig_filename: zipfile cuts ``filename`` at a NUL, which would hide it from the name check.
    if info.flag_bits & 0x800:
        return info.orig_filename
    raw = info.orig_filename.encode("cp437")
    try:
        return raw.decode("utf-8")  # most tools write UTF-8 without setting the flag
    except UnicodeDecodeError:
        return raw.decode("utf-8", "surrogateescape")
