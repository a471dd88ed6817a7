"""The pre-deployment gate: may this model be deployed here?

The proposed deployment is added to the model's partition as a hypothetical fact (it need
not exist in the registry, and nothing is written), every policy is evaluated, and the
findings about every record the deployment relies on decide: the deployment itself, its
model, the approval it names and the waivers of any of those
(:func:`aigov.results.decisions.gate_subjects`). Findings about the model's other
deployments and approvals do not block this one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from aigov.documents import load_file, validation_problems
from aigov.errors import InputError, NotFoundError, Problem
from aigov.evaluate.pipeline import Pipeline, compute_registry_digest
from aigov.exit_codes import EXIT_ALLOW, EXIT_DENY, EXIT_INDETERMINATE
from aigov.policy.ast import PolicySet
from aigov.registry.interchange import FORMAT_VERSION, READABLE_VERSIONS
from aigov.registry.records import GLOBAL_REGION, SECTIONS, DeploymentBase
from aigov.registry.store import Registry
from aigov.results.decisions import GateDecision, concerns, gate_subjects
from aigov.results.findings import Finding, Outcome, blocks, undecided
from aigov.results.severity import Severity

_DESCRIPTOR_HEADER = "schema_version"


def read_deployment(path: Path) -> DeploymentBase:
    """The deployment described by the file at ``path`` (``aigov gate --deployment``): one
    registry deployment record (YAML or JSON), or a registry file holding exactly one
    deployment and nothing else.

    Anything else raises :class:`~aigov.errors.InputError`, never partly read: several
    documents, other sections beside ``deployments`` (``models:``, ...), several deployments,
    keys that are no deployment field, invalid values. Every problem names the file and
    line."""
    documents = load_file(path)
    document = documents[0]
    where = document.file

    def invalid(problems: list[Problem]) -> InputError:
        return InputError(problems, "invalid deployment descriptor")

    if len(documents) != 1:
        raise invalid(
            [
                Problem(
                    where,
                    documents[1].start_line,
                    f"a deployment descriptor is one YAML document (found {len(documents)})",
                )
            ]
        )
    data = document.data
    if not isinstance(data, dict):
        raise invalid(
            [
                Problem(
                    where,
                    document.start_line,
                    "a deployment descriptor is a mapping: one deployment record, or a "
                    "registry file whose only section is 'deployments' with one record",
                )
            ]
        )
    base: tuple[Any, ...] = ()
    if "deployments" in data or any(key in SECTIONS for key in data):
        problems = [
            Problem(
                where,
                document.line_of((key,)),
                f"unexpected section '{key}': a deployment descriptor holds one deployment "
                "and nothing else",
            )
            for key in data
            if key not in ("deployments", _DESCRIPTOR_HEADER)
        ]
        version = data.get(_DESCRIPTOR_HEADER, FORMAT_VERSION)
        if type(version) is not int or version not in READABLE_VERSIONS:
            readable = " and ".join(map(str, READABLE_VERSIONS))
            problems.append(
                Problem(
                    where,
                    document.line_of((_DESCRIPTOR_HEADER,)),
                    f"unsupported schema_version {version!r} (this aigov reads {readable})",
                )
            )
        items = data.get("deployments")
        count = len(items) if isinstance(items, list) else 0
        if not isinstance(items, list) or count != 1:
            found = f"{count} records" if isinstance(items, list) else "no list of records"
            problems.append(
                Problem(
                    where,
                    document.line_of(("deployments",)),
                    f"a deployment descriptor holds exactly one deployment (found {found})",
                    field="deployments",
                )
            )
        if problems or not isinstance(items, list):
            raise invalid(problems)
        data, base = items[0], ("deployments", 0)
    try:
        return DeploymentBase.model_validate(data)
    except ValidationError as exc:
        label = f"deployment '{data.get('id')}'" if isinstance(data, dict) else "deployment"
        raise invalid(validation_problems(exc, document, base, label)) from None


def proposed_deployment(
    model: str,
    platform: str,
    region: str | None,
    environment: str,
    exposure: str,
    guardrails: Iterable[str] = (),
    approval: str | None = None,
) -> DeploymentBase:
    """The deployment a gate decides on, from the values ``aigov gate`` takes as flags.

    A deployment of the registry's ``model`` (its id) on ``platform`` (e.g.
    ``azure-ai-foundry``) in ``region`` (e.g. ``eastus``; None for a global endpoint, whose
    region is ``global``); its id is
    ``proposed:MODEL:PLATFORM:REGION:ENVIRONMENT`` and its status ``planned``.
    ``environment`` is ``dev``, ``staging`` or ``prod``; ``exposure`` is ``internal``,
    ``customer_facing`` or ``public_catalog`` (the CLI's defaults are ``prod`` and
    ``internal``); ``guardrails`` are the guardrails it will have; ``approval`` the id of the
    approval it is made under (policies about that approval then decide too).

    Raises :class:`~aigov.errors.InputError` for a value the deployment record does not
    accept (an unknown environment or exposure, a malformed id)."""
    try:
        return DeploymentBase.model_validate(
            {
                "id": f"proposed:{model}:{platform}:{region or GLOBAL_REGION}:{environment}",
                "model": model,
                "platform": platform,
                "region": region or GLOBAL_REGION,
                "environment": environment,
                "exposure": exposure,
                "status": "planned",
                "guardrails": list(guardrails),
                "approval": approval,
            }
        )
    except ValidationError as exc:
        problems = [
            Problem("<command line>", None, str(e["msg"]), field=".".join(map(str, e["loc"])))
            for e in exc.errors()
        ]
        raise InputError(problems, "invalid proposed deployment") from None


def gate(
    registry: Registry | str | None,
    deployment: DeploymentBase,
    policies: PolicySet | Iterable[str | Path] | None = None,
    *,
    as_of: dt.date | None = None,
    fail_on: Severity | str = Severity.high,
    fail_on_indeterminate: bool = False,
    registry_digest: bool = False,
) -> GateDecision:
    """Decide whether ``deployment`` (hypothetical) may go ahead, as ``aigov gate`` does.

    The deployment is added to its model's partition as a hypothetical fact (it need not
    exist in the registry, and nothing is written), every policy is evaluated, and the
    findings about what the deployment relies on decide: the deployment, its model, the
    approval it names and the waivers of any of those (``depends_on`` in the decision).

    Args:
        registry: an open :class:`~aigov.registry.store.Registry` (left open), a database
            URL (opened and closed here), or None for ``$AIGOV_DB`` / ``sqlite:///aigov.db``.
        deployment: the proposed deployment: from :func:`proposed_deployment` (the CLI's
            flags), :func:`read_deployment` (a descriptor file), or any
            :class:`~aigov.registry.records.DeploymentBase`.
        policies: a :class:`~aigov.policy.ast.PolicySet` from :func:`aigov.load_policies`,
            policy files and directories (they replace the shipped library), or None for
            the shipped library.
        as_of: the evaluation date (default: today).
        fail_on: the lowest severity whose ``fail`` or ``review`` findings DENY (default
            ``high``).
        fail_on_indeterminate: DENY (exit code 3) when a finding at or above ``fail_on`` is
            ``indeterminate`` (a fact the policy requires is missing) and nothing blocks.
        registry_digest: also compute the registry's digest (``registry_digest`` in the
            decision: what the decision log records).

    Returns:
        The :class:`~aigov.results.decisions.GateDecision`: ``decision`` (``ALLOW`` or
        ``DENY``), the CLI's ``exit_code`` (0, 1 or 3), the ``reason``, and the findings that
        decided (``blocking``, ``indeterminate``) beside those that did not (``waived``,
        ``below_threshold``), with each policy's remediation.

    Raises:
        aigov.errors.AigovError: on any error (the CLI prints ``DENY (error: ...)`` and exits
            2): an unknown model (``NotFoundError``), an approval named that is not the
            model's, invalid policies (``InputError``), a missing or unreadable registry
            (``RegistryError``), a failure of the rules engine. The caller must treat any
            exception as DENY: the gate fails closed.
    """
    pipeline = Pipeline(policies, as_of, fail_on=fail_on)
    fail_on = pipeline.fail_on
    with pipeline.registry(registry) as reg:
        digest = compute_registry_digest(reg) if registry_digest else None
        ids = pipeline.model_ids(reg, [deployment.model])  # NotFoundError, with suggestions
        partitions = list(pipeline.partitions(reg, ids, [deployment]))
    # The model's approval records, not any record of its partition (a provider or a
    # lineage ancestor is no approval).
    if deployment.approval and deployment.approval not in partitions[0].subjects["approval"]:
        raise NotFoundError(
            f"deployment names approval '{deployment.approval}', which is not an approval "
            f"of model '{deployment.model}'"
        )
    result = pipeline.evaluate(partitions[0])
    subjects = gate_subjects(deployment.id, deployment.model, deployment.approval, result.waivers)
    relevant = [f for f in result.findings if concerns(f, subjects)]
    blocking: list[Finding] = []
    indeterminate: list[Finding] = []
    waived: list[Finding] = []
    below: list[Finding] = []
    for f in relevant:
        if blocks(f, fail_on):
            blocking.append(f)
        elif undecided(f, fail_on):
            indeterminate.append(f)
        elif f.outcome == Outcome.waived:
            waived.append(f)
        else:
            below.append(f)
    if blocking:
        decision, code = "DENY", EXIT_DENY
        reason = f"{len(blocking)} finding(s) at or above {fail_on.value}"
    elif indeterminate and fail_on_indeterminate:
        decision, code = "DENY", EXIT_INDETERMINATE
        reason = f"{len(indeterminate)} indeterminate finding(s) at or above {fail_on.value}"
    else:
        decision, code = "ALLOW", EXIT_ALLOW
        reason = "no finding at or above " + fail_on.value
    by_id = pipeline.policy_set.by_id()
    return GateDecision(
        decision=decision,
        exit_code=code,
        reason=reason,
        model=deployment.model,
        deployment=deployment.model_dump(mode="json", exclude_none=True),
        as_of=pipeline.as_of,
        fail_on=fail_on,
        fail_on_indeterminate=fail_on_indeterminate,
        policy_digest=pipeline.policy_set.digest,
        registry_digest=digest,
        blocking=blocking,
        indeterminate=indeterminate,
        waived=waived,
        below_threshold=below,
        remediation={f.policy: by_id[f.policy].doc.remediation for f in relevant},
        depends_on=subjects,
    )
