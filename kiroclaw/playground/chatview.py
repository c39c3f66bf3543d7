"""What each chat of the Bot API emulator holds, as the person sees it: users, messages (rendered text,
edits, buttons, documents), recorded calls and queued faults, and the views the tests and the playground's
web page read (:class:`ChatView`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FakeUser:
    """A Telegram user who writes to the bot."""

    id: int
    first_name: str
    username: str | None = None

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name, "language_code": "en"}
        if self.username:
            data["username"] = self.username
        return data

    @property
    def label(self) -> str:
        return self.username or self.first_name.lower()


@dataclass
class Call:
    """One recorded Bot API call."""

    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str, bytes]]
    t: float


@dataclass
class ChatMessage:
    """One message in a chat as the person sees it."""

    message_id: int
    chat_id: int
    thread_id: int | None
    sender: str  # "bot" or the user's label
    text: str  # rendered plain text
    raw: str = ""  # what was sent (HTML)
    buttons: list[list[dict[str, Any]]] = field(default_factory=list)
    edits: int = 0
    deleted: bool = False
    document: str | None = None
    document_bytes: bytes = b""
    date: int = field(default_factory=lambda: int(time.time()))


@dataclass
class Fault:
    status: int
    description: str
    retry_after: int | None = None
    when: Callable[[dict[str, Any]], bool] | None = None


class ChatView:
    """Read-only views of the emulator's state, mixed into :class:`~kiroclaw.playground.botapi.FakeTelegram`."""

    messages: dict[int, ChatMessage]
    drafts: dict[tuple[int, int | None], dict[int, str]]
    typing: list[tuple[int, int | None, float]]
    callbacks: dict[str, bool]
    calls: list[Call]

    def chat_messages(self, chat_id: int, *, sender: str | None = None) -> list[ChatMessage]:
        """Visible messages of a chat in order (deleted ones left out)."""
        return [
            m
            for m in self.messages.values()
            if m.chat_id == chat_id and not m.deleted and (sender is None or m.sender == sender)
        ]

    def bot_texts(self, chat_id: int) -> list[str]:
        return [m.text for m in self.chat_messages(chat_id, sender="bot")]

    def last_bot(self, chat_id: int) -> ChatMessage:
        return self.chat_messages(chat_id, sender="bot")[-1]

    def transcript(self, chat_id: int, *, live: bool = False) -> str:
        """The chat as text, one block per message::

        alice: /addon install weather-api
        bot  : ✅ Installed weather-api v1.0.0  (edited)
               [ Install anyway ] [ Cancel ]
        """
        lines: list[str] = []
        for msg in self.chat_messages(chat_id):
            who = f"{msg.sender:<5}: "
            prefix = f"#{msg.thread_id} " if msg.thread_id else ""
            body = msg.text if msg.document is None or msg.sender != "bot" else f"📎 {msg.document}"
            body_lines = body.split("\n") or [""]
            first = body_lines[0] + ("  (edited)" if msg.edits else "")
            lines.append(prefix + who + first)
            pad = " " * len(prefix + who)
            lines.extend((pad + line).rstrip() for line in body_lines[1:])
            if msg.buttons:
                lines.append(pad + " ".join(f"[ {b['text']} ]" for row in msg.buttons for b in row))
        if live:  # what is on screen right now besides messages: "typing…" (5 s) and drafts
            now = time.monotonic()
            for chat, thread, t in self.typing:
                if chat == chat_id and now - t < 5:
                    prefix = f"#{thread} " if thread else ""
                    lines.append(f"{prefix}bot  : (typing…)")
                    break
            for (chat, thread), drafts in self.drafts.items():
                if chat == chat_id:
                    prefix = f"#{thread} " if thread else ""
                    for draft_id, text in drafts.items():
                        lines.append(f"{prefix}bot  : (draft {draft_id}: {text!r})")
        return "\n".join(lines)

    def unanswered_callbacks(self) -> list[str]:
        return [cbq for cbq, answered in self.callbacks.items() if not answered]

    def api_calls(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method.lower()]
