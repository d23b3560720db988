"""The operator's user list (issue 13): every user with their tenants and roles, staff flag, last
sign-in and status; disable / enable (never yourself) and a generated password shown once, audited."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from accounts.models import AuditEntry, Membership, Tenant
from tests.helpers import signed_in

pytestmark = pytest.mark.django_db


def _row(page, username):
    start = page.index(f"<strong>{username}</strong>")
    return page[start : page.index("</tr>", start)]


def test_the_list_shows_tenants_roles_staff_last_sign_in_and_status(
    staff_client, staff, users, django_assert_max_num_queries
):
    Membership.objects.create(tenant=Tenant.objects.get(name="globex"), user=users["owner"], role="read_only")
    users["reader"].last_login = timezone.make_aware(timezone.datetime(2026, 3, 4, 5, 6))
    users["reader"].save()
    users["outsider"].is_active = False
    users["outsider"].save()
    for number in range(10):
        get_user_model().objects.create_user(f"extra{number}")
    with django_assert_max_num_queries(8):
        page = staff_client.get("/staff/users/").content.decode()
    owner = _row(page, "owner")
    assert "/staff/tenants/acme/" in owner and "Owner" in owner
    assert "/staff/tenants/globex/" in owner and "Read-only" in owner
    assert "never" in owner and "Active" in owner and "Disable" in owner
    assert "2026-03-04 05:06" in _row(page, "reader")
    outsider = _row(page, "outsider")
    assert "Disabled" in outsider and ">Enable<" in outsider
    operator = _row(page, "operator")
    assert "staff" in operator and "(you)" in operator and "Disable" not in operator
    assert "none" in _row(page, "extra3")


def test_search_by_username(staff_client, users):
    page = staff_client.get("/staff/users/?q=outs").content.decode()
    assert "<strong>outsider</strong>" in page and "<strong>owner</strong>" not in page


def test_disable_and_enable_a_user(staff_client, users):
    member = signed_in(users["owner"])
    assert member.get("/keys/").status_code == 200
    page = staff_client.get("/staff/users/").content.decode()
    assert 'data-confirm="Disable owner?' in _row(page, "owner")

    response = staff_client.post("/staff/users/owner/active", {"active": "0"}, follow=True)
    assert "owner is disabled and signed out everywhere." in response.content.decode()
    users["owner"].refresh_from_db()
    assert not users["owner"].is_active
    assert AuditEntry.objects.filter(action="user.disabled", target="owner").count() == 1
    # Their open session ends, and they cannot sign in again.
    assert member.get("/keys/").status_code == 302
    assert Client().post("/login/", {"username": "owner", "password": "pw-owner-123"}).status_code == 200

    staff_client.post("/staff/users/owner/active", {"active": "0"})  # already disabled: no entry
    assert AuditEntry.objects.filter(action="user.disabled").count() == 1
    staff_client.post("/staff/users/owner/active", {"active": "1"})
    users["owner"].refresh_from_db()
    assert users["owner"].is_active and AuditEntry.objects.filter(action="user.enabled").count() == 1
    assert Client().post("/login/", {"username": "owner", "password": "pw-owner-123"}).status_code == 302


def test_staff_cannot_disable_or_reset_themselves(staff_client, staff):
    response = staff_client.post("/staff/users/operator/active", {"active": "0"}, follow=True)
    assert "You cannot disable your own account." in response.content.decode()
    staff.refresh_from_db()
    assert staff.is_active
    response = staff_client.post("/staff/users/operator/password", follow=True)
    assert "Change your own password" in response.content.decode()
    assert staff_client.get("/staff/users/").status_code == 200  # still signed in: nothing changed
    assert not AuditEntry.objects.exists()


def test_reset_password_shows_a_generated_one_once(staff_client, users):
    page = staff_client.get("/staff/users/").content.decode()
    assert 'data-confirm="Reset the password of reader?' in _row(page, "reader")
    response = staff_client.post("/staff/users/reader/password")
    assert response.status_code == 302 and response["Location"] == "/staff/users/new-password"
    shown = staff_client.get("/staff/users/new-password")
    assert "no-store" in shown["Cache-Control"]
    page = shown.content.decode()
    password = page.split('id="new-password">')[1].split("<")[0]
    assert len(password) >= 16 and "<strong>reader</strong>" in page
    # A reload does not show it again (nor reset it again).
    again = staff_client.get("/staff/users/new-password").content.decode()
    assert password not in again and "Already shown" in again
    assert Client().post("/login/", {"username": "reader", "password": "pw-reader-123"}).status_code == 200
    assert Client().post("/login/", {"username": "reader", "password": password}).status_code == 302
    entry = AuditEntry.objects.get(action="user.password_reset")
    assert entry.target == "reader" and password not in str(entry.detail)


def test_unknown_user_is_404(staff_client):
    assert staff_client.post("/staff/users/ghost/active", {"active": "0"}).status_code == 404
    assert staff_client.post("/staff/users/ghost/password").status_code == 404


def test_users_pages_are_for_staff_only(owner, users):
    assert owner.get("/staff/users/").status_code == 404
    assert owner.post("/staff/users/reader/active", {"active": "0"}).status_code == 404
    assert owner.post("/staff/users/reader/password").status_code == 404
    users["reader"].refresh_from_db()
    assert users["reader"].is_active and users["reader"].check_password("pw-reader-123")


def test_actions_are_post_only_with_csrf(staff, users):
    client = signed_in(staff, enforce_csrf_checks=True)
    assert client.get("/staff/users/reader/active").status_code == 405
    assert client.post("/staff/users/reader/active", {"active": "0"}).status_code == 403
    assert client.post("/staff/users/reader/password").status_code == 403
    users["reader"].refresh_from_db()
    assert users["reader"].is_active and users["reader"].check_password("pw-reader-123")
