"""A real audit of a small registry and policy set, written to report files through the CLI;
shared by test_reports and test_report_browser."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import yaml

from aigov_testing.markup import XSS_FLAG, XSS_IMG, XSS_SCRIPT

CLI_POLICIES = textwrap.dedent("""\
    policies:
      - id: HOST-001
        title: Deployment without a covering approval
        description: A deployment needs an approval covering its platform, region and environment.
        family: hosting
        severity: critical
        references:
          - {title: Hosting standard, section: "3.1", url: "https://example.com/hosting#3.1"}
        remediation: Obtain a covering approval or withdraw the deployment.
        message: "Deployment {{ dep.id }} of {{ model.name }} has no covering approval"
        subject: {as: dep, kind: deployment}
        when:
          absent:
            as: appr
            kind: approval
            where:
              status: {in: [approved, conditional]}
              expires_at: {ge: as_of}
              scope.platforms: {contains: {ref: dep.platform}}
              scope.regions: {contains: {ref: dep.region}}
              scope.environments: {contains: {ref: dep.environment}}
      - id: TOS-001
        title: Trained on outputs of a provider that prohibits competing use
        description: The model or an ancestor was trained on outputs whose terms prohibit it.
        family: tos
        severity: high
        references:
          - {title: Terms of use, url: "https://example.com/terms"}
        remediation: Ask legal to review the output clause.
        message: "{{ model.name }} descends from {{ teacher.id }}"
        subject: {kind: model}
        when:
          all:
            - lineage: {as: teacher, kind: model,
                        via: [trained_on_outputs, distillation, trained_on, generated_by]}
            - exists: {as: clause, kind: clause,
                       where: {type: prohibits_competing_use_of_outputs,
                               provider: {ref: teacher.provider}, quote: {exists: true}}}
        review_if:
          test: {clause.ambiguity: {exists: true}}
      - id: GOV-001
        title: Model has no owner
        description: Every model needs an accountable owner.
        family: governance
        severity: low
        remediation: Set the owner field.
        message: "{{ model.name }} has no owner"
        subject: {kind: model}
        when:
          test: {model.owner: {missing: true}}
    """)


def cli_registry(hostile: bool = False) -> dict[str, Any]:
    """A small registry: a distilled model hosted without approval while its provider is
    investigated. With ``hostile``, free-text fields carry script-injection strings."""
    evil = f"{XSS_SCRIPT} {XSS_IMG} {XSS_FLAG}" if hostile else None
    return {
        "providers": [{"id": "openai", "name": "OpenAI"}, {"id": "deepseek", "name": "DeepSeek"}],
        "terms": [
            {
                "id": "openai-terms",
                "provider": "openai",
                "kind": "tos",
                "title": "Terms of Use",
                "clauses": [
                    {
                        "section": "2(c)",
                        "type": "prohibits_competing_use_of_outputs",
                        "quote": evil or "Use Output to develop models that compete.",
                        "ambiguity": "'compete' is undefined",
                    }
                ],
            }
        ],
        "models": [
            {"id": "gpt-4o", "name": "GPT-4o", "provider": "openai", "owner": "o@example.com"},
            {"id": "deepseek-r1", "name": evil or "DeepSeek R1", "provider": "deepseek"},
        ],
        "lineage": [
            {
                "child": "deepseek-r1",
                "parent": "gpt-4o",
                "relation": "trained_on_outputs",
                "confidence": "alleged",
            }
        ],
        "deployments": [
            {
                "id": "dep-x",
                "model": "deepseek-r1",
                "platform": evil or "acme-cloud",
                "region": "eu-west-1",
                "environment": "prod",
                "status": "active",
            },
            {
                "id": "dep-dev",
                "model": "deepseek-r1",
                "platform": "acme-cloud",
                "region": "us-east-1",
                "environment": "dev",
                "status": "active",
            },
        ],
        "investigations": [
            {
                "id": "inv-1",
                "subject": "deepseek",
                "authority": evil or "OpenAI",
                "authority_type": "vendor_internal",
                "allegation": evil or "use of API outputs to train a competing model",
                "status": "open",
                "opened_at": "2025-01-29",
            }
        ],
        "waivers": [
            {
                "id": "waiver-dev",
                "policy": "HOST-001",
                "subject": "dep-dev",
                "reason": evil or "sandbox",
                "approved_by": "ciso",
                "granted_at": "2025-03-01",
                "expires_at": "2025-09-01",
            }
        ],
    }


def audit_to_files(
    cli: Any, tmp_path: Path, *pairs: tuple[str, str], hostile: bool = False, record: bool = False
) -> dict[str, Path]:
    """Import cli_registry() into a fresh SQLite file and run 'aigov audit' with the given
    (format, file name) pairs; returns the written paths by format."""
    policies = tmp_path / "policies"
    policies.mkdir(exist_ok=True)
    (policies / "p.yaml").write_text(CLI_POLICIES)
    registry = tmp_path / "registry.yaml"
    registry.write_text(yaml.safe_dump(cli_registry(hostile), allow_unicode=True))
    db = f"sqlite:///{tmp_path / 'aigov.db'}"
    imported = cli("registry", "import", "--db", db, registry)
    assert imported.exit_code == 0, imported.stderr
    args: list[Any] = ["audit", "--db", db, "--policies", policies, "--as-of", "2025-06-01", "-q"]
    if not record:
        args.append("--no-record")
    out = {fmt: tmp_path / name for fmt, name in pairs}
    for fmt, path in out.items():
        args += ["--format", fmt, "-o", path]
    audited = cli(*args)
    assert audited.exit_code == 1, audited.stderr  # the registry has blocking findings
    return out
