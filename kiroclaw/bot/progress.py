"""Install progress shown by editing ONE message: resolving → downloading → validating → installed.

The core's :data:`~kiroclaw.sources.ProgressCallback` is synchronous and must not block, so stages are
queued and a single task applies them in order as message edits; :meth:`ProgressMessage.done` waits
for the queue and writes the final text (with optional buttons).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import InlineKeyboardMarkup

from .format import esc, shorten
from .replies import edit_long, send_long

log = logging.getLogger(__name__)

#: stage → (icon, label) for the stages the core and the sources report; others show as "⏳ <stage>…".
STAGES: dict[str, tuple[str, str]] = {
    "resolving": ("🔎", "resolving"),
    "downloading": ("⬇️", "downloading"),
    "fetching": ("⬇️", "downloading"),
    "cloning": ("⬇️", "downloading"),
    "extracting": ("🗜", "unpacking"),
    "validating": ("🧪", "validating"),
    "checking": ("🧪", "validating"),
    "installing": ("📂", "installing"),
    "copying": ("📂", "copying"),
    "updating": ("🔄", "updating"),
}


#: stages whose detail text is worth showing (others repeat the spec or name a folder).
_DETAILED = frozenset({"downloading", "fetching", "cloning"})


def stage_line(stage: str, detail: str | None = None) -> str:
    """One HTML line for a progress stage, e.g. ``⬇️ downloading… (1.2 MB)``."""
    icon, label = STAGES.get(stage, ("⏳", stage))
    line = f"{icon} {esc(label)}…"
    if detail and stage in _DETAILED:
        line += f" <i>({esc(shorten(detail, 80))})</i>"
    return line


class ProgressMessage:
    """A message that shows a title and the current stage, edited in place.

    :param bot: the bot.
    :param chat_id: the chat.
    :param api_thread_id: ``message_thread_id`` for the first send (``None`` outside topics).
    :param title: HTML first line, e.g. ``📦 Installing <b>weather-api</b>…``.
    :param message_id: edit this existing message instead of sending a new one.
    """

    def __init__(
        self, bot: Bot, chat_id: int, api_thread_id: int | None, title: str, *, message_id: int | None = None
    ) -> None:
        self.bot = bot
        self.chat_id = chat_id
        self.api_thread_id = api_thread_id
        self.title = title
        self.message_id = message_id
        self.stages: list[str] = []
        self._queue: asyncio.Queue[tuple[str, str | None] | None] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._last_text = ""

    async def start(self, stage: str = "resolving") -> None:
        """Show the title with the first stage (sends or edits the message) and start applying stages."""
        text = f"{self.title}\n{stage_line(stage)}"
        self.stages.append(stage)
        if self.message_id is None:
            sent = await self.bot.send_message(chat_id=self.chat_id, text=text, message_thread_id=self.api_thread_id)
            self.message_id = sent.message_id
        else:
            await self._edit(text)
        self._last_text = text
        self._worker = asyncio.create_task(self._apply())

    def callback(self, stage: str, detail: str | None = None) -> None:
        """The core's progress callback (synchronous, never blocks)."""
        self._queue.put_nowait((stage, detail))

    async def _apply(self) -> None:
        while True:
            item = await self._queue.get()
            if item is None:
                return
            stage, detail = item
            if stage == "installed":
                continue  # the final text says it, with details
            text = f"{self.title}\n{stage_line(stage, detail)}"
            if text == self._last_text:
                continue
            self.stages.append(stage)
            self._last_text = text
            with contextlib.suppress(TelegramAPIError):
                await self._edit(text)

    async def _edit(self, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
        assert self.message_id is not None
        await self.bot.edit_message_text(
            text=text, chat_id=self.chat_id, message_id=self.message_id, reply_markup=markup
        )

    async def done(self, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
        """Apply the queued stages, then replace the message with ``text`` (HTML) and optional buttons.

        A ``text`` longer than one message goes on as new messages after the first part (buttons on the
        last part)."""
        if self._worker is not None:
            self._queue.put_nowait(None)
            try:
                await asyncio.wait_for(self._worker, timeout=30)
            except (TimeoutError, asyncio.CancelledError):
                log.warning("install progress edits did not finish in time")
        if self.message_id is None:
            self.message_id = await send_long(self.bot, self.chat_id, self.api_thread_id, text, markup)
            return
        await edit_long(self.bot, self.chat_id, self.message_id, self.api_thread_id, text, markup)
