"""The production Content-Security-Policy (settings.CSP_POLICY, sent by django-csp) in a real
browser: the main pages, signed in as a tenant owner and as staff, raise no CSP violation (no
inline script, style or handler anywhere), and the progress bars still get their width."""

import pytest
from django.contrib.auth import get_user_model

from tests.helpers import make_task, sign_in
from videos.models import VideoTask

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + e.sourceFile + ":" + e.lineNumber);
});
"""


@pytest.fixture
def strict(settings):
    settings.CONTENT_SECURITY_POLICY = settings.CSP_POLICY


def visit(page, url, problems):
    response = page.goto(url)
    page.wait_for_load_state("load")
    assert response.status == 200, url
    assert "default-src 'self'" in response.headers["content-security-policy"], url
    problems.extend(f"{url}: {v}" for v in page.evaluate("window.__csp || []"))


def watched(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.add_init_script(WATCH)
    page = context.new_page()
    page.set_default_timeout(15_000)
    problems = []
    page.on("console", lambda m: "Content Security Policy" in m.text and problems.append(f"console: {m.text}"))
    return context, page, problems


def test_tenant_pages_pass_the_csp(browser, live_server, strict, users, tenant):
    running = make_task(tenant, status=VideoTask.Status.IN_PROGRESS, progress=40)
    make_task(tenant, status=VideoTask.Status.FAILED)
    context, page, problems = watched(browser)
    try:
        url = live_server.url
        visit(page, f"{url}/login/", problems)
        visit(page, f"{url}/docs", problems)  # Swagger UI (drf-spectacular): allowed by hash in CSP_POLICY
        page.wait_for_selector(".swagger-ui .info")
        problems.extend(f"/docs: {v}" for v in page.evaluate("window.__csp || []"))
        sign_in(page, live_server, "owner", "pw-owner-123")
        for path in ["/tasks/", f"/tasks/{running.public_id}/"]:
            visit(page, url + path, problems)
            # app.js (not a style attribute, which the CSP blocks) sizes the progress bar.
            assert page.locator(".progress-bar").first.evaluate("el => el.style.width") == "40%"
        for path in ["/usage/", "/keys/", "/keys/new/", "/webhooks/", "/password/"]:
            visit(page, url + path, problems)
    finally:
        context.close()
    assert problems == []


def test_staff_pages_pass_the_csp(browser, live_server, strict, users, tenant, sandbox):
    get_user_model().objects.create_user("admin", password="admin-pass-123", is_staff=True)
    task = make_task(tenant, status=VideoTask.Status.IN_PROGRESS, progress=10)
    context, page, problems = watched(browser)
    try:
        url = live_server.url
        sign_in(page, live_server, "admin", "admin-pass-123")
        for path in [
            "/staff/channels/",
            "/staff/channels/new?vendor=openai",
            "/staff/prices/",
            "/staff/tenants/",
            "/staff/tenants/acme/",
            "/staff/tasks/",
            f"/staff/tasks/{task.public_id}/",
            "/staff/health/",
            "/staff/audit/",
            "/staff/lockouts/",
        ]:
            visit(page, url + path, problems)
    finally:
        context.close()
    assert problems == []
