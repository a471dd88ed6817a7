"""How aigov installs: one top-level import package, the same from a wheel and an editable
install, usable from any directory."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    built = run(
        sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT), cwd=out
    )
    assert built.returncode == 0, built.stderr
    (found,) = out.glob("aigov_rules-*.whl")
    return found


def test_the_wheel_holds_one_top_level_package(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        tops = {name.split("/")[0] for name in archive.namelist()}
        names = set(archive.namelist())
    assert {t for t in tops if not t.endswith(".dist-info")} == {"aigov"}
    assert "aigov/reports/__init__.py" in names
    assert "aigov/_shipped/policies/POLICIES.md" in names
    assert any(n.startswith("aigov/_shipped/examples/") for n in names)
    assert not any("__pycache__" in n for n in names)


def test_the_installed_wheel_works_from_another_directory(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    installed = run(
        sys.executable,
        "-m",
        "pip",
        "install",
        "-q",
        "--no-deps",
        "--target",
        str(target),
        str(wheel),
        cwd=tmp_path,
    )
    assert installed.returncode == 0, installed.stderr
    packages = {p.name for p in target.iterdir() if not p.name.endswith(".dist-info")}
    assert packages - {"bin"} == {"aigov"}  # bin/: the console script pip --target writes
    # -S: no site-packages processing, so the editable install's finder is not loaded; the
    # dependencies come from this interpreter's site-packages, after the wheel's copy.
    env = {"PYTHONPATH": f"{target}:{sysconfig.get_paths()['purelib']}", "PATH": "/usr/bin:/bin"}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = run(
        sys.executable,
        "-S",
        "-c",
        "import json, aigov, aigov.reports, aigov.shipped as s\n"
        "import importlib.util as u\n"
        "print(json.dumps({'aigov': aigov.__file__, 'reports': aigov.reports.__file__,"
        " 'policies': str(s.shipped('policies')), 'engine': u.find_spec('engine') is not None,"
        " 'top_reports': u.find_spec('reports') is not None}))",
        cwd=elsewhere,
        env=env,
    )
    assert probe.returncode == 0, probe.stderr
    where = json.loads(probe.stdout)
    assert where["aigov"].startswith(str(target))
    assert where["reports"].startswith(str(target / "aigov" / "reports"))
    assert where["policies"].startswith(str(target / "aigov" / "_shipped"))
    assert not where["engine"] and not where["top_reports"]
    # the shipped policies, example registry and report templates, all from the wheel
    demo = run(sys.executable, "-S", "-m", "aigov", "demo", "-o", "r.html", cwd=elsewhere, env=env)
    assert demo.returncode == 0, demo.stderr
    assert "DENY" in demo.stdout
    assert (elsewhere / "r.html").read_text().startswith("<!DOCTYPE html>")


def test_the_editable_install_imports_as_the_wheel_does(tmp_path: Path) -> None:
    probe = run(
        sys.executable,
        "-c",
        "import json, aigov, aigov.reports, importlib.util as u\n"
        "print(json.dumps({'aigov': aigov.__file__, 'reports': aigov.reports.__file__,"
        " 'engine': u.find_spec('engine') is not None, 'top_reports': u.find_spec('reports') is not None}))",
        cwd=tmp_path,
    )
    assert probe.returncode == 0, probe.stderr
    where = json.loads(probe.stdout)
    assert where == {
        "aigov": str(ROOT / "engine" / "__init__.py"),
        "reports": str(ROOT / "reports" / "__init__.py"),
        "engine": False,
        "top_reports": False,
    }
