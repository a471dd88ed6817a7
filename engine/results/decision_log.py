"""The gate decision log: one entry per gate decision, hash-chained.

An entry is a JSON object (:class:`DecisionEntry`). Its ``digest`` is the SHA-256 of its
canonical JSON without the ``digest`` field (:func:`canonical`: keys sorted, no whitespace,
UTF-8); its ``prev`` is the digest of the entry before it (:data:`GENESIS` for the first),
and its ``seq`` is one more than that entry's. So an entry edited after it was recorded no
longer matches its digest, and an entry deleted, inserted or moved breaks the links of the
entry after it: :func:`check_chain` names the first entry where the chain breaks.

What a chain cannot show by itself is the loss of its newest entries (the log cut short, or
rewritten from some entry on, digests and all): a digest kept elsewhere (a CI log, a ticket)
anchors the chain up to that entry (``aigov decisions verify --anchor DIGEST``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any, Final, Literal

from pydantic import Field, ValidationError

from aigov.errors import clip
from aigov.results.decisions import GateDecision
from aigov.results.findings import Finding, Outcome, Strict
from aigov.results.severity import Severity

DECISION_LOG_FORMAT: Final = 1
GENESIS = "0" * 64  # the ``prev`` of a log's first entry
DIGEST = r"^[0-9a-f]{64}$"
# The CI context recorded with a decision: the variables that say which commit, pipeline and
# job the gate ran for, on GitHub Actions, GitLab CI, Azure Pipelines, Jenkins, CircleCI and
# Buildkite. Only those that are set are recorded.
CI_VARIABLES = (
    "CI",
    "GITHUB_REPOSITORY",
    "GITHUB_SHA",
    "GITHUB_REF",
    "GITHUB_RUN_ID",
    "GITHUB_RUN_ATTEMPT",
    "GITHUB_WORKFLOW",
    "GITHUB_ACTOR",
    "GITHUB_EVENT_NAME",
    "GITHUB_SERVER_URL",
    "CI_PROJECT_PATH",
    "CI_COMMIT_SHA",
    "CI_COMMIT_REF_NAME",
    "CI_PIPELINE_ID",
    "CI_JOB_ID",
    "CI_JOB_URL",
    "GITLAB_USER_LOGIN",
    "BUILD_REPOSITORY_NAME",
    "BUILD_SOURCEVERSION",
    "BUILD_BUILDID",
    "JENKINS_URL",
    "BUILD_URL",
    "GIT_COMMIT",
    "CIRCLE_PROJECT_REPONAME",
    "CIRCLE_SHA1",
    "CIRCLE_BUILD_URL",
    "BUILDKITE_PIPELINE_SLUG",
    "BUILDKITE_COMMIT",
    "BUILDKITE_BUILD_URL",
)
MAX_CI_VALUE = 500  # characters kept of one variable


class LoggedFinding(Strict):
    """A finding that decided, by its stable id and what it was about."""

    id: str
    policy: str
    subject_kind: str
    subject: str
    outcome: Outcome
    severity: Severity

    @classmethod
    def of(cls, finding: Finding) -> LoggedFinding:
        return cls(
            id=finding.id,
            policy=finding.policy,
            subject_kind=finding.subject_kind,
            subject=finding.subject,
            outcome=finding.outcome,
            severity=finding.severity,
        )


class DecisionContent(Strict):
    """Everything an entry records, except its own digest."""

    schema_version: Literal[1] = DECISION_LOG_FORMAT
    seq: int = Field(ge=1, description="position in the chain, from 1")
    prev: str = Field(pattern=DIGEST, description="digest of the entry before (GENESIS: none)")
    recorded_at: dt.datetime
    decision: Literal["ALLOW", "DENY"]
    exit_code: int
    reason: str
    model: str
    deployment: dict[str, Any] = Field(description="the proposed deployment, as given")
    deployment_source: str = Field(description="the descriptor file, or 'command line'")
    as_of: dt.date
    fail_on: Severity
    fail_on_indeterminate: bool
    policy_digest: str
    registry_digest: str
    blocking: list[LoggedFinding]
    indeterminate: list[LoggedFinding]
    tool_version: str
    ci: dict[str, str] = Field(description="the CI context (CI_VARIABLES that were set)")


class DecisionEntry(DecisionContent):
    digest: str = Field(pattern=DIGEST, description="sha256 of the canonical JSON, without it")


def canonical(data: Mapping[str, Any]) -> str:
    """The canonical JSON of an entry: sorted keys, no whitespace, non-ASCII kept."""
    return json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def digest_of(data: Mapping[str, Any]) -> str:
    """The digest an entry's content must have (its ``digest`` field left out)."""
    content = {key: value for key, value in data.items() if key != "digest"}
    return hashlib.sha256(canonical(content).encode("utf-8")).hexdigest()


def ci_context(environ: Mapping[str, str]) -> dict[str, str]:
    """The CI variables of :data:`CI_VARIABLES` that are set, each clipped to
    :data:`MAX_CI_VALUE` characters."""
    return {
        name: environ[name][:MAX_CI_VALUE] for name in CI_VARIABLES if environ.get(name, "") != ""
    }


def seal(
    decision: GateDecision,
    *,
    seq: int,
    prev: str,
    recorded_at: dt.datetime,
    deployment_source: str,
    ci: dict[str, str],
    tool_version: str,
) -> dict[str, Any]:
    """The entry for ``decision`` after the entry ``prev`` (number ``seq - 1``), digest
    included, as the plain JSON data that is stored."""
    if decision.registry_digest is None:
        raise ValueError("a recorded gate decision needs the registry digest")
    content = DecisionContent(
        seq=seq,
        prev=prev,
        recorded_at=recorded_at,
        decision=decision.decision,
        exit_code=decision.exit_code,
        reason=decision.reason,
        model=decision.model,
        deployment=decision.deployment,
        deployment_source=deployment_source,
        as_of=decision.as_of,
        fail_on=decision.fail_on,
        fail_on_indeterminate=decision.fail_on_indeterminate,
        policy_digest=decision.policy_digest,
        registry_digest=decision.registry_digest,
        blocking=[LoggedFinding.of(f) for f in decision.blocking],
        indeterminate=[LoggedFinding.of(f) for f in decision.indeterminate],
        tool_version=tool_version,
        ci=ci,
    )
    data = content.model_dump(mode="json")
    data["digest"] = digest_of(data)
    return data


# --------------------------------------------------------------------------- verification


class StoredEntry(Strict):
    """One entry as the log holds it: where it is, its JSON data (None: it could not be
    read), and what is wrong with how it is stored (a line cut short, database columns that
    disagree with it)."""

    location: str = Field(description="e.g. 'decisions.jsonl:3' or 'row #3'")
    data: dict[str, Any] | None = None
    error: str | None = None


class ChainProblem(Strict):
    location: str
    seq: int | None = None
    message: str


class ChainReport(Strict):
    """What ``aigov decisions verify`` found."""

    log: str
    entries: int
    intact: bool
    head: str | None = Field(default=None, description="digest of the newest entry")
    head_seq: int | None = None
    problems: list[ChainProblem] = Field(description="the first names the first broken entry")


def _problems_of(data: dict[str, Any]) -> list[str]:
    try:
        DecisionEntry.model_validate(data)
    except ValidationError as exc:
        return [
            f"field '{'.'.join(map(str, e['loc'])) or '(entry)'}': {clip(str(e['msg']))}"
            for e in exc.errors()
        ]
    return []


def _break(seq: int, before_seq: int) -> str:
    """Why entry ``seq`` does not follow entry ``before_seq`` (0: the log's start)."""
    if before_seq == 0:
        expected = "the log's first entry must be #1, chained to the genesis digest"
    else:
        expected = f"the entry after #{before_seq} must be #{before_seq + 1}, chained to its digest"
    if seq != before_seq + 1:
        detail = "entries are missing, inserted or out of order"
    elif before_seq == 0:
        detail = "its prev is not the genesis digest"
    else:
        detail = f"its prev is not the digest of #{before_seq}: #{before_seq} was replaced"
    return f"chain broken at entry #{seq}: {expected} ({detail})"


def check_chain(
    log: str, entries: Iterable[StoredEntry], anchors: Iterable[str] = ()
) -> ChainReport:
    """Check every entry of a log, oldest first: it is a valid entry, its digest matches its
    content, and it follows the entry before it (``prev`` is that entry's digest, ``seq`` one
    more than its). Each ``anchor`` (a digest, or a prefix of at least 12 characters) must be
    the digest of some entry."""
    problems: list[ChainProblem] = []
    count = 0
    before: tuple[int, str] | None = (0, GENESIS)  # (seq, digest) of the previous entry
    digests: list[str] = []
    head: tuple[int, str] | None = None
    for stored in entries:
        count += 1
        where = stored.location
        data = stored.data
        if stored.error is not None or data is None:
            message = stored.error or "unreadable"
            seq = data.get("seq") if data is not None else None
            problems.append(
                ChainProblem(
                    location=where, seq=seq if isinstance(seq, int) else None, message=message
                )
            )
        if data is None:
            before = None
            continue
        invalid = _problems_of(data)
        if invalid:
            message = "not a valid decision-log entry: " + "; ".join(invalid)
            problems.append(ChainProblem(location=where, message=message))
            before = None
            continue
        seq, digest, prev = int(data["seq"]), str(data["digest"]), str(data["prev"])
        digests.append(digest)
        head = (seq, digest)
        if digest_of(data) != digest:
            message = (
                f"entry #{seq} was changed after it was recorded: its content does not match "
                "its digest"
            )
            problems.append(ChainProblem(location=where, seq=seq, message=message))
        if before is not None and (seq, prev) != (before[0] + 1, before[1]):
            problems.append(ChainProblem(location=where, seq=seq, message=_break(seq, before[0])))
        before = (seq, digest)
    for anchor in anchors:
        if len(anchor) < 12 or not any(d.startswith(anchor.lower()) for d in digests):
            problems.append(
                ChainProblem(
                    location=log,
                    message=f"anchor {clip(anchor, 64)} is not the digest of any entry: "
                    "entries were removed or the log was rewritten"
                    + (" (an anchor has at least 12 characters)" if len(anchor) < 12 else ""),
                )
            )
    return ChainReport(
        log=log,
        entries=count,
        intact=not problems,
        head=head[1] if head else None,
        head_seq=head[0] if head else None,
        problems=problems,
    )
