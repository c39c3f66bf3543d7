"""``kiroclaw ingress --webhook``: Telegram's webhook is answered 200 only after the update is in its
user's worker stream; a wrong secret is refused; while Redis is down the answer is 503 (Telegram retries)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import aiohttp

from kiroclaw.shared.redis_state import RedisState
from tests.bot.fake_telegram import FakeTelegram
from tests.scale.conftest import TOKEN, Cluster, RedisServer, cluster_env, free_port, user

ALICE = user(111)
SECRET = "s3cret-for-the-webhook"


async def test_webhook_acks_only_after_the_append(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis")
    server.start()
    fake = FakeTelegram(TOKEN)
    await fake.start()
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram"
    env = cluster_env(
        tmp_path,
        server,
        fake,
        [ALICE.id],
        WEBHOOK_URL=url,
        WEBHOOK_HOST="127.0.0.1",
        WEBHOOK_PORT=str(port),
        WEBHOOK_SECRET=SECRET,
    )
    c = Cluster(fake, server, env, tmp_path)
    worker = RedisState(server.url, "w1", timeout_seconds=1.0)
    try:
        await worker.beat()  # a live worker to place users on (it reads nothing in this test)
        c.spawn("ingress", "ingress", "--webhook")
        await fake.wait_for(lambda: fake.webhook is not None, timeout=60)
        update = {
            "update_id": 5,
            "message": {
                "message_id": 1,
                "date": int(time.time()),
                "from": ALICE.as_json(),
                "chat": {"id": ALICE.id, "type": "private"},
                "text": "hi",
            },
        }
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        async with aiohttp.ClientSession() as http:
            async with http.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}) as r:
                assert r.status == 401
            async with http.post(url, json=update, headers=headers) as r:
                assert r.status == 200
            entries = await worker.redis.xrange("kc:in:w1")
            assert [json.loads(fields["u"]) for _, fields in entries] == [update]
            assert await worker.redis.hget("kc:cell", str(ALICE.id)) == "w1"
            server.stop()
            started = time.monotonic()
            async with http.post(url, json={**update, "update_id": 6}, headers=headers) as r:
                assert r.status == 503  # not acknowledged: Telegram keeps it and retries
            assert time.monotonic() - started < 15
    finally:
        await c.stop_all()
        await worker.aclose()
        await fake.stop()
        server.stop()
