"""The per-user session map (``{user}/sessions.json``): what one worker writes the next reads, an old shared
``sessions.db`` is read once on upgrade, and a map the user's agent tampered with starts a new session
instead of naming a path outside the agent's sessions."""

from __future__ import annotations

import json
from pathlib import Path

from kiroclaw.agent.sessions import SessionStore, UserSessionStore


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
