"""Data flows one way: no stage imports a later one, and no module imports itself round a cycle.

Every import in the syntax tree counts (function-level and TYPE_CHECKING ones
too), so a dependency cannot hide from this test by moving into a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Stage order: a module may import from earlier stages and from its own package.
# Evaluation sits beside serving at the top of the library (neither imports the
# other); the commands chain the stages; the server adapts them to MCP.
STAGES: dict[str, int] = {
    "recsys": 0,  # the package root: only __version__
    "recsys.data": 1,
    "recsys.features": 2,
    "recsys.metrics": 3,
    "recsys.model": 4,
    "recsys.ranking": 5,  # scores -> lists that honour a request: serving and evaluation share it
    "recsys.training": 6,
    "recsys.bundle": 7,
    "recsys.serving": 8,
    "recsys.evaluation": 8,
    "recsys.profiles": 8,  # a person's ratings, stored: beside serving, imports neither
    "recsys.commands": 9,
    "server": 10,
}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def stage_of(module: str) -> str | None:
    """The stage package a module belongs to (the longest matching prefix)."""
    best = None
    for stage in STAGES:
        if (module == stage or module.startswith(stage + ".")) and (
            best is None or len(stage) > len(best)
        ):
            best = stage
    return best


def imports_of(path: Path, module: str, known: set[str]) -> set[str]:
    """Every project module `path` imports, resolved to the most specific known module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    found.discard(module)
    return found


def import_graph(root: Path, packages: tuple[str, ...]) -> dict[str, set[str]]:
    files = {
        module_name(p, root): p
        for package in packages
        for p in sorted((root / package).rglob("*.py"))
        if "__pycache__" not in p.parts
    }
    known = set(files)
    return {m: imports_of(p, m, known) for m, p in files.items()}


def layering_violations(graph: dict[str, set[str]]) -> list[str]:
    out = []
    for module, targets in sorted(graph.items()):
        own = stage_of(module)
        if own is None:
            out.append(f"{module} belongs to no stage; add its package to STAGES")
            continue
        for target in sorted(targets):
            theirs = stage_of(target)
            if theirs is None or theirs == own or own.startswith(theirs + "."):
                continue
            if STAGES[theirs] >= STAGES[own]:
                later = "a later or sibling stage"
                out.append(f"{module} ({own}) imports {target} ({theirs}), {later}")
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_stage_imports_a_later_one() -> None:
    graph = import_graph(ROOT, ("recsys", "server"))
    assert len(graph) > 40  # the walk found the code
    assert layering_violations(graph) == []


def test_no_module_imports_itself_round_a_cycle() -> None:
    assert cycles(import_graph(ROOT, ("recsys", "server"))) == []


def test_every_stage_is_a_package_that_exists() -> None:
    for stage in STAGES:
        path = ROOT.joinpath(*stage.split("."))
        assert (path / "__init__.py").is_file(), stage


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    """A small tree with one upward import hidden in a function and one cycle."""
    files = {
        "recsys/__init__.py": "",
        "recsys/data/__init__.py": "",
        "recsys/data/a.py": "def f():\n    from recsys.serving import b\n",
        "recsys/serving/__init__.py": "",
        "recsys/serving/b.py": "from recsys.data import a\nfrom . import c\n",
        "recsys/serving/c.py": "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from recsys.serving.b import x\n",
        "recsys/evaluation/__init__.py": "",
        "recsys/evaluation/d.py": "import recsys.serving.c\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def test_the_checks_catch_hidden_upward_imports_siblings_and_cycles(planted: Path) -> None:
    graph = import_graph(planted, ("recsys",))
    problems = layering_violations(graph)
    assert any("recsys.data.a" in p and "recsys.serving.b" in p for p in problems)
    assert any("recsys.evaluation.d" in p and "sibling" in p for p in problems)
    assert cycles(graph) == [["recsys.data.a", "recsys.serving.b", "recsys.serving.c"]]
