"""Framework control catalogues, and how a policy set (and an audit run) covers them.

A catalogue is a YAML file in ``frameworks/`` beside this module (shipped inside the package):
a ``framework`` header (id, title, version, URL, whether it lists the framework's controls
completely or a stated selection) and its ``controls`` (id, a one-line summary in aigov's own
words, an optional URL, group and date of application). Policies name the controls they
implement (``controls: {eu-ai-act: [Art. 53(1)(c)]}``); the policy loader checks every id
against these catalogues.

:func:`build_coverage` is a pure function of catalogues, a policy catalogue
(:class:`~aigov.results.findings.PolicyInfo`, which carries each policy's controls) and,
optionally, an audit result: per framework, every control with the policies that implement it,
and, for an audit, the worst outcome per model and the findings per outcome. Controls no
policy implements are "not covered". The result is a :class:`CoverageReport`, which the
``aigov coverage`` formats and the HTML compliance report render.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from aigov import __version__
from aigov.errors import InputError, Problem
from aigov.results.findings import OUTCOME_ORDER, AuditResult, Outcome, PolicyInfo
from aigov.results.severity import Family, Severity

COVERAGE_SCHEMA_VERSION = 1
FRAMEWORKS_DIR = Path(__file__).resolve().parent / "frameworks"
FRAMEWORK_ID = r"^[a-z][a-z0-9-]{0,39}$"
# OSCAL identifiers are NCNames (a letter or underscore first; letters, digits, '-', '.', '_')
_TOKEN = re.compile(r"^[A-Za-z_][A-Za-z0-9._-]*$")

_Text = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=300)]
_Url = Annotated[str, StringConstraints(strict=True, pattern=r"^https://\S+$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ----------------------------------------------------------------------------- catalogues


class CatalogueControl(_Strict):
    id: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=64)]
    title: _Text = Field(description="what the control is about, in aigov's own words")
    url: _Url | None = None
    group: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=64)] | None = None
    applies_from: dt.date | None = None

    @property
    def oscal_id(self) -> str:
        """The control as an OSCAL token: lower case, every run of other characters a '-'
        (``Art. 53(1)(c)`` -> ``art-53-1-c``, ``GOVERN 1.6`` -> ``govern-1-6``)."""
        return oscal_token(self.id)


class FrameworkInfo(_Strict):
    id: Annotated[str, StringConstraints(strict=True, pattern=FRAMEWORK_ID)]
    title: _Text
    short_title: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=60)]
    version: _Text
    publisher: _Text
    url: _Url
    scope: Literal["complete", "selection"] = Field(
        description="complete: every control of the framework; selection: those in 'note'"
    )
    note: Annotated[str, StringConstraints(strict=True, min_length=1)]


class Framework(_Strict):
    """A control catalogue as its file declares it."""

    framework: FrameworkInfo
    controls: list[CatalogueControl] = Field(min_length=1)

    @property
    def id(self) -> str:
        return self.framework.id

    def ids(self) -> set[str]:
        return {c.id for c in self.controls}


def oscal_token(control_id: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", control_id.lower()).strip("-")


def _catalogue_problems(framework: Framework, line_of: Any, label: str) -> list[Problem]:
    """Duplicate control ids, and ids that make no OSCAL token or the same token as another."""
    problems: list[Problem] = []
    record = f"framework '{framework.id}'"
    seen: dict[str, str] = {}
    tokens: dict[str, str] = {}
    for index, control in enumerate(framework.controls):
        line = line_of(("controls", index, "id"))
        where = f"controls[{index}].id"
        if control.id in seen:
            problems.append(
                Problem(label, line, f"duplicate control id '{control.id}'", record, where)
            )
            continue
        seen[control.id] = where
        token = control.oscal_id
        if not _TOKEN.match(token):
            problems.append(
                Problem(
                    label,
                    line,
                    f"control id '{control.id}' must start with a letter (its OSCAL id is "
                    f"'{token}')",
                    record,
                    where,
                )
            )
        elif token in tokens:
            problems.append(
                Problem(
                    label,
                    line,
                    f"control '{control.id}' has the same OSCAL id '{token}' as '{tokens[token]}'",
                    record,
                    where,
                )
            )
        tokens.setdefault(token, control.id)
    return problems


def load_frameworks(directory: Path | None = None) -> dict[str, Framework]:
    """Every catalogue in ``directory`` (default: the shipped ones), by framework id in id
    order. Raises :class:`InputError` naming file, line and field of every problem."""
    if directory is None:
        return _shipped_frameworks()
    return _load(directory, str(directory))


@cache
def _shipped_frameworks() -> dict[str, Framework]:
    return _load(FRAMEWORKS_DIR, "<builtin>/frameworks")


def _load(directory: Path, prefix: str) -> dict[str, Framework]:
    from aigov.documents import load_file, validation_problems  # YAML: when catalogues are read

    problems: list[Problem] = []
    found: dict[str, Framework] = {}
    where: dict[str, str] = {}
    for path in sorted(directory.glob("*.yaml")):
        label = f"{prefix}/{path.name}"
        try:
            documents = load_file(path, label)
        except InputError as exc:
            problems += exc.problems
            continue
        for document in documents:
            try:
                framework = Framework.model_validate(document.data)
            except ValidationError as exc:
                problems += validation_problems(exc, document, (), "framework catalogue")
                continue
            problems += _catalogue_problems(framework, document.line_of, label)
            fid = framework.id
            if fid in found:
                problems.append(
                    Problem(
                        label,
                        document.line_of(("framework", "id")),
                        f"framework '{fid}' is already defined in {where[fid]}",
                        "framework catalogue",
                        "framework.id",
                    )
                )
                continue
            found[fid], where[fid] = framework, label
    if problems:
        raise InputError(problems, "invalid framework catalogue")
    return {fid: found[fid] for fid in sorted(found)}


def control_problems(
    controls: dict[str, list[str]], frameworks: dict[str, Framework]
) -> list[tuple[tuple[Any, ...], str]]:
    """What is wrong with a policy's ``controls`` mapping: (path under ``controls``, message)
    for each unknown framework, unknown control id and repeated control id."""
    found: list[tuple[tuple[Any, ...], str]] = []
    for fid, ids in controls.items():
        framework = frameworks.get(fid)
        if framework is None:
            known = ", ".join(frameworks)
            found.append(((fid,), f"unknown framework '{fid}' (known: {known})"))
            continue
        known_ids = framework.ids()
        seen: set[str] = set()
        for index, control in enumerate(ids):
            if control in seen:
                found.append(((fid, index), f"control '{control}' is listed twice"))
            elif control not in known_ids:
                found.append(
                    (
                        (fid, index),
                        f"unknown control '{control}' of {fid} (see 'aigov coverage "
                        f"--framework {fid}' for its controls)",
                    )
                )
            seen.add(control)
    return found


# ----------------------------------------------------------------------------- coverage


class MappedPolicy(_Strict):
    id: str
    title: str
    severity: Severity
    family: Family


class ControlCoverage(_Strict):
    id: str
    oscal_id: str
    title: str
    url: str
    group: str | None = None
    applies_from: dt.date | None = None
    policies: list[str] = Field(description="the policies that implement it; none: not covered")
    outcome: Outcome | None = Field(
        default=None,
        description="with a run: the worst outcome of its policies over the audited models "
        "(not_applicable when none applied)",
    )
    models: dict[Outcome, int] = Field(
        default={},
        description="with a run: models by the worst outcome of the control's policies in them",
    )
    findings: dict[Outcome, int] = Field(
        default={}, description="with a run: findings of the control's policies by outcome"
    )

    @property
    def covered(self) -> bool:
        return bool(self.policies)


class FrameworkCoverage(_Strict):
    id: str
    title: str
    short_title: str
    version: str
    publisher: str
    url: str
    scope: Literal["complete", "selection"]
    note: str
    total: int
    covered: int
    controls: list[ControlCoverage]


class CoverageRun(_Strict):
    id: str | None = Field(description="the recorded run (none for a live audit)")
    started_at: dt.datetime | None = None
    as_of: dt.date
    tool_version: str
    policy_digest: str
    registry_digest: str | None = None
    models: int


class CoverageReport(_Strict):
    """Framework coverage: the result of ``aigov coverage`` (its JSON format)."""

    schema_version: int = COVERAGE_SCHEMA_VERSION
    tool_version: str = __version__
    mapping: Literal["policy set", "run"] = Field(
        description="where the policy-to-control mapping comes from: the loaded policy set, "
        "or the policy catalogue recorded with the run"
    )
    policy_digest: str | None = Field(
        default=None, description="the loaded policy set's digest (mapping 'policy set')"
    )
    run: CoverageRun | None = None
    policies: list[MappedPolicy] = Field(description="the enabled policies of the mapping")
    unmapped_policies: list[str] = Field(default=[], description="policies naming no control")
    unknown_controls: list[str] = Field(
        default=[],
        description="'POLICY: framework control' named by a run's policies but not in today's "
        "catalogues",
    )
    frameworks: list[FrameworkCoverage]


def _worst(outcomes: Sequence[Outcome]) -> Outcome:
    return min(outcomes, key=OUTCOME_ORDER.index)


def build_coverage(
    catalogues: dict[str, Framework],
    policies: list[PolicyInfo],
    result: AuditResult | None = None,
    *,
    shown: list[str] | None = None,
    mapping: Literal["policy set", "run"] = "policy set",
    policy_digest: str | None = None,
) -> CoverageReport:
    """Coverage of the ``shown`` frameworks (default: every catalogue) by ``policies`` (with
    ``result``: and how the audit stands against each control). Deterministic: frameworks and
    controls in catalogue order, policies by id."""
    frameworks = [catalogues[fid] for fid in (shown or list(catalogues))]
    implementing: dict[tuple[str, str], list[str]] = defaultdict(list)
    unknown: list[str] = []
    for policy in sorted(policies, key=lambda p: p.id):
        for fid, ids in sorted(policy.controls.items()):
            known = catalogues[fid].ids() if fid in catalogues else set()
            for control_id in ids:
                if control_id in known:
                    implementing[(fid, control_id)].append(policy.id)
                else:
                    unknown.append(f"{policy.id}: {fid} {control_id}")
    controls_of: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for key, ids in implementing.items():
        for pid in ids:
            controls_of[pid].append(key)
    finding_counts: dict[tuple[str, str], Counter[Outcome]] = defaultdict(Counter)
    model_counts: dict[tuple[str, str], Counter[Outcome]] = defaultdict(Counter)
    if result is not None:
        for finding in result.findings:
            for key in controls_of.get(finding.policy, []):
                finding_counts[key][finding.outcome] += 1
        for model in result.models:
            for key, pids in implementing.items():
                seen = [model.outcomes[p] for p in pids if p in model.outcomes]
                model_counts[key][_worst(seen) if seen else Outcome.not_applicable] += 1
    out: list[FrameworkCoverage] = []
    for framework in frameworks:
        rows: list[ControlCoverage] = []
        for control in framework.controls:
            key = (framework.id, control.id)
            pids = implementing.get(key, [])
            row = ControlCoverage(
                id=control.id,
                oscal_id=control.oscal_id,
                title=control.title,
                url=control.url or framework.framework.url,
                group=control.group,
                applies_from=control.applies_from,
                policies=pids,
            )
            if result is not None and pids:
                counts = model_counts[key]
                applied = [o for o in counts if o != Outcome.not_applicable]
                row.outcome = _worst(applied) if applied else Outcome.not_applicable
                row.models = {o: counts[o] for o in OUTCOME_ORDER if counts[o]}
                row.findings = {
                    o: finding_counts[key][o] for o in OUTCOME_ORDER if finding_counts[key][o]
                }
            rows.append(row)
        info = framework.framework
        out.append(
            FrameworkCoverage(
                id=info.id,
                title=info.title,
                short_title=info.short_title,
                version=info.version,
                publisher=info.publisher,
                url=info.url,
                scope=info.scope,
                note=info.note,
                total=len(rows),
                covered=sum(1 for r in rows if r.covered),
                controls=rows,
            )
        )
    run = None
    if result is not None:
        run = CoverageRun(
            id=result.run.id if result.run else None,
            started_at=result.run.started_at if result.run else None,
            as_of=result.as_of,
            tool_version=result.tool_version,
            policy_digest=result.policy_digest,
            registry_digest=result.registry_digest,
            models=len(result.models),
        )
    return CoverageReport(
        mapping=mapping,
        policy_digest=policy_digest,
        run=run,
        policies=[
            MappedPolicy(id=p.id, title=p.title, severity=p.severity, family=p.family)
            for p in sorted(policies, key=lambda p: p.id)
        ],
        unmapped_policies=sorted(p.id for p in policies if not p.controls),
        unknown_controls=unknown,
        frameworks=out,
    )
