"""Replies whose length grows with the data shown (skills, add-ons, results): sent as as many messages as
Telegram's 4096-unit limit needs (:func:`~kiroclaw.bot.format.split_html`), buttons on the last one."""

from __future__ import annotations

from aiogram import Bot
from aiogram.types import InlineKeyboardMarkup, Message

from .format import split_html


async def answer_long(message: Message, html: str, reply_markup: InlineKeyboardMarkup | None = None) -> Message:
    """Answer ``message`` (same chat and topic) with ``html``, split into parts sent in order.

    :param html: Telegram HTML of any length (balanced tags).
    :param reply_markup: buttons, put on the last part.
    :returns: the last message sent.
    """
    parts = split_html(html) or [html]
    sent = message
    for index, part in enumerate(parts):
        sent = await message.answer(part, reply_markup=reply_markup if index == len(parts) - 1 else None)
    return sent


async def edit_long(
    bot: Bot,
    chat_id: int,
    message_id: int,
    api_thread_id: int | None,
    html: str,
    reply_markup: InlineKeyboardMarkup | None = None,
) -> int:
    """Replace message ``message_id`` with the first part of ``html`` and send the rest as new messages
    (in ``api_thread_id``), buttons on the last part.

    :returns: the id of the message holding the last part (``message_id`` when ``html`` fits in one).
    """
    parts = split_html(html) or [html]
    last = len(parts) - 1
    await bot.edit_message_text(
        text=parts[0], chat_id=chat_id, message_id=message_id, reply_markup=reply_markup if last == 0 else None
    )
    for index, part in enumerate(parts[1:], 1):
        sent = await bot.send_message(
            chat_id=chat_id,
            text=part,
            message_thread_id=api_thread_id,
            reply_markup=reply_markup if index == last else None,
        )
        message_id = sent.message_id
    return message_id


async def send_long(
    bot: Bot, chat_id: int, api_thread_id: int | None, html: str, reply_markup: InlineKeyboardMarkup | None = None
) -> int:
    """Send ``html`` as new messages (split as needed), buttons on the last part.

    :returns: the id of the first message sent.
    """
    parts = split_html(html) or [html]
    first: int | None = None
    for index, part in enumerate(parts):
        sent = await bot.send_message(
            chat_id=chat_id,
            text=part,
            message_thread_id=api_thread_id,
            reply_markup=reply_markup if index == len(parts) - 1 else None,
        )
        first = sent.message_id if first is None else first
    assert first is not None
    return first
