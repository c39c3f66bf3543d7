"""Standing rules of the code base, checked on the source: built-in plugins import only ``kiroclaw``, no
import cycle among core modules (``TYPE_CHECKING``-only imports aside), no module over ~600 lines."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRIVATE_IMPORT = re.compile(r"from kiroclaw\.[a-z_.]+ import|import kiroclaw\.[a-z_]+")
MAX_LINES = 600


def _python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def test_builtin_plugins_import_only_the_public_api() -> None:
    """The issue's grep (``from kiroclaw.x import`` / ``import kiroclaw.x``) finds nothing under plugins/,
    ``TYPE_CHECKING`` blocks included."""
    hits = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in _python_files(ROOT / "plugins")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if PRIVATE_IMPORT.search(line)
    ]
    assert hits == []


def test_no_module_is_over_600_lines() -> None:
    too_long = [
        f"{path.relative_to(ROOT)}: {count}"
        for path in _python_files(ROOT / "kiroclaw") + _python_files(ROOT / "plugins")
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    ]
    assert too_long == []


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(path: Path, module: str) -> set[str]:
    """Core modules ``module`` imports at run time (module level or inside functions), resolved from
    relative imports; imports under ``if TYPE_CHECKING:`` are left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - child.level + 1]
                    target = ".".join([*base, child.module] if child.module else base)
                else:
                    target = child.module or ""
                if target.startswith("kiroclaw"):
                    found.add(target)
                    for alias in child.names:
                        found.add(f"{target}.{alias.name}")
            elif isinstance(child, ast.Import):
                found.update(a.name for a in child.names if a.name.startswith("kiroclaw"))
            visit(child)

    visit(tree)
    return found


def test_no_import_cycle_among_core_modules() -> None:
    modules = {_module_name(p): p for p in _python_files(ROOT / "kiroclaw")}
    graph = {
        name: sorted({m for m in _runtime_imports(path, name) if m in modules and m != name and m != "kiroclaw"})
        for name, path in modules.items()
        if name != "kiroclaw"  # the public facade re-exports everything; nothing in the core imports it
    }
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                dfs(nxt)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            dfs(name)
    assert cycles == [], "import cycles: " + "; ".join(" → ".join(c) for c in cycles)


def test_registry_and_fsck_do_not_import_each_other() -> None:
    registry = _runtime_imports(ROOT / "kiroclaw" / "registry.py", "kiroclaw.registry")
    assert not any(m.startswith("kiroclaw.fsck") for m in registry)
