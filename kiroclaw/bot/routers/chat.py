"""Talking to the agent: plain messages and documents go to the user's agent in the message's thread;
``/cancel`` (or the "stop" button under a draft) stops the running turn, ``/new`` starts a fresh ACP
session, ``/model`` lists or sets the thread's model. Documents the user sends are saved into the thread
folder (``inbox/``) and passed to the agent as attachments."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import BotCommand, CallbackQuery, Message, MessageGenerationStopped

from ...errors import AgentError, LimitExceededError
from ...safefs import create_beneath, remove_beneath
from ...workspaces import Scope
from ..format import esc, shorten
from ..middlewares import LiveDrafts
from ..streaming import PERMISSION_PREFIX, PermissionDesk, run_turn, thread_of

COMMANDS = [
    BotCommand(command="new", description="Start a fresh conversation in this thread"),
    BotCommand(command="cancel", description="Stop the agent's current answer"),
    BotCommand(command="model", description="Show or choose the agent's model"),
]

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]+")


def safe_file_name(name: str | None, fallback: str = "file") -> str:
    """A plain file name for something a user uploaded: no folders, no control or shell characters,
    not hidden, at most 100 characters."""
    base = Path(name or "").name
    base = _UNSAFE_NAME.sub("_", base).strip(" .")
    return (base or fallback)[:100]


def build_router() -> tuple[Router, list[BotCommand]]:
    """A new router for chat with the agent, and its menu commands."""
    router = Router(name="chat")
    permissions = PermissionDesk()

    @router.callback_query(F.data.startswith(PERMISSION_PREFIX))
    async def permission(query: CallbackQuery) -> None:
        answered = permissions.answer(query.data or "", query.from_user.id)
        if answered is None:
            await query.answer("This question is no longer open.")
            return
        await query.answer(answered[1])
        if isinstance(query.message, Message) and query.message.html_text:
            await query.message.edit_text(f"{query.message.html_text}\n\n<i>{esc(answered[1])}</i>")

    @router.message(Command("cancel"))
    async def cancel(message: Message, runtime: Any) -> None:
        assert message.from_user is not None
        stopped = await runtime.cancel(message.from_user.id, thread_of(message)[0])
        await message.answer("⏹ Stopping the agent's answer." if stopped else "Nothing is running right now.")

    @router.message(Command("new"))
    async def new(message: Message, runtime: Any) -> None:
        assert message.from_user is not None
        await runtime.new_session(message.from_user.id, thread_of(message)[0])
        await message.answer("🆕 Fresh start: the agent forgot this thread's conversation.")

    @router.message(Command("model"))
    async def model(message: Message, command: CommandObject, runtime: Any) -> None:
        assert message.from_user is not None
        thread_id = thread_of(message)[0]
        wanted = (command.args or "").strip()
        current, available = await runtime.list_models(message.from_user.id, thread_id)
        if wanted:
            if available and wanted not in available:
                choices = ", ".join(available[:20])
                raise AgentError(f"unknown model {shorten(wanted, 60)!r}; choose one of: {choices}")
            await runtime.set_model(message.from_user.id, thread_id, wanted)
            await message.answer(f"🤖 This thread now uses <code>{esc(wanted)}</code>.")
            return
        if not available:
            await message.answer("🤖 The agent does not offer a choice of models.")
            return
        lines = ["🤖 Models (set one with <code>/model name</code>):"]
        for model_id in available[:50]:
            mark = "✅" if model_id == current else "•"
            lines.append(f"{mark} <code>{esc(model_id)}</code>")
        await message.answer("\n".join(lines))

    @router.message(F.text & ~F.text.startswith("/"))
    async def chat(message: Message, runtime: Any, options: Any, live_drafts: LiveDrafts) -> None:
        await run_turn(
            message,
            message.text or "",
            runtime=runtime,
            options=options,
            live_drafts=live_drafts,
            permissions=permissions,
        )

    @router.stopped_message_generation()
    async def stopped(event: MessageGenerationStopped, runtime: Any, live_drafts: LiveDrafts) -> None:
        owner = live_drafts.owner(event.chat.id, event.draft_id)
        if owner is not None:  # the allowlist lets only live drafts through; it may have ended meanwhile
            await runtime.cancel(*owner)

    @router.message(F.document)
    async def document(message: Message, runtime: Any, options: Any, host: Any, live_drafts: LiveDrafts) -> None:
        assert message.from_user is not None and message.document is not None and message.bot is not None
        doc = message.document
        size = doc.file_size or 0
        if size > options.download_limit_bytes:
            raise LimitExceededError(
                f"the file is {size / 1048576:.1f} MB; bots can download at most "
                f"{options.download_limit_bytes // 1048576} MB from Telegram"
            )
        thread_id = thread_of(message)[0]
        paths = host.paths(Scope.user(message.from_user.id))
        thread_dir = paths.thread_dir(thread_id)
        await asyncio.to_thread(paths.root.mkdir, parents=True, exist_ok=True)
        # opened below the user's folder without following links: the agent may have made inbox/ a link
        folder = f"{thread_dir.name}/inbox"
        fd, name = await asyncio.to_thread(create_beneath, paths.root, folder, safe_file_name(doc.file_name))
        target = thread_dir / "inbox" / name
        try:
            with os.fdopen(fd, "wb") as handle:
                await message.bot.download(doc, destination=handle)
        except BaseException:
            await asyncio.to_thread(remove_beneath, paths.root, f"{folder}/{name}")  # no half-written file
            raise
        text = (message.caption or "").strip() or f"I sent you the file {target.name}."
        await run_turn(
            message,
            text,
            runtime=runtime,
            options=options,
            attachments=[target],
            live_drafts=live_drafts,
            permissions=permissions,
        )

    return router, COMMANDS
