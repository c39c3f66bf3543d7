"""The acceptance conversation, end to end over HTTP: the real aiogram Bot and Dispatcher long-polling the
fake Bot API, a ``kiroclaw hub serve`` registry subprocess, a local git base as GitHub, and the stand-in
ACP agent as kiro-cli. The whole transcript is compared with a golden file."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.acquire.conftest import GitBase, git_base  # noqa: F401  (fixture)
from tests.bot.conftest import ALICE, BOB
from tests.hub.conftest import serve_subprocess, stop_subprocess

GOLDEN = Path(__file__).parent / "golden"


def normalise(text: str) -> str:
    """Mask what differs between runs: short commit ids (git versions), loopback ports."""
    text = re.sub(r"@[0-9a-f]{7}\b", "@<sha>", text)
    return re.sub(r"127\.0\.0\.1:[0-9]+", "127.0.0.1:<port>", text)


def check_golden(name: str, text: str) -> None:
    """Compare ``text`` with ``golden/<name>``; ``UPDATE_GOLDEN=1`` rewrites the file instead."""
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text + "\n", encoding="utf-8")
    assert path.exists(), f"no golden file {path.name}; run with UPDATE_GOLDEN=1 once and review it"
    expected = path.read_text(encoding="utf-8").rstrip("\n")
    assert text == expected, f"transcript differs from {path.name}:\n{text}\n--- expected ---\n{expected}"


@pytest.fixture
def hub_process(catalog: Path, cli_env: dict[str, str]):
    served = serve_subprocess(catalog, cli_env)
    try:
        yield served
    finally:
        stop_subprocess(served.process)


async def test_conversation(start_bot, hub_process, git_base: GitBase) -> None:  # noqa: F811
    repo = git_base.repo("acme", "tools")
    repo.skill("skills", "alpha", "Alpha does the first thing.")
    repo.skill("skills", "beta", "Beta does the second thing.")
    repo.commit("first")
    h = await start_bot(kirohub_registry_url=hub_process.url, github_base_url=git_base.url)
    fake = h.fake

    # search → results with an Install button each
    await h.say(ALICE, "/addon search weather")
    results = fake.last_bot(ALICE.id)
    assert "weather-api v1.1.0" in results.text and "by alice" in results.text and "⬇ 12" in results.text
    assert [b["text"] for row in results.buttons for b in row] == ["📦 Install weather-api"]

    # press Install → one message edited through the stages → installed, with version, skills and a hint
    edits_before = len(fake.api_calls("editMessageText"))
    await h.press(ALICE, results.message_id, "Install weather-api")
    progress = fake.last_bot(ALICE.id)
    assert "Installed weather-api v1.1.0 from kirohub" in progress.text
    assert "Skills added: weather-api" in progress.text and "💡 Try asking" in progress.text
    first_text = next(c for c in fake.api_calls("sendMessage") if "Installing" in c.params["text"])
    assert "resolving" in first_text.params["text"]
    stages = [c.params["text"] for c in fake.api_calls("editMessageText")[edits_before:]]
    assert all(
        c.params["message_id"] == str(progress.message_id) for c in fake.api_calls("editMessageText")[edits_before:]
    )
    order = [next(i for i, t in enumerate(stages) if word in t) for word in ("downloading", "validating", "Installed")]
    assert order == sorted(order), stages

    # a GitHub plugin package: its skills are listed
    await h.say(ALICE, "/addon install acme/tools")
    installed = h.last(ALICE)
    assert "Installed acme/tools" in installed and "from github" in installed
    assert "Skills added: alpha, beta" in installed

    await h.say(ALICE, "/skills")
    skills = h.last(ALICE)
    for line in ("📦 acme/tools (2): alpha, beta", "• weather-api"):  # grouped by add-on
        assert line in skills

    # a plain message goes to the agent; the streamed reply names exactly the user's skills
    await h.say(ALICE, "list skills")
    assert h.last(ALICE).splitlines() == ["alpha", "beta", "weather-api"]
    assert fake.api_calls("sendChatAction"), "no typing indicator"
    assert fake.api_calls("sendMessageDraft"), "reply was not streamed as a draft"

    # remove asks first; confirming removes
    await h.say(ALICE, "/addon remove weather-api")
    confirm = fake.last_bot(ALICE.id)
    assert "Remove weather-api v1.1.0?" in confirm.text
    await h.press(ALICE, confirm.message_id, "Remove")
    assert "Removed weather-api" in h.last(ALICE)
    assert not (h.settings.workspace_base_path / str(ALICE.id) / ".kiro" / "skills" / "weather-api").exists()
    await h.say(ALICE, "/addon list")
    assert "acme/tools" in h.last(ALICE) and "weather-api" not in h.last(ALICE)

    # a second user sees none of it
    await h.say(BOB, "/addon list")
    assert "no add-ons yet" in h.last(BOB)
    await h.say(BOB, "/skills")
    assert "no skills yet" in h.last(BOB)
    await h.say(BOB, "list skills")
    assert h.last(BOB) == "(no skills)"

    h.assert_clean(ALICE.id, BOB.id)
    assert not h.errors(), h.errors()
    check_golden("conversation_alice.txt", normalise(fake.transcript(ALICE.id)))
    check_golden("conversation_bob.txt", normalise(fake.transcript(BOB.id)))
