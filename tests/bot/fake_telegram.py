"""The fake Telegram Bot API the bot tests drive the real aiogram bot against.

It is the playground's Bot API emulator (:mod:`kiroclaw.playground.botapi`), so what the tests check is
what ``kiroclaw playground`` shows; this module keeps the names the tests import.
"""

from kiroclaw.playground.botapi import (
    CALLBACK_DATA_LIMIT,
    DOWNLOAD_LIMIT,
    NOT_MODIFIED,
    RAW_MARKUP,
    TEXT_LIMIT,
    Call,
    ChatMessage,
    FakeTelegram,
    FakeUser,
    Fault,
)
from kiroclaw.playground.tghtml import ALLOWED_TAGS, HTMLError, render_html, utf16_len

__all__ = [
    "ALLOWED_TAGS",
    "CALLBACK_DATA_LIMIT",
    "DOWNLOAD_LIMIT",
    "NOT_MODIFIED",
    "RAW_MARKUP",
    "TEXT_LIMIT",
    "Call",
    "ChatMessage",
    "FakeTelegram",
    "FakeUser",
    "Fault",
    "HTMLError",
    "render_html",
    "utf16_len",
]
