"""The package's shape, checked from source: no import cycles between modules.

The graph is read with :mod:`ast`, not by importing, so it sees every import a module
can execute: at the top, inside functions (where lazy imports hide cycles, as the old
``cli.py`` ↔ ``evaluation/cli.py`` pair did) and in ``try`` blocks. Imports under
``if TYPE_CHECKING:`` count for cycles (a type-only cycle is still two modules that
need each other to be understood, and it turns real the day an annotation is needed at
run time) but not for the rooms' import rules, which are about what runs.
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "assistant"


def module_files(package_dir: Path = PACKAGE_DIR) -> dict[str, Path]:
    """Dotted module name → file, for every module of the package (``__init__`` = package)."""
    modules: dict[str, Path] = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for statement in node.body:
                skipped.update(id(inner) for inner in ast.walk(statement))
    return skipped


def imported_names(module: str, path: Path, modules: Collection[str] = (),
                   type_checking: bool = False) -> Iterator[tuple[str, int]]:
    """Every absolute module name ``module`` imports at run time, with its line: ``x.y``
    for ``import x.y``; for ``from x.y import z`` it is ``x.y.z`` when that is one of
    ``modules`` (a submodule), else ``x.y``. Like other import linters, the parent
    packages a submodule import also runs are not counted as edges."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skipped = set() if type_checking else _type_checking_nodes(tree)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - (node.level - 1)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            for alias in node.names:
                name = f"{source}.{alias.name}"
                yield (name if name in modules else source), node.lineno


def import_graph(package_dir: Path = PACKAGE_DIR,
                 type_checking: bool = False) -> dict[str, set[str]]:
    """Module → the package's own modules it imports (names that are not modules, such
    as ``from assistant.config import Settings``, count as an import of the module);
    ``type_checking`` also counts the imports under ``if TYPE_CHECKING:``."""
    modules = module_files(package_dir)
    return {
        module: {name for name, _ in imported_names(module, path, modules, type_checking)
                 if name in modules and name != module}
        for module, path in modules.items()
    }


def find_cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Each cycle found by a depth-first walk, as ``[a, b, ..., a]``."""
    state: dict[str, str] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        state[module] = "open"
        stack.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                cycles.append([*stack[stack.index(target):], target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module)
    return cycles


def test_the_package_has_no_import_cycle() -> None:
    graph = import_graph(type_checking=True)
    assert len(graph) > 30 and "assistant.cli.main" in graph  # the walk saw the package
    cycles = find_cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" → ".join(c) for c in cycles)


def test_cycle_hidden_in_a_function_is_found(tmp_path: Path) -> None:
    """The check can fail: two modules that import each other lazily form a cycle."""
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from pkg.sub import b\n    return b\n")
    (package / "sub" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n"
        "def g():\n    from ..a import f\n    return f\n")
    (package / "c.py").write_text("from typing import TYPE_CHECKING\n"
                                  "if TYPE_CHECKING:\n    from pkg import a\n")
    graph = import_graph(package)
    assert graph["pkg.a"] == {"pkg.sub.b"}
    assert graph["pkg.c"] == set()  # type-only imports never run
    assert find_cycles(graph) == [["pkg.a", "pkg.sub.b", "pkg.a"]]


def test_type_only_cycle_is_found(tmp_path: Path) -> None:
    """Imports under ``if TYPE_CHECKING:`` count for cycles, not for the room rules."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg import b\n")
    (package / "b.py").write_text("from typing import TYPE_CHECKING\n"
                                  "if TYPE_CHECKING:\n    from pkg import a\n")
    assert find_cycles(import_graph(package)) == []
    assert find_cycles(import_graph(package, type_checking=True)) == [["pkg.a", "pkg.b", "pkg.a"]]


@pytest.mark.parametrize("edges, expected", [
    ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
    ({"a": {"a"}}, [["a", "a"]]),
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, [["a", "b", "c", "a"]]),
])
def test_find_cycles(edges: dict[str, set[str]], expected: list[list[str]]) -> None:
    assert find_cycles(edges) == expected


# The package map of docs/architecture.md ("Layers"): each room and the rooms it may import.
GROUND_FLOOR = frozenset({"errors", "config", "runtime", "types", "text", "history", "prompts",
                          "params", "openai_client", "safety", "privacy", "tracing"})
ALLOWED_ROOMS: dict[str, frozenset[str]] = {
    **{room: frozenset({"errors"}) for room in GROUND_FLOOR},
    "openai_client": frozenset({"errors", "config"}),  # endpoints are read from Settings
    "language": frozenset({"text", "params"}),
    "citations": frozenset({"language", "text", "types", "safety"}),
    "retrieval": GROUND_FLOOR | {"language"},
    "ingest": GROUND_FLOOR | {"retrieval"},
    "answer": GROUND_FLOOR | {"language", "citations", "retrieval"},
    "evaluation": GROUND_FLOOR | {"citations", "retrieval", "ingest"},
    "web": GROUND_FLOOR | {"language", "citations", "retrieval", "ingest", "answer"},
    "cli": GROUND_FLOOR | {"language", "citations", "retrieval", "ingest", "answer",
                           "evaluation", "web"},
}


def room_of(module: str) -> str:
    """``assistant.web.chat`` → ``web``; the package itself is ``assistant``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def room_violations(graph: Mapping[str, set[str]]) -> list[str]:
    problems = []
    for module, targets in sorted(graph.items()):
        room = room_of(module)
        for target in sorted(targets):
            other = room_of(target)
            if other != room and other not in ALLOWED_ROOMS.get(room, frozenset()):
                problems.append(f"{module} → {target}")
    return problems


def test_every_room_imports_only_what_the_readme_allows() -> None:
    graph = import_graph()
    rooms = {room_of(m) for m in graph} - {"assistant"}  # the package: lazy names only
    assert rooms == set(ALLOWED_ROOMS), "a new room needs a line in docs/architecture.md's map"
    assert graph["assistant"] == set()
    violations = room_violations(graph)
    assert not violations, "imports the package map forbids:\n" + "\n".join(violations)
    assert room_violations({"assistant.retrieval.store": {"assistant.web.chat"}}) == [
        "assistant.retrieval.store → assistant.web.chat"]  # the check can fail


CHROMA_MODULE = "assistant.retrieval.store"  # the only module that may know Chroma


def chromadb_imports(package_dir: Path = PACKAGE_DIR) -> dict[str, list[int]]:
    """Module → lines importing ``chromadb`` (type-only imports included: a module that
    names Chroma's types knows Chroma too)."""
    found: dict[str, list[int]] = {}
    for module, path in module_files(package_dir).items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            else:
                continue
            if any(n == "chromadb" or n.startswith("chromadb.") for n in names):
                found.setdefault(module, []).append(node.lineno)
    return found


def test_only_the_store_imports_chromadb() -> None:
    found = chromadb_imports()
    assert CHROMA_MODULE in found  # the walk sees the store's (lazy) imports
    others = {m: lines for m, lines in found.items() if m != CHROMA_MODULE}
    assert not others, "chromadb imported outside the store: " + ", ".join(
        f"{m} (line {', '.join(map(str, lines))})" for m, lines in sorted(others.items()))


def test_chromadb_import_check_can_fail(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "ok.py").write_text("import chromadbx\nfrom . import chromadb\n")
    (package / "leak.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
        "    from chromadb.api import ClientAPI\n"
        "def f():\n    import chromadb.config\n")
    assert chromadb_imports(package) == {"pkg.leak": [3, 5]}
