"""Redis stopped under a running bot (``kiroclaw run`` with REDIS_URL): installs and buttons answer one line,
chat keeps answering, and everything works again once Redis is back. Under the polling ingress with a
worker, updates are held (not acknowledged) while Redis is down and answered once after it is back."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.bot.fake_telegram import FakeTelegram
from tests.scale.conftest import TOKEN, Cluster, RedisServer, cluster_env, running_cluster, user, write_skill

ALICE = user(111)
LINE = "⚠️ installs and buttons are temporarily unavailable, try again in a minute"


async def test_redis_down_mid_run(tmp_path: Path) -> None:
    skills = tmp_path / "skills"
    for name in ("notes", "todo", "maps"):
        write_skill(skills, name)
    server = RedisServer(tmp_path / "redis")
    server.start()
    fake = FakeTelegram(TOKEN)
    await fake.start()
    root = tmp_path / "run"
    root.mkdir()
    c = Cluster(fake, server, cluster_env(tmp_path, server, fake, [ALICE.id], LOCAL_SOURCE_ROOTS=str(skills)), root)
    try:
        c.spawn("bot", "run")  # the embedded bot, polling Telegram itself, with shared state on Redis
        fake.send_text(ALICE, f"/addon install {skills / 'notes'}")
        await c.wait_reply(ALICE.id, lambda t: "Installed notes" in t, timeout=90)
        fake.send_text(ALICE, "/addon remove notes")
        await c.wait_reply(ALICE.id, lambda t: t.startswith("🗑 Remove"))
        prompt = fake.last_bot(ALICE.id)

        server.stop()
        seen = len(fake.bot_texts(ALICE.id))
        fake.send_text(ALICE, f"/addon install {skills / 'todo'}")
        assert await c.wait_reply(ALICE.id, lambda t: t.startswith("⚠️"), after=seen) == LINE
        seen = len(fake.bot_texts(ALICE.id))
        fake.press(ALICE, prompt.message_id, "Remove")
        assert await c.wait_reply(ALICE.id, lambda t: t.startswith("⚠️"), after=seen) == LINE
        await fake.wait_for(lambda: all(fake.callbacks.values()))
        seen = len(fake.bot_texts(ALICE.id))
        fake.send_text(ALICE, "echo still here")
        await c.wait_reply(ALICE.id, lambda t: "still here" in t, after=seen, timeout=90)

        server.start()  # nothing of record was in Redis: installs work again at once
        seen = len(fake.bot_texts(ALICE.id))
        fake.send_text(ALICE, f"/addon install {skills / 'maps'}")
        await c.wait_reply(ALICE.id, lambda t: "Installed maps" in t or t.startswith("⚠️"), after=seen, timeout=60)
        assert "Installed maps" in fake.bot_texts(ALICE.id)[-1], fake.bot_texts(ALICE.id)[seen:]
        assert (Path(c.env["WORKSPACE_BASE_PATH"]) / str(ALICE.id) / ".kiro" / "skills" / "notes").is_dir()
    finally:
        await c.stop_all()
        await fake.stop()
        server.stop()


async def test_redis_down_under_the_polling_ingress(tmp_path: Path) -> None:
    """The default routed deployment (``kiroclaw ingress`` long-polling, one worker): while Redis is down
    the ingress cannot append, so it does not acknowledge — Telegram keeps the updates — and nothing is
    answered; the ingress and the worker keep running. Once Redis is back on the same port, the held chat
    message and install are answered exactly once, and a button from before the restart answers "expired"
    (Redis held it; it holds nothing of record) instead of acting."""
    skills = tmp_path / "skills"
    for name in ("notes", "todo"):
        write_skill(skills, name)
    async with running_cluster(tmp_path, [ALICE.id], ("w1",), LOCAL_SOURCE_ROOTS=str(skills)) as c:
        fake = c.fake
        fake.send_text(ALICE, f"/addon install {skills / 'notes'}")
        await c.wait_reply(ALICE.id, lambda t: "Installed notes" in t, timeout=90)
        fake.send_text(ALICE, "/addon remove notes")
        await c.wait_reply(ALICE.id, lambda t: t.startswith("🗑 Remove"))
        prompt = fake.last_bot(ALICE.id)

        c.redis.stop()
        seen = len(fake.bot_texts(ALICE.id))
        held = [
            fake.send_text(ALICE, "echo held while redis was down"),
            fake.send_text(ALICE, f"/addon install {skills / 'todo'}"),
            fake.press(ALICE, prompt.message_id, "Remove"),
        ]
        await asyncio.sleep(4)  # several ingress retries
        assert fake._confirmed < held[0], "acknowledged to Telegram without an append"
        assert fake.bot_texts(ALICE.id)[seen:] == []
        assert all(p.poll() is None for p in c.procs.values()), c.logs()

        c.redis.start()  # same port, empty: no streams, no heartbeats, no buttons
        await fake.wait_for(lambda: fake._confirmed >= held[-1], timeout=60)
        await c.wait_reply(ALICE.id, lambda t: "held while redis was down" in t, after=seen, timeout=90)
        await c.wait_reply(ALICE.id, lambda t: "Installed todo" in t, after=seen, timeout=60)
        await fake.wait_for(lambda: all(fake.callbacks.values()), timeout=30)
        await asyncio.sleep(2)  # time for a duplicate to show
        texts = fake.bot_texts(ALICE.id)[seen:]
        assert sum("held while redis was down" in t for t in texts) == 1, texts
        assert sum("Installed todo" in t for t in texts) == 1, texts
        answers = [str(call.params.get("text", "")) for call in fake.api_calls("answerCallbackQuery")]
        assert any("expired" in a for a in answers), answers
        kept = Path(c.env["WORKSPACE_BASE_PATH"]) / str(ALICE.id) / ".kiro" / "skills"
        assert sorted(p.name for p in kept.iterdir()) == ["notes", "todo"]
