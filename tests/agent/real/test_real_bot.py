"""The chat bot (real aiogram bot against the fake Bot API) in front of the real Claude and Codex agents:
a streamed reply, and a tool permission asked with buttons and answered in chat."""

from __future__ import annotations

import pytest

from kiroclaw.agent.reaper import marked_processes
from tests.agent.real.conftest import Real, agent_command
from tests.bot.conftest import ALICE, start_bot  # noqa: F401  (the bot fixture)

pytestmark = pytest.mark.timeout(240)


async def test_chat_streams_the_agents_reply_and_asks_before_a_tool(
    real: Real,
    start_bot,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AGENT", real.flavor)
    monkeypatch.setenv("AGENT_COMMAND", agent_command(real.flavor))
    h = await start_bot(as_tasks=True, workspace_base_path=real.workspace, agent_start_timeout_seconds=90)
    assert h.settings.permission_policy == "ask"

    h.fake.send_text(ALICE, "slow 4")
    await h.fake.wait_for(lambda: any("word4" in t for t in h.fake.bot_texts(ALICE.id)), timeout=120)
    drafts = [d.params["text"] for d in h.fake.api_calls("sendMessageDraft")]
    assert any("word1" in d and "word4" not in d for d in drafts), drafts  # streamed before it was done
    assert h.fake.bot_texts(ALICE.id)[-1].endswith("word1 word2 word3 word4")

    marker = real.workspace / "asked-marker"
    h.fake.send_text(ALICE, f"run: touch {marker} && echo ran")
    await h.fake.wait_for(lambda: any(m.buttons for m in h.fake.chat_messages(ALICE.id, sender="bot")), timeout=120)
    question = next(m for m in h.fake.chat_messages(ALICE.id, sender="bot") if m.buttons)
    assert "The agent wants to use a tool" in question.text and str(marker) in question.text
    assert "(execute)" in question.text
    assert not marker.exists(), "the tool ran before the user answered"
    await h.press(ALICE, question.message_id, "Allow once")
    await h.fake.wait_for(lambda: any("tool done" in t for t in h.fake.bot_texts(ALICE.id)), timeout=120)
    assert marker.exists()
    h.assert_clean(ALICE.id)
    await h.runtime.aclose()
    assert marked_processes(workspace=real.workspace) == []
