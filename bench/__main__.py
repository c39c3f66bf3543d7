"""Dispatcher: ``python -m bench <name> [args…]`` runs ``bench/bench_<name>.py`` as a script.

``python -m bench`` without a name lists the benchmarks.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    available = sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    if not argv or argv[0] in {"-h", "--help"}:
        print("usage: python -m bench <name> [args...]\nbenchmarks: " + ", ".join(available))
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in available:
        print(f"unknown benchmark {name!r}; available: {', '.join(available)}", file=sys.stderr)
        return 2
    sys.argv = [str(HERE / f"bench_{name}.py"), *rest]
    runpy.run_path(sys.argv[0], run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
