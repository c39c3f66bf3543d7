"""Bot assembly from plugins: include order, third-party commands, duplicate and invalid command names,
the 100-command menu, and that the CLI never imports aiogram just by loading the bot plugin."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kiroclaw import hookimpl
from kiroclaw.errors import PluginConflictError
from kiroclaw.host import Host
from tests.bot.conftest import ALICE, bot_settings


class WeatherPlugin:
    """A third-party plugin adding ``/weather``."""

    @hookimpl
    def register_bot_commands(self, register):  # type: ignore[no-untyped-def]
        from aiogram import Router
        from aiogram.filters import Command
        from aiogram.types import BotCommand, Message

        router = Router(name="weather")

        @router.message(Command("weather"))
        async def weather(message: Message) -> None:
            await message.answer("☀️ sunny")

        register(router, [BotCommand(command="weather", description="Today's weather")])


class ClashingPlugin:
    @hookimpl
    def register_bot_commands(self, register):  # type: ignore[no-untyped-def]
        from aiogram import Router
        from aiogram.types import BotCommand

        register(Router(), [BotCommand(command="addon", description="mine")])


class ManyCommandsPlugin:
    @hookimpl
    def register_bot_commands(self, register):  # type: ignore[no-untyped-def]
        from aiogram import Router
        from aiogram.types import BotCommand

        register(Router(), [BotCommand(command=f"c{i:03d}", description=f"command {i}") for i in range(120)])


class BadNamePlugin:
    @hookimpl
    def register_bot_commands(self, register):  # type: ignore[no-untyped-def]
        from aiogram import Router
        from aiogram.types import BotCommand

        register(Router(), [BotCommand(command="Bad-Name", description="x")])


async def test_third_party_commands_follow_the_core_and_work(start_bot) -> None:
    h = await start_bot(plugins=(("zz-weather", WeatherPlugin()),))
    names = [c["command"] for c in h.fake.commands]
    assert names[:3] == ["start", "help", "addon"] and names[-1] == "weather"
    await h.say(ALICE, "/weather")
    assert h.last(ALICE) == "☀️ sunny"  # not swallowed by the chat router
    await h.say(ALICE, "/help")
    assert "/weather — Today's weather" in h.last(ALICE)
    await h.say(ALICE, "/nosuchcommand now")
    assert h.last(ALICE) == "Unknown command /nosuchcommand. Send /help to see what I can do."


def test_duplicate_command_names_fail_at_start(tmp_path: Path) -> None:
    from kiroclaw.bot.app import build_dispatcher

    host = Host(bot_settings(tmp_path), extra_plugins=[("clash", ClashingPlugin())])
    with pytest.raises(
        PluginConflictError, match=r"/addon is registered by both plugin 'kiroclaw.bot.plugin' and plugin 'clash'"
    ):
        build_dispatcher(host, runtime=None)


def test_invalid_command_names_fail_at_start(tmp_path: Path) -> None:
    from kiroclaw.bot.app import build_dispatcher

    host = Host(bot_settings(tmp_path), extra_plugins=[("bad", BadNamePlugin())])
    with pytest.raises(PluginConflictError, match="Bad-Name"):
        build_dispatcher(host, runtime=None)


async def test_menu_holds_at_most_100_commands(start_bot) -> None:
    h = await start_bot(plugins=(("many", ManyCommandsPlugin()),))
    assert len(h.fake.commands) == 100
    assert h.fake.commands[0]["command"] == "start"


def test_a_fresh_dispatcher_per_call(tmp_path: Path) -> None:
    from kiroclaw.bot.app import build_dispatcher

    host = Host(bot_settings(tmp_path))
    first, second = build_dispatcher(host, None), build_dispatcher(host, None)
    assert first is not second and first["bot_commands"] == second["bot_commands"]


def test_loading_the_bot_plugin_does_not_import_aiogram(tmp_path: Path) -> None:
    code = (
        "import sys; from kiroclaw.host import Host; from kiroclaw.config import Settings; "
        f"h = Host(Settings(_env_file=None, workspace_base_path={str(tmp_path)!r})); "
        "assert 'kiroclaw.bot.plugin' in h.plugins; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('aiogram', 'aiohttp', 'acp')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]", done.stdout


def test_button_payloads_belong_to_one_user_and_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    from kiroclaw.bot.app import ActionStore
    from kiroclaw.shared import state as app_module  # where the in-process store lives

    now = [1000.0]
    monkeypatch.setattr(app_module.time, "monotonic", lambda: now[0])
    store = ActionStore(ttl_seconds=60, max_entries=3)
    token = store.put(1, {"op": "install", "spec": "weather-api"})
    assert len(token) <= 10 and len(f"ad:{token}".encode()) <= 64
    assert store.get(token, 2) is None  # someone else's button
    assert store.get(token, 1) == {"op": "install", "spec": "weather-api"}
    assert store.pop(token, 1) is not None and store.get(token, 1) is None  # one-shot
    token = store.put(1, {"op": "remove"})
    now[0] += 61
    assert store.get(token, 1) is None  # expired
    tokens = [store.put(1, {"n": i}) for i in range(5)]
    assert len(store) == 3 and store.get(tokens[0], 1) is None and store.get(tokens[-1], 1) == {"n": 4}


class BrokenPlugin:
    @hookimpl
    def register_bot_commands(self, register):  # type: ignore[no-untyped-def]
        raise ImportError("No module named 'telegram_extras'")


def test_a_failing_plugin_is_named(tmp_path: Path) -> None:
    from kiroclaw.bot.app import build_dispatcher
    from kiroclaw.errors import PluginError

    host = Host(bot_settings(tmp_path), extra_plugins=[("extras", BrokenPlugin())])
    with pytest.raises(PluginError, match="plugin 'extras' failed to register its bot commands: ImportError") as info:
        build_dispatcher(host, runtime=None)
    assert isinstance(info.value.__cause__, ImportError)
