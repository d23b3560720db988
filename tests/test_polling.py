"""The poller: claims, backoff, vendor failures and timeouts, the deadline, crash recovery."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from channels.adaptors.base import IN_PROGRESS, PollResult
from tests.helpers import USD, drive, ledger_sum
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
