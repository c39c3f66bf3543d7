"""Every reference in the README and docs/ points at something that exists: relative links, repository
paths in code spans (``tests/…``, ``kiroclaw/…``, ``bench/…``), ``python -m bench NAME`` benchmarks and
``kiroclaw`` subcommands."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kiroclaw.cli import LAZY_COMMANDS

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
_PATH = re.compile(r"`((?:tests|kiroclaw|bench|plugins|docs|\.ci)/[A-Za-z0-9_./-]+?)(?:::[A-Za-z0-9_]+)?`")
_BENCH = re.compile(r"python -m bench ([a-z_]+)")
#: a command as a reader types it: at a line's start, after a backtick or from the venv's bin folder.
_COMMAND = re.compile(r"(?:^[ \t]*|`|/bin/)kiroclaw ([a-z]+)\b", re.M)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_references_resolve(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    missing: list[str] = []
    for target in _LINK.findall(text):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        if not (doc.parent / target).exists():
            missing.append(f"link {target}")
    ignored = [
        line.strip().strip("/") for line in (ROOT / ".gitignore").read_text().splitlines() if line.startswith("/")
    ]
    for path in _PATH.findall(text):
        clean = path.rstrip(".")
        if "*" in clean or "<" in clean or any(ig and clean.startswith(ig) for ig in ignored):
            continue  # a pattern, or something set-up creates (ignored by git)
        if not (ROOT / clean).exists():
            missing.append(f"path {clean}")
    benches = {p.stem.removeprefix("bench_") for p in (ROOT / "bench").glob("bench_*.py")}
    missing += [f"bench {name}" for name in _BENCH.findall(text) if name not in benches]
    commands = set(LAZY_COMMANDS)
    missing += [f"command kiroclaw {name}" for name in _COMMAND.findall(text) if name not in commands]
    assert not missing, f"{doc.name}: " + ", ".join(sorted(set(missing)))


_ANCHOR_LINK = re.compile(r"\]\(([^)#\s]*)#([^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*$", re.M)
_FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def anchors(doc: Path) -> set[str]:
    """The anchors GitHub gives ``doc``'s headings: lowercased, punctuation but ``-`` and ``_`` dropped,
    spaces to ``-``; a repeated heading gets ``-1``, ``-2``… (headings inside code fences are not headings)."""
    seen: dict[str, int] = {}
    result = set()
    for heading in _HEADING.findall(_FENCE.sub("", doc.read_text(encoding="utf-8"))):
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").strip().lower()
        slug = re.sub(r"[^\w\- ]", "", text).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        result.add(slug if count == 0 else f"{slug}-{count}")
    return result


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_anchors_resolve(doc: Path) -> None:
    """``[x](other.md#heading)`` and ``[x](#heading)`` name a heading that exists in that document."""
    broken = []
    for target, anchor in _ANCHOR_LINK.findall(doc.read_text(encoding="utf-8")):
        if target.startswith(("http://", "https://")):
            continue
        linked = doc if not target else doc.parent / target
        if linked.suffix == ".md" and linked.is_file() and anchor not in anchors(linked):
            broken.append(f"{target}#{anchor}")
    assert not broken, f"{doc.name}: anchors without a heading: {', '.join(broken)}"


def test_anchor_rule_follows_github() -> None:
    """The slug rule itself (so a test of anchors that cannot fail is not what guards the docs)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        doc = Path(tmp) / "x.md"
        doc.write_text(
            "# The `kiroclaw` CLI\n## addon info NAME (--user ID | --global)\n## Links\n## Links\n```\n# no\n```\n"
        )
        assert anchors(doc) == {"the-kiroclaw-cli", "addon-info-name---user-id----global", "links", "links-1"}
