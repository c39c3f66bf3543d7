"""Issue acceptance: each user's agent discovers exactly their effective skill set; conversations survive a
restart; cancel, crash and shutdown behave. The agent is the stand-in kiro-cli, run as a real subprocess."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from kiroclaw.agent.runtime import AgentRuntime, AgentUpdate
from kiroclaw.errors import AgentError
from kiroclaw.host import Host
from kiroclaw.workspaces import Scope

from ..conftest import write_package, write_skill
from .conftest import agent_processes


async def _list(runtime: AgentRuntime, user: int, thread: int = 0) -> list[str]:
    result = await runtime.prompt(user, thread, "list skills")
    assert result.stop_reason == "end_turn"
    return [line for line in result.text.splitlines() if line]


@pytest.fixture
def sources(tmp_path: Path) -> dict[str, Path]:
    """Add-on folders for the local source: X (standalone), P (package of two), G (global), own G (user)."""
    src = tmp_path / "src"
    return {
        "X": write_skill(src / "x", "weather-api", "Looks up the weather for a city."),
        "P": write_package(src / "toolbox", skills=("alpha-tool", "beta-tool")),
        "G": write_skill(src / "g-global", "greeter", "Greets people, the global version."),
        "G2": write_skill(src / "g-user", "greeter", "Greets people, the user's own version."),
    }


async def test_each_user_sees_exactly_their_effective_set(
    agent_host: Host, runtime: AgentRuntime, sources: dict[str, Path], workspace: Path
) -> None:
    addons = agent_host.addons
    await addons.install(str(sources["X"]), Scope.user(42), assume_yes=True)
    await addons.install(str(sources["P"]), Scope.user(42), assume_yes=True)
    await addons.install(str(sources["G"]), Scope.global_(), assume_yes=True)

    assert await _list(runtime, 42) == ["alpha-tool", "beta-tool", "greeter", "weather-api"]
    assert await _list(runtime, 43) == ["greeter"]

    package = next(r.name for r in addons.list(Scope.user(42)) if r.kind == "plugin")
    await addons.disable(package, Scope.user(42))
    await addons.install(str(sources["G2"]), Scope.user(42), assume_yes=True)

    # the warm process of user 42 is restarted because their add-ons changed
    assert await _list(runtime, 42) == ["greeter", "weather-api"]
    paths = (await runtime.prompt(42, 0, "list skill paths")).text.splitlines()
    user_home = (workspace / "42" / ".kiro").resolve()
    skills = user_home / "skills"
    assert paths == [f"greeter {skills / 'greeter'}", f"weather-api {skills / 'weather-api'}"]
    assert await _list(runtime, 43) == ["greeter"]

    effective = agent_host.effective_set(42)
    shadowed = [(s.name, s.layer, s.shadowed_by_layer) for s in effective.shadowed_skills]
    assert ("greeter", "global", "user") in shadowed
    # nothing of user 42 leaks into 43's home
    home43 = (workspace / "43" / ".kiro" / "agents" / "kiroclaw.json").read_text()
    assert "/42/" not in home43


async def test_disabled_standalone_skill_in_home_is_invisible(
    agent_host: Host, runtime: AgentRuntime, sources: dict[str, Path], workspace: Path
) -> None:
    await agent_host.addons.install(str(sources["X"]), Scope.user(42), assume_yes=True)
    await agent_host.addons.install(str(sources["G2"]), Scope.user(42), assume_yes=True)
    assert await _list(runtime, 42) == ["greeter", "weather-api"]
    await agent_host.addons.disable("weather-api", Scope.user(42))
    assert (workspace / "42" / ".kiro" / "skills" / "weather-api" / "SKILL.md").is_file()  # still on disk
    assert await _list(runtime, 42) == ["greeter"]
    await agent_host.addons.enable("weather-api", Scope.user(42))
    assert await _list(runtime, 42) == ["greeter", "weather-api"]


async def test_conversation_survives_a_restart(agent_host: Host, workspace: Path) -> None:
    first = AgentRuntime(agent_host)
    try:
        await first.prompt(42, 7, "remember the blue door")
        await first.prompt(42, 7, "and the red key")
        await first.set_model(42, 7, "claude-sonnet-4")
    finally:
        await first.aclose()
    assert agent_processes(workspace) == []

    second = AgentRuntime(Host(agent_host.settings))
    try:
        history = await second.prompt(42, 7, "history")
        assert history.text.splitlines() == ["remember the blue door", "and the red key"]
        assert (await second.prompt(42, 7, "model")).text == "claude-sonnet-4"
        current, models = await second.list_models(42, 7)
        assert current == "claude-sonnet-4" and "auto" in models
        # another thread of the same user is another conversation
        assert (await second.prompt(42, 8, "history")).text == "(no history)"
        await second.new_session(42, 7)
        assert (await second.prompt(42, 7, "history")).text == "(no history)"
    finally:
        await second.aclose()


async def test_cancel_mid_stream_returns_what_was_streamed(runtime: AgentRuntime) -> None:
    chunks: list[str] = []
    three = asyncio.Event()

    async def on_update(update: AgentUpdate) -> None:
        if update.kind == "text":
            chunks.append(update.text)
            if len(chunks) == 3:
                three.set()

    words = " ".join(f"w{i}" for i in range(40))
    turn = asyncio.create_task(runtime.prompt(42, 0, f"slow {words}", on_update=on_update))
    await asyncio.wait_for(three.wait(), 20)
    assert await runtime.cancel(42, 0) is True
    result = await asyncio.wait_for(turn, 10)
    assert result.stop_reason == "cancelled"
    assert result.text.startswith("w0 w1 w2")
    assert result.text == "".join(chunks)
    assert len(result.text.split()) < 40
    assert await runtime.cancel(42, 0) is False
    # the same process goes on working
    assert (await runtime.prompt(42, 0, "echo still here")).text == "still here"


async def test_killed_agent_gives_clear_error_and_next_message_starts_fresh(runtime: AgentRuntime) -> None:
    first_pid = int((await runtime.prompt(42, 0, "pid")).text)
    started = asyncio.Event()

    async def on_update(update: AgentUpdate) -> None:
        if update.kind == "text":
            started.set()

    turn = asyncio.create_task(runtime.prompt(42, 0, "slow " + "x " * 50, on_update=on_update))
    await asyncio.wait_for(started.wait(), 20)
    os.kill(first_pid, signal.SIGKILL)
    with pytest.raises(AgentError) as info:
        await asyncio.wait_for(turn, 10)
    assert "stopped unexpectedly" in info.value.user_message
    assert "/" not in info.value.user_message
    assert info.value.partial_text.startswith("x")  # type: ignore[attr-defined]
    second_pid = int((await runtime.prompt(42, 0, "pid")).text)
    assert second_pid != first_pid
    # the new process loaded the same conversation
    assert (await runtime.prompt(42, 0, "history")).text.splitlines()[0] == "pid"


async def test_no_agent_process_remains_after_shutdown(agent_host: Host, workspace: Path) -> None:
    runtime = AgentRuntime(agent_host)
    started = asyncio.Event()

    async def on_update(update: AgentUpdate) -> None:
        started.set()

    await runtime.prompt(42, 0, "echo one")
    await runtime.prompt(43, 0, "echo two")
    busy = asyncio.create_task(runtime.prompt(44, 0, "slow " + "y " * 100, on_update=on_update))
    await asyncio.wait_for(started.wait(), 20)
    assert len(agent_processes(workspace)) == 3
    await runtime.aclose()
    with pytest.raises(AgentError):
        await asyncio.wait_for(busy, 10)
    assert agent_processes(workspace) == []


async def test_an_agent_ignoring_cancel_is_killed_and_the_turn_still_returns(
    runtime: AgentRuntime, monkeypatch: pytest.MonkeyPatch, workspace: Path
) -> None:
    import kiroclaw.agent.runtime as runtime_module

    monkeypatch.setattr(runtime_module, "CANCEL_GRACE_S", 0.5)
    pid = int((await runtime.prompt(42, 0, "pid")).text)
    started = asyncio.Event()

    async def on_update(update: AgentUpdate) -> None:
        if update.kind == "text":
            started.set()

    turn = asyncio.create_task(runtime.prompt(42, 0, "stubborn " + "z " * 100, on_update=on_update))
    await asyncio.wait_for(started.wait(), 20)
    assert await runtime.cancel(42, 0)
    result = await asyncio.wait_for(turn, 10)
    assert result.stop_reason == "cancelled" and result.text.startswith("z ")
    assert pid not in agent_processes(workspace)
    assert int((await runtime.prompt(42, 0, "pid")).text) != pid
