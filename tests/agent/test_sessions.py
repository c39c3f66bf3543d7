"""The per-user session map (``{user}/sessions.json``): what one worker writes the next reads, an old shared
``sessions.db`` is read once on upgrade, and a map the user's agent tampered with starts a new session
instead of naming a path outside the agent's sessions."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from kiroclaw.agent.sessions import SessionStore, UserSessionStore
from kiroclaw.errors import StorageError


async def test_map_is_per_user_and_shared_by_every_reader(tmp_path: Path) -> None:
    first, second = UserSessionStore(tmp_path), UserSessionStore(tmp_path)  # two workers, one workspace
    await first.set_session(111, 0, "a1b2-session")
    await first.set_model(111, 0, "anthropic/claude-sonnet-4.5")
    await second.set_session(111, 7, "thread-seven")
    await second.set_session(222, 0, "bobs")
    stored = await second.get(111, 0)
    assert stored is not None and (stored.session_id, stored.model_id) == (
        "a1b2-session",
        "anthropic/claude-sonnet-4.5",
    )
    assert (await first.get(111, 7)).session_id == "thread-seven"  # type: ignore[union-attr]
    assert json.loads((tmp_path / "222" / "sessions.json").read_text())["threads"]["0"]["session_id"] == "bobs"
    assert await first.get(333, 0) is None
    await first.set_session(111, 0, None)  # /new
    assert (await second.get(111, 0)).session_id is None  # type: ignore[union-attr]


async def test_old_shared_store_is_read_once(tmp_path: Path) -> None:
    old = SessionStore(tmp_path / "sessions.db")
    await old.set_session(111, 0, "from-before")
    await old.set_model(111, 0, "m1")
    await old.close()
    store = UserSessionStore(tmp_path, legacy=tmp_path / "sessions.db")
    stored = await store.get(111, 0)
    assert stored is not None and (stored.session_id, stored.model_id) == ("from-before", "m1")
    assert json.loads((tmp_path / "111" / "sessions.json").read_text())["threads"]["0"]["session_id"] == "from-before"
    await store.close()


async def test_tampered_map_starts_a_new_session(tmp_path: Path) -> None:
    store = UserSessionStore(tmp_path)
    path = tmp_path / "111" / "sessions.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"threads": {"0": {"session_id": "../../222/.kiro/x"}, "1": {"session_id": 5}}}))
    assert (await store.get(111, 0)).session_id is None  # type: ignore[union-attr]
    assert (await store.get(111, 1)).session_id is None  # type: ignore[union-attr]
    path.write_text("{not json")
    assert await store.get(111, 0) is None
    await store.set_session(111, 0, "fresh")  # an unreadable map is replaced, not a dead end
    assert (await store.get(111, 0)).session_id == "fresh"  # type: ignore[union-attr]


def _get_in_child(workspace: Path, user_id: int, thread_id: int) -> subprocess.CompletedProcess[str]:
    """``UserSessionStore.get`` in a child process with 1 GiB of address space and 30 s, so a read that
    blocks or never ends fails the test instead of hanging it or filling the machine's memory."""
    code = (
        "import asyncio, logging, sys; from pathlib import Path; logging.basicConfig(level=logging.WARNING); "
        "from kiroclaw.agent.sessions import UserSessionStore; "
        f"row = asyncio.run(UserSessionStore(Path(sys.argv[1])).get({user_id}, {thread_id})); "
        "print(None if row is None else (row.session_id, row.updated_at_s))"
    )

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    return subprocess.run(
        [sys.executable, "-c", code, str(workspace)], capture_output=True, text=True, timeout=30, preexec_fn=cap
    )


@pytest.mark.parametrize("kind", ["fifo", "link-to-dev-zero", "link-to-another-map", "oversized"])
async def test_a_map_that_is_not_a_small_regular_file_is_no_map(tmp_path: Path, kind: str) -> None:
    """The agent can put anything at ``sessions.json``: it is never followed, waited on or read past
    1 MiB; the thread starts a new session (logged), and the next write replaces it."""
    folder = tmp_path / "111"
    folder.mkdir()
    path = folder / "sessions.json"
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps({"threads": {"0": {"session_id": "someone-elses"}}}))
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "link-to-dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "link-to-another-map":
        path.symlink_to(elsewhere)
    else:
        doc = {"threads": {"0": {"session_id": "padded"}}, "pad": "x" * (1024 * 1024)}
        path.write_text(json.dumps(doc))
    try:
        out = _get_in_child(tmp_path, 111, 0)
    except subprocess.TimeoutExpired:
        pytest.fail(f"reading a {kind} as the session map hung")
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "None"
    assert "session map" in out.stderr and "starting new sessions" in out.stderr
    store = UserSessionStore(tmp_path)
    await store.set_session(111, 0, "fresh")
    assert (await store.get(111, 0)).session_id == "fresh"  # type: ignore[union-attr]
    assert path.is_file() and not path.is_symlink()
    assert json.loads(elsewhere.read_text())["threads"]["0"]["session_id"] == "someone-elses"


async def test_bad_thread_keys_and_times_are_dropped(tmp_path: Path) -> None:
    """Keys that are not ASCII digits ("²" is a digit to ``str.isdigit``) are dropped, and a time that is
    not a finite plausible Unix time reads as 0; the rest of the map still works."""
    path = tmp_path / "111" / "sessions.json"
    path.parent.mkdir()
    threads = {
        "²": {"session_id": "superscript"},
        "٣": {"session_id": "arabic-three"},
        "1" * 21: {"session_id": "too-long"},
        "0": {"session_id": "huge-int", "updated_at": 10**400},
        "1": {"session_id": "infinite", "updated_at": 1e400},
        "2": {"session_id": "negative", "updated_at": -5},
        "3": {"session_id": "boolean", "updated_at": True},
        "4": {"session_id": "kept", "updated_at": 1.7e9},
    }
    path.write_text(json.dumps({"threads": threads}))
    store = UserSessionStore(tmp_path)
    for thread, session in enumerate(["huge-int", "infinite", "negative", "boolean"]):
        row = await store.get(111, thread)
        assert row is not None and (row.session_id, row.updated_at_s) == (session, 0.0)
    assert (await store.get(111, 4)).updated_at_s == 1.7e9  # type: ignore[union-attr]
    await store.set_session(111, 5, "new")  # a write keeps the valid rows and drops the rest
    written = json.loads(path.read_text())["threads"]
    assert sorted(written, key=int) == ["0", "1", "2", "3", "4", "5"]
    assert written["0"]["updated_at"] == 0.0 and written["4"]["session_id"] == "kept"


async def test_the_lock_is_outside_the_users_folder_and_failures_are_storage_errors(tmp_path: Path) -> None:
    """The map's lock file is bot-owned, beside the user folders: a link the agent leaves in its folder
    is never opened. A lock that cannot be taken is a :class:`StorageError`, not a crash."""
    folder = tmp_path / "111"
    folder.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (folder / "sessions.json.lock").symlink_to(victim)
    store = UserSessionStore(tmp_path)
    await store.set_session(111, 0, "s1")
    assert victim.read_text() == "keep me"
    assert store.lock_path(111).is_file() and not store.lock_path(111).is_relative_to(folder)
    blocked = UserSessionStore(tmp_path / "other")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / ".kiroclaw-locks").write_text("not a folder")
    with pytest.raises(StorageError):
        await blocked.set_session(111, 0, "s2")
