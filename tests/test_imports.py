"""No import circles in the harness package, found two ways.

Statically: every import statement of every module (function-level ones and
TYPE_CHECKING blocks included, since a lazy import is still a circle) is resolved to a
harness module, and the graph must have no cycle. Dynamically: in a fresh interpreter,
each module is imported first into an otherwise empty `harness` (every harness module
dropped from sys.modules before the next), so a circle that only breaks in one order
shows up as an ImportError. Both checks are run on a small package with a circle too,
so that each is shown to fail.
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def package_modules(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of `package` under `root`."""
    out = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imported(module: str, is_package: bool, node: ast.AST, known: dict[str, Path]) -> set[str]:
    """The known modules one import statement imports (the parent packages that Python
    initialises on the way are not counted: they are always complete first)."""
    if isinstance(node, ast.Import):
        return {a.name for a in node.names if a.name in known}
    assert isinstance(node, ast.ImportFrom)
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[:len(base) - (node.level - 1)]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    subs = {f"{source}.{a.name}" for a in node.names} & set(known)
    names_only = len(subs) < len(node.names)  # some names are attributes of `source` itself
    return subs | ({source} if source in known and (names_only or not subs) else set())


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    known = package_modules(root, package)
    graph = {}
    for module, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        deps: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                deps |= _imported(module, path.name == "__init__.py", node, known)
        graph[module] = deps - {module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


_EACH_FIRST = textwrap.dedent("""
    import importlib, json, sys
    package, modules = sys.argv[1], json.loads(sys.argv[2])
    failures = {}

    def fresh_import(names, label):
        for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
            del sys.modules[name]
        try:
            for name in names:
                importlib.import_module(name)
        except BaseException as exc:
            failures[label] = f"{type(exc).__name__}: {exc}"

    for first in modules:
        fresh_import([first], first)
    fresh_import(modules, "all, in order")
    fresh_import(modules[::-1], "all, in reverse order")
    print(json.dumps(failures))
""")


def import_each_first(root: Path, package: str, modules: list[str]) -> dict[str, str]:
    """{module: error} for each module that fails to import when it is the first one of
    `package` imported, in a fresh interpreter; then the whole list, forwards and back."""
    proc = subprocess.run([sys.executable, "-c", _EACH_FIRST, package, json.dumps(modules)],
                          cwd=root, capture_output=True, text=True, timeout=240,
                          env={**_clean_env(), "PYTHONPATH": str(root)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _clean_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def _circular_package(tmp_path: Path) -> Path:
    """A package whose two modules import each other, the second one from a function."""
    pkg = tmp_path / "circ"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .b import B\nA = 1\n")
    (pkg / "b.py").write_text("B = 2\n\ndef late():\n    from .a import A\n    return A\n")
    (pkg / "c.py").write_text("from . import b\nfrom .a import A\n")
    return tmp_path


def test_no_import_cycles_in_harness():
    found = cycles(import_graph(ROOT, "harness"))
    assert not found, f"import circles: {found}"


def test_cycle_finder_sees_a_function_level_circle(tmp_path):
    graph = import_graph(_circular_package(tmp_path), "circ")
    assert graph["circ.c"] == {"circ.a", "circ.b"}
    assert cycles(graph) == [["circ.a", "circ.b"]]


def test_every_module_imports_first_in_a_fresh_interpreter():
    modules = sorted(m for m in package_modules(ROOT, "harness") if not m.endswith("__main__"))
    assert import_each_first(ROOT, "harness", modules) == {}


def test_import_each_first_sees_an_order_dependent_circle(tmp_path):
    root = _circular_package(tmp_path)
    (root / "circ" / "b.py").write_text("from .a import A\nB = 2\n")
    failures = import_each_first(root, "circ", ["circ.a", "circ.b", "circ.c"])
    assert set(failures) == {"circ.a", "circ.b", "circ.c", "all, in order", "all, in reverse order"}, failures
