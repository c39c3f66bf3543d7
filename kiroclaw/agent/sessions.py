"""The session map: (user, thread) → ACP session id and chosen model.

It is what lets a conversation survive a restart of KiroClaw, or the user moving to another worker: the
next process for that thread sends ``session/load`` with the stored id (kiro-cli persists sessions under
``$KIRO_HOME/sessions/cli/``, inside the user's folder). Two stores, same interface:

* :class:`UserSessionStore` (default) — one small JSON file per user, ``{user folder}/sessions.json``,
  next to the sessions it points to, so it moves with the user's folder (``docs/scaling.md``) and every
  worker that serves the user reads the same map. Upgrades: a thread missing there is read once from the
  old shared ``WORKSPACE_BASE_PATH/sessions.db`` when that file exists.
* :class:`SessionStore` — embedded SQLite (stdlib ``sqlite3``, WAL journal) at ``SESSION_DB_PATH``, when
  that setting is given (one file for every user; not for workers on a network filesystem).

Every call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import StorageError

if TYPE_CHECKING:
    from ..config import Settings

log = logging.getLogger(__name__)

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

    :param path: the database file (``SESSION_DB_PATH``; earlier releases' default was
        ``WORKSPACE_BASE_PATH/sessions.db``); its folder is created.
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


class SessionMap(Protocol):
    """What the runtime needs of a session store (both stores here implement it)."""

    async def get(self, user_id: int, thread_id: int) -> StoredSession | None: ...
    async def set_session(self, user_id: int, thread_id: int, session_id: str | None) -> None: ...
    async def set_model(self, user_id: int, thread_id: int, model_id: str | None) -> None: ...
    async def close(self) -> None: ...


#: the file of a user's session map, in the user's folder.
SESSION_FILE = "sessions.json"
#: longest session or model id kept; ids are opaque strings from the agent (kiro-cli: UUIDs).
_MAX_ID_CHARS = 256
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+=-]*")


def _valid_id(value: Any) -> str | None:
    """``value`` when it is a plausible id (it names a lock file: no ``/``, no ``..``), else ``None``."""
    if isinstance(value, str) and len(value) <= _MAX_ID_CHARS and _SAFE_ID.fullmatch(value) and ".." not in value:
        return value
    return None


def _valid_model(value: Any) -> str | None:
    if isinstance(value, str) and 0 < len(value) <= _MAX_ID_CHARS and value.isprintable():
        return value
    return None


class UserSessionStore:
    """The session map kept per user: ``{WORKSPACE_BASE_PATH}/{user}/sessions.json``::

        {"schema_version": 1, "threads": {"0": {"session_id": "…", "model_id": null, "updated_at": 1.7e9}}}

    Written atomically (temp file, fsync, rename) under a file lock (``sessions.json.lock``), so two workers
    serving the user during a move never lose each other's write. The file sits in the user's folder,
    which the user's agent may write: what is read back is validated (an unreadable file or an id that is
    not an id counts as no entry, and is logged).

    :param workspace: ``WORKSPACE_BASE_PATH``.
    :param legacy: the old shared SQLite store to read a missing thread from once (upgrades), or ``None``.
    """

    def __init__(self, workspace: Path, *, legacy: Path | None = None) -> None:
        self.workspace = workspace
        self.legacy = SessionStore(legacy) if legacy is not None and legacy.is_file() else None

    def path(self, user_id: int) -> Path:
        """The map file of ``user_id``."""
        return self.workspace / str(int(user_id)) / SESSION_FILE

    def _read(self, path: Path) -> dict[str, dict[str, Any]]:
        try:
            doc = json.loads(path.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("session map %s unreadable (%s): starting new sessions", path, exc)
            return {}
        threads = doc.get("threads") if isinstance(doc, dict) else None
        if not isinstance(threads, dict):
            return {}
        return {str(k): v for k, v in threads.items() if isinstance(v, dict) and str(k).isdigit()}

    def _get(self, user_id: int, thread_id: int) -> StoredSession | None:
        row = self._read(self.path(user_id)).get(str(thread_id))
        if row is None:
            return None
        at = row.get("updated_at")
        return StoredSession(
            user_id,
            thread_id,
            _valid_id(row.get("session_id")),
            _valid_model(row.get("model_id")),
            float(at) if isinstance(at, int | float) else 0.0,
        )

    def _update(self, user_id: int, thread_id: int, **fields: str | None) -> None:
        import filelock

        from ..registry import atomic_write_bytes

        path = self.path(user_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        with filelock.FileLock(str(path) + ".lock", timeout=30):
            threads = self._read(path)
            row = dict(threads.get(str(thread_id), {}))
            row.update(fields, updated_at=time.time())
            threads[str(thread_id)] = {k: row.get(k) for k in ("session_id", "model_id", "updated_at")}
            doc = {"schema_version": 1, "threads": dict(sorted(threads.items(), key=lambda kv: int(kv[0])))}
            atomic_write_bytes(path, (json.dumps(doc, indent=1) + "\n").encode())

    async def get(self, user_id: int, thread_id: int) -> StoredSession | None:
        """The stored row of (user, thread), or ``None`` (then the old shared store's row, if any, is copied)."""
        found = await asyncio.to_thread(self._get, user_id, thread_id)
        if found is None and self.legacy is not None:
            try:
                old = await self.legacy.get(user_id, thread_id)
            except StorageError as exc:
                log.warning("old session store unreadable: %s", exc.detail)
                return None
            if old is not None:
                await asyncio.to_thread(
                    self._update, user_id, thread_id, session_id=old.session_id, model_id=old.model_id
                )
                return old
        return found

    async def set_session(self, user_id: int, thread_id: int, session_id: str | None) -> None:
        """Remember (or with ``None`` forget) the ACP session id of (user, thread); the model is kept."""
        await asyncio.to_thread(self._update, user_id, thread_id, session_id=session_id)

    async def set_model(self, user_id: int, thread_id: int, model_id: str | None) -> None:
        """Remember the model chosen for (user, thread); it is re-applied after a restart."""
        await asyncio.to_thread(self._update, user_id, thread_id, model_id=model_id)

    async def close(self) -> None:
        """Close the old shared store, if one was opened."""
        if self.legacy is not None:
            await self.legacy.close()


def session_store(settings: Settings) -> SessionMap:
    """The session map of ``settings``: SQLite at ``SESSION_DB_PATH`` when set, else per user."""
    if settings.session_db_path is not None:
        return SessionStore(settings.session_db_path)
    workspace = settings.workspace_base_path
    return UserSessionStore(workspace, legacy=workspace / "sessions.db")
