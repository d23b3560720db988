"""Staff channel pages: vendor-specific write-only credentials, mapping editor, Test button, enable/disable."""

import socket
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AuditEntry
from channels.models import Channel
from tests.helpers import signed_in
from videos.models import VideoTask

pytestmark = pytest.mark.django_db

KLING_AK = "AK-kling-access-7f3e9a"
KLING_SK = "SK-kling-secret-c41d88b2"
OPENAI_KEY = "sk-upstream-test"


def form_data(**fields):
    data = {
        "name": "chan",
        "base_url": "",
        "served_models": "",
        "model_mapping": "",
        "priority": "0",
        "weight": "1",
        "options": "",
    }
    data.update(fields)
    return data


def make_kling(client):
    data = form_data(
        name="kling-main",
        served_models="kling-v2-6, kling-v2-1\nmy-kling",
        model_mapping="my-kling = kling-v2-5-turbo",
        priority="5",
        weight="3",
        credential_access_key=KLING_AK,
        credential_secret_key=KLING_SK,
    )
    response = client.post("/staff/channels/new?vendor=kling", data)
    assert response.status_code == 302, response.content.decode()
    return Channel.objects.get(name="kling-main")


def every_staff_page(client, channel):
    pages = [
        "/staff/channels/",
        f"/staff/channels/{channel.pk}/",
        "/staff/audit/",
        "/staff/health/",
        "/staff/tasks/",
        "/staff/prices/",
    ]
    return b"".join(client.get(url).content for url in pages)


def test_vendor_chooser_lists_labels_and_credential_formats(staff_client):
    page = staff_client.get("/staff/channels/new").content.decode()
    assert "Kling AI" in page and "AK|SK" in page
    assert "OpenAI Videos (Sora)" in page and "?vendor=openai" in page


def test_unknown_vendor_is_404(staff_client):
    assert staff_client.get("/staff/channels/new?vendor=nope").status_code == 404


def test_kling_form_shows_its_fields_placeholder_and_models(staff_client):
    page = staff_client.get("/staff/channels/new?vendor=kling").content.decode()
    assert 'name="credential_access_key"' in page and 'name="credential_secret_key"' in page
    assert page.count('type="password"') == 2
    assert 'placeholder="https://api-singapore.klingai.com"' in page
    assert "kling-v2-6" in page


def test_create_kling_channel_stores_encrypted_credentials_never_shown(staff_client):
    channel = make_kling(staff_client)
    assert channel.vendor == "kling"
    assert channel.credentials == f"{KLING_AK}|{KLING_SK}"
    assert KLING_SK not in channel.credentials_encrypted
    assert channel.served_models == ["kling-v2-6", "kling-v2-1", "my-kling"]
    assert channel.model_mapping == {"my-kling": "kling-v2-5-turbo"}
    assert (channel.priority, channel.weight) == (5, 3)
    entry = AuditEntry.objects.get(action="channel.created")
    assert entry.target == "kling-main" and entry.user.username == "operator"
    assert entry.detail["credentials"] == "set"
    html = every_staff_page(staff_client, channel)
    assert KLING_AK.encode() not in html and KLING_SK.encode() not in html
    assert b"Set" in staff_client.get(f"/staff/channels/{channel.pk}/").content


def test_create_openai_channel(staff_client, openai_sim):
    data = form_data(name="sora", base_url=openai_sim.url, served_models="sora-2", credential_api_key=OPENAI_KEY)
    assert staff_client.post("/staff/channels/new?vendor=openai", data).status_code == 302
    channel = Channel.objects.get(name="sora")
    assert channel.vendor == "openai" and channel.credentials == OPENAI_KEY
    assert channel.base_url == openai_sim.url
    assert OPENAI_KEY.encode() not in every_staff_page(staff_client, channel)
    assert OPENAI_KEY not in str(list(AuditEntry.objects.values_list("detail", flat=True)))


def test_create_requires_every_credential_part_and_never_echoes_it(staff_client):
    data = form_data(name="k", served_models="kling-v2-6", credential_access_key=KLING_AK)
    response = staff_client.post("/staff/channels/new?vendor=kling", data)
    assert response.status_code == 200
    assert b"missing: Secret key" in response.content
    assert KLING_AK.encode() not in response.content
    assert not Channel.objects.exists()


def test_pipe_inside_a_part_is_refused(staff_client):
    data = form_data(name="k", served_models="kling-v2-6", credential_access_key="a|b", credential_secret_key="c")
    response = staff_client.post("/staff/channels/new?vendor=kling", data)
    assert b"cannot contain" in response.content and not Channel.objects.exists()


def test_edit_without_reentering_keeps_the_secret(staff_client):
    channel = make_kling(staff_client)
    data = form_data(name="kling-main", served_models="kling-v2-6", priority="9", weight="1")
    assert staff_client.post(f"/staff/channels/{channel.pk}/", data).status_code == 302
    channel.refresh_from_db()
    assert channel.credentials == f"{KLING_AK}|{KLING_SK}"
    assert channel.priority == 9 and channel.served_models == ["kling-v2-6"]
    entry = AuditEntry.objects.get(action="channel.updated")
    assert entry.detail["priority"] == {"from": 5, "to": 9}
    assert "credentials" not in entry.detail


def test_replacing_needs_every_part(staff_client):
    channel = make_kling(staff_client)
    data = form_data(name="kling-main", served_models="kling-v2-6", credential_secret_key="new-secret")
    response = staff_client.post(f"/staff/channels/{channel.pk}/", data)
    assert response.status_code == 200
    assert b"To replace the saved credentials, enter every part" in response.content
    assert b"new-secret" not in response.content
    channel.refresh_from_db()
    assert channel.credentials == f"{KLING_AK}|{KLING_SK}"


def test_replacing_all_parts_is_audited_without_the_secret(staff_client):
    channel = make_kling(staff_client)
    new = {"credential_access_key": "AK-new-1", "credential_secret_key": "SK-new-2"}
    data = form_data(name="kling-main", served_models="kling-v2-6", **new)
    assert staff_client.post(f"/staff/channels/{channel.pk}/", data).status_code == 302
    channel.refresh_from_db()
    assert channel.credentials == "AK-new-1|SK-new-2"
    detail = AuditEntry.objects.get(action="channel.updated").detail
    assert detail["credentials"] == "replaced"
    assert "SK-new-2" not in str(detail) and KLING_SK not in str(detail)


@pytest.mark.parametrize(
    ("mapping", "error"),
    [
        ("my-kling kling-v2-6", "Line 1: write &#x27;requested model = upstream model&#x27;"),
        ("my-kling = ", "Line 1: the upstream model is missing"),
        ("my kling = kling-v2-6", "Line 1: the requested model is missing or has spaces"),
        ("my-kling = a\nmy-kling = b", "Line 2: &#x27;my-kling&#x27; appears twice"),
        ("other = kling-v2-6", "Mapped but not served: other"),
        ('{"my-kling": ', "This is not valid JSON"),
        ('["my-kling"]', "The JSON must be an object"),
        ("a = b = c", "(one &#x27;=&#x27;)"),
    ],
)
def test_model_mapping_errors(staff_client, mapping, error):
    data = form_data(
        name="k",
        served_models="my-kling",
        model_mapping=mapping,
        credential_access_key=KLING_AK,
        credential_secret_key=KLING_SK,
    )
    response = staff_client.post("/staff/channels/new?vendor=kling", data)
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not Channel.objects.exists()


def test_model_mapping_accepts_json_and_comments(staff_client):
    data = form_data(
        name="k",
        served_models="a\nb",
        model_mapping="# vendor names\na = up-a  # the cheap one\n",
        options='{"delay": 2}',
    )
    assert staff_client.post("/staff/channels/new?vendor=sandbox", data).status_code == 302
    channel = Channel.objects.get(name="k")
    assert channel.model_mapping == {"a": "up-a"} and channel.options == {"delay": 2}
    data["model_mapping"] = '{"a": "x", "b": "y"}'
    staff_client.post(f"/staff/channels/{channel.pk}/", data)
    channel.refresh_from_db()
    assert channel.model_mapping == {"a": "x", "b": "y"}


def test_other_field_errors(staff_client, sandbox):
    data = form_data(name="sandbox", served_models="", options="[1]", weight="-1", base_url="not a url")
    page = staff_client.post("/staff/channels/new?vendor=sandbox", data).content.decode()
    assert "Another channel already has this name" in page
    assert "Name at least one model" in page
    assert "Options must be a JSON object" in page
    assert "greater than or equal to 0" in page
    assert "Enter a valid URL" in page


def test_test_button_success_sentence(staff_client, openai_sim):
    channel = Channel(name="sora", vendor="openai", base_url=openai_sim.url, served_models=["sora-2"])
    channel.credentials = OPENAI_KEY
    channel.save()
    page = staff_client.post(f"/staff/channels/{channel.pk}/test", follow=True).content.decode()
    assert "Test of sora passed. The key was accepted" in page
    assert OPENAI_KEY not in page
    assert AuditEntry.objects.get(action="channel.tested").detail == {"ok": True}


def test_test_button_bad_key_says_credentials_rejected(staff_client, openai_sim):
    channel = Channel(name="sora", vendor="openai", base_url=openai_sim.url, served_models=["sora-2"])
    channel.credentials = "sk-wrong-key-0000"
    channel.save()
    response = staff_client.post(f"/staff/channels/{channel.pk}/test", {"next": "list"}, follow=True)
    page = response.content.decode()
    assert response.redirect_chain[-1][0] == "/staff/channels/"
    assert "The vendor rejected the credentials (HTTP 401)" in page
    assert "sk-wrong-key-0000" not in page
    assert AuditEntry.objects.get(action="channel.tested").detail == {"ok": False, "kind": "vendor_auth_failed"}
    channel.refresh_from_db()
    assert channel.status == Channel.Status.ENABLED


def test_test_button_unreachable_vendor(staff_client):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    channel = Channel(name="gone", vendor="openai", base_url=f"http://127.0.0.1:{port}", served_models=["sora-2"])
    channel.credentials = OPENAI_KEY
    channel.save()
    page = staff_client.post(f"/staff/channels/{channel.pk}/test", follow=True).content.decode()
    assert "Could not connect" in page and OPENAI_KEY not in page


def test_test_button_scrubs_an_echoed_secret(staff_client, monkeypatch, sandbox):
    from channels.adaptors import sandbox as sandbox_module
    from channels.adaptors.base import VendorAuthFailed

    sandbox.credentials = "leaky-secret-value"
    sandbox.save()

    def leaky(ctx):
        raise VendorAuthFailed(f"Incorrect API key provided: {ctx.credentials}", http_status=401)

    monkeypatch.setattr(sandbox_module.adaptor, "check", leaky)
    page = staff_client.post(f"/staff/channels/{sandbox.pk}/test", follow=True).content.decode()
    assert "Incorrect API key provided: [credential]" in page and "leaky-secret-value" not in page


def test_test_button_with_undecryptable_credentials(staff_client, sandbox):
    Channel.objects.filter(pk=sandbox.pk).update(credentials_encrypted="gAAAA-not-a-token")
    page = staff_client.post(f"/staff/channels/{sandbox.pk}/test", follow=True).content.decode()
    assert "cannot be decrypted with the configured keys: enter the credentials again" in page
    assert AuditEntry.objects.get(action="channel.tested").detail["kind"] == "credentials_unreadable"


def test_test_and_status_are_post_only(staff_client, sandbox):
    assert staff_client.get(f"/staff/channels/{sandbox.pk}/test").status_code == 405
    assert staff_client.get(f"/staff/channels/{sandbox.pk}/status").status_code == 405


def test_reenabling_an_auto_disabled_channel_changes_only_status(staff_client, sandbox):
    error_at = timezone.now() - timedelta(hours=1)
    Channel.objects.filter(pk=sandbox.pk).update(
        status=Channel.Status.AUTO_DISABLED, last_error="401 from vendor", last_error_at=error_at
    )
    response = staff_client.post(f"/staff/channels/{sandbox.pk}/status", {"status": "enabled"})
    assert response.status_code == 302
    sandbox.refresh_from_db()
    assert sandbox.status == Channel.Status.ENABLED
    assert sandbox.last_error == "401 from vendor" and sandbox.last_error_at == error_at
    entry = AuditEntry.objects.get(action="channel.enabled")
    assert entry.detail == {"from": "auto_disabled"} and entry.target == "sandbox"


def test_disable_then_unknown_status_is_404(staff_client, sandbox):
    staff_client.post(f"/staff/channels/{sandbox.pk}/status", {"status": "disabled"})
    sandbox.refresh_from_db()
    assert sandbox.status == Channel.Status.DISABLED
    assert AuditEntry.objects.filter(action="channel.disabled").count() == 1
    response = staff_client.post(f"/staff/channels/{sandbox.pk}/status", {"status": "auto_disabled"})
    assert response.status_code == 404


def add_task(channel, tenant, status, finished_days_ago=0):
    now = timezone.now()
    finished = now - timedelta(days=finished_days_ago) if status in VideoTask.TERMINAL else None
    return VideoTask.objects.create(
        tenant=tenant, channel=channel, model="sandbox-video", status=status, finished_at=finished, deadline_at=now
    )


def test_list_shows_success_rate_and_in_flight_with_bounded_queries(
    staff_client, sandbox, tenant, django_assert_max_num_queries
):
    add_task(sandbox, tenant, "completed")
    add_task(sandbox, tenant, "completed")
    add_task(sandbox, tenant, "completed", finished_days_ago=10)  # outside the window
    add_task(sandbox, tenant, "failed")
    add_task(sandbox, tenant, "queued")
    add_task(sandbox, tenant, "in_progress")
    for number in range(10):
        Channel.objects.create(name=f"extra-{number}", vendor="openai", served_models=["sora-2"])
    Channel.objects.filter(pk=sandbox.pk).update(last_error="boom at the vendor", last_error_at=timezone.now())
    with django_assert_max_num_queries(5):
        response = staff_client.get("/staff/channels/")
    page = response.content.decode()
    row = page[page.index("Sandbox (built in") :]
    assert "67%" in row and "2 / 3" in row
    assert '<td class="num">2</td>' in row
    assert "boom at the vendor" in page
    assert "OpenAI Videos (Sora)" in page and "no tasks" in page


def test_csrf_is_enforced(staff, sandbox):
    client = signed_in(staff, enforce_csrf_checks=True)
    assert client.post(f"/staff/channels/{sandbox.pk}/status", {"status": "disabled"}).status_code == 403
    data = form_data(name="x", served_models="sandbox-video")
    assert client.post("/staff/channels/new?vendor=sandbox", data).status_code == 403
    sandbox.refresh_from_db()
    assert sandbox.status == Channel.Status.ENABLED and Channel.objects.count() == 1
