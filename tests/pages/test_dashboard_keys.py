"""Tenant key pages: list, create (shown once, post/redirect/get), edit limits, revoke, each audited;
read-only and other tenants."""

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts import services
from accounts.models import ApiKey, AuditEntry
from tests.helpers import USD, signed_in

pytestmark = pytest.mark.django_db


def database_text():
    """Every text value in every table, to look for a secret."""
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            found.extend(str(value) for row in cursor.fetchall() for value in row if value is not None)
    return "\n".join(found)


def test_list_shows_masked_keys_and_limits(owner, tenant, key, other_key, sandbox):
    capped, plaintext = services.issue_key(
        tenant,
        name="ci",
        allowed_models=["sandbox-video"],
        allowed_ips=["203.0.113.0/24"],
        spend_limit=2 * USD,
        expires_at=timezone.now() + timedelta(days=3),
    )
    ApiKey.objects.filter(pk=capped.pk).update(spent=150_000, last_used_at=timezone.now() - timedelta(hours=2))
    html = owner.get("/keys/").content.decode()
    assert capped.masked in html and key.masked in html
    assert plaintext not in html and key.plaintext not in html
    assert other_key.masked not in html and "other" not in html
    assert "sandbox-video" in html and "203.0.113.0/24" in html
    assert "$0.15" in html and "of $2.00 cap" in html
    assert "2\xa0hours ago" in html and "Never" in html
    assert 'class="badge badge-enabled">Active<' in html
    assert f'href="/keys/{capped.lookup}/edit/"' in html and f'href="/keys/{capped.lookup}/revoke/"' in html


def test_list_statuses(owner, tenant, key):
    expired, _ = services.issue_key(tenant, name="old", expires_at=timezone.now() - timedelta(days=1))
    services.revoke_key(key)
    html = owner.get("/keys/").content.decode()
    assert ">Revoked<" in html and ">Expired<" in html
    assert f"/keys/{key.lookup}/edit/" not in html  # nothing to change on a revoked key


def test_empty_state(owner):
    assert "No API keys yet" in owner.get("/keys/").content.decode()


def test_create_shows_the_key_once_and_stores_only_its_hash(owner, tenant, sandbox, users):
    assert owner.get("/keys/new/").status_code == 200
    response = owner.post(
        "/keys/new/",
        {
            "name": "production",
            "allowed_models": ["sandbox-video"],
            "allowed_ips": "203.0.113.7\n198.51.100.0/24, 2001:db8::/32",
            "spend_limit": "1.5",
            "expires_at": (timezone.now() + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M"),
        },
    )
    api_key = ApiKey.objects.get(tenant=tenant, name="production")
    assert response.status_code == 302 and response["Location"] == f"/keys/{api_key.lookup}/created/"
    shown = owner.get(response["Location"])
    assert shown.status_code == 200 and "no-store" in shown["Cache-Control"]
    html = shown.content.decode()
    plaintext = html.split('<code id="new-key">')[1].split("</code>")[0]
    assert plaintext.startswith("sk-") and services.find_key(plaintext) == api_key
    assert 'data-copy="new-key"' in html and 'class="keybox"' in html
    assert api_key.allowed_models == ["sandbox-video"]
    assert api_key.allowed_ips == ["203.0.113.7", "198.51.100.0/24", "2001:db8::/32"]
    assert api_key.spend_limit == 1_500_000 and api_key.expires_at is not None
    assert api_key.created_by == users["owner"]
    # Never again: not on the next pages, not in the session, not anywhere in the database.
    for url in ("/keys/", "/keys/new/", f"/keys/{api_key.lookup}/edit/", "/usage/"):
        assert plaintext not in owner.get(url).content.decode()
    secret = plaintext[3 + ApiKey.LOOKUP_LENGTH :]
    assert all(secret not in str(session.get_decoded()) for session in Session.objects.all())
    assert secret not in database_text()


def test_reloading_the_created_page_makes_no_second_key_and_shows_it_no_more(owner, tenant):
    response = owner.post("/keys/new/", {"name": "once"})
    created = response["Location"]
    first = owner.get(created).content.decode()
    plaintext = first.split('<code id="new-key">')[1].split("</code>")[0]
    again = owner.get(created)
    html = again.content.decode()
    assert again.status_code == 200 and "no-store" in again["Cache-Control"]
    assert plaintext not in html and "This key was already shown." in html
    assert ApiKey.objects.for_tenant(tenant).filter(name="once").count() == 1
    assert owner.post(created).status_code == 405  # the created page never acts


def test_created_page_has_the_base_url_and_snippets_with_the_key(owner, tenant, sandbox, settings):
    settings.GATEWAY_DEFAULT_VIDEO_MODEL = ""  # the example model: one that works (not sandbox-fail)
    response = owner.post("/keys/new/", {"name": "snippets"}, HTTP_HOST="gw.example.com")
    html = owner.get(response["Location"], HTTP_HOST="gw.example.com").content.decode()
    plaintext = html.split('<code id="new-key">')[1].split("</code>")[0]
    assert '<code id="base-url">http://gw.example.com/v1</code>' in html
    curl = html.split('<code id="snippet-curl">')[1].split("</code>")[0]
    assert curl.startswith("curl http://gw.example.com/v1/videos")
    assert f"Authorization: Bearer {plaintext}" in curl and "sandbox-video" in curl
    python = html.split('<code id="snippet-python">')[1].split("</code>")[0]
    assert "client = OpenAI(base_url=&#x27;http://gw.example.com/v1&#x27;" in python
    assert f"api_key=&#x27;{plaintext}&#x27;" in python and "client.videos.create(" in python
    unified = html.split('<code id="snippet-unified">')[1].split("</code>")[0]
    assert unified.startswith("curl http://gw.example.com/v1/video/generations") and plaintext in unified
    for name in ("new-key", "base-url", "snippet-curl", "snippet-python", "snippet-unified"):
        assert f'data-copy="{name}"' in html
    # GATEWAY_PUBLIC_URL, when set, is the base URL clients are told.
    settings.GATEWAY_PUBLIC_URL = "https://gateway.example.com"
    response = owner.post("/keys/new/", {"name": "public", "allowed_models": ["sandbox-fail"]})
    html = owner.get(response["Location"]).content.decode()
    assert "curl https://gateway.example.com/v1/videos" in html
    assert "sandbox-fail" in html  # a key limited to some models is shown with one of them
    settings.GATEWAY_DEFAULT_VIDEO_MODEL = "sandbox-fail"
    response = owner.post("/keys/new/", {"name": "default model"})
    assert "sandbox-fail" in owner.get(response["Location"]).content.decode()  # the server's default model


def test_the_created_page_of_another_tenants_key_is_404(owner, users, other_tenant):
    response = owner.post("/keys/new/", {"name": "mine"})
    outsider = signed_in(users["outsider"])
    assert outsider.get(response["Location"]).status_code == 404


def test_key_changes_are_in_the_audit_log(owner, tenant, users, sandbox):
    owner.post("/keys/new/", {"name": "audited", "allowed_models": ["sandbox-video"], "spend_limit": "2"})
    api_key = ApiKey.objects.get(name="audited")
    owner.post(f"/keys/{api_key.lookup}/edit/", {"name": "audited", "spend_limit": "3"})
    owner.post(f"/keys/{api_key.lookup}/revoke/")
    entries = list(AuditEntry.objects.order_by("id").values_list("action", "user", "target", "detail"))
    assert [entry[:3] for entry in entries] == [
        ("key.created", users["owner"].pk, "acme"),
        ("key.changed", users["owner"].pk, "acme"),
        ("key.revoked", users["owner"].pk, "acme"),
    ]
    created, changed, revoked = (entry[3] for entry in entries)
    assert created["key"] == api_key.masked and created["name"] == "audited"
    assert created["allowed_models"] == ["sandbox-video"] and created["spend_limit"] == 2 * USD
    assert changed == {"key": api_key.masked, "allowed_models": [], "spend_limit": 3 * USD}
    assert revoked == {"key": api_key.masked, "key_name": "audited"}
    assert api_key.lookup not in str(entries)  # only the masked key, never a secret


def test_create_with_no_limits(owner, tenant):
    response = owner.post("/keys/new/", {"name": "simple"})
    assert response.status_code == 302
    api_key = ApiKey.objects.get(name="simple")
    limits = (api_key.allowed_models, api_key.allowed_ips, api_key.spend_limit, api_key.expires_at)
    assert limits == ([], [], None, None)


def test_form_errors_are_useful(owner, sandbox):
    response = owner.post(
        "/keys/new/",
        {
            "name": " ",
            "allowed_ips": "10.0.0.5/24\nnot-an-ip",
            "allowed_models": ["no-such-model"],
            "spend_limit": "-1",
            "expires_at": "2001-01-01T00:00",
        },
    )
    html = response.content.decode()
    assert response.status_code == 200 and not ApiKey.objects.exists()
    assert "“10.0.0.5/24” has host bits set; did you mean 10.0.0.0/24?" in html
    assert "“not-an-ip” is not an IP address or CIDR range." in html
    assert "Select a valid choice. no-such-model is not one of the available choices." in html
    assert "Ensure this value is greater than or equal to 0." in html
    assert "The expiry must be in the future." in html
    assert "This field is required." in html or "Give the key a name." in html


def test_edit_limits(owner, key, sandbox):
    page = owner.get(f"/keys/{key.lookup}/edit/")
    assert page.status_code == 200 and 'value="test"' in page.content.decode()
    expires = (timezone.now() + timedelta(days=7)).replace(second=0, microsecond=0)
    response = owner.post(
        f"/keys/{key.lookup}/edit/",
        {
            "name": "renamed",
            "allowed_models": ["sandbox-video", "sandbox-fail"],
            "allowed_ips": "192.0.2.1",
            "spend_limit": "0.25",
            "expires_at": expires.strftime("%Y-%m-%dT%H:%M"),
        },
    )
    assert response.status_code == 302 and response["Location"] == "/keys/"
    key.refresh_from_db()
    assert key.name == "renamed"
    assert sorted(key.allowed_models) == ["sandbox-fail", "sandbox-video"]
    assert key.allowed_ips == ["192.0.2.1"] and key.spend_limit == 250_000 and key.expires_at == expires
    assert "Saved the changes to “renamed”." in owner.get("/keys/").content.decode()
    # Clearing the limits again.
    owner.post(f"/keys/{key.lookup}/edit/", {"name": "renamed", "expires_at": "", "spend_limit": ""})
    key.refresh_from_db()
    assert (key.allowed_models, key.allowed_ips, key.spend_limit, key.expires_at) == ([], [], None, None)


def test_edit_keeps_a_past_expiry_it_did_not_change(owner, tenant):
    api_key, _ = services.issue_key(tenant, name="lapsed", expires_at=timezone.now() - timedelta(days=2))
    expires = api_key.expires_at.strftime("%Y-%m-%dT%H:%M")
    ApiKey.objects.filter(pk=api_key.pk).update(expires_at=api_key.expires_at.replace(second=0, microsecond=0))
    response = owner.post(f"/keys/{api_key.lookup}/edit/", {"name": "lapsed-renamed", "expires_at": expires})
    assert response.status_code == 302
    api_key.refresh_from_db()
    assert api_key.name == "lapsed-renamed"


def test_revoke_asks_then_revokes(owner, key, api):
    page = owner.get(f"/keys/{key.lookup}/revoke/")
    assert page.status_code == 200 and "This cannot be undone." in page.content.decode()
    key.refresh_from_db()
    assert key.enabled  # a GET only asks
    response = owner.post(f"/keys/{key.lookup}/revoke/")
    assert response.status_code == 302
    key.refresh_from_db()
    assert not key.enabled and key.revoked_at is not None
    assert api.get("/v1/videos").status_code == 401
    # Revoked keys cannot be revoked or edited again.
    assert owner.post(f"/keys/{key.lookup}/revoke/").status_code == 404
    assert owner.get(f"/keys/{key.lookup}/edit/").status_code == 404


def test_read_only_member_sees_keys_but_cannot_change_them(reader, key):
    html = reader.get("/keys/").content.decode()
    assert key.masked in html and "read-only access" in html
    assert "/keys/new/" not in html and "/edit/" not in html and "/revoke/" not in html
    assert reader.get("/keys/new/").status_code == 404
    assert reader.post("/keys/new/", {"name": "sneaky"}).status_code == 404
    assert reader.get(f"/keys/{key.lookup}/edit/").status_code == 404
    assert reader.post(f"/keys/{key.lookup}/edit/", {"name": "x"}).status_code == 404
    assert reader.get(f"/keys/{key.lookup}/revoke/").status_code == 404
    assert reader.post(f"/keys/{key.lookup}/revoke/").status_code == 404
    key.refresh_from_db()
    assert key.enabled and key.name == "test"
    assert ApiKey.objects.count() == 1


def test_other_tenant_gets_404_on_every_key_url(users, key):
    outsider = signed_in(users["outsider"])
    assert key.masked not in outsider.get("/keys/").content.decode()
    for url in (f"/keys/{key.lookup}/edit/", f"/keys/{key.lookup}/revoke/"):
        assert outsider.get(url).status_code == 404
        assert outsider.post(url, {"name": "taken"}).status_code == 404
    key.refresh_from_db()
    assert key.enabled and key.name == "test"


def test_csrf_is_enforced_on_key_forms(users, key):
    client = signed_in(users["owner"], enforce_csrf_checks=True)
    assert client.post("/keys/new/", {"name": "no-token"}).status_code == 403
    assert client.post(f"/keys/{key.lookup}/revoke/").status_code == 403
    assert not ApiKey.objects.filter(name="no-token").exists()
    key.refresh_from_db()
    assert key.enabled
    page = client.get("/keys/new/")
    token = page.cookies["csrftoken"].value
    assert client.post("/keys/new/", {"name": "with-token", "csrfmiddlewaretoken": token}).status_code == 302


def test_pages_need_a_session(key):
    for url in ("/keys/", "/keys/new/", f"/keys/{key.lookup}/edit/", f"/keys/{key.lookup}/revoke/"):
        response = Client().get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_list_queries_are_bounded(owner, tenant, django_assert_max_num_queries):
    for n in range(20):
        services.issue_key(tenant, name=f"key {n}")
    with django_assert_max_num_queries(4):
        assert owner.get("/keys/").status_code == 200


def test_rate_limits_set_by_the_operator_cannot_be_lifted_by_the_tenant(owner, key):
    """Request and in-flight limits are the operator's (staff pages, issue_key, apply): the tenant's
    own key form neither shows nor changes them."""
    ApiKey.objects.filter(pk=key.pk).update(rpm_limit=5, max_in_flight=2)
    assert 'name="rpm_limit"' not in owner.get(f"/keys/{key.lookup}/edit/").content.decode()
    owner.post(f"/keys/{key.lookup}/edit/", {"name": "test", "rpm_limit": "", "max_in_flight": ""})
    key.refresh_from_db()
    assert (key.rpm_limit, key.max_in_flight) == (5, 2)
