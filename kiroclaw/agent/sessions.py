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
import math
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
#: a thread key of the map: a Telegram thread id in ASCII digits.
_THREAD_KEY = re.compile(r"[0-9]{1,20}")
#: largest map read, in bytes (a map of thousands of threads is far smaller); a larger file counts as no map.
MAX_MAP_BYTES = 1024 * 1024
#: latest ``updated_at`` accepted, in Unix seconds (year 5138); a later or non-finite time reads as 0.
_MAX_TIME_S = 1e11
#: folder beside the user folders (``WORKSPACE_BASE_PATH``) holding the session maps' lock files.
LOCK_FOLDER = ".kiroclaw-locks"


def _valid_id(value: Any) -> str | None:
    """``value`` when it is a plausible id (it names a lock file: no ``/``, no ``..``), else ``None``."""
    if isinstance(value, str) and len(value) <= _MAX_ID_CHARS and _SAFE_ID.fullmatch(value) and ".." not in value:
        return value
    return None


def _valid_model(value: Any) -> str | None:
    if isinstance(value, str) and 0 < len(value) <= _MAX_ID_CHARS and value.isprintable():
        return value
    return None


def _valid_row(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with only valid values: a bad id or model becomes ``None``, a time that is not a finite
    number of seconds in ``0 … 1e11`` becomes ``0.0``."""
    at = row.get("updated_at")
    seconds = 0.0
    if isinstance(at, int | float) and not isinstance(at, bool):
        try:
            seconds = float(at)
        except OverflowError:
            seconds = 0.0
        if not (math.isfinite(seconds) and 0.0 <= seconds <= _MAX_TIME_S):
            seconds = 0.0
    return {
        "session_id": _valid_id(row.get("session_id")),
        "model_id": _valid_model(row.get("model_id")),
        "updated_at": seconds,
    }


class UserSessionStore:
    """The session map kept per user: ``{WORKSPACE_BASE_PATH}/{user}/sessions.json``::

        {"schema_version": 1, "threads": {"0": {"session_id": "…", "model_id": null, "updated_at": 1.7e9}}}

    Written atomically (temp file, fsync, rename) under a file lock (:meth:`lock_path`, beside the user
    folders), so two workers serving the user during a move never lose each other's write. The file sits in
    the user's folder, which the user's agent may write, so it is read without following a link or
    blocking, as a regular file of at most :data:`MAX_MAP_BYTES`; anything else (a link, a FIFO, a larger
    or malformed file) counts as no map and is logged. Of what is read, a thread key that is not ASCII
    digits is dropped, an id that is not an id reads as ``None`` and a time that is not a plausible Unix
    time reads as 0.

    :raises StorageError: (writes) the map or its lock cannot be written, or the lock is held for 30 s.

    :param workspace: ``WORKSPACE_BASE_PATH``.
    :param legacy: the old shared SQLite store to read a missing thread from once (upgrades), or ``None``.
    """

    def __init__(self, workspace: Path, *, legacy: Path | None = None) -> None:
        self.workspace = workspace
        self.legacy = SessionStore(legacy) if legacy is not None and legacy.is_file() else None

    def path(self, user_id: int) -> Path:
        """The map file of ``user_id``."""
        return self.workspace / str(int(user_id)) / SESSION_FILE

    def lock_path(self, user_id: int) -> Path:
        """The lock of ``user_id``'s map: ``{WORKSPACE_BASE_PATH}/.kiroclaw-locks/{user}.sessions.lock``, beside
        the user folders (the agent cannot replace it with a link)."""
        return self.workspace / LOCK_FOLDER / f"{int(user_id)}.sessions.lock"

    def _read(self, user_id: int) -> dict[str, dict[str, Any]]:
        """The valid rows of ``user_id``'s map by thread key; anything unreadable counts as no map."""
        from ..errors import UnsafeContentError
        from ..safefs import read_beneath

        path = self.path(user_id)
        try:
            doc = json.loads(read_beneath(path.parent, SESSION_FILE, max_bytes=MAX_MAP_BYTES))
        except FileNotFoundError:
            return {}
        except (OSError, UnsafeContentError, ValueError, RecursionError) as exc:
            log.warning("session map %s unreadable (%s): starting new sessions", path, exc)
            return {}
        threads = doc.get("threads") if isinstance(doc, dict) else None
        if not isinstance(threads, dict):
            return {}
        return {k: _valid_row(v) for k, v in threads.items() if _THREAD_KEY.fullmatch(k) and isinstance(v, dict)}

    def _get(self, user_id: int, thread_id: int) -> StoredSession | None:
        row = self._read(user_id).get(str(thread_id))
        if row is None:
            return None
        return StoredSession(user_id, thread_id, row["session_id"], row["model_id"], row["updated_at"])

    def _update(self, user_id: int, thread_id: int, **fields: str | None) -> None:
        import filelock

        from ..registry import atomic_write_bytes

        path, lock = self.path(user_id), self.lock_path(user_id)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            lock.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with filelock.FileLock(str(lock), timeout=30):
                threads = self._read(user_id)
                row = dict(threads.get(str(thread_id), {}))
                row.update(fields, updated_at=time.time())
                threads[str(thread_id)] = {k: row.get(k) for k in ("session_id", "model_id", "updated_at")}
                doc = {"schema_version": 1, "threads": dict(sorted(threads.items(), key=lambda kv: int(kv[0])))}
                atomic_write_bytes(path, (json.dumps(doc, indent=1) + "\n").encode())
        except (OSError, filelock.Timeout) as exc:
            raise StorageError(
                "the session map cannot be written",
                detail=f"{path}: {exc}",
                fix="give the bot's OS user write access to WORKSPACE_BASE_PATH",
                server=True,
            ) from exc

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
