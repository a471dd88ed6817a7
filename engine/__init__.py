"""aigov: an AI-governance compliance rules engine.

The public API is four functions (imported lazily, so that a cold ``aigov gate`` loads only
what it uses)::

    import aigov

    policies = aigov.load_policies()  # the shipped library, or load_policies([paths])
    with aigov.open_registry("sqlite:///aigov.db") as registry:
        result = aigov.audit(registry, policies)  # AuditResult: every model, every finding
        decision = aigov.gate(registry, deployment, policies)  # GateDecision: ALLOW or DENY

:func:`open_registry` (:mod:`aigov.registry.store`) opens the model registry;
:func:`load_policies` (:mod:`aigov.policy.loader`) loads and checks a policy set;
:func:`audit` (:mod:`aigov.evaluate.pipeline`) evaluates it against the registry; and
:func:`gate` (:mod:`aigov.api.gate`) decides on one proposed deployment, built with
:func:`aigov.api.gate.proposed_deployment` or read by :func:`aigov.api.gate.read_deployment`.
Their results are the pydantic models of :mod:`aigov.results` (``AuditResult`` and
``Finding`` in :mod:`aigov.results.findings`, ``GateDecision`` in
:mod:`aigov.results.decisions`). Every error raises an :class:`aigov.errors.AigovError`
(the CLI's exit code 2); a caller deciding a deployment treats any exception as DENY.
docs/python-api.md shows them at work and lists every parameter and field.
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
