"""The package layout's rules, checked on the source (docs/architecture.md):

* dependencies flow one way: entry points (cli, worker) → the HTTP surface (web) → stages
  (processor, sink, query) → edges (store, kafka) → core; never up, never sideways;
* no import cycle between modules, counting imports inside functions too (so a lazy import
  cannot hide one), and lazy imports of our own modules only where this file allows them;
* the pure parts import no Kafka, ClickHouse or HTTP library.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "actionlog"

RANK = {
    "core": 0,
    "store": 1,
    "kafka": 1,
    "processor": 2,
    "sink": 2,
    "query": 2,
    "access": 2,
    "web": 3,
    "worker": 4,
    "cli": 5,
}
#: (importing module, imported module) pairs allowed inside a function, each with its reason.
LAZY = {
    ("actionlog.cli.pipeline", "actionlog.worker"): "Faust costs ~1 s to import; only the worker needs it",
}
IO_LIBRARIES = ("aiokafka", "faust", "clickhouse_connect", "chdb", "aiohttp")
PURE = (
    "actionlog.core",
    "actionlog.processor.normalize",
    "actionlog.processor.timestamps",
    "actionlog.processor.step",
    "actionlog.sink.batch",
    "actionlog.sink.blocks",
    "actionlog.sink.health",
    "actionlog.store.codes",
    "actionlog.query.filters",
    "actionlog.query.sql",
    "actionlog.query.narrow",
    "actionlog.query.framing",
    "actionlog.query.export.plan",
    "actionlog.store.schema",
    "actionlog.store.sqltext",
    "actionlog.store.rpc",
)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _resolve(name: str) -> str:
    """The module an ``import``/``from`` names: a submodule if it is one, else its package."""
    known = modules()
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name


@cache
def imports(module: str) -> tuple[tuple[str, bool, int], ...]:
    """(imported name, inside a function, line) of every import in ``module``."""
    tree = ast.parse(modules()[module].read_text(encoding="utf-8"))
    found: list[tuple[str, bool, int]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if isinstance(child, ast.Import):
                found.extend((alias.name, inner, child.lineno) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                for alias in child.names:
                    full = f"{child.module}.{alias.name}"
                    found.append((full if _resolve(full) == full else child.module, inner, child.lineno))
            visit(child, inner)

    visit(tree, False)
    return tuple(found)


def own_edges() -> list[tuple[str, str, bool, int]]:
    edges = []
    for module in modules():
        for name, lazy, line in imports(module):
            if name == "actionlog" or name.startswith("actionlog."):
                target = _resolve(name)
                if target and target != module:
                    edges.append((module, target, lazy, line))
    return edges


def layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in RANK else None


def test_every_package_has_a_layer() -> None:
    packages = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages == set(RANK)


def test_dependencies_flow_one_way() -> None:
    wrong = []
    for source, target, _, line in own_edges():
        a, b = layer(source), layer(target)
        if a is None or b is None or a == b:
            continue
        if not RANK[b] < RANK[a]:
            wrong.append(f"{source}:{line} imports {target} ({a} may not import {b})")
    assert not wrong, "\n".join(wrong)


def test_no_lazy_imports_of_our_own_modules_but_the_allowed_ones() -> None:
    lazy = {(s, t) for s, t, is_lazy, _ in own_edges() if is_lazy}
    assert lazy <= set(LAZY), sorted(lazy - set(LAZY))
    assert set(LAZY) <= lazy, f"allowed but no longer there: {sorted(set(LAZY) - lazy)}"


def test_no_import_cycles_between_modules() -> None:
    graph: dict[str, set[str]] = {m: set() for m in modules()}
    for source, target, _, _ in own_edges():
        graph[source].add(target)
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def walk(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                walk(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            walk(node)
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("prefix", PURE)
def test_the_pure_parts_import_no_io_library(prefix: str) -> None:
    chosen = [m for m in modules() if m == prefix or m.startswith(prefix + ".")]
    assert chosen, prefix
    bad = [
        f"{m}:{line} imports {name}"
        for m in chosen
        for name, _, line in imports(m)
        if name.split(".")[0] in IO_LIBRARIES
    ]
    assert not bad, bad
