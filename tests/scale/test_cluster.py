"""An ingress and three workers as real subprocesses, the fake Bot API and a real redis-server (one cluster
for the whole module): buttons across workers, the install rate limit and concurrent installs spread over
the workers, and /cancel or the draft stop button arriving on a worker that does not run the turn."""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from kiroclaw.audit import read_all
from kiroclaw.config import Settings
from tests.bot.fake_telegram import FakeUser
from tests.scale.conftest import Cluster, running_cluster, user, write_skill

pytestmark = pytest.mark.asyncio(loop_scope="module")

WORKERS = ("w1", "w2", "w3")
RATE_USERS = [user(1000 + i) for i in range(30)]
CONCURRENT_USERS = [user(2000 + i) for i in range(50)]
CHAT_USERS = [user(3000 + i) for i in range(20)]
ALICE = user(111)
_ids = itertools.count(10_000_000)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    tmp = tmp_path_factory.mktemp("cluster")
    skills = tmp / "skills"
    for i in range(6):
        write_skill(skills, f"skill-{i}")
    users = [u.id for u in (ALICE, *RATE_USERS, *CONCURRENT_USERS, *CHAT_USERS)]
    async with running_cluster(
        tmp, users, WORKERS, LOCAL_SOURCE_ROOTS=str(skills), INSTALL_RATE_LIMIT="3/hour", MAX_PROCESSES="40"
    ) as c:
        c.skills = skills  # type: ignore[attr-defined]
        yield c


def text_update(c: Cluster, sender: FakeUser, text: str) -> dict[str, Any]:
    """A message update that did not come through the ingress (for direct delivery to a worker)."""
    message = c.fake._user_message(sender, None, None, text)
    message["text"] = text
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return {"update_id": next(_ids), "message": message}


def press_update(c: Cluster, sender: FakeUser, message_id: int, button: str) -> dict[str, Any]:
    msg = c.fake.messages[message_id]
    data = next(b["callback_data"] for row in msg.buttons for b in row if button in b["text"])
    cbq = f"cbq-scale-{next(_ids)}"
    c.fake.callbacks[cbq] = False
    query = {
        "id": cbq,
        "from": sender.as_json(),
        "chat_instance": "ci",
        "data": data,
        "message": c.fake._message_json(msg),
    }
    return {"update_id": next(_ids), "callback_query": query}


def other(worker: str | None, offset: int = 1) -> str:
    assert worker in WORKERS
    return WORKERS[(WORKERS.index(worker) + offset) % len(WORKERS)]


def kiroclaw(c: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from kiroclaw.cli import main; main()", *args],
        env=c.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_button_made_on_one_worker_works_on_another(cluster: Cluster) -> None:
    c, skills = cluster, cluster.skills  # type: ignore[attr-defined]
    c.fake.send_text(ALICE, f"/addon install {skills / 'skill-0'}")
    await c.wait_reply(ALICE.id, lambda t: "Installed skill-0" in t)
    home = await c.worker_of(ALICE.id)
    c.fake.send_text(ALICE, "/addon remove skill-0")
    await c.wait_reply(ALICE.id, lambda t: t.startswith("🗑 Remove"))
    prompt = c.fake.last_bot(ALICE.id)
    # the worker that made the button drains: Alice moves, and her press is answered by her new worker
    drained = kiroclaw(c, "ingress", "--drain", str(home))
    try:
        assert drained.returncode == 0, drained.stderr
        assert await c.worker_of(ALICE.id) not in (None, home)
        c.fake.press(ALICE, prompt.message_id, "Remove")
        await c.wait_reply(ALICE.id, lambda t: t.startswith("🗑 Removed skill-0"))
    finally:
        assert kiroclaw(c, "ingress", "--undrain", str(home)).returncode == 0


async def test_one_shot_button_delivered_to_two_workers_runs_once(cluster: Cluster) -> None:
    c, skills = cluster, cluster.skills  # type: ignore[attr-defined]
    c.fake.send_text(ALICE, f"/addon install {skills / 'skill-1'}")
    await c.wait_reply(ALICE.id, lambda t: "Installed skill-1" in t)
    c.fake.send_text(ALICE, "/addon remove skill-1")
    await c.wait_reply(ALICE.id, lambda t: t.startswith("🗑 Remove <") or t.startswith("🗑 Remove skill-1"))
    prompt = c.fake.last_bot(ALICE.id)
    before = len(c.fake.bot_texts(ALICE.id))
    await asyncio.gather(
        c.deliver("w1", press_update(c, ALICE, prompt.message_id, "Remove")),
        c.deliver("w2", press_update(c, ALICE, prompt.message_id, "Remove")),
    )
    await c.wait_reply(ALICE.id, lambda t: t.startswith("🗑 Removed skill-1"), after=0)
    await c.fake.wait_for(lambda: all(c.fake.callbacks.values()), timeout=30)
    await asyncio.sleep(1.0)  # a second run would have answered by now
    removed = [t for t in c.fake.bot_texts(ALICE.id) if t.startswith("🗑 Removed skill-1")]
    assert len(removed) == 1, c.fake.bot_texts(ALICE.id)[before:]
    expired = [call for call in c.fake.api_calls("answerCallbackQuery") if "expired" in call.params.get("text", "")]
    assert len(expired) == 1


async def test_rate_limit_holds_over_three_workers(cluster: Cluster) -> None:
    """INSTALL_RATE_LIMIT=3/hour, 30 users × 6 installs spread over the workers: exactly 3 per user."""
    c, skills = cluster, cluster.skills  # type: ignore[attr-defined]

    async def one_user(index: int, sender: FakeUser) -> None:
        for attempt in range(6):
            seen = len(c.fake.bot_texts(sender.id))
            worker = WORKERS[(index + attempt) % 3]
            await c.deliver(worker, text_update(c, sender, f"/addon install {skills / f'skill-{attempt}'}"))
            await c.wait_reply(sender.id, lambda t: "Installed" in t or "limit" in t, after=seen, timeout=60)
            await c.wait_slot_free(sender.id)  # the reply is sent just before the worker frees the slot

    await asyncio.gather(*(one_user(i, u) for i, u in enumerate(RATE_USERS)))
    for sender in RATE_USERS:
        texts = c.fake.bot_texts(sender.id)
        assert sum("Installed skill-" in t for t in texts) == 3, texts
        assert sum("install limit reached (3 per hour)" in t for t in texts) == 3, texts


async def test_concurrent_installs_never_overlap_and_leave_a_clean_tree(cluster: Cluster) -> None:
    """50 users × 3 installs delivered at once to three workers: one runs at a time per user; every
    accepted install is in the registry and the audit log exactly once; fsck is clean; no staging left."""
    c, skills = cluster, cluster.skills  # type: ignore[attr-defined]
    updates = [
        (WORKERS[n], text_update(c, sender, f"/addon install {skills / f'skill-{n}'}"))
        for sender in CONCURRENT_USERS
        for n in range(3)
    ]
    await asyncio.gather(*(c.deliver(w, u) for w, u in updates))

    def answered(sender: FakeUser) -> int:
        return sum(("Installed" in t or "still running" in t or "limit" in t) for t in c.fake.bot_texts(sender.id))

    await c.fake.wait_for(lambda: all(answered(u) >= 3 for u in CONCURRENT_USERS), timeout=120)
    workspace = Path(c.env["WORKSPACE_BASE_PATH"])
    audit = list(read_all(Settings(_env_file=None, workspace_base_path=workspace)))  # type: ignore[call-arg]
    for sender in CONCURRENT_USERS:
        texts = c.fake.bot_texts(sender.id)
        accepted = sorted(t.split("Installed ", 1)[1].split()[0] for t in texts if "Installed skill-" in t)
        assert accepted, texts
        assert len(accepted) + sum("still running" in t for t in texts) == 3, texts
        registry = json.loads((workspace / str(sender.id) / "addons.json").read_text())
        names = sorted(a["name"] for a in registry["addons"])
        assert names == accepted
        logged = sorted(
            e["name"] for e in audit if e["user"] == sender.id and e["action"] == "install" and e["outcome"] == "ok"
        )
        assert logged == accepted
        staging = workspace / ".kiroclaw-staging" / str(sender.id)
        assert not staging.exists() or not any(staging.iterdir())
    fsck = kiroclaw(c, "fsck", "--json")
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr


async def test_cancel_and_draft_stop_through_other_workers(cluster: Cluster) -> None:
    """20 users: each turn is stopped by /cancel (10 users) or the draft stop button (10 users) delivered
    to a worker that does not run it; every turn ends "stopped" and every agent survives."""
    c = cluster

    async def one_user(index: int, sender: FakeUser) -> None:
        c.fake.send_text(sender, "pid")
        first = await c.wait_reply(sender.id, lambda t: t.strip().isdigit(), timeout=150)
        home = await c.worker_of(sender.id)
        seen = len(c.fake.bot_texts(sender.id))
        c.fake.send_text(sender, "slow " + " ".join(f"w{i}" for i in range(200)))
        await c.fake.wait_for(lambda: bool(c.fake.drafts.get((sender.id, None))), timeout=60)
        await asyncio.sleep(0.3)
        if index % 2 == 0:
            await c.deliver(other(home), text_update(c, sender, "/cancel"))
        else:
            draft_id = max(c.fake.drafts[(sender.id, None)])
            update = {
                "update_id": next(_ids),
                "stopped_message_generation": {
                    "chat": {"id": sender.id, "type": "private", "first_name": sender.first_name},
                    "draft_id": draft_id,
                },
            }
            await c.deliver(other(home), update)
        await c.wait_reply(sender.id, lambda t: t.rstrip().endswith("⏹ stopped"), after=seen, timeout=60)
        # a chat message misrouted to another worker must not kill the home worker's live agent (its
        # session lock is held; the other worker starts a new session instead of recovering the lock)
        await c.deliver(other(home, 2), text_update(c, sender, "echo hello there"))
        await c.wait_reply(sender.id, lambda t: "hello there" in t, after=seen, timeout=90)
        assert Path(f"/proc/{first}").exists(), f"user {sender.id}: live agent {first} was killed"

    await asyncio.gather(*(one_user(i, u) for i, u in enumerate(CHAT_USERS)))
    assert "killing stale agent" not in c.logs(tail=0)
