"""Issue 13, defect 10 in a real browser: the operator's destructive buttons (remove a member, revoke
a key, disable a user, suspend a tenant) ask first; Cancel sends nothing, OK does it."""

import pytest
from django.contrib.auth import get_user_model

from accounts.models import ApiKey, Membership, Tenant
from tests.helpers import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def operator_page(page, live_server, users, key):
    get_user_model().objects.create_user("admin", password="admin-pass-123", is_staff=True)
    sign_in(page, live_server, "admin", "admin-pass-123")
    return page


def click_and_answer(page, selector, *, accept):
    """Click ``selector`` and answer the confirmation; returns the question asked."""
    asked = []

    def answer(dialog):
        asked.append((dialog.type, dialog.message))
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", answer)
    page.click(selector)
    page.wait_for_load_state()
    assert len(asked) == 1 and asked[0][0] == "confirm", asked
    return asked[0][1]


def test_remove_member_and_revoke_key_ask_first(operator_page, live_server, users, key, shot):
    page = operator_page
    page.goto(f"{live_server.url}/staff/tenants/acme/")
    reader = Membership.objects.get(user=users["reader"])
    remove = f"form[action='/staff/tenants/acme/members/{reader.pk}/remove'] button"

    question = click_and_answer(page, remove, accept=False)
    assert question == "Remove reader from acme? The user account remains."
    assert Membership.objects.filter(pk=reader.pk).exists()
    click_and_answer(page, remove, accept=True)
    page.wait_for_selector("text=reader removed from acme")
    assert not Membership.objects.filter(pk=reader.pk).exists()

    revoke = f"form[action='/staff/tenants/acme/keys/{key.pk}/revoke'] button"
    assert key.masked in click_and_answer(page, revoke, accept=False)
    assert ApiKey.objects.get(pk=key.pk).revoked_at is None
    click_and_answer(page, revoke, accept=True)
    page.wait_for_selector(f"text=Key {key.masked} revoked")
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None
    shot(page, "staff-tenant-after-confirmations")


def test_suspend_asks_first_and_resume_does_not(operator_page, live_server):
    page = operator_page
    page.goto(f"{live_server.url}/staff/tenants/acme/")
    suspend = "form[action='/staff/tenants/acme/suspend'] button"
    click_and_answer(page, suspend, accept=False)
    assert Tenant.objects.get(name="acme").is_active
    page.fill("#id_reason", "unpaid invoice")
    click_and_answer(page, suspend, accept=True)
    page.wait_for_selector("text=Resume tenant")
    assert not Tenant.objects.get(name="acme").is_active
    page.click("form[action='/staff/tenants/acme/resume'] button")  # no dialog: it only gives back
    page.wait_for_selector("text=Suspend tenant")
    assert Tenant.objects.get(name="acme").is_active


def test_disable_user_asks_first_and_reset_shows_the_password_once(operator_page, live_server, users, shot):
    page = operator_page
    page.goto(f"{live_server.url}/staff/users/")
    shot(page, "staff-users")
    disable = "form[action='/staff/users/reader/active'] button"
    assert click_and_answer(page, disable, accept=False).startswith("Disable reader?")
    assert get_user_model().objects.get(username="reader").is_active
    click_and_answer(page, disable, accept=True)
    page.wait_for_selector("text=reader is disabled")
    assert not get_user_model().objects.get(username="reader").is_active

    click_and_answer(page, "form[action='/staff/users/owner/password'] button", accept=True)
    password = page.text_content("#new-password").strip()
    assert get_user_model().objects.get(username="owner").check_password(password)
    page.reload()
    page.wait_for_selector("text=Already shown")
    assert password not in page.content()
