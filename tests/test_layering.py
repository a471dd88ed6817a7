"""The package's layers only point down, and reports depend on nothing but results.

    cli  →  api | reports  →  evaluate  →  compile  →  policy  →  registry  →  results  →  base

``reports`` sits beside ``api`` but may import only ``results`` and the base utilities, so
a renderer never touches the database, the compiler or the engine. docs/architecture.md
draws the same picture.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"engine": "aigov", "reports": "aigov.reports"}

BASE = {
    "aigov",
    "aigov.errors",
    "aigov.exit_codes",
    "aigov.interrupts",
    "aigov.console",
    "aigov.documents",
    "aigov.shipped",
}
RANK = {
    "results": 1,
    "registry": 2,
    "policy": 3,
    "compile": 4,
    "evaluate": 5,
    "api": 6,
    "reports": 6,
    "cli": 7,
}
FACADES = {"aigov", "aigov.__main__"}  # the lazy public API and `python -m aigov`


def module_name(path: Path) -> str:
    folder, *rest = path.relative_to(ROOT).with_suffix("").parts
    parts = [PACKAGES[folder], *rest]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer(module: str) -> str:
    if module in BASE:
        return "base"
    return module.split(".")[1]


def rank(module: str) -> int:
    return 0 if layer(module) == "base" else RANK[layer(module)]


def aigov_imports(path: Path) -> list[tuple[int, str]]:
    """Every aigov module a file imports, at the top or inside a function."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "aigov":  # from aigov import __version__ / a submodule
                for alias in node.names:
                    sub = f"aigov.{alias.name}"
                    found.append((node.lineno, sub if sub in BASE else "aigov"))
            elif node.module.startswith("aigov."):
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("aigov")]
    return found


def sources() -> list[Path]:
    return sorted(p for folder in PACKAGES for p in (ROOT / folder).rglob("*.py"))


def test_every_module_belongs_to_a_layer() -> None:
    for path in sources():
        name = module_name(path)
        if name not in FACADES:
            assert layer(name) == "base" or layer(name) in RANK, f"{name} is in no layer"


def violations(modules: list[tuple[str, Path]]) -> list[str]:
    """``file:line: importer imports imported`` for every import that breaks the layering."""
    found = []
    for importer, path in modules:
        if importer in FACADES:
            continue
        for line, imported in aigov_imports(path):
            if layer(imported) == layer(importer):
                continue
            if layer(importer) == "reports":
                allowed = layer(imported) in ("base", "results")
            elif layer(importer) == "cli":
                allowed = True
            else:
                allowed = rank(imported) < rank(importer) and layer(imported) != "reports"
            if not allowed:
                found.append(f"{path.name}:{line}: {importer} imports {imported}")
    return found


def test_imports_point_down_and_reports_import_only_results() -> None:
    assert violations([(module_name(p), p) for p in sources()]) == []


@pytest.mark.parametrize(
    ("importer", "source", "flagged"),
    [
        ("aigov.reports.sarif", "from aigov.registry.store import open_registry", True),
        ("aigov.reports.sarif", "def f():\n    from aigov.evaluate.pipeline import audit", True),
        ("aigov.api.gate", "from aigov.reports.gate import render_text", True),
        ("aigov.results.findings", "from aigov.policy.ast import Policy", True),
        ("aigov.compile.compiler", "import aigov.evaluate.facts", True),
        ("aigov.reports.sarif", "from aigov.results.findings import Finding", False),
        ("aigov.evaluate.facts", "from aigov.registry.store import table_of", False),
        ("aigov.cli.gate", "from aigov.reports.gate import render_text", False),
    ],
)
def test_the_checker_flags_upward_imports(
    tmp_path: Path, importer: str, source: str, flagged: bool
) -> None:
    path = tmp_path / "module.py"
    path.write_text(source + "\n")
    assert bool(violations([(importer, path)])) == flagged


@pytest.mark.parametrize(
    ("module", "allowed"),
    [
        ("aigov.reports.sarif", ()),
        ("aigov.reports.junit", ()),
        ("aigov.reports.markdown", ()),
        ("aigov.reports.json_report", ()),
        ("aigov.reports.text", ()),
        ("aigov.reports.gate", ()),
        ("aigov.reports.html", ("jinja2", "markupsafe")),
        ("aigov.results.findings", ()),
    ],
)
def test_importing_a_report_loads_no_database_engine_or_template(
    module: str, allowed: tuple[str, ...]
) -> None:
    heavy = ("sqlalchemy", "sqlmodel", "durable", "jinja2", "markupsafe", "yaml")
    code = (
        f"import sys, {module}\n"
        f"print(','.join(sorted({{m.split('.')[0] for m in sys.modules}} & {set(heavy)!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(filter(None, out.stdout.strip().split(",")))
    assert loaded <= set(allowed), f"importing {module} loaded {sorted(loaded - set(allowed))}"
