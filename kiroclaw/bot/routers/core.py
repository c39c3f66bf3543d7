"""``/start`` and ``/help``: what the bot is and every command it knows (from the registered menu)."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandStart
from aiogram.types import BotCommand, Message

from ..format import esc

COMMANDS = [
    BotCommand(command="start", description="Welcome and how this bot works"),
    BotCommand(command="help", description="Every command with an example"),
]

#: examples shown by /help for the built-in commands (plugins' commands show their menu description).
EXAMPLES = {
    "addon": "/addon search weather · /addon install weather-api · /addon list",
    "skills": "/skills",
    "recipe": "/recipe · /recipe review/pr base=develop · /recipe ralph/init",
    "new": "/new",
    "cancel": "/cancel",
    "model": "/model · /model claude-sonnet-4",
}


def build_router() -> tuple[Router, list[BotCommand]]:
    """A new router for ``/start`` and ``/help`` and its menu commands."""
    router = Router(name="core")

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        name = esc(message.from_user.first_name) if message.from_user else "there"
        await message.answer(
            f"👋 Hi {name}! I connect you to your own coding agent.\n\n"
            "Just write to me and the agent answers. Give it new abilities with add-ons:\n"
            "• <code>/addon search weather</code> finds add-ons\n"
            "• <code>/addon install weather-api</code> installs one (only for you)\n"
            "• <code>/skills</code> shows what your agent can use\n\n"
            "Send /help for every command."
        )

    @router.message(Command("help"))
    async def help_(message: Message, bot_commands: list[BotCommand]) -> None:
        lines = ["<b>Commands</b>"]
        for command in bot_commands:
            lines.append(f"/{esc(command.command)} — {esc(command.description)}")
            example = EXAMPLES.get(command.command)
            if example and example != f"/{command.command}":
                lines.append(f"   e.g. <code>{esc(example)}</code>")
        lines.append("")
        lines.append("Anything that is not a command goes to your agent.")
        lines.append("Send a .zip or .skill file with the caption <code>/addon install</code> to install it.")
        await message.answer("\n".join(lines))

    return router, COMMANDS
