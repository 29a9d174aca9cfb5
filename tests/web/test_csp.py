"""The dashboard under its Content-Security-Policy, in a real browser: charts still draw, and
nothing of ours (scripts, styles) is blocked."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from csmetrics import Workspace
from csmetrics.demo import write_company
from csmetrics.store.accounts import Accounts
from tests.conftest import DEMO_END_DAY
from tests.serving import served

PASSWORD = "csp-password-1"
RECORD = ("window.__csp = []; document.addEventListener('securitypolicyviolation', e => "
          "window.__csp.push([e.violatedDirective, e.blockedURI, e.sourceFile].join(' ')));")


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("csp")
    ws = Workspace.init(folder / "ws", name="CSP Co")
    for table, paths in write_company(folder / "files", customers=30, months=6, seed=3,
                                      end=DEMO_END_DAY).items():
        ws.ingest(table, paths)
    Accounts(ws.warehouse.sql).add_user("viv", PASSWORD, "viewer")
    with served(ws) as url:
        yield url
    ws.close()


def _chromium(p: Playwright) -> Browser:
    """Debian's chromium, headless."""
    executable = shutil.which("chromium")
    assert executable, "Debian's chromium is missing: 'make test' installs it"
    return p.chromium.launch(executable_path=executable, headless=True, args=[
        "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"])


def test_pages_draw_their_charts_under_the_content_security_policy(base_url):
    with sync_playwright() as p:
        browser = _chromium(p)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.route("**/*", lambda route: route.continue_()
                   if route.request.url.startswith("http://127.0.0.1") else route.abort())
        page.add_init_script(RECORD)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(base_url + "/login")
        page.fill("input[name=username]", "viv")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector(".tile")
        violations: list[str] = []
        for path in ("/", "/revenue", "/customers"):
            response = page.goto(base_url + path)
            assert response is not None and response.ok
            assert "script-src 'self'" in response.headers["content-security-policy"]
            if path != "/customers":
                page.wait_for_function("[...document.querySelectorAll('.chart')].every("
                                       "c => c.querySelector('.main-svg'))")
            violations += page.evaluate("window.__csp")
        customer = page.locator("table a").first.get_attribute("href")
        page.goto(base_url + str(customer))
        page.wait_for_selector(".main-svg")
        violations += page.evaluate("window.__csp")
        # plotly's own rules come from /static/plotly.css (direction: ltr is one of them)
        assert page.evaluate("getComputedStyle(document.querySelector("
                             "'.js-plotly-plot .plotly')).direction") == "ltr"
        browser.close()
    assert not errors
    # the one thing blocked: the map library's stylesheet bundled in plotly.js, which it
    # injects inline at load (no map charts here)
    assert all(v.startswith("style-src-elem inline") and v.endswith("/static/plotly.min.js")
               for v in violations), violations


def test_the_api_documentation_works_offline_under_the_policy(base_url):
    """Swagger UI comes from the installed package: the page lists the API's operations with
    every request kept on this server, and nothing is blocked."""
    with sync_playwright() as p:
        browser = _chromium(p)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        elsewhere: list[str] = []

        def only_here(route) -> None:  # noqa: ANN001 - playwright's Route
            if route.request.url.startswith("http://127.0.0.1"):
                route.continue_()
            else:
                elsewhere.append(route.request.url)
                route.abort()

        page.route("**/*", only_here)
        page.add_init_script(RECORD)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        response = page.goto(base_url + "/api/v1/docs")
        assert response is not None and response.ok
        page.wait_for_selector(".opblock-summary-path")
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        violations = page.evaluate("window.__csp")
        browser.close()
    assert "/api/v1/metrics/{name}" in [p.replace("\u200b", "") for p in paths]
    assert "/api/v1/_cli" not in paths
    assert not errors and not elsewhere and not violations, (errors, elsewhere, violations)
