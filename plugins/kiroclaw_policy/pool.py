"""Scanning a large add-on on more than one core.

The scan is Python holding the interpreter lock (normalising text, then YARA-X), so a thread cannot
run beside it. For an add-on with at least :data:`POOL_MIN_BYTES` of distinct files to scan, the
install's thread hands chunks of them to worker processes and scans chunks itself meanwhile, taking
them from the other end of the queue (work stealing), so a busy machine loses nothing to workers that
never get a core. The pool is created on first use and kept for the life of the process (the bot's
later installs find the workers started and their signatures compiled); it is shut down at exit.

- Workers are *spawned* (a fresh interpreter: no fork of a process with threads); each compiles the
  signatures once (:func:`~kiroclaw_policy.engine.compiled_rules`, without the on-disk cache).
- :data:`os.sched_getaffinity` decides how many cores there are; ``workers`` is one less than that, at
  most :data:`MAX_WORKERS` (0 on one core: everything is scanned in the caller's process).
- A worker gets paths, not bytes: it reads each file again (no link followed) and scans it only if its
  SHA-256 is the one the install's walk computed, so the bytes scanned are the bytes walked (and later
  re-checked before the rename); a file that changed comes back unscanned.
- Results are the very findings :func:`~kiroclaw_policy.engine.scan_file` returns in-process, keyed by
  path; :func:`~kiroclaw_policy.engine.scan_entries` uses them and scans anything missing itself. So a
  worker that dies, a file that changed, a pool that cannot start or the budget running out never leaves a
  file unscanned: the caller scans what did not come back (within its own budget).

Below :data:`POOL_MIN_BYTES` a worker's start (an interpreter, the engine's imports and the signatures'
compile, about 0.2 s) costs more than the second core saves, and everything stays in-process.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kiroclaw import StagedFile

    from .rules import Finding

__all__ = ["MAX_WORKERS", "POOL_MIN_BYTES", "prescan", "workers"]

#: Distinct bytes to scan from which worker processes help (bytes).
POOL_MIN_BYTES = 16 * 1024 * 1024
#: Bytes per chunk handed out: about 0.05 s of scanning, small enough to balance the ends of the queue.
CHUNK_BYTES = 2 * 1024 * 1024
#: Most worker processes started, whatever the core count.
MAX_WORKERS = 4

_LOCK = threading.Lock()
_POOL: list[ProcessPoolExecutor] = []
#: One file handed to a worker: (path in the add-on, absolute path, SHA-256 hex the walk saw).
Job = tuple[str, str, str]


def workers() -> int:
    """Worker processes this machine gets: the usable cores less one (the caller scans too), at most
    :data:`MAX_WORKERS`."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cores = os.cpu_count() or 1
    return max(0, min(cores - 1, MAX_WORKERS))


def _warm() -> None:
    from .engine import compiled_rules

    compiled_rules()


def _read(full: str, sha256: str) -> tuple[bytes, int] | None:
    """(first ``MAX_SCAN_BYTES`` bytes, size) of the file at ``full`` if its bytes are still the ones
    the walk hashed (``sha256``), else ``None``; links are not followed."""
    from .engine import MAX_SCAN_BYTES

    try:
        fd = os.open(full, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        digest, head, size = hashlib.sha256(), b"", 0
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
            if size < MAX_SCAN_BYTES:
                head += chunk[: MAX_SCAN_BYTES - size]
            size += len(chunk)
    return (head, size) if digest.hexdigest() == sha256 else None


def _scan_jobs(jobs: Sequence[Job]) -> tuple[int, list[tuple[str, list[Finding] | None]]]:
    """In a worker: (its process id, per job its path and findings, ``None`` for a file that changed or
    could not be read since the walk)."""
    from .engine import scan_file

    results: list[tuple[str, list[Finding] | None]] = []
    for rel, full, sha256 in jobs:
        read = _read(full, sha256)
        results.append((rel, None if read is None else scan_file(rel, read[0], read[1])))
    return os.getpid(), results


def _executor() -> ProcessPoolExecutor:
    import multiprocessing

    with _LOCK:
        if not _POOL:
            pool = ProcessPoolExecutor(workers(), mp_context=multiprocessing.get_context("spawn"), initializer=_warm)
            atexit.register(pool.shutdown, wait=False, cancel_futures=True)
            _POOL.append(pool)
        return _POOL[0]


def _discard(pool: ProcessPoolExecutor) -> None:
    """Forget a broken pool (the next large scan starts a new one)."""
    with _LOCK:
        if _POOL and _POOL[0] is pool:
            _POOL.clear()
    pool.shutdown(wait=False, cancel_futures=True)


def _chunks(files: Sequence[StagedFile]) -> list[list[Job]]:
    """One file of each distinct content and context (the first in walk order), largest first, in
    chunks of about :data:`CHUNK_BYTES`; empty when they add up to less than :data:`POOL_MIN_BYTES`."""
    from .engine import MAX_SCAN_BYTES, context_key

    seen: set[tuple[str, int, tuple[object, ...]]] = set()
    distinct: list[StagedFile] = []
    for staged in files:
        key = (staged.sha256, staged.size_bytes, context_key(staged.path))
        if key not in seen:
            seen.add(key)
            distinct.append(staged)
    if sum(min(f.size_bytes, MAX_SCAN_BYTES) for f in distinct) < POOL_MIN_BYTES:
        return []
    chunks: list[list[Job]] = []
    size = CHUNK_BYTES
    for staged in sorted(distinct, key=lambda f: -f.size_bytes):
        if size >= CHUNK_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append((staged.path, str(staged.full), staged.sha256))
        size += min(staged.size_bytes, MAX_SCAN_BYTES)
    return chunks


def prescan(
    files: Sequence[StagedFile], *, budget_seconds: float, steal: bool = True, stats: dict[str, int] | None = None
) -> dict[str, list[Finding]]:
    """Findings of the add-on's distinct files computed with the worker processes, keyed by path, for
    :func:`~kiroclaw_policy.engine.scan_entries`'s ``known``.

    Each file is read again where it is scanned and used only if its SHA-256 is the one the install's
    walk computed (``StagedFile.sha256``): the scanned bytes are the walked bytes. Empty when the add-on
    is small, the machine has one core or the pool cannot start; stops waiting after ``budget_seconds``
    and returns what came back.

    :param files: the install walk's files (``StagedFile``: path, absolute path, size, SHA-256).
    :param steal: scan chunks in this thread too (off in tests that need the workers to take them all).
    :param stats: if given, gets ``workers`` (processes that returned a chunk) and ``stolen`` (chunks
        scanned here).
    """
    chunks = _chunks(files) if workers() else []
    if not chunks:
        return {}
    deadline = time.monotonic() + budget_seconds
    try:
        pool = _executor()
        submitted = [(chunk, pool.submit(_scan_jobs, chunk)) for chunk in chunks]
    except Exception:  # no pool here (no semaphores, no processes): the caller scans it all
        return {}
    found: dict[str, list[Finding]] = {}
    pids: set[int] = set()
    stolen = 0
    for chunk, future in reversed(submitted) if steal else ():
        if time.monotonic() > deadline:
            break
        if future.cancel():  # no worker has taken it yet
            stolen += 1
            found.update((rel, done) for rel, done in _scan_jobs(chunk)[1] if done is not None)
    for _chunk, future in submitted:
        if future.cancelled():
            continue
        try:
            pid, results = future.result(timeout=max(deadline - time.monotonic(), 0))
        except FutureTimeout:
            break
        except Exception:  # a worker died (BrokenProcessPool) or failed: the caller scans its files
            _discard(pool)
            break
        pids.add(pid)
        found.update((rel, done) for rel, done in results if done is not None)
    for _chunk, future in submitted:
        future.cancel()
    if stats is not None:
        stats.update(workers=len(pids), stolen=stolen)
    return found
