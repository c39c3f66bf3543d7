"""GitHub source against real git repositories served from a local base URL (``file://`` for most tests,
``git http-backend`` behind an aiohttp server on 127.0.0.1 for the HTTP ones), installed through
``host.addons``. Catalogue cases G 22–33 as far as they run without GitHub."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kiroclaw import LimitExceededError, Scope, SourceError, SpecError
from kiroclaw.config import Settings
from kiroclaw.host import Host

from .conftest import USER, GitBase, HttpServer, Invariants, expect_refusal, git, open_fds, processes_mentioning


def make_package(base: GitBase, org: str = "acme", name: str = "tools", skills: int = 3) -> tuple[object, str]:
    repo = base.repo(org, name)
    for index in range(skills):
        repo.skill("skills", f"skill-{index:02d}")
    repo.write("recipes/ralph/init.md", "---\nname: Init\ndescription: Start a loop.\n---\nGo.\n")
    repo.write("recipes/review.md", "---\nname: Review\ndescription: Review code.\n---\nReview.\n")
    repo.write("README.md", "# tools\n")
    return repo, repo.commit("first")


# --- installs ---------------------------------------------------------------------------------------


async def test_plugin_package_with_skills_and_nested_recipes(
    acq_host: Host, git_base: GitBase, workspace: Path
) -> None:
    _repo, commit = make_package(git_base, skills=5)

    result = await acq_host.addons.install("acme/tools", Scope.user(USER))

    record = result.record
    assert (record.name, record.kind, record.path) == ("acme/tools", "plugin", ".kiro/plugins/acme@tools")
    assert record.skills == [f"skill-{i:02d}" for i in range(5)]
    assert sorted(record.recipes) == ["ralph/init", "review"]
    assert record.origin["commit"] == commit
    assert record.version == commit[:7]
    assert not record.pinned
    installed = workspace / str(USER) / ".kiro" / "plugins" / "acme@tools"
    assert (installed / "skills" / "skill-03" / "SKILL.md").is_file()
    assert (installed / "recipes" / "ralph" / "init.md").is_file()
    assert not (installed / ".git").exists()
    assert not any(p.name.startswith(".git-") for p in installed.iterdir())
    names = {s.qualified_name for s in acq_host.effective_set(USER).skills}
    assert {f"acme/tools/skill-{i:02d}" for i in range(5)} <= names
    assert {r.qualified_name for r in acq_host.effective_set(USER).recipes} >= {"acme/tools/ralph/init"}


async def test_single_skill_repo_is_named_by_its_frontmatter(
    acq_host: Host, git_base: GitBase, workspace: Path
) -> None:
    repo = git_base.repo("someone", "pdf-skill")
    repo.root_skill("pdf-helper")
    repo.write("scripts/run.sh", "#!/bin/sh\necho hi\n")
    (repo.work / "scripts" / "run.sh").chmod(0o755)
    commit = repo.commit()

    record = (await acq_host.addons.install("someone/pdf-skill", Scope.user(USER))).record

    assert (record.name, record.kind, record.path) == ("pdf-helper", "skill", ".kiro/skills/pdf-helper")
    assert record.origin["commit"] == commit
    script = workspace / str(USER) / ".kiro" / "skills" / "pdf-helper" / "scripts" / "run.sh"
    assert script.stat().st_mode & 0o777 == 0o755


async def test_sub_path_installs_just_that_folder(acq_host: Host, git_base: GitBase, workspace: Path) -> None:
    make_package(git_base)

    record = (await acq_host.addons.install("acme/tools/skills/skill-01", Scope.user(USER))).record

    assert (record.name, record.kind) == ("skill-01", "skill")
    assert record.origin["path"] == "skills/skill-01"
    folder = workspace / str(USER) / ".kiro" / "skills" / "skill-01"
    assert sorted(p.name for p in folder.iterdir() if p.name != ".kiroclaw.json") == ["SKILL.md"]


async def test_tag_branch_full_and_short_sha(acq_host: Host, git_base: GitBase, workspace: Path) -> None:
    repo = git_base.repo("acme", "versions")
    repo.root_skill("versioned", "Version one of the skill.")
    first = repo.commit("v1")
    repo.tag("v1.0")
    repo.root_skill("versioned", "Version second of the skill.")
    second = repo.commit("v2")
    repo.branch("dev")
    repo.root_skill("versioned", "Version third-one of the skill.")
    third = repo.commit("v3")
    installed = workspace / str(USER) / ".kiro" / "skills" / "versioned" / "SKILL.md"
    scope = Scope.user(USER)

    cases = [
        ("acme/versions@v1.0", first, "one", "v1.0", False),
        ("acme/versions@dev", second, "second", second[:7], False),
        (f"acme/versions@{first}", first, "one", first[:7], True),
        (f"acme/versions@{second[:8]}", second, "second", second[:7], True),
        ("acme/versions", third, "third-one", third[:7], False),
    ]
    for spec, commit, word, version, pinned in cases:
        record = (await acq_host.addons.install(spec, scope, force=True)).record
        assert record.origin["commit"] == commit, spec
        assert record.version == version, spec
        assert record.pinned is pinned, spec
        assert f"Version {word} of" in installed.read_text(), spec


async def test_marketplace_json_repo_installs_listed_skills(acq_host: Host, git_base: GitBase, workspace: Path) -> None:
    repo = git_base.repo("anthropic", "skills")
    for name in ("xlsx", "docx", "pdf"):
        repo.skill("document-skills", name)
    repo.skill("other", "unlisted")
    marketplace = {
        "name": "anthropic-agent-skills",
        "plugins": [
            {
                "name": "document-skills",
                "source": "./",
                "skills": ["./document-skills/xlsx", "./document-skills/docx", "./document-skills/pdf"],
            },
            {"name": "escape", "source": "./", "skills": ["../../etc"]},
        ],
    }
    repo.write(".claude-plugin/marketplace.json", json.dumps(marketplace))
    repo.commit()

    result = await acq_host.addons.install("anthropic/skills", Scope.user(USER))

    # issue 11: the bounded walk runs after the marketplace too, so a skill the marketplace does not
    # list is installed as well; a listed path outside the tree is reported as left out
    assert result.record.kind == "plugin"
    assert result.record.skills == ["docx", "pdf", "unlisted", "xlsx"]
    assert any("outside the tree" in line for line in result.skipped)
    root = workspace / str(USER) / ".kiro" / "plugins" / "anthropic@skills"
    assert (root / "skills" / "pdf" / "SKILL.md").is_file()
    assert (root / "skills" / "unlisted" / "SKILL.md").is_file()


async def test_update_reports_old_to_new_commit_and_pinned_does_nothing(
    acq_host: Host, git_base: GitBase, workspace: Path
) -> None:
    repo, first = make_package(git_base)
    scope = Scope.user(USER)
    await acq_host.addons.install("acme/tools", scope)
    await acq_host.addons.install(f"acme/tools/skills/skill-00@{first}", scope)

    current = await acq_host.addons.update(None, scope)
    assert {r.name: r.status for r in current}["acme/tools"] == "current"

    repo.skill("skills", "skill-new")  # type: ignore[attr-defined]
    second = repo.commit("second")  # type: ignore[attr-defined]
    results = {r.name: r for r in await acq_host.addons.update(None, scope)}

    moved = results["acme/tools"]
    assert moved.status == "updated"
    assert (moved.old, moved.new) == (first[:7], second[:7])
    assert f"{first[:7]} → {second[:7]}" in moved.message
    assert results["skill-00"].status == "pinned"
    record = acq_host.addons.get("acme/tools", scope)
    assert record.origin["commit"] == second
    assert "skill-new" in record.skills
    pinned = acq_host.addons.get("skill-00", scope)
    assert await acq_host.source("github").latest(pinned) is None


async def test_force_push_then_update_shows_old_and_new_sha(acq_host: Host, git_base: GitBase) -> None:
    repo, first = make_package(git_base)
    scope = Scope.user(USER)
    await acq_host.addons.install("acme/tools@main", scope)
    git("commit", "-q", "--amend", "-m", "rewritten", cwd=repo.work)  # type: ignore[attr-defined]
    git("push", "-q", "--force", str(repo.bare), "HEAD:refs/heads/main", cwd=repo.work)  # type: ignore[attr-defined]
    rewritten = git("rev-parse", "HEAD", cwd=repo.work)  # type: ignore[attr-defined]

    assert await acq_host.source("github").latest(acq_host.addons.get("acme/tools", scope)) == rewritten
    [result] = await acq_host.addons.update("acme/tools", scope)
    assert (result.status, result.old, result.new) == ("updated", first[:7], rewritten[:7])


# --- spec validation before any I/O (cases 22–24) ---------------------------------------------------

BAD_SPECS = [
    "--upload-pack=touch${IFS}pwn/repo",
    "org/--upload-pack=touch",
    "-u/repo",
    "org/repo@--config=core.pager=touch",
    "org/repo@-x",
    "org/repo@--upl=touch",
    "org/../../x",
    "org/repo/../y",
    "org/%2e%2e",
    "org/.",
    "org/..",
    "a" * 40 + "/repo",
    "ｏｒｇ/repo",
    "org/repo@main..evil",
    "org/repo@refs/heads/x.lock",
    "org/repo@a//b",
    "org/repo@@{1}",
    "ext::sh -c touch% pwn/x",
    "org/repo::x",
    "https://github.com/org/repo/blob/main/x",
    "https://github.com@evil.test/org/repo",
]


@pytest.mark.parametrize("spec", BAD_SPECS)
def test_bad_names_and_refs_are_refused_before_io(acq_host: Host, spec: str) -> None:
    source = acq_host.source("github")
    with pytest.raises(SpecError) as info:
        source.parse(spec)
    assert "\n" not in info.value.user_message


def test_gitpython_guard_still_blocks_unsafe_options() -> None:
    from git import Repo
    from git.cmd import Git
    from git.exc import UnsafeOptionError

    for option in ["--upload-pack=touch pwn", "-utouch pwn", "--config=protocol.ext.allow=always", "--upl=x"]:
        with pytest.raises(UnsafeOptionError):
            Git.check_unsafe_options(options=[option], unsafe_options=Repo.unsafe_git_clone_options)


def test_only_the_configured_base_url_is_ever_built(acq_host: Host, git_base: GitBase) -> None:
    source = acq_host.source("github")
    ref = source.parse("https://github.com/acme/tools/tree/v2/skills/pdf")
    assert (ref.locator, ref.version, ref.subpath) == ("acme/tools", "v2", "skills/pdf")
    assert ref.name == "acme/tools/skills/pdf"
    setup = source._setup(ref.locator)  # type: ignore[attr-defined]
    assert setup.url == f"{git_base.url}/acme/tools.git"
    for spec in ("file:///etc/x", "ssh://github.com/a/b", "git://github.com/a/b", "http://evil.test/a/b"):
        assert acq_host.pm.hook.resolve_source(spec=spec, sources=acq_host.sources) != "github"
    assert acq_host.source_for("acme/tools@v1")[0].name == "github"
    assert acq_host.source_for("https://github.com/acme/tools")[0].name == "github"


# --- hostile repositories and servers ---------------------------------------------------------------


async def test_missing_repo_fails_fast_and_clean(acq_host: Host, invariants: Invariants) -> None:
    started = time.monotonic()
    await expect_refusal(
        invariants,
        acq_host.addons.install("acme/nothing-here", Scope.user(USER)),
        SourceError,
        "not found or is private",
    )
    assert time.monotonic() - started < 10


async def test_unknown_ref_and_sub_path(acq_host: Host, git_base: GitBase, invariants: Invariants) -> None:
    make_package(git_base)
    scope = Scope.user(USER)
    await expect_refusal(invariants, acq_host.addons.install("acme/tools@nope", scope), SourceError, "no branch")
    await expect_refusal(invariants, acq_host.addons.install("acme/tools/skills/zzz", scope), SourceError, "no folder")
    # a misspelt sub-path names the close folders that exist
    await expect_refusal(
        invariants,
        acq_host.addons.install("acme/tools/skills/skil-01", scope),
        SourceError,
        "did you mean skills/skill-01",
    )
    await expect_refusal(invariants, acq_host.addons.install("acme/tools@abcdef12", scope), SourceError, "no commit")


async def test_work_tree_symlinks_are_left_out_never_written(
    acq_host: Host, git_base: GitBase, workspace: Path, tmp_path: Path
) -> None:
    # issue 11: an absolute link inside a skill is left out (one line); a link outside every installed
    # folder is ignored; no link is ever written and nothing outside the staging tree is touched
    victim = workspace / "123" / ".kiro"
    victim.mkdir(parents=True)
    (victim / "canary").write_text("keep")
    repo = git_base.repo("evil", "links")
    repo.skill("skills", "ok")
    os.symlink("/etc/hostname", repo.work / "skills" / "ok" / "notes.md")
    os.symlink("../../../123/.kiro", repo.work / "refs")
    repo.commit()
    result = await acq_host.addons.install("evil/links", Scope.user(USER))
    assert result.skipped == ["skills/ok/notes.md: link is absolute (/etc/hostname); left out"]
    installed = workspace / str(USER) / ".kiro" / "plugins" / "evil@links"
    assert sorted(p.relative_to(installed).as_posix() for p in installed.rglob("*")) == [
        ".kiroclaw.json",
        "skills",
        "skills/ok",
        "skills/ok/SKILL.md",
    ]
    assert not [p for p in workspace.rglob("*") if p.is_symlink()]
    assert [p.name for p in victim.iterdir()] == ["canary"]


async def test_submodules_are_never_fetched(acq_host: Host, git_base: GitBase, tmp_path: Path, workspace: Path) -> None:
    victim = git_base.repo("internal", "secret")
    victim.write("SECRET.txt", "do not fetch")
    victim_commit = victim.commit()
    repo = git_base.repo("evil", "submod")
    repo.skill("skills", "ok")
    repo.write(".gitmodules", f'[submodule "x"]\n\tpath = sub\n\turl = {victim.bare.as_uri()}\n')
    git("update-index", "--add", "--cacheinfo", f"160000,{victim_commit},sub", cwd=repo.work)
    repo.commit()

    record = (await acq_host.addons.install("evil/submod", Scope.user(USER))).record

    root = workspace / str(USER) / record.path
    assert not list(root.rglob("SECRET.txt"))


async def test_embedded_bare_repo_and_lfs_are_inert(
    acq_host: Host, git_base: GitBase, tmp_path: Path, workspace: Path
) -> None:
    canary = tmp_path / "pwned"
    repo = git_base.repo("evil", "embedded")
    repo.skill("skills", "ok")
    repo.write("skills/ok/evil/HEAD", "ref: refs/heads/main\n")
    repo.write("skills/ok/evil/config", f"[core]\n\tbare = true\n\tfsmonitor = touch {canary}\n")
    repo.write("skills/ok/evil/objects/.keep", "")
    repo.write("skills/ok/evil/refs/heads/.keep", "")
    repo.write("skills/ok/evil/hooks/post-checkout", f"#!/bin/sh\ntouch {canary}\n")
    pointer = "version https://git-lfs.github.com/spec/v1\noid sha256:" + "a" * 64 + "\nsize 12345\n"
    repo.write(".gitattributes", "*.bin filter=lfs diff=lfs merge=lfs -text\n")
    repo.write("skills/ok/model.bin", pointer)
    repo.commit()

    record = (await acq_host.addons.install("evil/embedded", Scope.user(USER))).record

    root = workspace / str(USER) / record.path
    assert (root / "skills" / "ok" / "model.bin").read_text() == pointer  # nothing smudged
    hook = root / "skills" / "ok" / "evil" / "hooks" / "post-checkout"
    assert hook.stat().st_mode & 0o111 == 0
    import subprocess

    subprocess.run(
        ["git", "-c", "safe.bareRepository=explicit", "status"],
        cwd=root / "skills" / "ok" / "evil",
        capture_output=True,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1"},
        timeout=30,
        check=False,
    )
    assert not canary.exists()


async def test_size_watchdog_stops_a_huge_repo(
    acq_settings: Settings, git_base: GitBase, canary: Path, tmp_path: Path, workspace: Path
) -> None:
    repo = git_base.repo("huge", "blob")
    repo.root_skill("big")
    repo.write("data.bin", "")
    (repo.work / "data.bin").write_bytes(os.urandom(4 * 1024 * 1024))
    repo.commit()
    host = Host(acq_settings.model_copy(update={"max_addon_size_mb": 1}))
    invariants = Invariants(tmp_path, workspace)
    invariants.take()
    await expect_refusal(invariants, host.addons.install("huge/blob", Scope.user(USER)), LimitExceededError, "")


def test_git_output_is_cleaned_and_tokens_redacted(git_base: GitBase, tmp_path: Path) -> None:
    import threading

    from kiroclaw_github._git import GitRunner, GitSetup, redact

    token = "ghp_SUPERSECRET1234567890"
    noisy = f"remote: \x1b[31mred\x1b[0m \x1b]0;title\x07 bell\x07 Authorization {token}\n" * 3000
    cleaned = redact(noisy, token)
    assert "\x1b" not in cleaned and "\x07" not in cleaned and token not in cleaned
    work = tmp_path / "w"
    work.mkdir()
    runner = GitRunner(GitSetup(git_base.url, "a", "b", token, 5), work, threading.Event(), max_git_bytes=1 << 20)
    error = runner.classify(cleaned)
    assert len(error.user_message) < 300 and "\x1b" not in error.user_message and token not in error.user_message
    runner.cleanup()


# --- over HTTP: git http-backend on 127.0.0.1 --------------------------------------------------------


@pytest.fixture
async def git_http(http_server: HttpServer, git_base: GitBase) -> AsyncIterator[HttpServer]:
    """``git http-backend`` (smart HTTP) serving ``git_base`` at ``http://127.0.0.1:<port>``."""
    from aiohttp import web

    seen: list[str] = []

    async def backend(request: web.Request) -> web.StreamResponse:
        seen.append(request.headers.get("Authorization", ""))
        body = await request.read()
        env = {
            "PATH": os.environ["PATH"],
            "GIT_PROJECT_ROOT": str(git_base.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "REQUEST_METHOD": request.method,
            "PATH_INFO": request.path,
            "QUERY_STRING": request.query_string,
            "CONTENT_TYPE": request.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_CONTENT_ENCODING": request.headers.get("Content-Encoding", ""),
            "GIT_PROTOCOL": request.headers.get("Git-Protocol", ""),
            "REMOTE_ADDR": "127.0.0.1",
        }
        proc = await asyncio.create_subprocess_exec(
            "git",
            "http-backend",
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, _err = await proc.communicate(body)
        head, _, payload = out.partition(b"\r\n\r\n")
        status = 200
        headers: dict[str, str] = {}
        for line in head.decode("latin-1").split("\r\n"):
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.strip().split()[0])
            elif key:
                headers[key.strip()] = value.strip()
        return web.Response(status=status, body=payload, headers=headers)

    http_server.fallback = backend
    http_server.seen_auth = seen  # type: ignore[attr-defined]
    yield http_server


async def test_install_over_smart_http_with_token_never_leaked(
    acq_settings: Settings, git_base: GitBase, git_http: HttpServer, workspace: Path, caplog: pytest.LogCaptureFixture
) -> None:
    token = "ghp_TOKEN_MUST_NOT_LEAK_42"
    from pydantic import SecretStr

    settings = acq_settings.model_copy(
        update={"github_base_url": f"http://127.0.0.1:{git_http.port}", "github_token": SecretStr(token)}
    )
    host = Host(settings)
    make_package(git_base)
    caplog.set_level(logging.DEBUG)

    record = (await host.addons.install("acme/tools", Scope.user(USER))).record
    assert record.kind == "plugin" and len(record.skills) == 3
    assert any(a.startswith("Basic ") for a in git_http.seen_auth)  # type: ignore[attr-defined]

    with pytest.raises(SourceError) as info:
        await host.addons.install("acme/missing", Scope.user(USER))
    assert "not found or is private" in info.value.user_message
    assert token not in info.value.user_message and token not in (info.value.detail or "")
    import base64

    encoded = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    assert token not in caplog.text and encoded not in caplog.text
    assert record.origin and all(token not in v for v in record.origin.values())


@pytest.fixture
async def stalled_server() -> AsyncIterator[int]:
    """A TCP server on 127.0.0.1 that accepts connections and never answers."""
    holders: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        holders.append(writer)
        await reader.read()  # never answer; return when the client goes away
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        for writer in holders:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_stalled_git_server_is_given_up_at_the_timeout(
    acq_settings: Settings, stalled_server: int, canary: Path, tmp_path: Path, workspace: Path
) -> None:
    settings = acq_settings.model_copy(
        update={"github_base_url": f"http://127.0.0.1:{stalled_server}", "git_timeout_seconds": 2.0}
    )
    host = Host(settings)
    invariants = Invariants(tmp_path, workspace)
    invariants.take()
    fds_before = open_fds()
    started = time.monotonic()
    await expect_refusal(
        invariants,
        host.addons.install("acme/tools", Scope.user(USER)),
        LimitExceededError,
        "longer than 2 s",
        markers=(f"127.0.0.1:{stalled_server}",),
    )
    elapsed = time.monotonic() - started
    assert 1.9 <= elapsed < 4.0, elapsed
    await asyncio.sleep(0.2)  # let the server side see the killed client's connection close
    assert open_fds() <= fds_before  # no socket or pipe left open


async def test_cancelling_an_install_kills_git(
    acq_settings: Settings, stalled_server: int, canary: Path, tmp_path: Path, workspace: Path
) -> None:
    settings = acq_settings.model_copy(update={"github_base_url": f"http://127.0.0.1:{stalled_server}"})
    host = Host(settings)
    task = asyncio.ensure_future(host.addons.install("acme/tools", Scope.user(USER)))
    deadline = time.monotonic() + 5
    while not processes_mentioning(f"127.0.0.1:{stalled_server}") and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert processes_mentioning(f"127.0.0.1:{stalled_server}")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.2)
    assert processes_mentioning(f"127.0.0.1:{stalled_server}") == []
    staging = workspace / ".kiroclaw-staging" / str(USER)  # staging lives outside the user's folder
    assert not staging.exists() or not any(staging.iterdir())


async def test_progress_is_reported_on_the_event_loop(acq_host: Host, git_base: GitBase) -> None:
    import threading

    make_package(git_base)
    seen: list[tuple[str, bool]] = []

    def progress(stage: str, detail: str | None = None) -> None:
        seen.append((stage, threading.current_thread() is threading.main_thread()))

    await acq_host.addons.install("acme/tools", Scope.user(USER), progress=progress)
    stages = [stage for stage, _ in seen]
    assert "downloading" in stages and "unpacking" in stages and stages[-1] == "installed"
    assert all(on_loop for _, on_loop in seen)
