"""Webhook pages: endpoints (accounts: list, create with the secret shown once, edit, rotate,
delete) for owners and members, read-only and other tenants; staff for any tenant; the delivery
log (videos) with resend and a test event."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import services
from accounts.models import AuditEntry, WebhookEndpoint
from tests.helpers import make_task, signed_in
from tests.pages.test_dashboard_keys import database_text
from tests.simulators.receiver import Receiver
from videos import services as tasks
from videos import webhooks
from videos.models import VideoTask, WebhookEvent

pytestmark = pytest.mark.django_db

PUBLIC_URL = "https://8.8.8.8/video"  # a public address: passes the SSRF check without DNS


@pytest.fixture
def endpoint(tenant):
    endpoint, secret = services.create_webhook_endpoint(tenant, url=PUBLIC_URL, description="prod")
    endpoint.secret = secret
    return endpoint


@pytest.fixture
def receiver(settings):
    settings.GATEWAY_ALLOW_PRIVATE_URLS = True
    with Receiver() as simulator:
        yield simulator


def secret_on(response):
    return response.content.decode().split('<code id="new-secret">')[1].split("</code>")[0]


def failed_task(tenant):
    task = make_task(tenant)
    tasks.finish(task, VideoTask.Status.FAILED, error_code="vendor_failed", error_message="x")
    return task


def test_owner_creates_an_endpoint_and_sees_its_secret_once(owner, tenant):
    assert owner.get("/webhooks/new/").status_code == 200
    response = owner.post(
        "/webhooks/new/", {"url": PUBLIC_URL, "description": "production", "events": ["video.failed"]}
    )
    endpoint = WebhookEndpoint.objects.get(tenant=tenant)
    assert response.status_code == 302 and response["Location"] == f"/webhooks/{endpoint.public_id}/secret/"
    response = owner.get(response["Location"])
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    secret = secret_on(response)
    assert services.is_webhook_secret(secret) and services.webhook_secret(endpoint) == secret
    assert (endpoint.url, endpoint.description, endpoint.events, endpoint.enabled) == (
        PUBLIC_URL,
        "production",
        ["video.failed"],
        True,
    )
    # Never again: not on the next pages, and not in clear in the database.
    for url in ("/webhooks/", f"/webhooks/{endpoint.public_id}/edit/", f"/webhooks/{endpoint.public_id}/deliveries/"):
        page = owner.get(url)
        assert page.status_code == 200 and secret not in page.content.decode()
    assert secret not in database_text()
    listing = owner.get("/webhooks/").content.decode()
    assert PUBLIC_URL in listing and "video.failed" in listing and "production" in listing


def test_the_form_refuses_private_addresses_plain_http_in_production_and_duplicates(owner, endpoint, settings):
    settings.GATEWAY_ALLOW_PRIVATE_URLS = False
    cases = [
        ("http://127.0.0.1:8000/hook", "private or local address (127.0.0.1)"),
        ("https://localhost/hook", "private or local address (127.0.0.1)"),  # a name resolving to loopback
        ("http://169.254.169.254/latest", "private or local address"),
        ("not a url", "Enter a valid URL"),
        (PUBLIC_URL, "already has an endpoint with this URL"),
    ]
    for url, error in cases:
        response = owner.post("/webhooks/new/", {"url": url})
        assert response.status_code == 200 and error in response.content.decode(), url
    settings.PRODUCTION = True
    response = owner.post("/webhooks/new/", {"url": "http://8.8.4.4/hook"})
    assert "must be an https:// URL" in response.content.decode()
    assert WebhookEndpoint.objects.count() == 1
    settings.GATEWAY_ALLOW_PRIVATE_URLS = True  # the operator allows private addresses: accepted
    settings.PRODUCTION = False
    assert owner.post("/webhooks/new/", {"url": "http://127.0.0.1:8000/hook"}).status_code == 302
    assert WebhookEndpoint.objects.count() == 2


def test_edit_changes_the_endpoint_and_enabling_clears_why_it_was_disabled(owner, endpoint):
    reason = "Disabled automatically on 2026-01-01 00:00 UTC: every delivery since ... failed (last: HTTP 500)."
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        enabled=False, disabled_reason=reason, failing_since=timezone.now()
    )
    assert reason in owner.get("/webhooks/").content.decode()  # the tenant sees why
    assert reason in owner.get(f"/webhooks/{endpoint.public_id}/edit/").content.decode()
    response = owner.post(
        f"/webhooks/{endpoint.public_id}/edit/",
        {"url": "https://8.8.4.4/v2", "description": "new", "events": ["video.completed"], "enabled": "on"},
    )
    assert response.status_code == 302 and response["Location"] == "/webhooks/"
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.description, endpoint.events, endpoint.enabled) == (
        "https://8.8.4.4/v2",
        "new",
        ["video.completed"],
        True,
    )
    assert endpoint.disabled_reason == "" and endpoint.failing_since is None
    owner.post(f"/webhooks/{endpoint.public_id}/edit/", {"url": "https://8.8.4.4/v2"})  # unticked: paused
    endpoint.refresh_from_db()
    assert not endpoint.enabled and endpoint.events == []


def test_reloading_the_secret_page_makes_no_endpoint_and_shows_the_secret_no_more(owner, tenant, reader):
    response = owner.post("/webhooks/new/", {"url": PUBLIC_URL}, follow=True)
    secret = secret_on(response)
    url = response.redirect_chain[-1][0]
    again = owner.get(url)  # the browser's reload is a GET of the page it was redirected to
    html = again.content.decode()
    assert again.status_code == 200 and secret not in html and "already shown" in html
    assert WebhookEndpoint.objects.filter(tenant=tenant).count() == 1
    assert reader.get(url).status_code == 200  # members may read; no secret, no rotate button
    assert "/rotate/" not in reader.get(url).content.decode()
    other = owner.post(f"{url.removesuffix('secret/')}rotate/", follow=True)
    assert secret_on(other) != secret and secret_on(other) not in owner.get(url).content.decode()


def test_rotate_shows_the_new_secret_once_and_keeps_the_old_one_signing_for_a_day(owner, endpoint):
    assert "24 hours" in owner.get(f"/webhooks/{endpoint.public_id}/rotate/").content.decode()
    response = owner.post(f"/webhooks/{endpoint.public_id}/rotate/", follow=True)
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    new = secret_on(response)
    endpoint.refresh_from_db()
    assert services.webhook_signing_secrets(endpoint) == [new, endpoint.secret]
    assert "the previous one signs too until" in owner.get("/webhooks/").content.decode()
    later = timezone.now() + timedelta(hours=24, minutes=1)
    assert services.webhook_signing_secrets(endpoint, now=later) == [new]


def test_delete_asks_then_deletes(owner, endpoint):
    assert owner.get(f"/webhooks/{endpoint.public_id}/delete/").status_code == 200
    response = owner.post(f"/webhooks/{endpoint.public_id}/delete/")
    assert response.status_code == 302
    assert not WebhookEndpoint.objects.exists()


def test_read_only_member_sees_endpoints_but_cannot_change_them(reader, endpoint):
    html = reader.get("/webhooks/").content.decode()
    assert PUBLIC_URL in html and "read-only access" in html
    assert "/webhooks/new/" not in html and "/edit/" not in html and "/rotate/" not in html
    assert reader.get(f"/webhooks/{endpoint.public_id}/deliveries/").status_code == 200
    assert "Send test event" not in reader.get(f"/webhooks/{endpoint.public_id}/deliveries/").content.decode()
    assert reader.get("/webhooks/new/").status_code == 404
    assert reader.post("/webhooks/new/", {"url": "https://8.8.4.4/x"}).status_code == 404
    for action in ("edit", "rotate", "delete"):
        assert reader.get(f"/webhooks/{endpoint.public_id}/{action}/").status_code == 404
        assert reader.post(f"/webhooks/{endpoint.public_id}/{action}/", {"url": "https://8.8.4.4/x"}).status_code == 404
    assert reader.post(f"/webhooks/{endpoint.public_id}/test").status_code == 404
    event = webhooks.send_test_event(endpoint)
    assert reader.post(f"/webhooks/{endpoint.public_id}/deliveries/{event.public_id}/resend").status_code == 404
    endpoint.refresh_from_db()
    assert endpoint.url == PUBLIC_URL and services.webhook_secret(endpoint) == endpoint.secret
    assert WebhookEndpoint.objects.count() == 1 and WebhookEvent.objects.count() == 1


def test_other_tenant_gets_404_on_every_endpoint_url(users, endpoint):
    outsider = signed_in(users["outsider"])
    assert PUBLIC_URL not in outsider.get("/webhooks/").content.decode()
    event = webhooks.send_test_event(endpoint)
    base = f"/webhooks/{endpoint.public_id}"
    assert outsider.get(f"{base}/deliveries/").status_code == 404
    for url in (f"{base}/edit/", f"{base}/rotate/", f"{base}/delete/"):
        assert outsider.get(url).status_code == 404, url
        assert outsider.post(url, {"url": "https://8.8.4.4/x"}).status_code == 404, url
    assert outsider.post(f"{base}/test").status_code == 404
    assert outsider.post(f"{base}/deliveries/{event.public_id}/resend").status_code == 404
    endpoint.refresh_from_db()
    assert endpoint.url == PUBLIC_URL and WebhookEvent.objects.count() == 1


def test_delivery_log_resend_and_test_event(owner, tenant, receiver):
    endpoint, _ = services.create_webhook_endpoint(tenant, url=receiver.hook_url)
    receiver.fail_next(500, {"error": "down for a minute"})
    task = failed_task(tenant)
    assert webhooks.sweep() == 1
    event = WebhookEvent.objects.get()
    html = owner.get(f"/webhooks/{endpoint.public_id}/deliveries/").content.decode()
    for text in (event.public_id, "video.failed", task.public_id, "HTTP 500", "down for a minute", "Retrying"):
        assert text in html, text
    assert f"/tasks/{task.public_id}/" in html

    # Resend: a new attempt of the same event now, not at its scheduled retry.
    response = owner.post(f"/webhooks/{endpoint.public_id}/deliveries/{event.public_id}/resend")
    assert response.status_code == 302
    assert webhooks.sweep() == 1
    event.refresh_from_db()
    assert event.status == "delivered" and event.attempts == 2
    assert [r.headers["webhook-id"] for r in receiver.deliveries()] == [event.public_id] * 2
    owner.post(f"/webhooks/{endpoint.public_id}/deliveries/{event.public_id}/resend")  # again, once delivered
    assert webhooks.sweep() == 1 and len(receiver.deliveries()) == 3

    # A test event, delivered by the worker like any other.
    response = owner.post(f"/webhooks/{endpoint.public_id}/test")
    assert response.status_code == 302
    assert receiver.deliveries()[-1].headers["webhook-id"] == event.public_id  # not sent by the request
    assert webhooks.sweep() == 1
    sent = json.loads(receiver.deliveries()[-1].body)
    assert sent["type"] == "webhook.test" and sent["data"]["endpoint_id"] == endpoint.public_id
    html = owner.get(f"/webhooks/{endpoint.public_id}/deliveries/").content.decode()
    assert "webhook.test" in html and "Delivered" in html


def test_delivery_log_queries_are_bounded(owner, tenant, endpoint, django_assert_max_num_queries):
    for _ in range(20):
        failed_task(tenant)
    assert WebhookEvent.objects.count() == 20
    with django_assert_max_num_queries(9):
        assert owner.get(f"/webhooks/{endpoint.public_id}/deliveries/").status_code == 200


def test_staff_manage_the_endpoints_of_any_tenant(staff_client, owner, tenant, endpoint, receiver):
    page = staff_client.get(f"/staff/tenants/{tenant.name}/").content.decode()
    assert PUBLIC_URL in page and "Add endpoint" in page

    response = staff_client.post(f"/staff/tenants/{tenant.name}/webhooks/new", {"url": receiver.hook_url}, follow=True)
    assert response.status_code == 200
    secret = secret_on(response)
    created = WebhookEndpoint.objects.get(url=receiver.hook_url)
    assert created.tenant == tenant and services.webhook_secret(created) == secret

    base = f"/staff/tenants/{tenant.name}/webhooks/{created.public_id}"
    response = staff_client.post(
        f"{base}/edit", {"url": receiver.hook_url, "events": ["video.failed"], "enabled": "on"}
    )
    assert response.status_code == 302
    created.refresh_from_db()
    assert created.events == ["video.failed"]
    rotated = secret_on(staff_client.post(f"{base}/rotate", follow=True))
    assert "new-secret" not in staff_client.get(f"{base}/secret").content.decode()  # shown once
    created.refresh_from_db()
    assert services.webhook_signing_secrets(created) == [rotated, secret]

    assert staff_client.post(f"{base}/test").status_code == 302
    assert webhooks.sweep() == 1
    assert len(receiver.deliveries()) == 1
    log = staff_client.get(f"{base}/deliveries/").content.decode()
    assert "webhook.test" in log and "Delivered" in log

    assert staff_client.post(f"{base}/delete").status_code == 302
    assert not WebhookEndpoint.objects.filter(pk=created.pk).exists()
    actions = list(AuditEntry.objects.filter(target=tenant.name).values_list("action", flat=True))
    assert sorted(actions) == ["webhook.changed", "webhook.created", "webhook.deleted", "webhook.secret_rotated"]
    assert secret not in json.dumps(list(AuditEntry.objects.values_list("detail", flat=True)))

    # The staff pages are not the tenant's: an owner gets 404 there.
    for url in (f"/staff/tenants/{tenant.name}/webhooks/new", f"{base}/deliveries/"):
        assert owner.get(url).status_code == 404
    # Staff pages for another tenant's endpoint under the wrong tenant name: 404.
    assert staff_client.get(f"/staff/tenants/globex/webhooks/{endpoint.public_id}/edit").status_code == 404
