"""PERMISSION_POLICY=ask (the default) through the real bot and the stand-in agent: the tool call's title
and kind with the agent's own options as buttons; the answer decides; no answer in time rejects; /cancel
ends a turn that waits for an answer; only the asking user can answer."""

from __future__ import annotations

from tests.bot.conftest import ALICE, BOB


def _question(h):  # type: ignore[no-untyped-def]
    return next(m for m in reversed(h.fake.chat_messages(ALICE.id, sender="bot")) if m.buttons)


async def _asked(h) -> int:  # type: ignore[no-untyped-def]
    h.fake.send_text(ALICE, "permission")
    await h.fake.wait_for(lambda: any(m.buttons for m in h.fake.chat_messages(ALICE.id, sender="bot")), timeout=30)
    return _question(h).message_id


async def test_a_tool_permission_is_asked_in_chat_and_the_answer_decides(start_bot) -> None:
    h = await start_bot(as_tasks=True)
    assert h.settings.permission_policy == "ask"
    message_id = await _asked(h)
    question = h.fake.messages[message_id]
    assert "The agent wants to use a tool" in question.text and "Run shell command" in question.text
    labels = [b["text"] for row in question.buttons for b in row]
    assert labels == ["✅ Allow once", "♾ Always for this session", "🚫 Reject"]
    await h.press(BOB, message_id, "Allow once")  # someone else's button press is refused
    assert not any(t == "permission granted" for t in h.fake.bot_texts(ALICE.id))
    await h.press(ALICE, message_id, "Allow once")
    await h.fake.wait_for(lambda: "permission granted" in h.fake.bot_texts(ALICE.id), timeout=30)
    assert "Allow once" in h.fake.messages[message_id].text and not h.fake.messages[message_id].buttons

    message_id = await _asked(h)
    await h.press(ALICE, message_id, "Reject")
    await h.fake.wait_for(lambda: h.fake.bot_texts(ALICE.id)[-1] == "permission denied", timeout=30)
    h.assert_clean(ALICE.id)


async def test_an_unanswered_permission_is_rejected_after_the_timeout(start_bot, monkeypatch) -> None:
    monkeypatch.setenv("PERMISSION_TIMEOUT_SECONDS", "1")
    h = await start_bot(as_tasks=True)
    message_id = await _asked(h)
    await h.fake.wait_for(lambda: "permission denied" in h.fake.bot_texts(ALICE.id), timeout=30)
    assert "No answer: the tool was not run." in h.fake.messages[message_id].text
    assert not h.fake.messages[message_id].buttons


async def test_cancel_while_a_permission_waits_ends_the_turn(start_bot) -> None:
    h = await start_bot(as_tasks=True)
    message_id = await _asked(h)
    await h.say(ALICE, "/cancel")
    await h.fake.wait_for(lambda: any("stopped" in t for t in h.fake.bot_texts(ALICE.id)), timeout=30)
    assert "No answer: the tool was not run." in h.fake.messages[message_id].text
    assert not h.fake.messages[message_id].buttons
    assert "permission granted" not in h.fake.bot_texts(ALICE.id)
