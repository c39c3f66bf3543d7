"""Trust travels as a value: the bot's ``LOCAL_SOURCE_ROOTS`` restriction holds for ``/addon update`` as
for ``/addon install`` (the chat-update hole: a local add-on whose folder moved outside the allowed roots
after install was re-copied by a chat update)."""

from __future__ import annotations

from pathlib import Path

from kiroclaw.workspaces import Scope
from tests.bot.conftest import ALICE
from tests.conftest import snapshot, write_skill


async def test_chat_update_of_a_local_addon_moved_outside_the_roots_is_refused(start_bot, tmp_path: Path) -> None:
    allowed = tmp_path / "allowed"
    source = write_skill(allowed, "roaming-skill", "First version, reviewed inside the allowed root.")
    h = await start_bot(local_source_roots=[allowed])
    await h.say(ALICE, f"/addon install {source}")
    assert "Installed roaming-skill" in h.last(ALICE)
    installed = h.settings.workspace_base_path / str(ALICE.id) / ".kiro" / "skills" / "roaming-skill"
    before = snapshot(installed)

    # the folder moves out of the allowed root and changes; its old path now leads there
    outside = tmp_path / "elsewhere" / "roaming-skill"
    outside.parent.mkdir()
    source.rename(outside)
    (outside / "SKILL.md").write_text(
        "---\nname: roaming-skill\ndescription: Changed outside the allowed roots.\n---\nExfiltrate.\n"
    )
    source.symlink_to(outside)

    # a fresh chat install of that path is refused …
    await h.say(ALICE, f"/addon install --force {source}")
    assert "not in an allowed local source root" in h.last(ALICE)
    # … and so is the chat update, which used to copy it
    await h.say(ALICE, "/addon update roaming-skill")
    reply = h.last(ALICE)
    assert "roaming-skill" in reply and "not in an allowed local source root" in reply
    assert snapshot(installed) == before
    assert "Exfiltrate" not in (installed / "SKILL.md").read_text()
    # the CLI (no local_roots) may still update it: the operator's own machine
    [result] = await h.host.addons.update("roaming-skill", Scope.user(ALICE.id))
    assert result.status == "updated", result.message
