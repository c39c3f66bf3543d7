"""``kiroclaw run`` as a real subprocess: start-up validation names what is missing; long polling and
webhook mode against the fake Bot API (``TELEGRAM_API_BASE``); a clean stop on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from pathlib import Path

import aiohttp

from tests.bot.conftest import ALICE
from tests.bot.fake_telegram import FakeTelegram
from tests.conftest import KIROCLAW_BIN, run_kiroclaw

TOKEN = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ_abc"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KIROCLAW_", "WORKSPACE_", "BOT_", "TELEGRAM_", "WEBHOOK_", "ALLOWED_", "ADMIN_"))
    }
    env["WORKSPACE_BASE_PATH"] = str(tmp_path / "ws")
    env["KIRO_CLI_PATH"] = "/nonexistent/kiro-cli"
    env.update(extra)
    return env


def test_missing_settings_are_named(tmp_path: Path) -> None:
    done = run_kiroclaw("run", env=_env(tmp_path), cwd=tmp_path)
    assert done.returncode == 2
    assert "BOT_TOKEN is not set: create a bot with @BotFather" in done.stderr
    assert "warning: ALLOWED_TELEGRAM_IDS is empty" in done.stderr
    assert "warning: KIRO_CLI_PATH" in done.stderr
    assert "Traceback" not in done.stderr

    done = run_kiroclaw("run", "--webhook", env=_env(tmp_path, BOT_TOKEN="12:short"), cwd=tmp_path)
    assert done.returncode == 2
    for expected in ("BOT_TOKEN does not look like", "WEBHOOK_URL is not set", "WEBHOOK_SECRET is not set"):
        assert expected in done.stderr

    bad = _env(tmp_path, BOT_TOKEN=TOKEN, WEBHOOK_URL="http://bot.example/hook", WEBHOOK_SECRET="no spaces allowed")
    done = run_kiroclaw("run", "--webhook", env={**bad, "INSTALL_RATE_LIMIT": "lots"}, cwd=tmp_path)
    assert "WEBHOOK_URL must start with https://" in done.stderr
    assert "WEBHOOK_SECRET may only hold" in done.stderr
    assert "INSTALL_RATE_LIMIT 'lots'" in done.stderr
    assert TOKEN not in done.stderr + done.stdout


async def _stop(proc: asyncio.subprocess.Process) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return await asyncio.wait_for(proc.wait(), 15)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise


async def test_run_long_polling_against_a_local_bot_api(tmp_path: Path) -> None:
    fake = FakeTelegram(TOKEN)
    await fake.start()
    env = _env(tmp_path, BOT_TOKEN=TOKEN, TELEGRAM_API_BASE=fake.base, ALLOWED_TELEGRAM_IDS=str(ALICE.id))
    proc = await asyncio.create_subprocess_exec(
        str(KIROCLAW_BIN), "run", env=env, cwd=tmp_path, stderr=asyncio.subprocess.PIPE, start_new_session=True
    )
    try:
        await fake.wait_for(lambda: bool(fake.poll_calls), timeout=60)
        fake.send_text(ALICE, "/start")
        await fake.wait_for(lambda: bool(fake.bot_texts(ALICE.id)), timeout=30)
        assert "Hi Alice" in fake.bot_texts(ALICE.id)[0]
        assert fake.api_calls("deleteWebhook") and len(fake.commands) == 8
    finally:
        code = await _stop(proc)
        await fake.stop()
    assert proc.stderr is not None
    stderr = (await proc.stderr.read()).decode()
    assert code == 0, stderr
    assert "bot @test_bot (long polling)" in stderr
    assert TOKEN not in stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_run_webhook_mode(tmp_path: Path) -> None:
    fake = FakeTelegram(TOKEN)
    await fake.start()
    port = _free_port()
    env = _env(
        tmp_path,
        BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE=fake.base,
        ALLOWED_TELEGRAM_IDS=str(ALICE.id),
        WEBHOOK_URL=f"http://127.0.0.1:{port}/tg-hook",
        WEBHOOK_HOST="127.0.0.1",
        WEBHOOK_PORT=str(port),
        WEBHOOK_SECRET="s3cret-Token_1",
    )
    proc = await asyncio.create_subprocess_exec(
        str(KIROCLAW_BIN),
        "run",
        "--webhook",
        env=env,
        cwd=tmp_path,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        await fake.wait_for(lambda: fake.webhook is not None, timeout=60)
        assert fake.webhook is not None
        assert fake.webhook["url"] == f"http://127.0.0.1:{port}/tg-hook"
        assert fake.webhook["secret_token"] == "s3cret-Token_1"
        update = {
            "update_id": 1,
            "message": {
                "message_id": 1,
                "date": 1767225600,
                "from": ALICE.as_json(),
                "chat": {"id": ALICE.id, "type": "private", "first_name": ALICE.first_name},
                "text": "/start",
                "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
            },
        }
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{port}/tg-hook"
            async with http.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}) as resp:
                assert resp.status == 401
            headers = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-Token_1"}
            async with http.post(url, json=update, headers=headers) as resp:
                assert resp.status == 200
        await fake.wait_for(lambda: bool(fake.api_calls("sendMessage")), timeout=30)
        assert "Hi Alice" in fake.api_calls("sendMessage")[0].params["text"]
    finally:
        code = await _stop(proc)
        await fake.stop()
    assert code == 0


async def test_sigterm_lets_a_running_reply_finish(tmp_path: Path) -> None:
    from tests.agent.conftest import make_launcher

    fake = FakeTelegram(TOKEN)
    await fake.start()
    env = _env(
        tmp_path,
        BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE=fake.base,
        ALLOWED_TELEGRAM_IDS=str(ALICE.id),
        KIRO_CLI_PATH=str(make_launcher(tmp_path / "bin")),
    )
    proc = await asyncio.create_subprocess_exec(
        str(KIROCLAW_BIN), "run", env=env, cwd=tmp_path, stderr=asyncio.subprocess.DEVNULL, start_new_session=True
    )
    try:
        await fake.wait_for(lambda: bool(fake.poll_calls), timeout=60)
        fake.send_text(ALICE, "slow a b c d e f g h")
        await fake.wait_for(lambda: bool(fake.api_calls("sendMessageDraft")), timeout=60)
    finally:
        code = await _stop(proc)
        await fake.stop()
    assert code == 0
    assert fake.bot_texts(ALICE.id) == ["a b c d e f g h"]
