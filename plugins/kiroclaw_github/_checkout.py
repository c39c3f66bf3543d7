"""Write a fetched tree with git's own checkout, after vetting its listing in full.

``git archive`` piped through :func:`kiroclaw.extract_tar_stream` parses every member in Python; for the
common tree (regular files and links with canonical names, within the caps) git can write the files
itself, in C, once we know exactly what it will write:

1. ``git ls-tree -r -l -z --full-tree`` lists every entry with its mode, object and size *before*
   anything is written; the listing is counted while it is read and cut (git killed) past the
   extractor's member cap, since a tree that reuses one subtree many times lists far more than its size;
2. each name goes through :func:`kiroclaw.check_member_name` (the extractor's own rules: length, depth,
   control and format characters, ``..``, reserved ``.kiroclaw`` names) and must come back unchanged
   (no ``./`` or ``..`` segment to resolve, already NFC, not under ``.git``); the file count, the byte
   sum (exact: every attribute that changes bytes is unset in ``$GIT_DIR/info/attributes``) and the
   member count (files, links and folders) must be within the caps; no name may repeat or be both a file
   and a folder;
3. every folder is made first, as the extractor makes it (mode 0755 less the umask, also a folder that
   holds only links); only the regular files go into a private index (``git update-index --index-info``),
   which ``git checkout-index --all`` writes into the new, empty destination; links are recorded, never
   written, their targets read with one ``git cat-file --batch`` (each distinct one once, none whose
   listed size is too long to record: those are ``/``, as the extractor records them);
4. file modes are set to 0644/0755 as the extractor sets them (opened without following links).

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

__all__ = ["LINK_BYTES", "TreePlan", "checkout_tree", "member_cap", "plan_tree"]

_FILE_MODES = {b"100644": 0o644, b"100755": 0o755}
_LINK_MODE = b"120000"


@dataclass
class TreePlan:
    """What ``git checkout-index`` will write: ``index`` (``git update-index -z --index-info`` input for
    the regular files), ``modes`` (POSIX path → file mode to set), ``links`` (POSIX path → link object
    id), ``link_sizes`` (link object id → its size in bytes), ``folders`` (every folder of the tree, POSIX
    paths: one holding only links is made too, as the extractor makes it), ``files`` and ``size_bytes``
    (the regular files' count and byte sum)."""

    index: list[bytes] = field(default_factory=list)
    modes: dict[str, int] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    link_sizes: dict[str, int] = field(default_factory=dict)
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
        if mode == _LINK_MODE and limits.whole_tree and size.isdigit():
            plan.links[name] = object_id.decode("ascii")
            plan.link_sizes[plan.links[name]] = int(size)
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
    if names & folders or len(names) + len(folders) > member_cap(limits):
        return None  # the extractor's member cap counts links and folders too
    return plan


def member_cap(limits: ExtractLimits) -> int:
    """Most members (files, links and folders) the extractor accepts in one archive."""
    return 4 * limits.max_files + 16


#: Most bytes of link targets read in one tree; more goes through the extractor (which bounds each one).
LINK_BYTES = 8 * 1024 * 1024


def _link_targets(runner: GitRunner, plan: TreePlan, limits: ExtractLimits) -> tuple[tuple[str, str], ...] | None:
    """(path, target) per link, each distinct target read once with one ``git cat-file --batch``; a target
    too long to record is not read at all (``/``, as the extractor records it). ``None`` when git fails,
    answers something else than the blobs asked for, or the targets add up to more than
    :data:`LINK_BYTES`."""
    longest = limits.max_path_chars * 4  # characters the extractor records; a character is at most 4 bytes
    wanted = [i for i, size in plan.link_sizes.items() if size <= 4 * longest]
    if sum(plan.link_sizes[i] for i in wanted) > LINK_BYTES:
        return None
    targets = dict.fromkeys(plan.link_sizes, "/")
    if wanted:
        code, out, _err = runner.run_bytes(["cat-file", "--batch"], stdin="".join(f"{i}\n" for i in wanted).encode())
        if code != 0:
            return None
        position = 0
        for object_id in wanted:
            end = out.find(b"\n", position)
            header = out[position:end].split() if end >= 0 else []
            if len(header) != 3 or header[0] != object_id.encode() or header[1] != b"blob" or not header[2].isdigit():
                return None
            start, length = end + 1, int(header[2])
            if length != plan.link_sizes[object_id]:
                return None
            targets[object_id] = out[start : start + length].decode("utf-8", "surrogateescape")
            position = start + length + 1
    return tuple((path, recorded_link_target(targets[object_id], limits)) for path, object_id in plan.links.items())


def checkout_tree(
    runner: GitRunner, treeish: str, dest: Path, limits: ExtractLimits
) -> tuple[int, int, tuple[tuple[str, str], ...]] | None:
    """Write ``treeish`` into the new folder ``dest`` with git's checkout; returns (files, bytes, links)
    like :meth:`GitRunner.extract`, or ``None`` (``dest`` absent) when the caller must use the extractor.

    :raises LimitExceededError: the deadline passed (git killed).
    :raises Cancelled: the operation was cancelled (git killed).
    """
    listing = runner.records(["ls-tree", "-r", "-l", "-z", "--full-tree", treeish], member_cap(limits))
    plan = plan_tree(listing, limits) if listing is not None else None
    if plan is None:
        return None
    links = _link_targets(runner, plan, limits) if plan.links else ()
    if links is None:
        return None
    dest = Path(os.path.abspath(dest))  # git runs in another folder
    dest.mkdir(mode=0o755)
    try:
        # the folders first, as the extractor makes them (mode 0755 less the umask; git would use 0777),
        # also those that hold only links
        for folder in sorted(plan.folders):
            os.makedirs(os.path.join(dest, folder), mode=0o755, exist_ok=True)
        if plan.index and not _write(runner, plan, dest):
            remove_tree(dest)
            return None
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
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    for name, mode in plan.modes.items():
        fd = os.open(os.path.join(dest, name), flags)
        try:
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
    return True
