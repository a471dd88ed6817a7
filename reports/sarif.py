"""SARIF 2.1.0: one rule per policy, one result per finding that is not a pass.

Mapping (SARIF 2.1.0, OASIS Standard incl. Errata 01; section numbers of the spec):

* ``tool.driver`` is aigov (name, version, semanticVersion, informationUri) and carries one
  ``reportingDescriptor`` per policy in the catalogue (§3.49): ``id`` = policy id, ``name`` =
  the title in UpperCamelCase, ``shortDescription`` = title, ``fullDescription`` =
  description, ``help`` (text and Markdown) = remediation and references, ``helpUri`` = the
  first reference URL, ``defaultConfiguration.level`` from the severity, and
  ``properties`` = severity, family, tags (family, severity and the policy's own tags).
* ``result.kind`` (§3.27.9) follows the outcome: ``fail`` → ``"fail"``; ``review`` →
  ``"review"`` (the spec's "a human must review to determine whether there is a problem");
  ``indeterminate`` → ``"open"`` ("insufficient information to determine whether there is a
  problem"); ``waived`` → ``"fail"`` with a suppression (below).
* ``result.level`` (§3.27.10) comes from the severity only for kind ``fail``: critical/high →
  ``error``, medium → ``warning``, low/info → ``note``. The spec allows only ``"none"`` when
  kind is not ``fail``, so review and open results carry ``level: "none"``; their severity is
  in ``properties.severity`` (and in the rule's default configuration).
* A waived finding is a result with ``suppressions: [{kind: "external", status: "accepted",
  justification: <waiver reason>}]`` (§3.34: the waiver is kept outside the analysed
  artefact, in the registry). An expired waiver suppresses nothing, so it gets no
  suppression; it is named in ``properties.waiver``.
* Every location names the subject logically (§3.33): fully qualified as ``MODEL`` or
  ``MODEL/KIND/ID`` (``deepseek-r1/deployment/dep-x``), ``kind`` = the record kind. Given the
  records' :class:`~aigov.results.origins.SourceLocations` (kept at import, see
  ``aigov.api.locations``), it also carries a ``physicalLocation`` (§3.29): the registry file
  the subject record was imported from, as ``artifactLocation.uri`` relative to the SARIF root
  (with ``uriBaseId`` ``%SRCROOT%``; an absolute ``file:`` URI when the file lies outside it),
  and ``region.startLine`` = the line of the record's ``id``. That is what GitHub code
  scanning needs to show a result. A record without an origin (imported before origins were
  kept, or a proposed deployment) keeps the logical location only.
* ``partialFingerprints["aigovFindingId/v1"]`` = the finding's stable id (hash of policy,
  subject and locator, never of the message or of a line), so baselines survive message
  changes and records that move within their file.
* ``ruleId`` and ``ruleIndex`` point into ``tool.driver.rules``; the evidence (records,
  fields and lineage path), absent and missing facts travel in ``result.properties``.

GitHub code scanning only shows results with a physical location: results without one are
still valid SARIF for viewers that accept logical locations (e.g. the SARIF viewers of VS
Code or Azure DevOps).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from aigov.reports.common import first_web_url, naive_utc, unlisted_policies, web_url
from aigov.results.findings import AuditResult, Finding, Outcome, PolicyInfo
from aigov.results.origins import SourceLocation, SourceLocations
from aigov.results.severity import Severity

SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
INFORMATION_URI = "https://aigov.dev"
SOURCE_ROOT = "%SRCROOT%"  # the uriBaseId of relative locations: the --sarif-root directory
FINGERPRINT = "aigovFindingId/v1"

LEVEL = {
    Severity.critical: "error",
    Severity.high: "error",
    Severity.medium: "warning",
    Severity.low: "note",
    Severity.info: "note",
}
KIND = {
    Outcome.fail: "fail",
    Outcome.review: "review",
    Outcome.indeterminate: "open",
    Outcome.waived: "fail",
}


def rule_name(title: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", title)
    return "".join(w[:1].upper() + w[1:] for w in words) or "Policy"


def _references_text(policy: PolicyInfo) -> tuple[list[str], list[str]]:
    text, markdown = [], []
    for ref in policy.references:
        title = str(ref.get("title") or ref.get("url") or "")
        section = f" § {ref['section']}" if ref.get("section") else ""
        url = ref.get("url")
        text.append(f"- {title}{section}" + (f": {url}" if url else ""))
        md_title = _md(title)
        link = web_url(url)
        if link is not None:
            markdown.append(f"- [{md_title}](<{link}>){_md(section)}")
        else:
            markdown.append(f"- {md_title}{_md(section)}")
    return text, markdown


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~<>])")


def _md(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", text)


def _rule(policy: PolicyInfo) -> dict[str, Any]:
    refs_text, refs_md = _references_text(policy)
    help_text = f"Remediation: {policy.remediation}"
    help_md = f"**Remediation:** {_md(policy.remediation)}"
    if refs_text:
        help_text += "\n\nReferences:\n" + "\n".join(refs_text)
        help_md += "\n\n**References:**\n\n" + "\n".join(refs_md)
    rule: dict[str, Any] = {
        "id": policy.id,
        "name": rule_name(policy.title),
        "shortDescription": {"text": policy.title},
        "fullDescription": {"text": policy.description},
        "help": {"text": help_text, "markdown": help_md},
        "defaultConfiguration": {"level": LEVEL[policy.severity]},
        "properties": {
            "severity": policy.severity.value,
            "family": policy.family.value,
            "tags": list(dict.fromkeys([policy.family.value, policy.severity.value, *policy.tags])),
            "builtin": policy.builtin,
            "source": policy.source,
        },
    }
    url = first_web_url(policy)
    if url:
        rule["helpUri"] = url
    return rule


def _stand_in_rule(policy: PolicyInfo) -> dict[str, Any]:
    """The rule of a policy missing from the catalogue, from what its findings know."""
    return {
        "id": policy.id,
        "name": rule_name(policy.title),
        "shortDescription": {"text": policy.title},
        "defaultConfiguration": {"level": LEVEL[policy.severity]},
        "properties": {
            "severity": policy.severity.value,
            "family": policy.family.value,
            "tags": [policy.family.value, policy.severity.value],
        },
    }


def qualified_subject(finding: Finding) -> str:
    if finding.subject_kind == "model" and finding.subject == finding.model:
        return finding.model
    return f"{finding.model}/{finding.subject_kind}/{finding.subject}"


def _physical(source: SourceLocation) -> dict[str, Any]:
    artifact: dict[str, Any] = {"uri": source.uri}
    if source.relative:
        artifact["uriBaseId"] = SOURCE_ROOT
    return {"artifactLocation": artifact, "region": {"startLine": source.line}}


def _result(finding: Finding, rule_index: int, source: SourceLocation | None) -> dict[str, Any]:
    kind = KIND[finding.outcome]
    location: dict[str, Any] = {
        "logicalLocations": [
            {
                "name": finding.subject,
                "fullyQualifiedName": qualified_subject(finding),
                "kind": finding.subject_kind,
            }
        ]
    }
    if source is not None:
        location = {"physicalLocation": _physical(source), **location}
    out: dict[str, Any] = {
        "ruleId": finding.policy,
        "ruleIndex": rule_index,
        "kind": kind,
        "level": LEVEL[finding.severity] if kind == "fail" else "none",
        "message": {"text": finding.message},
        "locations": [location],
        "partialFingerprints": {FINGERPRINT: finding.id},
    }
    properties: dict[str, Any] = {
        "outcome": finding.outcome.value,
        "severity": finding.severity.value,
        "family": finding.family.value,
        "model": finding.model,
        "subjectKind": finding.subject_kind,
        "subject": finding.subject,
    }
    if finding.evidence:
        properties["evidence"] = [m.model_dump(mode="json") for m in finding.evidence]
    if finding.evidence_omitted:
        properties["evidenceOmitted"] = finding.evidence_omitted
    if finding.absent:
        properties["absent"] = finding.absent
    if finding.missing:
        properties["missing"] = finding.missing
    if finding.hypothetical:
        properties["hypothetical"] = True
    if finding.waiver is not None:
        properties["waiver"] = finding.waiver.model_dump(mode="json")
        if finding.outcome == Outcome.waived and not finding.waiver.expired:
            out["suppressions"] = [
                {
                    "kind": "external",
                    "status": "accepted",
                    "justification": finding.waiver.reason,
                    "properties": {
                        "waiver": finding.waiver.id,
                        "approvedBy": finding.waiver.approved_by,
                        "expiresAt": finding.waiver.expires_at.isoformat(),
                    },
                }
            ]
    out["properties"] = properties
    return out


def _utc(moment: dt.datetime) -> str:
    """SARIF date-times are UTC with a "Z" (§3.9); a naive time is taken to be UTC."""
    return naive_utc(moment).isoformat() + "Z"


def sarif_log(result: AuditResult, locations: SourceLocations | None = None) -> dict[str, Any]:
    """The SARIF log of ``result``; with ``locations``, results whose subject record has one
    carry a physical location."""
    known = locations or SourceLocations()
    policies = sorted(result.policies, key=lambda p: p.id)
    # A finding whose policy is not in the catalogue (a hand-edited stored run) still gets a
    # rule, built from what the finding knows.
    stand_ins = unlisted_policies(result)
    rules = [_rule(p) for p in policies] + [_stand_in_rule(p) for p in stand_ins]
    index = {p.id: i for i, p in enumerate(policies + stand_ins)}
    results = [
        _result(f, index[f.policy], None if f.hypothetical else known.of(f.subject_kind, f.subject))
        for f in sorted(
            result.findings, key=lambda f: (f.model, f.policy, f.subject_kind, f.subject, f.id)
        )
        if f.outcome in KIND
    ]
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "aigov",
                "version": result.tool_version,
                "semanticVersion": result.tool_version,
                "informationUri": INFORMATION_URI,
                "rules": rules,
            }
        },
        "results": results,
        "properties": {
            "asOf": result.as_of.isoformat(),
            "failOn": result.fail_on.value,
            "policyDigest": result.policy_digest,
            "registryDigest": result.registry_digest,
            "resultSchemaVersion": result.schema_version,
            "counts": {o.value: n for o, n in sorted(result.counts.items())},
        },
    }
    if result.run is not None:
        run["automationDetails"] = {"id": f"aigov/audit/{result.run.id}"}
        run["invocations"] = [
            {
                "executionSuccessful": True,
                "startTimeUtc": _utc(result.run.started_at),
            }
        ]
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def render(result: AuditResult, locations: SourceLocations | None = None) -> str:
    return json.dumps(sarif_log(result, locations), indent=2, ensure_ascii=False) + "\n"
