"""Redis stopped under a running bot (``kiroclaw run`` with REDIS_URL): installs and buttons answer one line,
chat keeps answering, and everything works again once Redis is back."""

from __future__ import annotations

from pathlib import Path

from tests.bot.fake_telegram import FakeTelegram
from tests.scale.conftest import TOKEN, Cluster, RedisServer, cluster_env, user, write_skill

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
        c.stop_all()
        await fake.stop()
        server.stop()
