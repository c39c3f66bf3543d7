"""Real skill repositories, installed as a new user would (a script, not a test).

For each snapshot given (a bare git repository of a public skill repository, kept outside this
project; ``owner+name/repo`` or ``owner+name.git`` names it ``owner/name``):

1. a local bare copy is made under a temporary ``GITHUB_BASE_URL=file://…`` base (blobs a snapshot
   lacks, usually large images, are replaced by a one-line placeholder so git can serve the commit);
2. ``git clone --depth 1`` of it: the baseline time, and the checkout the other counts read;
3. **independent count**: every ``SKILL.md`` (a regular file) whose frontmatter parses as YAML with a
   string ``name`` and ``description``, leaving out templates, test fixtures and build copies (any
   path segment in :data:`NOT_COUNTED`), distinct by name (lowercase, runs of other characters than
   ``a-z0-9`` as one ``-``: one agent sees one skill per name);
4. the ``skills`` npm CLI's count for the same checkout (``skills add <dir> --list``), when
   ``--skills-cli`` points at it (it needs Node ≥ 22: ``npm i node@22 skills`` in a scratch folder);
5. ``kiroclaw addon install owner/name --user N`` through the real console script with default
   settings (only ``WORKSPACE_BASE_PATH`` and ``GITHUB_BASE_URL`` set), timed; then
   ``kiroclaw skills --user N --json``: the skills the agent sees from that add-on;
6. ``kiroclaw --version`` in the same run: the CLI's own start-up, subtracted from the install time;
7. with ``--skills-cli``, the ``skills`` CLI's own install of the same checkout, end to end
   (``skills add <dir> --skill '*' --agent kiro-cli --copy -y`` in a fresh project folder and home);
8. with ``--baseline``, another installation's ``kiroclaw`` (e.g. the main branch in its own virtual
   environment) runs steps 5 and 6 in the same loop, in its own workspace: before/after side by side.

kiroclaw runs as a user installed it: with Python's bytecode cache (``PYTHONDONTWRITEBYTECODE`` is
dropped from its environment, so the first run writes the cache and later runs use it).

Timings alternate between the candidates for ``--runs`` runs (a fresh user each run; with a baseline,
which kiroclaw goes first alternates too); the figures are medians with ranges, and ratios are install
(less start-up) / ``git clone --depth 1``. The 1-minute load average is recorded after every run.

Usage: ``python -m bench corpus [--runs 3] [--skills-cli DIR] [--baseline KIROCLAW] [--json OUT] [--env KEY=VALUE]
SNAPSHOT…``
(``--env`` sets a kiroclaw setting for a comparison run, e.g. ``KIROCLAW_DISABLE_PLUGINS=policy``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

GIT_ENV = {
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "HOME": "/nonexistent",
}
PLACEHOLDER = b"(this file is absent from the snapshot)\n"
#: Path segments (lowercase) whose SKILL.md files the independent count leaves out.
NOT_COUNTED = frozenset(
    {
        "template",
        "templates",
        "_template",
        "fixtures",
        "__fixtures__",
        "test-fixtures",
        "testdata",
        "dist",
        "build",
        "node_modules",
        ".git",
    }
)
KIROCLAW = Path(sys.executable).parent / "kiroclaw"
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def git(*args: str, cwd: Path, env: dict[str, str] | None = None, stdin: bytes | None = None) -> bytes:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env={**GIT_ENV, **(env or {})}, input=stdin, capture_output=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args[:3])} failed: {done.stderr.decode(errors='replace')[-500:]}")
    return done.stdout


def repo_name(snapshot: Path) -> tuple[str, str]:
    """``owner/name`` from ``…/owner+name/repo`` or ``…/owner+name.git``."""
    label = snapshot.parent.name if snapshot.name in {"repo", ".git"} else snapshot.name.removesuffix(".git")
    owner, _, name = label.partition("+")
    if not name:
        raise SystemExit(f"cannot tell owner/name from {snapshot} (expected owner+name/repo)")
    return owner, name


def bare_copy(snapshot: Path, dest: Path) -> int:
    """A bare repository at ``dest`` whose ``main`` is the snapshot's HEAD tree; returns how many blobs
    the snapshot lacked (replaced by :data:`PLACEHOLDER`)."""
    work = dest.with_name(dest.name + ".work")
    git("init", "-q", "--bare", str(work), cwd=dest.parent)
    (work / "objects" / "info" / "alternates").write_text(str((snapshot / "objects").resolve()) + "\n")
    entries = [e for e in git("ls-tree", "-r", "-z", "HEAD", cwd=snapshot).split(b"\0") if e]
    shas = b"".join(e.split(b"\t", 1)[0].split(b" ")[2] + b"\n" for e in entries)
    checks = git("cat-file", "--batch-check", cwd=work, stdin=shas).splitlines()
    placeholder = git("hash-object", "-w", "--stdin", cwd=work, stdin=PLACEHOLDER).strip()
    lines: list[bytes] = []
    missing = 0
    for entry, check in zip(entries, checks, strict=True):
        meta, path = entry.split(b"\t", 1)
        mode, _kind, sha = meta.split(b" ")
        if check.endswith(b"missing"):
            sha, missing = placeholder, missing + 1
        lines.append(mode + b" " + sha + b"\t" + path)
    index_env = {"GIT_INDEX_FILE": str(work / "bench-index")}
    git("update-index", "-z", "--index-info", cwd=work, env=index_env, stdin=b"\0".join(lines) + b"\0")
    tree = git("write-tree", cwd=work, env=index_env).strip().decode()
    commit = git("commit-tree", tree, "-m", "snapshot", cwd=work).strip().decode()
    git("update-ref", "refs/heads/main", commit, cwd=work)
    git("symbolic-ref", "HEAD", "refs/heads/main", cwd=work)
    git("clone", "-q", "--bare", "--no-local", str(work), str(dest), cwd=dest.parent)
    shutil.rmtree(work)
    return missing


def _plain(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def independent_count(checkout: Path) -> tuple[int, list[str]]:
    """Distinct lowercase names of counted skills (see the module docstring); returns (count, names)."""
    import yaml

    names: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(checkout):
        dirnames[:] = [d for d in dirnames if d.lower() not in NOT_COUNTED]
        if "SKILL.md" not in filenames:
            continue
        path = Path(dirpath) / "SKILL.md"
        if path.is_symlink() or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace").lstrip("\ufeff")
        if not text.startswith("---"):
            continue
        end = text.find("\n---", 3)
        if end < 0:
            continue
        try:
            data = yaml.safe_load(text[3:end])
        except yaml.YAMLError:
            continue
        if not isinstance(data, dict):
            continue
        name, description = data.get("name"), data.get("description")
        if isinstance(name, str) and name.strip() and isinstance(description, str) and description.strip():
            names.add(_plain(name))
    return len(names), sorted(names)


def _cli_env(cli_dir: Path) -> dict[str, str]:
    node_bin = cli_dir / "node_modules" / ".bin"
    env = {**os.environ, "PATH": f"{node_bin}:{os.environ.get('PATH', '')}", "NO_COLOR": "1", "CI": "1"}
    env["DISABLE_TELEMETRY"] = "1"
    return env


def skills_cli_install(cli_dir: Path, checkout: Path, project: Path) -> float | None:
    """Seconds the ``skills`` CLI takes to install every skill of ``checkout`` for kiro-cli into the new
    folder ``project`` (copies, no prompts; its own home inside ``project``), or ``None`` if it failed."""
    home = project / ".home"
    home.mkdir(parents=True)
    env = {**_cli_env(cli_dir), "HOME": str(home)}
    args = [str(cli_dir / "node_modules" / ".bin" / "skills"), "add", str(checkout), "--skill", "*"]
    args += ["--agent", "kiro-cli", "--copy", "-y"]
    start = time.perf_counter()
    try:
        done = subprocess.run(
            args, env=env, cwd=project, capture_output=True, timeout=300, stdin=subprocess.DEVNULL, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return time.perf_counter() - start if done.returncode == 0 else None


def skills_cli_count(cli_dir: Path, checkout: Path) -> int | None:
    """Skills the ``skills`` npm CLI lists for ``checkout`` (``skills add <dir> --list``), or ``None``."""
    node_bin = cli_dir / "node_modules" / ".bin"
    env = _cli_env(cli_dir)
    try:
        done = subprocess.run(
            [str(node_bin / "skills"), "add", str(checkout), "--list"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = _ANSI.sub("", done.stdout + done.stderr)
    match = re.search(r"Found (\d+) skills?", out)
    if match:
        return int(match.group(1))
    return 0 if re.search(r"No (valid )?skills found", out, re.I) else None


@dataclass
class RepoResult:
    repo: str
    files: int
    missing_blobs: int
    counted: int
    skills_cli: int | None
    visible: int
    installed: bool
    error: str = ""
    left_out: int = 0
    install_seconds: list[float] = field(default_factory=list)
    clone_seconds: list[float] = field(default_factory=list)
    version_seconds: list[float] = field(default_factory=list)
    skills_cli_install_seconds: list[float] = field(default_factory=list)
    missing_names: list[str] = field(default_factory=list)
    baseline_install_seconds: list[float] = field(default_factory=list)
    baseline_version_seconds: list[float] = field(default_factory=list)
    clone_cpu: list[float] = field(default_factory=list)
    install_cpu: list[float] = field(default_factory=list)
    version_cpu: list[float] = field(default_factory=list)
    baseline_install_cpu: list[float] = field(default_factory=list)
    baseline_version_cpu: list[float] = field(default_factory=list)
    load_average: list[float] = field(default_factory=list)


#: CPU seconds (user + system) of the last :func:`timed` command and every process it waited for: less
#: sensitive than wall time to other work on a shared machine.
LAST_CPU = [0.0]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Wall seconds and the finished process; its CPU seconds go to :data:`LAST_CPU`."""
    cpu = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, check=False, timeout=900)
    LAST_CPU[0] = _children_cpu() - cpu
    return time.perf_counter() - start, done


def run_repo(
    snapshot: Path,
    base: Path,
    work: Path,
    runs: int,
    cli_dir: Path | None,
    user_base: int,
    extra_env: dict[str, str] | None = None,
    baseline: Path | None = None,
) -> RepoResult:
    owner, name = repo_name(snapshot)
    (base / owner).mkdir(parents=True, exist_ok=True)
    missing = bare_copy(snapshot, base / owner / f"{name}.git")
    url = f"{base.as_uri()}/{owner}/{name}.git"
    checkout = work / "checkout" / f"{owner}+{name}"
    git("clone", "-q", "--depth", "1", url, str(checkout), cwd=work)
    files = 0
    for _dirpath, dirnames, filenames in os.walk(checkout):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        files += len(filenames)
    counted, names = independent_count(checkout)
    cli = skills_cli_count(cli_dir, checkout) if cli_dir else None

    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIROCLAW_", "MAX_", "WORKSPACE_", "GITHUB_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update({"WORKSPACE_BASE_PATH": str(work / "ws"), "GITHUB_BASE_URL": base.as_uri(), **(extra_env or {})})
    result = RepoResult(f"{owner}/{name}", files, missing, counted, cli, 0, False)
    for run in range(runs):
        clone_dir = work / f"clone-{run}"
        seconds, _ = timed(["git", "clone", "-q", "--depth", "1", url, str(clone_dir)], {**GIT_ENV}, work)
        result.clone_seconds.append(seconds)
        result.clone_cpu.append(LAST_CPU[0])
        shutil.rmtree(clone_dir, ignore_errors=True)
        user = str(user_base + run)
        if baseline is not None and run % 2 == 1:
            _baseline_run(baseline, f"{owner}/{name}", user, env, work, result)
        seconds, _ = timed([str(KIROCLAW), "--version"], env, work)
        result.version_seconds.append(seconds)
        result.version_cpu.append(LAST_CPU[0])
        seconds, done = timed(
            [str(KIROCLAW), "addon", "install", f"{owner}/{name}", "--user", user, "--json", "--yes"], env, work
        )
        result.install_seconds.append(seconds)
        result.install_cpu.append(LAST_CPU[0])
        if baseline is not None and run % 2 == 0:
            _baseline_run(baseline, f"{owner}/{name}", user, env, work, result)
        if cli_dir:
            cli_seconds = skills_cli_install(cli_dir, checkout, work / f"skills-cli-{run}")
            if cli_seconds is not None:
                result.skills_cli_install_seconds.append(cli_seconds)
        if run == 0:
            try:
                outcome = json.loads(done.stdout)["results"][0]
            except (ValueError, KeyError, IndexError):
                outcome = {"ok": False, "message": (done.stderr or done.stdout)[-300:]}
            result.installed = bool(outcome.get("ok"))
            if not result.installed:
                result.error = outcome.get("message", "")[:300]
                break
            result.left_out = len(outcome.get("skipped", []))
            listing = json.loads(timed([str(KIROCLAW), "skills", "--user", user, "--json"], env, work)[1].stdout)
            seen = {s["name"] for s in listing["skills"] if s.get("addon") == f"{owner}/{name}"}
            seen |= {s["name"] for s in listing["skills"] if s.get("addon") and "/" not in s["addon"]}
            result.visible = len(seen)
            result.missing_names = [n for n in names if n not in seen][:20]
        result.load_average.append(os.getloadavg()[0])
    shutil.rmtree(work / "ws", ignore_errors=True)
    return result


def _baseline_run(baseline: Path, spec: str, user: str, env: dict[str, str], work: Path, result: RepoResult) -> None:
    """``--version`` and the install of ``spec`` by the baseline kiroclaw, in a workspace of its own."""
    env = {**env, "WORKSPACE_BASE_PATH": str(work / "ws-baseline")}
    seconds, _ = timed([str(baseline), "--version"], env, work)
    result.baseline_version_seconds.append(seconds)
    result.baseline_version_cpu.append(LAST_CPU[0])
    seconds, done = timed([str(baseline), "addon", "install", spec, "--user", user, "--json", "--yes"], env, work)
    if done.returncode != 0:
        print(f"baseline install of {spec} failed: {(done.stderr or done.stdout)[-300:]}", file=sys.stderr)
    result.baseline_install_seconds.append(seconds)
    result.baseline_install_cpu.append(LAST_CPU[0])


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _range(values: list[float]) -> str:
    return f"[{min(values):.2f}–{max(values):.2f}]" if len(values) > 1 else ""


def report(results: list[RepoResult]) -> str:
    lines = [
        "| repository | files | counted | skills CLI | visible | visible/counted | install s | start-up s "
        "| install less start-up s | clone s | ratio | skills CLI install s | end-to-end ratio |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        startup = median(r.version_seconds)
        install = median(r.install_seconds) - startup
        clone = median(r.clone_seconds)
        share = f"{r.visible / r.counted:.0%}" if r.counted else "–"
        visible = str(r.visible) if r.installed else f"failed: {r.error[:60]}"
        whole = median(r.install_seconds)
        cli_install = median(r.skills_cli_install_seconds)
        lines.append(
            f"| {r.repo} | {r.files} | {r.counted} | {'–' if r.skills_cli is None else r.skills_cli} | {visible} | "
            f"{share} | {whole:.2f} {_range(r.install_seconds)} | {startup:.2f} {_range(r.version_seconds)} | "
            f"{install:.2f} | {clone:.2f} {_range(r.clone_seconds)} | {install / clone:.1f}× | "
            f"{cli_install:.2f} {_range(r.skills_cli_install_seconds)} | {whole / cli_install:.2f}× |"
        )
    if any(r.baseline_install_seconds for r in results):
        lines += [
            "",
            "| repository | baseline install s | baseline start-up s | baseline less start-up s | ratio "
            "| install less start-up s | ratio | end-to-end before → after |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in results:
            if not r.baseline_install_seconds:
                continue
            clone = median(r.clone_seconds)
            before = median(r.baseline_install_seconds) - median(r.baseline_version_seconds)
            after = median(r.install_seconds) - median(r.version_seconds)
            lines.append(
                f"| {r.repo} | {median(r.baseline_install_seconds):.2f} {_range(r.baseline_install_seconds)} | "
                f"{median(r.baseline_version_seconds):.2f} {_range(r.baseline_version_seconds)} | {before:.2f} | "
                f"{before / clone:.1f}× | {after:.2f} | {after / clone:.1f}× | "
                f"{median(r.baseline_install_seconds):.2f} → {median(r.install_seconds):.2f} |"
            )
    lines += ["", "CPU seconds (user + system of the command and what it waited for), medians:"]
    for r in results:
        cpu = (
            f"{r.repo}: git clone {median(r.clone_cpu):.2f}, kiroclaw --version {median(r.version_cpu):.2f}, "
            f"install {median(r.install_cpu):.2f} (less start-up {median(r.install_cpu) - median(r.version_cpu):.2f})"
        )
        if r.baseline_install_cpu:
            cpu += (
                f"; baseline --version {median(r.baseline_version_cpu):.2f}, install "
                f"{median(r.baseline_install_cpu):.2f} (less start-up "
                f"{median(r.baseline_install_cpu) - median(r.baseline_version_cpu):.2f})"
            )
        lines.append(cpu)
    loads = [x for r in results for x in r.load_average]
    if loads:
        lines += [
            "",
            f"1-minute load average after each run: {min(loads):.1f}–{max(loads):.1f} (median {median(loads):.1f})",
        ]
    counted = sum(r.counted for r in results)
    visible = sum(min(r.visible, r.counted) for r in results)
    installed = sum(r.installed for r in results)
    lines.append("")
    lines.append(
        f"{installed}/{len(results)} repositories install; {visible}/{counted} counted skills visible "
        f"({visible / counted:.1%}); {sum(r.visible for r in results)} skills visible in all"
    )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench corpus", description=__doc__.split("\n\n")[0])
    parser.add_argument("snapshots", nargs="+", type=Path, help="bare git snapshots (owner+name/repo)")
    parser.add_argument("--runs", type=int, default=1, help="timed runs per repository (default 1)")
    parser.add_argument("--skills-cli", type=Path, help="folder with node_modules/.bin/skills (and node ≥ 22)")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    parser.add_argument(
        "--baseline", type=Path, help="another installation's kiroclaw script, timed side by side (before/after)"
    )
    parser.add_argument(
        "--env", action="append", default=[], metavar="KEY=VALUE", help="a setting for kiroclaw (default: none)"
    )
    args = parser.parse_args(argv)
    results: list[RepoResult] = []
    with tempfile.TemporaryDirectory(prefix="kiroclaw-corpus-") as tmp:
        base = Path(tmp) / "base"
        base.mkdir()
        for index, snapshot in enumerate(args.snapshots):
            work = Path(tmp) / f"work-{index}"
            work.mkdir()
            extra = dict(item.split("=", 1) for item in args.env)
            result = run_repo(
                snapshot, base, work, args.runs, args.skills_cli, 1000 + 100 * index, extra, args.baseline
            )
            results.append(result)
            print(
                f"{result.repo}: counted {result.counted}, skills CLI {result.skills_cli}, visible {result.visible}"
                + ("" if result.installed else f" (failed: {result.error})"),
                file=sys.stderr,
            )
            shutil.rmtree(work, ignore_errors=True)
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
