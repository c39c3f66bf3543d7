"""Guard rails around every update and every Bot API call: allowlist, errors, install limits, flood control.

* :class:`AllowlistMiddleware` lets through only users in ``ALLOWED_TELEGRAM_IDS``, keyed by
  ``from_user.id`` (never ``chat.id``: in a group the chat id is the group's, and anyone in it would
  pass). Unknown users are told their numeric id (so an admin can add it) and nothing else happens: no
  handler runs, so nothing is created on disk.
* :class:`ErrorMiddleware` turns a :class:`~kiroclaw.errors.KiroclawError` into one friendly line and any
  other exception into a logged traceback plus a short apology: no server paths, tokens or tracebacks
  reach the chat.
* :class:`InstallGuard` enforces ``INSTALL_RATE_LIMIT`` (e.g. ``10/hour``, a sliding window per user;
  installs refused before reaching their source or resolving to nothing, :data:`REFUNDED_ERRORS`, are
  refunded) and at most one
  install or update in flight per user.
* :class:`FloodControlMiddleware` (a Bot API *request* middleware) waits out ``429 Too Many Requests``
  (``retry_after``) a bounded number of times, and treats "message is not modified" on edits as success:
  aiogram itself never retries.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramBadRequest, TelegramRetryAfter
from aiogram.methods import EditMessageReplyMarkup, EditMessageText, TelegramMethod
from aiogram.methods.base import Response, TelegramType
from aiogram.types import TelegramObject, Update, User

from ..errors import (
    AlreadyInstalledError,
    KiroclawError,
    LimitExceededError,
    NotFoundError,
    QuotaExceededError,
    SourceUnavailableError,
    SpecError,
)
from ..shared.state import MemoryState, SharedState, StateUnavailableError
from .chat_words import error_html, headline_text, is_server_problem
from .rates import parse_rate  # re-exported: tests and plugins import it from here

log = logging.getLogger(__name__)

#: What an unexpected error shows in chat (the traceback goes to the log only).
APOLOGY = "😵 Sorry, something went wrong on our side. The error was logged; please try again later."

#: install failures that happen before the source is contacted; they do not use up ``INSTALL_RATE_LIMIT``.
REFUNDED_ERRORS: tuple[type[KiroclawError], ...] = (
    SpecError,
    NotFoundError,  # a spec that resolves to nothing (unknown name or version, missing sub-path)
    SourceUnavailableError,
    AlreadyInstalledError,
    QuotaExceededError,
)


def _reply_target(event: TelegramObject) -> tuple[Any, Any]:
    """(message to answer in, callback query to answer) for an update, either may be ``None``."""
    if isinstance(event, Update):
        if event.message is not None:
            return event.message, None
        if event.callback_query is not None:
            query = event.callback_query
            message = query.message if query.message is not None and hasattr(query.message, "answer") else None
            return message, query
    return None, None


class AllowlistMiddleware(BaseMiddleware):
    """Outer update middleware: only ``ALLOWED_TELEGRAM_IDS`` (by ``from_user.id``) reach a handler.

    :param allowed_ids: the allowlist; empty means nobody.
    :param notice_interval_seconds: an unknown user is told their id at most this often.
    """

    def __init__(
        self, allowed_ids: set[int], *, notice_interval_seconds: float = 30.0, live_drafts: LiveDrafts | None = None
    ) -> None:
        self.allowed_ids = set(allowed_ids)
        self.notice_interval_seconds = notice_interval_seconds
        self.live_drafts = live_drafts
        self._noticed: OrderedDict[int, float] = OrderedDict()

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("event_from_user")
        if isinstance(event, Update) and event.stopped_message_generation is not None:
            # The "stop" button under a draft carries no user; it is let through only for a draft of a turn
            # running right now, which an allowed user started (draft ids are random and bound to the chat).
            stopped = event.stopped_message_generation
            if self.live_drafts is not None and self.live_drafts.owner(stopped.chat.id, stopped.draft_id):
                return await handler(event, data)
            remote = await self.live_drafts.find(stopped.chat.id, stopped.draft_id) if self.live_drafts else None
            runtime = data.get("runtime")
            if remote is not None and runtime is not None:  # the turn runs on another worker: forward
                await runtime.cancel(*remote)
            return None
        if user is None or user.is_bot:
            return None  # channel posts, service updates: nobody to authorise
        if user.id in self.allowed_ids:
            return await handler(event, data)
        log.info("refused update from unknown Telegram user %s", user.id)
        message, query = _reply_target(event)
        if query is not None:  # always answered, or the button keeps spinning
            await query.answer(f"This bot is private. Your Telegram id is {user.id}.", show_alert=True)
            return None
        now = time.monotonic()
        last = self._noticed.get(user.id)
        if message is None or (last is not None and now - last < self.notice_interval_seconds):
            return None
        self._noticed[user.id] = now
        self._noticed.move_to_end(user.id)
        while len(self._noticed) > 10_000:
            self._noticed.popitem(last=False)
        await message.answer(
            f"🔒 This bot is private. Your Telegram id is <code>{user.id}</code>; "
            "send it to the bot's admin, who can let you in."
        )
        return None


class LiveDrafts:
    """Drafts of the turns running right now: (chat id, draft id) → (user id, runtime thread id).

    Lets the "stop" button under a draft (update ``stopped_message_generation``, Bot API 10.3) cancel the
    right turn; an entry exists only while its turn runs. With a shared state the drafts are published
    too, so a stop delivered to another worker finds the turn (:meth:`find`).
    """

    def __init__(self, state: SharedState | None = None) -> None:
        self._items: dict[tuple[int, int], tuple[int, int]] = {}
        self.state = state if state is not None and state.shared else None
        self._tasks: set[asyncio.Task[None]] = set()

    def _publish(self, call: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await call
            except Exception as exc:  # chat goes on; only the cross-worker stop button is lost
                log.warning("could not share a live draft: %s", exc)

        task = asyncio.ensure_future(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def add(self, chat_id: int, draft_id: int, user_id: int, thread_id: int) -> None:
        self._items[(chat_id, draft_id)] = (user_id, thread_id)
        if self.state is not None:
            self._publish(self.state.draft_put(chat_id, draft_id, user_id, thread_id))

    def discard(self, chat_id: int, draft_id: int) -> None:
        self._items.pop((chat_id, draft_id), None)
        if self.state is not None:
            self._publish(self.state.draft_drop(chat_id, draft_id))

    def owner(self, chat_id: int, draft_id: int) -> tuple[int, int] | None:
        """(user id, thread id) of a live draft of this process, or ``None``."""
        return self._items.get((chat_id, draft_id))

    async def find(self, chat_id: int, draft_id: int) -> tuple[int, int] | None:
        """(user id, thread id) of a live draft of any worker, or ``None``."""
        local = self.owner(chat_id, draft_id)
        if local is not None or self.state is None:
            return local
        try:
            return await self.state.draft_owner(chat_id, draft_id)
        except StateUnavailableError:
            return None


class ErrorMiddleware(BaseMiddleware):
    """Outer update middleware: expected errors → one line; unexpected → logged traceback + apology."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        try:
            return await handler(event, data)
        except KiroclawError as exc:
            user = data.get("event_from_user")
            if not is_server_problem(exc):
                log.info("expected error: %s (%s)", exc.user_message, exc.detail or exc.code)
            html = error_html(exc, icon="⚠️", user_id=user.id if user is not None else None)
            await self._tell(event, html, headline_text(exc))
        except Exception:
            log.exception("unexpected error while handling update %s", getattr(event, "update_id", "?"))
            await self._tell(event, APOLOGY, "Sorry, something went wrong on our side.")
        return None

    @staticmethod
    async def _tell(event: TelegramObject, html_text: str, plain: str) -> None:
        message, query = _reply_target(event)
        if query is not None:
            try:  # fails harmlessly when the handler answered the button already
                await query.answer(plain[:190])
            except Exception:
                log.debug("callback query already answered", exc_info=True)
        if message is not None:
            try:
                await message.answer(html_text)
            except Exception:  # the chat may be gone; the error itself is logged already
                log.warning("could not report an error to the chat", exc_info=True)


class InstallGuard:
    """Per-user install rate limit (sliding window) and one install/update in flight per user.

    Both live in the shared state: in this process (default) or in Redis (``REDIS_URL``), where the window
    runs on the Redis server's clock and the slot is a renewed lease, so the limits hold across workers.

    :param rate: ``INSTALL_RATE_LIMIT`` text, see :func:`parse_rate`.
    :param clock: seconds, monotonic (tests may pass their own; used by the in-process state only).
    :param state: the shared state (default: a new in-process one).
    """

    def __init__(
        self, rate: str, *, clock: Callable[[], float] = time.monotonic, state: SharedState | None = None
    ) -> None:
        self.limit, self.window_seconds = parse_rate(rate)
        self.state = state if state is not None else MemoryState(clock=clock)
        self._refund: set[int] = set()

    def refund(self, user_id: int) -> None:
        """Give back the rate-limit use of the user's install in flight: it was refused before reaching
        its source (bad spec, unknown source, already installed, over quota), so it cost nothing upstream.
        Call from inside :meth:`slot`; the use is returned when the slot is left."""
        self._refund.add(user_id)

    @asynccontextmanager
    async def slot(self, user_id: int, *, count: bool = True) -> AsyncIterator[None]:
        """Hold the user's single install slot for the ``async with`` body.

        :param count: count this operation against the rate limit (installs; updates pass ``False``).
        :raises LimitExceededError: another install of the user's is running, or the rate limit is hit.
        :raises StateUnavailableError: the shared store (Redis) is down.
        """
        token = await self.state.slot_acquire(user_id)
        if token is None:
            raise LimitExceededError("another install of yours is still running; wait for it to finish")
        member: str | None = None
        self._refund.discard(user_id)
        try:
            if count:
                member, wait = await self.state.rate_take(user_id, self.limit, self.window_seconds)
                if member is None:
                    raise LimitExceededError(
                        f"install limit reached ({self.limit} per {_window_text(self.window_seconds)}); "
                        f"try again in {_duration_text(max(1, math.ceil(wait)))}"
                    )
            yield
        finally:
            try:
                if member is not None and user_id in self._refund:
                    await self.state.rate_refund(user_id, member)
            finally:
                self._refund.discard(user_id)
                try:
                    await self.state.slot_release(user_id, token)
                except StateUnavailableError:  # the lease expires by itself
                    log.warning("install slot of user %s left to expire", user_id)


def _window_text(seconds: float) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0 and seconds >= size:
            count = int(seconds // size)
            return unit if count == 1 else f"{count} {unit}s"
    return f"{int(seconds)} s"


def _duration_text(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{(seconds + 59) // 60} min"
    return f"{(seconds + 3599) // 3600} h"


class FloodControlMiddleware(BaseRequestMiddleware):
    """Bot API request middleware: honour ``retry_after`` and tolerate "message is not modified".

    :param max_retries: how many times one call is retried after a 429.
    :param max_wait_seconds: a ``retry_after`` longer than this is not waited for (the error is raised).
    """

    def __init__(self, *, max_retries: int = 3, max_wait_seconds: float = 60.0) -> None:
        self.max_retries = max_retries
        self.max_wait_seconds = max_wait_seconds
        self.retries = 0  # total waits, for logs and tests

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        attempt = 0
        while True:
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                if attempt >= self.max_retries or exc.retry_after > self.max_wait_seconds:
                    raise
                attempt += 1
                self.retries += 1
                log.warning("Bot API flood control on %s: waiting %s s", method.__api_method__, exc.retry_after)
                await asyncio.sleep(exc.retry_after)
            except TelegramBadRequest as exc:
                if isinstance(method, EditMessageText | EditMessageReplyMarkup) and (
                    "message is not modified" in exc.message
                ):
                    return True  # type: ignore[return-value]  # aiogram returns the bare result here
                raise
