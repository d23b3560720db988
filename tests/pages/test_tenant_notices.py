"""Notices at the top of a tenant's pages (templates/accounts/_notices.html): a low or empty
balance, and a suspended account, whose pages stay readable but change nothing."""

import pytest

from accounts.models import ApiKey, Tenant
from tests.helpers import USD

pytestmark = pytest.mark.django_db

PAGES = ("/tasks/", "/keys/", "/webhooks/", "/usage/")


def notice(client, url="/keys/"):
    html = client.get(url).content.decode()
    if 'class="message' not in html or "notice" not in html:
        return ""
    return html.split('role="status">')[1].split("</div>")[0].strip()


def test_no_notice_while_the_balance_is_healthy(owner, tenant):
    assert tenant.balance == 10 * USD
    assert notice(owner) == ""


def test_low_balance_warns_on_every_page(owner, reader, tenant):
    Tenant.objects.filter(pk=tenant.pk).update(balance=3 * USD)
    for url in PAGES:
        text = notice(owner, url)
        assert text.startswith("Low balance: $3") and "ask the operator to top it up" in text, url
    assert notice(reader).startswith("Low balance")  # read-only members see it too
    Tenant.objects.filter(pk=tenant.pk).update(balance=5 * USD)  # the threshold itself is not low
    assert notice(owner) == ""


def test_an_empty_balance_says_new_videos_are_refused(owner, tenant):
    Tenant.objects.filter(pk=tenant.pk).update(balance=0)
    assert notice(owner).startswith("Your balance is $0") and "new videos are refused" in notice(owner)


def test_only_the_current_tenants_balance_counts(owner, users, other_tenant, tenant):
    Tenant.objects.filter(pk=other_tenant.pk).update(balance=0)
    assert notice(owner) == ""


def test_a_suspended_account_is_read_only_and_says_so(owner, reader, tenant, key):
    Tenant.objects.filter(pk=tenant.pk).update(is_active=False, balance=0)
    for url in PAGES:
        response = owner.get(url)
        assert response.status_code == 200, url
        assert notice(owner, url) == "This account is suspended; pages are read-only. " + (
            "Its API keys are refused until the operator resumes it."
        )
    assert "/keys/new/" not in owner.get("/keys/").content.decode()  # no buttons that would fail
    assert owner.get("/keys/new/").status_code == 403
    assert owner.post("/keys/new/", {"name": "while suspended"}).status_code == 403
    assert owner.post(f"/keys/{key.lookup}/revoke/").status_code == 403
    assert owner.post("/webhooks/new/", {"url": "https://example.com/hook"}).status_code == 403
    assert ApiKey.objects.count() == 1
    assert notice(reader).startswith("This account is suspended")


def test_staff_without_a_tenant_see_no_notice(staff_client):
    html = staff_client.get("/staff/tenants/").content.decode()
    assert "Low balance" not in html and "suspended; pages are read-only" not in html
