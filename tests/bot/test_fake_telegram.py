"""The fake Bot API itself behaves like Telegram where the bot's tests rely on it."""

from __future__ import annotations

import time

import aiohttp
import pytest

from tests.bot.fake_telegram import NOT_MODIFIED, FakeTelegram, FakeUser, HTMLError, render_html

ALICE = FakeUser(42, "Alice", "alice")


async def _call(http: aiohttp.ClientSession, fake: FakeTelegram, method: str, **params: object) -> tuple[int, dict]:
    async with http.post(f"{fake.base}/bot{fake.token}/{method}", data={k: str(v) for k, v in params.items()}) as r:
        return r.status, await r.json()


async def test_long_poll_holds_until_timeout_or_update() -> None:
    fake = FakeTelegram()
    await fake.start()
    try:
        async with aiohttp.ClientSession() as http:
            started = time.monotonic()
            status, body = await _call(http, fake, "getUpdates", timeout=1)
            assert status == 200 and body["result"] == []
            assert time.monotonic() - started >= 0.9, "an empty getUpdates must wait for its timeout"
            update_id = fake.send_text(ALICE, "/start")
            status, body = await _call(http, fake, "getUpdates", timeout=5)
            assert [u["update_id"] for u in body["result"]] == [update_id]
            assert body["result"][0]["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
            await _call(http, fake, "getUpdates", offset=update_id + 1, timeout=0)
            await fake.wait_acked(update_id, timeout=1)
            status, body = await _call(http, fake, "noSuchMethod")
            assert status == 404 and body == {"ok": False, "error_code": 404, "description": "Not Found"}
    finally:
        await fake.stop()


async def test_strict_like_telegram() -> None:
    fake = FakeTelegram()
    await fake.start()
    try:
        async with aiohttp.ClientSession() as http:
            status, body = await _call(http, fake, "sendMessage", chat_id=42, text="<foo>x</foo>", parse_mode="HTML")
            assert status == 400 and "can't parse entities" in body["description"]
            status, body = await _call(http, fake, "sendMessage", chat_id=42, text="x" * 4097)
            assert status == 400 and body["description"] == "Bad Request: message is too long"
            status, body = await _call(http, fake, "sendMessage", chat_id=42, text="<b>hi</b>", parse_mode="HTML")
            message_id = body["result"]["message_id"]
            status, body = await _call(
                http, fake, "editMessageText", chat_id=42, message_id=message_id, text="<b>hi</b>", parse_mode="HTML"
            )
            assert status == 400 and body["description"] == NOT_MODIFIED
            status, body = await _call(http, fake, "sendMessageDraft", chat_id=-100, draft_id=1, text="x")
            assert status == 400 and "TEXTDRAFT_PEER_INVALID" in body["description"]
            status, body = await _call(http, fake, "answerCallbackQuery", callback_query_id="nope")
            assert status == 400 and "query ID is invalid" in body["description"]
            fake.inject("sendMessage", 429, "Too Many Requests: retry after 3", retry_after=3)
            status, body = await _call(http, fake, "sendMessage", chat_id=42, text="x")
            assert status == 429 and body["parameters"] == {"retry_after": 3}
            async with http.post(f"{fake.base}/bot1:wrong/getMe") as resp:
                assert resp.status == 401
        assert fake.transcript(42) == "bot  : hi"
    finally:
        await fake.stop()


def test_render_html() -> None:
    assert render_html("<b>a</b> &lt;b&gt; &amp; <a href='https://x'>l</a>") == "a <b> & l"
    for bad in ("<b>x", "a < b", "a & b", "<div>x</div>", "</b>", "<a>x</a>"):
        with pytest.raises(HTMLError):
            render_html(bad)
