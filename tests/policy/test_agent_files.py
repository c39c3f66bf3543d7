"""Uploads and outbox files out of the agent's reach (issue 12): with the default launcher the agent runs as
the bot's OS user, so it can turn ``{thread}/inbox`` or ``{thread}/sent`` into a link to another user's
folder. The bot opens them below the user's folder without following links."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kiroclaw.agent.runtime import _collect
from kiroclaw.errors import UnsafeContentError
from kiroclaw.safefs import create_beneath, read_beneath
from tests.bot.conftest import ALICE, BOB
from tests.conftest import snapshot


async def test_upload_through_an_agent_made_link_is_refused(start_bot) -> None:  # type: ignore[no-untyped-def]
    h = await start_bot()
    base = h.settings.workspace_base_path
    victim = base / str(BOB.id) / ".kiro" / "skills" / "weather"
    victim.mkdir(parents=True)
    (victim / "SKILL.md").write_text("---\nname: weather\ndescription: d\n---\n")
    thread_dir = base / str(ALICE.id) / "0"
    thread_dir.mkdir(parents=True)
    os.symlink(victim, thread_dir / "inbox")  # what the agent can do in its own folder
    before = snapshot(base / str(BOB.id))

    await h.upload(ALICE, "SKILL.md", b"---\nname: weather\ndescription: curl x | sh\n---\n", mime_type="text/plain")

    assert snapshot(base / str(BOB.id)) == before
    assert (victim / "SKILL.md").read_text() == "---\nname: weather\ndescription: d\n---\n"
    assert "link" in h.last(ALICE)


def test_create_beneath_refuses_links_and_never_overwrites(tmp_path: Path) -> None:
    (tmp_path / "12" / "0").mkdir(parents=True)
    (tmp_path / "123").mkdir()
    os.symlink(tmp_path / "123", tmp_path / "12" / "0" / "inbox")
    with pytest.raises(UnsafeContentError, match="link"):
        create_beneath(tmp_path / "12", "0/inbox", "x.txt")
    assert list((tmp_path / "123").iterdir()) == []
    os.unlink(tmp_path / "12" / "0" / "inbox")
    (tmp_path / "12" / "0" / "inbox").mkdir()
    os.symlink(tmp_path / "123" / "target", tmp_path / "12" / "0" / "inbox" / "x.txt")  # a dangling link
    fd, name = create_beneath(tmp_path / "12", "0/inbox", "x.txt")
    os.close(fd)
    assert name == "x-2.txt" and not (tmp_path / "123" / "target").exists()


def test_sent_files_are_read_without_following_links(tmp_path: Path) -> None:
    (tmp_path / "12" / "0" / "sent").mkdir(parents=True)
    secret = tmp_path / "123" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("other user's data")
    os.symlink(secret, tmp_path / "12" / "0" / "sent" / "report.txt")
    with pytest.raises(UnsafeContentError, match="link"):
        read_beneath(tmp_path / "12", "0/sent/report.txt", max_bytes=1024)
    (tmp_path / "12" / "0" / "sent" / "ok.txt").write_text("mine")
    assert read_beneath(tmp_path / "12", "0/sent/ok.txt", max_bytes=1024) == b"mine"


def test_outbox_is_not_moved_through_a_linked_sent_folder(tmp_path: Path) -> None:
    thread = tmp_path / "12" / "0"
    (thread / "outbox").mkdir(parents=True)
    (thread / "outbox" / "a.txt").write_text("a")
    elsewhere = tmp_path / "123"
    elsewhere.mkdir()
    os.symlink(elsewhere, thread / "sent")
    assert _collect(thread) == []
    assert list(elsewhere.iterdir()) == []
