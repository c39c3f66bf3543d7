"""The playground's web chat: one page on 127.0.0.1 and a small JSON API over the Bot API emulator.

``GET /`` the page · ``GET /api/users`` the demo users and a hint · ``GET /api/chat?user=ID`` what that
user's private chat shows (messages as sanitised HTML, buttons, "edited" marks, live drafts, typing) ·
``POST /api/send {user, text}`` · ``POST /api/upload`` (multipart: ``user``, ``caption``, ``file``) ·
``POST /api/press {user, message_id, data}`` taps an inline button · ``GET /api/document/{id}`` downloads
a file the bot sent. Every write goes to the emulator as a Telegram update, so the real bot handles it.
"""

from __future__ import annotations

import time
from importlib import resources
from typing import Any

from aiohttp import web

from .botapi import FakeTelegram, FakeUser
from .tghtml import to_web_html

#: largest file the page uploads, in bytes (Telegram's bot download limit).
UPLOAD_LIMIT_BYTES = 20 * 1024 * 1024
#: how long "bot is typing…" shows after sendChatAction, in seconds (as Telegram clients do).
TYPING_SECONDS = 5.0


class PlaygroundPage:
    """The page and its API for ``users`` of the emulator ``fake``.

    :param notes: user id → a short note shown in the user picker.
    :param hint: a line under the input (e.g. the local install command to try).
    """

    def __init__(self, fake: FakeTelegram, users: list[FakeUser], notes: dict[int, str], hint: str) -> None:
        self.fake = fake
        self.users = {u.id: u for u in users}
        self.notes = notes
        self.hint = hint
        self.url = ""
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=UPLOAD_LIMIT_BYTES + 64 * 1024)
        app.router.add_get("/", self._page)
        app.router.add_get("/api/users", self._users)
        app.router.add_get("/api/chat", self._chat)
        app.router.add_post("/api/send", self._send)
        app.router.add_post("/api/upload", self._upload)
        app.router.add_post("/api/press", self._press)
        app.router.add_get("/api/document/{message_id}", self._document)
        return app

    async def start(self, port: int = 0) -> str:
        """Listen on 127.0.0.1:``port`` (0 = a free one); :returns: the page's URL."""
        self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        bound = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{bound}/"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _user(self, value: Any) -> FakeUser:
        try:
            return self.users[int(value)]
        except (KeyError, TypeError, ValueError):
            raise web.HTTPBadRequest(text="unknown user") from None

    async def _page(self, request: web.Request) -> web.Response:
        page = resources.files(__package__).joinpath("page.html").read_text(encoding="utf-8")
        return web.Response(text=page, content_type="text/html")

    async def _users(self, request: web.Request) -> web.Response:
        users = [{"id": u.id, "name": u.first_name, "note": self.notes.get(u.id, "")} for u in self.users.values()]
        return web.json_response({"users": users, "hint": self.hint})

    async def _chat(self, request: web.Request) -> web.Response:
        user = self._user(request.query.get("user"))
        messages = []
        for msg in self.fake.chat_messages(user.id):
            from_bot = msg.sender == "bot"
            body = to_web_html(msg.raw) if from_bot and msg.raw else to_web_html_text(msg.text)
            messages.append(
                {
                    "id": msg.message_id,
                    "from_bot": from_bot,
                    "html": body,
                    "edited": msg.edits > 0,
                    "buttons": [
                        [{"text": b.get("text", ""), "callback_data": b.get("callback_data", "")} for b in row]
                        for row in msg.buttons
                    ],
                    "document": bool(from_bot and msg.document),
                    "document_name": msg.document or "",
                }
            )
        drafts = [text for (chat, _), by_id in self.fake.drafts.items() if chat == user.id for text in by_id.values()]
        now = time.monotonic()
        typing = any(chat == user.id and now - t < TYPING_SECONDS for chat, _, t in self.fake.typing[-20:])
        return web.json_response({"messages": messages, "drafts": drafts, "typing": typing})

    async def _send(self, request: web.Request) -> web.Response:
        body = await request.json()
        user = self._user(body.get("user"))
        text = str(body.get("text") or "").strip()
        if not text:
            raise web.HTTPBadRequest(text="empty message")
        return web.json_response({"update_id": self.fake.send_text(user, text[:4096])})

    async def _upload(self, request: web.Request) -> web.Response:
        form = await request.post()
        user = self._user(form.get("user"))
        upload = form.get("file")
        if not isinstance(upload, web.FileField):
            raise web.HTTPBadRequest(text="no file")
        data = upload.file.read(UPLOAD_LIMIT_BYTES + 1)
        if len(data) > UPLOAD_LIMIT_BYTES:
            raise web.HTTPRequestEntityTooLarge(max_size=UPLOAD_LIMIT_BYTES, actual_size=len(data))
        caption = str(form.get("caption") or "").strip() or None
        name = (upload.filename or "file").replace("/", "_")[:128]
        mime = upload.content_type or "application/octet-stream"
        update_id = self.fake.send_document(user, name, data, caption=caption, mime_type=mime)
        return web.json_response({"update_id": update_id})

    async def _press(self, request: web.Request) -> web.Response:
        body = await request.json()
        user = self._user(body.get("user"))
        message = self.fake.messages.get(int(body.get("message_id", 0)))
        if message is None or message.chat_id != user.id:
            raise web.HTTPNotFound(text="no such message in this chat")
        return web.json_response({"update_id": self.fake.press_data(user, message.message_id, str(body.get("data")))})

    async def _document(self, request: web.Request) -> web.Response:
        try:
            message = self.fake.messages[int(request.match_info["message_id"])]
        except (KeyError, ValueError):
            raise web.HTTPNotFound() from None
        if message.sender != "bot" or not message.document:
            raise web.HTTPNotFound()
        return web.Response(
            body=message.document_bytes,
            content_type="application/octet-stream",
            headers={"Content-Disposition": f'attachment; filename="{message.document.replace(chr(34), "")}"'},
        )


def to_web_html_text(text: str) -> str:
    """A user's own plain text for the page (escaped)."""
    import html

    return html.escape(text, quote=False)
