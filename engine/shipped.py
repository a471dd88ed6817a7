"""Where the shipped policy library and example registry are, installed or in a checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_CHECKOUT = _PACKAGE.parent

# In a wheel they are copied into engine/_shipped/ (see pyproject.toml); in a source checkout
# or an editable install they are read from the top of the repository.
_LOCATIONS = {
    "policies": (_PACKAGE / "_shipped" / "policies", _CHECKOUT / "policies"),
    "examples": (_PACKAGE / "_shipped" / "examples", _CHECKOUT / "examples" / "registry"),
}


def shipped(name: str) -> Path:
    """The directory of the shipped ``policies`` or ``examples`` registry."""
    installed, checkout = _LOCATIONS[name]
    return installed if installed.is_dir() else checkout
