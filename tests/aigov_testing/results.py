"""Synthetic audit results of any size (optionally full of markup), shaped like a real audit;
shared by test_reports and test_report_browser."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from pathlib import Path
from typing import Any

from aigov.results.findings import (
    BLOCKING,
    AuditResult,
    Change,
    DeploymentInfo,
    DiffEntry,
    EvidenceRecord,
    Finding,
    InvestigationInfo,
    Match,
    ModelResult,
    Outcome,
    PathStep,
    PolicyInfo,
    RunInfo,
    WaiverInfo,
    WaiverRef,
    finding_id,
)
from aigov.results.severity import Family, Severity
from aigov_testing.markup import HOSTILE

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

AS_OF = dt.date(2025, 6, 1)


def _policy(pid: str, title: str, family: Family, severity: Severity, **extra: Any) -> PolicyInfo:
    return PolicyInfo(
        id=pid,
        title=title,
        description=f"{title}. Synthetic policy for the report tests.",
        family=family,
        severity=severity,
        references=[
            {
                "title": f"Reference for {pid}",
                "section": "1.2",
                "url": f"https://example.com/policies/{pid}",
            },
        ],
        remediation=f"Fix what {pid} reports.",
        tags=[family.value],
        source=f"policies/{family.value}.yaml:1",
        **extra,
    )


POLICIES = [
    _policy(
        "HOST-001", "Deployment without a covering approval", Family.hosting, Severity.critical
    ),
    _policy(
        "TOS-001", "Trained on outputs of a provider that prohibits it", Family.tos, Severity.high
    ),
    _policy(
        "PROV-001", "Training data under a non-commercial licence", Family.provenance, Severity.high
    ),
    _policy(
        "INV-001", "Hosted model under open investigation", Family.investigation, Severity.medium
    ),
    _policy("GOV-001", "Model has no owner", Family.governance, Severity.low),
    _policy("REG-001", "GPAI documentation missing", Family.regulatory, Severity.medium),
    _policy("REG-002", "Model card lacks energy figures", Family.regulatory, Severity.info),
    _policy(
        "AIGOV-WAIVER-EXPIRED",
        "Waiver has expired",
        Family.governance,
        Severity.medium,
        builtin=True,
    ),
]
POLICY = {p.id: p for p in POLICIES}


def _step(
    child: str,
    relation: str,
    parent: str,
    parent_kind: str = "model",
    confidence: str | None = "declared",
) -> PathStep:
    return PathStep(
        edge=f"{child}~{relation}~{parent}",
        child=child,
        child_kind="model",
        relation=relation,
        parent=parent,
        parent_kind=parent_kind,
        confidence=confidence,
    )


def _finding(
    policy: str,
    model: str,
    outcome: Outcome,
    message: str,
    *,
    subject_kind: str = "model",
    subject: str | None = None,
    evidence: list[Match] | None = None,
    **extra: Any,
) -> Finding:
    p = POLICY[policy]
    subject = subject or model
    return Finding(
        id=finding_id(policy, subject_kind, subject),
        policy=policy,
        title=p.title,
        severity=p.severity,
        family=p.family,
        outcome=outcome,
        model=model,
        subject_kind=subject_kind,
        subject=subject,
        message=message,
        evidence=evidence or [],
        **extra,
    )


def synthetic_result(
    n_models: int,
    *,
    hostile: bool = False,
    run: bool = False,
    changes: bool = False,
    settled: bool = False,
) -> AuditResult:
    """An AuditResult shaped like a real audit of ``n_models`` models: deployments, lineage
    through shared bases, about two findings per model with evidence (clause quotes,
    lineage paths, absences, missing fields), waivers (some expired) and investigations.

    With ``hostile``, model 0 (``evil``) carries script-injection strings in every free-text
    field a registry supplies (names, allegation, authority, reason, platform, clause quote).

    With ``settled``, model 1 also lists a ``pass`` finding (GOV-001 on the model) and a
    ``not_applicable`` one (HOST-001 on its deployment), as a stored result may: the engine
    keeps no such findings, and SARIF, text and Markdown must not list them.
    """
    n_bases = max(1, n_models // 50)
    models: list[ModelResult] = []
    findings: list[Finding] = []
    waivers: list[WaiverInfo] = []
    counts: Counter[Outcome] = Counter()
    hosted: list[str] = []
    for i in range(n_models):
        mid = "evil" if hostile and i == 0 else f"model-{i:05d}"
        name = f"Model {i:05d} {HOSTILE}" if hostile and i == 0 else f"Model {i:05d} Chat"
        base = f"base-{i % n_bases:03d}"
        lineage = [
            _step(mid, "finetune", base),
            _step(
                base, "distillation", "frontier-1", confidence="alleged" if i % 2 else "declared"
            ),
            _step(base, "trained_on", f"corpus-{i % 7}", "dataset"),
        ]
        deps = [
            DeploymentInfo(
                id=f"dep-{i:05d}-prod",
                platform=HOSTILE if hostile and i == 0 else "acme-cloud",
                region="eu-west-1",
                environment="prod",
                exposure="public_catalog",
                status="active",
                approval=None if i % 3 == 0 else f"appr-{i:05d}",
            )
        ]
        if i % 3 == 0:
            deps.append(
                DeploymentInfo(
                    id=f"dep-{i:05d}-dev",
                    platform="acme-cloud",
                    region="us-east-1",
                    environment="dev",
                    exposure="internal",
                    status="active",
                    approval=None,
                )
            )
        hosted.append(mid)
        mine: list[Finding] = []
        if i % 3 == 0:
            waived = i % 13 == 0
            expired = waived and i % 26 == 0
            wid = f"waiver-{i:05d}"
            ref = None
            if waived:
                reason = HOSTILE if hostile and i == 0 else "sandbox, no external traffic"
                ref = WaiverRef(
                    id=wid,
                    reason=reason,
                    approved_by="ciso",
                    expires_at=AS_OF - dt.timedelta(days=3)
                    if expired
                    else AS_OF + dt.timedelta(days=20 + i % 200),
                    expired=expired,
                )
                waivers.append(
                    WaiverInfo(
                        id=wid,
                        policy="HOST-001",
                        subject=f"dep-{i:05d}-prod",
                        model=mid,
                        reason=reason,
                        approved_by="ciso",
                        granted_at=AS_OF - dt.timedelta(days=100),
                        expires_at=ref.expires_at,
                        expired=expired,
                    )
                )
                if expired:
                    mine.append(
                        _finding(
                            "AIGOV-WAIVER-EXPIRED",
                            mid,
                            Outcome.fail,
                            f"Waiver {wid} for policy HOST-001 expired on {ref.expires_at}",
                            subject_kind="waiver",
                            subject=wid,
                            evidence=[
                                Match(
                                    records=[
                                        EvidenceRecord(
                                            role="waiver",
                                            kind="waiver",
                                            id=wid,
                                            fields={"expired": True},
                                        )
                                    ]
                                )
                            ],
                        )
                    )
            mine.append(
                _finding(
                    "HOST-001",
                    mid,
                    Outcome.waived if waived and not expired else Outcome.fail,
                    f"Deployment dep-{i:05d}-prod of {name} has no covering approval",
                    subject_kind="deployment",
                    subject=f"dep-{i:05d}-prod",
                    evidence=[
                        Match(
                            records=[
                                EvidenceRecord(
                                    role="dep",
                                    kind="deployment",
                                    id=f"dep-{i:05d}-prod",
                                    fields={"environment": "prod"},
                                )
                            ]
                        )
                    ],
                    absent=[
                        "no approval with appr.status in [approved, conditional], "
                        "appr.scope.regions contains dep.region"
                    ],
                    waiver=ref,
                )
            )
        if i % 7 == 0 or (hostile and i == 0):
            quote = HOSTILE if hostile and i == 0 else "Use Output to develop models that compete."
            mine.append(
                _finding(
                    "TOS-001",
                    mid,
                    Outcome.review,
                    f"{name} descends from frontier-1 whose terms prohibit competing use",
                    evidence=[
                        Match(
                            records=[
                                EvidenceRecord(role="model", kind="model", id=mid),
                                EvidenceRecord(
                                    role="teacher",
                                    kind="model",
                                    id="frontier-1",
                                    fields={"provider": "frontier"},
                                ),
                                EvidenceRecord(
                                    role="clause",
                                    kind="clause",
                                    id="frontier-terms#clauses[0]",
                                    fields={
                                        "type": "prohibits_competing_use_of_outputs",
                                        "quote": quote,
                                        "section": "2(c)(iii)",
                                        "ambiguity": "'compete' is undefined",
                                    },
                                ),
                            ],
                            path=lineage[:2],
                        )
                    ],
                )
            )
        if i % 2 == 0:
            mine.append(
                _finding(
                    "PROV-001",
                    mid,
                    Outcome.fail,
                    f"{name} was trained on corpus-{i % 7} (CC-BY-NC-4.0)",
                    evidence=[
                        Match(
                            records=[
                                EvidenceRecord(role="model", kind="model", id=mid),
                                EvidenceRecord(
                                    role="data",
                                    kind="dataset",
                                    id=f"corpus-{i % 7}",
                                    fields={"licences": ["CC-BY-NC-4.0"], "licence_rank": 3},
                                ),
                            ],
                            path=[lineage[0], lineage[2]],
                        )
                    ],
                )
            )
        if i % 5 == 0:
            mine.append(
                _finding(
                    "GOV-001",
                    mid,
                    Outcome.fail,
                    f"{name} has no owner",
                    evidence=[
                        Match(
                            records=[
                                EvidenceRecord(
                                    role="model", kind="model", id=mid, fields={"owner": None}
                                )
                            ]
                        )
                    ],
                )
            )
        if i % 11 == 0:
            mine.append(
                _finding(
                    "REG-001",
                    mid,
                    Outcome.indeterminate,
                    f"{name}: GPAI documentation cannot be checked",
                    missing=["model.is_gpai"],
                )
            )
        if i % 4 == 1:
            mine.append(
                _finding(
                    "INV-001",
                    mid,
                    Outcome.fail,
                    f"{name} is hosted while inv-{i % 5} is open",
                    subject_kind="deployment",
                    subject=f"dep-{i:05d}-prod",
                    evidence=[
                        Match(
                            records=[
                                EvidenceRecord(
                                    role="dep", kind="deployment", id=f"dep-{i:05d}-prod"
                                ),
                                EvidenceRecord(
                                    role="inv",
                                    kind="investigation",
                                    id=f"inv-{i % 5}",
                                    fields={"status": "open"},
                                ),
                            ]
                        )
                    ],
                )
            )
        outcomes: dict[str, Outcome] = {
            p.id: Outcome.passed for p in POLICIES if p.id not in ("AIGOV-WAIVER-EXPIRED",)
        }
        order = [Outcome.fail, Outcome.review, Outcome.indeterminate, Outcome.waived]
        for f in mine:
            current = outcomes.get(f.policy, Outcome.passed)
            if current not in order or order.index(f.outcome) < order.index(current):
                outcomes[f.policy] = f.outcome
        if settled and i == 1:
            # GOV-001 passes on the model; HOST-001 applies to none of its subjects, so the
            # model has no HOST-001 outcome (as the engine reports it).
            del outcomes["HOST-001"]
            mine.append(
                _finding("GOV-001", mid, Outcome.passed, f"{name} has an owner: {mid}-owner")
            )
            mine.append(
                _finding(
                    "HOST-001",
                    mid,
                    Outcome.not_applicable,
                    f"HOST-001 does not apply to dep-{i:05d}-prod",
                    subject_kind="deployment",
                    subject=f"dep-{i:05d}-prod",
                )
            )
        counts[Outcome.passed] += sum(1 for o in outcomes.values() if o == Outcome.passed)
        counts.update(f.outcome for f in mine)
        blocked = any(f.outcome in BLOCKING and f.severity.rank >= Severity.high.rank for f in mine)
        status = "blocked" if blocked else ("attention" if mine else "clean")
        models.append(
            ModelResult(
                id=mid,
                name=name,
                provider="frontier" if i % 2 else "acme",
                licence=None if i % 11 == 0 else "apache-2.0",
                owner=None if i % 5 == 0 else f"team-{i % 9}@example.com",
                status=status,
                outcomes=dict(sorted(outcomes.items())),
                deployments=deps,
                lineage=lineage,
            )
        )
        findings += mine
    models.sort(key=lambda m: m.id)
    findings.sort(key=lambda f: (f.model, f.policy, f.subject_kind, f.subject))
    allegation = HOSTILE if hostile else "use of API outputs to train a competing model"
    investigations = [
        InvestigationInfo(
            id=f"inv-{k}",
            subject="frontier" if k % 2 else f"base-{k:03d}",
            authority=HOSTILE if hostile and k == 0 else f"Authority {k}",
            authority_type="regulator",
            allegation=allegation,
            status="open" if k < 4 else "closed_unsubstantiated",
            opened_at=AS_OF - dt.timedelta(days=30 * (k + 1)),
            confidence="declared",
            models=sorted(hosted[k::5]),
            hosted_models=sorted(hosted[k::5]),
        )
        for k in range(5)
    ]
    result = AuditResult(
        tool_version="0.1.0",
        as_of=AS_OF,
        fail_on=Severity.high,
        policy_digest=hashlib.sha256(b"policies").hexdigest(),
        registry_digest=hashlib.sha256(f"registry-{n_models}".encode()).hexdigest(),
        run=RunInfo(id="run-0001", started_at=dt.datetime(2025, 6, 1, 12, 30, 5, tzinfo=dt.UTC))
        if run
        else None,
        counts={o: counts.get(o, 0) for o in Outcome},
        policies=POLICIES,
        models=models,
        findings=findings,
        waivers=sorted(waivers, key=lambda w: w.id),
        investigations=investigations,
    )
    if changes:
        entries = [
            DiffEntry(
                change=Change.new if k % 2 else Change.resolved,
                finding_id=f.id,
                policy=f.policy,
                model=f.model,
                subject_kind=f.subject_kind,
                subject=f.subject,
                before=None if k % 2 else f.outcome,
                after=f.outcome if k % 2 else None,
                severity=f.severity,
                message=f.message,
            )
            for k, f in enumerate(findings[:6])
        ]
        result = result.model_copy(update={"changes": entries, "since": "run-0000"})
    return result
