"""Assemble the bot: the Dispatcher with its routers (collected from plugins), middlewares and DI values,
and the Bot object pointed at Telegram or a local Bot API server.

Routers come from the ``register_bot_commands`` hook: every plugin calls ``register(router, commands)``.
They are included sorted by plugin name, the core's plugins first, so order is data, not load order;
a command name registered twice fails start-up with :class:`~kiroclaw.errors.PluginConflictError`. The
command menu (``setMyCommands``, at most 100 entries: Telegram's limit) is set from the same list when
polling starts. Handlers receive the DI values by parameter name: ``host``, ``runtime``, ``settings``,
``install_guard``, ``actions`` (a :class:`~kiroclaw.shared.bot.ButtonStore`), ``options``, ``bot_commands``,
``live_drafts``, ``shared_state``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.types import BotCommand, Message

from ..errors import PluginConflictError
from ..hookcall import NameTable, call_all
from ..plugins import DEFAULT_PLUGINS
from ..shared.state import ActionStore as ActionStore  # the in-process button store (re-exported)
from .middlewares import AllowlistMiddleware, ErrorMiddleware, FloodControlMiddleware, InstallGuard, LiveDrafts

if TYPE_CHECKING:
    from ..config import Settings
    from ..host import Host
    from ..shared.state import SharedState

log = logging.getLogger(__name__)

#: Telegram's limit on the bot command menu (Bot API ``setMyCommands``).
MAX_MENU_COMMANDS = 100
#: Bot command names: 1–32 lowercase letters, digits and underscores (Bot API ``BotCommand``).
_COMMAND_NAME = re.compile(r"^[a-z0-9_]{1,32}\Z")


@dataclass(frozen=True)
class BotOptions:
    """Tunables of the bot's chat behaviour (tests shorten the intervals).

    :ivar stream_interval_seconds: least time between two draft updates or streamed edits of one reply.
    :ivar typing_interval_seconds: how often the "typing…" action is repeated during a turn.
    :ivar download_limit_bytes: largest file the bot downloads (Telegram bots may download ≤ 20 MB).
    :ivar action_ttl_seconds: how long an inline button (Install, Remove…) stays valid.
    """

    stream_interval_seconds: float = 1.0
    typing_interval_seconds: float = 4.0
    download_limit_bytes: int = 20 * 1024 * 1024
    action_ttl_seconds: float = 3600.0


def collect_routers(host: Host) -> list[tuple[str, Router, list[BotCommand]]]:
    """Call every ``register_bot_commands`` hookimpl; returns (plugin name, router, commands) in include
    order: core plugins (``DEFAULT_PLUGINS``) first, then the others sorted by plugin name; routers of one
    plugin keep the order the plugin registered them in.

    :raises PluginConflictError: a command name is registered twice or is not a valid Telegram command.
    :raises PluginError: a plugin's hook failed (chained to its exception).
    """
    collected: list[tuple[str, Router, list[BotCommand]]] = []

    def bind(plugin: str) -> dict[str, object]:
        def register(router: Router, commands: Sequence[BotCommand] = ()) -> None:
            if not isinstance(router, Router):
                raise PluginConflictError(f"plugin {plugin!r} registered a bot router that is not an aiogram Router")
            collected.append((plugin, router, list(commands)))

        return {"register": register}

    call_all(host.pm, "register_bot_commands", plugins=host.plugins, what="register its bot commands", bind=bind)

    # sorted() is stable, so routers of one plugin keep their registration order
    core = sorted((e for e in collected if e[0] in DEFAULT_PLUGINS), key=lambda e: DEFAULT_PLUGINS.index(e[0]))
    others = sorted((e for e in collected if e[0] not in DEFAULT_PLUGINS), key=lambda e: e[0])
    ordered = core + others

    table: NameTable[BotCommand] = NameTable("the bot command", show=lambda name: f"/{name}")
    for plugin, _, commands in ordered:
        for command in commands:
            name = command.command.lstrip("/")
            if not _COMMAND_NAME.match(name):
                raise PluginConflictError(
                    f"plugin {plugin!r} registered the bot command {name!r}; Telegram allows 1-32 lowercase "
                    "letters, digits and underscores"
                )
            table.add(name, command, plugin)
    return ordered


def build_dispatcher(
    host: Host, runtime: Any, *, options: BotOptions | None = None, state: SharedState | None = None
) -> Dispatcher:
    """A new Dispatcher with every plugin's routers, the guard-rail middlewares and the DI values.

    Build one per bot (and per test): aiogram routers can be attached to one dispatcher only.

    :param host: the KiroClaw host (settings, plugins, add-on manager).
    :param runtime: the :class:`~kiroclaw.agent.runtime.AgentRuntime` (or anything with its methods).
    :param options: chat tunables; defaults suit production.
    :param state: the shared state (buttons, install limits, turns, update de-duplication); default: a new
        in-process one. With a shared one (Redis) the runtime is wrapped in a
        :class:`~kiroclaw.shared.bot.TurnRouter` and updates are de-duplicated by ``update_id``.
    :raises PluginConflictError: duplicate or invalid bot command names (see :func:`collect_routers`).
    """
    settings: Settings = host.settings
    options = options or BotOptions()
    entries = collect_routers(host)
    commands = [command for _, _, cmds in entries for command in cmds]
    if len(commands) > MAX_MENU_COMMANDS:
        log.warning("%d bot commands registered; the menu shows the first %d", len(commands), MAX_MENU_COMMANDS)
    menu = commands[:MAX_MENU_COMMANDS]

    from ..shared.bot import ButtonStore, DedupMiddleware, TurnRouter
    from ..shared.state import MemoryState

    state = state if state is not None else MemoryState()
    dp = Dispatcher(name="kiroclaw")
    dp["host"] = host
    dp["runtime"] = TurnRouter(runtime, state) if state.shared else runtime
    dp["settings"] = settings
    dp["options"] = options
    dp["shared_state"] = state
    dp["install_guard"] = InstallGuard(settings.install_rate_limit, state=state)
    dp["actions"] = ButtonStore(state, ttl_seconds=options.action_ttl_seconds)
    dp["live_drafts"] = live_drafts = LiveDrafts(state)
    dp["bot_commands"] = list(commands)

    if state.shared:
        dp.update.outer_middleware(DedupMiddleware(state))
    dp.update.outer_middleware(AllowlistMiddleware(set(settings.allowed_telegram_ids), live_drafts=live_drafts))
    dp.update.outer_middleware(ErrorMiddleware())

    for _, router, _ in entries:
        dp.include_router(router)
    dp.include_router(_fallback_router())

    async def set_menu(bot: Bot) -> None:
        try:
            await bot.set_my_commands(menu)
        except Exception:  # the menu is a convenience; the bot works without it
            log.warning("could not set the bot command menu", exc_info=True)

    dp.startup.register(set_menu)
    return dp


def _fallback_router() -> Router:
    """Last router: an unknown ``/command`` gets a pointer to /help instead of silence."""
    router = Router(name="fallback")

    @router.message(F.text.startswith("/"))
    async def unknown_command(message: Message) -> None:
        word = (message.text or "").split()[0].split("@")[0]
        from .format import esc

        await message.answer(f"Unknown command {esc(word)}. Send /help to see what I can do.")

    return router


def create_bot(token: str, *, api_base: str | None = None, request_timeout_seconds: float = 60.0) -> Bot:
    """A Bot with HTML as default parse mode and flood control; ``api_base`` points it at a local Bot API
    server (``TELEGRAM_API_BASE``, e.g. ``http://127.0.0.1:8081``) instead of api.telegram.org.

    :param token: the BotFather token (``<digits>:<secret>``).
    """
    if api_base:
        session = AiohttpSession(api=TelegramAPIServer.from_base(api_base), timeout=request_timeout_seconds)
    else:
        session = AiohttpSession(timeout=request_timeout_seconds)
    session.middleware(FloodControlMiddleware())
    return Bot(token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))
