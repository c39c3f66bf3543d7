"""Handing a user's folder to the agent's own uid (``AGENT_UID_BASE``): the bot does it as root while the
user's other agents may be changing the folder, so no link may lead it to change the owner of a file
outside (a folder swapped for a link to ``/etc`` would otherwise hand ``/etc/shadow`` to the agent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kiroclaw.shared import caps
from kiroclaw.shared.caps import hand_over

AGENT_UID = 160_123

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner to another uid needs root")


def _owner(path: Path) -> int:
    return os.stat(path, follow_symlinks=False).st_uid


def test_uid_hand_over_never_follows_a_link_out_of_the_folder(tmp_path: Path) -> None:
    """Links to a file and to a folder outside change owner themselves; what they point to stays root's.
    A file with a second hard link stays root's too."""
    outside = tmp_path / "outside"
    (outside / "etc").mkdir(parents=True)
    (outside / "etc" / "shadow").write_text("root:*:")
    secret = outside / "secret"
    secret.write_text("root's")
    folder = tmp_path / "user"
    (folder / "0" / "inbox").mkdir(parents=True)
    (folder / "0" / "inbox" / "note.txt").write_text("hi")
    (folder / "file-link").symlink_to(secret)
    (folder / "0" / "folder-link").symlink_to(outside / "etc")
    os.link(secret, folder / "hard-link")
    changed = hand_over(folder, AGENT_UID)
    assert changed == 6  # user, 0, inbox, note.txt and the two links
    for inside in [folder, folder / "0", folder / "0" / "inbox", folder / "0" / "inbox" / "note.txt"]:
        assert _owner(inside) == AGENT_UID
    assert _owner(folder / "file-link") == AGENT_UID and _owner(folder / "0" / "folder-link") == AGENT_UID
    assert [_owner(p) for p in (secret, outside / "etc", outside / "etc" / "shadow")] == [0, 0, 0]
    assert hand_over(folder, AGENT_UID) == 0  # nothing left to change


def test_uid_hand_over_survives_a_folder_swapped_for_a_link_mid_walk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another agent of the user renames ``0/`` away and puts a link to the outside folder in its place
    right when the walk reaches the files inside ``0/``: the walk keeps working on the folder it opened."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "shadow").write_text("root:*:")
    folder = tmp_path / "user"
    (folder / "0").mkdir(parents=True)
    (folder / "0" / "shadow").write_text("the user's own file")
    swapped: list[bool] = []
    real_stat, real_lstat = os.stat, os.lstat

    def swap_once(target: object) -> None:
        if not swapped and str(target).endswith("shadow"):
            swapped.append(True)
            os.rename(folder / "0", folder / "0-moved")
            (folder / "0").symlink_to(outside)

    def stat(path: object, *args: object, **kwargs: object) -> os.stat_result:
        swap_once(path)
        return real_stat(path, *args, **kwargs)  # type: ignore[arg-type]

    def lstat(path: object, *args: object, **kwargs: object) -> os.stat_result:
        swap_once(path)
        return real_lstat(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(caps.os, "stat", stat)
    monkeypatch.setattr(caps.os, "lstat", lstat)
    hand_over(folder, AGENT_UID)
    monkeypatch.undo()
    assert swapped, "the walk never looked at the file inside the folder"
    assert _owner(outside / "shadow") == 0 and _owner(outside) == 0
    assert _owner(folder / "0-moved" / "shadow") == AGENT_UID  # the file the walk had reached
