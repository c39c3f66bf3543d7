"""``kiroclaw run`` start-up errors as an operator meets them: one line each, exit status 2, nothing created.

Real subprocesses against the fake Bot API (a 401 for a revoked token) and against a loopback port where
nothing listens (no network). The time to the first error line is measured in ``python -m bench bot_startup``.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.bot.fake_telegram import FakeTelegram
from tests.conftest import KIROCLAW_BIN

TOKEN = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ_abc"
REVOKED = "123456:ZYXWVUTSRQPONMLKJIHGFEDCBA_old"


def _env(**extra: str) -> dict[str, str]:
    """The environment without any KiroClaw setting of the developer's; the workspace stays at its default."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KIROCLAW_", "WORKSPACE_", "BOT_", "TELEGRAM_", "WEBHOOK_", "ALLOWED_", "ADMIN_"))
    }
    env.update({"KIRO_CLI_PATH": sys.executable, "ALLOWED_TELEGRAM_IDS": "42"}, **extra)
    return env


async def _run(cwd: Path, env: dict[str, str]) -> tuple[int, list[str]]:
    proc = await asyncio.create_subprocess_exec(
        str(KIROCLAW_BIN), "run", env=env, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert out == b""
    return int(proc.returncode or 0), err.decode().splitlines()


def _closed_port() -> int:
    """A loopback port with nothing listening (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_revoked_token_is_one_line(tmp_path: Path) -> None:
    fake = FakeTelegram(TOKEN)
    await fake.start()
    try:
        code, lines = await _run(tmp_path, _env(BOT_TOKEN=REVOKED, TELEGRAM_API_BASE=fake.base))
    finally:
        await fake.stop()
    assert code == 2
    assert lines == ["error: Telegram rejected BOT_TOKEN (401): copy it again from @BotFather /token"]
    assert list(tmp_path.iterdir()) == [], "start-up created files although it could not start"


async def test_no_reachable_bot_api_is_one_line(tmp_path: Path) -> None:
    port = _closed_port()
    code, lines = await _run(tmp_path, _env(BOT_TOKEN=TOKEN, TELEGRAM_API_BASE=f"http://127.0.0.1:{port}"))
    assert code == 2
    assert lines == [
        f"error: cannot reach the Bot API at 127.0.0.1:{port} (DNS/connect): check the network or TELEGRAM_API_BASE"
    ]
    assert list(tmp_path.iterdir()) == []


async def test_each_invalid_setting_is_one_line_in_the_projects_words(tmp_path: Path) -> None:
    env = _env(BOT_TOKEN=TOKEN, ALLOWED_TELEGRAM_IDS="42,abc", MAX_PROCESSES="0", IDLE_TIMEOUT_SECONDS="soon")
    code, lines = await _run(tmp_path, env)
    assert code == 2
    assert sorted(lines) == [
        "error: ALLOWED_TELEGRAM_IDS: 'abc' is not a Telegram user id (numbers separated by commas, e.g. 42,1001)",
        "error: IDLE_TIMEOUT_SECONDS: 'soon' is not a number of seconds",
        "error: MAX_PROCESSES: '0' is too small: the least is 1",
    ]
    assert list(tmp_path.iterdir()) == []


async def test_a_plugins_invalid_setting_is_one_line_before_the_bot_api_is_asked(tmp_path: Path) -> None:
    port = _closed_port()
    env = _env(BOT_TOKEN=TOKEN, TELEGRAM_API_BASE=f"http://127.0.0.1:{port}", GIT_TIMEOUT_SECONDS="soon")
    code, lines = await _run(tmp_path, env)
    assert code == 2
    assert lines == ["error: GIT_TIMEOUT_SECONDS: 'soon' is not a number of seconds"]
    assert list(tmp_path.iterdir()) == []


async def test_a_missing_token_creates_no_workspace(tmp_path: Path) -> None:
    code, lines = await _run(tmp_path, _env())
    assert code == 2
    assert lines == ["error: BOT_TOKEN is not set: create a bot with @BotFather (/newbot) and put its token in .env"]
    assert not (tmp_path / "workspaces").exists()


def test_start_up_checks_do_not_import_aiogram(tmp_path: Path) -> None:
    """The checks finish before aiogram (seconds of import) is loaded: the reason they answer at once."""
    probe = (
        "import sys\nfrom kiroclaw.cli import main\n"
        "try:\n    main(['run'])\nexcept SystemExit as exc:\n    code = exc.code\n"
        "print(code, sorted(m for m in ('aiogram', 'aiohttp', 'acp') if m in sys.modules))\n"
    )
    port = _closed_port()
    env = _env(BOT_TOKEN=TOKEN, TELEGRAM_API_BASE=f"http://127.0.0.1:{port}")
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stdout.strip() == "2 []", done.stderr
