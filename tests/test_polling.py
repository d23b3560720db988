"""The poller: claims, backoff, vendor failures and timeouts, the deadline, crash recovery, a
vendor's rate limit pausing its channel, many tasks asked about in one call. Polls side by side and
pollers beside each other: tests/test_polling_scale.py."""

import email.utils
from datetime import timedelta

import httpx
import pytest
import time_machine
from django.utils import timezone

from channels.adaptors import kling as kling_adaptor
from channels.adaptors.base import IN_PROGRESS, PollResult, retry_after_seconds
from channels.models import Channel
from tests.helpers import USD, drive, ledger_sum
from tests.simulators.base import Response
from videos import services
from videos.models import Heartbeat, VideoTask

pytestmark = pytest.mark.django_db


def create(api, **fields):
    response = api.post("/v1/videos", {"prompt": "x", **fields}, format="json")
    assert response.status_code == 200, response.content
    return VideoTask.objects.get(public_id=response.json()["id"])


def test_claim_is_exclusive(api, sandbox):
    task = create(api, model="sandbox-video")
    later = timezone.now() + timedelta(seconds=10)
    first = services.claim(task.pk, later)
    second = services.claim(task.pk, later)
    assert first is not None and second is None
    task.refresh_from_db()
    assert task.next_poll_at > later  # pushed out before the vendor call


def test_progress_moves_through_states(api, sora):
    task = create(api)
    assert task.status == "queued" and task.submitted_at and task.vendor_task_id
    with time_machine.travel(timezone.now() + timedelta(seconds=30), tick=False):
        services.poll_once()  # simulator: queued
        task.refresh_from_db()
        assert task.status == "queued"
    with time_machine.travel(timezone.now() + timedelta(seconds=300), tick=False):
        services.poll_once()  # simulator: in_progress
        task.refresh_from_db()
        assert task.status == "in_progress" and task.progress == 50 and task.started_at
        assert task.vendor_status == "in_progress" and task.poll_count == 2
    task = drive(task)
    assert task.status == "completed" and task.finished_at


def test_unknown_vendor_state_keeps_task_running(api, sandbox, monkeypatch):
    task = create(api, model="sandbox-video")
    monkeypatch.setattr(
        type(sandbox.adaptor), "poll", lambda self, ctx, ref: PollResult(status=IN_PROGRESS, vendor_status="mystery")
    )
    for _ in range(3):
        with time_machine.travel(timezone.now() + timedelta(minutes=5), tick=False):
            services.poll_once()
    task.refresh_from_db()
    assert task.status == "in_progress" and task.vendor_status == "mystery"
    assert task.ledger.filter(kind__in=["capture", "release"]).count() == 0


def test_vendor_errors_while_polling_back_off_and_do_not_fail(api, sora):
    task = create(api)
    sora.simulator.fail_next(500, {"error": {"message": "boom"}}, path_contains="/v1/videos/", times=2)
    now = timezone.now()
    with time_machine.travel(now + timedelta(seconds=30), tick=False):
        services.poll_once()
    task.refresh_from_db()
    assert task.status == "queued" and task.poll_errors == 1
    first_gap = task.next_poll_at
    with time_machine.travel(first_gap + timedelta(seconds=1), tick=False):
        services.poll_once()
    task.refresh_from_db()
    assert task.poll_errors == 2 and task.next_poll_at - (first_gap + timedelta(seconds=1)) > timedelta(seconds=5)
    sora.refresh_from_db()
    assert "Polling failed" in sora.last_error
    assert drive(task).status == "completed"


def test_vendor_reports_failure(api, sora, tenant):
    sora.simulator.script = ["in_progress", "failed"]
    task = drive(create(api))
    assert task.status == "failed" and task.error_code == "vendor_failed"
    assert "could not be generated" in task.error_message
    body = api.get(f"/v1/videos/{task.public_id}").json()
    assert body["status"] == "failed" and body["error"]["code"] == "vendor_failed"
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD and ledger_sum(tenant) == tenant.balance


def test_vendor_timeout_at_submit_fails_and_releases(api, sora, tenant, settings):
    settings.GATEWAY_SUBMIT_TIMEOUT = 1
    sora.simulator.fail_next(200, {"id": "late"}, path_contains="/v1/videos", delay=2.5)  # no job was made
    response = api.post("/v1/videos", {"prompt": "x"}, format="json")
    # OpenAI's video list can tell whether the job exists: the task waits queued while it is looked for
    # (tests/test_lost_jobs.py); a vendor without lookup answers 504 at once.
    assert response.status_code == 200 and response.json()["status"] == "queued"
    task = drive(VideoTask.objects.get())
    assert task.status == "failed" and task.error_code == "vendor_timeout"
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD and ledger_sum(tenant) == tenant.balance


def test_deadline_fails_and_refunds(api, sandbox, tenant, settings):
    task = create(api, model="sandbox-video")
    with time_machine.travel(task.deadline_at + timedelta(seconds=1), tick=False):
        services.poll_once()
    task.refresh_from_db()
    assert task.status == "failed" and task.error_code == "deadline_exceeded"
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD and ledger_sum(tenant) == tenant.balance


def test_one_task_failing_to_settle_does_not_block_the_other_overdue_tasks(api, sandbox, tenant, monkeypatch):
    broken, healthy = create(api, model="sandbox-video"), create(api, model="sandbox-video")
    real_finish = services.finish

    def finish(task, *args, **kwargs):
        if task.pk == broken.pk:
            raise ValueError("a broken invariant on this row")
        return real_finish(task, *args, **kwargs)

    monkeypatch.setattr(services, "finish", finish)
    with time_machine.travel(max(broken.deadline_at, healthy.deadline_at) + timedelta(seconds=1), tick=False):
        assert services.expire_overdue(timezone.now()) == 1
    broken.refresh_from_db()
    healthy.refresh_from_db()
    assert broken.is_active and healthy.status == "failed" and healthy.error_code == "deadline_exceeded"


def test_interrupted_submit_is_failed_and_refunded(api, sandbox, tenant):
    task = create(api, model="sandbox-video")
    VideoTask.objects.filter(pk=task.pk).update(vendor_task_id="", next_poll_at=None)  # died mid-submit
    with time_machine.travel(timezone.now() + timedelta(minutes=11), tick=False):
        services.poll_once()
    task.refresh_from_db()
    assert task.status == "failed" and task.error_code == "submit_interrupted"
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD


def test_worker_killed_mid_poll_loses_nothing(api, sora, tenant, monkeypatch):
    sora.simulator.script = ["completed"]
    task = create(api)
    start = timezone.now() + timedelta(seconds=30)

    def crash(self, ctx, ref):
        raise SystemExit("worker killed")

    with monkeypatch.context() as patch:
        patch.setattr(type(sora.adaptor), "poll", crash)
        with time_machine.travel(start, tick=False), pytest.raises(SystemExit):
            services.poll_once()
    task.refresh_from_db()
    assert task.status == "queued"
    # nobody polls it again until the lease runs out ...
    with time_machine.travel(start + timedelta(seconds=60), tick=False):
        assert services.poll_once() == 0
    # ... then a restarted worker finishes it, billed once
    with time_machine.travel(start + services.POLL_LEASE + timedelta(seconds=1), tick=False):
        assert services.poll_once() == 1
        assert services.poll_once() == 0
    task.refresh_from_db()
    assert task.status == "completed"
    assert task.ledger.filter(kind="capture").count() == 1
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD - 400_000 and ledger_sum(tenant) == tenant.balance


def test_tick_runs_for_its_duration_and_beats(api, sandbox):
    create(api, model="sandbox-video")
    services.run_tick(seconds=0)
    assert Heartbeat.objects.get(name="poller").at is not None


def test_schedule_is_created_idempotently():
    from django_q.models import Schedule

    from videos.tasks import TICK_SCHEDULE, ensure_schedules

    ensure_schedules()
    ensure_schedules()
    schedule = Schedule.objects.get(name=TICK_SCHEDULE)
    assert schedule.func == "videos.tasks.poll_tick" and schedule.repeats == -1


def test_migrate_creates_the_poll_schedule(db):
    """A worker started with plain ``qcluster`` (not ``serve``) must poll: migrate makes the schedule."""
    from django.core.management import call_command
    from django_q.models import Schedule

    from videos.tasks import TICK_SCHEDULE

    Schedule.objects.filter(name=TICK_SCHEDULE).delete()
    call_command("migrate", verbosity=0)
    assert Schedule.objects.get(name=TICK_SCHEDULE).func == "videos.tasks.poll_tick"


# --- a vendor's rate limit ----------------------------------------------------------------------------


def too_many(retry_after=None):
    """Kling's answer to too many requests (code 1302, HTTP 429), with a Retry-After header if given."""
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    return Response(429, {"code": 1302, "message": "API request too fast", "request_id": "r"}, headers)


def test_retry_after_is_read_as_seconds_or_a_date_and_capped():
    now = 1_750_000_000

    def read(value):
        return retry_after_seconds(httpx.Response(429, headers={"Retry-After": value}), now=now)

    assert read("12") == 12
    assert read(email.utils.formatdate(now + 90, usegmt=True)) == 90
    assert read(email.utils.formatdate(now - 90, usegmt=True)) == 0  # already past: no wait
    assert read("86400") == 600  # a day is not believed
    assert read("soon") is None
    assert retry_after_seconds(httpx.Response(429)) is None


def test_a_429_pauses_only_its_channel_and_counts_no_error(api, kling, sora):
    kling_tasks = [create(api, model="kling-v1") for _ in range(2)]
    sora_tasks = [create(api) for _ in range(2)]
    kling.simulator.serve_next(too_many("40"), path_contains="/v1/videos/text2video")
    start = timezone.now()
    services.poll_once(now=start + timedelta(seconds=30))

    kling.refresh_from_db()
    assert timedelta(seconds=39) < kling.poll_paused_until - start < timedelta(seconds=45)
    assert "429" in kling.poll_paused_reason and kling.last_error == ""
    assert len(kling.simulator.calls("GET", "/v1/videos/")) == 1  # one call, for both tasks, answered 429
    for task in kling_tasks:
        task.refresh_from_db()
        assert task.next_poll_at == kling.poll_paused_until  # due when the pause ends ...
        assert (task.poll_errors, task.poll_count, task.status) == (0, 0, "queued")  # ... and nothing else
    for task in sora_tasks:
        task.refresh_from_db()
        assert task.poll_count == 1

    services.poll_once(now=start + timedelta(seconds=35))  # the other channel goes on at full speed
    assert len(kling.simulator.calls("GET", "/v1/videos/")) == 1
    assert all(task.poll_count == 2 for task in VideoTask.objects.filter(channel=sora))

    services.poll_once(now=start + timedelta(seconds=46))  # the pause is over
    assert len(kling.simulator.calls("GET", "/v1/videos/")) == 2
    for task in kling_tasks:
        task.refresh_from_db()
        assert (task.poll_errors, task.poll_count, task.vendor_status) == (0, 1, "submitted")


def test_a_429_without_retry_after_pauses_for_the_default(api, sora):
    task = create(api)
    sora.simulator.serve_next(
        Response(429, {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}),
        path_contains=f"/v1/videos/{task.vendor_task_id}",
    )
    start = timezone.now()
    services.poll_once(now=start + timedelta(seconds=30))
    sora.refresh_from_db()
    pause = sora.poll_paused_until - start
    assert timedelta(seconds=services.RATE_LIMIT_PAUSE) <= pause < timedelta(seconds=services.RATE_LIMIT_PAUSE + 5)
    task.refresh_from_db()
    assert task.next_poll_at == sora.poll_paused_until and task.poll_errors == 0
    assert services.due_task_ids(start + timedelta(seconds=services.RATE_LIMIT_PAUSE - 1)) == []
    assert services.due_task_ids(start + timedelta(seconds=services.RATE_LIMIT_PAUSE + 5)) == [task.pk]


def test_a_paused_channel_still_delivers_what_its_vendor_finished(api, sora):
    task = create(api)
    later = timezone.now() + timedelta(minutes=10)
    VideoTask.objects.filter(pk=task.pk).update(vendor_completed_at=timezone.now(), next_poll_at=timezone.now())
    Channel.objects.filter(pk=sora.pk).update(poll_paused_until=later)
    assert services.due_task_ids(timezone.now()) == [task.pk]  # a delivery calls no vendor API
    VideoTask.objects.filter(pk=task.pk).update(vendor_completed_at=None)
    assert services.due_task_ids(timezone.now()) == []


# --- many tasks in one call -----------------------------------------------------------------------


def test_claim_due_takes_a_batch_once(api, sora):
    tasks = [create(api) for _ in range(3)]
    later = timezone.now() + timedelta(seconds=30)
    first = services.claim_due(later, 2)
    second = services.claim_due(later, 5)
    assert len(first) == 2 and len(second) == 1
    assert {task.pk for task in first + second} == {task.pk for task in tasks}
    assert services.claim_due(later, 5) == []
    assert all(task.next_poll_at == later + services.POLL_LEASE for task in first + second)
    assert set(VideoTask.objects.values_list("next_poll_at", flat=True)) == {later + services.POLL_LEASE}


def test_kling_tasks_due_together_are_answered_by_one_list_call_and_billed_exactly(api, kling, tenant):
    kling.simulator.script = ["succeed"]
    tasks = [create(api, model="kling-v1") for _ in range(5)]
    assert services.poll_once(now=timezone.now() + timedelta(seconds=30)) == 5
    queries = kling.simulator.calls("GET", "/v1/videos/")
    assert [(query.path, query.query) for query in queries] == [
        ("/v1/videos/text2video", {"pageNum": "1", "pageSize": str(kling_adaptor.POLL_MANY_PAGE_SIZE)})
    ]
    for task in tasks:
        task.refresh_from_db()
        assert task.status == "completed" and task.amount_charged == task.amount_held == 5 * 10_000
        assert task.ledger.filter(kind="capture").count() == 1
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD - 5 * 50_000 and ledger_sum(tenant) == tenant.balance


def test_a_task_the_list_does_not_show_is_polled_alone(api, kling, monkeypatch):
    monkeypatch.setattr(kling_adaptor, "POLL_MANY_PAGE_SIZE", 2)
    monkeypatch.setattr(kling_adaptor, "POLL_MANY_PAGES", 1)
    kling.simulator.script = ["processing"]
    oldest, *newer = [create(api, model="kling-v1") for _ in range(3)]
    assert services.poll_once(now=timezone.now() + timedelta(seconds=30)) == 3
    paths = [query.path for query in kling.simulator.calls("GET", "/v1/videos/")]
    assert paths == ["/v1/videos/text2video", f"/v1/videos/text2video/{oldest.vendor_task_id}"]
    for task in (oldest, *newer):
        task.refresh_from_db()
        assert (task.status, task.poll_count, task.poll_errors) == ("in_progress", 1, 0)


def test_a_task_missing_from_the_list_is_not_taken_for_lost(api, kling):
    forgotten, *others = [create(api, model="kling-v1") for _ in range(3)]
    kling.simulator.forget(forgotten.vendor_task_id)
    services.poll_once(now=timezone.now() + timedelta(seconds=30))
    paths = [query.path for query in kling.simulator.calls("GET", "/v1/videos/")]
    assert paths == ["/v1/videos/text2video", f"/v1/videos/text2video/{forgotten.vendor_task_id}"]
    forgotten.refresh_from_db()
    # Only its own query's "not found" counts: one, to be confirmed (not two, nor failed).
    assert forgotten.is_active and forgotten.vendor_missing == 1
    for task in others:
        task.refresh_from_db()
        assert task.vendor_missing == 0 and task.poll_count == 1


def test_a_failed_list_call_falls_back_to_one_poll_each(api, kling):
    tasks = [create(api, model="kling-v1") for _ in range(2)]
    kling.simulator.fail_next(500, {"code": 5000, "message": "server error"}, path_contains="/v1/videos/text2video")
    services.poll_once(now=timezone.now() + timedelta(seconds=30))
    paths = sorted(query.path for query in kling.simulator.calls("GET", "/v1/videos/"))
    assert paths == sorted(["/v1/videos/text2video"] + [f"/v1/videos/text2video/{t.vendor_task_id}" for t in tasks])
    assert all(task.poll_count == 1 and task.poll_errors == 0 for task in VideoTask.objects.all())
