"""The session store: SQLite mapping (user, thread) → ACP session id and chosen model.

It is what lets a conversation survive a restart of KiroClaw: the next process for that thread sends
``session/load`` with the stored id (kiro-cli persists sessions under ``$KIRO_HOME/sessions/cli/``).
Embedded SQLite (stdlib ``sqlite3``, WAL journal), every call run in a worker thread.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import StorageError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    user_id     INTEGER NOT NULL,
    thread_id   INTEGER NOT NULL,
    session_id  TEXT,
    model_id    TEXT,
    updated_at  REAL NOT NULL,
    PRIMARY KEY (user_id, thread_id)
)
"""


@dataclass(frozen=True)
class StoredSession:
    """One row: the ACP session of a (user, thread), and the model the user picked.

    :ivar session_id: the ACP ``sessionId`` kiro-cli gave out, or ``None`` (only a model was chosen).
    :ivar model_id: the model set with ``/model``, or ``None`` (the agent's default).
    :ivar updated_at_s: Unix time of the last write, in seconds.
    """

    user_id: int
    thread_id: int
    session_id: str | None
    model_id: str | None
    updated_at_s: float


class SessionStore:
    """A small SQLite table; safe to share between coroutines (one connection behind a lock).

    :param path: the database file (``SESSION_DB_PATH``, default ``WORKSPACE_BASE_PATH/sessions.db``);
        its folder is created.
    :raises StorageError: the file cannot be opened or written.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(self.path, check_same_thread=False, timeout=10.0)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.execute(_SCHEMA)
                db.commit()
            except (OSError, sqlite3.Error) as exc:
                raise StorageError(
                    "the session store cannot be opened",
                    detail=f"{self.path}: {exc}",
                    fix="give the bot's OS user write access to the session store's folder (SESSION_DB_PATH)",
                    server=True,
                ) from exc
            self._db = db
        return self._db

    def _run(self, sql: str, args: tuple[object, ...]) -> list[tuple[Any, ...]]:
        with self._lock:
            db = self._connect()
            try:
                rows = db.execute(sql, args).fetchall()
                db.commit()
            except sqlite3.Error as exc:
                raise StorageError("the session store failed", detail=str(exc)) from exc
            return rows

    async def get(self, user_id: int, thread_id: int) -> StoredSession | None:
        """The stored row of (user, thread), or ``None``."""
        rows = await asyncio.to_thread(
            self._run,
            "SELECT user_id, thread_id, session_id, model_id, updated_at FROM sessions "
            "WHERE user_id = ? AND thread_id = ?",
            (user_id, thread_id),
        )
        if not rows:
            return None
        u, t, s, m, at = rows[0]
        return StoredSession(int(u), int(t), s, m, float(at))

    async def set_session(self, user_id: int, thread_id: int, session_id: str | None) -> None:
        """Remember (or with ``None`` forget) the ACP session id of (user, thread); the model is kept."""
        await asyncio.to_thread(
            self._run,
            "INSERT INTO sessions (user_id, thread_id, session_id, model_id, updated_at) VALUES (?, ?, ?, NULL, ?) "
            "ON CONFLICT (user_id, thread_id) DO UPDATE SET session_id = excluded.session_id, "
            "updated_at = excluded.updated_at",
            (user_id, thread_id, session_id, time.time()),
        )

    async def set_model(self, user_id: int, thread_id: int, model_id: str | None) -> None:
        """Remember the model chosen for (user, thread); it is re-applied after a restart."""
        await asyncio.to_thread(
            self._run,
            "INSERT INTO sessions (user_id, thread_id, session_id, model_id, updated_at) VALUES (?, ?, NULL, ?, ?) "
            "ON CONFLICT (user_id, thread_id) DO UPDATE SET model_id = excluded.model_id, "
            "updated_at = excluded.updated_at",
            (user_id, thread_id, model_id, time.time()),
        )

    async def close(self) -> None:
        """Close the connection (a later call reopens it)."""

        def _close() -> None:
            with self._lock:
                if self._db is not None:
                    self._db.close()
                    self._db = None

        await asyncio.to_thread(_close)
