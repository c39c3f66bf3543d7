"""The scan keeps no file's bytes, and no very long line, past the file's own scan.

An install of a large add-on (up to ``MAX_ADDON_SIZE_MB``, several at once on a busy bot) must not hold
every file it has scanned in memory: the check for files seen before keeps a digest per file, and the
per-line cache of what a URL points at leaves out long lines (minified bundles ship lines of several MiB).
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator

from kiroclaw_policy import context
from kiroclaw_policy.engine import scan_entries

MIB = 1 << 20
FILES = 8


def test_scanned_files_are_not_kept_until_the_scan_ends() -> None:
    held: list[int] = []

    def entries() -> Iterator[tuple[str, bytes, int]]:
        for index in range(FILES):
            held.append(tracemalloc.get_traced_memory()[0])
            body = f"# part {index}\n".encode() + b"plain words in a reference file\n" * (MIB // 32)
            yield f"references/part-{index}.txt", body, len(body)

    tracemalloc.start()
    try:
        found = scan_entries(entries())
    finally:
        tracemalloc.stop()
    assert not [f for f in found if f.verdict == "block"]
    # before each new file, what the scan holds has not grown by the files already scanned
    assert held[-1] - held[1] < FILES * MIB // 4, [h // 1024 for h in held]


def test_long_lines_are_not_cached() -> None:
    lines = [f"see https://example.com/{index} " + "x" * MIB for index in range(FILES)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for line in lines:
            context.target(line + " ")  # a new string each call, as each scanned line is
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert after - before < FILES * MIB // 4
    assert context.target("curl https://203.0.113.7/x.sh")[0] == "suspicious"  # short lines still answered
