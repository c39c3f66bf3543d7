"""``/skills`` at a glance: grouped by add-on, one sort, long lists paged with ◀ ▶ buttons, and
``/skills name`` for one skill — through the real bot against the fake Bot API."""

from __future__ import annotations

import re

from kiroclaw.workspaces import Scope
from tests.bot.conftest import ALICE, BOB
from tests.conftest import write_package, write_skill

NAMES = [f"{word}-helper" for word in ("zeta", "Alpha", "mike", "bravo", "echo", "delta", "kilo", "lima", "yankee",
         "golf", "hotel", "india", "juliet", "oscar", "papa", "quebec", "romeo", "sierra", "tango", "uniform",
         "victor", "whiskey", "xray", "charlie", "foxtrot", "november")]  # fmt: skip


def _labels(message) -> list[list[str]]:
    return [[button["text"] for button in row] for row in message.buttons]


async def test_long_skill_lists_are_paged_with_buttons(start_bot, tmp_path) -> None:
    h = await start_bot()
    own = h.settings.workspace_base_path / str(ALICE.id) / ".kiro" / "skills"
    for name in NAMES:
        write_skill(own, name.lower(), f"The {name} skill helps with one thing, described at some length here.")
    packages = tmp_path / "pkgs"
    await h.host.addons.install(
        str(write_package(packages / "team-pack", skills=["review", "lint", "deploy"])), Scope.user(ALICE.id)
    )

    await h.say(ALICE, "/skills")
    first = h.fake.last_bot(ALICE.id)
    match = re.match(r"🧠 Your agent's skills \((\d+)\), page 1/(\d+):\n\n", first.text)
    assert match, first.text[:80]
    assert int(match.group(1)) == len(NAMES) + 3
    total = int(match.group(2))
    assert total >= 2
    assert first.text.split("\n")[2] == "📦 team-pack (3): deploy, lint, review", "packages come first, names sorted"
    assert _labels(first) == [[f"1/{total}", "Next ▶"]]

    seen: list[str] = []
    pages = []
    for page in range(1, total + 1):
        message = h.fake.last_bot(ALICE.id)
        assert message.message_id == first.message_id, "pages edit the same message"
        assert f"page {page}/{total}:" in message.text
        pages.append(message.text)
        seen += re.findall(r"^• (\S+):", message.text, re.M)
        if page < total:
            await h.press(ALICE, message.message_id, "Next ▶")
    assert seen == sorted(n.lower() for n in NAMES), "one sort across pages, nothing twice or missing"
    assert _labels(h.fake.last_bot(ALICE.id)) == [["◀ Back", f"{total}/{total}"]]
    await h.press(ALICE, first.message_id, "◀ Back")
    assert h.fake.last_bot(ALICE.id).text == pages[-2]
    h.assert_clean(ALICE.id)

    # another user pressing Alice's old button would only see their own list (here: Bob has none)
    await h.say(BOB, "/skills")
    assert h.last(BOB).startswith("🧠 Your agent has no skills yet.")


async def test_one_skill_in_detail_and_did_you_mean(start_bot, tmp_path) -> None:
    h = await start_bot()
    own = h.settings.workspace_base_path / str(ALICE.id) / ".kiro" / "skills"
    write_skill(own, "sql-explain", "Explain a SQL query plan in plain words.")
    await h.say(ALICE, "/skills sql-explain")
    assert h.last(ALICE) == (
        "🧠 sql-explain\nExplain a SQL query plan in plain words.\n"
        "From: your own skills folder (not installed through an add-on)"
    )
    await h.say(ALICE, "/skills sql-explian")
    assert h.last(ALICE) == "🤷 Your agent has no skill called sql-explian. Did you mean /skills sql-explain?"
    h.assert_clean(ALICE.id)
