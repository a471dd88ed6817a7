"""OSCAL: framework coverage as assessment results, and the mapping as a component definition.

Both documents are built with the OSCAL models of compliance-trestle (the ``oscal`` extra:
``pip install 'aigov-rules[oscal]'``), which validate them as they are built, and are written
as OSCAL JSON (one top-level key, ``assessment-results`` or ``component-definition``).

Assessment results (``aigov coverage --format oscal``), from an audit run:

* one ``result`` per framework with at least one covered control; ``reviewed-controls``
  selects the covered controls, by their OSCAL ids (``Art. 53(1)(c)`` is ``art-53-1-c``, see
  :func:`aigov.results.coverage.oscal_token`); the framework's controls that no policy
  covers are named in the result's ``remarks`` (aigov does not assess them);
* one ``observation`` per finding (fail, review, indeterminate, waived) of a policy that
  implements a reviewed control: the finding's message, with its policy, outcome, severity,
  model, subject and finding id as properties;
* one ``finding`` per covered control, targeting the control's objective
  (``objective-id``, ``<oscal id>_obj``), related to the observations of its policies. Its
  status follows the worst outcome over the audited models (:data:`STATUS`); a control whose
  policies applied to no model has no status.

The component definition (``--format oscal-component``) describes the policy set as one
component of type ``policy``: one ``control-implementation`` per framework (its ``source``
the framework's URL), one ``implemented-requirement`` per covered control naming the
policies that implement it.

Output is deterministic: every uuid is a version-5 uuid of what the object stands for (run,
framework, control, finding id), and the times are the run's start; a component definition,
which no run dates, carries the time of ``SOURCE_DATE_EPOCH`` (the reproducible-builds
convention), else the Unix epoch.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from typing import TYPE_CHECKING, Any

from aigov.errors import AigovError
from aigov.results.coverage import ControlCoverage, CoverageReport, FrameworkCoverage
from aigov.results.findings import AuditResult, Finding, Outcome

if TYPE_CHECKING:
    from trestle.oscal import common

NAMESPACE = "https://aigov.dev/ns/oscal"
_UUID_BASE = "https://aigov.dev/oscal/"

# Worst outcome of a control over the audited models -> (objective state, reason).
STATUS: dict[Outcome, tuple[str, str]] = {
    Outcome.fail: ("not-satisfied", "fail"),
    Outcome.review: ("not-satisfied", "other"),  # a legal judgement is pending
    Outcome.indeterminate: ("not-satisfied", "other"),  # a required fact is missing
    Outcome.waived: ("not-satisfied", "other"),  # accepted by a waiver, not met
    Outcome.passed: ("satisfied", "pass"),
}


def _trestle() -> Any:
    try:
        import trestle.oscal.assessment_results as ar
        import trestle.oscal.common as oscal_common
        import trestle.oscal.component as cd
    except ImportError:
        raise AigovError(
            "OSCAL output needs compliance-trestle: pip install 'aigov-rules[oscal]'"
        ) from None
    return ar, oscal_common, cd


def stable_uuid(*parts: str) -> str:
    """A version-5 uuid of what an object stands for: the same input, the same uuid."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, _UUID_BASE + "/".join(parts)))


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _prop(common: Any, name: str, value: str) -> common.Property:
    return common.Property(name=name, value=value, ns=NAMESPACE)


def _started(report: CoverageReport) -> dt.datetime:
    run = report.run
    assert run is not None
    if run.started_at is not None:
        return _aware(run.started_at)
    return dt.datetime.combine(run.as_of, dt.time(), tzinfo=dt.UTC)


def _counts(counts: dict[Outcome, int]) -> str:
    return ", ".join(f"{n} {o.value}" for o, n in counts.items()) or "none"


def _observation(common: Any, result_uuid: str, finding: Finding, collected: dt.datetime) -> Any:
    return common.Observation(
        uuid=stable_uuid(result_uuid, "observation", finding.id),
        title=f"{finding.policy} {finding.outcome.value}: {finding.subject_kind} {finding.subject}",
        description=finding.message,
        props=[
            _prop(common, "policy-id", finding.policy),
            _prop(common, "outcome", finding.outcome.value),
            _prop(common, "severity", finding.severity.value),
            _prop(common, "model", finding.model),
            _prop(common, "subject-kind", finding.subject_kind),
            _prop(common, "subject", finding.subject),
            _prop(common, "finding-id", finding.id),
        ],
        methods=["TEST"],
        types=["finding"],
        collected=collected,
    )


def _finding(
    common: Any, result_uuid: str, control: ControlCoverage, observations: list[str]
) -> Any:
    status = None
    remarks = (
        f"Policies: {', '.join(control.policies)}. Models by worst outcome: "
        f"{_counts(control.models)}. Findings: {_counts(control.findings)}."
    )
    if control.outcome in STATUS:
        state, reason = STATUS[control.outcome]
        status = common.ObjectiveStatus(state=state, reason=reason, remarks=remarks)
    target = common.FindingTarget(
        type="objective-id",
        target_id=f"{control.oscal_id}_obj",
        title=control.id,
        status=status,
        remarks=None if status is not None else remarks + " No audited model was in scope.",
    )
    return common.Finding(
        uuid=stable_uuid(result_uuid, "finding", control.oscal_id),
        title=control.id,
        description=control.title,
        props=[_prop(common, "policy-id", pid) for pid in control.policies],
        target=target,
        related_observations=[common.RelatedObservation(observation_uuid=u) for u in observations]
        or None,
    )


def _result(
    ar: Any,
    common: Any,
    document_uuid: str,
    framework: FrameworkCoverage,
    findings: list[Finding],
    started: dt.datetime,
) -> Any:
    result_uuid = stable_uuid(document_uuid, "result", framework.id)
    covered = [c for c in framework.controls if c.covered]
    policies = {pid for c in covered for pid in c.policies}
    by_policy: dict[str, list[Finding]] = {}
    for finding in findings:
        if finding.policy in policies:
            by_policy.setdefault(finding.policy, []).append(finding)
    observations = {
        f.id: _observation(common, result_uuid, f, started)
        for pid in sorted(by_policy)
        for f in by_policy[pid]
    }
    oscal_findings = [
        _finding(
            common,
            result_uuid,
            control,
            [observations[f.id].uuid for pid in control.policies for f in by_policy.get(pid, [])],
        )
        for control in covered
    ]
    uncovered = [c.id for c in framework.controls if not c.covered]
    return ar.Result(
        uuid=result_uuid,
        title=f"{framework.short_title}: coverage by aigov policies",
        description=(
            f"{framework.title} ({framework.version}): {framework.covered} of "
            f"{framework.total} listed controls are checked by aigov policies. {framework.note}"
        ),
        start=started,
        props=[
            _prop(common, "framework", framework.id),
            _prop(common, "catalogue-scope", framework.scope),
        ],
        links=[common.Link(href=framework.url, rel="reference", text=framework.title)],
        reviewed_controls=common.ReviewedControls(
            control_selections=[
                common.ControlSelections(
                    include_controls=[
                        common.SelectControlById(control_id=c.oscal_id) for c in covered
                    ]
                )
            ]
        ),
        observations=[observations[k] for k in sorted(observations)] or None,
        findings=oscal_findings,
        remarks=(
            "Not covered by any policy (not assessed): " + ", ".join(uncovered) + "."
            if uncovered
            else None
        ),
    )


def assessment_results(report: CoverageReport, result: AuditResult | None) -> str:
    """The OSCAL assessment results of the coverage of an audit run (OSCAL JSON)."""
    if report.run is None or result is None:
        raise AigovError(
            "OSCAL assessment results need an audit run: record one with 'aigov audit' (or "
            "name it with --run); '--format oscal-component' writes the mapping alone"
        )
    ar, common, _cd = _trestle()
    started = _started(report)
    run = report.run
    document_uuid = stable_uuid(
        "assessment-results",
        run.id or run.as_of.isoformat(),
        run.policy_digest,
        run.registry_digest or "",
        *(f.id for f in report.frameworks),
    )
    results = [
        _result(ar, common, document_uuid, framework, result.findings, started)
        for framework in report.frameworks
        if framework.covered
    ]
    if not results:
        raise AigovError("no policy of the run covers a control of the chosen frameworks")
    document = ar.AssessmentResults(
        uuid=document_uuid,
        metadata=common.Metadata(
            title=f"aigov audit {run.id or run.as_of.isoformat()}: framework coverage",
            last_modified=started,
            version=run.id or run.as_of.isoformat(),
            oscal_version=ar.OSCAL_VERSION,
            props=[
                _prop(common, "tool-version", run.tool_version),
                _prop(common, "as-of", run.as_of.isoformat()),
                _prop(common, "policy-digest", run.policy_digest),
                _prop(common, "registry-digest", run.registry_digest or "none"),
                _prop(common, "models", str(run.models)),
            ],
        ),
        import_ap=ar.ImportAp(
            href=f"urn:aigov:policy-set:{run.policy_digest}",
            remarks="aigov keeps no assessment plan: the plan is the policy set of this "
            "digest, evaluated by 'aigov audit'.",
        ),
        results=results,
    )
    return document.oscal_serialize_json_bytes(pretty=True).decode() + "\n"


def _epoch() -> dt.datetime:
    raw = os.environ.get("SOURCE_DATE_EPOCH", "")
    seconds = int(raw) if raw.isdigit() else 0
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)


def component_definition(report: CoverageReport, result: AuditResult | None = None) -> str:
    """The OSCAL component definition of the policy-to-control mapping (OSCAL JSON)."""
    _ar, common, cd = _trestle()
    digest = report.policy_digest or (report.run.policy_digest if report.run else "")
    document_uuid = stable_uuid(
        "component-definition", report.mapping, digest, *(f.id for f in report.frameworks)
    )
    component_uuid = stable_uuid(document_uuid, "component")
    titles = {p.id: p.title for p in report.policies}
    implementations = [
        cd.ControlImplementation(
            uuid=stable_uuid(component_uuid, framework.id),
            source=framework.url,
            description=f"{framework.title} ({framework.version}): the controls aigov "
            f"policies check ({framework.covered} of {framework.total} listed).",
            props=[_prop(common, "framework", framework.id)],
            implemented_requirements=[
                cd.ImplementedRequirement(
                    uuid=stable_uuid(component_uuid, framework.id, control.oscal_id),
                    control_id=control.oscal_id,
                    description="Checked by: "
                    + "; ".join(f"{pid} ({titles.get(pid, pid)})" for pid in control.policies),
                    props=[_prop(common, "policy-id", pid) for pid in control.policies],
                    remarks=f"{control.id}: {control.title}",
                )
                for control in framework.controls
                if control.covered
            ],
        )
        for framework in report.frameworks
        if framework.covered
    ]
    if not implementations:
        raise AigovError("no policy covers a control of the chosen frameworks")
    document = cd.ComponentDefinition(
        uuid=document_uuid,
        metadata=common.Metadata(
            title="aigov policy set: framework control mapping",
            last_modified=_epoch(),
            version=digest[:12] or report.tool_version,
            oscal_version=_ar.OSCAL_VERSION,
            props=[
                _prop(common, "tool-version", report.tool_version),
                _prop(common, "policy-digest", digest or "none"),
                _prop(common, "mapping", report.mapping.replace(" ", "-")),
            ],
        ),
        components=[
            cd.DefinedComponent(
                uuid=component_uuid,
                type="policy",
                title="aigov policy set",
                description="The aigov policies evaluated against the model registry; each "
                "implemented requirement names the policies that check the control.",
                control_implementations=implementations,
            )
        ],
    )
    return document.oscal_serialize_json_bytes(pretty=True).decode() + "\n"
