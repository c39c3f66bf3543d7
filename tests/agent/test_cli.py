"""``kiroclaw ask`` and ``kiroclaw doctor`` as real subprocesses, and the SQLite session store."""

from __future__ import annotations

import asyncio
from pathlib import Path

from kiroclaw.agent.sessions import SessionStore

from ..conftest import run_kiroclaw, write_skill
from .conftest import agent_processes


def test_ask_streams_the_users_agent_reply(
    cli_env: dict[str, str], kiro_cli: Path, workspace: Path, tmp_path: Path
) -> None:
    env = {**cli_env, "KIRO_CLI_PATH": str(kiro_cli)}
    folder = write_skill(tmp_path / "src", "weather-api")
    installed = run_kiroclaw("addon", "install", str(folder), "--user", "42", "--yes", env=env, cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr
    out = run_kiroclaw("ask", "--user", "42", "list", "skills", env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "weather-api\n"
    assert run_kiroclaw("ask", "--user", "43", "list skills", env=env, cwd=tmp_path).stdout == "(no skills)\n"
    # the same thread continues the conversation in a new process
    again = run_kiroclaw("ask", "--user", "42", "history", env=env, cwd=tmp_path)
    assert again.stdout == "list skills\n"
    fresh = run_kiroclaw("ask", "--user", "42", "--new", "history", env=env, cwd=tmp_path)
    assert fresh.stdout == "(no history)\n"
    files = run_kiroclaw("ask", "--user", "42", "--thread", "3", "write file a.txt hi", env=env, cwd=tmp_path)
    assert "file: " in files.stderr and files.stderr.strip().endswith("3/sent/a.txt")
    assert agent_processes(workspace) == []


def test_ask_verbose_shows_the_agents_stderr(cli_env: dict[str, str], kiro_cli: Path, tmp_path: Path) -> None:
    env = {**cli_env, "KIRO_CLI_PATH": str(kiro_cli)}
    quiet = run_kiroclaw("ask", "--user", "42", "echo hi", env=env, cwd=tmp_path)
    assert quiet.stdout == "hi\n" and "stand-in kiro-cli" not in quiet.stderr
    loud = run_kiroclaw("ask", "--user", "42", "--verbose", "echo hi", env=env, cwd=tmp_path)
    assert loud.stdout == "hi\n"
    assert "--- agent stderr (last lines) ---" in loud.stderr
    assert "stand-in kiro-cli 2.12.2: agent kiroclaw" in loud.stderr


def test_ask_reports_a_missing_agent_program_in_one_line(cli_env: dict[str, str], tmp_path: Path) -> None:
    env = {**cli_env, "KIRO_CLI_PATH": str(tmp_path / "missing-kiro-cli")}
    out = run_kiroclaw("ask", "--user", "42", "hello", env=env, cwd=tmp_path)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        "error: the agent program (kiro-cli) is not installed on this server",
        "  fix: install kiro-cli (curl -fsSL https://cli.kiro.dev/install | bash) or point KIRO_CLI_PATH at it; "
        "`kiroclaw doctor` checks the set-up",
    ]


def _local_registry(tmp_path: Path) -> str:
    """A local catalog folder as KIROHUB_REGISTRY_URL: doctor checks the registry, and tests stay on this machine."""
    (tmp_path / "catalog").mkdir(exist_ok=True)
    return (tmp_path / "catalog").as_uri()


async def test_doctor_passes_with_a_complete_setup(cli_env: dict[str, str], kiro_cli: Path, tmp_path: Path) -> None:
    from tests.bot.fake_telegram import FakeTelegram

    token = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ_abc"
    fake = FakeTelegram(token)
    await fake.start()
    env = {
        **cli_env,
        "KIRO_CLI_PATH": str(kiro_cli),
        "KIROHUB_REGISTRY_URL": _local_registry(tmp_path),
        "BOT_TOKEN": token,
        "TELEGRAM_API_BASE": fake.base,
    }
    try:
        out = await asyncio.to_thread(run_kiroclaw, "doctor", env=env, cwd=tmp_path)
    finally:
        await fake.stop()
    assert out.returncode == 0, out.stdout
    assert "kiro-cli 2.12.2" in out.stdout
    assert "everything needed is in place" in out.stdout


def test_doctor_names_what_is_missing_and_the_fix(cli_env: dict[str, str], tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    env = {
        **cli_env,
        "KIRO_CLI_PATH": "kiro-cli-that-does-not-exist",
        "KIRO_CONFIG_PATH": str(tmp_path / "no-template"),
        "WORKSPACE_BASE_PATH": str(blocker / "ws"),
        "KIROHUB_REGISTRY_URL": _local_registry(tmp_path),
    }
    env.pop("BOT_TOKEN", None)
    out = run_kiroclaw("doctor", env=env, cwd=tmp_path)
    assert out.returncode == 1
    assert "MISSING kiro-cli" in out.stdout and "https://cli.kiro.dev/install" in out.stdout
    assert "MISSING agent template folder" in out.stdout and "KIRO_CONFIG_PATH" in out.stdout
    assert "MISSING a writable workspace root" in out.stdout
    assert "MISSING BOT_TOKEN is not set" in out.stdout  # doctor checks the bot too (issue 13 point 4)
    assert "4 problem(s) found" in out.stdout


def test_doctor_flags_an_old_kiro_cli(cli_env: dict[str, str], tmp_path: Path) -> None:
    old = tmp_path / "kiro-cli"
    old.write_text("#!/bin/sh\necho 'kiro-cli 1.26.0'\n")
    old.chmod(0o755)
    env = {**cli_env, "KIRO_CLI_PATH": str(old), "KIROHUB_REGISTRY_URL": _local_registry(tmp_path)}
    out = run_kiroclaw("doctor", env=env, cwd=tmp_path)
    assert out.returncode == 1 and "kiro-cli 2.10 or newer" in out.stdout


async def test_session_store_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "db" / "sessions.db"
    store = SessionStore(path)
    assert await store.get(42, 0) is None
    await store.set_session(42, 0, "s-1")
    await store.set_model(42, 0, "claude-sonnet-4")
    await store.set_model(42, 9, "auto")
    await store.close()
    reopened = SessionStore(path)
    row = await reopened.get(42, 0)
    assert row is not None and (row.session_id, row.model_id) == ("s-1", "claude-sonnet-4")
    await reopened.set_session(42, 0, None)
    row = await reopened.get(42, 0)
    assert row is not None and row.session_id is None and row.model_id == "claude-sonnet-4"
    other = await reopened.get(42, 9)
    assert other is not None and other.session_id is None and other.model_id == "auto"
    assert await reopened.get(43, 0) is None
    await reopened.close()
