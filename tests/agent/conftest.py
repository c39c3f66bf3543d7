"""Fixtures for the agent runtime tests: the stand-in kiro-cli as a real executable, hosts, runtimes."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kiroclaw.agent.runtime import AgentRuntime
from kiroclaw.config import Settings
from kiroclaw.host import Host

STANDIN = Path(__file__).parent / "standin_agent.py"


def make_launcher(folder: Path, name: str = "kiro-cli") -> Path:
    """An executable ``kiro-cli`` that runs the stand-in agent with this interpreter."""
    folder.mkdir(parents=True, exist_ok=True)
    launcher = folder / name
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{STANDIN}" "$@"\n', encoding="utf-8")
    launcher.chmod(0o755)
    return launcher


@pytest.fixture
def kiro_cli(tmp_path: Path) -> Path:
    return make_launcher(tmp_path / "bin")


@pytest.fixture
def agent_settings(workspace: Path, kiro_cli: Path) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        workspace_base_path=workspace,
        kiroclaw_disable_plugins=[],
        kiro_cli_path=str(kiro_cli),
        agent_start_timeout_seconds=30,
    )


@pytest.fixture
def agent_host(agent_settings: Settings) -> Host:
    return Host(agent_settings)


@pytest.fixture
async def runtime(agent_host: Host) -> AsyncIterator[AgentRuntime]:
    rt = AgentRuntime(agent_host)
    try:
        yield rt
    finally:
        await rt.aclose()


def agent_processes(workspace: Path) -> list[int]:
    """Live (non-zombie) processes whose environment has a ``KIRO_HOME`` under ``workspace`` (from /proc)."""
    root = str(workspace.resolve())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            environ = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError):
            continue
        if state == "Z":
            continue
        for item in environ:
            if item.startswith(b"KIRO_HOME=") and item[len(b"KIRO_HOME=") :].decode().startswith(root):
                found.append(int(entry.name))
    return found
