"""``kiroclaw doctor`` as a real subprocess: the bot's settings, the Bot API (the fake one on 127.0.0.1
answering 200 and 401, and a loopback port nobody listens on), the agent (the stand-in kiro-cli, and a
program that prints nothing for ``--version``), the workspace (absolute, writable), git and the registry
(served on 127.0.0.1, a wrong base, a closed port); each problem with its fix; ``--json``."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from pathlib import Path

from tests.agent.conftest import make_launcher
from tests.bot.fake_telegram import FakeTelegram
from tests.conftest import run_kiroclaw
from tests.hub.conftest import Hub

TOKEN = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ_abc"
OTHER_TOKEN = "123456:ZYXWVUTSRQPONMLKJIHGFEDCBA_xyz"


def _closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A complete set-up but for what ``extra`` changes: stand-in kiro-cli, tmp workspace, local catalog."""
    prefixes = ("KIROCLAW_", "WORKSPACE_", "BOT_", "TELEGRAM_", "WEBHOOK_", "ALLOWED_", "ADMIN_", "KIRO", "AGENT")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    (tmp_path / "catalog").mkdir(exist_ok=True)
    env.update(
        WORKSPACE_BASE_PATH=str(tmp_path / "ws"),
        KIRO_CLI_PATH=str(make_launcher(tmp_path / "bin")),
        KIRO_API_KEY="test-key",
        KIROHUB_REGISTRY_URL=(tmp_path / "catalog").as_uri(),
        ALLOWED_TELEGRAM_IDS="42",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(extra)
    return env


async def _doctor(tmp_path: Path, *args: str, **extra: str) -> tuple[int, str]:
    done = await asyncio.to_thread(run_kiroclaw, "doctor", *args, env=_env(tmp_path, **extra), cwd=tmp_path)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout


async def test_a_complete_setup_passes_and_names_the_bot(tmp_path: Path) -> None:
    fake = FakeTelegram(TOKEN, bot_username="kiroclaw_test_bot")
    await fake.start()
    try:
        code, out = await _doctor(tmp_path, BOT_TOKEN=TOKEN, TELEGRAM_API_BASE=fake.base)
    finally:
        await fake.stop()
    assert code == 0, out
    assert "ok    bot settings (BOT_TOKEN well-formed, 1 allowed Telegram user(s))" in out
    assert f"ok    the Bot API at {fake.base} knows the bot: @kiroclaw_test_bot" in out
    assert "ok    kiro-cli " in out and ": kiro-cli 2.12.2" in out
    assert f"ok    workspace root {tmp_path / 'ws'} is writable" in out
    assert "ok    git fetch into the workspace works (git version " in out
    assert f"ok    the registry at {(tmp_path / 'catalog').as_uri()} answers the ClawHub API" in out
    assert out.rstrip().endswith("everything needed is in place")
    assert TOKEN not in out and TOKEN.split(":")[1] not in out


async def test_a_token_telegram_rejects_is_401_with_the_fix(tmp_path: Path) -> None:
    fake = FakeTelegram(TOKEN)
    await fake.start()
    try:
        code, out = await _doctor(tmp_path, BOT_TOKEN=OTHER_TOKEN, TELEGRAM_API_BASE=fake.base)
    finally:
        await fake.stop()
    assert code == 1
    assert "MISSING Telegram rejected BOT_TOKEN (401)\n      fix: copy it again from @BotFather /token\n" in out
    assert "1 problem(s) found" in out
    assert OTHER_TOKEN.split(":")[1] not in out


async def test_an_unreachable_bot_api_names_host_and_fix(tmp_path: Path) -> None:
    port = _closed_port()
    code, out = await _doctor(tmp_path, BOT_TOKEN=TOKEN, TELEGRAM_API_BASE=f"http://127.0.0.1:{port}")
    assert code == 1
    assert f"MISSING cannot reach the Bot API at 127.0.0.1:{port} (DNS/connect)" in out
    assert "      fix: check the network or TELEGRAM_API_BASE\n" in out


async def test_bad_bot_settings_are_named_once_each_and_the_api_is_not_asked(tmp_path: Path) -> None:
    code, out = await _doctor(tmp_path, BOT_TOKEN="12:short", TELEGRAM_API_BASE="ftp://x")
    assert code == 1
    assert "MISSING BOT_TOKEN does not look like a BotFather token (<digits>:<secret>)" in out
    assert "MISSING TELEGRAM_API_BASE must be an http(s) URL such as http://127.0.0.1:8081" in out
    assert "was not asked (fix the bot settings first)" in out
    code, out = await _doctor(tmp_path)
    assert code == 1
    assert "MISSING BOT_TOKEN is not set\n      fix: create a bot with @BotFather (/newbot) and put its token" in out
    code, out = await _doctor(tmp_path, BOT_TOKEN=TOKEN, ALLOWED_TELEGRAM_IDS="42,abc")
    assert code == 1
    assert out.splitlines()[0] == (
        "MISSING ALLOWED_TELEGRAM_IDS: 'abc' is not a Telegram user id (numbers separated by commas, e.g. 42,1001)"
    )
    assert "validation error" not in out


async def test_a_kiro_cli_that_prints_no_version_is_reported_as_that(tmp_path: Path) -> None:
    quiet = tmp_path / "quiet" / "kiro-cli"
    quiet.parent.mkdir()
    quiet.write_text("#!/bin/sh\nexit 0\n")
    quiet.chmod(0o755)
    code, out = await _doctor(
        tmp_path, BOT_TOKEN=TOKEN, TELEGRAM_API_BASE=f"http://127.0.0.1:{_closed_port()}", KIRO_CLI_PATH=str(quiet)
    )
    assert code == 1
    assert f"MISSING a kiro-cli that says its version ({quiet} --version printed nothing)" in out
    assert "fix: point KIRO_CLI_PATH at kiro-cli itself" in out
    assert "exited 0" not in out


async def test_the_workspace_must_be_writable_and_a_relative_one_says_where_it_is(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, out = await _doctor(tmp_path, WORKSPACE_BASE_PATH=str(blocker / "ws"))
    assert f"MISSING a writable workspace root ({blocker / 'ws'}: Not a directory)" in out
    assert "fix: create the folder and give the bot's user write access, or set WORKSPACE_BASE_PATH" in out
    code, out = await _doctor(tmp_path, WORKSPACE_BASE_PATH="./rel-ws")
    assert code == 1  # no BOT_TOKEN; a relative workspace is a note, not a problem
    assert f"note  WORKSPACE_BASE_PATH './rel-ws' is relative: from this folder it is {tmp_path / 'rel-ws'}" in out
    assert "fix: set WORKSPACE_BASE_PATH to an absolute path" in out


async def test_the_registry_must_answer_its_api(tmp_path: Path, hub: Hub) -> None:
    code, out = await _doctor(tmp_path, KIROHUB_REGISTRY_URL=hub.url)
    assert f"ok    the registry at {hub.url} answers the ClawHub API" in out
    code, out = await _doctor(tmp_path, KIROHUB_REGISTRY_URL=hub.url + "/not-a-registry/")
    assert f"MISSING a registry answering the ClawHub API at {hub.url}/not-a-registry/ (HTTP 404 " in out
    assert "fix: check the network, or that KIROHUB_REGISTRY_URL names a ClawHub-compatible registry" in out
    port = _closed_port()
    code, out = await _doctor(tmp_path, KIROHUB_REGISTRY_URL=f"http://127.0.0.1:{port}")
    assert f"MISSING a registry answering the ClawHub API at http://127.0.0.1:{port}" in out
    code, out = await _doctor(tmp_path, KIROHUB_REGISTRY_URL=(tmp_path / "gone").as_uri())
    assert code == 1
    assert "fix: create the catalog folder or correct KIROHUB_REGISTRY_URL" in out


async def test_json_lists_every_check_with_its_fix(tmp_path: Path) -> None:
    fake = FakeTelegram(TOKEN)
    await fake.start()
    try:
        code, out = await _doctor(tmp_path, "--json", BOT_TOKEN=OTHER_TOKEN, TELEGRAM_API_BASE=fake.base)
    finally:
        await fake.stop()
    data = json.loads(out)
    assert code == 1 and data["ok"] is False and data["problems"] == 1
    areas = {check["area"] for check in data["checks"]}
    assert {"bot", "bot_api", "agent", "workspace", "git", "registry"} <= areas
    (failed,) = [c for c in data["checks"] if c["level"] == "problem"]
    assert failed == {
        "area": "bot_api",
        "level": "problem",
        "ok": False,
        "message": "Telegram rejected BOT_TOKEN (401)",
        "fix": "copy it again from @BotFather /token",
    }
