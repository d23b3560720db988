"""Tenant task pages: history with filters and live rows, one task, its video in the page."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import AuditEntry
from tests.helpers import drive, make_task, signed_in, submit
from videos.models import VideoTask

pytestmark = pytest.mark.django_db


def row_ids(html):
    return re.findall(r'href="/tasks/(video_\w+)/"', html)


# --- The list -------------------------------------------------------------------------------


def test_list_shows_own_tasks_with_status_and_cost(owner, api, sandbox, key, other_tenant):
    done = drive(submit(api, prompt="a red balloon"))
    running = submit(api, prompt="a blue kite")
    foreign = make_task(other_tenant, prompt="someone else's")
    html = owner.get("/tasks/").content.decode()
    assert row_ids(html) == [running.public_id, done.public_id]
    assert foreign.public_id not in html and "someone else" not in html
    assert 'class="badge badge-completed">Completed<' in html
    assert "$0.05" in html  # 5 s x 10,000 units charged
    assert "$0.05 held" in html  # the running one holds the same
    assert key.masked in html and key.plaintext not in html
    assert 'aria-valuenow="0"><div class="progress-bar"></div>' in html  # app.js sets the width (CSP)
    assert "data-refresh-url=" in html and "data-live" in html


def test_empty_states(owner, key):
    html = owner.get("/tasks/").content.decode()
    assert "No tasks yet" in html
    assert "No tasks match these filters" in owner.get("/tasks/?status=failed").content.decode()


def test_filters(owner, tenant, key):
    old = make_task(tenant, api_key=key, prompt="An old lighthouse", status="completed")
    VideoTask.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))
    failed = make_task(tenant, api_key=key, model="sora-2", prompt="A stormy sea", status="failed")
    plain = make_task(tenant, prompt="Quiet forest")

    def ids(query):
        response = owner.get(f"/tasks/?{query}")
        assert response.status_code == 200
        return set(row_ids(response.content.decode()))

    assert ids("status=failed") == {failed.public_id}
    assert ids("model=sora-2") == {failed.public_id}
    assert ids(f"key={key.lookup}") == {old.public_id, failed.public_id}
    assert ids("q=lighthouse") == {old.public_id}
    assert ids(f"q={plain.public_id}") == {plain.public_id}
    today = timezone.localdate()
    since = (today - timedelta(days=1)).isoformat()
    assert old.public_id not in ids(f"since={since}")
    until = (today - timedelta(days=5)).isoformat()
    assert ids(f"until={until}") == {old.public_id}
    assert ids(f"since={since}&until={today.isoformat()}&status=failed&model=sora-2") == {failed.public_id}
    # A key of another tenant is not a choice: the filter is refused, not applied to their tasks.
    response = owner.get("/tasks/?key=notmykey0000")
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    html = owner.get(f"/tasks/?since={today}&until={today - timedelta(days=3)}").content.decode()
    assert "The end date is before the start date." in html


def test_pagination_keeps_filters(owner, tenant):
    tasks = [make_task(tenant, prompt=f"dog {n}") for n in range(30)]
    make_task(tenant, prompt="cat")
    first = owner.get("/tasks/?q=dog").content.decode()
    assert len(row_ids(first)) == 25
    older = re.search(r'href="(\?q=dog&amp;before=[\w-]+)" rel="next">Older', first)
    assert older and "in all" not in first  # by cursor, never counted (tests/pages/test_list_scale.py)
    second = owner.get("/tasks/" + older[1].replace("&amp;", "&")).content.decode()
    assert len(row_ids(second)) == 5 and 'rel="next"' not in second and 'rel="prev">← Newer' in second
    assert set(row_ids(first)) | set(row_ids(second)) == {t.public_id for t in tasks}
    assert owner.get("/tasks/?q=dog&page=99").status_code == 200  # an old page link: the newest page


def test_rows_fragment_is_the_table_body_with_the_same_filters(owner, tenant):
    live = make_task(tenant, status="in_progress", progress=42, prompt="live one")
    done = make_task(tenant, status="completed", prompt="finished one")
    response = owner.get("/tasks/rows/?status=in_progress")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and "<tr id=" in html
    assert row_ids(html) == [live.public_id] and done.public_id not in html
    assert "data-live" in html and 'aria-valuenow="42"' in html
    quiet = owner.get("/tasks/rows/?status=completed").content.decode()
    assert row_ids(quiet) == [done.public_id] and "data-live" not in quiet


def test_list_and_rows_queries_are_bounded(owner, tenant, key, django_assert_max_num_queries):
    for n in range(40):
        make_task(tenant, api_key=key, prompt=f"task {n}", status="in_progress" if n % 2 else "completed")
    with django_assert_max_num_queries(7):
        assert owner.get("/tasks/?status=in_progress&q=task").status_code == 200
    with django_assert_max_num_queries(7):
        assert owner.get("/tasks/rows/?page=2").status_code == 200


# --- One task -------------------------------------------------------------------------------


def test_task_page_shows_request_timeline_cost_and_video(owner, api, sandbox, key):
    sandbox.name = "secret-upstream-channel"
    sandbox.save()
    task = drive(submit(api, prompt="a fox in the snow"))
    assert task.status == "completed" and task.vendor_task_id
    html = owner.get(f"/tasks/{task.public_id}/").content.decode()
    assert "a fox in the snow" in html
    assert "OpenAI /v1/videos" in html and key.masked in html and key.plaintext not in html
    for moment in ("Created", "Submitted", "Started", "Finished"):
        assert moment in html
    assert task.submitted_at.strftime("%Y-%m-%d %H:%M:%S") in html
    assert task.finished_at.strftime("%Y-%m-%d %H:%M:%S") in html
    assert "<dt>Held</dt><dd>$0.05</dd>" in html and "<dt>Charged</dt><dd>$0.05</dd>" in html
    assert "<dt>seconds</dt>" in html  # task.params
    # The player shows a frame 0.1 s in as its poster (phones otherwise show black until it plays).
    assert f'<video controls playsinline preload="metadata" src="/tasks/{task.public_id}/video#t=0.1">' in html
    for secret in (task.vendor_task_id, task.result_url, "secret-upstream-channel", "succeeded", "sandbox://"):
        assert secret not in html
    assert "data-live" not in html


def test_failed_task_explains_the_error(owner, api, sandbox):
    task = drive(submit(api, model="sandbox-fail"))
    assert task.status == "failed" and task.error_code == "vendor_failed"
    html = owner.get(f"/tasks/{task.public_id}/").content.decode()
    assert "The video provider could not generate this video." in html
    assert task.error_message.split(" (")[0] in html
    assert "Nothing was charged: the hold was released." in html
    assert "<video" not in html


@pytest.mark.parametrize(
    ("code", "sentence"),
    [
        ("content_moderation", "refused the prompt or image under its content policy"),
        ("deadline_exceeded", "did not finish in time"),
        ("vendor_timeout", "did not answer in time"),
        ("submit_interrupted", "interrupted while submitting"),
        ("something_new", "The task failed."),
    ],
)
def test_error_codes_in_plain_words(owner, tenant, code, sentence):
    task = make_task(tenant, status="failed", error_code=code, error_message="Details from the gateway.")
    html = owner.get(f"/tasks/{task.public_id}/").content.decode()
    assert sentence in html and "Details from the gateway." in html


def test_status_fragment_is_live_until_finished_then_shows_the_video(owner, api, sandbox):
    task = submit(api)
    live = owner.get(f"/tasks/{task.public_id}/status/").content.decode()
    assert "<html" not in live and "data-live" in live and 'class="progress"' in live and "<video" not in live
    page = owner.get(f"/tasks/{task.public_id}/").content.decode()
    assert f'data-refresh-url="/tasks/{task.public_id}/status/"' in page
    drive(task)
    done = owner.get(f"/tasks/{task.public_id}/status/").content.decode()
    assert "data-live" not in done and f'src="/tasks/{task.public_id}/video#t=0.1"' in done


def test_video_streams_with_range_through_the_session(owner, api, sandbox):
    task = drive(submit(api))
    whole = owner.get(f"/tasks/{task.public_id}/video")
    assert whole.status_code == 200 and whole["Content-Type"] == "video/mp4"
    body = b"".join(whole.streaming_content)
    assert body[4:8] == b"ftyp"
    part = owner.get(f"/tasks/{task.public_id}/video", HTTP_RANGE="bytes=0-99")
    assert part.status_code == 206
    assert part["Content-Range"] == f"bytes 0-99/{len(body)}"
    assert b"".join(part.streaming_content) == body[:100]
    assert owner.head(f"/tasks/{task.public_id}/video").status_code == 200


def test_video_is_404_until_completed_and_for_failed(owner, api, sandbox):
    running = submit(api)
    assert owner.get(f"/tasks/{running.public_id}/video").status_code == 404
    failed = drive(submit(api, model="sandbox-fail"))
    assert owner.get(f"/tasks/{failed.public_id}/video").status_code == 404


def test_video_needs_a_session_not_a_key(api, key, sandbox):
    task = drive(submit(api))
    with_key = Client(HTTP_AUTHORIZATION=f"Bearer {key.plaintext}").get(f"/tasks/{task.public_id}/video")
    assert with_key.status_code == 302 and with_key["Location"].startswith("/login/")


def test_other_tenant_gets_404_on_every_task_url(users, api, sandbox):
    task = drive(submit(api))
    outsider = signed_in(users["outsider"])
    for url in ("/", "/status/", "/video"):
        assert outsider.get(f"/tasks/{task.public_id}{url}").status_code == 404
    assert task.public_id not in outsider.get("/tasks/").content.decode()
    assert row_ids(outsider.get(f"/tasks/?q={task.public_id}").content.decode()) == []
    assert task.public_id not in outsider.get("/tasks/rows/").content.decode()


def test_read_only_member_sees_tasks(users, api, sandbox):
    task = drive(submit(api))
    reader = signed_in(users["reader"])
    assert reader.get(f"/tasks/{task.public_id}/").status_code == 200
    assert reader.get(f"/tasks/{task.public_id}/video", HTTP_RANGE="bytes=0-9").status_code == 206


def test_deleted_task_is_gone(owner, tenant):
    task = make_task(tenant, status="completed", deleted_at=timezone.now())
    assert owner.get(f"/tasks/{task.public_id}/").status_code == 404
    assert task.public_id not in owner.get("/tasks/").content.decode()


def test_task_pages_are_read_only(owner, tenant):
    task = make_task(tenant)
    assert owner.post("/tasks/").status_code == 405
    assert owner.post(f"/tasks/{task.public_id}/").status_code == 405


# --- Issue 13: the live list, the task page's download, expiry, poster, asked/produced, retry ---------


def test_the_first_page_keeps_refreshing_when_nothing_runs(owner, tenant):
    """Defect 1: with no running task (even with no task at all) the first page still polls its rows,
    more slowly, so new tasks appear; an older page does not (it cannot gain rows)."""
    empty = owner.get("/tasks/").content.decode()
    assert 'data-refresh-url="/tasks/rows/?"' in empty and 'data-refresh-idle="5000"' in empty
    assert "No tasks yet" in empty and 'id="no-tasks"' in empty  # the empty state is a row the refresh replaces
    for n in range(30):
        make_task(tenant, status="completed", prompt=f"done {n}")
    first = owner.get("/tasks/").content.decode()
    assert "data-live" not in first and 'data-refresh-idle="5000"' in first
    older = re.search(r'href="\?before=([^"]+)"', first)[1]
    second = owner.get(f"/tasks/?before={older}").content.decode()
    assert "data-refresh-url=" in second and "data-refresh-idle" not in second


def test_task_page_offers_download_expiry_and_what_was_asked_and_produced(owner, api, sandbox):
    task = drive(submit(api, prompt="a fox", seconds="4"))
    html = owner.get(f"/tasks/{task.public_id}/").content.decode()
    assert f'<span class="mono id">{task.public_id}</span>' in html  # wraps on a phone
    assert f'href="/tasks/{task.public_id}/video?download=1"' in html and "Download MP4" in html
    assert f"Available to play and download until {task.expires_at:%Y-%m-%d %H:%M} UTC." in html
    assert "The gateway keeps its own copy until then." in html
    # Asked for 4 s at the sandbox's default 720p; the bundled sample measures 320x180.
    produced = task.params["produced"]
    assert produced["width"] == 320 and produced["height"] == 180
    table = html.split("Asked for and produced")[1].split("</table>")[0]
    assert '<th scope="row">Duration</th><td>4 s</td><td>4 s</td>' in table
    assert '<th scope="row">Resolution</th><td>720p</td><td>180p</td>' in table
    assert '<th scope="row">Size</th><td>—</td><td>320×180</td>' in table
    assert "<dt>Resolution</dt>" not in html  # no longer "Resolution 720p" alone


def test_download_is_an_attachment(owner, api, sandbox):
    task = drive(submit(api))
    inline = owner.get(f"/tasks/{task.public_id}/video")
    assert inline["Content-Disposition"].startswith("inline")
    download = owner.get(f"/tasks/{task.public_id}/video?download=1")
    assert download.status_code == 200
    assert download["Content-Disposition"] == f'attachment; filename="{task.public_id}.mp4"'
    assert b"".join(download.streaming_content) == b"".join(inline.streaming_content)


def test_asked_for_shows_what_the_plan_changed(owner, tenant):
    task = make_task(
        tenant,
        status="completed",
        seconds=5,
        params={"seconds": 5, "size": "1280x720", "resolution": "720p", "requested": {"seconds": 7}},
    )
    html = owner.get(f"/tasks/{task.public_id}/").content.decode()
    assert "<td>5 s (you asked for 7 s)</td>" in html and "<td>1280×720</td>" in html
    assert "not measured" in html  # nothing was measured for this row


def test_cancel_asks_for_confirmation(owner, api, sandbox):
    task = submit(api)
    html = owner.get(f"/tasks/{task.public_id}/").content.decode()
    assert f'action="/tasks/{task.public_id}/cancel" data-confirm="' in html


def test_retry_submits_the_same_request_as_a_new_task(owner, api, sandbox, key):
    failed = drive(submit(api, prompt="a boat [fail]", seconds="4"))
    assert failed.status == "failed"
    page = owner.get(f"/tasks/{failed.public_id}/").content.decode()
    assert f'action="/tasks/{failed.public_id}/retry"' in page and "Retry as a new task" in page
    response = owner.post(f"/tasks/{failed.public_id}/retry")
    new = VideoTask.objects.exclude(pk=failed.pk).get()
    assert response.status_code == 302 and response["Location"] == f"/tasks/{new.public_id}/"
    assert (new.prompt, new.model, new.api_key, new.route) == (failed.prompt, failed.model, key, failed.route)
    assert new.params["seconds"] == 4 and new.amount_held == failed.amount_held
    assert AuditEntry.objects.get(action="task.retried").target == new.public_id


def test_retry_is_for_writers_and_finished_tasks_only(users, owner, api, sandbox):
    done = drive(submit(api))
    failed = drive(submit(api, model="sandbox-fail"))
    reader = signed_in(users["reader"])
    assert "Retry" not in reader.get(f"/tasks/{failed.public_id}/").content.decode()
    assert reader.post(f"/tasks/{failed.public_id}/retry").status_code == 404
    assert "Retry as a new task" not in owner.get(f"/tasks/{done.public_id}/").content.decode()
    response = owner.post(f"/tasks/{done.public_id}/retry", follow=True)
    assert "Only failed or cancelled tasks" in response.content.decode()
    assert VideoTask.objects.count() == 2
    assert owner.get(f"/tasks/{failed.public_id}/retry").status_code == 405


def test_retry_refuses_an_uploaded_image_it_did_not_keep(owner, tenant, key, sandbox):
    task = make_task(
        tenant, api_key=key, status="failed", prompt="x", params={"seconds": 5, "image": "<image/png, 68 bytes>"}
    )
    response = owner.post(f"/tasks/{task.public_id}/retry", follow=True)
    assert "uploaded image, which is not kept" in response.content.decode()
    assert VideoTask.objects.count() == 1
