"""The GitHub source writes a vetted tree with git's own checkout, and the tree is the one the extractor
(``git archive`` through ``extract_tar_stream``) writes: same bytes, modes, links and counts. Anything the
vetting does not vouch for goes through the extractor, which refuses what it always refused."""

from __future__ import annotations

import os
import threading
import unicodedata
from pathlib import Path

import pytest

from kiroclaw import ExtractLimits

from .conftest import GitBase, git

LIMITS = ExtractLimits(max_files=100, max_depth=8, max_path_chars=200, max_bytes=1 << 20, whole_tree=True)


def _tree(root: Path) -> dict[str, tuple[int, bytes | None]]:
    """POSIX path → (mode bits, bytes; ``None`` for a folder) of everything under ``root``; links would
    show as errors."""
    found: dict[str, tuple[int, bytes | None]] = {}
    for path in sorted(root.rglob("*")):
        assert not path.is_symlink(), path
        found[path.relative_to(root).as_posix()] = (
            path.stat().st_mode & 0o777,
            path.read_bytes() if path.is_file() else None,
        )
    return found


def _fetch(git_base: GitBase, org: str, name: str, work: Path, *, extractor: bool, monkeypatch: pytest.MonkeyPatch):
    """``fetch_tree`` of ``org/name``; with ``extractor``, the checkout is turned off (the old road);
    without, the extractor is made to fail so the checkout must have written the tree."""
    from kiroclaw_github import _checkout, _git

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("this road must not be taken")

    with monkeypatch.context() as patch:
        if extractor:
            patch.setattr(_checkout, "checkout_tree", lambda *_a, **_k: None)
        else:
            patch.setattr(_git.GitRunner, "extract", refuse)
        work.mkdir()
        setup = _git.GitSetup(git_base.url, org, name, None, 30)
        return _git.fetch_tree(setup, work, None, None, LIMITS, threading.Event())


def test_checkout_writes_what_the_extractor_writes(git_base: GitBase, tmp_path: Path, monkeypatch) -> None:
    # models anthropics/skills (executable scripts beside docs) and the repositories whose root
    # CLAUDE.md is a link to AGENTS.md; the attributes would change bytes if git applied them
    repo = git_base.repo("acme", "same")
    repo.skill("skills", "one")
    repo.write("skills/one/scripts/run.sh", "#!/bin/sh\necho $Id$\n")
    (repo.work / "skills" / "one" / "scripts" / "run.sh").chmod(0o755)
    repo.write("AGENTS.md", "# Agents\nline one\nline two\n")
    os.symlink("AGENTS.md", repo.work / "CLAUDE.md")
    # models alirezarezvani/claude-skills: .gemini/skills/<name>/SKILL.md is a link into agents/, so
    # the folder holds nothing but a link and must still be there for discovery
    repo.write("agents/persona.md", "---\nname: persona\ndescription: A persona.\n---\nHi.\n")
    (repo.work / ".gemini" / "skills" / "persona").mkdir(parents=True)
    os.symlink("../../../agents/persona.md", repo.work / ".gemini" / "skills" / "persona" / "SKILL.md")
    repo.write("docs/deep/er/notes.txt", "$Id$\nplain\n")
    repo.commit()
    repo.write(".gitattributes", "* text eol=crlf ident\n*.md working-tree-encoding=UTF-16LE\n")
    git("add", ".gitattributes", cwd=repo.work)  # after the files: git stores their bytes as written
    git("commit", "-q", "-m", "attributes", cwd=repo.work)
    git("push", "-q", "--force", str(repo.bare), "HEAD:refs/heads/main", cwd=repo.work)

    umask = os.umask(0o002)  # git would make folders 0775 here, the extractor makes them 0755
    try:
        native = _fetch(git_base, "acme", "same", tmp_path / "a", extractor=False, monkeypatch=monkeypatch)
        archive = _fetch(git_base, "acme", "same", tmp_path / "b", extractor=True, monkeypatch=monkeypatch)
    finally:
        os.umask(umask)

    assert _tree(native.tree) == _tree(archive.tree)
    assert (native.files, native.size_bytes, native.links) == (archive.files, archive.size_bytes, archive.links)
    assert sorted(native.links) == [
        (".gemini/skills/persona/SKILL.md", "../../../agents/persona.md"),
        ("CLAUDE.md", "AGENTS.md"),
    ]
    assert (native.tree / ".gemini" / "skills" / "persona").is_dir()
    written = _tree(native.tree)
    assert written["docs/deep"] == (0o755, None)
    assert written["skills/one/scripts/run.sh"] == (0o755, b"#!/bin/sh\necho $Id$\n")
    assert written["AGENTS.md"] == (0o644, b"# Agents\nline one\nline two\n")
    assert not (native.tree / ".git").exists() and not (tmp_path / "a" / ".git-fetch").exists()


def test_a_name_the_rules_change_takes_the_extractor(git_base: GitBase, tmp_path: Path, monkeypatch) -> None:
    # a decomposed (NFD) file name: the extractor writes it in NFC, so the checkout must not write it
    repo = git_base.repo("acme", "nfd")
    repo.skill("skills", "one")
    decomposed = unicodedata.normalize("NFD", "café.md")
    repo.write(f"skills/one/{decomposed}", "x\n")
    repo.commit()
    from kiroclaw_github import _checkout

    calls: list[object] = []
    real = _checkout.plan_tree
    monkeypatch.setattr(_checkout, "plan_tree", lambda *a: calls.append(real(*a)) or calls[-1])
    from kiroclaw_github import _git

    (tmp_path / "w").mkdir()
    fetched = _git.fetch_tree(
        _git.GitSetup(git_base.url, "acme", "nfd", None, 30), tmp_path / "w", None, None, LIMITS, threading.Event()
    )
    assert calls == [None]
    assert "skills/one/" + unicodedata.normalize("NFC", "café.md") in _tree(fetched.tree)


def _listing(*rows: tuple[str, str, int | str, str]) -> bytes:
    return b"".join(
        f"{mode} {kind} {'a' * 40} {size:>7}\t".encode() + path.encode("utf-8", "surrogateescape") + b"\0"
        for mode, kind, size, path in rows
    )


@pytest.mark.parametrize(
    ("rows", "why"),
    [
        ([("160000", "commit", "-", "vendor/lib")], "a submodule"),
        ([("100644", "blob", 1, "a"), ("100644", "blob", 1, "a")], "a repeated name"),
        ([("100644", "blob", 1, "a"), ("100644", "blob", 1, "a/b")], "a file that is also a folder"),
        ([("100644", "blob", 1, ".git/config")], "a name the extractor skips"),
        ([("100644", "blob", 1, ".kiroclaw.json")], "a reserved name"),
        ([("100644", "blob", 1, "bad\x1bname")], "a control character"),
        ([("100644", "blob", 1, "bad\udcffname")], "a name that is not UTF-8"),
        ([("100644", "blob", 1, "/".join("d" * 9) + "/f")], "too deep"),
        ([("100644", "blob", 1 << 20, "a"), ("100644", "blob", 1, "b")], "over the byte cap"),
        ([("100644", "blob", 1, f"f{i}") for i in range(101)], "over the file cap"),
        ([("100664", "blob", 1, "a")], "an unknown mode"),
        ([("100644", "blob", 1, f"{i}/b/c/d/e/f/g/h") for i in range(60)], "over the member cap with its folders"),
    ],
)
def test_plan_leaves_every_unusual_tree_to_the_extractor(rows: list, why: str) -> None:
    from kiroclaw_github._checkout import plan_tree

    assert plan_tree(_listing(*rows), LIMITS) is None, why


def test_plan_of_a_plain_tree() -> None:
    from kiroclaw_github._checkout import plan_tree

    plan = plan_tree(
        _listing(("100644", "blob", 3, "a/b.md"), ("100755", "blob", 4, "a/run.sh"), ("120000", "blob", 9, "L")),
        LIMITS,
    )
    assert plan is not None
    assert (plan.files, plan.size_bytes, plan.modes) == (2, 7, {"a/b.md": 0o644, "a/run.sh": 0o755})
    assert plan.links == {"L": "a" * 40}
    no_links = ExtractLimits(max_files=100, max_depth=8, max_path_chars=200, max_bytes=1 << 20, whole_tree=False)
    assert plan_tree(_listing(("120000", "blob", 9, "L")), no_links) is None


def _tree_object(work: Path, entries: list[tuple[str, str, str]]) -> str:
    """``git mktree`` of (mode, object id, name) entries in the repository at ``work``."""
    import subprocess

    text = "".join(f"{mode} {'tree' if mode == '040000' else 'blob'} {oid}\t{name}\n" for mode, oid, name in entries)
    done = subprocess.run(["git", "mktree"], cwd=work, input=text, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_a_tree_that_reuses_one_subtree_is_counted_while_listed(
    git_base: GitBase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a few kilobytes of objects that list 30^3 = 27,000 files: the listing is cut at the member cap
    # (git killed), and the extractor refuses the tree as it always did
    from kiroclaw_github import _checkout, _git

    from kiroclaw import LimitExceededError

    repo = git_base.repo("evil", "bomb")
    repo.write("f.md", "x\n")
    repo.commit()
    blob = git("rev-parse", "HEAD:f.md", cwd=repo.work)
    level = _tree_object(repo.work, [("100644", blob, f"f{i}.md") for i in range(30)])
    for _ in range(2):
        level = _tree_object(repo.work, [("040000", level, f"d{i}") for i in range(30)])
    commit = git("commit-tree", level, "-m", "bomb", cwd=repo.work)
    git("push", "-q", "--force", str(repo.bare), f"{commit}:refs/heads/main", cwd=repo.work)
    planned: list[object] = []
    monkeypatch.setattr(_checkout, "plan_tree", lambda *a: planned.append(a) or None)
    (tmp_path / "w").mkdir()
    setup = _git.GitSetup(git_base.url, "evil", "bomb", None, 30)
    with pytest.raises(LimitExceededError):
        _git.fetch_tree(setup, tmp_path / "w", None, None, LIMITS, threading.Event())
    assert planned == []  # never listed in full


def test_link_targets_too_long_to_record_are_not_read(git_base: GitBase, tmp_path: Path, monkeypatch) -> None:
    # many links to one large blob: recorded as unusable ("/") from their listed size, as the extractor
    # records them, without reading the blob
    repo = git_base.repo("acme", "longlinks")
    repo.skill("skills", "one")
    repo.commit()
    import subprocess

    target = "a/" * 20_000
    big = subprocess.run(
        ["git", "hash-object", "-w", "--stdin"], cwd=repo.work, input=target, capture_output=True, text=True, check=True
    ).stdout.strip()
    head = git("rev-parse", "HEAD^{tree}", cwd=repo.work)
    listing = git("ls-tree", head, cwd=repo.work).splitlines()
    entries = [(line.split()[0], line.split()[2], line.split("\t", 1)[1]) for line in listing]
    entries += [("120000", big, f"link{i}") for i in range(5)]
    commit = git("commit-tree", _tree_object(repo.work, entries), "-m", "links", cwd=repo.work)
    git("push", "-q", "--force", str(repo.bare), f"{commit}:refs/heads/main", cwd=repo.work)

    from kiroclaw_github import _git

    asked: list[list[str]] = []
    real = _git.GitRunner.run_bytes
    monkeypatch.setattr(
        _git.GitRunner, "run_bytes", lambda self, args, **k: asked.append(args) or real(self, args, **k)
    )
    native = _fetch(git_base, "acme", "longlinks", tmp_path / "a", extractor=False, monkeypatch=monkeypatch)
    archive = _fetch(git_base, "acme", "longlinks", tmp_path / "b", extractor=True, monkeypatch=monkeypatch)
    assert sorted(native.links) == sorted(archive.links) == [(f"link{i}", "/") for i in range(5)]
    assert not [args for args in asked if args[:1] == ["cat-file"]]
