"""Benchmark: the install policy on malicious samples and on the real skills of public repositories.

Engines, side by side:

- ``default``: the built-in policy (:mod:`kiroclaw_policy`, YARA-X + context verdicts);
- ``baseline``: today's rules, loaded from another checkout's ``plugins/kiroclaw_policy/rules.py``
  (``--baseline``; its verdict is each rule's default action);
- ``cisco``: Cisco AI Defense's ``cisco-ai-skill-scanner`` with its core analyzers, severities mapped by
  family (:mod:`kiroclaw_cisco_scan.mapping`), run in the interpreter given by ``--cisco-python`` (a
  virtual environment with ``kiroclaw[cisco-scan]``'s scanner; it is large and slow to start);
- ``default+cisco``: the worse verdict of the two.

Malicious samples come from :mod:`bench.policy_samples` (written to a temporary folder). Real skills are
every folder holding a ``SKILL.md`` under the paths given as arguments (checkouts of public skill
repositories, kept outside this repository). Reported: recall (warn or block) and block rate on the
samples, warn and block rates on the real skills, time per skill (median, p90, max). Not a test::

    .venv/bin/python -m bench policy [--baseline OLD/rules.py] [--cisco-python VENV/bin/python] REPO_DIR...
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]

from kiroclaw_policy import scan_tree  # noqa: E402

from bench.policy_samples import SAMPLES  # noqa: E402

RANK = {None: 0, "note": 1, "warn": 2, "block": 3}
Verdict = str | None
_CISCO_HELPER = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from mapping import verdict_for
from skill_scanner.core.analyzer_factory import build_core_analyzers
from skill_scanner.core.scan_policy import ScanPolicy
from skill_scanner.core.scanner import SkillScanner
start = time.perf_counter()
policy = ScanPolicy.default()
scanner = SkillScanner(analyzers=build_core_analyzers(policy), policy=policy)
print(json.dumps({"startup": time.perf_counter() - start}), flush=True)
for line in sys.stdin:
    path = line.strip()
    start = time.perf_counter()
    worst, rules = None, []
    try:
        for f in scanner.scan_skill(path, lenient=True).findings:
            v = verdict_for(f.category.value, f.severity.value)
            if v:
                rules.append(f.rule_id)
                worst = "block" if v == "block" or worst == "block" else "warn"
    except Exception as exc:
        worst, rules = "warn", ["error:" + type(exc).__name__]
    print(json.dumps({"path": path, "verdict": worst, "rules": rules[:5], "seconds": time.perf_counter() - start}),
          flush=True)
"""


def worst(verdicts: list[Verdict]) -> Verdict:
    return max(verdicts, key=lambda v: RANK[v], default=None)


def default_engine(path: Path) -> tuple[Verdict, list[str]]:
    findings = scan_tree(path)
    return worst([f.verdict for f in findings]), sorted(
        {f"{f.rule}:{f.verdict}" for f in findings if f.verdict != "note"}
    )


def baseline_engine(rules_py: Path) -> Callable[[Path], tuple[Verdict, list[str]]]:
    spec = importlib.util.spec_from_file_location("baseline_rules", rules_py)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["baseline_rules"] = module
    spec.loader.exec_module(module)

    def run(path: Path) -> tuple[Verdict, list[str]]:
        findings = module.scan_tree(path)
        verdicts = [module.RULES[f.rule].default for f in findings]
        return worst([v for v in verdicts if v != "off"]), sorted({f.rule for f in findings})

    return run


def cisco_engine(python: str, paths: list[Path]) -> tuple[dict[str, tuple[Verdict, list[str], float]], float]:
    """Scan ``paths`` with the Cisco scanner in ``python``: {path: (verdict, rules, seconds)}, start-up s."""
    proc = subprocess.Popen(
        [python, "-c", _CISCO_HELPER, str(ROOT / "plugins" / "kiroclaw_cisco_scan")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    startup = json.loads(proc.stdout.readline())["startup"]
    results: dict[str, tuple[Verdict, list[str], float]] = {}
    for path in paths:
        proc.stdin.write(f"{path}\n")
        proc.stdin.flush()
        row = json.loads(proc.stdout.readline())
        results[row["path"]] = (row["verdict"], row["rules"], row["seconds"])
    proc.stdin.close()
    proc.wait(timeout=60)
    return results, startup


def write_samples(base: Path) -> dict[str, Path]:
    folders = {}
    for sample in SAMPLES:
        folder = base / sample.id
        for rel, content in sample.files.items():
            target = folder / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content, encoding="utf-8")
        folders[sample.id] = folder
    return folders


def real_skills(roots: list[Path]) -> list[tuple[str, Path]]:
    found = []
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d not in {".git", "node_modules"})
            if "SKILL.md" in filenames:
                found.append((root.name, Path(dirpath)))
    return found


def timed(engine: Callable[[Path], tuple[Verdict, list[str]]], path: Path) -> tuple[Verdict, list[str], float]:
    start = time.perf_counter()
    verdict, rules = engine(path)
    return verdict, rules, time.perf_counter() - start


def pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.1f} %" if whole else "   n/a"


def times(values: list[float]) -> str:
    if not values:
        return "n/a"
    ordered = sorted(values)
    p90 = ordered[int(0.9 * (len(ordered) - 1))]
    return f"{1000 * statistics.median(ordered):.1f} / {1000 * p90:.1f} / {1000 * ordered[-1]:.0f} ms"


def github_install_timing(repo: str, base: str, rounds: int) -> None:
    """Median wall time of ``kiroclaw addon install ORG/REPO`` less the CLI's start-up (``kiroclaw addon
    list`` on an empty workspace), against ``git clone --depth 1`` of the same repository, interleaved."""
    kiroclaw = str(Path(sys.executable).parent / "kiroclaw")
    clone, install, startup = [], [], []
    for index in range(rounds):
        with tempfile.TemporaryDirectory(prefix="kiroclaw-gh-bench-") as tmp:
            env = {**os.environ, "WORKSPACE_BASE_PATH": f"{tmp}/ws", "GITHUB_BASE_URL": base}
            for label, argv, into in (
                ("clone", ["git", "clone", "-q", "--depth", "1", f"{base}/{repo}.git", f"{tmp}/clone"], clone),
                ("startup", [kiroclaw, "addon", "list", "--user", "1"], startup),
                ("install", [kiroclaw, "addon", "install", repo, "--user", "1", "--yes"], install),
            ):
                start = time.perf_counter()
                done = subprocess.run(argv, env=env, cwd=tmp, capture_output=True, text=True, check=False)
                into.append(time.perf_counter() - start)
                if done.returncode != 0 and index == 0:
                    print(f"{label} failed: {done.stderr.strip()[:300]}")
    net = [i - s for i, s in zip(install, startup, strict=True)]
    clone_s, net_s = statistics.median(clone), statistics.median(net)
    print(f"GitHub install of {repo} ({rounds} rounds, median [min–max]):")
    print(f"  git clone --depth 1: {clone_s:.2f} s [{min(clone):.2f}–{max(clone):.2f}]")
    print(f"  kiroclaw addon install less start-up: {net_s:.2f} s [{min(net):.2f}–{max(net):.2f}]"
          f" (start-up {statistics.median(startup):.2f} s) → ratio {net_s / clone_s:.2f}")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("repos", nargs="*", type=Path, help="folders holding real skill repositories")
    parser.add_argument("--baseline", type=Path, help="today's plugins/kiroclaw_policy/rules.py (another checkout)")
    parser.add_argument("--cisco-python", help="interpreter of a venv with cisco-ai-skill-scanner")
    parser.add_argument(
        "--cisco-real",
        type=int,
        default=400,
        help="real skills given to the Cisco scanner (every n-th, for time; 0 = all)",
    )
    parser.add_argument("--show", action="store_true", help="list every miss and every flagged real skill")
    parser.add_argument("--json", type=Path, help="write the per-item results here")
    parser.add_argument("--github", metavar="ORG/REPO", help="also time a GitHub install of ORG/REPO against "
                        "`git clone --depth 1` of it (needs --github-base)")  # fmt: skip
    parser.add_argument("--github-base", help="GITHUB_BASE_URL serving ORG/REPO.git (e.g. a file:// folder of mirrors)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the GitHub install timing")
    args = parser.parse_args()

    engines: dict[str, Callable[[Path], tuple[Verdict, list[str]]]] = {"default": default_engine}
    if args.baseline:
        engines["baseline"] = baseline_engine(args.baseline)
    skills = real_skills(args.repos)
    rows: dict[str, dict[str, dict[str, tuple[Verdict, list[str], float]]]] = defaultdict(dict)
    with tempfile.TemporaryDirectory(prefix="kiroclaw-policy-bench-") as tmp:
        samples = write_samples(Path(tmp))
        for name, engine in engines.items():
            engine(next(iter(samples.values())))  # warm-up (compile the rules once)
            for sample_id, folder in samples.items():
                rows[name]["mal:" + sample_id] = timed(engine, folder)
            for _repo, folder in skills:
                rows[name]["real:" + str(folder)] = timed(engine, folder)
        cisco_startup = None
        if args.cisco_python:
            step = max(1, len(skills) // args.cisco_real) if args.cisco_real else 1
            chosen = [folder for _repo, folder in skills[::step]]
            results, cisco_startup = cisco_engine(args.cisco_python, [*samples.values(), *chosen])
            for sample_id, folder in samples.items():
                rows["cisco"]["mal:" + sample_id] = results[str(folder)]
            for folder in chosen:
                rows["cisco"]["real:" + str(folder)] = results[str(folder)]
            union = {}
            for key, (verdict, rules, seconds) in rows["cisco"].items():
                own = rows["default"][key]
                union[key] = (worst([verdict, own[0]]), rules + own[1], seconds + own[2])
            rows["default+cisco"] = union

    print(
        f"malicious samples: {len(SAMPLES)} ({len({s.family for s in SAMPLES})} families); real skills: "
        f"{len(skills)} from {len(args.repos)} repositories"
    )
    header = (
        f"{'engine':14} {'recall':>8} {'blocked':>8} {'real n':>7} {'real warn':>10} {'real block':>11}"
        "  time/skill (median / p90 / max)"
    )
    print(header)
    print("-" * len(header))
    for name, table in rows.items():
        mal = [v for k, v in table.items() if k.startswith("mal:")]
        real = [v for k, v in table.items() if k.startswith("real:")]
        caught = sum(RANK[v[0]] >= 2 for v in mal)
        blocked = sum(v[0] == "block" for v in mal)
        warned = sum(v[0] == "warn" for v in real)
        real_blocked = sum(v[0] == "block" for v in real)
        print(
            f"{name:14} {pct(caught, len(mal)):>8} {pct(blocked, len(mal)):>8} {len(real):>7} "
            f"{pct(warned, len(real)):>10} {pct(real_blocked, len(real)):>11}  {times([v[2] for v in real])}"
        )
    if cisco_startup is not None:
        print(f"cisco scanner start-up: {cisco_startup:.1f} s (once per process)")
    by_family: dict[str, Counter[str]] = defaultdict(Counter)
    for sample in SAMPLES:
        verdict = rows["default"]["mal:" + sample.id][0]
        by_family[sample.family]["caught" if RANK[verdict] >= 2 else "missed"] += 1
    print(
        "default recall by family: "
        + ", ".join(f"{fam} {c['caught']}/{c['caught'] + c['missed']}" for fam, c in sorted(by_family.items()))
    )
    for name, table in rows.items():
        misses = [k[4:] for k, v in table.items() if k.startswith("mal:") and RANK[v[0]] < 2]
        print(f"{name} misses ({len(misses)}): {', '.join(misses)}")
        if args.show:
            for key, (verdict, rules, _s) in table.items():
                if key.startswith("real:") and RANK[verdict] >= 2:
                    print(f"  {name} flags {key[5:]}: {verdict} {' '.join(rules)[:160]}")
    if args.github and args.github_base:
        github_install_timing(args.github, args.github_base, args.rounds)
    if args.json:
        args.json.write_text(json.dumps({n: {k: list(v) for k, v in t.items()} for n, t in rows.items()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
