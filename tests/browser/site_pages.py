"""Every page of the dashboard, as one list the whole-site browser tests walk (axe-core, phone width,
screenshots): tests/browser/test_accessibility.py and test_phone_width.py.

A page is a URL name plus how to reach it: who is signed in, the URL's arguments (taken from the
`site` fixture's objects), a query string, or a `reach` step for pages that are the end of a flow
(a form's answer). A name with no route yet is skipped, so a page joins the walk as soon as its
URL exists: add new pages at the end of PAGES.

This module is also the URL configuration of those tests (`pytest.mark.urls`): the site's routes
plus /test-error/<status>/, which raises what makes Django render 400.html, 403.html and 500.html.
"""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.urls import NoReverseMatch, get_resolver, path, reverse
from django.utils import timezone

import config.urls
from accounts import services as money
from accounts.models import AuditEntry
from channels.models import Price
from tests.helpers import make_task, sign_in
from videos.models import VideoTask

PASSWORDS = {"owner": "pw-owner-123", "staff": "pw-staff-123"}
WIDTHS = {"wide": 1366, "phone": 390}


def raise_error(request, status):
    if status == 400:
        raise SuspiciousOperation("test-error")
    if status == 403:
        raise PermissionDenied("This account is suspended; pages are read-only.")
    raise RuntimeError("test-error: the 500 page")


urlpatterns = [path("test-error/<int:status>/", raise_error, name="test-error"), *config.urls.urlpatterns]


def submit(page, button):
    """Click a form's submit button and return the status of the page it leads to."""
    with page.expect_navigation() as navigation:
        page.click(button)
    return navigation.value.status


def create_key(page, url, site):
    """The key-created page: where the new-key form leads."""
    page.goto(url + reverse("key-create"))
    page.fill("#id_name", "walked")
    return submit(page, "main button[type=submit]")


def create_endpoint(page, url, site):
    """The signing-secret page: where the new-endpoint form leads."""
    page.goto(url + reverse("webhook-create"))
    page.fill("#id_url", "https://example.com/hooks/walked")
    return submit(page, "main button[type=submit]")


def fail_csrf(page, url, site):
    """403_csrf.html: the sign-in form sent with a forged CSRF token."""
    page.goto(url + reverse("login"))
    page.eval_on_selector("[name=csrfmiddlewaretoken]", "el => el.value = 'x'.repeat(64)")
    page.fill("#id_username", "owner")
    page.fill("#id_password", PASSWORDS["owner"])
    return submit(page, "main button[type=submit]")


def unknown_url(page, url, site):
    return page.goto(url + "/no-such-page/").status


@dataclass(frozen=True)
class SitePage:
    name: str  # the URL name (and the screenshot's name, unless `label`)
    who: str | None  # "owner" (acme's owner), "staff" (the operator), None: signed out
    args: Any = None  # site -> the URL's arguments
    query: str = ""
    status: int = 200
    reach: Any = None  # (page, live server url, site) -> HTTP status: a flow that ends on the page
    label: str = ""

    @property
    def id(self):
        return self.label or self.name

    def routed(self):
        """Whether the URL name exists (pages other helpers are still building may not)."""
        return self.name in get_resolver().reverse_dict

    def url(self, site):
        return reverse(self.name, args=self.args(site) if self.args else ()) + self.query

    def open(self, page, base_url, site):
        """Go to the page in `page` (signed in as `who` already) and return the HTTP status."""
        if not self.routed():
            pytest.skip(f"no route named {self.name!r} yet")
        if self.reach:
            return self.reach(page, base_url, site)
        try:
            target = base_url + self.url(site)
        except NoReverseMatch as error:
            pytest.skip(f"{self.name}: {error}")
        return page.goto(target).status


def tenant_key(site):
    return [site["key"].lookup]


def endpoint(site):
    return [site["endpoint"].public_id]


PAGES = [
    SitePage("login", None),
    # acme's owner
    SitePage("task-list", "owner"),
    SitePage("task-detail", "owner", args=lambda site: [site["completed"].public_id], label="task-completed"),
    SitePage("task-detail", "owner", args=lambda site: [site["running"].public_id], label="task-running"),
    SitePage("task-detail", "owner", args=lambda site: [site["failed"].public_id], label="task-failed"),
    SitePage("usage", "owner"),
    SitePage("key-list", "owner"),
    SitePage("key-create", "owner"),
    SitePage("key-edit", "owner", args=tenant_key),
    SitePage("key-revoke", "owner", args=tenant_key),
    SitePage("webhook-list", "owner"),
    SitePage("webhook-create", "owner"),
    SitePage("webhook-edit", "owner", args=endpoint),
    SitePage("webhook-rotate", "owner", args=endpoint),
    SitePage("webhook-delete", "owner", args=endpoint),
    SitePage("webhook-deliveries", "owner", args=endpoint),
    SitePage("password_change", "owner"),
    # the operator
    SitePage("staff-channels", "staff"),
    SitePage("staff-channel-new", "staff"),
    SitePage("staff-channel-new", "staff", query="?vendor=openai", label="staff-channel-new-openai"),
    SitePage("staff-channel", "staff", args=lambda site: [site["channel"].pk]),
    SitePage("staff-prices", "staff"),
    SitePage("staff-price-new", "staff"),
    SitePage("staff-price", "staff", args=lambda site: [site["price"].pk]),
    SitePage("staff-tenants", "staff"),
    SitePage("staff-tenant-new", "staff"),
    SitePage("staff-tenant", "staff", args=lambda site: [site["tenant"].name]),
    SitePage("staff-tasks", "staff"),
    SitePage("staff-task", "staff", args=lambda site: [site["failed"].public_id]),
    SitePage("staff-health", "staff"),
    SitePage("staff-audit", "staff"),
    SitePage("staff-lockouts", "staff"),
    SitePage("staff-webhook-deliveries", "staff", args=lambda site: [site["tenant"].name, site["endpoint"].public_id]),
    # error pages
    SitePage("login", "owner", reach=unknown_url, label="error-404", status=404),
    SitePage("login", None, reach=unknown_url, label="error-404-signed-out", status=404),
    SitePage("test-error", "owner", args=lambda site: [403], label="error-403", status=403),
    SitePage("test-error", "owner", args=lambda site: [400], label="error-400", status=400),
    SitePage("test-error", "owner", args=lambda site: [500], label="error-500", status=500),
    SitePage("login", None, reach=fail_csrf, label="error-403-csrf", status=403),
    # pages other helpers are building: walked once their URL names exist
    SitePage("playground", "owner"),
    SitePage("key-created", "owner", reach=create_key),
    SitePage("staff-overview", "staff"),
    SitePage("staff-users", "staff"),
    SitePage("webhook-secret", "owner", reach=create_endpoint),
    SitePage("staff-channel-archive", "staff", args=lambda site: [site["channel"].pk]),
]


def build_site(tenant, users, sandbox):
    """The objects the pages show: acme (owner `owner`) with tasks in three states, a key and a webhook
    endpoint; the sandbox channel and its prices; an operator `staff`; an audit entry."""
    staff = get_user_model().objects.create_user("staff", password=PASSWORDS["staff"], is_staff=True)
    key, _ = money.issue_key(tenant, name="production")
    endpoint, _ = money.create_webhook_endpoint(tenant, url="https://example.com/hooks/video", description="CI")
    now = timezone.now()
    common = {"api_key": key, "channel": sandbox, "prompt": "a paper boat drifting down a rainy street", "seconds": 4}
    completed = make_task(
        tenant,
        status=VideoTask.Status.COMPLETED,
        progress=100,
        finished_at=now,
        amount_held=40_000,
        amount_charged=40_000,
        **common,
    )
    running = make_task(tenant, status=VideoTask.Status.IN_PROGRESS, progress=40, **common)
    failed = make_task(
        tenant,
        status=VideoTask.Status.FAILED,
        error_code="upstream_error",
        error_message="The vendor refused the prompt.",
        finished_at=now - timedelta(minutes=5),
        **common,
    )
    AuditEntry.objects.create(user=staff, action="tenant.topup", target=tenant.name, detail={"amount": "10.00"})
    return {
        "tenant": tenant,
        "users": users,
        "staff": staff,
        "key": key,
        "endpoint": endpoint,
        "channel": sandbox,
        "price": Price.objects.filter(model="sandbox-video").get(),
        "completed": completed,
        "running": running,
        "failed": failed,
    }


def signed_in_page(browser, live_server, who, width):
    """A new browser context at `width` px, signed in as `who` (or not)."""
    context = browser.new_context(viewport={"width": width, "height": 860})
    page = context.new_page()
    page.set_default_timeout(15_000)
    if who:
        sign_in(page, live_server, who, PASSWORDS[who])
    return context, page
