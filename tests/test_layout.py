"""The package's layout rules: no import cycle between its modules, and no module of the suite's
machinery over about 300 lines (excepted: the claim registry, a table of data, and the engine
adapters in backends/, whose length follows their engine)."""

import ast
from pathlib import Path

import autograd_conformance

PACKAGE = Path(autograd_conformance.__file__).resolve().parent
LONG_DATA_MODULES = {"autograd_conformance.claims"}  # one entry per claim: a table, not logic
MAX_LINES = 320


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that path imports, anywhere in it (lazy imports included)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
        else:
            continue
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name.startswith("autograd_conformance."):
                out.add(name)
    return out


def test_no_import_cycle():
    modules = _modules()
    graph = {name: _imports(path, modules) - {name} for name, path in modules.items()}
    for name in graph:  # a subpackage's __init__ is imported with each of its modules
        parent = name.rpartition(".")[0]
        if parent in graph and parent != "autograd_conformance":
            graph[name].add(parent)
    state: dict[str, int] = {}

    def visit(node, path):
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_no_module_over_about_300_lines():
    long = {name: n for name, path in _modules().items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
            and name not in LONG_DATA_MODULES and not name.startswith("autograd_conformance.backends.")}
    assert not long, f"modules to split by concern: {long}"
