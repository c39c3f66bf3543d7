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
