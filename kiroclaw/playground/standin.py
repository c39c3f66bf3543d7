"""The playground's stand-in agent, used when kiro-cli is not installed: a runtime with the
:class:`~kiroclaw.agent.runtime.AgentRuntime` methods the bot calls, which streams a short Markdown reply
naming the skills the user's real agent would get. It runs nothing and reaches no model.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from ..agent.acp_client import AgentUpdate
from ..agent.runtime import TurnResult
from ..errors import AgentError

#: seconds between streamed words, so drafts are visible in the page.
WORD_DELAY_SECONDS = 0.04
MODELS = ("stand-in-small", "stand-in-large")


class StandInRuntime:
    """Answers every prompt with a streamed Markdown reply; ``/cancel``, ``/new`` and ``/model`` work.

    :param host: the bot's host, to list the user's effective skills.
    """

    def __init__(self, host: Any) -> None:
        self.host = host
        self._cancelled: set[tuple[int, int]] = set()
        self._models: dict[tuple[int, int], str] = {}

    def _reply(self, user_id: int, text: str, attachments: Sequence[Path]) -> str:
        skills = sorted(s.name for s in self.host.effective_set(user_id).skills)
        shown = ", ".join(f"`{name}`" for name in skills) if skills else "none yet — try `/addon search`"
        quoted = "\n".join(f"> {line}" for line in text.strip().splitlines()[:8]) or "> (empty)"
        files = "".join(f"\n- received `{p.name}`" for p in attachments)
        return (
            "## Stand-in agent\n\n"
            "kiro-cli is not installed on this server, so this canned reply stands in for the agent. "
            f"You wrote:\n\n{quoted}\n{files}\n"
            f"**Skills your agent would have:** {shown}\n\n"
            "Recipes: `/recipe` · add-ons: `/addon list`"
        )

    async def prompt(
        self,
        user_id: int,
        thread_id: int,
        text: str,
        *,
        on_update: Callable[[AgentUpdate], Awaitable[None]] | None = None,
        attachments: Sequence[Path] = (),
        on_permission: Any = None,
    ) -> TurnResult:
        """Stream the canned reply word by word; a cancel stops it with ``stop_reason="cancelled"``.

        ``on_permission`` is accepted and never called: the stand-in runs no tools.
        """
        key = (user_id, thread_id)
        self._cancelled.discard(key)
        reply = await asyncio.to_thread(self._reply, user_id, text, attachments)
        sent: list[str] = []
        for word in reply.split(" "):
            if key in self._cancelled:
                return TurnResult("".join(sent), "cancelled")
            chunk = word if not sent else " " + word
            sent.append(chunk)
            if on_update is not None:
                await on_update(AgentUpdate("text", chunk))
            await asyncio.sleep(WORD_DELAY_SECONDS)
        return TurnResult("".join(sent), "end_turn")

    async def cancel(self, user_id: int, thread_id: int) -> bool:
        self._cancelled.add((user_id, thread_id))
        return True

    async def new_session(self, user_id: int, thread_id: int) -> None:
        self._cancelled.discard((user_id, thread_id))

    async def list_models(self, user_id: int, thread_id: int) -> tuple[str | None, list[str]]:
        return self._models.get((user_id, thread_id), MODELS[0]), list(MODELS)

    async def set_model(self, user_id: int, thread_id: int, model_id: str) -> None:
        if model_id not in MODELS:
            raise AgentError(f"unknown model {model_id!r}; the stand-in offers {', '.join(MODELS)}")
        self._models[(user_id, thread_id)] = model_id

    async def aclose(self) -> None:
        return None
