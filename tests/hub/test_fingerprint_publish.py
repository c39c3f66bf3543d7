"""ClawHub fingerprint vectors (cross-checked against node's ``localeCompare``) and ``hub publish``."""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import string
import subprocess
from pathlib import Path

import pytest

from kiroclaw.errors import SpecError, ValidationError
from kiroclaw.fingerprint import fingerprint_entries, js_locale_key, tree_fingerprint
from kiroclaw.hub.catalog import Catalog
from kiroclaw.hub.publish import next_version, publish
from tests.conftest import write_skill

NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed: cannot cross-check localeCompare")

TRICKY = [
    "SKILL.md",
    "_meta.json",
    "scripts/run.sh",
    "scripts/Run.sh",
    "README.md",
    "readme.txt",
    "a-b.md",
    "a_b.md",
    "a.b.md",
    "a1.md",
    "a10.md",
    "a2.md",
    "A.md",
    "a.md",
    "B.md",
    "b.md",
    "1.md",
    "~x",
    "$y",
    "x y.md",
    "notes/(draft).md",
    "notes/[x].md",
    "notes/{y}.md",
    "z/@scope.md",
    "c#.md",
    "c+.md",
    "c=.md",
    "c!.md",
    "c?.md",
    "c'.md",
    "c,md",
    "c;md",
    "c:md",
    "c%md",
    "c&md",
    "c^md",
    "c`md",
    "c|md",
    "c<md",
    "c>md",
    "c*md",
    'c"md',
    "c\\md",
    "ZZ/top",
    "zz/Top",
    "0",
    "00",
    "0a",
    "a0",
]


def node_sort(paths: list[str]) -> list[str]:
    script = (
        "let d='';process.stdin.on('data',c=>d+=c).on('end',()=>{"
        "const a=JSON.parse(d);a.sort((x,y)=>x.localeCompare(y));process.stdout.write(JSON.stringify(a))})"
    )
    out = subprocess.run(
        [str(NODE), "-e", script], input=json.dumps(paths), capture_output=True, text=True, timeout=30, check=True
    )
    return list(json.loads(out.stdout))


def node_fingerprint(entries: list[tuple[str, str]]) -> str:
    """``buildSkillFingerprint`` as the clawhub CLI computes it, run in node."""
    script = (
        "const c=require('crypto');let d='';process.stdin.on('data',x=>d+=x).on('end',()=>{"
        "const f=JSON.parse(d).map(([path,sha256])=>({path,sha256}));"
        "const n=f.slice().sort((a,b)=>a.path.localeCompare(b.path)).map(x=>`${x.path}:${x.sha256}`).join('\\n');"
        "process.stdout.write(c.createHash('sha256').update(n).digest('hex'))})"
    )
    out = subprocess.run(
        [str(NODE), "-e", script], input=json.dumps(entries), capture_output=True, text=True, timeout=30, check=True
    )
    return out.stdout.strip()


def test_documented_order_of_meta_scripts_and_skill_md() -> None:
    """Verified against the real CLI (protocol §7 trap 1): not code-point order."""
    paths = ["SKILL.md", "scripts/run.sh", "_meta.json"]
    assert sorted(paths, key=js_locale_key) == ["_meta.json", "scripts/run.sh", "SKILL.md"]
    assert sorted(paths) != sorted(paths, key=js_locale_key)


def test_tree_fingerprint_by_hand(tmp_path: Path) -> None:
    files = {
        "SKILL.md": b"---\nname: x\n---\n",
        "_meta.json": b"{}",
        "scripts/run.sh": b"echo\n",
        ".hidden": b"no",
        "node_modules/x.js": b"no",
        ".clawhub/origin.json": b"no",
    }
    for rel, data in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)
    lines = [f"{p}:{hashlib.sha256(files[p]).hexdigest()}" for p in ("_meta.json", "scripts/run.sh", "SKILL.md")]
    assert tree_fingerprint(tmp_path) == hashlib.sha256("\n".join(lines).encode()).hexdigest()


@needs_node
def test_sort_matches_node_locale_compare_on_tricky_paths() -> None:
    assert sorted(TRICKY, key=js_locale_key) == node_sort(TRICKY)


@needs_node
def test_sort_matches_node_on_random_printable_paths() -> None:
    rng = random.Random(20260)
    alphabet = string.ascii_letters + string.digits + "._-/ @()[]{}!?,;:'\"#$%&*+<=>^`|~\\"
    paths = sorted({"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))) for _ in range(400)})
    assert sorted(paths, key=js_locale_key) == node_sort(paths)


@needs_node
def test_fingerprint_matches_node_build_skill_fingerprint() -> None:
    entries = [(p, hashlib.sha256(p.encode()).hexdigest()) for p in TRICKY]
    assert fingerprint_entries(entries) == node_fingerprint(entries)


# --- publish ----------------------------------------------------------------------------------------


def test_next_version_bumps_patch_of_the_highest() -> None:
    assert next_version([]) == "1.0.0"
    assert next_version(["1.0.0", "1.10.0", "1.9.9", "skill.json", ".tmp"]) == "1.10.1"


def test_publish_copies_what_the_fingerprint_sees_and_keeps_metadata(tmp_path: Path) -> None:
    src = write_skill(tmp_path / "src", "tool-x", "Does X.\nSecond line.")
    (src / ".git").mkdir()
    (src / ".git" / "config").write_text("secret")
    (src / "scripts").mkdir()
    (src / "scripts" / "go.sh").write_text("echo go\n")
    catalog = tmp_path / "cat"
    first = publish(src, catalog, owner="me", changelog="first")
    assert (first.slug, first.version) == ("tool-x", "1.0.0")
    assert sorted(p.relative_to(first.path).as_posix() for p in first.path.rglob("*")) == [
        "SKILL.md",
        "scripts",
        "scripts/go.sh",
    ]
    meta = json.loads((catalog / "tool-x" / "skill.json").read_text())
    assert meta == {"displayName": "tool-x", "summary": "Does X.", "owner": "me", "changelogs": {"1.0.0": "first"}}
    meta["moderation"] = {"isSuspicious": True, "reasonCodes": ["x"]}
    (catalog / "tool-x" / "skill.json").write_text(json.dumps(meta))
    assert publish(src, catalog, version="2.0.0").version == "2.0.0"
    assert json.loads((catalog / "tool-x" / "skill.json").read_text())["moderation"]["isSuspicious"] is True
    skill = Catalog(catalog).skill("tool-x")
    assert [v.version for v in skill.versions] == ["2.0.0", "1.0.0"]
    assert tree_fingerprint(first.path) == Catalog(catalog).fingerprint(skill.version("1.0.0"))


def test_publish_refusals_leave_the_catalog_unchanged(tmp_path: Path) -> None:
    catalog = tmp_path / "cat"
    src = write_skill(tmp_path / "src", "tool-y", "Y.")
    publish(src, catalog)
    before = sorted(p.as_posix() for p in catalog.rglob("*"))
    with pytest.raises(SpecError, match="semantic version"):
        publish(src, catalog, version="v2")
    with pytest.raises(SpecError, match="already"):
        publish(src, catalog, version="1.0.0")
    (src / "link").symlink_to("/etc/passwd")
    with pytest.raises(ValidationError, match="symbolic link"):
        publish(src, catalog)
    (src / "link").unlink()
    (src / "SKILL.md").write_text("no frontmatter\n")
    with pytest.raises(ValidationError):
        publish(src, catalog)
    assert sorted(p.as_posix() for p in catalog.rglob("*")) == before


def test_ascii_fast_path_gives_the_per_character_ranks() -> None:
    from kiroclaw.fingerprint import _ORDER, _RANK

    def by_character(path: str) -> tuple[tuple[int, ...], tuple[int, ...], str]:
        return (
            tuple(_RANK.get(c.lower(), len(_ORDER) + ord(c)) for c in path),
            tuple(int(c.isupper()) for c in path),
            path,
        )

    rng = random.Random(7)
    alphabet = string.printable + "\x00\x7féÉ\u212a€😀"
    paths = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(3000)]
    for path in paths:
        assert js_locale_key(path) == by_character(path)
    assert sorted(paths, key=js_locale_key) == sorted(paths, key=by_character)
