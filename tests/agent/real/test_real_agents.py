"""KiroClaw against the real Claude and Codex ACP agents (npm), each talking to the fake model server:
what the model sees of each user's skills, streaming, cancel, a kill mid-turn, a conversation reloaded
after a restart, the permission policy, a 401, and no process left behind."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from kiroclaw.agent.reaper import marked_processes
from kiroclaw.agent.runtime import AgentUpdate
from kiroclaw.errors import AgentError
from kiroclaw.workspaces import Scope
from tests.agent.acp_schema import problems
from tests.agent.real.conftest import Real
from tests.conftest import write_package, write_skill

pytestmark = pytest.mark.timeout(240)

#: Flavors whose conversation survives a restart. Gemini CLI 0.61 advertises loadSession, but its load
#: answers "No previous sessions found" for sessions it wrote (docs/agent.md); KiroClaw then starts anew.
RELOADS = {"claude", "codex"}
UNIVERSE = {"weather-api", "alpha-tool", "beta-tool", "greeter"}


def _skills(text: str) -> set[str]:
    """The names in the fake model's ``skills: a, b`` answer that belong to this test (agents add their own)."""
    line = next((x for x in text.splitlines() if x.startswith("skills: ")), "")
    return {name.strip() for name in line[len("skills: ") :].split(",")} & UNIVERSE


async def _install(real: Real, host, tmp: Path) -> None:  # type: ignore[no-untyped-def]
    src = tmp / "src"
    addons = host.addons
    await addons.install(
        str(write_skill(src / "x", "weather-api", "Looks up the weather.")), Scope.user(42), assume_yes=True
    )
    await addons.install(
        str(write_package(src / "toolbox", skills=("alpha-tool", "beta-tool"))), Scope.user(42), assume_yes=True
    )
    package = next(r.name for r in addons.list(Scope.user(42)) if r.kind == "plugin")
    await addons.disable(package, Scope.user(42))
    glob = write_skill(src / "g", "greeter", "Greets people, the GLOBAL version.")
    await addons.install(str(glob), Scope.global_(), assume_yes=True)
    own = write_skill(src / "own", "greeter", "Greets people, the USERS OWN version.")
    await addons.install(str(own), Scope.user(42), assume_yes=True)


async def test_each_user_agent_gives_the_model_exactly_their_skills(real: Real) -> None:
    host = real.host()
    await host.start()
    await _install(real, host, real.workspace.parent)
    runtime = real.runtime(host)
    try:
        first = await runtime.prompt(42, 0, "list skills")
        assert _skills(first.text) == {"greeter", "weather-api"}, first.text
        seen_42 = _last_with(real, "greeter")
        assert "USERS OWN version" in seen_42 and "GLOBAL version" not in seen_42
        other = await runtime.prompt(43, 0, "list skills")
        assert _skills(other.text) == {"greeter"}, other.text
        assert "GLOBAL version" in _last_with(real, "greeter")
    finally:
        await runtime.aclose()
        await host.aclose()
    assert marked_processes(workspace=real.workspace) == []


async def test_stream_cancel_kill_and_reload(real: Real) -> None:
    sent: list[dict[str, object]] = []
    runtime = real.runtime(record=sent)
    texts: list[str] = []

    async def collect(update: AgentUpdate) -> None:
        if update.kind == "text":
            texts.append(update.text)

    try:
        streamed = await runtime.prompt(42, 0, "slow 4 marker-one", on_update=collect)
        assert streamed.stop_reason == "end_turn"
        assert streamed.text.endswith("word1 word2 word3 word4"), streamed.text
        assert len([t for t in texts if t.startswith("word")]) == 4  # four chunks, in order
        assert "".join(texts) == streamed.text

        # cancel mid-turn: the turn ends "cancelled", the next reply carries nothing of it
        got_one = asyncio.Event()

        async def first_word(update: AgentUpdate) -> None:
            if update.kind == "text" and "word" in update.text:
                got_one.set()

        turn = asyncio.create_task(runtime.prompt(42, 0, "slow 30", on_update=first_word))
        await asyncio.wait_for(got_one.wait(), 60)
        assert await runtime.cancel(42, 0)
        cancelled = await asyncio.wait_for(turn, 30)
        assert cancelled.stop_reason == "cancelled"
        after = await runtime.prompt(42, 0, "hello after cancel")
        assert "echo: hello after cancel" in after.text and "word" not in after.text, after.text

        # SIGKILL mid-turn: an AgentError, then a fresh agent answers
        got_one.clear()
        turn = asyncio.create_task(runtime.prompt(42, 0, "slow 30", on_update=first_word))
        await asyncio.wait_for(got_one.wait(), 60)
        entry = runtime.pool.get(42, 0)
        assert entry is not None and entry.process is not None and entry.process.pid
        os.kill(entry.process.pid, signal.SIGKILL)
        with pytest.raises(AgentError) as died:
            await asyncio.wait_for(turn, 30)
        assert "stopped unexpectedly" in died.value.user_message
        recovered = await runtime.prompt(42, 0, "hello after kill")
        assert "echo: hello after kill" in recovered.text and "word" not in recovered.text

        # models come from the session's config options and are switched with session/set_config_option
        current, models = await runtime.list_models(42, 0)
        assert len(models) >= 2, (current, models)
        other = next(m for m in reversed(models) if m != current)  # not "auto": Gemini's router asks the model
        await runtime.set_model(42, 0, other)
        assert (await runtime.list_models(42, 0))[0] == other
        switched = [m for m in sent if other in (m.get("params") or {}).values()]
        if real.flavor in RELOADS:  # Claude and Codex: config options only (Gemini 0.61 has the old models field)
            assert [m["method"] for m in switched] == ["session/set_config_option"]
        else:
            assert [m["method"] for m in switched] == ["session/set_model"]
    finally:
        await runtime.aclose()
    assert marked_processes(workspace=real.workspace) == []

    # a restart reloads the conversation: the model gets the earlier turns again
    again = real.runtime(record=sent)
    try:
        result = await again.prompt(42, 0, "hello after restart")
        assert "echo: hello after restart" in result.text
        if real.flavor in RELOADS:
            assert "marker-one" in _last_with(real, "hello after restart")
    finally:
        await again.aclose()
    # everything KiroClaw said to the agent is valid ACP v1, and the conversation was resumed, not reloaded
    methods = [m.get("method") for m in sent]
    if real.flavor in RELOADS:
        assert "session/resume" in methods and "session/load" not in methods
        assert "session/set_model" not in methods  # sent only to agents with the old models field
    assert [p for m in sent for p in problems(m)] == []


async def test_deny_is_honoured_and_nothing_outlives_the_agent(real: Real, tmp_path: Path) -> None:
    marker = real.workspace / "denied-marker"
    denied = real.runtime(real.host(permission_policy="deny"))
    try:
        result = await denied.prompt(42, 0, f"run: touch {marker} && echo ran")
        assert not marker.exists(), "the denied tool ran"
        assert result.stop_reason in ("end_turn", "cancelled")  # Codex's reject option ends the turn
    finally:
        await denied.aclose()

    if real.flavor == "gemini":  # the deny half holds; the allowed half is intermittent with Gemini 0.61
        pytest.skip("gemini 0.61: the allowed touch-and-background command sometimes leaves no file (docs/agent.md)")
    allowed = real.runtime()
    sleeper = "setsid sleep 317 </dev/null >/dev/null 2>&1 & echo started"
    try:
        result = await allowed.prompt(42, 0, f"run: touch {marker} && {sleeper}")
        assert marker.exists(), result.text
        assert "tool done" in result.text
        left = marked_processes(workspace=real.workspace)
        if real.flavor != "gemini":  # Claude and Codex leave it running in its own session; Gemini ends it itself
            assert any(_cmdline(pid) == "sleep 317" for pid in left), [_cmdline(p) for p in left]
    finally:
        await allowed.aclose()
    assert marked_processes(workspace=real.workspace) == []
    assert not [pid for pid in map(int, filter(str.isdigit, os.listdir("/proc"))) if _cmdline(pid) == "sleep 317"]


async def test_a_rejected_api_key_names_what_the_operator_must_set(real: Real, monkeypatch: pytest.MonkeyPatch) -> None:
    real.model.status = 401
    # Claude Code retries a 401 for minutes; an operator bounds that through the pass-through list
    monkeypatch.setenv("CLAUDE_CODE_MAX_RETRIES", "0")
    runtime = real.runtime(agent_turn_timeout_seconds=60, agent_env_passthrough=["CLAUDE_CODE_MAX_RETRIES"])
    try:
        with pytest.raises(AgentError) as error:
            await runtime.prompt(42, 0, "hello")
        assert "API key" in error.value.user_message
        key = {"claude": "ANTHROPIC_API_KEY", "codex": "OPENAI_API_KEY", "gemini": "GEMINI_API_KEY"}[real.flavor]
        assert key in (error.value.detail or "")
    finally:
        await runtime.aclose()
    assert marked_processes(workspace=real.workspace) == []


def _last_with(real: Real, needle: str) -> str:
    """The last request the model got that mentions ``needle``, as JSON text."""
    import json

    return next(text for seen in reversed(real.model.requests) if needle in (text := json.dumps(seen.body)))


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


async def test_kiroclaw_ask_streams_the_real_agents_reply(real: Real) -> None:
    from tests.agent.real.conftest import agent_command
    from tests.conftest import run_kiroclaw

    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIROCLAW_", "WORKSPACE_"))}
    env.update(
        WORKSPACE_BASE_PATH=str(real.workspace),
        AGENT=real.flavor,
        AGENT_COMMAND=agent_command(real.flavor),
        PERMISSION_POLICY="deny",
    )
    # in a thread: the fake model server answers on this test's event loop
    out = await asyncio.to_thread(run_kiroclaw, "ask", "--user", "42", "hello from the terminal", env=env, timeout=180)
    assert out.returncode == 0, out.stderr
    assert "echo: hello from the terminal" in out.stdout
    assert marked_processes(workspace=real.workspace) == []


async def test_doctor_checks_the_chosen_flavor(real: Real) -> None:
    from tests.agent.real.conftest import agent_command
    from tests.bot.fake_telegram import FakeTelegram
    from tests.conftest import run_kiroclaw

    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIROCLAW_", "WORKSPACE_"))}
    env.update(WORKSPACE_BASE_PATH=str(real.workspace), AGENT=real.flavor, AGENT_COMMAND=agent_command(real.flavor))
    # doctor also checks the bot (the fake Bot API on 127.0.0.1) and the registry (a local catalog folder)
    token = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ_abc"
    catalog = real.workspace.parent / "doctor-catalog"
    catalog.mkdir(exist_ok=True)
    fake = FakeTelegram(token)
    await fake.start()
    env.update(BOT_TOKEN=token, TELEGRAM_API_BASE=fake.base, KIROHUB_REGISTRY_URL=catalog.as_uri())
    try:
        good = await asyncio.to_thread(run_kiroclaw, "doctor", env=env, timeout=120)
    finally:
        await fake.stop()
    assert good.returncode == 0, good.stdout
    package = {
        "claude": "@agentclientprotocol/claude-agent-acp 0.101.0",
        "codex": "@agentclientprotocol/codex-acp 2.6.0",
        "gemini": "gemini-cli 0.61.0",
    }[real.flavor]
    assert f"ok    the agent answers ACP initialize: {package}" in good.stdout
    key = {"claude": "ANTHROPIC_API_KEY", "codex": "OPENAI_API_KEY", "gemini": "GEMINI_API_KEY"}[real.flavor]
    keyless = {k: v for k, v in env.items() if k not in (key, "CODEX_API_KEY", "ANTHROPIC_AUTH_TOKEN")}
    bad = await asyncio.to_thread(run_kiroclaw, "doctor", env=keyless, timeout=120)
    assert bad.returncode == 1 and f"MISSING an API key for {real.flavor} ({key}" in bad.stdout
    missing = await asyncio.to_thread(run_kiroclaw, "doctor", env={**env, "AGENT_COMMAND": "/nonexistent/agent"})
    assert missing.returncode == 1 and "MISSING the agent program of AGENT=" in missing.stdout
