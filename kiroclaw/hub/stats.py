"""Download counts of a served catalog, kept in SQLite next to it (``CATALOG_DIR/.kirohub/stats.sqlite3``).

``kiroclaw hub serve`` records one download per successful ``GET /api/v1/download`` (per slug and
version) and reports the totals through the ClawHub fields every client reads: ``downloads`` on search
rows and ``skill.stats.downloads`` on list and skill-info answers (``kirohub-protocol.md`` §4). A count
in ``skill.json``'s ``stats.downloads`` (say, imported from another registry) is a base the served
downloads are added to.

The folder starts with a dot, so the catalog never mistakes it for a skill and a version's files never
include it. Readers that only read (the ``file:`` registry mode) never create the database. A catalog
the server may not write to still serves: counting is then kept in memory for the process's lifetime
(logged once at WARNING).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections import Counter
from pathlib import Path

log = logging.getLogger(__name__)

#: Where the counts live, relative to the catalog folder.
STATS_PATH = Path(".kirohub") / "stats.sqlite3"

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS downloads ("
    " slug TEXT NOT NULL, version TEXT NOT NULL, count INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY (slug, version))"
)


class DownloadCounts:
    """Per ``(slug, version)`` download counts of one catalog. Thread-safe (one lock, short transactions).

    :param catalog_root: the catalog folder; the database is ``catalog_root/.kirohub/stats.sqlite3``.
    """

    def __init__(self, catalog_root: Path) -> None:
        self.path = Path(catalog_root) / STATS_PATH
        self._lock = threading.Lock()
        self._memory: Counter[tuple[str, str]] = Counter()  # used when the database cannot be written
        self._failed = False
        self._conn: sqlite3.Connection | None = None  # opened once the database exists, kept open

    def _connect(self, *, create: bool) -> sqlite3.Connection | None:
        """The open connection (call with the lock held); ``None`` when there is no database and
        ``create`` is false."""
        if self._conn is None:
            if not create and not self.path.exists():
                return None
            if create:
                self.path.parent.mkdir(mode=0o755, exist_ok=True)
            self._conn = sqlite3.connect(self.path, timeout=5.0, check_same_thread=False)
        if create:
            self._conn.execute(_SCHEMA)
        return self._conn

    def record(self, slug: str, version: str) -> None:
        """Count one download of ``slug`` ``version`` (never raises: a full disk must not fail a download)."""
        with self._lock:
            if not self._failed:
                try:
                    conn = self._connect(create=True)
                    assert conn is not None
                    with conn:
                        conn.execute(
                            "INSERT INTO downloads (slug, version, count) VALUES (?, ?, 1) "
                            "ON CONFLICT (slug, version) DO UPDATE SET count = count + 1",
                            (slug, version),
                        )
                    return
                except (OSError, sqlite3.Error) as exc:
                    self._failed = True
                    log.warning("cannot store download counts in %s (%s); counting in memory", self.path, exc)
            self._memory[(slug, version)] += 1

    def _rows(self, query: str, args: tuple[str, ...]) -> list[tuple[str, str, int]]:
        """``(slug, version, count)`` rows of the database (none when it does not exist yet)."""
        with self._lock:
            try:
                conn = self._connect(create=False)
            except (OSError, sqlite3.Error):
                return []
            if conn is None:
                return []
            try:
                return [(str(s), str(v), int(n)) for s, v, n in conn.execute(query, args).fetchall()]
            except sqlite3.Error:  # a database without the table yet (created by another process)
                return []

    def totals(self) -> dict[str, int]:
        """``{slug: downloads of every version}`` served so far."""
        result: Counter[str] = Counter()
        for (slug, _version), count in list(self._memory.items()):
            result[slug] += count
        for slug, _version, count in self._rows("SELECT slug, version, count FROM downloads", ()):
            result[slug] += count
        return dict(result)

    def per_version(self, slug: str) -> dict[str, int]:
        """``{version: downloads}`` of ``slug`` served so far (empty when nothing was downloaded)."""
        result: Counter[str] = Counter({v: n for (s, v), n in list(self._memory.items()) if s == slug})
        for _slug, version, count in self._rows("SELECT slug, version, count FROM downloads WHERE slug = ?", (slug,)):
            result[version] += count
        return dict(result)

    def close(self) -> None:
        """Close the database connection (it reopens on the next use)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
