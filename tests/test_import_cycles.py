"""No import cycles among the project's own modules.

The graph is read from the source with `ast`, nothing is imported: every `import` and
`from ... import` counts, at module level or inside a function, class or `try`, except
those under `if TYPE_CHECKING:` (never run). An edge goes to the most specific module of
ours that the statement names: `from activities.inventory import hosts` is an edge to
`activities.inventory.hosts` when that is a module, else to the package
`activities.inventory` (its `__init__.py`). The parent packages Python initialises on
the way are not edges: a package's `__init__` importing its own submodules would
otherwise always be a cycle. Imports made by `importlib` are not seen.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Top-level packages and modules that are the project's own code.
OWN = ("workflows", "activities", "remedy", "bridge", "worker", "bench")

Edge = tuple[str, str, str]  # (importer, imported, "path:line")


def own_modules(root: Path, own: tuple[str, ...] = OWN) -> dict[str, Path]:
    """Module name -> source file, for every .py file of the own packages."""
    mods: dict[str, Path] = {}
    for top in own:
        single = root / f"{top}.py"
        if single.is_file():
            mods[top] = single
        pkg = root / top
        if not pkg.is_dir():
            continue
        for f in sorted(pkg.rglob("*.py")):
            parts = f.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join(parts)] = f
    return mods


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement under `node`, skipping the bodies of `if TYPE_CHECKING:`
    (their `else:` branch runs, so it is kept)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for stmt in child.orelse:
                yield from _imports(ast.Module(body=[stmt], type_ignores=[]))
        else:
            yield from _imports(child)


def _own(name: str, mods: dict[str, Path]) -> str | None:
    """`name` if it is one of our modules, else the longest prefix of it that is."""
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        candidate = ".".join(parts[:n])
        if candidate in mods:
            return candidate
    return None


def import_graph(root: Path, own: tuple[str, ...] = OWN) -> tuple[dict[str, Path], list[Edge]]:
    mods = own_modules(root, own)
    edges: list[Edge] = []
    for name, path in mods.items():
        is_pkg = path.name == "__init__.py"
        package = name if is_pkg else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(), filename=str(path))
        for stmt in _imports(tree):
            targets: list[str | None] = []
            if isinstance(stmt, ast.Import):
                targets = [_own(a.name, mods) for a in stmt.names]
            else:
                if stmt.level:
                    base = package.split(".")
                    base = base[: len(base) - (stmt.level - 1)]
                    source = ".".join([*base, *([stmt.module] if stmt.module else [])])
                else:
                    source = stmt.module or ""
                for a in stmt.names:
                    sub = f"{source}.{a.name}"
                    targets.append(sub if sub in mods else _own(source, mods))
            where = f"{path.relative_to(root)}:{stmt.lineno}"
            edges += [(name, t, where) for t in targets if t is not None and t != name]
    return mods, edges


def find_cycle(edges: list[Edge]) -> list[Edge] | None:
    """One cycle, as the edges that close it, or None (depth-first search)."""
    graph: dict[str, list[Edge]] = {}
    for e in edges:
        graph.setdefault(e[0], []).append(e)
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[Edge] = []

    def visit(node: str) -> list[Edge] | None:
        state[node] = 1
        for edge in graph.get(node, []):
            target = edge[1]
            if state.get(target) == 1:  # back to a module on the path: a cycle
                start = next(i for i, e in enumerate(path) if e[0] == target)
                return [*path[start:], edge]
            if target not in state:
                path.append(edge)
                found = visit(target)
                if found:
                    return found
                path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def describe(cycle: list[Edge]) -> str:
    return "\n".join(f"  {a} -> {b}  ({where})" for a, b, where in cycle)


def test_no_import_cycle_among_our_modules() -> None:
    _, edges = import_graph(ROOT)
    cycle = find_cycle(edges)
    assert cycle is None, "import cycle:\n" + describe(cycle or [])


def test_the_graph_is_read() -> None:
    """The check above can only pass for a reason: the graph has our modules and edges,
    function-level imports included."""
    mods, edges = import_graph(ROOT)
    assert {"worker", "activities.inventory", "remedy.cli", "workflows.incident"} <= set(mods)
    pairs = {(a, b) for a, b, _ in edges}
    assert ("activities.ssh", "activities.inventory") in pairs
    assert ("remedy.cli", "remedy.cli_stack") in pairs  # `from remedy import cli_stack`
    assert ("remedy.cli_stack", "worker") in pairs  # inside `dev`'s function body


def test_a_cycle_is_found_and_named(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg.sub import b\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("def f():\n    from .. import c\n")
    (pkg / "c.py").write_text("import pkg.a\n")
    (pkg / "d.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n"
    )
    _, edges = import_graph(tmp_path, ("pkg",))
    cycle = find_cycle(edges)
    assert cycle is not None
    assert sorted((a, b) for a, b, _ in cycle) == [
        ("pkg.a", "pkg.sub.b"),
        ("pkg.c", "pkg.a"),
        ("pkg.sub.b", "pkg.c"),
    ]
    assert "pkg/sub/b.py:2" in describe(cycle)
    assert not any(a == "pkg.d" for a, _, _ in edges)  # TYPE_CHECKING only
