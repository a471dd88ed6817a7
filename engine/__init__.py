"""aigov: an AI-governance compliance rules engine.

Public API (imported lazily so that a cold ``aigov gate`` only loads what it uses)::

    from aigov import open_registry, load_policies, audit, gate
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_API = {
    "open_registry": ("aigov.registry.store", "open_registry"),
    "load_policies": ("aigov.policy.loader", "load_policies"),
    "audit": ("aigov.evaluate.pipeline", "audit"),
    "gate": ("aigov.api.gate", "gate"),
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        import importlib

        module, attr = _API[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'aigov' has no attribute {name!r}")
