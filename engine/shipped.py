"""Where the shipped policy library and example registry are, installed or in a checkout."""

from __future__ import annotations

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
