"""Write a fetched tree with git's own checkout, after vetting its listing in full.

``git archive`` piped through :func:`kiroclaw.extract_tar_stream` parses every member in Python; for the
common tree (regular files and links with canonical names, within the caps) git can write the files
itself, in C, once we know exactly what it will write:

1. ``git ls-tree -r -l -z --full-tree`` lists every entry with its mode, object and size *before*
   anything is written;
2. each name goes through :func:`kiroclaw.check_member_name` (the extractor's own rules: length, depth,
   control and format characters, ``..``, reserved ``.kiroclaw`` names) and must come back unchanged
   (no ``./`` or ``..`` segment to resolve, already NFC, not under ``.git``); the file count and the
   byte sum (exact: every attribute that changes bytes is unset in ``$GIT_DIR/info/attributes``) must be
   within the caps; no name may repeat or be both a file and a folder;
3. only the regular files go into a private index (``git update-index --index-info``), which
   ``git checkout-index -a`` writes into the new, empty destination; links are recorded, never written
   (their targets read with ``git cat-file --batch``), as the extractor does with ``whole_tree``;
4. modes are set to 0644/0755 as the extractor sets them.

Anything else — a submodule, a link without ``whole_tree``, a name the rules would change or refuse,
a tree over a cap, a git failure — returns ``None`` and the caller streams ``git archive`` through the
extractor instead, which gives the same result or the same error as before. So this path never accepts
what the extractor would refuse; it only takes a faster road to the same tree.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kiroclaw import (
    ExtractLimits,
    LimitExceededError,
    UnsafeContentError,
    check_member_name,
    recorded_link_target,
    remove_tree,
)

if TYPE_CHECKING:
    from ._git import GitRunner

__all__ = ["TreePlan", "checkout_tree", "plan_tree"]

_FILE_MODES = {b"100644": 0o644, b"100755": 0o755}
_LINK_MODE = b"120000"


@dataclass
class TreePlan:
    """What ``git checkout-index`` will write: ``index`` (``git update-index -z --index-info`` input for
    the regular files), ``modes`` (POSIX path → file mode to set), ``links`` (POSIX path → link object
    id), ``folders`` (every folder of the tree, POSIX paths: one holding only links is made too, as the
    extractor makes it), ``files`` and ``size_bytes`` (the regular files' count and byte sum)."""

    index: list[bytes] = field(default_factory=list)
    modes: dict[str, int] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    folders: set[str] = field(default_factory=set)
    files: int = 0
    size_bytes: int = 0


def plan_tree(listing: bytes, limits: ExtractLimits) -> TreePlan | None:
    """The plan for ``git ls-tree -r -l -z --full-tree`` output, or ``None`` when the tree needs the
    extractor (see the module docstring for every case)."""
    plan = TreePlan()
    names: set[str] = set()
    folders = plan.folders
    for record in listing.split(b"\0"):
        if not record:
            continue
        meta, tab, raw = record.partition(b"\t")
        fields = meta.split()
        if not tab or len(fields) != 4 or fields[1] != b"blob":
            return None  # a submodule (commit entry) or a listing we do not understand
        mode, _kind, object_id, size = fields
        name = raw.decode("utf-8", "surrogateescape")
        try:
            parts = check_member_name(name, limits)
        except (UnsafeContentError, LimitExceededError):
            return None  # the extractor refuses it with its own message
        if parts is None or "/".join(parts) != name or name in names or name in folders:
            return None
        names.add(name)
        folders.update("/".join(parts[:depth]) for depth in range(1, len(parts)))
        if mode == _LINK_MODE and limits.whole_tree:
            plan.links[name] = object_id.decode("ascii")
            continue
        file_mode = _FILE_MODES.get(mode)
        if file_mode is None or not size.isdigit():
            return None
        plan.files += 1
        plan.size_bytes += int(size)
        if plan.files > limits.max_files or plan.size_bytes > limits.max_bytes:
            return None
        plan.index.append(mode + b" " + object_id + b"\t" + raw)
        plan.modes[name] = file_mode
    if names & folders or len(names) > 4 * limits.max_files + 16:
        return None  # the extractor's member cap counts links too
    return plan


def _link_targets(
    runner: GitRunner, links: dict[str, str], limits: ExtractLimits
) -> tuple[tuple[str, str], ...] | None:
    """(path, target) per link, read with one ``git cat-file --batch``; ``None`` if git fails."""
    ids = list(links.values())
    code, out, _err = runner.run_bytes(["cat-file", "--batch"], stdin="".join(f"{i}\n" for i in ids).encode())
    if code != 0:
        return None
    targets: dict[str, str] = {}
    position = 0
    for object_id in ids:
        end = out.find(b"\n", position)
        header = out[position:end].split()
        if end < 0 or len(header) != 3 or header[0].decode("ascii", "replace") != object_id or not header[2].isdigit():
            return None
        start, length = end + 1, int(header[2])
        targets[object_id] = out[start : start + length].decode("utf-8", "surrogateescape")
        position = start + length + 1
    return tuple((path, recorded_link_target(targets[object_id], limits)) for path, object_id in links.items())


def checkout_tree(
    runner: GitRunner, treeish: str, dest: Path, limits: ExtractLimits
) -> tuple[int, int, tuple[tuple[str, str], ...]] | None:
    """Write ``treeish`` into the new folder ``dest`` with git's checkout; returns (files, bytes, links)
    like :meth:`GitRunner.extract`, or ``None`` (``dest`` absent) when the caller must use the extractor.

    :raises LimitExceededError: the deadline passed (git killed).
    :raises Cancelled: the operation was cancelled (git killed).
    """
    code, listing, _err = runner.run_bytes(["ls-tree", "-r", "-l", "-z", "--full-tree", treeish])
    plan = plan_tree(listing, limits) if code == 0 else None
    if plan is None:
        return None
    links = _link_targets(runner, plan.links, limits) if plan.links else ()
    if links is None:
        return None
    dest.mkdir(mode=0o755)
    try:
        if plan.index and not _write(runner, plan, dest):
            remove_tree(dest)
            return None
        _make_folders(plan, dest)
    except BaseException:
        remove_tree(dest)
        raise
    return plan.files, plan.size_bytes, links


def _write(runner: GitRunner, plan: TreePlan, dest: Path) -> bool:
    """Index the planned files and check them out into ``dest``; False if git fails."""
    env = {"GIT_INDEX_FILE": str(runner.home / "checkout-index"), "GIT_WORK_TREE": str(dest)}
    index = b"\0".join(plan.index) + b"\0"
    if runner.run_bytes(["update-index", "-z", "--index-info"], stdin=index, env=env)[0] != 0:
        return False
    if runner.run_bytes(["checkout-index", "--all"], env=env)[0] != 0:
        return False
    for name, mode in plan.modes.items():
        os.chmod(os.path.join(dest, name), mode)
    return True


def _make_folders(plan: TreePlan, dest: Path) -> None:
    """The folders git did not make (those holding only links), mode 0755 like the extractor's."""
    for folder in sorted(plan.folders):
        os.makedirs(os.path.join(dest, folder), mode=0o755, exist_ok=True)
