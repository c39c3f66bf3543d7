"""One agent turn in chat: typing indicator, a streamed preview, the final reply (split at 4096), files.

The preview uses ``sendMessageDraft`` (Bot API 9.3+, for all bots since 9.5) in private chats; where a
draft is refused (groups answer ``TEXTDRAFT_PEER_INVALID``; an older Bot API server has no such method)
the streamer falls back to sending one message and editing it. Updates are throttled to one per
``BotOptions.stream_interval_seconds`` (drafts sent every 200 ms run into 429s). A draft is only a
30-second preview, so the final text is always sent with ``sendMessage``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramNotFound
from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup, Message

from ..errors import UnsafeContentError
from ..safefs import read_beneath
from .format import MESSAGE_LIMIT_CHARS, agent_text_to_html, esc, split_html
from .middlewares import LiveDrafts

#: Largest file sent back to the chat (the Bot API's upload limit).
SEND_LIMIT = 50 * 1024 * 1024

log = logging.getLogger(__name__)

#: Preview text is cut to this many characters (the final reply is split, not cut).
PREVIEW_LIMIT_CHARS = 3900


def thread_of(message: Message) -> tuple[int, int | None]:
    """(runtime thread id, Bot API ``message_thread_id``) of a message: the topic id for topic messages
    (private-chat topics, forum topics), else ``(0, None)``."""
    if message.is_topic_message and message.message_thread_id:
        return message.message_thread_id, message.message_thread_id
    return 0, None


class ReplyStreamer:
    """Shows an agent's reply while it is being generated, then sends the final text.

    :param bot: the bot.
    :param chat_id: where to write.
    :param api_thread_id: ``message_thread_id`` for sends (``None`` outside topics).
    :param use_drafts: try ``sendMessageDraft`` first (private chats).
    :param interval_seconds: least time between two preview updates.
    :param can_stop: show Telegram's "stop" button under drafts (see :class:`LiveDrafts`).
    """

    def __init__(
        self,
        bot: Bot,
        chat_id: int,
        api_thread_id: int | None,
        *,
        use_drafts: bool,
        interval_seconds: float,
        can_stop: bool = False,
    ) -> None:
        self.bot = bot
        self.chat_id = chat_id
        self.api_thread_id = api_thread_id
        self.mode = "draft" if use_drafts else "edit"
        self.interval_seconds = interval_seconds
        self.can_stop = can_stop
        self.draft_id = secrets.randbelow(2**31 - 2) + 1  # any non-zero id; a new one per reply
        self.text = ""
        self.status = ""
        self.placeholder_id: int | None = None
        self.previews = 0
        self._last_sent = 0.0
        self._last_preview = ""
        self._pending: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def on_update(self, update: Any) -> None:
        """``AgentRuntime.prompt``'s ``on_update`` callback: collect text and tool status, schedule a preview."""
        kind = getattr(update, "kind", "")
        if kind == "text":
            self.text += getattr(update, "text", "")
            self.status = ""
        elif kind == "thought":
            self.status = "💭 thinking…"
        elif kind in ("tool_call", "tool_call_update"):
            title = getattr(update, "title", "") or "tool"
            status = getattr(update, "status", "")
            self.status = f"🔧 {title}" + (f" ({status})" if status and status not in ("pending",) else "")
        else:
            return
        if self._pending is None or self._pending.done():
            self._pending = asyncio.create_task(self._flush_later())

    async def _flush_later(self) -> None:
        wait = self._last_sent + self.interval_seconds - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        await self._flush()

    def _preview_html(self) -> str:
        body = self.text
        if len(body) > PREVIEW_LIMIT_CHARS:
            body = body[:PREVIEW_LIMIT_CHARS] + "…"
        html = agent_text_to_html(body).strip()
        parts = split_html(html, PREVIEW_LIMIT_CHARS) if html else []
        preview = parts[0] if parts else ""
        if self.status:
            preview = (preview + "\n\n" if preview else "") + f"<i>{esc(self.status)}</i>"
        return preview or "<i>…</i>"

    async def _flush(self) -> None:
        async with self._lock:
            preview = self._preview_html()
            if preview == self._last_preview:
                return
            self._last_preview = preview
            self._last_sent = time.monotonic()
            self.previews += 1
            if self.mode == "draft":
                try:
                    await self.bot.send_message_draft(
                        chat_id=self.chat_id,
                        draft_id=self.draft_id,
                        text=preview,
                        message_thread_id=self.api_thread_id,
                        can_stop=self.can_stop or None,
                    )
                    return
                except (TelegramBadRequest, TelegramNotFound) as exc:
                    log.info("drafts unavailable in chat %s (%s); streaming by edits", self.chat_id, exc.message)
                    self.mode = "edit"
                except TelegramAPIError as exc:  # flood control gave up, server error: skip this preview
                    log.info("draft update failed in chat %s: %s", self.chat_id, exc.message)
                    return
            try:
                if self.placeholder_id is None:
                    sent = await self.bot.send_message(
                        chat_id=self.chat_id, text=preview, message_thread_id=self.api_thread_id
                    )
                    self.placeholder_id = sent.message_id
                else:
                    await self.bot.edit_message_text(text=preview, chat_id=self.chat_id, message_id=self.placeholder_id)
            except TelegramAPIError as exc:  # a preview is best effort; the final reply still goes out
                log.info("preview update failed in chat %s: %s", self.chat_id, exc.message)

    async def _settle(self) -> None:
        if self._pending is not None and not self._pending.done():
            self._pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pending
        # a preview may be mid-flight (it holds the lock); wait for it so the final text comes after it
        async with self._lock:
            pass

    async def finish(self, text: str, *, note: str = "") -> list[int]:
        """Send the final reply: ``text`` (agent Markdown-ish) plus an optional ``note`` (HTML), split at
        4096 characters. In edit mode the placeholder becomes the first part.

        :returns: the message ids of the parts.
        """
        await self._settle()
        html = agent_text_to_html(text).strip()
        if note:
            html = f"{html}\n\n{note}" if html else note
        parts = split_html(html, MESSAGE_LIMIT_CHARS) or ["<i>(no reply)</i>"]
        ids: list[int] = []
        for index, part in enumerate(parts):
            if index == 0 and self.placeholder_id is not None:
                await self.bot.edit_message_text(text=part, chat_id=self.chat_id, message_id=self.placeholder_id)
                ids.append(self.placeholder_id)
                continue
            sent = await self.bot.send_message(chat_id=self.chat_id, text=part, message_thread_id=self.api_thread_id)
            ids.append(sent.message_id)
        return ids

    async def abort(self, note: str) -> None:
        """The turn failed: keep what was streamed (if anything) with ``note`` (HTML) appended."""
        await self._settle()
        if self.text.strip() or self.placeholder_id is not None:
            with contextlib.suppress(TelegramAPIError):
                await self.finish(self.text, note=note)


#: Button labels by ACP permission option kind (the agent's own option ids are what gets sent back).
PERMISSION_LABELS = {
    "allow_once": "✅ Allow once",
    "allow_always": "♾ Always for this session",
    "reject_once": "🚫 Reject",
    "reject_always": "🚫 Always reject",
}
PERMISSION_PREFIX = "perm:"


class PermissionDesk:
    """Open tool-permission questions of one dispatcher (``PERMISSION_POLICY=ask``): each is a chat message
    with the agent's options as inline buttons; a press by the asking user answers it."""

    def __init__(self) -> None:
        self._open: dict[str, tuple[int, asyncio.Future[str | None], tuple[tuple[str, str, str], ...]]] = {}

    def asker(self, bot: Bot, chat_id: int, api_thread_id: int | None, user_id: int) -> Any:
        """The ``on_permission`` callback for one turn: posts the question and waits for the press.

        The runtime bounds the wait (``PERMISSION_TIMEOUT_SECONDS``) and cancels it on ``/cancel``; the
        message then says that the tool was not run.
        """

        async def ask(request: Any) -> str | None:
            token = secrets.token_hex(6)
            future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
            self._open[token] = (user_id, future, request.options)
            rows = [
                [
                    InlineKeyboardButton(
                        text=PERMISSION_LABELS.get(kind, name[:40]), callback_data=f"{PERMISSION_PREFIX}{token}:{i}"
                    )
                ]
                for i, (_option, name, kind) in enumerate(request.options)
            ]
            text = (
                "🔐 <b>The agent wants to use a tool</b>\n"
                f"<code>{esc(request.title[:300])}</code> ({esc(request.kind)})"
            )
            sent = await bot.send_message(
                chat_id=chat_id,
                text=text,
                message_thread_id=api_thread_id,
                reply_markup=InlineKeyboardMarkup(inline_keyboard=rows),
            )
            try:
                return await future
            except asyncio.CancelledError:
                with contextlib.suppress(TelegramAPIError):
                    await bot.edit_message_text(
                        text=f"{text}\n\n<i>⌛ No answer: the tool was not run.</i>",
                        chat_id=chat_id,
                        message_id=sent.message_id,
                    )
                raise
            finally:
                self._open.pop(token, None)

        return ask

    def answer(self, data: str, user_id: int) -> tuple[str, str] | None:
        """Resolve the question a button press names. :returns: (chosen option id, label) or ``None`` when
        the question is gone (answered, timed out) or the presser is not the one asked."""
        token, _, index = data[len(PERMISSION_PREFIX) :].partition(":")
        entry = self._open.get(token)
        if entry is None or entry[0] != user_id or not index.isdigit() or int(index) >= len(entry[2]):
            return None
        option_id, name, kind = entry[2][int(index)]
        if not entry[1].done():
            entry[1].set_result(option_id)
        return option_id, PERMISSION_LABELS.get(kind, name)


async def _keep_typing(bot: Bot, chat_id: int, api_thread_id: int | None, interval_seconds: float) -> None:
    while True:
        with contextlib.suppress(TelegramAPIError):
            await bot.send_chat_action(chat_id=chat_id, action="typing", message_thread_id=api_thread_id)
        await asyncio.sleep(interval_seconds)


async def run_turn(
    message: Message,
    text: str,
    *,
    runtime: Any,
    options: Any,
    attachments: Sequence[Path] = (),
    live_drafts: LiveDrafts | None = None,
    permissions: PermissionDesk | None = None,
) -> None:
    """Send ``text`` to the user's agent in the message's thread and stream the reply back into the chat.

    Files the agent marks for sending (``TurnResult.files``) follow as documents. With ``live_drafts`` the
    draft gets a "stop" button that cancels the turn while it runs. With ``permissions``, tool permission
    questions (``PERMISSION_POLICY=ask``) are asked in the chat with the agent's options as buttons.

    :raises kiroclaw.errors.AgentError: the agent failed (the error middleware shows its one line).
    """
    assert message.from_user is not None and message.bot is not None
    bot = message.bot
    thread_id, api_thread_id = thread_of(message)
    streamer = ReplyStreamer(
        bot,
        message.chat.id,
        api_thread_id,
        use_drafts=message.chat.type == "private",
        interval_seconds=options.stream_interval_seconds,
        can_stop=live_drafts is not None,
    )
    if live_drafts is not None:
        live_drafts.add(message.chat.id, streamer.draft_id, message.from_user.id, thread_id)
    asker = permissions.asker(bot, message.chat.id, api_thread_id, message.from_user.id) if permissions else None
    try:
        await _turn(message, text, streamer, runtime, options, attachments, thread_id, api_thread_id, asker)
    finally:
        if live_drafts is not None:
            live_drafts.discard(message.chat.id, streamer.draft_id)


async def _turn(
    message: Message,
    text: str,
    streamer: ReplyStreamer,
    runtime: Any,
    options: Any,
    attachments: Sequence[Path],
    thread_id: int,
    api_thread_id: int | None,
    asker: Any = None,
) -> None:
    assert message.from_user is not None and message.bot is not None
    bot = message.bot
    typing = asyncio.create_task(_keep_typing(bot, message.chat.id, api_thread_id, options.typing_interval_seconds))
    extra = {"on_permission": asker} if asker is not None else {}
    try:
        result = await runtime.prompt(
            message.from_user.id, thread_id, text, on_update=streamer.on_update, attachments=list(attachments), **extra
        )
    except Exception:
        typing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await typing
        await streamer.abort("<i>⚠️ interrupted</i>")
        raise
    typing.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await typing
    stop_reason = getattr(result, "stop_reason", "end_turn")
    note = "<i>⏹ stopped</i>" if stop_reason == "cancelled" else ""
    if stop_reason in ("max_tokens", "max_turn_requests"):
        note = "<i>(the reply was cut short by the agent's limits)</i>"
    await streamer.finish(getattr(result, "text", "") or "", note=note)
    for path in getattr(result, "files", []) or []:
        path = Path(path)
        try:
            # re-opened below the user's folder without following links (the agent may swap sent/x for a
            # link to another user's file between the turn's end and now)
            data = await asyncio.to_thread(
                read_beneath, path.parents[2], path.relative_to(path.parents[2]).as_posix(), max_bytes=SEND_LIMIT
            )
            await bot.send_document(
                chat_id=message.chat.id,
                document=BufferedInputFile(data, filename=path.name),
                message_thread_id=api_thread_id,
            )
        except FileNotFoundError:
            log.warning("agent file vanished before sending: %s", path.name)
        except UnsafeContentError as exc:
            log.warning("agent file not sent: %s", exc)
