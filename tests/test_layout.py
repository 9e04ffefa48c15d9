"""The package's layout: imports between textgen's modules flow one way, and the core never
imports Streamlit. Imports are read from the source (ast), function-level ones included, so a
cycle cannot hide inside a function."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "textgen"
# Modules every other one may import: they import nothing from textgen but its errors.
LEAVES = ("errors", "files", "units", "words")


def module_name(path: Path) -> str:
    return "textgen" if path.name == "__init__.py" else f"textgen.{path.stem}"


MODULES = {module_name(path): path for path in sorted(PACKAGE.glob("*.py"))}


def imported(path: Path) -> list[tuple[str, int, bool]]:
    """(module, line, at module level) of every import in the file, wherever it stands."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # "from textgen import runs" imports the module textgen.runs; only a name the
            # package itself defines (__version__) is an import of textgen/__init__.py.
            found += [(f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in MODULES
                       else node.module, node.lineno, id(node) in top) for alias in node.names]
    return found


def textgen_imports(name: str) -> set[str]:
    """The textgen modules ``name`` imports (the package itself when it takes a name from it)."""
    return {target for target, _, _ in imported(MODULES[name])
            if target in MODULES and target != name}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a list of its nodes (first repeated at the end), or None."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node):
        state[node] = "open"
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return path[path.index(target):] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        state[node] = "done"
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_cycle_finder_finds_a_cycle_hidden_three_modules_deep():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_a_function_level_import_counts_as_an_import(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("import os\n\ndef f():\n    from textgen import runs\n")
    assert imported(source) == [("os", 1, True), ("textgen.runs", 4, False)]


def test_textgen_modules_import_each_other_without_a_cycle():
    graph = {name: textgen_imports(name) for name in MODULES}
    assert len(graph) > 20 and any(graph.values())
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_leaf_modules_import_nothing_from_textgen_but_errors():
    for leaf in LEAVES:
        assert textgen_imports(f"textgen.{leaf}") <= {"textgen.errors"}, leaf


def test_no_textgen_module_imports_streamlit():
    found = [f"{path.name}:{line}" for name, path in MODULES.items()
             for target, line, _ in imported(path) if target.split(".")[0] == "streamlit"]
    assert found == []


def test_the_readme_layout_names_every_module_in_an_order_imports_respect():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("## Layout"):].split("\n## ")[0]
    named = re.findall(r"`(\w+)`\s+\(", layout)
    assert set(named) == {name.split(".")[-1] for name in MODULES if name not in ("textgen", "textgen.__main__")}
    rank = {name: i for i, name in enumerate(named)}
    upward = [(name, target) for name in named for target in textgen_imports(f"textgen.{name}")
              if target != "textgen" and rank[target.split(".")[-1]] > rank[name]]
    assert upward == []
