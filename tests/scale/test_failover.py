"""A worker SIGKILLed mid-install and mid-turn: the user's next install on another worker succeeds once the
install lease lapses (seconds), ``kiroclaw fsck --repair`` clears the leftovers, and the turn's update is
taken over and answered exactly once; an update delivered twice is answered once. The user moved to the
other worker resumes the same ACP session there (the per-user session map) and that worker appends to the
same per-user audit log, each entry once."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

from aiohttp import web

from kiroclaw.audit import read_all
from kiroclaw.config import Settings
from tests.scale.conftest import running_cluster, user, write_skill
from tests.scale.test_cluster import text_update

ALICE, BOB = user(111), user(222)
LEASE = 4.0


async def slow_archive_server() -> tuple[web.AppRunner, str, asyncio.Event]:
    """A loopback server that sends a .zip very slowly (an install that stays in progress)."""
    started = asyncio.Event()

    async def slow(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/zip", "Content-Length": str(1 << 20)})
        await response.prepare(request)
        started.set()
        await response.write(b"PK\x03\x04")
        for _ in range(120):
            await asyncio.sleep(0.5)
            await response.write(b"\0" * 256)
        return response

    app = web.Application()
    app.router.add_get("/slow.zip", slow)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/slow.zip", started


def kiroclaw(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from kiroclaw.cli import main; main()", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_worker_killed_mid_install_and_mid_turn(tmp_path: Path) -> None:
    skills = tmp_path / "skills"
    write_skill(skills, "notes")
    write_skill(skills, "todo")
    runner, url, download_started = await slow_archive_server()
    try:
        async with running_cluster(
            tmp_path,
            [ALICE.id, BOB.id],
            ("w1", "w2"),
            LOCAL_SOURCE_ROOTS=str(skills),
            URL_ALLOW_PRIVATE_HOSTS="127.0.0.1",
            INSTALL_LEASE_SECONDS=str(LEASE),
            HEARTBEAT_TTL_SECONDS="6",  # a dead worker is noticed sooner (two workers: little load)
        ) as c:
            workspace = Path(c.env["WORKSPACE_BASE_PATH"])
            # Alice chats and installs on her first worker: her session and her first audit entry
            c.fake.send_text(ALICE, "remember the blue door")
            await c.wait_reply(ALICE.id, lambda t: "blue door" in t, timeout=90)
            first_worker = await c.worker_of(ALICE.id)
            session_map = workspace / str(ALICE.id) / "sessions.json"
            session = json.loads(session_map.read_text())["threads"]["0"]["session_id"]
            c.fake.send_text(ALICE, f"/addon install {skills / 'todo'}")
            await c.wait_reply(ALICE.id, lambda t: "Installed todo" in t, timeout=60)
            c.fake.send_text(ALICE, f"/addon install {url}")
            await asyncio.wait_for(download_started.wait(), 60)
            victim = await c.worker_of(ALICE.id)
            assert victim == first_worker
            survivor = "w2" if victim == "w1" else "w1"
            # Bob's long turn runs on the same worker
            turn = text_update(c, BOB, "slow " + " ".join(f"w{i}" for i in range(30)))
            await c.deliver(str(victim), turn)
            await c.fake.wait_for(lambda: bool(c.fake.drafts.get((BOB.id, None))), timeout=60)

            c.kill(str(victim))  # SIGKILL
            killed_at = time.monotonic()
            leftovers = workspace / ".kiroclaw-staging" / str(ALICE.id)  # where installs stage, outside her folder
            assert any(leftovers.iterdir())  # the interrupted install's leftovers

            client = await c.redis_client()
            try:
                while await client.exists(f"kc:slot:{ALICE.id}"):
                    assert time.monotonic() - killed_at < LEASE + 3, "the killed worker's install slot did not lapse"
                    await asyncio.sleep(0.05)
            finally:
                await client.aclose()
            seen = len(c.fake.bot_texts(ALICE.id))
            await c.deliver(survivor, text_update(c, ALICE, f"/addon install {skills / 'notes'}"))
            await c.wait_reply(ALICE.id, lambda t: "Installed notes" in t, after=seen, timeout=60)
            assert time.monotonic() - killed_at < 60

            # the turn that died with its worker is taken over and answered once
            await c.wait_reply(BOB.id, lambda t: "w29" in t, timeout=90)
            await c.deliver(survivor, turn)  # delivered again: a duplicate
            await asyncio.sleep(3)
            assert sum("w29" in t for t in c.fake.bot_texts(BOB.id)) == 1, c.fake.bot_texts(BOB.id)

            # Alice, re-placed on the survivor by the ingress, goes on with the same conversation
            seen = len(c.fake.bot_texts(ALICE.id))
            c.fake.send_text(ALICE, "history")
            await c.wait_reply(ALICE.id, lambda t: "blue door" in t, after=seen, timeout=90)
            assert await c.worker_of(ALICE.id) == survivor
            assert json.loads(session_map.read_text())["threads"]["0"]["session_id"] == session
            assert not (workspace / "sessions.db").exists()
            settings = Settings(_env_file=None, workspace_base_path=workspace)  # type: ignore[call-arg]
            done = [e["name"] for e in read_all(settings, user=ALICE.id) if e["outcome"] == "ok"]
            assert done == ["todo", "notes"]  # one entry from each worker, each once, in one log

            found = kiroclaw(c.env, "fsck", "--json")
            assert found.returncode == 1 and "orphan-staging" in found.stdout, found.stdout + found.stderr
            repaired = kiroclaw(c.env, "fsck", "--repair")
            assert repaired.returncode == 0, repaired.stdout + repaired.stderr
            clean = kiroclaw(c.env, "fsck", "--json")
            assert clean.returncode == 0, clean.stdout
            registry = json.loads((workspace / str(ALICE.id) / "addons.json").read_text())
            assert sorted(a["name"] for a in registry["addons"]) == ["notes", "todo"]
    finally:
        await runner.cleanup()
