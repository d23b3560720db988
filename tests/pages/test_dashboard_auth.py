"""Dashboard sign-in: sessions only, throttled failures, staff pages hidden from others."""

import pytest
from django.test import Client

from accounts.models import AuditEntry, FailedLogin
from tests.helpers import signed_in

pytestmark = pytest.mark.django_db


def test_login_page_and_sign_in(users):
    client = Client()
    page = client.get("/login/")
    assert page.status_code == 200 and b"Sign in" in page.content
    response = client.post("/login/", {"username": "owner", "password": "pw-owner-123"})
    assert response.status_code == 302
    assert client.get("/tasks/").status_code == 200


def test_pages_need_a_session_not_a_key(users, key):
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key.plaintext}")
    response = client.get("/tasks/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_failed_logins_are_throttled(users):
    client = Client()
    for _ in range(5):
        client.post("/login/", {"username": "owner", "password": "wrong"})
    assert FailedLogin.objects.filter(username="owner").count() == 5
    response = client.post("/login/", {"username": "owner", "password": "pw-owner-123"})
    assert response.status_code == 429 and b"Too many failed sign-in attempts" in response.content
    assert "_auth_user_id" not in client.session


def test_non_staff_never_reach_staff_pages(users):
    assert signed_in(users["owner"]).get("/staff/channels/").status_code == 404
    users["owner"].is_staff = True
    users["owner"].save()
    assert signed_in(users["owner"]).get("/staff/channels/").status_code == 200


def test_switching_tenant_only_to_own(users, other_tenant):
    client = signed_in(users["owner"])
    assert client.post("/switch/", {"tenant": other_tenant.name}).status_code == 404


@pytest.mark.parametrize(
    ("trust", "forwarded", "recorded"),
    [
        (True, "203.0.113.9, 10.0.0.1", "203.0.113.9"),
        (False, "203.0.113.9", "127.0.0.1"),
        (True, "garbage", "127.0.0.1"),
    ],
)
def test_failed_login_records_the_address_keys_are_checked_against(users, settings, trust, forwarded, recorded):
    """The sign-in throttle and key IP allowlists see one client address (GATEWAY_TRUST_X_FORWARDED_FOR)."""
    settings.GATEWAY_TRUST_X_FORWARDED_FOR = trust
    Client(REMOTE_ADDR="127.0.0.1").post(
        "/login/", {"username": "owner", "password": "wrong"}, HTTP_X_FORWARDED_FOR=forwarded
    )
    assert FailedLogin.objects.get(username="owner").ip == recorded


def test_a_lockout_is_a_clear_429_one_audit_entry_and_staff_can_clear_it(users, staff_client):
    client = Client(REMOTE_ADDR="198.51.100.7")
    for _ in range(5):
        assert client.post("/login/", {"username": "owner", "password": "wrong"}).status_code == 200
    # The fifth failure started the lock: one entry, whatever the tries refused after it.
    for _ in range(3):
        response = client.post("/login/", {"username": "owner", "password": "pw-owner-123"})
        assert response.status_code == 429
    html = response.content.decode()
    assert 'role="alert"' in html and "Too many failed sign-in attempts from your address. Wait 15 minutes" in html
    locked = AuditEntry.objects.filter(action="login.locked")
    assert [(entry.user, entry.target, entry.detail) for entry in locked] == [
        (None, "owner from 198.51.100.7", {"username": "owner", "ip": "198.51.100.7", "failures": 5})
    ]

    audit = staff_client.get("/staff/audit/").content.decode()
    assert "login.locked" in audit and "owner from 198.51.100.7" in audit
    page = staff_client.get("/staff/lockouts/").content.decode()
    assert "owner" in page and "198.51.100.7" in page
    response = staff_client.post("/staff/lockouts/", {"username": "owner", "ip": "198.51.100.7"})
    assert response.status_code == 302
    unlocked = AuditEntry.objects.get(action="login.unlocked")
    assert unlocked.user.username == "operator" and unlocked.detail["failures"] == 5

    response = client.post("/login/", {"username": "owner", "password": "pw-owner-123"})
    assert response.status_code == 302 and "_auth_user_id" in client.session


def test_an_address_lock_is_audited_once_too(users):
    ip = "203.0.113.50"
    FailedLogin.objects.bulk_create(FailedLogin(username=name, ip=ip) for name in "abc" for _ in range(5))
    client = Client(REMOTE_ADDR=ip)
    for _ in range(5):  # the 20th failure from the address locks it, and "d" from it
        client.post("/login/", {"username": "d", "password": "wrong"})
    assert client.post("/login/", {"username": "owner", "password": "pw-owner-123"}).status_code == 429
    targets = sorted(AuditEntry.objects.filter(action="login.locked").values_list("target", flat=True))
    assert targets == [f"address {ip}", f"d from {ip}"]
    # Another address is not locked: the account's owner signs in from elsewhere.
    elsewhere = Client(REMOTE_ADDR="192.0.2.1")
    assert elsewhere.post("/login/", {"username": "owner", "password": "pw-owner-123"}).status_code == 302
