"""Findings remembered between scans in one process (the bot's), by what decides them.

:func:`~kiroclaw_policy.engine.scan_file`'s findings depend only on a file's scanned bytes, its size and
the parts of its path the context looks at (:func:`~kiroclaw_policy.engine.scan_entries` already reuses
them within one add-on on that ground). The bot scans the same files again and again: every user who
installs a popular repository, every ``/addon update`` that re-checks a tree where a few files changed.
So the findings of the last :data:`MAX_ENTRIES` distinct files are kept in memory, keyed by
(SHA-256 of the scanned bytes, size, context); a file with equal key is not scanned again.

- Memory only: nothing is written to disk, so nothing an agent could plant; the bot's restart empties it.
- Findings are used only with the very rules object that made them (the signatures are compiled once
  per process; a test or a reload that swaps them starts afresh).
- Findings of ``scan-incomplete`` are not kept (a scan that ran out of time may finish on a quieter
  machine).
- Equal bytes only: a user is never shown findings of a file they do not hold byte for byte.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .rules import Finding

__all__ = ["MAX_ENTRIES", "Key", "forget", "recall", "remember"]

#: Distinct files whose findings are kept (the least recently used goes first when full).
MAX_ENTRIES = 50_000

Key = tuple[bytes, int, tuple[object, ...]]

_LOCK = threading.Lock()
_KEPT: OrderedDict[Key, tuple[object, str, list[Finding]]] = OrderedDict()


def recall(key: Key, rules: object) -> tuple[str, list[Finding]] | None:
    """(path the findings were made for, findings) of a file scanned before with this key by ``rules``
    (the compiled signatures), or ``None``."""
    with _LOCK:
        found = _KEPT.get(key)
        if found is None or found[0] is not rules:
            return None
        _KEPT.move_to_end(key)
        return found[1], found[2]


def remember(key: Key, rules: object, scanned: tuple[str, list[Finding]]) -> None:
    """Keep one file's (path, findings) made by ``rules`` unless the scan was incomplete."""
    if any(finding.rule == "scan-incomplete" for finding in scanned[1]):
        return
    with _LOCK:
        _KEPT[key] = (rules, scanned[0], list(scanned[1]))
        _KEPT.move_to_end(key)
        while len(_KEPT) > MAX_ENTRIES:
            _KEPT.popitem(last=False)


def forget() -> None:
    """Drop everything kept (tests; a process that changes its rules)."""
    with _LOCK:
        _KEPT.clear()
