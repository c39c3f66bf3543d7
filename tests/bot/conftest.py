"""Fixtures for the bot's end-to-end tests: the fake Bot API server, the REAL aiogram Bot and Dispatcher
long-polling it on 127.0.0.1, a real host in a tmp workspace, and the real AgentRuntime with the stand-in
ACP agent (``tests/agent/standin_agent.py``) as kiro-cli."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from kiroclaw.config import Settings
from kiroclaw.host import Host
from tests.agent.conftest import make_launcher
from tests.bot.fake_telegram import RAW_MARKUP, FakeTelegram, FakeUser, utf16_len
from tests.hub.conftest import catalog, hub  # noqa: F401  (fixtures re-used from the hub tests)

TOKEN = "123456:TEST-token"

ALICE = FakeUser(1001, "Alice", "alice")
BOB = FakeUser(1002, "Bob", "bob")
ADMIN = FakeUser(1003, "Ada", "ada")
MALLORY = FakeUser(6666, "Mallory", "mallory")


def bot_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings for a bot test: tmp workspace, ALICE/BOB/ADMIN allowed, ADMIN an admin, the stand-in agent."""
    workspace = tmp_path / "workspaces"
    workspace.mkdir(exist_ok=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    values: dict[str, Any] = {
        "workspace_base_path": workspace,
        "kiroclaw_disable_plugins": [],
        "allowed_telegram_ids": [ALICE.id, BOB.id, ADMIN.id],
        "admin_telegram_ids": [ADMIN.id],
        "bot_token": TOKEN,
        "kiro_cli_path": str(make_launcher(bin_dir)),
        "install_rate_limit": "10/hour",
        "kirohub_timeout_seconds": 5.0,
        "kirohub_retries": 1,
        "kirohub_cache_ttl_seconds": 0,
        "agent_start_timeout_seconds": 30.0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@dataclass
class BotHarness:
    """A running bot: the fake server, aiogram's Bot/Dispatcher polling it, the host and the runtime."""

    fake: FakeTelegram
    host: Host
    runtime: Any
    bot: Any
    dp: Any
    task: asyncio.Task[Any]
    settings: Settings
    log_records: list[logging.LogRecord] = field(default_factory=list)

    async def say(self, user: FakeUser, text: str, **kwargs: Any) -> int:
        """``user`` sends ``text``; returns once the bot has handled it."""
        update_id = self.fake.send_text(user, text, **kwargs)
        await self.fake.wait_acked(update_id)
        return update_id

    async def upload(self, user: FakeUser, name: str, data: bytes, **kwargs: Any) -> int:
        update_id = self.fake.send_document(user, name, data, **kwargs)
        await self.fake.wait_acked(update_id)
        return update_id

    async def press(self, user: FakeUser, message_id: int, button: str) -> int:
        update_id = self.fake.press(user, message_id, button)
        await self.fake.wait_acked(update_id)
        return update_id

    def last(self, user: FakeUser) -> str:
        """The text of the bot's latest message in ``user``'s private chat."""
        return self.fake.last_bot(user.id).text

    def errors(self) -> list[str]:
        return [f"{r.name}: {r.getMessage()}" for r in self.log_records if r.levelno >= logging.ERROR]

    def assert_clean(self, *chat_ids: int) -> None:
        """What the users read has no raw markup, nothing empty or too long; every callback answered."""
        for chat_id in chat_ids:
            for msg in self.fake.chat_messages(chat_id, sender="bot"):
                assert not RAW_MARKUP.search(msg.text), f"raw markup in {msg.text!r}"
                assert msg.text.strip() or msg.document, "empty bot message"
                assert utf16_len(msg.text) <= 4096
        assert not self.fake.unanswered_callbacks(), self.fake.unanswered_callbacks()


class _Collect(logging.Handler):
    def __init__(self, sink: list[logging.LogRecord]) -> None:
        super().__init__(logging.INFO)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(record)


@pytest.fixture
async def start_bot(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[BotHarness]]]:
    """``await start_bot(**settings_overrides, options=BotOptions(...), runtime=...)`` → a running
    :class:`BotHarness`; everything is stopped at teardown (bot first, then runtime, host, server)."""
    from aiogram.dispatcher.dispatcher import BackoffConfig

    from kiroclaw.bot.app import BotOptions, build_dispatcher, create_bot

    harnesses: list[BotHarness] = []
    handlers: list[logging.Handler] = []

    async def start(
        *,
        options: BotOptions | None = None,
        runtime: Any = None,
        as_tasks: bool = False,
        plugins: tuple[tuple[str, object], ...] = (),
        **overrides: Any,
    ) -> BotHarness:
        fake = FakeTelegram(TOKEN)
        await fake.start()
        settings = bot_settings(tmp_path, **overrides)
        host = Host(settings, extra_plugins=plugins)
        await host.start()
        if runtime is None:
            from kiroclaw.agent.runtime import AgentRuntime

            runtime = AgentRuntime(host)
        options = options or BotOptions(stream_interval_seconds=0.05, typing_interval_seconds=2.0)
        dp = build_dispatcher(host, runtime, options=options)
        bot = create_bot(TOKEN, api_base=fake.base, request_timeout_seconds=5)
        records: list[logging.LogRecord] = []
        handler = _Collect(records)
        logging.getLogger().addHandler(handler)
        handlers.append(handler)
        task = asyncio.create_task(
            dp.start_polling(
                bot,
                handle_signals=False,
                polling_timeout=1,
                handle_as_tasks=as_tasks,
                backoff_config=BackoffConfig(min_delay=0.05, max_delay=0.2, factor=1.5, jitter=0),
            )
        )
        harness = BotHarness(fake, host, runtime, bot, dp, task, settings, records)
        harnesses.append(harness)
        await fake.wait_for(lambda: bool(fake.poll_calls), timeout=20)
        return harness

    yield start

    for harness in harnesses:
        try:
            await harness.dp.stop_polling()
        except RuntimeError:
            pass  # polling already stopped
        await asyncio.wait_for(harness.task, timeout=10)
        if hasattr(harness.runtime, "aclose"):
            await harness.runtime.aclose()
        await harness.host.aclose()
        await harness.bot.session.close()
        await harness.fake.stop()
    for handler in handlers:
        logging.getLogger().removeHandler(handler)


def tree(path: Path) -> list[str]:
    """Every path under ``path`` (relative, sorted); ``[]`` if it does not exist."""
    if not path.exists():
        return []
    return sorted(os.path.relpath(os.path.join(d, n), path) for d, ds, fs in os.walk(path) for n in ds + fs)
