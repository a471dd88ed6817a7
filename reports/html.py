"""HTML: one self-contained compliance report for auditors.

One file, nothing loaded from the network: the stylesheet and the script are inlined and a
Content-Security-Policy allows exactly those two (by their sha256 hashes, computed here), so
the output is byte-identical for identical input and no injected markup could run.

What is rendered where:

* Jinja (``templates/report.html``, autoescaped) renders the parts whose size grows slowly:
  run metadata, the executive summary, open investigations, the waiver register, the policy
  catalogue and the changes since an earlier run.
* The per-model sections (deployments, lineage, findings with evidence, clause text,
  remediation) travel as one JSON document in a ``<script type="application/json">`` block
  (``<``, ``>`` and ``&`` escaped) and are built by ``templates/report.js`` with DOM calls
  (``textContent``, never HTML strings), one page of models at a time, each model collapsed
  until opened. This keeps a 10,000-model report to a few megabytes and a small DOM
  (ORT's single-file report choked at 50 MB); filters and search run on that data.

The embedded JSON is a compact view of :class:`~aigov.results.findings.AuditResult`, not the JSON
report (use ``--format json`` for that): policies and lineage edges are listed once and
referred to by index. See :func:`page_data` for its keys.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections import Counter, defaultdict
from functools import cache
from importlib import resources
from typing import Any

import jinja2
from markupsafe import Markup

from aigov.reports.common import SHOWN, first_web_url, unlisted_policies, web_url
from aigov.reports.coverage import counts_text
from aigov.results.coverage import CoverageReport
from aigov.results.findings import (
    BLOCKING,
    OUTCOME_ORDER,
    AuditResult,
    Change,
    Finding,
    Match,
    ModelResult,
    Outcome,
    PathStep,
)
from aigov.results.severity import Family, Severity

SEVERITIES = list(Severity)
# How many items a summary list shows before "and N more" (the full lists are in the
# per-model sections, the JSON report and the waiver register).
SUMMARY_CAP = 25
CHANGES_CAP = 2000
INVESTIGATION_MODELS_CAP = 20
CLOSED_INVESTIGATION = "closed"  # statuses closed_* are closed; reported/open are not


# ----------------------------------------------------------------------------- assets


def _asset(name: str) -> str:
    text = resources.files("aigov.reports").joinpath("templates", name).read_text(encoding="utf-8")
    lowered = text.lower()
    if "</script" in lowered or "</style" in lowered or "<!--" in lowered:
        raise ValueError(f"templates/{name} must not contain '</script', '</style' or '<!--'")
    return text


def csp_hash(text: str) -> str:
    """The CSP source expression allowing an inline element whose content is ``text``."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("aigov.reports", "templates"),
        autoescape=True,  # every {{ }} is HTML-escaped; data is never marked safe
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals["safe_url"] = web_url
    env.filters["counts"] = counts_text
    return env


@cache
def _assets() -> tuple[str, str]:
    return _asset("report.css"), _asset("report.js")


# ----------------------------------------------------------------------------- JSON for JS


def script_json(data: Any) -> Markup:
    """JSON safe to place inside ``<script type="application/json">``: no ``<``, ``>`` or
    ``&`` survives, so no data can close the element or open a comment."""
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return Markup(text)  # escaped above: JSON text, not data marked safe


def _finding_order(finding: Finding) -> tuple[Any, ...]:
    return (
        OUTCOME_ORDER.index(finding.outcome),
        -finding.severity.rank,
        finding.policy,
        finding.subject_kind,
        finding.subject,
    )


class _Edges:
    """Lineage edges listed once and referred to by index."""

    def __init__(self) -> None:
        self.index: dict[tuple[Any, ...], int] = {}
        self.rows: list[list[Any]] = []

    def __call__(self, step: PathStep) -> int:
        row = [
            step.child,
            step.child_kind,
            step.relation,
            step.parent,
            step.parent_kind,
            step.confidence,
            step.edge,
        ]
        key = tuple(row)
        if key not in self.index:
            self.index[key] = len(self.rows)
            self.rows.append(row)
        return self.index[key]


def _match(match: Match, edges: _Edges) -> dict[str, Any]:
    out: dict[str, Any] = {
        "r": [
            [r.role, r.kind, r.id, r.fields] if r.fields else [r.role, r.kind, r.id]
            for r in match.records
        ]
    }
    if match.path:
        out["p"] = [edges(s) for s in match.path]
    if match.paths:
        out["q"] = {alias: [edges(s) for s in steps] for alias, steps in match.paths.items()}
    return out


def _finding(finding: Finding, policy_index: dict[str, int], edges: _Edges) -> dict[str, Any]:
    out: dict[str, Any] = {
        "p": policy_index[finding.policy],
        "o": finding.outcome.value,
        "k": finding.subject_kind,
        "s": finding.subject,
        "m": finding.message,
        "i": finding.id,
    }
    if finding.evidence:
        out["e"] = [_match(m, edges) for m in finding.evidence]
    if finding.evidence_omitted:
        out["n"] = finding.evidence_omitted
    if finding.absent:
        out["a"] = finding.absent
    if finding.missing:
        out["x"] = finding.missing
    if finding.weak_facts:
        out["y"] = finding.weak_facts
    if finding.waiver is not None:
        w = finding.waiver
        out["w"] = [w.id, w.reason, w.approved_by, w.expires_at.isoformat(), w.expired]
    if finding.hypothetical:
        out["h"] = 1
    return out


def page_data(result: AuditResult) -> dict[str, Any]:
    """The data the report's script renders.

    ``policies``: ``[id, title, severity, family, remediation, first reference URL]``;
    ``edges``: ``[child, child_kind, relation, parent, parent_kind, confidence, edge id]``;
    ``models``: one object per model: ``id``, ``name``, ``provider``, ``licence``, ``owner``,
    ``status``, ``dep`` (deployments: ``[id, platform, region, environment, exposure,
    status, approval, hypothetical]``), ``lin`` (edge indices), ``f`` (findings: ``p``
    policy index, ``o`` outcome, ``k``/``s`` subject kind and id, ``m`` message, ``i`` id,
    ``e`` evidence matches (``r`` records ``[role, kind, id, fields]``, ``p`` path and ``q``
    paths per alias as edge indices), ``n`` matches not listed, ``a`` absence conditions,
    ``x`` missing fields, ``y`` the weak facts a review rests on, ``w``
    waiver ``[id, reason, approved_by, expires_at, expired]``, ``h`` hypothetical).
    """
    # After the catalogue, any policy a finding names that the catalogue lacks.
    policies = sorted(result.policies, key=lambda p: p.id) + unlisted_policies(result)
    policy_index = {p.id: i for i, p in enumerate(policies)}
    policy_rows = [
        [p.id, p.title, p.severity.value, p.family.value, p.remediation, first_web_url(p)]
        for p in policies
    ]
    edges = _Edges()
    by_model: dict[str, list[Finding]] = defaultdict(list)
    for finding in result.findings:
        by_model[finding.model].append(finding)
    models: list[ModelResult] = list(result.models)
    known = {m.id for m in models}
    for model_id in sorted(set(by_model) - known):
        models.append(ModelResult(id=model_id, name=model_id, status="attention"))
    rows = []
    for model in models:
        row: dict[str, Any] = {"id": model.id, "name": model.name, "status": model.status}
        for key in ("provider", "licence", "owner"):
            value = getattr(model, key)
            if value is not None:
                row[key] = value
        if model.deployments:
            row["dep"] = [
                [
                    d.id,
                    d.platform,
                    d.region,
                    d.environment,
                    d.exposure,
                    d.status,
                    d.approval,
                    d.hypothetical,
                ]
                for d in model.deployments
            ]
        if model.lineage:
            row["lin"] = [edges(s) for s in model.lineage]
        findings = sorted(by_model.get(model.id, []), key=_finding_order)
        if findings:
            row["f"] = [_finding(f, policy_index, edges) for f in findings]
        rows.append(row)
    return {
        "asOf": result.as_of.isoformat(),
        "failOn": result.fail_on.value,
        "policies": policy_rows,
        "edges": edges.rows,
        "models": rows,
    }


# ----------------------------------------------------------------------------- summary


def _days(a: dt.date, b: dt.date) -> int:
    return (b - a).days


def _top_findings(blocking: list[Finding]) -> dict[str, Finding]:
    """Each model's worst blocking finding: the highest severity, a fail before a review,
    then by policy id (one finding an auditor reads first)."""
    top: dict[str, Finding] = {}
    for finding in sorted(
        blocking,
        key=lambda f: (-f.severity.rank, f.outcome != Outcome.fail, f.policy, f.subject),
    ):
        top.setdefault(finding.model, finding)
    return top


def _context(result: AuditResult) -> dict[str, Any]:
    findings = result.findings
    by_severity = Counter((f.outcome, f.severity) for f in findings)
    by_family = Counter((f.outcome, f.family) for f in findings)
    families = [fam for fam in Family if any(f.family == fam for f in findings)]
    blocking = result.blocking()
    blocking_per_model = Counter(f.model for f in blocking)
    status_counts = Counter(m.status for m in result.models)
    top_finding = _top_findings(blocking)
    # the worst first: by the severity of the model's worst blocking finding, then by how
    # many block it, so that the case an auditor must see leads the summary
    blocked = sorted(
        (m for m in result.models if m.status == "blocked"),
        key=lambda m: (
            -top_finding[m.id].severity.rank if m.id in top_finding else 0,
            -blocking_per_model[m.id],
            m.id,
        ),
    )
    hosted_open = [
        inv
        for inv in result.investigations
        if inv.hosted_models and not inv.status.startswith(CLOSED_INVESTIGATION)
    ]
    hosted_ids = {inv.id for inv in hosted_open}
    other_investigations = [inv for inv in result.investigations if inv.id not in hosted_ids]
    waivers = sorted(result.waivers, key=lambda w: (not w.expired, w.expires_at, w.id))
    per_policy = Counter((f.policy, f.outcome) for f in findings)
    policies = sorted(result.policies, key=lambda p: (-p.severity.rank, p.id))
    changes = None
    if result.changes is not None:
        listed = [c for c in result.changes if c.change != Change.persisting]
        order = list(Change)
        listed.sort(key=lambda c: (order.index(c.change), -c.severity.rank, c.model, c.policy))
        changes = {
            "counts": [(c.value, sum(1 for e in result.changes if e.change == c)) for c in Change],
            "rows": listed[:CHANGES_CAP],
            "more": max(0, len(listed) - CHANGES_CAP),
        }
    return {
        "r": result,
        "verdict": "FAIL" if blocking else "PASS",
        "blocking_count": len(blocking),
        "fail_review_total": sum(1 for f in findings if f.outcome in BLOCKING),
        "severities": [s.value for s in SEVERITIES],
        "severity_rows": [
            (
                o.value,
                [by_severity[(o, s)] for s in SEVERITIES],
                sum(by_severity[(o, s)] for s in SEVERITIES),
            )
            for o in SHOWN
        ],
        "passes": result.counts.get(Outcome.passed, 0),
        "not_applicable": result.counts.get(Outcome.not_applicable, 0),
        "shown": [o.value for o in SHOWN],
        "family_rows": [(fam.value, [by_family[(o, fam)] for o in SHOWN]) for fam in families],
        "families": [
            fam.value
            for fam in Family
            if any(p.family == fam for p in result.policies) or fam in families
        ],
        "model_total": len(result.models),
        "status_counts": {s: status_counts.get(s, 0) for s in ("blocked", "attention", "clean")},
        "blocked": [
            (m, blocking_per_model[m.id], top_finding.get(m.id)) for m in blocked[:SUMMARY_CAP]
        ],
        "blocked_more": max(0, len(blocked) - SUMMARY_CAP),
        "hosted_investigations": hosted_open,
        "other_investigations": other_investigations,
        "investigation_cap": INVESTIGATION_MODELS_CAP,
        "waivers": waivers,
        "waiver_days": {w.id: _days(result.as_of, w.expires_at) for w in waivers},
        "expired_waivers": sum(1 for w in waivers if w.expired),
        "policies": policies,
        "policy_counts": {
            p.id: [(o.value, per_policy[(p.id, o)]) for o in SHOWN if per_policy[(p.id, o)]]
            for p in policies
        },
        "changes": changes,
        "coverage": _coverage(result),
        "data": script_json(page_data(result)),
    }


def _coverage(result: AuditResult) -> CoverageReport | None:
    """The framework coverage of the audit, from the controls its policy catalogue names
    (None when no policy names one: the report then has no framework section)."""
    if not any(p.controls for p in result.policies):
        return None
    from aigov.results.coverage import build_coverage, load_frameworks

    return build_coverage(load_frameworks(), result.policies, result, mapping="run")


def render(result: AuditResult) -> str:
    css, js = _assets()
    csp = (
        "default-src 'none'; "
        f"style-src {csp_hash(css)}; "
        f"script-src {csp_hash(js)}; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )
    return (
        _environment()
        .get_template("report.html")
        .render(
            csp=csp,
            # The package's own stylesheet and script (checked by _asset), never data.
            css=Markup(css),
            js=Markup(js),
            **_context(result),
        )
    )


def render_coverage_page(report: CoverageReport) -> str:
    """The page of ``aigov coverage --format html``: the framework section alone (no script)."""
    css, _js = _assets()
    csp = (
        f"default-src 'none'; style-src {csp_hash(css)}; img-src data:; base-uri 'none'; "
        "form-action 'none'"
    )
    return (
        _environment()
        .get_template("coverage.html")
        .render(csp=csp, css=Markup(css), cov=report)  # the package's own stylesheet
    )
