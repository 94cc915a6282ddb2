"""The house rules of docs/architecture.md, checked on the source: no import circles (type-only and
function-level imports counted), and the size limits of modules, classes and protocols.

Run alone as a script (`python tests/test_architecture.py`) it prints the circles it finds."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("server", "processing", "client")
MAX_MODULE_LINES = 450
MAX_CLASS_METHODS = 25
MAX_PROTOCOL_METHODS = 12


def modules() -> dict[str, Path]:
    """Every module of the three packages, by its dotted name under `vidpulse`."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _imported(module: str, path: Path, known: dict[str, Path]) -> Iterator[str]:
    """The project modules `module` imports anywhere in its file, `if TYPE_CHECKING:` blocks included."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            targets = [f"{source}.{alias.name}" for alias in node.names] + [source]
        else:
            continue
        for target in targets:
            name = target.removeprefix("vidpulse.")
            if name in known and name != module:
                yield name
                break  # `from pkg import module` is an edge to the module, not also to pkg


def import_graph() -> dict[str, set[str]]:
    known = modules()
    return {name: set(_imported(name, path, known)) for name, path in known.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _is_protocol(node: ast.ClassDef) -> bool:
    return any(ast.unparse(base).endswith("Protocol") for base in node.bases)


def oversized() -> list[str]:
    problems = []
    for name, path in modules().items():
        source = path.read_text()
        lines = source.count("\n")
        if lines > MAX_MODULE_LINES:
            problems.append(f"{name}: {lines} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ClassDef):
                methods = sum(isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) for item in node.body)
                limit = MAX_PROTOCOL_METHODS if _is_protocol(node) else MAX_CLASS_METHODS
                if methods > limit:
                    problems.append(f"{name}.{node.name}: {methods} methods")
    return problems


def test_the_graph_sees_the_imports_it_must() -> None:
    graph = import_graph()
    # A relative import, a `from package import module` and a type-only import.
    assert "server.models" in graph["server.schemas"]
    assert "server.jobs.child" in graph["server.jobs.pool"]
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circles() -> None:
    assert circles(import_graph()) == []


def test_modules_classes_and_protocols_stay_small() -> None:
    assert oversized() == []


if __name__ == "__main__":
    found = circles(import_graph())
    for circle in found:
        print(" -> ".join(circle))
    for problem in oversized():
        print(problem)
    sys.exit(1 if found else 0)
