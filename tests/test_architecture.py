"""The import graph of grader/: what may import what (read from the source with ast).

Nodes are grader's packages (grader.checks, grader.diagnosis, grader.worker, grader.report,
grader.intake) and its top-level modules; an edge is an import anywhere in a module,
inside functions too."""

from __future__ import annotations

import ast
from pathlib import Path

GRADER = Path(__file__).parents[1] / "grader"

# docs/ARCHITECTURE.md's layers, top to bottom: a module imports its own layer and those
# below it, never one above. A new module or package must be placed here.
LAYERS = [
    ("entry points", {"grader.__main__", "grader.cli", "grader.plugin", "grader.kit", "grader.template",
                      "grader.calibrate", "grader.intake", "grader.guard"}),
    ("orchestration", {"grader.session", "grader.engine", "grader.record", "grader.causes", "grader.report",
                       "grader.terminal"}),
    ("grading", {"grader.checks", "grader.known_diagnoses", "grader.diagnosis", "grader.diagnoses", "grader.context"}),
    ("worker", {"grader.worker"}),
    ("foundations", {"grader.strategies", "grader.oracle", "grader.losses", "grader.compare", "grader.validate",
                     "grader.kolmogorov", "grader.ahead", "grader.data", "grader.submission", "grader.sources", "grader.course", "grader.results",
                     "grader.outcome", "grader.python2", "grader.ta_config", "grader.spec"}),
]


def node(module: str) -> str | None:
    """grader.<package or top-level module> of a dotted module name (None outside grader)."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "grader" and len(parts) > 1 else None


def imported(path: Path) -> set[str]:
    """Every grader module a file imports (`from grader import x` counts as grader.x)."""
    found = set()
    for statement in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(statement, ast.Import):
            found |= {alias.name for alias in statement.names}
        elif isinstance(statement, ast.ImportFrom) and statement.module and not statement.level:
            found.add(statement.module)
            if statement.module == "grader":
                found |= {f"grader.{alias.name}" for alias in statement.names}
    return {name for name in found if node(name)}


def module_name(path: Path) -> str:
    parts = path.relative_to(GRADER.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for path in sorted(GRADER.rglob("*.py")):
        source = node(module_name(path))
        if source is None:
            continue
        edges.setdefault(source, set()).update(n for n in map(node, imported(path)) if n not in (source, None))
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, ()):
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
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(found)


def test_the_checks_do_not_know_the_diagnoses():
    """Diagnoses register by check id (grader/diagnoses.py); the student kit ships none."""
    edges = graph()
    assert not edges["grader.checks"] & {"grader.diagnosis", "grader.known_diagnoses"}
    assert not edges["grader.diagnosis"] & {"grader.checks"}
    assert not edges["grader.context"] & {"grader.checks", "grader.diagnosis", "grader.diagnoses"}
    assert not edges["grader.diagnoses"] & {"grader.checks", "grader.diagnosis"}


def test_no_cycles_among_the_packages_and_modules():
    assert cycles(graph()) == []


def layer_of(module: str) -> int:
    return next(i for i, (_, members) in enumerate(LAYERS) if module in members)


def test_every_module_has_its_layer_once():
    placed = [m for _, members in LAYERS for m in members]
    assert len(placed) == len(set(placed))
    assert set(graph()) <= set(placed), "place the new module in LAYERS and docs/ARCHITECTURE.md"


def upward(edges: dict[str, set[str]]) -> list[tuple[str, str, str, str]]:
    """Each import of a higher layer: (importer, its layer, imported, its layer)."""
    return sorted((a, LAYERS[layer_of(a)][0], b, LAYERS[layer_of(b)][0])
                  for a, targets in edges.items() for b in targets if layer_of(b) < layer_of(a))


def test_imports_go_down_the_layers_only():
    assert upward(graph()) == []


def test_the_layer_rule_finds_an_upward_import():
    edges = {"grader.spec": {"grader.checks", "grader.sources"}, "grader.cli": {"grader.spec"}}
    assert upward(edges) == [("grader.spec", "foundations", "grader.checks", "grading")]


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
