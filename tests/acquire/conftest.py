"""Fixtures for the acquisition tests: real git repositories behind a local base URL, an aiohttp server on
127.0.0.1, in-memory archive builders, and the rejection invariants of the security catalogue §7
(OUT: canary tree unchanged; REG: addons.json byte-identical; TMP: no staging dirs or child processes;
MSG: one short line without server paths).
"""

from __future__ import annotations

import io
import os
import stat
import subprocess
import tarfile
import time
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from kiroclaw import KiroclawError, Scope
from kiroclaw.config import Settings
from kiroclaw.host import Host
from tests.conftest import write_package, write_skill

USER = 12

GIT_ENV = {
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "HOME": "/nonexistent",
}


def git(*args: str, cwd: Path) -> str:
    """Run a fixture git command (not the code under test); returns stdout."""
    done = subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, capture_output=True, text=True, check=False, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {done.stderr}")
    return done.stdout.strip()


@dataclass
class GitRepo:
    """A working repository whose commits are pushed to ``{base}/{org}/{name}.git`` (a bare repo)."""

    work: Path
    bare: Path

    def write(self, rel: str, text: str) -> None:
        path = self.work / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    def skill(self, rel_parent: str, name: str, description: str | None = None) -> None:
        write_skill(self.work / rel_parent if rel_parent else self.work, name, description or f"The {name} skill.")

    def root_skill(self, name: str, description: str | None = None) -> None:
        """``SKILL.md`` at the repository root (a single-skill repo)."""
        text = f"---\nname: {name}\ndescription: {description or f'The {name} skill.'}\n---\n# {name}\n"
        self.write("SKILL.md", text)

    def commit(self, message: str = "change") -> str:
        git("add", "-A", cwd=self.work)
        git("commit", "-q", "--allow-empty", "-m", message, cwd=self.work)
        git("push", "-q", "--force", str(self.bare), "HEAD:refs/heads/main", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)

    def tag(self, name: str) -> None:
        git("tag", "-a", "-m", name, name, cwd=self.work)
        git("push", "-q", str(self.bare), f"refs/tags/{name}", cwd=self.work)

    def branch(self, name: str) -> None:
        git("push", "-q", "--force", str(self.bare), f"HEAD:refs/heads/{name}", cwd=self.work)


@dataclass
class GitBase:
    """A folder served as ``GITHUB_BASE_URL`` (``file://`` URL)."""

    root: Path
    sources: Path

    @property
    def url(self) -> str:
        return self.root.as_uri()

    def repo(self, org: str, name: str) -> GitRepo:
        work = self.sources / org / name
        work.mkdir(parents=True)
        git("init", "-q", "-b", "main", cwd=work)
        bare = self.root / org / f"{name}.git"
        bare.parent.mkdir(parents=True, exist_ok=True)
        git("init", "-q", "--bare", "-b", "main", str(bare), cwd=self.root)
        git("config", "uploadpack.allowAnySHA1InWant", "true", cwd=bare)
        git("config", "http.receivepack", "false", cwd=bare)
        return GitRepo(work, bare)


@pytest.fixture
def git_base(tmp_path: Path) -> GitBase:
    root = tmp_path / "gitbase"
    root.mkdir()
    return GitBase(root, tmp_path / "gitsrc")


@pytest.fixture
def acq_settings(workspace: Path, git_base: GitBase) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        workspace_base_path=workspace,
        kiroclaw_disable_plugins=[],
        github_base_url=git_base.url,
        git_timeout_seconds=30,
        url_allow_private_hosts=["127.0.0.1"],
        download_connect_timeout_seconds=5,
        download_read_timeout_seconds=5,
        download_total_timeout_seconds=20,
    )


@pytest.fixture
def acq_host(acq_settings: Settings) -> Host:
    return Host(acq_settings)


# --- canary tree and invariants -------------------------------------------------------------------


def lstat_snapshot(root: Path) -> dict[str, tuple[int, int, int, int]]:
    """path → (type+mode, size, mtime_ns, inode) for everything under ``root`` (catalogue §9 canary)."""
    result: dict[str, tuple[int, int, int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            full = Path(dirpath) / name
            st = os.lstat(full)
            rel = full.relative_to(root).as_posix()
            if rel.endswith("/.lock") or rel == f"{USER}/.lock" or rel.startswith(("audit.log", ".kiroclaw-audit")):
                continue  # the lock file and the audit log are written by every operation by design
            if stat.S_ISDIR(st.st_mode):
                # A folder's mtime moves when the core creates and removes .staging/.lock inside it; any
                # real change below it shows up as an added, removed or changed entry.
                result[rel] = (st.st_mode, 0, 0, st.st_ino)
            else:
                result[rel] = (st.st_mode, st.st_size, st.st_mtime_ns, st.st_ino)
    return result


@pytest.fixture
async def canary(workspace: Path, acq_host: Host, tmp_path: Path) -> Path:
    """Users 9, 12 and 123 with files, user 12 with one installed add-on (so it has an addons.json), and
    the bot's own files beside them."""
    for user in ("9", "123"):
        write_skill(workspace / user / ".kiro" / "skills", "canary-skill", "Belongs to another user.")
        (workspace / user / "addons.json").write_text('{"schema_version": 1, "addons": []}\n')
    (workspace / "sessions.db").write_bytes(b"bot state")
    (tmp_path / "outside.txt").write_text("outside the workspace")
    skill = write_skill(tmp_path / "local-src", "already-here", "A skill user 12 installed earlier.")
    await acq_host.addons.install(str(skill), Scope.user(USER), assume_yes=True)
    return workspace


def processes_mentioning(marker: str) -> list[str]:
    """Command lines of live processes (other than this one) that mention ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            raw = Path(f"/proc/{entry}/cmdline").read_bytes()
            state = Path(f"/proc/{entry}/stat").read_text().split(") ", 1)[1].split()[0]
        except OSError:
            continue
        if state == "Z":
            continue
        if marker.encode() in raw:
            found.append(raw.replace(b"\0", b" ").decode("utf-8", "replace"))
    return found


def open_fds() -> int:
    """How many file descriptors this process has open (sockets, pipes, files)."""
    return len(os.listdir("/proc/self/fd"))


@dataclass
class Invariants:
    """Snapshots taken before an operation, compared after it failed."""

    tmp_path: Path
    workspace: Path
    before_all: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)
    registry_before: bytes = b""

    def take(self) -> None:
        self.before_all = lstat_snapshot(self.tmp_path / "workspaces")
        self.registry_before = (self.workspace / str(USER) / "addons.json").read_bytes()

    def check(self, exc: BaseException, *, markers: tuple[str, ...] = ()) -> None:
        assert isinstance(exc, KiroclawError), f"not a KiroclawError: {exc!r}"
        message = exc.user_message
        assert message and "\n" not in message and len(message) <= 4096, message
        assert str(self.tmp_path) not in message, f"server path leaked: {message}"
        assert "Traceback" not in message
        # OUT + REG: the whole workspace (users 9, 12, 123, bot files) is unchanged.
        assert (self.workspace / str(USER) / "addons.json").read_bytes() == self.registry_before
        after = lstat_snapshot(self.tmp_path / "workspaces")
        assert after == self.before_all, _diff(self.before_all, after)
        # TMP: no staging folders left, no processes that mention our tmp tree.
        staging = self.workspace / ".kiroclaw-staging" / str(USER)  # outside the user's folder
        assert not staging.exists() or not any(staging.iterdir())
        deadline = time.monotonic() + 3
        while processes_mentioning(str(self.tmp_path)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert processes_mentioning(str(self.tmp_path)) == []
        for marker in markers:
            assert processes_mentioning(marker) == []


def _diff(before: dict[str, Any], after: dict[str, Any]) -> str:
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
    return f"added={added[:10]} removed={removed[:10]} changed={changed[:10]}"


@pytest.fixture
async def invariants(canary: Path, tmp_path: Path, workspace: Path) -> Invariants:
    inv = Invariants(tmp_path, workspace)
    inv.take()
    return inv


async def expect_refusal(
    invariants: Invariants,
    action: Awaitable[Any],
    error: type[BaseException] = KiroclawError,
    match: str = "",
    *,
    markers: tuple[str, ...] = (),
) -> KiroclawError:
    """Await ``action``, assert it raised ``error`` whose message contains ``match`` (case-insensitive),
    then assert every invariant."""
    with pytest.raises(error) as info:
        await action
    exc = info.value
    assert isinstance(exc, KiroclawError)
    assert match.lower() in exc.user_message.lower(), exc.user_message
    invariants.check(exc, markers=markers)
    return exc


# --- archive builders ------------------------------------------------------------------------------

SKILL_MD = b"---\nname: demo-skill\ndescription: A demo skill served from an archive.\n---\n# Demo\n"


def skill_md(name: str) -> bytes:
    return f"---\nname: {name}\ndescription: The {name} skill, from an archive.\n---\n# {name}\n".encode()


@dataclass
class TarMember:
    name: str
    data: bytes = b""
    type: bytes = tarfile.REGTYPE
    linkname: str = ""
    mode: int = 0o644
    uid: int = 1000
    size: int | None = None


def make_tar(members: list[TarMember], *, compression: str = "gz", fmt: int = tarfile.PAX_FORMAT) -> bytes:
    """A tar (``compression``: ``gz``, ``bz2``, ``xz`` or ``""``) built in memory from ``members``."""
    buffer = io.BytesIO()
    mode = f"w:{compression}" if compression else "w"
    with tarfile.open(fileobj=buffer, mode=mode, format=fmt) as tar:  # type: ignore[call-overload]
        for member in members:
            info = tarfile.TarInfo(member.name)
            info.type = member.type
            info.linkname = member.linkname
            info.mode = member.mode
            info.uid = member.uid
            info.mtime = 1_700_000_000
            if member.type in (tarfile.REGTYPE, tarfile.AREGTYPE):
                info.size = len(member.data) if member.size is None else member.size
                tar.addfile(info, io.BytesIO(member.data))
            else:
                tar.addfile(info)
    return buffer.getvalue()


def make_zip(members: list[tuple[str, bytes]] | list[tuple[str, bytes, int]]) -> bytes:
    """A zip built in memory; a third tuple item sets the unix mode (``0o120777`` = symlink)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for item in members:
            name, data = item[0], item[1]
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            mode = item[2] if len(item) > 2 else (0o40755 if name.endswith("/") else 0o100644)  # type: ignore[misc]
            info.external_attr = mode << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


# --- HTTP server -----------------------------------------------------------------------------------

Handler = Callable[[Any], Awaitable[Any]]


@dataclass
class HttpServer:
    """An aiohttp server on 127.0.0.1; ``routes`` maps a path to bytes or an aiohttp handler."""

    port: int = 0
    routes: dict[str, bytes | Handler | tuple[bytes, dict[str, str]]] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)
    fallback: Handler | None = None

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


@pytest.fixture
async def http_server() -> AsyncIterator[HttpServer]:
    from aiohttp import web

    server = HttpServer()

    async def dispatch(request: web.Request) -> web.StreamResponse:
        server.hits.append(request.path)
        route = server.routes.get(request.path)
        if route is None and server.fallback is not None:
            fallback: web.StreamResponse = await server.fallback(request)
            return fallback
        if route is None:
            return web.Response(status=404, text="not found")
        if isinstance(route, bytes):
            return web.Response(body=route, content_type="application/octet-stream")
        if isinstance(route, tuple):
            body, headers = route
            return web.Response(body=body, headers=headers)
        result: web.StreamResponse = await route(request)
        return result

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", dispatch)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.port = runner.addresses[0][1]
    try:
        yield server
    finally:
        await runner.cleanup()


@pytest.fixture
def no_leftovers(tmp_path: Path) -> Iterator[None]:
    """After the test: no process mentions the tmp tree."""
    yield
    deadline = time.monotonic() + 3
    while processes_mentioning(str(tmp_path)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_mentioning(str(tmp_path)) == []


__all__ = ["USER", "GitBase", "GitRepo", "HttpServer", "Invariants", "expect_refusal", "write_package"]
