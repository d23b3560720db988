"""Tenant task pages: history with filters and live rows, one task, its video in the page."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

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
    assert "<html" not in html and "<tr>" in html
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
    assert f'<video controls preload="metadata" src="/tasks/{task.public_id}/video">' in html
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
    assert "data-live" not in done and f'src="/tasks/{task.public_id}/video"' in done


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
