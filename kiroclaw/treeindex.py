"""The index of a fetched tree: every file, folder and link, read once with ``lstat`` (links are never
followed), and link resolution on that index alone — in a git tree a link is a blob holding its target
path, so it can be resolved inside the tree without touching the file system.
"""

from __future__ import annotations

import os
import posixpath
import re
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .skills import SKILL_FILE

#: Largest JSON manifest read, in bytes.
MAX_JSON_BYTES = 1024 * 1024
#: Most link hops followed (inside the tree) before a link is called a loop.
MAX_LINK_HOPS = 40


# --- the tree -----------------------------------------------------------------------------------


@dataclass
class TreeIndex:
    """Every entry of a fetched tree, read once with ``lstat`` (links are never followed).

    :ivar root: the folder on disk.
    :ivar dirs: folder paths (POSIX, relative; ``""`` is the root).
    :ivar files: regular file path → size in bytes.
    :ivar links: link path → its target text, from the source's record (git, tar and zip links are
        recorded, not written) and any link found on disk (read with ``readlink``, not followed).
    :ivar children: folder path → names of its entries (files, folders and links), sorted.
    """

    root: Path
    dirs: set[str] = field(default_factory=set)
    files: dict[str, int] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    children: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def build(cls, root: Path, links: Mapping[str, str] | None = None) -> TreeIndex:
        """Index ``root`` (skipping ``.git``) and merge ``links`` (path → target) recorded by the source."""
        index = cls(root=root)
        index.dirs.add("")
        pending = [("", str(root))]
        while pending:
            rel, full = pending.pop()
            names: list[str] = []
            with os.scandir(full) as entries:
                for entry in entries:
                    if entry.name == ".git":
                        continue
                    child = f"{rel}/{entry.name}" if rel else entry.name
                    mode = entry.stat(follow_symlinks=False).st_mode
                    names.append(entry.name)
                    if stat.S_ISDIR(mode):
                        index.dirs.add(child)
                        pending.append((child, entry.path))
                    elif stat.S_ISREG(mode):
                        index.files[child] = entry.stat(follow_symlinks=False).st_size
                    elif stat.S_ISLNK(mode):
                        index.links[child] = os.readlink(entry.path)
            index.children[rel] = names
        for path, target in (links or {}).items():
            if path in index.files or path in index.dirs:
                continue
            index.links[path] = target
            parent = posixpath.dirname(path)
            if parent in index.dirs:
                index.children.setdefault(parent, []).append(posixpath.basename(path))
        for names in index.children.values():
            names.sort()
        return index

    def is_dir(self, rel: str) -> bool:
        return rel in self.dirs

    def skill_file(self, folder: str) -> str | None:
        """The regular file ``folder/SKILL.md`` is, or leads to through links inside the tree; else ``None``."""
        path = _join(folder, SKILL_FILE)
        if path in self.files:
            return path
        if path in self.links:
            target, _why = self.resolve_link(path)
            return target if target is not None and target in self.files else None
        return None

    def is_file(self, rel: str) -> bool:
        return rel in self.files

    def subdirs(self, rel: str) -> list[str]:
        """Real sub-folders of ``rel`` (not links), as paths, sorted by name."""
        return [p for p in (_join(rel, n) for n in self.children.get(rel, ())) if p in self.dirs]

    def walk(self, rel: str) -> Iterator[str]:
        """Every file and link path under folder ``rel`` (links are listed, not followed)."""
        stack = [rel]
        while stack:
            current = stack.pop()
            for name in self.children.get(current, ()):
                child = _join(current, name)
                if child in self.dirs:
                    stack.append(child)
                else:
                    yield child

    def read_text(self, rel: str, limit: int = MAX_JSON_BYTES) -> str | None:
        """A regular file's text (UTF-8), or ``None`` when missing, a link, too big or not UTF-8."""
        if rel not in self.files or self.files[rel] > limit:
            return None
        try:
            with open(self.root / rel, "rb") as fh:
                return fh.read(limit + 1).decode("utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    def resolve_link(self, rel: str) -> tuple[str | None, str]:
        """Where the link at ``rel`` leads inside the tree, resolved on the index only (never on disk).

        :returns: (target path, ``""``) when it ends at a file or folder inside the tree, else
            (``None``, reason): ``is absolute``, ``points outside the fetched tree``, ``is dangling`` or
            ``is a loop``, with the link's target text.
        """
        return self._resolve(rel, [0])

    def _resolve(self, path: str, hops: list[int]) -> tuple[str | None, str]:
        parts: list[str] = []
        for segment in path.split("/"):
            if not segment:
                continue
            parts.append(segment)
            here = "/".join(parts)
            if here not in self.links:
                continue
            hops[0] += 1
            if hops[0] > MAX_LINK_HOPS:
                return None, "is a loop"
            target = self.links[here]
            shown = target[:80]
            if target.startswith("/") or re.match(r"^[A-Za-z]:", target) or "\\" in target or "\x00" in target:
                return None, f"is absolute ({shown})"
            joined = inside("/".join(parts[:-1]), target)
            if joined is None:
                return None, f"points outside the fetched tree ({shown})"
            resolved, why = self._resolve(joined, hops)
            if resolved is None:
                return None, why if why != "is dangling" else f"is dangling ({shown})"
            parts = resolved.split("/") if resolved else []
        real = "/".join(parts)
        if real in self.files or real in self.dirs:
            return real, ""
        return None, "is dangling"


def _join(base: str, name: str) -> str:
    return f"{base}/{name}" if base else name


def inside(base: str, relative: str) -> str | None:
    """``relative`` (a manifest path) joined to ``base``; ``None`` when absolute or above the tree root."""
    if relative.startswith("/") or "\\" in relative:
        return None
    parts = [p for p in base.split("/") if p]
    for segment in relative.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if not parts:
                return None
            parts.pop()
        else:
            parts.append(segment)
    return "/".join(parts)


def hard_link_target(name: str, linkname: str) -> str:
    """A tar hard link's target (a member path from the archive root) as a path relative to the link's
    folder, like a symbolic link's (``skills/x/a.md`` → ``AGENTS.md`` gives ``../../AGENTS.md``)."""
    if linkname.startswith("/"):
        return linkname
    base = posixpath.dirname(name.strip("/").removeprefix("./"))
    return posixpath.relpath(posixpath.normpath(linkname.removeprefix("./")) or ".", base or ".")
