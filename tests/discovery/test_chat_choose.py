"""Choosing in chat: ``/addon install SPEC --list``, ``--skill NAME``, and the "Install all N / Choose…"
question above 50 skills with a searchable, paged pick list — through the real bot and the fake Bot API."""

from __future__ import annotations

from pathlib import Path

from kiroclaw.workspaces import Scope
from tests.bot.conftest import ALICE
from tests.conftest import write_skill


def _big_package(root: Path, count: int = 55) -> Path:
    for index in range(count):
        write_skill(root / "skills", f"skill-{index:02d}", f"Skill number {index} for the pick list.")
    write_skill(root / "skills", "undescribed", frontmatter="name: undescribed\n")
    return root


async def test_list_then_choose_from_a_paged_searchable_list(start_bot, tmp_path: Path) -> None:
    source = _big_package(tmp_path / "allowed" / "big-pack")
    h = await start_bot(local_source_roots=[tmp_path / "allowed"])
    fake = h.fake
    scope = Scope.user(ALICE.id)

    await h.say(ALICE, f"/addon install {source} --list")
    listing = h.last(ALICE)
    assert "offers 55 skill(s) and 0 recipe(s); nothing was installed" in listing
    assert "skill-54" in listing and "skills/undescribed: missing required field 'description'" in listing
    assert h.host.addons.list(scope) == []

    await h.say(ALICE, f"/addon install {source}")
    ask = fake.last_bot(ALICE.id)
    assert "offers 55 skills. Install all of them, or choose some?" in ask.text
    assert h.host.addons.list(scope) == []  # nothing installed before the answer

    await h.press(ALICE, ask.message_id, "Choose…")
    pick = fake.last_bot(ALICE.id)
    assert "55 of 55, page 1/7, 0 chosen" in pick.text
    await h.press(ALICE, pick.message_id, "skill-01")
    await h.press(ALICE, pick.message_id, "▶")
    assert "page 2/7, 1 chosen" in fake.messages[pick.message_id].text
    await h.press(ALICE, pick.message_id, "skill-09")

    await h.say(ALICE, "/addon find number 42")
    found = fake.last_bot(ALICE.id)
    assert "1 matching “number 42” of 55, page 1/1, 2 chosen" in found.text
    await h.press(ALICE, found.message_id, "skill-42")
    await h.press(ALICE, found.message_id, "Install 3 chosen")

    (record,) = h.host.addons.list(scope)
    assert record.skills == ["skill-01", "skill-09", "skill-42"]
    assert "Installed" in fake.messages[found.message_id].text


async def test_install_all_and_skill_option(start_bot, tmp_path: Path) -> None:
    source = _big_package(tmp_path / "allowed" / "big-pack")
    h = await start_bot(local_source_roots=[tmp_path / "allowed"])
    fake = h.fake

    await h.say(ALICE, f"/addon install {source}")
    ask = fake.last_bot(ALICE.id)
    await h.press(ALICE, ask.message_id, "Install all 55")
    (record,) = h.host.addons.list(Scope.user(ALICE.id))
    assert len(record.skills) == 55

    await h.say(ALICE, f"/addon install --force {source} --skill skill-03 --skill skill-07")
    (record,) = h.host.addons.list(Scope.user(ALICE.id))
    assert record.skills == ["skill-03", "skill-07"]
    assert "Installed" in h.last(ALICE)
