"""The HTML report in a real browser: Playwright drives Debian's headless Chromium.

Chromium comes from the distribution (``apt-get install chromium``, at /usr/bin/chromium or
$AIGOV_CHROMIUM), never from ``playwright install``. Without Playwright or Chromium these
tests are skipped, except under ``CI=true``, where they fail: CI must run them.

Checked: no console errors and no network requests (only the file:// document itself),
filters and search, pages, printing styles, a 10,000-model report, and that registry strings
full of markup are shown literally and run nothing. Screenshots are written to
test-artifacts/: report.png (a model opened) and report-first-screen.png (the example
registry's report as an auditor first sees it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aigov.reports import render
from aigov.results.findings import AuditResult
from aigov_testing.cli import invoke_cli
from aigov_testing.env import require_in_ci
from aigov_testing.markup import XSS_FLAG, XSS_IMG, XSS_SCRIPT
from aigov_testing.reports import audit_to_files
from aigov_testing.results import ARTIFACTS, synthetic_result

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("AIGOV_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require_in_ci("Playwright for Python is not installed", cases="the browser tests")
    if not Path(CHROMIUM).is_file():
        require_in_ci(
            f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)",
            cases="the browser tests",
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


class Report:
    """A report opened in a fresh page, with everything the page did recorded."""

    def __init__(self, browser: Any, path: Path):
        self.url = path.resolve().as_uri()
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.console: list[str] = []
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("dialog", self._dialog)
        self.page.goto(self.url)
        self.page.wait_for_selector("html[data-ready='1']")

    def _console(self, message: Any) -> None:
        if message.type in ("error", "warning"):
            self.console.append(f"{message.type}: {message.text}")

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def assert_clean(self) -> None:
        """Nothing went wrong and nothing was fetched but the document."""
        assert self.errors == []
        assert self.console == []
        assert self.requests == [self.url]
        assert self.dialogs == []

    def rows(self) -> list[str]:
        return self.page.eval_on_selector_all(
            "#model-list details.model", "els => els.map(e => e.dataset.model)"
        )

    def set_checkbox(self, name: str, value: str, checked: bool) -> None:
        box = self.page.locator(f"#filters input[name='{name}'][value='{value}']")
        box.set_checked(checked)

    def close(self) -> None:
        self.page.close()


@pytest.fixture
def open_report(browser: Any) -> Iterator[Any]:
    opened: list[Report] = []

    def open_(path: Path) -> Report:
        report = Report(browser, path)
        opened.append(report)
        return report

    yield open_
    for report in opened:
        report.close()


def _write(result: AuditResult, path: Path) -> Path:
    path.write_text(render("html", result), encoding="utf-8")
    return path


def _only_critical(result: AuditResult) -> list[str]:
    """Models all of whose findings are critical: the severity filter must hide them."""
    out = []
    for model in result.models:
        severities = {f.severity.value for f in result.findings if f.model == model.id}
        if severities == {"critical"}:
            out.append(model.id)
    return out


def test_report_in_the_browser(open_report: Any, tmp_path: Path) -> None:
    result = synthetic_result(120, run=True, changes=True)
    report = open_report(_write(result, tmp_path / "report.html"))
    page = report.page
    everything = [
        m.id
        for m in sorted(
            result.models,
            key=lambda m: ({"blocked": 0, "attention": 1, "clean": 2}[m.status], m.id),
        )
    ]
    assert report.rows() == everything[:50]
    assert "Showing models 1\u201350 of 120 matching" in page.inner_text("#match-count")

    # pages
    page.click("#next")
    assert report.rows() == everything[50:100]
    page.select_option("#filters select[name='size']", "0")
    assert report.rows() == everything

    # the severity filter hides rows whose findings are all of that severity, and shows them
    critical_only = _only_critical(result)
    assert critical_only
    report.set_checkbox("sev", "critical", False)
    hidden = set(everything) - set(report.rows())
    assert hidden == set(critical_only)
    assert page.locator(f"details.model[data-model='{critical_only[0]}']").count() == 0
    report.set_checkbox("sev", "critical", True)
    assert report.rows() == everything

    # ... and the findings inside an opened model
    mixed = next(
        m.id
        for m in result.models
        if {f.severity.value for f in result.findings if f.model == m.id} >= {"critical", "high"}
    )
    model = page.locator(f"details.model[data-model='{mixed}']")
    model.locator("summary").click()
    model.locator(".model-body").wait_for()
    critical = model.locator("article.finding[data-sev='critical']")
    assert critical.first.is_visible()
    report.set_checkbox("sev", "critical", False)
    model = page.locator(f"details.model[data-model='{mixed}']")
    model.locator("summary").click()
    model.locator(".model-body").wait_for()
    assert model.locator("article.finding[data-sev='critical']").count() >= 1
    assert not model.locator("article.finding[data-sev='critical']").first.is_visible()
    assert model.locator("article.finding[data-sev='high']").first.is_visible()
    report.set_checkbox("sev", "critical", True)

    # outcome and family filters
    report.set_checkbox("out", "clean", False)
    assert set(report.rows()) == {m.id for m in result.models if m.status != "clean"}
    report.set_checkbox("out", "clean", True)
    report.set_checkbox("fam", "hosting", False)
    report.set_checkbox("fam", "provenance", False)
    assert all(page.locator(f"details.model[data-model='{m}']").count() == 0 for m in critical_only)
    report.set_checkbox("fam", "hosting", True)
    report.set_checkbox("fam", "provenance", True)

    page.select_option("#filters select[name='status']", "clean")
    assert set(report.rows()) == {m.id for m in result.models if m.status == "clean"}
    page.select_option("#filters select[name='status']", "")

    # search finds a model by name (and by text in its findings)
    page.fill("#filters input[name='q']", "Model 00077 Chat")
    assert report.rows() == ["model-00077"]
    assert "Model 00077 Chat" in page.inner_text("#model-list")
    page.fill("#filters input[name='q']", "no such model anywhere")
    assert report.rows() == []
    assert "No model matches" in page.inner_text("#match-count")
    page.fill("#filters input[name='q']", "")
    assert len(report.rows()) == 120

    # a blocked model linked from the summary opens at its section
    page.select_option("#filters select[name='size']", "25")
    target = next(m.id for m in sorted(result.models, key=lambda m: m.id) if m.status == "blocked")
    page.click(f"#summary a.model-link[href='#model-{target}']")
    opened = page.locator(f"details.model[data-model='{target}']")
    opened.locator(".model-body").wait_for()
    assert opened.get_attribute("open") is not None
    body = opened.inner_text()
    assert "Deployments" in body and "Lineage" in body and "Remediation" in body

    # open a model with a clause quote and a lineage path for the screenshot
    page.fill("#filters input[name='q']", "model-00014")
    page.locator("details.model[data-model='model-00014'] summary").click()
    page.locator("details.model[data-model='model-00014'] .model-body").wait_for()
    text = page.inner_text("details.model[data-model='model-00014']")
    assert "“Use Output to develop models that compete.”" in text
    assert "model-00014 —finetune→ base-000 —distillation→ frontier-1" in text
    page.fill("#filters input[name='q']", "")

    # the printed report hides the controls
    page.emulate_media(media="print")
    assert page.locator("#filters").is_hidden()
    page.emulate_media(media="screen")

    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#model-list details.model summary").first.click()
    page.locator("#model-list details.model .model-body").first.wait_for()
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000
    report.assert_clean()


EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "registry"


def test_the_seed_case_is_on_the_first_screen(open_report: Any, tmp_path: Path) -> None:
    """The example registry's report, as an auditor first sees it (1280x900, no scrolling):
    the open investigation into DeepSeek and the hosted DeepSeek-R1 it touches, and the
    blocked models worst first with their worst finding. The first screen is kept as
    test-artifacts/report-first-screen.png."""
    db = f"sqlite:///{tmp_path / 'aigov.db'}"
    assert invoke_cli(tmp_path, "registry", "import", "--db", db, EXAMPLES).exit_code == 0
    html = tmp_path / "report.html"
    audited = invoke_cli(
        tmp_path, "audit", "--db", db, "--as-of", "2025-06-01", "--no-record", "-q",
        "--format", "html", "-o", html,
    )  # fmt: skip
    assert audited.exit_code == 1, audited.output
    report = open_report(html)
    page = report.page
    height = page.viewport_size["height"]

    def on_first_screen(selector: str) -> bool:
        box = page.locator(selector).first.bounding_box()
        return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height

    assert on_first_screen("#investigations tr.investigation:has-text('inv-garante-deepseek')")
    assert on_first_screen("#investigations a.model-link[href='#model-deepseek-r1']")
    first_blocked = "#summary table.list:has(th:has-text('worst finding')) tbody tr"
    assert "critical" in page.locator(first_blocked).first.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report-first-screen.png"))
    assert (ARTIFACTS / "report-first-screen.png").stat().st_size > 10_000
    report.assert_clean()


def _assert_inert(report: Report, literal: list[str]) -> None:
    page = report.page
    page.click("#expand-all")
    page.wait_for_selector("#model-list .model-body")
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    page.wait_for_timeout(200)  # give any injected handler a chance to run
    assert page.evaluate("window.__aigovXss") is None
    assert page.evaluate("document.querySelectorAll('body img, body svg, body iframe').length") == 0
    # the report's own two scripts only
    assert page.evaluate("document.scripts.length") == 2
    text = page.inner_text("body")
    for value in literal:
        assert value in text, value
    report.assert_clean()


def test_injected_markup_from_the_registry_runs_nothing(
    open_report: Any, cli: Any, tmp_path: Path
) -> None:
    """A real audit of a registry whose model name, investigation authority and allegation,
    deployment platform, clause quote and waiver reason are script-injection strings."""
    files = audit_to_files(cli, tmp_path, ("html", "xss.html"), hostile=True)
    report = open_report(files["html"])
    allegations = report.page.inner_text("#investigations")
    assert XSS_SCRIPT in allegations and XSS_IMG in allegations
    _assert_inert(report, [XSS_SCRIPT, XSS_IMG, XSS_FLAG])


def test_injected_markup_in_every_field_runs_nothing(open_report: Any, tmp_path: Path) -> None:
    result = synthetic_result(12, hostile=True, run=True)
    report = open_report(_write(result, tmp_path / "hostile.html"))
    _assert_inert(report, [XSS_SCRIPT, XSS_IMG, XSS_FLAG])


def test_ten_thousand_models_stay_usable(open_report: Any, tmp_path: Path) -> None:
    result = synthetic_result(10_000)
    report = open_report(_write(result, tmp_path / "big.html"))
    page = report.page
    assert len(report.rows()) == 50
    assert "of 10000 matching" in page.inner_text("#match-count")
    page.fill("#filters input[name='q']", "model-09999")
    assert report.rows() == ["model-09999"]
    page.locator("details.model[data-model='model-09999'] summary").click()
    page.locator("details.model[data-model='model-09999'] .model-body").wait_for()
    assert "Findings" in page.inner_text("details.model[data-model='model-09999']")
    report.set_checkbox("sev", "critical", False)
    page.fill("#filters input[name='q']", "")
    assert len(report.rows()) == 50
    report.assert_clean()


def test_the_content_security_policy_is_enforced(browser: Any, tmp_path: Path) -> None:
    """The CSP is not decoration: a script whose hash is not the one in the policy does not
    run (here the report's own script, changed by one character after rendering)."""
    html = render("html", synthetic_result(3))
    script = html.rsplit("<script>", 1)[1]
    tampered = html.replace(script, script.replace('"use strict";', '"use strict"; ', 1))
    assert tampered != html
    path = tmp_path / "tampered.html"
    path.write_text(tampered, encoding="utf-8")
    page = browser.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    try:
        page.goto(path.resolve().as_uri())
        page.wait_for_load_state("load")
        assert page.evaluate("document.documentElement.dataset.ready") is None
        assert page.locator("#model-list details.model").count() == 0
        assert any("Content Security Policy" in line for line in console), console
    finally:
        page.close()
