"""Fixtures for the KiroHub tests: a catalog built by the tests, the hub served on 127.0.0.1 (in process,
optionally with injected faults, or as a real ``kiroclaw hub serve`` subprocess), and hosts pointed at it."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from kiroclaw.config import Settings
from kiroclaw.host import Host
from kiroclaw.hub.server import create_app
from tests.conftest import KIROCLAW_BIN, write_skill


def write_version(
    catalog: Path, slug: str, version: str, *, body: str = "", files: dict[str, bytes] | None = None
) -> Path:
    """``catalog/<slug>/<version>/`` holding a valid skill named ``slug`` plus ``files``; :returns: the folder."""
    folder = catalog / slug / version
    write_skill(
        folder.parent, slug, f"The {slug} skill, version {version}.", folder=version, body=body or f"v{version}\n"
    )
    for rel, data in (files or {}).items():
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return folder


def write_meta(catalog: Path, slug: str, **meta: Any) -> None:
    (catalog / slug / "skill.json").write_text(json.dumps(meta), encoding="utf-8")


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    """A catalog: ``weather-api`` (owner alice, 1.0.0 and 1.1.0), ``shady-tool`` (suspicious),
    ``evil-tool`` (malware-blocked), ``plain-notes`` (no skill.json)."""
    root = tmp_path / "catalog"
    write_version(root, "weather-api", "1.0.0", files={"scripts/run.sh": b"echo 1.0\n"})
    write_version(root, "weather-api", "1.1.0", files={"scripts/run.sh": b"echo 1.1\n", "README.md": b"# W\n"})
    write_meta(
        root,
        "weather-api",
        displayName="Weather API",
        summary="Forecasts for any city",
        owner="alice",
        tags=["weather"],
        stats={"downloads": 12, "stars": 3},
    )
    write_version(root, "shady-tool", "0.1.0")
    write_meta(
        root,
        "shady-tool",
        owner="mallory",
        summary="Does shady things",
        moderation={
            "isSuspicious": True,
            "isMalwareBlocked": False,
            "reasonCodes": ["suspicious.dynamic_code_execution"],
        },
    )
    write_version(root, "evil-tool", "6.6.6")
    write_meta(
        root,
        "evil-tool",
        owner="mallory",
        summary="weather stealer",
        moderation={"isSuspicious": True, "isMalwareBlocked": True, "reasonCodes": ["malicious.stealer"]},
    )
    write_version(root, "plain-notes", "2.0.0")
    return root


def hub_settings(workspace: Path, url: str, **overrides: Any) -> Settings:
    """Settings for a host using the registry at ``url``; short timeouts, no cache unless overridden."""
    values: dict[str, Any] = {
        "workspace_base_path": workspace,
        "kiroclaw_disable_plugins": [],
        "kirohub_registry_url": url,
        "kirohub_timeout_seconds": 5.0,
        "kirohub_retries": 2,
        "kirohub_cache_ttl_seconds": 0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@dataclass
class Fault:
    """One injected misbehaviour for requests whose path starts with ``path``; ``times`` uses left."""

    path: str
    kind: str  # status | stall | body
    status: int = 200
    text: str = ""
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1


@dataclass
class Hub:
    """A hub served in process: ``url``, the request ``log`` (path, query, headers, monotonic time) and faults."""

    url: str
    catalog: Path
    log: list[dict[str, Any]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)

    def fault(self, path: str, kind: str, **kwargs: Any) -> Fault:
        item = Fault(path, kind, **kwargs)
        self.faults.append(item)
        return item

    def hits(self, path: str) -> list[dict[str, Any]]:
        return [entry for entry in self.log if entry["path"].startswith(path)]


def _fault_middleware(hub: Hub) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[..., Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        hub.log.append(
            {
                "path": request.path,
                "query": dict(request.query),
                "headers": dict(request.headers),
                "t": time.monotonic(),
            }
        )
        for fault in hub.faults:
            if fault.times > 0 and request.path.startswith(fault.path):
                fault.times -= 1
                if fault.kind == "stall":
                    await asyncio.sleep(3600)
                if fault.kind == "status":
                    return web.Response(status=fault.status, text=fault.text, headers=fault.headers)
                if fault.kind == "body":
                    headers = {k: v for k, v in fault.headers.items() if k.lower() != "content-type"}
                    content_type = fault.headers.get("Content-Type", "application/json")
                    return web.Response(status=200, body=fault.body, headers=headers, content_type=content_type)
        return await handler(request)

    return middleware


@pytest.fixture
async def hub(catalog: Path) -> AsyncIterator[Hub]:
    """The catalog served in process on 127.0.0.1 with a fault-injecting, request-logging middleware."""
    app = create_app(catalog)
    state = Hub("", catalog)
    app.middlewares.insert(0, _fault_middleware(state))
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield state
    finally:
        await runner.cleanup()


@pytest.fixture
def make_host(workspace: Path) -> Iterator[Callable[..., Host]]:
    """``make_host(url, **settings)`` → a fresh host whose kirohub source uses ``url``."""
    hosts: list[Host] = []

    def make(url: str, **overrides: Any) -> Host:
        host = Host(hub_settings(workspace, url, **overrides))
        hosts.append(host)
        return host

    yield make


@dataclass
class ServedHub:
    url: str
    process: subprocess.Popen[str]


def serve_subprocess(catalog: Path, env: dict[str, str]) -> ServedHub:
    """Start ``kiroclaw hub serve CATALOG --port 0`` and wait for its "serving … at URL" line."""
    proc = subprocess.Popen(
        [str(KIROCLAW_BIN), "hub", "serve", str(catalog), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    line = ""
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        match = re.search(r"at (http://127\.0\.0\.1:\d+)", line)
        if match:
            return ServedHub(match.group(1), proc)
    stop_subprocess(proc)
    raise AssertionError(f"kiroclaw hub serve did not start: {line!r}")


def stop_subprocess(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture
def served(catalog: Path, cli_env: dict[str, str]) -> Iterator[ServedHub]:
    """The catalog served by a real ``kiroclaw hub serve`` subprocess (stopped with SIGTERM after the test)."""
    served = serve_subprocess(catalog, cli_env)
    try:
        yield served
    finally:
        stop_subprocess(served.process)
        assert served.process.returncode == 0, "hub serve did not exit cleanly on SIGTERM"
