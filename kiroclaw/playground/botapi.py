"""A Telegram Bot API emulator (aiohttp, 127.0.0.1) that drives the real aiogram Bot and Dispatcher: the
playground's server (``kiroclaw playground``) and the bot tests' fake Telegram (``tests/bot/fake_telegram.py``).

It speaks the HTTP shapes of the real API (POST ``/bot<token>/<method>``, GET ``/file/bot<token>/<path>``,
``{"ok": …}`` envelopes whose HTTP status equals ``error_code``), holds ``getUpdates`` long polls for their
real ``timeout``, and keeps, per chat, what the person would see: final texts with HTML rendered to plain
text, "(edited)" marks, buttons and documents. It is strict where Telegram is: invalid HTML, empty or
over-long texts, unknown message ids, unanswered or repeated callback answers, drafts outside private
chats. Faults (429 with ``retry_after``, 400 "message is not modified", …) can be queued per method.

Methods: getMe, getUpdates, deleteWebhook, setWebhook, sendMessage, editMessageText,
editMessageReplyMarkup, answerCallbackQuery, sendChatAction, sendMessageDraft, sendDocument (multipart),
getFile + file download, setMyCommands, deleteMessage. Anything else → 404, so a gap shows up loudly.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from aiohttp import web

from .chatview import Call, ChatMessage, ChatView, FakeUser, Fault
from .tghtml import HTMLError, render_html, utf16_len

#: Telegram's limits (Bot API): text after entity parsing (UTF-16 code units), callback_data bytes, bot downloads.
TEXT_LIMIT = 4096
CALLBACK_DATA_LIMIT = 64
DOWNLOAD_LIMIT = 20 * 1024 * 1024
JSON_FIELDS = {
    "reply_markup", "entities", "caption_entities", "allowed_updates", "reply_parameters",
    "link_preview_options", "commands", "scope", "media",
}  # fmt: skip
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are exactly the "
    "same as a current content and reply markup of the message"
)


class FakeTelegram(ChatView):
    """The fake server. ``await start()``, point the bot at :attr:`base`, ``await stop()``.

    :param token: the bot token the server accepts (``<bot id>:<secret>``).
    """

    def __init__(self, token: str = "123456:TEST", *, bot_username: str = "test_bot") -> None:
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.bot_username = bot_username
        self.calls: list[Call] = []
        self.poll_calls: list[Call] = []
        self.messages: dict[int, ChatMessage] = {}
        self.drafts: dict[tuple[int, int | None], dict[int, str]] = {}
        self.typing: list[tuple[int, int | None, float]] = []
        self.commands: list[dict[str, Any]] = []
        self.files: dict[str, tuple[str, bytes, int]] = {}
        self.callbacks: dict[str, bool] = {}
        self.faults: dict[str, deque[Fault]] = {}
        self.errors_sent: list[tuple[str, int, str]] = []
        self.drafts_supported = True
        self.webhook: dict[str, Any] | None = None
        self._updates: list[dict[str, Any]] = []
        self._confirmed = 0
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._file_ids = itertools.count(1)
        self._cond = asyncio.Condition()
        self._stopping = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self.base = ""

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        self._stopping = True
        async with self._cond:
            self._cond.notify_all()
        if self._runner is not None:
            await self._runner.cleanup()

    # --- the user's side ------------------------------------------------------------------------

    def _chat(self, user: FakeUser, chat_id: int | None) -> dict[str, Any]:
        if chat_id is None or chat_id == user.id:
            chat: dict[str, Any] = {"id": user.id, "type": "private", "first_name": user.first_name}
            if user.username:
                chat["username"] = user.username
            return chat
        return {"id": chat_id, "type": "supergroup", "title": f"Group {chat_id}"}

    def push(self, payload: dict[str, Any]) -> int:
        """Queue a raw update (``update_id`` is added); returns the update id."""
        update_id = next(self._update_ids)
        self._updates.append({"update_id": update_id, **payload})
        task = asyncio.get_running_loop().create_task(self._notify())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return update_id

    async def _notify(self) -> None:
        async with self._cond:
            self._cond.notify_all()

    @staticmethod
    def _command_entities(text: str) -> list[dict[str, Any]]:
        if not text.startswith("/"):
            return []
        word = text.split()[0] if text.split() else text
        return [{"type": "bot_command", "offset": 0, "length": len(word.encode("utf-16-le")) // 2}]

    def _user_message(
        self, user: FakeUser, chat_id: int | None, thread_id: int | None, shown: str, document: str | None = None
    ) -> dict[str, Any]:
        chat = self._chat(user, chat_id)
        message_id = next(self._message_ids)
        self.messages[message_id] = ChatMessage(
            message_id, chat["id"], thread_id, user.label, shown, raw=shown, document=document
        )
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "from": user.as_json(),
            "chat": chat,
        }
        if thread_id is not None:
            message["message_thread_id"] = thread_id
            message["is_topic_message"] = True
        return message

    def send_text(self, user: FakeUser, text: str, *, chat_id: int | None = None, thread_id: int | None = None) -> int:
        """The user writes ``text`` (commands get a ``bot_command`` entity); returns the update id."""
        message = self._user_message(user, chat_id, thread_id, text)
        message["text"] = text
        entities = self._command_entities(text)
        if entities:
            message["entities"] = entities
        return self.push({"message": message})

    def send_document(
        self,
        user: FakeUser,
        file_name: str,
        data: bytes,
        *,
        caption: str | None = None,
        declared_size: int | None = None,
        mime_type: str = "application/zip",
        chat_id: int | None = None,
        thread_id: int | None = None,
    ) -> int:
        """The user sends a file (``declared_size`` overrides its size, to fake huge files cheaply)."""
        number = next(self._file_ids)
        file_id = f"doc-{number}"
        size = declared_size if declared_size is not None else len(data)
        suffix = "".join(c for c in file_name.rpartition(".")[2] if c.isalnum())[:8] if "." in file_name else "bin"
        self.files[file_id] = (f"documents/file_{number}.{suffix}", data, size)
        shown = f"📎 {file_name}" + (f" — {caption}" if caption else "")
        message = self._user_message(user, chat_id, thread_id, shown, document=file_name)
        message["document"] = {
            "file_id": file_id,
            "file_unique_id": f"u-{file_id}",
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": size,
        }
        if caption:
            message["caption"] = caption
            entities = self._command_entities(caption)
            if entities:
                message["caption_entities"] = entities
        return self.push({"message": message})

    def press(self, user: FakeUser, message_id: int, button: str) -> int:
        """The user presses the inline button whose text contains ``button``; returns the update id.

        :raises AssertionError: no such message or button.
        """
        msg = self.messages[message_id]
        for row in msg.buttons:
            for btn in row:
                if button in btn["text"]:
                    cbq_id = f"cbq-{next(self._file_ids)}"
                    self.callbacks[cbq_id] = False
                    bot_msg = self._message_json(msg)
                    pressed = ChatMessage(-next(self._message_ids), msg.chat_id, msg.thread_id, user.label, "")
                    pressed.text = f"▸ pressed [ {btn['text']} ]"
                    self.messages[pressed.message_id] = pressed
                    return self.push(
                        {
                            "callback_query": {
                                "id": cbq_id,
                                "from": user.as_json(),
                                "chat_instance": f"ci-{msg.chat_id}",
                                "data": btn["callback_data"],
                                "message": bot_msg,
                            }
                        }
                    )
        raise AssertionError(f"no button {button!r} on message {message_id}: {msg.buttons}")

    def stop_generation(self, chat_id: int, draft_id: int, thread_id: int | None = None) -> int:
        """The user presses the "stop" button under a draft (update ``stopped_message_generation``)."""
        chat = self._chat_json(chat_id)
        payload: dict[str, Any] = {"chat": chat, "draft_id": draft_id}
        if thread_id is not None:
            payload["message_thread_id"] = thread_id
        return self.push({"stopped_message_generation": payload})

    def press_data(self, user: FakeUser, message_id: int, data: str) -> int:
        """A callback with arbitrary ``data`` on a bot message (an old or forged button); returns the update id."""
        msg = self.messages[message_id]
        cbq_id = f"cbq-{next(self._file_ids)}"
        self.callbacks[cbq_id] = False
        return self.push(
            {
                "callback_query": {
                    "id": cbq_id,
                    "from": user.as_json(),
                    "chat_instance": f"ci-{msg.chat_id}",
                    "data": data,
                    "message": self._message_json(msg),
                }
            }
        )

    async def wait_acked(self, update_id: int, timeout: float = 20.0) -> None:
        """Wait until the bot confirmed ``update_id`` (with ``handle_as_tasks=False`` its handler has
        returned by then)."""
        deadline = time.monotonic() + timeout
        async with self._cond:
            while self._confirmed < update_id:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"update {update_id} not processed within {timeout} s")
                try:
                    await asyncio.wait_for(self._cond.wait(), remaining)
                except TimeoutError:
                    continue

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 20.0) -> None:
        """Poll ``predicate`` every 10 ms until it holds."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError("condition not met in time")
            await asyncio.sleep(0.01)

    def inject(
        self,
        method: str,
        status: int,
        description: str,
        *,
        retry_after: int | None = None,
        times: int = 1,
        when: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` (matching ``when``) fail with ``status``."""
        queue = self.faults.setdefault(method.lower(), deque())
        for _ in range(times):
            queue.append(Fault(status, description, retry_after, when))

    # --- the server -----------------------------------------------------------------------------

    def _error(self, method: str, status: int, description: str, retry_after: int | None = None) -> web.Response:
        self.errors_sent.append((method, status, description))
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if retry_after is not None:
            body["parameters"] = {"retry_after": retry_after}
        return web.json_response(body, status=status)

    @staticmethod
    def _ok(result: Any) -> web.Response:
        return web.json_response({"ok": True, "result": result})

    async def _params(self, request: web.Request) -> tuple[dict[str, Any], dict[str, tuple[str, bytes]]]:
        params: dict[str, Any] = dict(request.query)
        files: dict[str, tuple[str, bytes]] = {}
        if request.content_type == "application/json":
            params.update(await request.json())
        elif request.can_read_body:
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    files[key] = (value.filename or key, value.file.read())
                else:
                    params[key] = value
        for key in JSON_FIELDS & params.keys():
            if isinstance(params[key], str):
                params[key] = json.loads(params[key])
        return params, files

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"].lower()
        if request.match_info["token"] != self.token:
            return self._error(method, 401, "Unauthorized")
        params, files = await self._params(request)
        call = Call(method, params, files, time.monotonic())
        (self.poll_calls if method == "getupdates" else self.calls).append(call)
        queue = self.faults.get(method)
        if queue:
            for fault in list(queue):
                if fault.when is None or fault.when(params):
                    queue.remove(fault)
                    return self._error(method, fault.status, fault.description, fault.retry_after)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return self._error(method, 404, "Not Found")
        return await handler(params, files)

    async def _file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        path = request.match_info["path"]
        for stored_path, data, _ in self.files.values():
            if stored_path == path:
                return web.Response(body=data, content_type="application/octet-stream")
        return web.Response(status=404)

    # --- methods --------------------------------------------------------------------------------

    def _bot_json(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": "Test Bot", "username": self.bot_username}

    async def _m_getme(self, params: dict[str, Any], files: Any) -> web.Response:
        return self._ok(
            {
                **self._bot_json(),
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
                "has_topics_enabled": True,
                "allows_users_to_create_topics": True,
            }
        )

    async def _m_getupdates(self, params: dict[str, Any], files: Any) -> web.Response:
        if self.webhook is not None:
            return self._error(
                "getupdates",
                409,
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete "
                "the webhook first",
            )
        offset = int(params.get("offset", 0) or 0)
        timeout = float(params.get("timeout", 0) or 0)
        limit = int(params.get("limit", 100) or 100)
        async with self._cond:
            if offset > 0:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
                if offset - 1 > self._confirmed:
                    self._confirmed = offset - 1
                    self._cond.notify_all()
            deadline = time.monotonic() + timeout
            while not self._updates and not self._stopping:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    await asyncio.wait_for(self._cond.wait(), remaining)
                except TimeoutError:
                    break
            return self._ok(self._updates[:limit])

    async def _m_deletewebhook(self, params: dict[str, Any], files: Any) -> web.Response:
        self.webhook = None
        if str(params.get("drop_pending_updates", "")).lower() == "true":
            self._updates.clear()
        return self._ok(True)

    async def _m_setwebhook(self, params: dict[str, Any], files: Any) -> web.Response:
        self.webhook = dict(params)
        return self._ok(True)

    async def _m_setmycommands(self, params: dict[str, Any], files: Any) -> web.Response:
        commands = params.get("commands") or []
        if len(commands) > 100:
            return self._error("setmycommands", 400, "Bad Request: too many commands")
        self.commands = commands
        return self._ok(True)

    def _check_text(self, method: str, text: str | None, parse_mode: str | None) -> tuple[str, web.Response | None]:
        if text is None or not str(text).strip():
            return "", self._error(method, 400, "Bad Request: message text is empty")
        shown = str(text)
        if parse_mode == "HTML":
            try:
                shown = render_html(shown)
            except HTMLError as exc:
                return "", self._error(method, 400, f"Bad Request: can't parse entities: {exc}")
        if not shown.strip():
            return "", self._error(method, 400, "Bad Request: message text is empty")
        if utf16_len(shown) > TEXT_LIMIT:
            return "", self._error(method, 400, "Bad Request: message is too long")
        return shown, None

    def _check_markup(self, method: str, markup: Any) -> tuple[list[list[dict[str, Any]]], web.Response | None]:
        if not markup:
            return [], None
        rows = markup.get("inline_keyboard", [])
        for row in rows:
            for button in row:
                if not button.get("text"):
                    return [], self._error(
                        method, 400, "Bad Request: text buttons are unallowed in the inline keyboard"
                    )
                data = button.get("callback_data")
                if data is not None and len(data.encode()) > CALLBACK_DATA_LIMIT:
                    return [], self._error(method, 400, "Bad Request: BUTTON_DATA_INVALID")
        return rows, None

    def _chat_json(self, chat_id: int) -> dict[str, Any]:
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": f"User{chat_id}"}
        return {"id": chat_id, "type": "supergroup", "title": f"Group {chat_id}"}

    def _message_json(self, msg: ChatMessage) -> dict[str, Any]:
        data: dict[str, Any] = {
            "message_id": msg.message_id,
            "date": msg.date,
            "chat": self._chat_json(msg.chat_id),
            "from": self._bot_json()
            if msg.sender == "bot"
            else {"id": msg.chat_id, "is_bot": False, "first_name": "U"},
        }
        if msg.thread_id is not None:
            data["message_thread_id"] = msg.thread_id
            data["is_topic_message"] = True
        if msg.document is not None and msg.sender == "bot":
            data["document"] = {"file_id": f"sent-{msg.message_id}", "file_unique_id": f"us-{msg.message_id}"}
            data["document"]["file_name"] = msg.document
        else:
            data["text"] = msg.text
        if msg.buttons:
            data["reply_markup"] = {"inline_keyboard": msg.buttons}
        if msg.edits:
            data["edit_date"] = int(time.time())
        return data

    async def _m_sendmessage(self, params: dict[str, Any], files: Any) -> web.Response:
        shown, error = self._check_text("sendmessage", params.get("text"), params.get("parse_mode"))
        if error:
            return error
        buttons, error = self._check_markup("sendmessage", params.get("reply_markup"))
        if error:
            return error
        chat_id = int(params["chat_id"])
        thread = int(params["message_thread_id"]) if params.get("message_thread_id") else None
        self.drafts.pop((chat_id, thread), None)
        msg = ChatMessage(next(self._message_ids), chat_id, thread, "bot", shown, raw=params["text"], buttons=buttons)
        self.messages[msg.message_id] = msg
        return self._ok(self._message_json(msg))

    def _find(self, method: str, params: dict[str, Any]) -> tuple[ChatMessage | None, web.Response | None]:
        try:
            msg = self.messages.get(int(params.get("message_id", 0)))
        except ValueError:
            msg = None
        if msg is None or msg.deleted or msg.chat_id != int(params.get("chat_id", 0)) or msg.sender != "bot":
            return None, self._error(method, 400, "Bad Request: message to edit not found")
        return msg, None

    async def _m_editmessagetext(self, params: dict[str, Any], files: Any) -> web.Response:
        msg, error = self._find("editmessagetext", params)
        if error:
            return error
        assert msg is not None
        shown, error = self._check_text("editmessagetext", params.get("text"), params.get("parse_mode"))
        if error:
            return error
        buttons, error = self._check_markup("editmessagetext", params.get("reply_markup"))
        if error:
            return error
        if params["text"] == msg.raw and buttons == msg.buttons:
            return self._error("editmessagetext", 400, NOT_MODIFIED)
        msg.text, msg.raw, msg.buttons = shown, params["text"], buttons
        msg.edits += 1
        return self._ok(self._message_json(msg))

    async def _m_editmessagereplymarkup(self, params: dict[str, Any], files: Any) -> web.Response:
        msg, error = self._find("editmessagereplymarkup", params)
        if error:
            return error
        assert msg is not None
        buttons, error = self._check_markup("editmessagereplymarkup", params.get("reply_markup"))
        if error:
            return error
        if buttons == msg.buttons:
            return self._error("editmessagereplymarkup", 400, NOT_MODIFIED)
        msg.buttons = buttons
        msg.edits += 1
        return self._ok(self._message_json(msg))

    async def _m_deletemessage(self, params: dict[str, Any], files: Any) -> web.Response:
        msg, error = self._find("deletemessage", params)
        if error:
            return self._error("deletemessage", 400, "Bad Request: message to delete not found")
        assert msg is not None
        msg.deleted = True
        return self._ok(True)

    async def _m_answercallbackquery(self, params: dict[str, Any], files: Any) -> web.Response:
        cbq = params.get("callback_query_id")
        if cbq not in self.callbacks or self.callbacks[cbq]:
            return self._error(
                "answercallbackquery",
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        self.callbacks[cbq] = True
        return self._ok(True)

    async def _m_sendchataction(self, params: dict[str, Any], files: Any) -> web.Response:
        thread = int(params["message_thread_id"]) if params.get("message_thread_id") else None
        self.typing.append((int(params["chat_id"]), thread, time.monotonic()))
        return self._ok(True)

    async def _m_sendmessagedraft(self, params: dict[str, Any], files: Any) -> web.Response:
        if not self.drafts_supported:
            return self._error("sendmessagedraft", 404, "Not Found")
        chat_id = int(params["chat_id"])
        if chat_id < 0:
            return self._error("sendmessagedraft", 400, "Bad Request: TEXTDRAFT_PEER_INVALID")
        draft_id = int(params.get("draft_id", 0))
        if draft_id == 0:
            return self._error("sendmessagedraft", 400, "Bad Request: draft_id must be non-zero")
        text = params.get("text") or ""
        shown = text
        if text and params.get("parse_mode") == "HTML":
            try:
                shown = render_html(text)
            except HTMLError as exc:
                return self._error("sendmessagedraft", 400, f"Bad Request: can't parse entities: {exc}")
        if utf16_len(shown) > TEXT_LIMIT:
            return self._error("sendmessagedraft", 400, "Bad Request: message is too long")
        thread = int(params["message_thread_id"]) if params.get("message_thread_id") else None
        self.drafts.setdefault((chat_id, thread), {})[draft_id] = shown
        return self._ok(True)

    async def _m_senddocument(self, params: dict[str, Any], files: dict[str, tuple[str, bytes]]) -> web.Response:
        ref = str(params.get("document", ""))
        if not ref.startswith("attach://") or ref.removeprefix("attach://") not in files:
            return self._error("senddocument", 400, "Bad Request: there is no document in the request")
        name, data = files[ref.removeprefix("attach://")]
        chat_id = int(params["chat_id"])
        thread = int(params["message_thread_id"]) if params.get("message_thread_id") else None
        caption = params.get("caption") or ""
        msg = ChatMessage(
            next(self._message_ids), chat_id, thread, "bot", caption, raw=caption, document=name, document_bytes=data
        )
        self.messages[msg.message_id] = msg
        return self._ok(self._message_json(msg))

    async def _m_getfile(self, params: dict[str, Any], files: Any) -> web.Response:
        file_id = params.get("file_id", "")
        if file_id not in self.files:
            return self._error("getfile", 400, "Bad Request: wrong file_id or the file is temporarily unavailable")
        path, _, size = self.files[file_id]
        if size > DOWNLOAD_LIMIT:
            return self._error("getfile", 400, "Bad Request: file is too big")
        return self._ok({"file_id": file_id, "file_unique_id": f"u-{file_id}", "file_size": size, "file_path": path})


#: Tags or entities that must never show up in rendered text (a parse-mode mix-up or double escaping).
RAW_MARKUP = re.compile(r"</?(?:b|i|u|s|code|pre|a|blockquote)(?:\s[^>]*)?>|&(?:lt|gt|amp|quot);")
