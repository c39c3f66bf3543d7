"""The client's side of the protocol: every message it sends is valid ACP v1 (schema from the SDK), and an
agent that refuses ``initialize`` is stopped with an AgentError."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from kiroclaw.agent.reaper import marked_processes
from kiroclaw.agent.runtime import AgentRuntime
from kiroclaw.agent.settings import AgentSettings
from kiroclaw.config import Settings
from kiroclaw.errors import AgentError
from kiroclaw.host import Host

from .acp_schema import problems

REFUSING_AGENT = r"""
import json, subprocess, sys
# a raw JSON-RPC agent: starts a tool-like child in its own session, then refuses initialize
subprocess.Popen(["sleep", "300"], start_new_session=True)
line = sys.stdin.readline()
request = json.loads(line)
reply = {"jsonrpc": "2.0", "id": request["id"], "error": {"code": -32603, "message": "config.toml: bad key"}}
print(json.dumps(reply), flush=True)
sys.stdin.read()
"""


def test_the_schema_check_catches_a_bad_message() -> None:
    assert (
        problems({"jsonrpc": "2.0", "id": 1, "method": "session/new", "params": {"cwd": "/x", "mcpServers": []}}) == []
    )
    assert problems({"jsonrpc": "2.0", "id": 1, "method": "session/new", "params": {"mcpServers": []}})
    assert problems({"jsonrpc": "2.0", "id": 1, "method": "session/frobnicate", "params": {}})


async def test_every_message_of_a_recorded_session_is_valid_acp_v1(agent_settings: Settings) -> None:
    sent: list[dict[str, Any]] = []
    runtime = AgentRuntime(Host(agent_settings.model_copy(update={"permission_policy": "allow"})), record=sent)
    try:
        await runtime.prompt(42, 0, "echo hello")
        await runtime.prompt(42, 0, "permission")
        await runtime.set_model(42, 0, "claude-sonnet-4")
        await runtime.new_session(42, 0)
        await runtime.prompt(42, 0, "echo again")
    finally:
        await runtime.aclose()
    again = AgentRuntime(Host(agent_settings), record=sent)
    try:
        await again.prompt(42, 0, "echo reloaded")  # session/load of the stored session
    finally:
        await again.aclose()
    methods = [m.get("method", "(response)") for m in sent]
    assert {"initialize", "session/new", "session/prompt", "session/load", "(response)"} <= set(methods)
    assert [p for m in sent for p in problems(m)] == []
    # the legacy set_model went only to this agent, which advertises models the old way
    assert methods.count("session/set_model") >= 1


async def test_an_agent_that_refuses_initialize_is_stopped_with_an_agent_error(
    agent_settings: Settings, tmp_path: Path
) -> None:
    script = tmp_path / "refusing_agent.py"
    script.write_text(REFUSING_AGENT, encoding="utf-8")
    settings = AgentSettings(_env_file=None, agent="kiro", agent_command=f"{sys.executable} {script}")  # type: ignore[call-arg]
    runtime = AgentRuntime(Host(agent_settings), agent_settings=settings)
    try:
        with pytest.raises(AgentError) as error:
            await runtime.prompt(42, 0, "hello")
        assert error.value.user_message == "the agent could not be started"
        assert "config.toml: bad key" in (error.value.detail or "")
        assert marked_processes(workspace=agent_settings.workspace_base_path) == []
    finally:
        await runtime.aclose()


NO_LOAD_AGENT = r"""
import json, sys, uuid
# a raw JSON-RPC agent without loadSession/resume: it must never receive session/load or session/resume
for line in sys.stdin:
    msg = json.loads(line)
    method, mid = msg.get("method"), msg.get("id")
    if mid is None:
        continue
    if method == "initialize":
        result = {"protocolVersion": 1, "agentCapabilities": {"loadSession": False}, "authMethods": []}
    elif method == "session/new":
        result = {"sessionId": str(uuid.uuid4())}
    elif method == "session/prompt":
        text = msg["params"]["prompt"][0]["text"]
        update = {"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": "got " + text}}
        params = {"sessionId": msg["params"]["sessionId"], "update": update}
        note = {"jsonrpc": "2.0", "method": "session/update", "params": params}
        print(json.dumps(note), flush=True)
        result = {"stopReason": "end_turn"}
    else:
        print(json.dumps({"jsonrpc": "2.0", "id": mid, "error": {"code": -32601, "message": method}}), flush=True)
        continue
    print(json.dumps({"jsonrpc": "2.0", "id": mid, "result": result}), flush=True)
"""


async def test_an_agent_without_load_session_never_gets_session_load(agent_settings: Settings, tmp_path: Path) -> None:
    script = tmp_path / "no_load_agent.py"
    script.write_text(NO_LOAD_AGENT, encoding="utf-8")
    settings = AgentSettings(_env_file=None, agent="kiro", agent_command=f"{sys.executable} {script}")  # type: ignore[call-arg]
    sent: list[dict[str, Any]] = []
    for text in ("one", "two"):  # two runtimes: the second finds the stored session id
        runtime = AgentRuntime(Host(agent_settings), agent_settings=settings, record=sent)
        try:
            assert (await runtime.prompt(42, 0, text)).text == f"got {text}"
        finally:
            await runtime.aclose()
    methods = [m.get("method") for m in sent]
    assert methods.count("session/new") == 2
    assert "session/load" not in methods and "session/resume" not in methods
    assert [p for m in sent for p in problems(m)] == []


async def test_leftovers_of_a_killed_kiroclaw_are_reaped_but_a_live_ones_agents_are_not(
    agent_settings: Settings, tmp_path: Path
) -> None:
    import os
    import signal
    import subprocess

    from kiroclaw.agent.reaper import marker_env, reap_workspace

    workspace = agent_settings.workspace_base_path
    # a "KiroClaw" process (a shell) that starts an agent-like child carrying its markers, then is killed
    owner = subprocess.Popen(["sh", "-c", "sleep 300 & wait"], start_new_session=True)
    try:
        env = dict(os.environ)
        env.update(marker_env("42-0-dead", workspace))
        env["KIROCLAW_OWNER"] = (
            f"{owner.pid}:{Path(f'/proc/{owner.pid}/stat').read_text().rsplit(')', 1)[1].split()[19]}"
        )
        orphan = subprocess.Popen(["sleep", "300"], env=env, start_new_session=True)
        live_env = dict(os.environ)
        live_env.update(marker_env("43-0-live", workspace))  # owned by this (live) test process
        live = subprocess.Popen(["sleep", "300"], env=live_env, start_new_session=True)
        try:
            assert await reap_workspace(workspace) == []  # both owners alive: nothing touched
            os.killpg(owner.pid, signal.SIGKILL)
            owner.wait()
            assert await reap_workspace(workspace) == [orphan.pid]
            assert orphan.wait(timeout=10) is not None
            assert live.poll() is None
        finally:
            for proc in (orphan, live):
                proc.kill()
                proc.wait()
    finally:
        if owner.poll() is None:
            os.killpg(owner.pid, signal.SIGKILL)
            owner.wait()


def test_the_vendored_schema_is_the_pinned_sdks() -> None:
    import json
    import os

    from .acp_schema import SCHEMA_FILE
    from .real.conftest import MODULES

    installed = MODULES / "@agentclientprotocol" / "sdk"
    if not installed.is_dir():
        message = "@agentclientprotocol/sdk is not installed (bash .ci/setup.d/agents.sh)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    assert json.loads((installed / "package.json").read_text())["version"] == "2.4.0"
    assert (installed / "schema" / "v1" / "schema.json").read_bytes() == SCHEMA_FILE.read_bytes()
