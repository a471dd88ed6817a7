"""Where the shipped policy library and example registry are, installed or in a checkout."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_CHECKOUT = _PACKAGE.parent

# In a wheel they are copied into aigov/_shipped/ (see pyproject.toml); in a source checkout
# or an editable install they are read from the top of the repository.
_LOCATIONS = {
    "policies": (_PACKAGE / "_shipped" / "policies", _CHECKOUT / "policies"),
    "examples": (_PACKAGE / "_shipped" / "examples", _CHECKOUT / "examples" / "registry"),
}


def shipped(name: str) -> Path:
    """The directory of the shipped ``policies`` or ``examples`` registry."""
    installed, checkout = _LOCATIONS[name]
    return installed if installed.is_dir() else checkout


def display_path(path: Path) -> str:
    """How a file is named in messages, reports and digests: a shipped file by its path in the
    repository (``policies/tos/tos-001.yaml``), so that the same library gives the same labels
    and policy digest wherever it is installed; any other file as given."""
    resolved = path.resolve()
    for name, repository_path in (("policies", "policies"), ("examples", "examples/registry")):
        root = shipped(name).resolve()
        if resolved.is_relative_to(root):
            return f"{repository_path}/{resolved.relative_to(root).as_posix()}"
    return str(path)


# A project's own policies, loaded on top of the shipped library by every command run in
# the project's directory (as conftest reads ./policy): commit them beside the code.
PROJECT_POLICIES = Path(".aigov") / "policies"


def policy_roots(
    replace: Sequence[Path] = (), add: Sequence[Path] = (), cwd: Path | None = None
) -> list[Path]:
    """The policy files and folders a command loads.

    ``replace`` (``--policies``) replaces the library; without it the library is the shipped
    one plus the project folder ``.aigov/policies`` under ``cwd`` (default: the current
    directory) when that exists. ``add`` (``--add-policies``) is loaded on top of either.
    """
    if replace:
        roots = list(replace)
    else:
        roots = [shipped("policies")]
        project = (cwd or Path.cwd()) / PROJECT_POLICIES
        if project.is_dir():
            roots.append(project)
    return roots + [path for path in add if path not in roots]
