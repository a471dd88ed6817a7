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


def test_imports_point_down_and_reports_import_only_results() -> None:
    violations = []
    for path in sources():
        importer = module_name(path)
        if importer in FACADES:
            continue
        for line, imported in aigov_imports(path):
            if layer(imported) == layer(importer):
                continue
            if layer(importer) == "reports":
                allowed = layer(imported) in ("base", "results")
            else:
                allowed = (rank(imported) < rank(importer) and layer(imported) != "reports") or (
                    layer(importer) == "cli"
                )
            if not allowed:
                where = path.relative_to(ROOT)
                violations.append(f"{where}:{line}: {importer} imports {imported}")
    assert violations == []


def test_a_layering_violation_is_caught(tmp_path: Path) -> None:
    """The checker itself: a report importing the registry store is flagged."""
    bad = tmp_path / "bad.py"
    bad.write_text("from aigov.registry.store import open_registry\n")
    ((line, imported),) = aigov_imports(bad)
    assert (line, imported) == (1, "aigov.registry.store")
    assert layer(imported) not in ("base", "results")


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
