"""The bot's views of the shared state: button payloads, turns that can be cancelled from any worker,
and update de-duplication.

* :class:`ButtonStore` — the ``actions`` DI value: ``await put(user, payload, one_shot=...)`` → token,
  ``await take(token, user)`` → payload or ``None``.
* :class:`TurnRouter` — wraps the agent runtime: a turn is recorded as this worker's
  (``kc:turn:{user}:{thread}``) while it runs; :meth:`TurnRouter.cancel` cancels locally or asks the
  worker running the turn over pub/sub. Everything else is passed to the runtime unchanged.
* :class:`DedupMiddleware` — an outer update middleware: an ``update_id`` seen before (handled, or taken
  by a live worker) is dropped; an update taken by a dead worker is handled here.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update

from .state import SharedState, StateUnavailableError

log = logging.getLogger(__name__)


class ButtonStore:
    """Inline-button payloads (``callback_data`` holds ≤ 64 bytes, so the payload stays server-side).

    :param state: where payloads live (memory, or Redis so any worker can answer the press).
    :param ttl_seconds: how long a button works.
    """

    def __init__(self, state: SharedState, *, ttl_seconds: float = 3600.0) -> None:
        from .state import ActionStore

        self.state = state
        self.ttl_seconds = ttl_seconds
        #: this process's store for multi-step pick lists (:mod:`kiroclaw.bot.choose`): their state changes
        #: with every press, so it stays with the worker the user is placed on (a moved user starts again)
        self.local = ActionStore(ttl_seconds=ttl_seconds)

    async def put(self, user_id: int, payload: dict[str, Any], *, one_shot: bool = True) -> str:
        """Store ``payload`` for ``user_id``; returns a ≤ 10-character token. A one-shot payload works
        for one press only (confirm, remove, cancel); others (Install under search results) until expiry.

        :raises StateUnavailableError: the shared store is down.
        """
        return await self.state.put_button(user_id, payload, one_shot=one_shot, ttl_seconds=self.ttl_seconds)

    async def take(self, token: str, user_id: int) -> dict[str, Any] | None:
        """The payload of a press by ``user_id`` (``None``: expired, used, or someone else's).

        :raises StateUnavailableError: the shared store is down.
        """
        local = self.local.get(token, user_id)
        if local is not None:
            return local
        return await self.state.take_button(token, user_id)


class TurnRouter:
    """The agent runtime seen through the shared state (see the module docstring).

    :param runtime: the :class:`~kiroclaw.agent.runtime.AgentRuntime` of this process.
    :param state: the shared state.
    """

    def __init__(self, runtime: Any, state: SharedState) -> None:
        self.runtime = runtime
        self.state = state

    def __getattr__(self, name: str) -> Any:
        return getattr(self.runtime, name)

    async def prompt(self, user_id: int, thread_id: int, text: str, **kwargs: Any) -> Any:
        try:
            await self.state.turn_claim(user_id, thread_id)
        except StateUnavailableError as exc:
            log.warning("turn of user %s not shared (%s): /cancel works on this worker only", user_id, exc.detail)
        try:
            return await self.runtime.prompt(user_id, thread_id, text, **kwargs)
        finally:
            try:
                await self.state.turn_release(user_id, thread_id)
            except StateUnavailableError:
                pass

    async def cancel(self, user_id: int, thread_id: int) -> bool:
        """Cancel the turn of (user, thread) wherever it runs. :returns: ``True`` if a turn was reached."""
        if await self.runtime.cancel(user_id, thread_id):
            return True
        try:
            owner = await self.state.turn_owner(user_id, thread_id)
            if owner and owner != self.state.worker:
                return await self.state.publish_cancel(owner, user_id, thread_id) > 0
        except StateUnavailableError as exc:
            log.warning("cannot reach other workers to cancel: %s", exc.detail)
        return False

    async def listen(self) -> None:
        """Serve cancel requests addressed to this worker (run as a task; cancel it to stop)."""

        async def cancel_here(user_id: int, thread_id: int) -> None:
            await self.runtime.cancel(user_id, thread_id)

        await self.state.listen_cancels(cancel_here)


class DedupMiddleware(BaseMiddleware):
    """Outer update middleware: each ``update_id`` is handled once across workers (see module docstring).
    While the store is down, updates are handled (a rare duplicate beats a lost message)."""

    def __init__(self, state: SharedState) -> None:
        self.state = state
        self.duplicates = 0

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if not isinstance(event, Update):
            return await handler(event, data)
        try:
            if not await self.state.update_claim(event.update_id):
                self.duplicates += 1
                log.info("update %s was handled already; dropped", event.update_id)
                return None
        except StateUnavailableError:
            pass
        result = await handler(event, data)
        try:
            await self.state.update_done(event.update_id)
        except StateUnavailableError:
            pass
        return result
