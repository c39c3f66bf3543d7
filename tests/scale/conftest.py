"""Fixtures of the scale-out tests: real ``redis-server`` processes on 127.0.0.1 (own port, own folder,
no persistence) and a cluster of real subprocesses — ``kiroclaw ingress`` and ``kiroclaw run --worker``
— against the fake Bot API (``tests/bot/fake_telegram.py``) running in the test process.

Every process is started here and stopped here by its pid. Without ``redis-server`` or ``bwrap`` the
tests skip, except under ``CI=true`` where they fail (``.ci/setup.d/scale.sh`` installs both).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.agent.conftest import make_launcher
from tests.bot.fake_telegram import FakeTelegram, FakeUser

REPO = Path(__file__).resolve().parents[2]
TOKEN = "123456:TEST-token-for-the-scale-tests"


def need(program: str) -> str:
    """The path of ``program``; skips the test without it (fails under CI=true)."""
    found = shutil.which(program)
    if found is None:
        message = f"{program} is not installed (Debian package; .ci/setup.d/scale.sh installs it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A real ``redis-server`` on 127.0.0.1:``port`` with no persistence; stop/start keep the port."""

    def __init__(self, folder: Path) -> None:
        self.binary = need("redis-server")
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
                "--protected-mode",
                "yes",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
            time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def write_skill(folder: Path, name: str, description: str = "A small test skill.") -> Path:
    """A single-skill add-on folder ``folder/name`` with a valid SKILL.md."""
    skill = folder / name
    skill.mkdir(parents=True, exist_ok=True)
    (skill / "SKILL.md").write_text(f"---\nname: {name}\ndescription: {description}\n---\n\n# {name}\n\nDo it.\n")
    return skill


def user(n: int) -> FakeUser:
    return FakeUser(n, f"User{n}", f"user{n}")


@dataclass
class Cluster:
    """The ingress and workers as subprocesses, the fake Bot API and the shared Redis."""

    fake: FakeTelegram
    redis: RedisServer
    env: dict[str, str]
    root: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def spawn(self, name: str, *args: str, **extra_env: str) -> subprocess.Popen[bytes]:
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115  (closed with the process)
        proc = subprocess.Popen(
            [sys.executable, "-c", "from kiroclaw.cli import main; main()", *args],
            env={**self.env, **extra_env},
            cwd=self.root,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.procs[name] = proc
        return proc

    def worker(self, name: str, **extra_env: str) -> subprocess.Popen[bytes]:
        return self.spawn(name, "run", "--worker", name, **extra_env)

    def ingress(self) -> subprocess.Popen[bytes]:
        return self.spawn("ingress", "ingress")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs[name]
        if proc.poll() is None:
            proc.send_signal(sig)
            proc.wait(20)

    async def stop_all(self) -> None:
        """SIGTERM every process, wait for each (20 s, then SIGKILL). The wait runs in a thread: the fake
        Bot API lives in this event loop and must keep answering while the processes shut down."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                await asyncio.to_thread(proc.wait, 20)
            except subprocess.TimeoutExpired:
                proc.kill()
                await asyncio.to_thread(proc.wait, 5)

    def logs(self, tail: int = 3000) -> str:
        """The processes' logs (the last ``tail`` characters of each; 0 = all)."""
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-tail:]}" for p in sorted(self.root.glob("*.log"))
        )

    async def redis_client(self) -> Any:
        import redis.asyncio as aioredis

        return aioredis.Redis.from_url(self.redis.url, decode_responses=True)

    async def live_workers(self) -> list[str]:
        client = await self.redis_client()
        try:
            names = sorted(await client.smembers("kc:workers"))
            return [n for n in names if await client.exists(f"kc:inst:{n}")]
        finally:
            await client.aclose()

    async def wait_workers(self, names: list[str], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while sorted(set(names) & set(await self.live_workers())) != sorted(names):
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.procs.values()):
                raise AssertionError(f"workers {names} not up:\n{self.logs()}")
            await asyncio.sleep(0.1)

    async def wait_ingress(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.fake.poll_calls:
            if time.monotonic() > deadline or self.procs["ingress"].poll() is not None:
                raise AssertionError(f"ingress not polling:\n{self.logs()}")
            await asyncio.sleep(0.1)

    async def deliver(self, worker: str, update: dict[str, Any]) -> None:
        """Append ``update`` straight to ``worker``'s stream (a misrouted or redelivered update)."""
        client = await self.redis_client()
        try:
            await client.xadd(f"kc:in:{worker}", {"u": json.dumps(update)})
        finally:
            await client.aclose()

    async def wait_slot_free(self, user_id: int, timeout: float = 10.0) -> None:
        """Wait until no worker holds ``user_id``'s install slot."""
        client = await self.redis_client()
        try:
            deadline = time.monotonic() + timeout
            while await client.exists(f"kc:slot:{user_id}"):
                assert time.monotonic() < deadline, f"install slot of {user_id} still held"
                await asyncio.sleep(0.02)
        finally:
            await client.aclose()

    async def worker_of(self, user_id: int) -> str | None:
        client = await self.redis_client()
        try:
            return await client.hget("kc:cell", str(user_id))
        finally:
            await client.aclose()

    async def wait_reply(self, chat_id: int, predicate: Any, *, after: int = 0, timeout: float = 30.0) -> str:
        """The first bot text in ``chat_id`` (from index ``after``) for which ``predicate(text)`` holds."""
        deadline = time.monotonic() + timeout
        while True:
            for text in self.fake.bot_texts(chat_id)[after:]:
                if predicate(text):
                    return text
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no matching reply in chat {chat_id}: {self.fake.bot_texts(chat_id)[after:]}\n{self.logs()}"
                )
            await asyncio.sleep(0.05)


def cluster_env(
    tmp_path: Path, redis: RedisServer, fake: FakeTelegram, users: list[int], **extra: str
) -> dict[str, str]:
    workspace = tmp_path / "workspaces"
    workspace.mkdir(exist_ok=True)
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "CI")}
    env = {
        **keep,
        "PYTHONPATH": str(REPO),
        "BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE": fake.base,
        "REDIS_URL": redis.url,
        "WORKSPACE_BASE_PATH": str(workspace),
        "ALLOWED_TELEGRAM_IDS": ",".join(map(str, users)),
        "KIRO_CLI_PATH": str(make_launcher(tmp_path / "bin")),
        "KIROCLAW_DISABLE_PLUGINS": "",
        "INSTALL_RATE_LIMIT": "100/hour",
        # defaults, except a faster heartbeat: a busy 2-core machine starves workers for seconds, so the
        # TTL (15 s) and the install lease (10 s) stay as in production
        "HEARTBEAT_INTERVAL_SECONDS": "1",
        "RECLAIM_IDLE_SECONDS": "2",
        "AGENT_START_TIMEOUT_SECONDS": "30",
    }
    env.update(extra)
    return env


@contextlib.asynccontextmanager
async def running_cluster(
    tmp_path: Path, users: list[int], workers: tuple[str, ...] = ("w1", "w2", "w3"), **extra: str
) -> AsyncIterator[Cluster]:
    """Redis, the fake Bot API, the ingress and ``workers``; everything stopped afterwards."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    fake = FakeTelegram(TOKEN)
    await fake.start()
    root = tmp_path / "cluster"
    root.mkdir(exist_ok=True)
    cluster = Cluster(fake, server, cluster_env(tmp_path, server, fake, users, **extra), root)
    try:
        for name in workers:
            cluster.worker(name)
        await cluster.wait_workers(list(workers))
        cluster.ingress()
        await cluster.wait_ingress()
        yield cluster
    finally:
        await cluster.stop_all()
        await fake.stop()
        server.stop()
