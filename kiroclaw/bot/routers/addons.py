"""``/addon`` in chat: search (with Install buttons), install (progress in one edited message), list,
info, update, enable, disable, remove (confirmed with buttons), and install from an uploaded .zip/.skill.

Every operation goes through the host's :class:`~kiroclaw.addons.AddonManager`, in the user's own scope;
``-g`` (the global scope every user inherits) is for ``ADMIN_TELEGRAM_IDS`` only. Installs pass the
:class:`~kiroclaw.bot.middlewares.InstallGuard` (``INSTALL_RATE_LIMIT``, one in flight per user).
Suspicious registry add-ons and policy warnings raise :class:`~kiroclaw.errors.ConfirmationRequired`,
shown as an "Install anyway" button that carries what the user was shown (a bound confirmation).

This module reads commands and buttons and dispatches sub-commands from a table (:data:`SUBCOMMANDS`);
what they do is :mod:`kiroclaw.bot.addon_actions`, what they say :mod:`kiroclaw.bot.addon_text`.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import BotCommand, CallbackQuery, Message

from ...config import Settings
from ...errors import SpecError
from ...shared.bot import ButtonStore
from ...workspaces import Scope
from .. import choose
from ..addon_actions import (
    PREFIX,
    InstallRunner,
    confirmation,
    info,
    keyboard,
    local_roots,
    resolve_scope,
    search,
    split_flags,
    toggle,
    update,
)
from ..addon_text import HELP, list_text, version_text
from ..app import BotOptions
from ..format import esc, shorten
from ..middlewares import InstallGuard
from ..replies import answer_long, edit_long
from ..streaming import thread_of

if TYPE_CHECKING:
    from ...host import Host

log = logging.getLogger(__name__)

COMMANDS = [BotCommand(command="addon", description="Search, install, list, update and remove add-ons")]

_INSTALL_CAPTION = re.compile(r"^/addon(?:@\w+)?\s+install\b(.*)$", re.IGNORECASE | re.DOTALL)
_COMMIT = re.compile(r"^[0-9a-f]{7,40}\Z")


@dataclass(frozen=True)
class AddonCall:
    """One ``/addon <sub> …`` message with everything its sub-command handler needs."""

    message: Message
    bot: Bot
    host: Host
    settings: Settings
    guard: InstallGuard
    actions: ButtonStore
    options: BotOptions
    user_id: int
    sub: str
    words: list[str]
    arg: str
    is_global: bool
    force: bool

    @property
    def scope(self) -> Scope:
        """The scope the call acts on (``-g``: global, admins only). :raises PermissionDeniedError:."""
        return resolve_scope(self.user_id, self.is_global, self.settings)

    def need(self, example: str) -> str:
        """The argument, or :class:`SpecError` with an example of the sub-command."""
        if not self.arg:
            raise SpecError(example)
        return self.arg

    def runner(self) -> InstallRunner:
        return InstallRunner(self.host, self.settings, self.guard, self.actions, self.options)


async def _sub_search(call: AddonCall) -> None:
    call.need("say what to search for, e.g. /addon search weather")
    await search(call.message, call.host, call.actions, call.user_id, " ".join(call.words))


async def _sub_install(call: AddonCall) -> None:
    call.need("say what to install, e.g. /addon install weather-api or /addon install org/repo")
    spec, list_only, chosen = choose.parse_install_words(call.arg.split())
    if not spec:
        raise SpecError("say what to install, e.g. /addon install org/repo --list")
    if list_only:
        await choose.answer_list(call.message, call.host, spec, call.scope, local_roots(call.settings))
        return
    _, api_thread_id = thread_of(call.message)
    await call.runner().install(
        call.bot,
        call.message.chat.id,
        api_thread_id,
        call.user_id,
        spec,
        call.scope,
        force=call.force,
        only=chosen or None,
    )


async def _sub_find(call: AddonCall) -> None:
    await choose.answer_find(call.message, call.actions.local, call.user_id, call.arg)


async def _sub_list(call: AddonCall) -> None:
    await answer_long(call.message, await asyncio.to_thread(list_text, call.host, call.user_id))


async def _sub_info(call: AddonCall) -> None:
    name = call.need("say which add-on, e.g. /addon info weather-api")
    await info(call.message, call.host, call.actions, call.user_id, name, call.scope)


async def _sub_remove(call: AddonCall) -> None:
    name = call.need("say which add-on to remove, e.g. /addon remove weather-api")
    scope = call.scope
    record = call.host.addons.get(name, scope)
    yes = await call.actions.put(call.user_id, {"op": "remove", "name": record.name, "global": scope.kind == "global"})
    no = await call.actions.put(call.user_id, {"op": "dismiss", "text": f"👍 Kept <b>{esc(record.name)}</b>."})
    loses = f"\nYour agent loses: {esc(', '.join(record.skills))}" if record.skills else ""
    where = " from the global add-ons" if scope.kind == "global" else ""
    await answer_long(
        call.message,
        f"🗑 Remove <b>{esc(record.name)}</b>{version_text(record.version)}{where}?{loses}",
        reply_markup=keyboard([("🗑 Remove", PREFIX + yes), ("Keep it", PREFIX + no)]),
    )


async def _sub_update(call: AddonCall) -> None:
    await update(
        call.message, call.host, call.guard, call.actions, call.user_id, call.arg or None, call.scope, force=call.force
    )


async def _sub_toggle(call: AddonCall) -> None:
    name = call.need(f"say which add-on, e.g. /addon {call.sub} weather-api")
    await call.message.answer(await toggle(call.host, name, call.scope, enable=call.sub == "enable"))


#: ``/addon`` sub-commands (and their aliases) → handler.
SUBCOMMANDS: dict[str, Callable[[AddonCall], Awaitable[None]]] = {
    "search": _sub_search,
    "install": _sub_install,
    "find": _sub_find,
    "list": _sub_list,
    "ls": _sub_list,
    "info": _sub_info,
    "remove": _sub_remove,
    "uninstall": _sub_remove,
    "rm": _sub_remove,
    "update": _sub_update,
    "enable": _sub_toggle,
    "disable": _sub_toggle,
}


def build_router() -> tuple[Router, list[BotCommand]]:
    """A new router for ``/addon`` and its buttons, and its menu commands."""
    router = Router(name="addons")

    def runner(
        host: Host, settings: Settings, install_guard: InstallGuard, actions: ButtonStore, options: BotOptions
    ) -> InstallRunner:
        return InstallRunner(host, settings, install_guard, actions, options)

    @router.message(F.document, F.caption.regexp(_INSTALL_CAPTION))
    async def install_document(
        message: Message,
        host: Host,
        settings: Settings,
        install_guard: InstallGuard,
        actions: ButtonStore,
        options: BotOptions,
    ) -> None:
        assert message.from_user is not None and message.bot is not None
        match = _INSTALL_CAPTION.match(message.caption or "")
        words = (match.group(1) if match else "").split()
        _, is_global, _ = split_flags(words)
        scope = resolve_scope(message.from_user.id, is_global, settings)
        await runner(host, settings, install_guard, actions, options).install_upload(
            message.bot, message, message.from_user.id, scope
        )

    @router.message(Command("addon"))
    async def addon(
        message: Message,
        command: CommandObject,
        host: Host,
        settings: Settings,
        install_guard: InstallGuard,
        actions: ButtonStore,
        options: BotOptions,
    ) -> None:
        assert message.from_user is not None and message.bot is not None
        words = (command.args or "").split()
        if not words or words[0].lower() in ("help", "-h", "--help"):
            await message.answer(HELP)
            return
        sub, words = words[0].lower(), words[1:]
        rest, is_global, force = split_flags(words)
        handler = SUBCOMMANDS.get(sub)
        if handler is None:
            await message.answer(f"Unknown subcommand <code>{esc(shorten(sub, 40))}</code>.\n\n{HELP}")
            return
        call = AddonCall(
            message=message,
            bot=message.bot,
            host=host,
            settings=settings,
            guard=install_guard,
            actions=actions,
            options=options,
            user_id=message.from_user.id,
            sub=sub,
            words=words,
            arg=" ".join(rest).strip(),
            is_global=is_global,
            force=force,
        )
        await handler(call)

    @router.callback_query(F.data.startswith(PREFIX))
    async def pressed(
        query: CallbackQuery,
        host: Host,
        settings: Settings,
        install_guard: InstallGuard,
        actions: ButtonStore,
        options: BotOptions,
    ) -> None:
        token = (query.data or "")[len(PREFIX) :]
        user_id = query.from_user.id
        message = query.message if isinstance(query.message, Message) else None
        # one-shot payloads (confirm, remove, cancel) are taken in one step: of two presses delivered to
        # two workers at once, exactly one gets the payload
        payload = await actions.take(token, user_id) if message is not None and query.bot is not None else None
        if payload is None or message is None or query.bot is None:
            await query.answer("This button has expired; run the command again.", show_alert=True)
            return
        op = payload["op"]
        scope = resolve_scope(user_id, bool(payload.get("global")), settings)
        bot = query.bot
        if op == "dismiss":
            await query.answer()
            await message.edit_text(payload["text"], reply_markup=None)
        elif op == "pick":
            await choose.pick(
                query, message, actions.local, runner(host, settings, install_guard, actions, options), payload
            )
        elif op == "install":
            await query.answer("Installing…")
            confirm = bool(payload.get("yes"))
            confirmed = confirmation(payload) if confirm else False
            _, api_thread_id = thread_of(message)
            await runner(host, settings, install_guard, actions, options).install(
                bot,
                message.chat.id,
                api_thread_id,
                user_id,
                payload["spec"],
                scope,
                confirmed=confirmed,
                force=bool(payload.get("force")),
                edit_message_id=message.message_id if confirm or payload.get("only") == "all" else None,
                only=payload.get("only") or None,
            )
        elif op == "remove":
            await query.answer("Removing…")
            record = await host.addons.remove(payload["name"], scope)
            gone = f"\nSkills removed: {esc(', '.join(record.skills))}" if record.skills else ""
            await edit_long(
                bot,
                message.chat.id,
                message.message_id,
                thread_of(message)[1],
                f"🗑 Removed <b>{esc(record.name)}</b>.{gone}",
            )
        elif op == "update":
            await query.answer("Updating…")
            name = payload.get("name")
            if not name:  # only per-add-on confirmations exist; never confirm a bulk update
                return
            await update(
                message,
                host,
                install_guard,
                actions,
                user_id,
                name,
                scope,
                force=bool(payload.get("force")),
                confirmed=confirmation(payload),
            )
        else:
            await query.answer()

    return router, COMMANDS
