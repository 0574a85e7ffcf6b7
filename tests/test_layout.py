"""The house rules of ``src/netreset``: one folder per layer, data flowing one way, no import circles,
numba only in compiled twins.

The import graph is read from the source (``ast``), module-level and function-level imports alike (an
import moved into a function to dodge a circle is still a circle), so these tests see what a newcomer
reading the code would see.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "netreset"

#: Layers in the order data flows through them; a module may import its own layer or one to its left.
#: ``packets`` comes before ``ingest`` in import order: ingest *builds* the packet table, so it imports the
#: table's model. ``report`` and ``plots`` are one layer (a report embeds plots).
LAYERS = ("errors", "runtime", "data", "packets", "ingest", "flows", "analyses", "records", "pipeline",
          "store", "fleet", ("report", "plots"), "cli", "api")
#: The one import against the flow: the package itself re-exports the Python API (``netreset.analyze``),
#: lazily, inside a module ``__getattr__`` (tests below check it stays lazy).
FACADE = ("netreset", "netreset.api")


def _rank(module: str) -> int:
    if module == "netreset":  # the package itself holds only its docstring and __version__
        return 0
    top = module.split(".")[1]
    for rank, layer in enumerate(LAYERS):
        if top == layer or (isinstance(layer, tuple) and top in layer):
            return rank
    return len(LAYERS)  # __main__: above everything


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imports(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Every netreset module ``module`` imports, anywhere in its source."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                name = f"{base}.{alias.name}"
                found.add(name if name in modules else base)
    return {name for name in found if name in modules and name != module}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = _modules()
    return {module: _imports(module, path, modules) for module, path in modules.items()}


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index, low, stack, on_stack, circles, counter = {}, {}, [], set(), [], [0]
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
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
                        circles.append(sorted(component))
    return circles


def test_the_circle_finder_finds_a_circle():
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _circles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_itself_back(graph):
    assert _circles(graph) == []


def test_imports_flow_one_way_through_the_layers(graph):
    against = sorted(f"{module} imports {target}" for module, targets in graph.items() for target in targets
                     if _rank(target) > _rank(module) and (module, target) != FACADE)
    assert against == []


def test_the_package_loads_its_api_only_when_asked():
    """``import netreset`` imports nothing of the package (the CLI's start-up), ``netreset.analyze`` loads the API."""
    import subprocess
    import sys

    code = ("import sys, netreset; before = sorted(m for m in sys.modules if m.startswith('netreset.')); "
            "netreset.analyze; print(before, 'netreset.api' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(SRC)}).stdout
    assert out.strip() == "[] True"


def test_every_module_belongs_to_a_layer(graph):
    assert sorted(m for m in graph if _rank(m) == len(LAYERS)) == ["netreset.__main__"]


def test_package_inits_hold_only_their_docstring():
    """Submodules never import their package's ``__init__``, and importing a package costs nothing."""
    busy = []
    for init in PACKAGE.rglob("__init__.py"):
        body = ast.parse(init.read_text()).body
        if not body or not (isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)):
            busy.append(f"{init.relative_to(SRC)}: no docstring")
        elif init.parent != PACKAGE and len(body) > 1:
            busy.append(f"{init.relative_to(SRC)}: code besides the docstring")
    assert busy == []


def test_only_compiled_twins_import_numba():
    """numba is imported by modules under a ``compiled/`` folder (and the loader that speeds their start-up);
    every caller asks :mod:`netreset.runtime.compiled` instead of importing it."""
    importers = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(name == "numba" or name.startswith("numba.") for name in names):
                importers.append(path.relative_to(PACKAGE).as_posix())
                break
    allowed = {"runtime/numba_loading.py"}
    assert sorted(p for p in importers if "compiled/" not in p and p not in allowed) == []
    assert any(p.startswith("flows/compiled/") for p in importers)  # the check sees real importers


def test_compiled_twins_sit_beside_their_references():
    """No ``*_fast`` modules: a compiled module lives in ``<package>/compiled/`` and a twin keeps its
    reference's name (helpers with no namesake are allowed, but only inside ``compiled/``)."""
    assert sorted(p.name for p in PACKAGE.rglob("*_fast.py")) == []
    for folder in PACKAGE.rglob("compiled"):
        if folder.is_dir() and folder.parent != PACKAGE / "runtime":
            assert (folder / "__init__.py").exists()
            twins = {p.stem for p in folder.glob("*.py")} - {"__init__"}
            references = {p.stem for p in folder.parent.glob("*.py")}
            assert twins & references, f"{folder}: no compiled twin shares a name with its reference"
