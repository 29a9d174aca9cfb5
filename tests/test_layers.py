"""The package's layers import one way only.

Every module of ``src/csmetrics`` belongs to one layer of ``LAYERS``, listed from the bottom
up. A module may import its own layer and the layers below it, never a layer above: an
analysis (metrics) does not reach into what is built on it (insights, the workspace), so each
layer can be read, tested and changed without the ones above it.

What counts as an import: every ``import`` and ``from ... import`` statement anywhere in a
module, inside functions too, relative ones resolved, ``from csmetrics import name`` read as
the submodule ``csmetrics.name`` when there is one and as the top-level package (the facade)
otherwise. Imports in an ``if TYPE_CHECKING:`` block are for annotations only (they never run)
and are allowed.

Within a layer of several packages (the interfaces: the shared server dependencies, the API,
the dashboard and the CLI), packages may import each other but not in a cycle.
"""

from __future__ import annotations

import ast
import itertools
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "src" / "csmetrics"

#: The layers from the bottom up, each with the top-level modules or packages of
#: ``csmetrics`` in it. ``health`` and ``predict`` are two layers, health below:
#: ``predict.features`` uses health scores as churn features, health never imports predict.
#: ``demo`` (the demo company's generator) is for the CLI and tests only, so it sits just
#: below the interfaces. ``__init__`` and ``__main__`` are the facade, above everything:
#: nothing in the package imports the top-level ``csmetrics`` (``_version`` holds the version).
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("foundation", ("errors", "config", "clock", "_version", "_lazy")),
    ("schema", ("schema",)),
    ("store", ("store",)),
    ("ingest", ("ingest",)),
    ("enrichment", ("enrich",)),  # text sentiment, stored beside the rows it scores
    ("metrics", ("metrics",)),
    ("health", ("health",)),
    ("predict", ("predict",)),
    ("insights", ("insights",)),
    ("alerts", ("alerts",)),
    ("reports", ("reports",)),
    ("workspace", ("workspace",)),
    ("demo", ("demo", "samples")),  # samples: the sample exports' generator (stdlib only)
    ("interfaces", ("server", "api", "web", "cli")),  # no cycle between these packages
    ("facade", ("__init__", "__main__")),
)
RANK = {name: rank for rank, (name, _) in enumerate(LAYERS)}
LAYER_OF = {part: name for name, parts in LAYERS for part in parts}


@dataclass(frozen=True)
class Import:
    """One runtime import: the importing module's file and line, and the imported module."""

    path: str
    line: int
    source: str
    target: str


def module_name(file: Path, package: Path) -> str:
    """``csmetrics.a.b`` for ``<package>/a/b.py`` (and for ``<package>/a/b/__init__.py``)."""
    parts = [package.name, *file.relative_to(package).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def part_of(module: str) -> str:
    """The top-level module or package of ``csmetrics`` a module is in (``__init__`` for the
    package itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports(package: Path) -> list[Import]:
    """Every runtime import of a ``csmetrics`` module by a module of ``package``."""
    files = sorted(package.rglob("*.py"))
    modules = {module_name(f, package) for f in files}
    root = package.name
    found = []
    for file in files:
        source = module_name(file, package)
        here = source if file.name == "__init__.py" else source.rpartition(".")[0]
        tree = ast.parse(file.read_text(encoding="utf-8"), str(file))
        skipped = {id(n) for node in ast.walk(tree)
                   if isinstance(node, ast.If) and _type_checking_only(node)
                   for stmt in node.body for n in ast.walk(stmt)}
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here.split(".")[: len(here.split(".")) - node.level + 1]
                    module = ".".join([*base, node.module] if node.module else base)
                else:
                    module = node.module or ""
                targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in modules else module
                           for a in node.names]
            else:
                continue
            path = file.relative_to(package.parents[1]).as_posix()
            found += [Import(path, node.lineno, source, t) for t in dict.fromkeys(targets)
                      if t == root or t.startswith(root + ".")]
    return found


def violations(package: Path) -> list[str]:
    """Each upward import as ``path:line: layer A imports higher layer B (module)``, each
    module or import outside the layer table, and each cycle between packages of a layer."""
    problems = []
    edges: dict[tuple[str, str], Import] = {}
    for imp in imports(package):
        source, target = part_of(imp.source), part_of(imp.target)
        where = f"{imp.path}:{imp.line}"
        if source not in LAYER_OF:
            problems.append(f"{where}: {imp.source} is in no layer (add it to LAYERS)")
            continue
        if target not in LAYER_OF:
            problems.append(f"{where}: layer {LAYER_OF[source]} imports {imp.target}, "
                            "which is in no layer (add it to LAYERS)")
            continue
        low, high = LAYER_OF[source], LAYER_OF[target]
        if RANK[high] > RANK[low]:
            problems.append(f"{where}: layer {low} imports higher layer {high} ({imp.target})")
        elif low == high and source != target:
            edges.setdefault((source, target), imp)
    problems += cycles(edges)
    return problems


def cycles(edges: dict[tuple[str, str], Import]) -> list[str]:
    """Each pair of packages of one layer that import each other, directly or through other
    packages of the layer, with the import that starts each way round."""
    reach = {pair for pair in edges}
    nodes = {n for pair in edges for n in pair}
    for k, i, j in itertools.product(sorted(nodes), repeat=3):  # Floyd-Warshall closure
        if (i, k) in reach and (k, j) in reach:
            reach.add((i, j))
    problems = []
    for (a, b), imp in sorted(edges.items()):
        if (b, a) in reach:
            problems.append(f"{imp.path}:{imp.line}: layer {LAYER_OF[a]}: package {a} imports "
                            f"{b} ({imp.target}), which imports {a} back: a cycle")
    return problems


def test_layers_import_one_way_only():
    problems = violations(PACKAGE)
    assert not problems, "upward imports:\n" + "\n".join(problems)


def test_every_top_level_module_is_in_a_layer():
    parts = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
             if p.suffix == ".py" or (p / "__init__.py").is_file()}
    assert parts <= set(LAYER_OF), sorted(parts - set(LAYER_OF))


def _tree(root: Path, files: dict[str, str]) -> Path:
    """A ``src/csmetrics`` tree under ``root`` holding ``files`` (path -> source)."""
    package = root / "src" / "csmetrics"
    for name, text in {"__init__.py": "", **files}.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return package


def test_the_check_reports_upward_imports(tmp_path):
    """Top-level, relative and function-local imports of a higher layer are reported; one
    under ``if TYPE_CHECKING:`` and one of a lower layer are not."""
    package = _tree(tmp_path, {
        "schema/__init__.py": "",
        "schema/tables.py": (
            "from typing import TYPE_CHECKING\n"
            "import csmetrics.metrics\n"
            "from ..insights import themes\n"
            "if TYPE_CHECKING:\n"
            "    from csmetrics.workspace import Workspace\n"
            "def load():\n"
            "    from csmetrics import query\n"
            "    from csmetrics.errors import UserInputError\n"
        ),
        "metrics/__init__.py": "",
        "insights/__init__.py": "",
        "insights/themes.py": "",
        "workspace.py": "",
        "errors.py": "",
    })
    assert violations(package) == [
        "src/csmetrics/schema/tables.py:2: layer schema imports higher layer metrics "
        "(csmetrics.metrics)",
        "src/csmetrics/schema/tables.py:3: layer schema imports higher layer insights "
        "(csmetrics.insights.themes)",
        "src/csmetrics/schema/tables.py:7: layer schema imports higher layer facade "
        "(csmetrics)",
    ]


def test_the_check_reports_a_cycle_between_packages_of_one_layer(tmp_path):
    """The API and the dashboard may share a module, not import each other both ways."""
    package = _tree(tmp_path, {
        "api/__init__.py": "from csmetrics.web import mount\n",
        "web/__init__.py": "def mount():\n    from csmetrics.api import deps\n",
        "api/deps.py": "",
        "cli/__init__.py": "from csmetrics.api import deps\n",
    })
    assert violations(package) == [
        "src/csmetrics/api/__init__.py:1: layer interfaces: package api imports web "
        "(csmetrics.web), which imports api back: a cycle",
        "src/csmetrics/web/__init__.py:2: layer interfaces: package web imports api "
        "(csmetrics.api.deps), which imports web back: a cycle",
    ]
