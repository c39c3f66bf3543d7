"""The bot's built-in routers as a core plugin: one ``register_bot_commands`` hookimpl.

aiogram is imported inside the hook, so loading this plugin (which every ``kiroclaw`` CLI call does)
stays cheap; the routers are built only when a dispatcher is.
"""

from __future__ import annotations

from collections.abc import Callable

from ..hookspecs import hookimpl


@hookimpl
def register_bot_commands(register: Callable[..., None]) -> None:
    """Register the core routers in their include order: start/help, add-ons, skills/recipes, chat.

    The chat router comes last because it takes every plain message.
    """
    from .routers import addons, chat, core, skills

    for module in (core, addons, skills, chat):
        router, commands = module.build_router()
        register(router, commands)
