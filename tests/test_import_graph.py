"""The core's modules import one way: no module reaches, directly or through others, back to
itself. Every import counts, module-level or inside a function, except those only a type
checker runs (`if TYPE_CHECKING:`); default plugins are loaded by dotted name, not imported."""

import ast
from pathlib import Path

import gyrosi_core

PACKAGE = Path(gyrosi_core.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skipped


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The gyrosi_core modules `path` imports (a package import counts as its __init__)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_checking_nodes(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        for target in targets:
            while target and target not in modules:  # `from x import name` -> x
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(paths)
    return {name: imports_of(path, modules) for name, path in paths.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_core_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle or [])


def test_the_checker_sees_a_cycle_through_a_function_level_import():
    graph = import_graph()
    assert "gyrosi_core.frontend" in graph["gyrosi_core.default_plugins.run"]  # in a function
    graph["gyrosi_core.plugins"].add("gyrosi_core.default_plugins.run")  # the old eager import
    assert find_cycle(graph) is not None


def test_the_registration_specs_and_options_import_nothing_of_the_cli():
    graph = import_graph()
    assert graph["gyrosi_core.specs"] == set()
    assert graph["gyrosi_core.turn"].isdisjoint({"gyrosi_core.plugins", "gyrosi_core.cli"})
    assert "gyrosi_core.frontend" not in graph["gyrosi_core.serve.app"]
