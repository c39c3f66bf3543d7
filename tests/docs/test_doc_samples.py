"""Every sample session in the README and docs/ is run and its output compared with what the code prints.

A sample is a fenced ``console`` block (the mechanism is described in ``docs/CONTRIBUTING.md``)::

    <!-- before: kiroclaw addon install ./tests/fixtures/demo-package --user 42 -->
    ```console
    $ kiroclaw addon list --user 42
    demo-package (plugin, 4 skills, 3 recipes, from local)
    ```

* each ``$ [NAME=value …] kiroclaw …`` line is run (the installed console script, as a subprocess) in a fresh
  folder holding a copy of ``tests/fixtures/demo-package``, with its own empty workspace; the lines below
  it, up to the next ``$``, are its expected output (stdout and stderr, in order);
* ``<!-- before: COMMAND -->`` lines right above the fence run first (they must succeed; output unchecked);
* ``<!-- lines match: REGEX -->`` (for output that depends on the machine, such as ``kiroclaw doctor``'s):
  every documented and every printed line must fully match REGEX instead of each other;
* a ``...`` line stands for any number of lines; a line ending in ``…`` matches any line it begins;
* volatile values are normalised on both sides: hex digests, ISO times, the temporary folder, and
  ``127.0.0.1:PORT`` (a sample that names ``http://127.0.0.1:8787`` gets a real ``kiroclaw hub serve``
  of ``./catalog`` on a free port in its place).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import KIROCLAW_BIN

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
DOC_PORT = "127.0.0.1:8787"
_BLOCK = re.compile(r"((?:^<!-- (?:before|lines match): .*? -->\n)*)^```console\n(.*?)^```", re.M | re.S)
_BEFORE = re.compile(r"^<!-- before: (.*?) -->$", re.M)
_LINES = re.compile(r"^<!-- lines match: (.*?) -->$", re.M)
_ENV = re.compile(r"^[A-Z_][A-Z0-9_]*=")


@dataclass
class Sample:
    doc: str
    line: int
    before: list[str]
    lines_match: str | None = None  # a grammar every output line follows, for machine-specific output
    steps: list[tuple[str, list[str]]] = field(default_factory=list)  # (command, expected lines)

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.line}"


def samples() -> list[Sample]:
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for match in _BLOCK.finditer(text):
            grammar = _LINES.findall(match.group(1))
            sample = Sample(
                doc.name,
                text.count("\n", 0, match.start(2)),
                _BEFORE.findall(match.group(1)),
                grammar[0] if grammar else None,
            )
            for line in match.group(2).splitlines():
                if line.startswith("$ "):
                    sample.steps.append((line[2:], []))
                else:
                    assert sample.steps, f"{sample.id}: output before the first $ line"
                    sample.steps[-1][1].append(line)
            found.append(sample)
    return found


SAMPLES = samples()


def normalise(text: str, tmp: Path) -> str:
    text = text.replace(str(tmp.resolve()), "<tmp>").replace(str(tmp), "<tmp>")
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(\+00:00|Z)?", "<time>", text)
    text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:<port>", text)
    return re.sub(r"\b[0-9a-f]{12,64}\b", "<hex>", text)


def matches(expected: list[str], actual: list[str]) -> bool:
    """``expected`` (with ``...`` lines and trailing-``…`` prefixes) against ``actual``, line by line."""
    if not expected:
        return not actual
    head, rest = expected[0], expected[1:]
    if head.strip() == "...":
        return any(matches(rest, actual[i:]) for i in range(len(actual) + 1))
    if not actual:
        return False
    line = actual[0].rstrip()
    ok = line.startswith(head[:-1]) if head.endswith("…") else line == head.rstrip()
    return ok and matches(rest, actual[1:])


def _run(command: str, cwd: Path, env: dict[str, str], hub_url: str | None) -> subprocess.CompletedProcess[str]:
    words = shlex.split(command.replace(f"http://{DOC_PORT}", hub_url or f"http://{DOC_PORT}"))
    extra = {}
    while words and _ENV.match(words[0]):
        name, _, value = words.pop(0).partition("=")
        extra[name] = value
    assert words and words[0] == "kiroclaw", f"a sample runs kiroclaw only: {command}"
    return subprocess.run(
        [str(KIROCLAW_BIN), *words[1:]],
        cwd=cwd,
        env={**env, **extra},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        timeout=120,
    )


def _serve(cwd: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [str(KIROCLAW_BIN), "hub", "serve", "./catalog", "--port", "0"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    found = re.search(r"http://127\.0\.0\.1:\d+", line)
    if not found:
        proc.terminate()
        proc.wait(timeout=10)
        raise AssertionError(f"kiroclaw hub serve did not start: {line!r}")
    return proc, found.group(0)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.id)
def test_sample_output_matches_the_code(sample: Sample, tmp_path: Path) -> None:
    cwd = tmp_path / "here"
    shutil.copytree(ROOT / "tests" / "fixtures" / "demo-package", cwd / "tests" / "fixtures" / "demo-package")
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("KIROCLAW_", "KIROHUB_", "MAX_ADDON", "WORKSPACE_"))
    }
    env.update(WORKSPACE_BASE_PATH=str(tmp_path / "workspaces"), PYTHONDONTWRITEBYTECODE="1", NO_COLOR="1")
    env["KIROHUB_REGISTRY_URL"] = (cwd / "catalog").as_uri()  # never the public registry: loopback only
    env.pop("BOT_TOKEN", None)
    for command in sample.before:
        done = _run(command, cwd, env, None)
        assert done.returncode == 0, f"{sample.id}: before: {command}\n{done.stdout}"
    server = None
    if any(DOC_PORT in command for command, _ in sample.steps):
        server, url = _serve(cwd, env)
    try:
        for command, expected in sample.steps:
            done = _run(command, cwd, env, url if server else None)
            actual = normalise(done.stdout, tmp_path).splitlines()
            want = [normalise(line, tmp_path) for line in expected]
            if sample.lines_match is not None:  # output of a particular machine: both follow the grammar
                grammar = re.compile(sample.lines_match)
                odd = [line for line in want + actual if not grammar.fullmatch(line)]
                assert actual and not odd, f"{sample.id}: $ {command}: lines off the grammar: {odd or actual}"
                continue
            assert matches(want, actual), (
                f"{sample.id}: $ {command}\n--- documented\n" + "\n".join(want) + "\n--- printed\n" + "\n".join(actual)
            )
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)


def test_samples_are_found() -> None:
    """The collector sees the CLI reference's samples (a broken fence pattern would silently test nothing)."""
    ids = [s.doc for s in SAMPLES]
    assert ids.count("cli.md") >= 9


def test_matching_rules() -> None:
    assert matches(["a", "...", "z"], ["a", "b", "c", "z"])
    assert matches(["a", "..."], ["a"])
    assert not matches(["a", "z"], ["a", "b", "z"])
    assert matches(["Review a diff…"], ["Review a diff or a set of files"])
    assert not matches(["Review a diff…"], ["Review a patch"])
    assert normalise("up to date (e34aff031da2) at 2026-11-30T19:22:00.712913+00:00", Path("/nowhere")) == (
        "up to date (<hex>) at <time>"
    )


def _documented_keys(heading: str) -> set[str]:
    """The quoted names in the ``--json`` → … paragraph under ``heading`` in docs/cli.md."""
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    section = text.split(f"\n## {heading}", 1)[1].split("\n## ", 1)[0]
    shape = section.split("`--json` →", 1)[1].split("\n\n", 1)[0]
    return set(re.findall(r"\"([a-z_0-9]+)\"(?!\w)", shape)) - {"suspicious", "blocked"}


def _keys(data: object) -> set[str]:
    """Every key of ``data``'s objects, down through lists (the values of ``origin``/``moderation`` aside)."""
    if isinstance(data, list):
        return set().union(*(_keys(item) for item in data)) if data else set()
    if not isinstance(data, dict):
        return set()
    keys = set(data)
    for key, value in data.items():
        if key not in ("origin", "moderation", "inspected"):
            keys |= _keys(value)
    return keys


def test_documented_json_shapes_match_the_code(tmp_path: Path) -> None:
    """The key lists docs/cli.md gives for ``--json`` are exactly the keys the commands print."""
    import json

    cwd = tmp_path / "here"
    shutil.copytree(ROOT / "tests" / "fixtures" / "demo-package", cwd / "tests" / "fixtures" / "demo-package")
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("KIROCLAW_", "KIROHUB_", "MAX_ADDON", "WORKSPACE_"))
    }
    env.update(
        WORKSPACE_BASE_PATH=str(tmp_path / "workspaces"),
        KIROHUB_REGISTRY_URL=(cwd / "catalog").as_uri(),
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.pop("BOT_TOKEN", None)  # doctor: no Bot API request leaves the machine
    for command in (
        "kiroclaw addon install ./tests/fixtures/demo-package --user 42",
        "kiroclaw hub publish ./tests/fixtures/demo-package/skills/sql-explain --catalog ./catalog --owner demo",
    ):
        assert _run(command, cwd, env, None).returncode == 0

    def printed(command: str, ok: tuple[int, ...] = (0,)) -> set[str]:
        done = _run(command + " --json", cwd, env, None)
        assert done.returncode in ok, done.stdout
        return _keys(json.loads(done.stdout))

    cases = {
        "addon list": printed("kiroclaw addon list --user 42"),
        "addon search": printed("kiroclaw addon search sql"),
        "addon info": printed("kiroclaw addon info sql-explain --user 42") | {"installed", "addon"},
        "skills": printed("kiroclaw skills --user 42") | {"shadowed_by", "shadowed_by_layer"},  # none shadowed here
        "plugins": printed("kiroclaw plugins"),
        "addon update": printed("kiroclaw addon update --user 42"),
        "doctor": printed("kiroclaw doctor", ok=(0, 1)),  # 1: no BOT_TOKEN here
    }
    for heading, keys in cases.items():
        documented = _documented_keys(heading)
        assert documented == keys, f"{heading}: documented only {documented - keys}, printed only {keys - documented}"


def test_hub_skill_json_sample_is_what_the_catalog_reads() -> None:
    """docs/hub.md's ``skill.json`` example validates, and names only keys the catalog knows."""
    import json

    from kiroclaw.hub.catalog import SkillJson

    text = (ROOT / "docs" / "hub.md").read_text(encoding="utf-8")
    sample = json.loads(text.split("```json\n", 1)[1].split("```", 1)[0])
    assert set(sample) <= set(SkillJson.model_fields), set(sample) - set(SkillJson.model_fields)
    meta = SkillJson.model_validate(sample)
    assert meta.security and meta.stats and meta.moderation is not None
