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


def test_create_requires_every_credential_part_and_keeps_what_was_typed(staff_client):
    data = form_data(name="k", served_models="kling-v2-6", credential_access_key=KLING_AK)
    response = staff_client.post("/staff/channels/new?vendor=kling", data)
    assert response.status_code == 200
    page = response.content.decode()
    # The error is under the missing part, on this first submit; what was typed stays in its input.
    secret_field = page[page.index('<label for="id_credential_secret_key"') :]
    assert "missing: Secret key" in secret_field[: secret_field.index("</div>")]
    assert f'name="credential_access_key" value="{KLING_AK}"' in page
    assert 'name="credential_secret_key" autocomplete' in page or 'name="credential_secret_key" id' in page
    assert not Channel.objects.exists()


def test_credentials_typed_survive_an_error_elsewhere_and_then_save(staff_client):
    """Defect 5: an error in another field used to blank the credentials, so the next submit
    failed on them instead."""
    data = form_data(name="k", served_models="", credential_access_key=KLING_AK, credential_secret_key=KLING_SK)
    page = staff_client.post("/staff/channels/new?vendor=kling", data).content.decode()
    assert "Name at least one model" in page
    assert f'value="{KLING_AK}"' in page and f'value="{KLING_SK}"' in page
    assert "missing:" not in page
    data["served_models"] = "kling-v2-6"
    assert staff_client.post("/staff/channels/new?vendor=kling", data).status_code == 302
    assert Channel.objects.get(name="k").credentials == f"{KLING_AK}|{KLING_SK}"


def test_saved_credentials_are_never_rendered_back(staff_client):
    channel = make_kling(staff_client)
    page = staff_client.get(f"/staff/channels/{channel.pk}/").content.decode()
    assert KLING_AK not in page and KLING_SK not in page
    # An error elsewhere with the credential inputs left empty still shows no saved secret.
    data = form_data(name="kling-main", served_models="", options="[")
    page = staff_client.post(f"/staff/channels/{channel.pk}/", data).content.decode()
    assert "Name at least one model" in page
    assert KLING_AK not in page and KLING_SK not in page


def test_model_placeholders_read_as_examples(staff_client):
    page = staff_client.get("/staff/channels/new?vendor=kling").content.decode()
    assert 'placeholder="e.g. kling-v1, kling-v1-5"' in page
    assert 'placeholder="e.g. my-model = vendor-model-name"' in page
    assert 'placeholder="kling-' not in page


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
    assert b'value="new-secret"' in response.content  # what was typed, kept for the next try
    assert KLING_SK.encode() not in response.content and KLING_AK.encode() not in response.content
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
    # Session, user, the channels with their counts, the medians, the archived count: none per channel.
    with django_assert_max_num_queries(6):
        response = staff_client.get("/staff/channels/")
    page = response.content.decode()
    row = page[page.index(f'id="channel-{sandbox.pk}"') :]
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


# --- issue 13: test results, latency, archive, delete, clone, test all ----------------------


def test_failed_test_shows_in_the_list_as_failing_with_error_time_and_latency(staff_client, openai_sim):
    channel = Channel(name="sora", vendor="openai", base_url=openai_sim.url, served_models=["sora-2"])
    channel.credentials = "sk-wrong-key-0000"
    channel.save()
    staff_client.post(f"/staff/channels/{channel.pk}/test", {"next": "list"})
    channel.refresh_from_db()
    assert channel.status == Channel.Status.ENABLED and channel.last_test_ok is False
    assert channel.last_test_latency_ms is not None and channel.last_error_at is not None
    page = staff_client.get("/staff/channels/").content.decode()
    row = page[page.index(f'id="channel-{channel.pk}"') :]
    status = row[row.index('class="channel-status"') :]
    assert ">Failing<" in status[: status.index("</td>")]
    error = row[row.index('class="channel-error"') :]
    assert "Test failed: The vendor rejected the credentials (HTTP 401)" in error[: error.index("</td>")]
    assert " ago" in error[: error.index("</td>")]
    latency = row[row.index('class="num channel-latency"') :]
    assert f"{channel.last_test_latency_ms} ms" in latency[: latency.index("</td>")]
    assert "sk-wrong-key-0000" not in page


def test_a_passing_test_clears_failing_and_records_latency(staff_client, sandbox):
    Channel.objects.filter(pk=sandbox.pk).update(last_test_ok=False, last_error="old", last_error_at=timezone.now())
    staff_client.post(f"/staff/channels/{sandbox.pk}/test")
    sandbox.refresh_from_db()
    assert sandbox.last_test_ok is True and sandbox.last_test_latency_ms is not None and not sandbox.failing
    page = staff_client.get("/staff/channels/").content.decode()
    assert ">Failing<" not in page and ">Enabled<" in page


def test_sandbox_test_polls_like_a_task(staff_client, sandbox, monkeypatch):
    from channels.adaptors import sandbox as sandbox_module

    polled = []
    real_poll = sandbox_module.adaptor.poll
    monkeypatch.setattr(sandbox_module.adaptor, "poll", lambda ctx, ref: polled.append(ref) or real_poll(ctx, ref))
    page = staff_client.post(f"/staff/channels/{sandbox.pk}/test", follow=True).content.decode()
    assert "Test of sandbox passed. The sandbox answered a poll (queued)" in page
    assert len(polled) == 1
    Channel.objects.filter(pk=sandbox.pk).update(options={"delay": "soon"})
    page = staff_client.post(f"/staff/channels/{sandbox.pk}/test", follow=True).content.decode()
    assert "Test of sandbox failed." in page and "&#x27;delay&#x27; must be a number" in page


def test_latency_column_shows_the_median_time_to_finish(staff_client, sandbox, tenant):
    now = timezone.now()
    for seconds in (10, 20, 90):
        VideoTask.objects.create(
            tenant=tenant,
            channel=sandbox,
            model="sandbox-video",
            status="completed",
            created_at=now - timedelta(seconds=seconds),
            finished_at=now,
            deadline_at=now,
        )
    page = staff_client.get("/staff/channels/").content.decode()
    latency = page[page.index('class="num channel-latency"') :]
    assert "20 s" in latency[: latency.index("</td>")]


def test_auto_disable_reason_and_re_enable_are_in_the_list(staff_client, sandbox):
    Channel.objects.filter(pk=sandbox.pk).update(
        status=Channel.Status.AUTO_DISABLED, last_error="401 from vendor", last_error_at=timezone.now()
    )
    page = staff_client.get("/staff/channels/").content.decode()
    row = page[page.index(f'id="channel-{sandbox.pk}"') :]
    assert ">Auto-disabled<" in row and "401 from vendor" in row and "Disabled automatically" in row
    assert ">Re-enable</button>" in row


def test_disable_asks_for_confirmation(staff_client, sandbox):
    for url in ("/staff/channels/", f"/staff/channels/{sandbox.pk}/"):
        page = staff_client.get(url).content.decode()
        form = page[page.rindex("<form", 0, page.index(">Disable</button>")) :]
        assert form.startswith("<form") and 'data-confirm="Disable channel sandbox?' in form[: form.index(">")]


def test_delete_asks_then_deletes_an_unused_channel(staff_client, sandbox):
    channel = Channel.objects.create(name="spare", vendor="sandbox", served_models=["x"])
    page = staff_client.get(f"/staff/channels/{channel.pk}/").content.decode()
    assert f'href="/staff/channels/{channel.pk}/delete"' in page
    confirm = staff_client.get(f"/staff/channels/{channel.pk}/delete")
    assert confirm.status_code == 200 and b"cannot be undone" in confirm.content
    assert Channel.objects.filter(pk=channel.pk).exists()  # asking changes nothing
    response = staff_client.post(f"/staff/channels/{channel.pk}/delete")
    assert response.status_code == 302 and response["Location"] == "/staff/channels/"
    assert not Channel.objects.filter(pk=channel.pk).exists()
    entry = AuditEntry.objects.get(action="channel.deleted")
    assert entry.target == "spare" and entry.detail["vendor"] == "sandbox"


def test_a_channel_tasks_refer_to_is_archived_not_deleted(staff_client, sandbox, tenant):
    add_task(sandbox, tenant, "completed")
    page = staff_client.get(f"/staff/channels/{sandbox.pk}/").content.decode()
    assert f"/staff/channels/{sandbox.pk}/delete" not in page and f"/staff/channels/{sandbox.pk}/archive" in page
    response = staff_client.post(f"/staff/channels/{sandbox.pk}/delete")
    assert response["Location"] == f"/staff/channels/{sandbox.pk}/archive"
    assert Channel.objects.filter(pk=sandbox.pk).exists()
    assert b"archive it instead" in staff_client.get(response["Location"]).content
    staff_client.post(f"/staff/channels/{sandbox.pk}/archive")
    sandbox.refresh_from_db()
    assert sandbox.archived_at is not None
    assert AuditEntry.objects.get(action="channel.archived").target == "sandbox"


def test_archived_channels_leave_routing_and_the_list_and_can_be_restored(staff_client, sandbox):
    from channels import services

    Channel.objects.filter(pk=sandbox.pk).update(archived_at=timezone.now())
    assert services.candidates("sandbox-video") == []
    page = staff_client.get("/staff/channels/").content.decode()
    assert f'id="channel-{sandbox.pk}"' not in page and "1 archived" in page
    archived = staff_client.get("/staff/channels/?archived=1").content.decode()
    assert f'id="channel-{sandbox.pk}"' in archived and ">Restore</button>" in archived
    staff_client.post(f"/staff/channels/{sandbox.pk}/restore")
    sandbox.refresh_from_db()
    assert sandbox.archived_at is None and sandbox.status == Channel.Status.ENABLED
    assert [channel.pk for channel in services.candidates("sandbox-video")] == [sandbox.pk]
    assert AuditEntry.objects.filter(action="channel.restored").count() == 1


def test_clone_is_a_disabled_copy_with_encrypted_credentials_never_shown(staff_client):
    channel = make_kling(staff_client)
    response = staff_client.post(f"/staff/channels/{channel.pk}/clone")
    copy = Channel.objects.get(name="kling-main (copy)")
    assert response["Location"] == f"/staff/channels/{copy.pk}/"
    assert copy.status == Channel.Status.DISABLED and copy.vendor == "kling"
    assert copy.credentials == f"{KLING_AK}|{KLING_SK}" and KLING_SK not in copy.credentials_encrypted
    assert (copy.served_models, copy.model_mapping, copy.priority) == (
        channel.served_models,
        channel.model_mapping,
        channel.priority,
    )
    page = staff_client.get(response["Location"]).content.decode()
    assert KLING_AK not in page and KLING_SK not in page and ">Set<" in page
    entry = AuditEntry.objects.get(action="channel.cloned")
    assert entry.detail == {"source": "kling-main", "credentials": "copied"}
    staff_client.post(f"/staff/channels/{channel.pk}/clone")
    assert Channel.objects.filter(name="kling-main (copy 2)").exists()


def test_test_all_tests_every_enabled_channel_one_line_each(staff_client, sandbox, openai_sim):
    bad = Channel(name="sora", vendor="openai", base_url=openai_sim.url, served_models=["sora-2"])
    bad.credentials = "sk-wrong-key-0000"
    bad.save()
    Channel.objects.create(name="off", vendor="sandbox", served_models=["x"], status=Channel.Status.DISABLED)
    response = staff_client.post("/staff/channels/test-all", follow=True)
    page = response.content.decode()
    assert response.redirect_chain[-1][0] == "/staff/channels/"
    assert page.count("Test of sandbox passed.") == 1 and page.count("Test of sora failed.") == 1
    assert "Test of off" not in page
    tested = AuditEntry.objects.filter(action="channel.tested")
    assert sorted(tested.values_list("target", flat=True)) == ["sandbox", "sora"]
    assert all(entry.detail["all"] for entry in tested)
    assert Channel.objects.get(name="off").last_test_at is None
    assert staff_client.get("/staff/channels/test-all").status_code == 405


def test_price_tiers_sort_by_resolution(staff_client, sandbox):
    from channels.models import Price

    price = Price.objects.create(
        model="tiered", per_second=100_000, resolution_multipliers={"1080p": "1.5", "480p": "0.5", "720p": "1"}
    )
    page = staff_client.get(f"/staff/prices/{price.pk}/").content.decode()
    assert page.index("Default (1x)") < page.index("480p (0.5x)") < page.index("720p (1x)") < page.index("1080p (1.5x)")
    listing = staff_client.get("/staff/prices/").content.decode()
    assert "480p × 0.5, 720p × 1, 1080p × 1.5" in listing
