"""AgentRuntime and ProcessPool behaviour beyond the acceptance list: permissions, files, locks, limits."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kiroclaw.agent.acp_client import build_env, pid_alive
from kiroclaw.agent.runtime import AgentRuntime, AgentUpdate
from kiroclaw.agent.sessions import session_store
from kiroclaw.config import Settings
from kiroclaw.errors import AgentError
from kiroclaw.host import Host

from .conftest import STANDIN, agent_processes


def _runtime(settings: Settings, **changes: object) -> AgentRuntime:
    return AgentRuntime(Host(settings.model_copy(update=changes)))


async def test_permission_requests_follow_the_policy(agent_settings: Settings) -> None:
    updates: list[AgentUpdate] = []

    async def on_update(update: AgentUpdate) -> None:
        updates.append(update)

    allow = _runtime(agent_settings, permission_policy="allow")  # the default is now "ask"
    try:
        result = await allow.prompt(42, 0, "permission", on_update=on_update)
        assert result.text == "permission granted"
        kinds = [(u.kind, u.status) for u in updates if u.kind.startswith("tool")]
        assert kinds == [("tool_call", "pending"), ("tool_call_update", "completed")]
    finally:
        await allow.aclose()
    deny = _runtime(agent_settings, permission_policy="deny")
    try:
        assert (await deny.prompt(42, 0, "permission")).text == "permission denied"
    finally:
        await deny.aclose()


async def test_ask_policy_passes_the_agents_options_and_applies_the_answer(agent_settings: Settings) -> None:
    from kiroclaw.agent.runtime import PermissionRequest

    asked: list[PermissionRequest] = []

    async def grant(request: PermissionRequest) -> str | None:
        asked.append(request)
        return request.options[0][0]

    async def refuse(request: PermissionRequest) -> str | None:
        return None

    runtime = _runtime(agent_settings)
    assert runtime.host.settings.permission_policy == "ask"  # the default
    try:
        assert (await runtime.prompt(42, 0, "permission", on_permission=grant)).text == "permission granted"
        assert asked == [
            PermissionRequest(
                "Run shell command",
                "other",
                (("allow", "Yes", "allow_once"), ("trust", "Always", "allow_always"), ("deny", "No", "reject_once")),
            )
        ]
        assert (await runtime.prompt(42, 0, "permission", on_permission=refuse)).text == "permission denied"
        assert (await runtime.prompt(42, 0, "permission")).text == "permission denied"  # nobody to ask
    finally:
        await runtime.aclose()


async def test_unanswered_permission_is_rejected_after_the_timeout(agent_settings: Settings) -> None:
    from kiroclaw.agent.settings import AgentSettings

    async def never(request: object) -> str | None:
        await asyncio.sleep(3600)
        return None

    runtime = AgentRuntime(Host(agent_settings), agent_settings=AgentSettings(permission_timeout_seconds=0.5))
    try:
        assert (await runtime.prompt(42, 0, "permission", on_permission=never)).text == "permission denied"
    finally:
        await runtime.aclose()


async def test_cancel_while_a_permission_question_waits_ends_the_turn(agent_settings: Settings) -> None:
    asked = asyncio.Event()

    async def wait(request: object) -> str | None:
        asked.set()
        await asyncio.sleep(3600)
        return None

    runtime = _runtime(agent_settings)
    try:
        turn = asyncio.create_task(runtime.prompt(42, 0, "permission", on_permission=wait))
        await asyncio.wait_for(asked.wait(), 20)
        assert await runtime.cancel(42, 0)
        result = await asyncio.wait_for(turn, 20)
        assert result.stop_reason == "cancelled" and result.text == "permission denied"
    finally:
        await runtime.aclose()


async def test_files_written_to_outbox_are_returned_and_moved(runtime: AgentRuntime, workspace: Path) -> None:
    thread = workspace / "42" / "5"
    first = await runtime.prompt(42, 5, "write file report.txt all good")
    assert [p.name for p in first.files] == ["report.txt"]
    assert first.files[0] == (thread / "sent" / "report.txt").absolute()
    assert first.files[0].read_text() == "all good"
    assert list((thread / "outbox").iterdir()) == []
    second = await runtime.prompt(42, 5, "write file report.txt again")
    assert [p.name for p in second.files] == ["report-1.txt"]
    # a link planted in outbox is never sent
    (thread / "outbox" / "secret").symlink_to("/etc/passwd")
    third = await runtime.prompt(42, 5, "echo nothing to send")
    assert third.files == []
    assert (await runtime.prompt(42, 5, "echo plain")).files == []


async def test_attachments_are_named_in_the_prompt(runtime: AgentRuntime, workspace: Path) -> None:
    inbox = workspace / "42" / "0" / "inbox"
    inbox.mkdir(parents=True)
    (inbox / "photo.jpg").write_bytes(b"x")
    result = await runtime.prompt(42, 0, "look", attachments=[inbox / "photo.jpg"])
    assert result.text == "I got: look \n\nAttached files:\n- inbox/photo.jpg"


async def test_stale_session_lock_of_a_leftover_agent_is_cleared(agent_host: Host, workspace: Path) -> None:
    first = AgentRuntime(agent_host)
    await first.prompt(42, 0, "remember this")
    await first.aclose()
    stored = await session_store(agent_host.settings).get(42, 0)
    assert stored is not None and stored.session_id
    # an agent left over from an earlier run, holding the session (same KIRO_HOME)
    home = (workspace / "42" / ".kiro").resolve()
    cwd = workspace / "42" / "0"
    leftover = subprocess.Popen(
        [sys.executable, str(STANDIN), "acp", "--agent", "kiroclaw", "--agent-engine", "v2"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=build_env(home),
        cwd=cwd,
        start_new_session=True,
    )
    try:
        lock = home / "sessions" / "cli" / f"{stored.session_id}.lock"
        lock.write_text(str(leftover.pid))
        second = AgentRuntime(Host(agent_host.settings))
        try:
            result = await second.prompt(42, 0, "history")
            assert result.text == "remember this"  # the same conversation, loaded after the recovery
            assert await asyncio.to_thread(leftover.wait, 5) is not None
        finally:
            await second.aclose()
    finally:
        if leftover.poll() is None:
            leftover.kill()
            leftover.wait()


async def test_lock_held_by_a_foreign_process_is_left_alone(agent_host: Host, workspace: Path) -> None:
    first = AgentRuntime(agent_host)
    await first.prompt(42, 0, "remember this")
    await first.aclose()
    stored = await session_store(agent_host.settings).get(42, 0)
    assert stored is not None and stored.session_id
    foreign = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        lock = workspace / "42" / ".kiro" / "sessions" / "cli" / f"{stored.session_id}.lock"
        lock.write_text(str(foreign.pid))
        second = AgentRuntime(Host(agent_host.settings))
        try:
            assert (await second.prompt(42, 0, "history")).text == "(no history)"  # a new session instead
        finally:
            await second.aclose()
        assert foreign.poll() is None
        new = await session_store(agent_host.settings).get(42, 0)
        assert new is not None and new.session_id != stored.session_id
    finally:
        foreign.kill()
        foreign.wait()


async def test_per_user_limit_evicts_the_users_own_idle_process(agent_settings: Settings, workspace: Path) -> None:
    rt = _runtime(agent_settings, max_processes=5, max_processes_per_user=1)
    try:
        pid_a = int((await rt.prompt(42, 1, "pid")).text)
        pid_43 = int((await rt.prompt(43, 1, "pid")).text)
        pid_b = int((await rt.prompt(42, 2, "pid")).text)
        assert pid_b != pid_a and not pid_alive(pid_a) and pid_alive(pid_43)
        assert len(agent_processes(workspace)) == 2
        # thread 1 comes back with its conversation
        assert (await rt.prompt(42, 1, "history")).text == "pid"
    finally:
        await rt.aclose()


async def test_global_limit_evicts_others_idle_then_queues(agent_settings: Settings, workspace: Path) -> None:
    rt = _runtime(agent_settings, max_processes=2, max_processes_per_user=1)
    try:
        pid_42 = int((await rt.prompt(42, 0, "pid")).text)
        await rt.prompt(43, 0, "pid")
        await rt.prompt(44, 0, "pid")  # the oldest idle process (user 42) made room
        assert not pid_alive(pid_42)
        assert len(agent_processes(workspace)) == 2

        started = asyncio.Event()

        async def on_update(update: AgentUpdate) -> None:
            if update.kind == "text":
                started.set()

        busy_43 = asyncio.create_task(rt.prompt(43, 0, "slow a b c d e", on_update=on_update))
        busy_44 = asyncio.create_task(rt.prompt(44, 0, "slow a b c d e"))
        await asyncio.wait_for(started.wait(), 20)
        t0 = time.monotonic()
        waiting = await rt.prompt(45, 0, "echo finally")  # both slots busy: waits for a release
        assert waiting.text == "finally"
        assert time.monotonic() - t0 > 0.3
        assert (await busy_43).stop_reason == "end_turn"
        await busy_44
        assert len(agent_processes(workspace)) <= 2
    finally:
        await rt.aclose()
    assert agent_processes(workspace) == []


async def test_turns_in_one_thread_run_one_at_a_time(runtime: AgentRuntime) -> None:
    a = asyncio.create_task(runtime.prompt(42, 0, "slow one two three"))
    await asyncio.sleep(0.05)
    b = asyncio.create_task(runtime.prompt(42, 0, "echo after"))
    ra, rb = await asyncio.gather(a, b)
    assert (ra.text, rb.text) == ("one two three", "after")
    assert (await runtime.prompt(42, 0, "history")).text.splitlines() == ["slow one two three", "echo after"]


async def test_idle_processes_are_reaped(agent_settings: Settings, workspace: Path) -> None:
    rt = _runtime(agent_settings, idle_timeout_seconds=0.3)
    try:
        await rt.prompt(42, 0, "echo hi")
        assert len(agent_processes(workspace)) == 1
        for _ in range(50):
            await asyncio.sleep(0.1)
            if not agent_processes(workspace):
                break
        assert agent_processes(workspace) == []
        assert (await rt.prompt(42, 0, "history")).text == "echo hi"  # restarted on demand
    finally:
        await rt.aclose()


async def test_models_can_be_listed_and_set(runtime: AgentRuntime) -> None:
    current, models = await runtime.list_models(42, 0)
    assert current == "auto" and models == ["auto", "claude-sonnet-4", "claude-haiku-4.5"]
    with pytest.raises(AgentError, match="unknown model"):
        await runtime.set_model(42, 0, "gpt-0")
    await runtime.set_model(42, 0, "claude-haiku-4.5")
    assert (await runtime.list_models(42, 0))[0] == "claude-haiku-4.5"


async def test_missing_or_broken_agent_program(agent_settings: Settings, tmp_path: Path) -> None:
    missing = _runtime(agent_settings, kiro_cli_path=str(tmp_path / "nope" / "kiro-cli"))
    try:
        with pytest.raises(AgentError, match="not installed"):
            await missing.prompt(42, 0, "hi")
    finally:
        await missing.aclose()
    broken = tmp_path / "broken-kiro-cli"
    broken.write_text("#!/bin/sh\necho 'error: not logged in' >&2\nexit 1\n")
    broken.chmod(0o755)
    rt = _runtime(agent_settings, kiro_cli_path=str(broken))
    try:
        with pytest.raises(AgentError) as info:
            await rt.prompt(42, 0, "hi")
        assert "not logged in" in (info.value.detail or "")
        assert "not logged in" not in info.value.user_message
    finally:
        await rt.aclose()


async def test_agent_environment_is_minimal(
    runtime: AgentRuntime, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOT_TOKEN", "123:secret")
    monkeypatch.setenv("XDG_DATA_HOME", "/tmp/xdg-data")
    pid = int((await runtime.prompt(42, 0, "pid")).text)
    environ = dict(item.split("=", 1) for item in Path(f"/proc/{pid}/environ").read_text().split("\0") if "=" in item)
    assert "BOT_TOKEN" not in environ
    assert environ["XDG_DATA_HOME"] == "/tmp/xdg-data"
    assert environ["KIRO_HOME"] == str((workspace / "42" / ".kiro").resolve())
    assert os.readlink(f"/proc/{pid}/cwd") == str((workspace / "42" / "0").resolve())
    assert os.getpgid(pid) == pid  # its own process group


async def test_kiro_extension_notifications_are_tolerated_and_logged(
    runtime: AgentRuntime, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    with caplog.at_level(logging.DEBUG, logger="kiroclaw.agent.acp_client"):
        assert (await runtime.prompt(42, 0, "echo fine")).text == "fine"
        await asyncio.sleep(0.1)
    ignored = [r.getMessage() for r in caplog.records if "extension notification" in r.getMessage()]
    assert any("_kiro.dev/metadata" in m for m in ignored)
    assert any("_kiro.dev/commands/available" in m for m in ignored)


async def test_an_abandoned_turn_is_cancelled_and_leaks_nothing_into_the_next(agent_settings: Settings) -> None:
    runtime = _runtime(agent_settings)
    first_chunk = asyncio.Event()

    async def on_update(update: AgentUpdate) -> None:
        if update.kind == "text":
            first_chunk.set()

    try:
        await runtime.prompt(42, 0, "echo warm")
        old_pid = runtime.pool.get(42, 0).process.pid  # type: ignore[union-attr]
        turn = asyncio.create_task(
            runtime.prompt(42, 0, "slow " + " ".join(f"w{i}" for i in range(30)), on_update=on_update)
        )
        await asyncio.wait_for(first_chunk.wait(), 20)
        turn.cancel()  # the caller goes away (a dropped update handler, a shutdown)
        with pytest.raises(asyncio.CancelledError):
            await turn
        after = await runtime.prompt(42, 0, "echo fresh")
        assert after.text == "fresh"
        assert runtime.pool.get(42, 0).process.pid != old_pid  # type: ignore[union-attr]
        assert (await runtime.prompt(42, 0, "history")).text.splitlines()[-1] == "echo fresh"
    finally:
        await runtime.aclose()


async def test_a_turn_past_the_timeout_is_stopped_with_a_clear_message(agent_settings: Settings) -> None:
    from kiroclaw.agent.settings import AgentSettings

    runtime = AgentRuntime(
        Host(agent_settings), agent_settings=AgentSettings(_env_file=None, agent_turn_timeout_seconds=1)
    )  # type: ignore[call-arg]
    try:
        with pytest.raises(AgentError) as error:
            await runtime.prompt(42, 0, "stubborn " + " ".join(f"w{i}" for i in range(30)))
        assert error.value.user_message == "the agent took longer than 1 s and was stopped; send your message again"
        assert (await runtime.prompt(42, 0, "echo next")).text == "next"
    finally:
        await runtime.aclose()
