"""Dates known only to the month or the year (``2025-01``, ``2025``), end to end.

A test of such a date holds when it holds for every day the date may be, fails when it holds
for none, and is undecided otherwise: an undecided violation is a blocking ``review`` (naming
the imprecise date), never a pass and never a fail. Stored and exported as written.
"""

from __future__ import annotations

import datetime as dt
import json
import textwrap
from pathlib import Path

import pytest

from aigov.compile.compiler import compile_policies
from aigov.errors import InputError
from aigov.policy.loader import load_policies
from aigov.registry.records import ModelBase, PartialDate, date_bounds
from aigov.results.findings import Outcome, blocks
from aigov.results.severity import Severity
from aigov_testing.cli import invoke_cli
from aigov_testing.evaluation import evaluate_policies

AS_OF = dt.date(2026, 1, 1)


def _policy(where: str, pid: str = "D-1", subject: str = "{kind: model}") -> str:
    return textwrap.dedent(
        f"""\
        policies:
          - id: {pid}
            title: test
            description: a policy on dates
            family: governance
            severity: high
            remediation: fix it
            message: "{{{{ model.name }}}}"
            subject: {subject}
            when:
              test:
                {where}
        """
    )


@pytest.fixture
def evaluate(tmp_path: Path):
    counter = iter(range(1000))

    def run(policies: str, registry: dict) -> tuple[dict, dict]:
        return evaluate_policies(tmp_path / str(next(counter)), policies, registry, AS_OF)

    return run


def _models(**release: object) -> dict:
    return {
        "providers": [{"id": "acme", "name": "Acme"}],
        "models": [
            {"id": mid, "name": mid, "provider": "acme", "release_date": value}
            for mid, value in release.items()
        ],
    }


# (test on model.release_date, release dates that certainly hold, ones that certainly do
# not, ones that are undecided)
CASES = [
    ("{lt: 2025-02-01}", ["2025-01", "2025-01-31", "2024"], ["2025-02"], ["2025"]),
    ("{lt: 2025-01-15}", ["2024-12", "2024"], ["2025-02"], ["2025-01", "2025"]),
    ("{le: 2025-01-31}", ["2025-01", "2024"], ["2025-02-01"], ["2025"]),
    ("{gt: 2024-12-31}", ["2025-01", "2025"], ["2024", "2024-12"], []),
    ("{ge: 2025-01-15}", ["2025-02", "2026"], ["2024"], ["2025-01", "2025"]),
    ("{eq: 2025-01-15}", ["2025-01-15"], ["2025-02", "2024"], ["2025-01", "2025"]),
    ("{ne: 2025-01-15}", ["2025-02", "2024", "2025-01-16"], ["2025-01-15"], ["2025-01"]),
    ("{le: as_of}", ["2025", "2025-12"], ["2026-02"], ["2026", "2026-01"]),
]


@pytest.mark.parametrize(("test", "holds", "fails", "undecided"), CASES)
def test_a_partial_date_is_tested_for_every_day_it_may_be(
    evaluate, test: str, holds: list[str], fails: list[str], undecided: list[str]
):
    ids = {f"m{i}": value for i, value in enumerate([*holds, *fails, *undecided])}
    outcomes, findings = evaluate(_policy(f"model.release_date: {test}"), _models(**ids))
    expected = (
        [Outcome.fail] * len(holds)
        + [Outcome.passed] * len(fails)
        + [Outcome.review] * len(undecided)
    )
    got = [outcomes[("D-1", mid)] for mid in ids]
    assert dict(zip(ids.values(), got, strict=True)) == dict(
        zip(ids.values(), expected, strict=True)
    )
    for mid, value in ids.items():
        if value in undecided:
            assert findings[("D-1", mid)].missing == [
                "model.release_date (known only to the month or year)"
            ]


def test_negation_swaps_certain_and_possible(evaluate):
    policies = textwrap.dedent(
        """\
        policies:
          - id: D-1
            title: test
            description: released on or after the 15th
            family: governance
            severity: high
            remediation: fix it
            message: "{{ model.name }}"
            subject: {kind: model}
            when:
              not:
                test:
                  model.release_date: {lt: 2025-01-15}
        """
    )
    outcomes, _ = evaluate(policies, _models(a="2025-02", b="2024-12", c="2025-01"))
    assert outcomes[("D-1", "a")] == Outcome.fail
    assert outcomes[("D-1", "b")] == Outcome.passed
    assert outcomes[("D-1", "c")] == Outcome.review


def test_applicability_on_a_partial_date_is_never_a_silent_pass(evaluate):
    """The EU AI Act case: placed on the market in August 2025, the month the obligations
    changed. Whether the legacy regime (before 2 Aug) or the new one applies is undecided:
    both policies ask for a review, which blocks (an imprecise date never turns a DENY into an
    ALLOW); neither passes."""
    before = textwrap.dedent(
        """\
        policies:
          - id: LEGACY
            title: legacy
            description: placed before 2 Aug 2025, no summary
            family: regulatory
            severity: high
            remediation: fix it
            message: "{{ model.name }}"
            subject:
              kind: model
              where: {eu_placed_on_market: {lt: 2025-08-02}}
            when:
              test:
                model.training_summary_url: {missing: true}
          - id: NEW
            title: new
            description: placed on or after 2 Aug 2025, no summary
            family: regulatory
            severity: high
            remediation: fix it
            message: "{{ model.name }}"
            subject:
              kind: model
              where: {eu_placed_on_market: {ge: 2025-08-02}}
            when:
              test:
                model.training_summary_url: {missing: true}
        """
    )
    registry = {
        "providers": [{"id": "acme", "name": "Acme"}],
        "models": [
            {"id": "aug", "name": "aug", "provider": "acme", "eu_placed_on_market": "2025-08"},
            {"id": "jul", "name": "jul", "provider": "acme", "eu_placed_on_market": "2025-07"},
            {"id": "sep", "name": "sep", "provider": "acme", "eu_placed_on_market": "2025-09"},
        ],
    }
    outcomes, findings = evaluate(before, registry)
    assert outcomes[("LEGACY", "aug")] == outcomes[("NEW", "aug")] == Outcome.review
    assert blocks(findings[("NEW", "aug")], Severity.high)
    assert findings[("NEW", "aug")].missing == [
        "model.eu_placed_on_market (known only to the month or year)"
    ]
    assert (outcomes[("LEGACY", "jul")], outcomes[("NEW", "jul")]) == (
        Outcome.fail,
        Outcome.not_applicable,
    )
    assert (outcomes[("LEGACY", "sep")], outcomes[("NEW", "sep")]) == (
        Outcome.not_applicable,
        Outcome.fail,
    )


def test_a_join_between_two_dates_uses_both_periods(evaluate):
    """``release_date lt terms.effective_from``: released before the terms took effect,
    each known only to the month."""
    policies = textwrap.dedent(
        """\
        policies:
          - id: D-1
            title: test
            description: released before the terms took effect
            family: governance
            severity: high
            remediation: fix it
            message: "{{ model.name }}"
            subject: {kind: model}
            when:
              exists:
                as: terms
                kind: terms
                where:
                  provider: {ref: model.provider}
                  effective_from: {gt: {ref: model.release_date}}
        """
    )
    registry = _models(early="2024-12", same="2025-01", late="2025-03")
    registry["terms"] = [
        {
            "id": "t",
            "provider": "acme",
            "kind": "tos",
            "title": "Terms",
            "effective_from": "2025-01",
        }
    ]
    outcomes, _ = evaluate(policies, registry)
    assert outcomes[("D-1", "early")] == Outcome.fail
    assert outcomes[("D-1", "same")] == Outcome.review
    assert outcomes[("D-1", "late")] == Outcome.passed


def test_a_policy_can_require_a_date_known_to_the_day(evaluate):
    outcomes, _ = evaluate(
        _policy("model.release_date_precision: {ne: day}"),
        _models(a="2025-01", b="2025", c="2025-01-02"),
    )
    assert [outcomes[("D-1", m)] for m in "abc"] == [Outcome.fail, Outcome.fail, Outcome.passed]


def test_partial_dates_are_stored_and_exported_as_written(tmp_path: Path):
    rfile = tmp_path / "r.yaml"
    # an unquoted year is an integer to YAML: it is still the year
    rfile.write_text(
        "providers: [{id: acme, name: Acme}]\n"
        "models:\n"
        "  - {id: a, name: a, provider: acme, release_date: 2025}\n"
        "  - {id: b, name: b, provider: acme, release_date: '2025-01'}\n"
        "  - {id: c, name: c, provider: acme, release_date: 2025-01-31}\n"
    )
    db = tmp_path / "r.db"
    assert (
        invoke_cli(tmp_path, "registry", "import", "--db", f"sqlite:///{db}", rfile).exit_code == 0
    )
    exported = invoke_cli(
        tmp_path, "registry", "export", "--db", f"sqlite:///{db}", "--format", "json"
    )
    models = json.loads(exported.stdout)["models"]
    assert [m["release_date"] for m in models] == ["2025", "2025-01", "2025-01-31"]
    again = invoke_cli(tmp_path, "registry", "import", "--db", f"sqlite:///{db}", rfile)
    assert "0 changes" in again.stdout
    check = invoke_cli(tmp_path, "registry", "check", "--db", f"sqlite:///{db}")
    assert check.exit_code == 0, check.stderr


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2025-13", "no such month or year"),
        ("2025-02-30", "day is out of range for month"),
        ("January 2025", "expected YYYY-MM-DD, YYYY-MM or YYYY"),
        ("2025-1", "expected YYYY-MM-DD, YYYY-MM or YYYY"),
    ],
)
def test_an_invalid_partial_date_is_rejected(value: str, message: str):
    with pytest.raises(ValueError, match=message):
        ModelBase.model_validate({"id": "m", "name": "m", "provider": "p", "release_date": value})


def test_bounds_of_a_period():
    assert date_bounds("2024-02") == (dt.date(2024, 2, 1), dt.date(2024, 2, 29))
    assert date_bounds("2025") == (dt.date(2025, 1, 1), dt.date(2025, 12, 31))
    assert date_bounds("2025-12") == (dt.date(2025, 12, 1), dt.date(2025, 12, 31))
    assert date_bounds(dt.date(2025, 3, 4)) == (dt.date(2025, 3, 4), dt.date(2025, 3, 4))
    assert PartialDate("2025-03").precision == "month"


def test_a_policy_cannot_list_partial_dates_with_in(tmp_path: Path):
    """``in`` on a date known to the month has no certain answer short of equality: the
    policy is rejected with its file and line rather than compiled into a guess."""
    pdir = tmp_path / "p"
    pdir.mkdir()
    (pdir / "p.yaml").write_text(_policy("model.release_date: {in: [2025-01-01, 2025-02-01]}"))
    with pytest.raises(InputError) as caught:
        compile_policies(load_policies([pdir], include_builtin=False), AS_OF)
    assert "known to the month or year" in str(caught.value)
    assert "p.yaml:" in str(caught.value)
