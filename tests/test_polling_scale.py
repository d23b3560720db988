"""Polling at scale: polls side by side in one poller, pollers beside each other sharing the work
through claims, a vendor's rate limit slowing its own channel only, many tasks in one call, and
``manage.py poll`` as a process. The vendors answer slowly (``latency``); what is asserted is how
many polls the simulator served at once and how often each task was asked about, never wall time."""

import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connections
from django.db.models import Q
from django.utils import timezone

from accounts import services as money
from channels.adaptors.openai import OpenAIVideos
from tests.helpers import USD, ledger_sum, subprocess_env
from tests.simulators.base import Response
from videos import polling
from videos.models import Heartbeat, VideoTask

pytestmark = pytest.mark.django_db(transaction=True)  # the pollers' threads have connections of their own

LATENCY = 0.3  # seconds every vendor answer takes
BALANCE = 100 * USD  # enough for 64 Sora videos at once


@pytest.fixture(autouse=True)
def funds(tenant):
    money.topup(tenant, BALANCE - tenant.balance, note="test")


@pytest.fixture
def one_by_one(monkeypatch):
    """OpenAI's videos polled one query each (no list), so every poll shows at the simulator."""
    monkeypatch.setattr(OpenAIVideos, "supports_poll_many", False)


def create(api, count, model="sora-2"):
    tasks = []
    for n in range(count):
        response = api.post("/v1/videos", {"model": model, "prompt": f"video {n}"}, format="json")
        assert response.status_code == 200, response.content
        tasks.append(VideoTask.objects.get(public_id=response.json()["id"]))
    return tasks


def all_due(**fields):
    """Every task due now; ``poll_count=10`` backs each next poll off to a minute, so one sweep polls
    each task once."""
    VideoTask.objects.update(next_poll_at=timezone.now() - timedelta(seconds=1), **fields)


def run_until(pollers, done, timeout=60):
    """Run ``pollers`` in threads until ``done()`` (checked on this thread's connection), then stop them."""

    def run(poller):
        poller.run()
        connections.close_all()  # the main loop's connection, as its worker threads close theirs

    threads = [threading.Thread(target=run, args=(poller,), daemon=True) for poller in pollers]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    try:
        while not done():
            assert time.monotonic() < deadline, "the pollers did not finish in time"
            time.sleep(0.1)
    finally:
        for poller in pollers:
            poller.stop()
        for thread in threads:
            thread.join(timeout=polling.STOP_GRACE + 10)
    assert not any(thread.is_alive() for thread in threads)


def polled_once():
    return not VideoTask.objects.filter(poll_count__lt=11).exists()


def queries(simulator, prefix):
    """How many times each task was queried on its own (``prefix`` + its id), from the simulator's log."""
    return Counter(span.path for span in simulator.spans if span.path.startswith(prefix) and span.method == "GET")


@pytest.mark.usefixtures("one_by_one")
def test_polls_run_side_by_side_up_to_the_concurrency(api, sora):
    tasks = create(api, 64)
    sora.simulator.script = ["in_progress"]
    sora.simulator.latency = LATENCY
    sora.simulator.reset_peak()
    all_due(poll_count=10)
    poller = polling.Poller(concurrency=16)
    run_until([poller], polled_once)

    # 64 polls of 0.3 s one after another would be 1 at a time; 16 threads keep about 16 in flight.
    assert 8 <= sora.simulator.peak <= 16
    assert queries(sora.simulator, "/v1/videos/") == {f"/v1/videos/{task.vendor_task_id}": 1 for task in tasks}
    assert poller.polled == 64
    assert set(VideoTask.objects.values_list("status", flat=True)) == {"in_progress"}


@pytest.mark.usefixtures("one_by_one")
def test_two_pollers_share_the_work_and_never_poll_one_task_twice(api, sora):
    tasks = create(api, 40)
    sora.simulator.script = ["in_progress"]
    sora.simulator.latency = LATENCY
    sora.simulator.reset_peak()
    all_due(poll_count=10)
    first, second = polling.Poller(concurrency=4), polling.Poller(concurrency=4)
    run_until([first, second], polled_once)

    # Each due task was asked about exactly once, by one poller or the other: never twice, so never
    # twice at the same time; both took a share, and together they had more in flight than one can.
    assert queries(sora.simulator, "/v1/videos/") == {f"/v1/videos/{task.vendor_task_id}": 1 for task in tasks}
    assert first.polled > 0 and second.polled > 0 and first.polled + second.polled == 40
    assert sora.simulator.peak > 4


def test_a_rate_limited_channel_waits_while_the_other_is_polled(api, sora, kling):
    kling_tasks = create(api, 2, model="kling-v1")
    sora_tasks = create(api, 8)
    kling.simulator.latency = sora.simulator.latency = 0.1
    kling.simulator.reset_peak()
    sora.simulator.reset_peak()
    kling.simulator.serve_next(
        Response(
            429,
            {"code": 1303, "message": "parallel task over resource pack limit", "request_id": "r"},
            {"Retry-After": "2"},
        ),
        path_contains="/v1/videos/text2video",
    )
    now = timezone.now()
    VideoTask.objects.filter(channel=kling).update(next_poll_at=now, poll_count=10)
    for n, task in enumerate(sora_tasks):  # due one after another while Kling's pause lasts
        VideoTask.objects.filter(pk=task.pk).update(next_poll_at=now + timedelta(seconds=0.3 * n), poll_count=10)
    run_until([polling.Poller(concurrency=4)], polled_once)

    refused, *answered = [span for span in kling.simulator.spans if span.method == "GET"]
    assert len(answered) == 1  # the list again, once the pause was over: both tasks in one call
    assert answered[0].start - refused.end >= 2  # nothing was asked of Kling during the pause
    during = [span for span in sora.simulator.spans if refused.end < span.start < answered[0].start]
    assert len(during) >= 3  # OpenAI's tasks were polled meanwhile
    for task in kling_tasks:
        task.refresh_from_db()
        assert (task.poll_count, task.poll_errors, task.vendor_status) == (11, 0, "submitted")


def test_many_kling_tasks_are_answered_by_one_list_call_and_billed_exactly(api, kling, tenant):
    tasks = create(api, 20, model="kling-v1")
    kling.simulator.script = ["succeed"]
    kling.simulator.latency = 0.1  # the twenty downloads come one after another, on the thread of the call
    kling.simulator.reset_peak()
    all_due()
    run_until([polling.Poller(concurrency=4)], lambda: not VideoTask.objects.active().exists())

    calls = [span for span in kling.simulator.spans if span.path.startswith("/v1/videos/")]
    assert [(span.path, span.query["pageNum"]) for span in calls] == [("/v1/videos/text2video", "1")]
    for task in tasks:
        task.refresh_from_db()
        assert task.status == "completed" and task.amount_charged == task.amount_held == 50_000
        assert task.ledger.filter(kind="capture").count() == 1
    tenant.refresh_from_db()
    assert tenant.balance == BALANCE - 20 * 50_000 and ledger_sum(tenant) == tenant.balance


@pytest.mark.usefixtures("one_by_one")
def test_a_stopped_poller_gives_back_the_tasks_no_thread_started(api, sora):
    create(api, 12)
    sora.simulator.script = ["in_progress"]
    sora.simulator.latency = 3.0  # long enough for the poller to stop while both polls are in flight
    all_due(poll_count=10)
    # Two threads, four tasks claimed: two polls in flight, two waiting for a thread when it stops.
    run_until([polling.Poller(concurrency=2, grace=0.2)], lambda: sora.simulator.in_flight == 2)

    now = timezone.now()
    in_flight = VideoTask.objects.filter(Q(next_poll_at__gt=now + timedelta(seconds=90)) | Q(poll_count=11))
    assert in_flight.count() == 2  # still under their lease (or polled since): the polls outlived the grace
    assert VideoTask.objects.filter(poll_count=10, next_poll_at__lte=now).count() == 10  # the rest: due at once
    deadline = time.monotonic() + 10
    while VideoTask.objects.filter(poll_count=11).count() < 2:  # the two polls end on their own
        assert time.monotonic() < deadline
        time.sleep(0.1)


# --- manage.py poll --------------------------------------------------------------------------------


def test_the_poll_command_polls_until_sigterm_then_exits_cleanly(api, sora, tenant):
    [task] = create(api, 1)
    sora.simulator.script = ["completed"]
    all_due()
    command = subprocess.Popen(
        [sys.executable, "manage.py", "poll", "--concurrency", "2"],
        cwd=settings.BASE_DIR,
        env=subprocess_env(GATEWAY_MEDIA_ROOT=str(settings.MEDIA_ROOT), GATEWAY_SYNC_TASKS="true"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while VideoTask.objects.get(pk=task.pk).status != "completed":
            assert command.poll() is None, command.communicate()
            assert time.monotonic() < deadline, "the poll command did not finish the task within 60 s"
            time.sleep(0.2)
        command.send_signal(signal.SIGTERM)
        out, err = command.communicate(timeout=30)
    finally:
        if command.poll() is None:
            command.kill()
            command.wait()
    assert command.returncode == 0, err[-2000:]
    assert "Polling with 2 threads" in out and "Stopped" in out
    assert Heartbeat.objects.filter(name="poller").exists()
    task.refresh_from_db()
    assert task.amount_charged == task.amount_held and task.ledger.filter(kind="capture").count() == 1
    tenant.refresh_from_db()
    assert tenant.balance == BALANCE - task.amount_charged and ledger_sum(tenant) == tenant.balance
