"""Dashboard sign-in: sessions only, throttled failures, staff pages hidden from others."""

import pytest
from django.test import Client

from accounts.models import FailedLogin
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
