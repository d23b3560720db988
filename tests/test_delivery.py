"""No video is charged that cannot be delivered: a video the vendor finished is copied to our
storage and verified before the capture, retried while its URL lives, and failed and released
(result_undeliverable) when it cannot be had; /content never announces a length it cannot send;
half-written copies of a killed worker are swept."""

import base64
import hashlib
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from channels.models import Channel, Price
from tests.helpers import USD, drive, ledger_sum, subprocess_env
from tests.simulators.base import Response
from tests.simulators.minimax import MiniMaxSimulator
from videos import services, storage, tasks
from videos.models import VideoTask

pytestmark = pytest.mark.django_db

SORA_PRICE = 4 * 100_000  # sora-2, 4 s (the simulator's default), 100,000 units a second


def create(api, **fields):
    response = api.post("/v1/videos", {"prompt": "a lighthouse", **fields}, format="json")
    assert response.status_code == 200, response.content
    return VideoTask.objects.get(public_id=response.json()["id"])


def media():
    return Path(settings.MEDIA_ROOT) / "videos"


def parts():
    return sorted(media().glob("*.part")) if media().is_dir() else []


def assert_released(task, tenant):
    """Failed as undeliverable, nothing charged: the ledger is hold + release and sums to the balance."""
    assert task.status == "failed" and task.error_code == "result_undeliverable", (task.status, task.error_code)
    assert task.amount_charged == 0 and not task.result_file
    assert sorted(task.ledger.values_list("kind", flat=True)) == ["hold", "release"]
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD and ledger_sum(tenant) == tenant.balance


def assert_charged_once(task, tenant, amount=SORA_PRICE):
    assert task.status == "completed", (task.status, task.error_code, task.error_message)
    assert task.amount_charged == amount
    assert task.ledger.filter(kind="capture").count() == 1 and not task.ledger.filter(kind="release").exists()
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD - amount and ledger_sum(tenant) == tenant.balance


@pytest.fixture
def hailuo(db):
    with MiniMaxSimulator(api_key="mm-test-key") as simulator:
        channel = Channel(name="hailuo", vendor="minimax", base_url=simulator.url, served_models=["MiniMax-Hailuo-02"])
        channel.credentials = "mm-test-key"
        channel.save()
        Price.objects.create(model="MiniMax-Hailuo-02", per_second=100_000)
        simulator.script = ["Success"]
        channel.simulator = simulator
        yield channel


# --- the vendor's URL ----------------------------------------------------------------------


def test_result_url_404_fails_undeliverable_and_releases_in_full(api, sora, tenant):
    sora.simulator.fail_next(404, {"error": {"message": "gone"}}, path_contains="/content", times=2)
    task = drive(create(api))
    assert_released(task, tenant)
    assert "HTTP 404" in task.error_message and "twice in a row" in task.error_message
    assert task.delivery_attempts == 2 and task.vendor_completed_at is not None
    assert parts() == []


def test_one_404_is_retried_not_fatal(api, sora, tenant):
    sora.simulator.fail_next(404, {"error": {"message": "not yet"}}, path_contains="/content")
    task = drive(create(api))
    assert_charged_once(task, tenant)
    assert task.delivery_attempts == 2


def test_json_answer_with_200_is_not_a_video(api, sora, tenant):
    sora.simulator.fail_next(200, {"error": "link expired"}, path_contains="/content", times=2)
    task = drive(create(api))
    assert_released(task, tenant)
    assert "application/json, not a video" in task.error_message


def test_download_cut_short_once_then_whole_is_charged_once(api, sora, tenant):
    sora.simulator.cut_next("/content")
    task = drive(create(api))
    assert_charged_once(task, tenant)
    assert task.delivery_attempts == 2
    whole = sora.simulator.video_bytes
    assert task.result_bytes == len(whole)
    assert (Path(settings.MEDIA_ROOT) / task.result_file).read_bytes() == whole
    assert parts() == []  # the cut copy's .part was removed at once


def test_download_cut_short_until_the_window_ends_fails_and_releases(api, sora, tenant, settings):
    settings.GATEWAY_DELIVERY_WINDOW_SECONDS = 600
    sora.simulator.cut_next("/content", times=100)
    task = create(api)
    sora.simulator.script = ["completed"]
    with time_machine.travel(timezone.now() + timedelta(seconds=30), tick=False):
        services.poll_once()
    task.refresh_from_db()
    # Done at the vendor, not delivered: still generating for the client, nothing charged.
    assert (task.status, task.progress, task.amount_charged) == ("in_progress", 99, 0)
    assert task.delivery_attempts == 1 and task.next_poll_at > timezone.now()
    assert not task.ledger.filter(kind="capture").exists()
    task = drive(task, times=20)
    assert_released(task, tenant)
    assert "cut short" in task.error_message and "10 min" in task.error_message
    assert task.delivery_attempts > 3
    assert parts() == [] and not (media() / f"{task.public_id}.mp4").exists()


def test_checksum_mismatch_is_retried(api, sora, tenant):
    whole = sora.simulator.video_bytes
    wrong = base64.b64encode(hashlib.md5(b"another video").digest()).decode()
    right = base64.b64encode(hashlib.md5(whole).digest()).decode()
    sora.simulator.serve_next(
        Response(200, whole, {"Content-Type": "video/mp4", "Content-MD5": wrong}), path_contains="/content"
    )
    sora.simulator.serve_next(
        Response(200, whole, {"Content-Type": "video/mp4", "x-goog-hash": f"crc32c=n03x6A==,md5={right}"}),
        path_contains="/content",
    )
    task = drive(create(api))
    assert_charged_once(task, tenant)
    assert task.delivery_attempts == 2


def test_partial_206_is_not_the_video(api, sora, tenant):
    whole = sora.simulator.video_bytes
    size = len(whole)
    partial = Response(206, whole[:100], {"Content-Type": "video/mp4", "Content-Range": f"bytes 0-99/{size}"})
    complete = Response(206, whole, {"Content-Type": "video/mp4", "Content-Range": f"bytes 0-{size - 1}/{size}"})
    sora.simulator.serve_next(partial, path_contains="/content")
    sora.simulator.serve_next(complete, path_contains="/content")
    task = drive(create(api))
    assert_charged_once(task, tenant)
    assert task.delivery_attempts == 2 and task.result_bytes == size


def test_vendor_byte_count_is_checked(api, hailuo, tenant, settings):
    """MiniMax states the file's size (files/retrieve's file.bytes): a download of another size
    is never charged."""
    settings.GATEWAY_DELIVERY_WINDOW_SECONDS = 300
    hailuo.simulator.file_bytes = len(hailuo.simulator.video_bytes) + 1
    task = drive(create(api, model="MiniMax-Hailuo-02", seconds="6"), times=20)
    assert_released(task, tenant)
    assert f"states {len(hailuo.simulator.video_bytes) + 1} bytes" in task.error_message


def test_vendor_byte_count_that_matches_is_stored(api, hailuo, tenant):
    task = drive(create(api, model="MiniMax-Hailuo-02", seconds="6"))
    assert_charged_once(task, tenant, amount=600_000)
    assert task.vendor_state["file_bytes"] == task.result_bytes == len(hailuo.simulator.video_bytes)


# --- while the video is being delivered ----------------------------------------------------


def test_client_sees_generating_until_delivered(api, sora, tenant, settings):
    settings.GATEWAY_SYNC_TASKS = False  # the delivery job is queued, not run
    sora.simulator.script = ["completed"]
    task = create(api)
    with time_machine.travel(timezone.now() + timedelta(seconds=30), tick=False):
        services.poll_once()
    task.refresh_from_db()
    assert task.vendor_completed_at and task.status == "in_progress" and task.amount_charged == 0
    body = api.get(f"/v1/videos/{task.public_id}").json()
    assert (body["status"], body["progress"]) == ("in_progress", 99)
    assert api.get(f"/v1/videos/{task.public_id}/content").status_code == 404
    polls = len(sora.simulator.calls("GET", f"/v1/videos/{task.vendor_task_id}"))
    with time_machine.travel(timezone.now() + timedelta(minutes=10), tick=False):
        services.poll_once()  # the lease ran out: delivered again, the vendor is not asked again
    assert len(sora.simulator.calls("GET", f"/v1/videos/{task.vendor_task_id}")) == polls
    task.refresh_from_db()
    stale = timezone.now() - timedelta(hours=1)
    assert tasks.deliver_result(task.pk, stale) is None  # a job whose lease was taken over does nothing
    assert tasks.deliver_result(task.pk, task.next_poll_at) == len(sora.simulator.video_bytes)
    task.refresh_from_db()
    assert_charged_once(task, tenant)
    assert api.get(f"/v1/videos/{task.public_id}").json()["status"] == "completed"


def test_deadline_does_not_fail_a_video_being_delivered(api, sora, tenant):
    sora.simulator.script = ["completed"]
    sora.simulator.cut_next("/content")
    task = create(api)
    start = timezone.now() + timedelta(seconds=30)
    with time_machine.travel(start, tick=False):
        services.poll_once()
    VideoTask.objects.filter(pk=task.pk).update(deadline_at=start)  # the deadline passes mid-delivery
    task.refresh_from_db()
    with time_machine.travel(task.next_poll_at + timedelta(seconds=1), tick=False):
        services.poll_once()
    task.refresh_from_db()
    assert_charged_once(task, tenant)


def test_old_queued_store_result_job_still_works(api, sora, tenant):
    """A job an older gateway queued for a task it completed before copying stores the copy
    (nothing is settled again); on a stored task it does nothing."""
    task = drive(create(api))
    (Path(settings.MEDIA_ROOT) / task.result_file).unlink()
    VideoTask.objects.filter(pk=task.pk).update(result_file="", result_bytes=None)
    assert tasks.store_result(task.pk) == len(sora.simulator.video_bytes)
    assert tasks.store_result(task.pk) is None
    task.refresh_from_db()
    assert task.result_file and task.ledger.filter(kind="capture").count() == 1


# --- storing off, or too large to store ---------------------------------------------------


@pytest.fixture(params=["storing off", "too large"])
def not_stored(request, settings):
    if request.param == "storing off":
        settings.GATEWAY_STORE_RESULTS = False
    else:
        settings.GATEWAY_MAX_VIDEO_BYTES = 1000
    return request.param


def test_not_stored_completes_when_the_url_answers_its_full_length(api, sora, tenant, not_stored):
    task = drive(create(api))
    assert_charged_once(task, tenant)
    whole = sora.simulator.video_bytes
    assert task.result_file == "" and task.result_bytes == len(whole)
    assert not media().exists() or list(media().iterdir()) == []
    if not_stored == "storing off":  # a one-byte range asks for the length without the bytes
        assert sora.simulator.calls("GET", "/content")[-1].headers["range"] == "bytes=0-0"
    response = api.get(f"/v1/videos/{task.public_id}/content")
    assert response.status_code == 200 and b"".join(response.streaming_content) == whole


def test_not_stored_fails_when_the_url_404s(api, sora, tenant, not_stored):
    sora.simulator.fail_next(404, {"error": {"message": "gone"}}, path_contains="/content", times=2)
    task = drive(create(api))
    assert_released(task, tenant)


# --- /content ------------------------------------------------------------------------------


def test_content_of_a_truncated_stored_file_is_never_a_short_200(api, sora):
    task = drive(create(api))
    path = Path(settings.MEDIA_ROOT) / task.result_file
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])  # damaged on disk
    url = f"/v1/videos/{task.public_id}/content"

    # The vendor still has it: relayed whole, at its real length.
    response = api.get(url)
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert body == whole and response["Content-Length"] == str(len(whole))
    head = api.head(url)
    assert head.status_code == 200 and head["Content-Length"] == str(len(whole))

    # The vendor no longer has it: a 502 in the dialect's error shape, not half a video.
    sora.simulator.fail_next(404, {"error": {"message": "expired"}}, path_contains="/content", times=2)
    response = api.get(url)
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "vendor_content_unavailable"
    response = api.get(url, HTTP_RANGE="bytes=0-99")
    assert response.status_code == 502


def test_content_relay_of_an_unreachable_vendor_is_a_502(api, sora):
    task = drive(create(api))
    VideoTask.objects.filter(pk=task.pk).update(result_file="")
    Channel.objects.filter(pk=sora.pk).update(base_url="http://127.0.0.1:9")  # nothing listens there
    response = api.get(f"/v1/videos/{task.public_id}/content")
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "vendor_content_unavailable"


# --- a worker killed mid-copy --------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_copy_is_redelivered_and_its_part_swept(api, sora, tenant, settings):
    settings.GATEWAY_SYNC_TASKS = False
    settings.GATEWAY_TICK_SECONDS = 0
    sora.simulator.script = ["completed"]
    # The vendor sends the video slowly (about 10 s), so the copy can be killed half-way.
    sora.simulator.trickle_next("/content", seconds_per_chunk=0.3, chunk=1024)
    task = create(api)
    services.poll_once(now=timezone.now() + timedelta(seconds=30))
    task.refresh_from_db()
    assert task.vendor_completed_at is not None and task.status == "in_progress"

    # A real worker process runs the delivery job and is killed with SIGKILL mid-copy.
    job = f"from videos import tasks; tasks.deliver_result({task.pk}, {task.next_poll_at!r})"
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-c", f"import datetime; {job}"],
        cwd=settings.BASE_DIR,
        env=subprocess_env(GATEWAY_MEDIA_ROOT=str(settings.MEDIA_ROOT)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while not any(part.stat().st_size > 0 for part in parts()):
        if worker.poll() is not None:
            pytest.fail(f"the worker exited before copying:\n{worker.stdout.read().decode()}")
        if time.monotonic() > deadline:
            worker.kill()
            pytest.fail("the worker did not start copying within 60 s")
        time.sleep(0.1)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    worker.stdout.close()

    [left] = parts()  # the dead worker's half-written copy
    assert 0 < left.stat().st_size < len(sora.simulator.video_bytes)
    task.refresh_from_db()
    assert task.status == "in_progress" and task.delivery_attempts == 1 and task.amount_charged == 0
    assert task.next_poll_at > timezone.now()  # its lease

    settings.GATEWAY_SYNC_TASKS = True
    assert services.poll_once() == 0  # nobody delivers it while the lease lasts ...
    with time_machine.travel(task.next_poll_at + timedelta(seconds=1), tick=False):
        assert services.poll_once() == 1  # ... then the next tick does
    task.refresh_from_db()
    assert_charged_once(task, tenant)
    assert task.delivery_attempts == 2
    assert (Path(settings.MEDIA_ROOT) / task.result_file).read_bytes() == sora.simulator.video_bytes

    # The poll tick sweeps .part files untouched for minutes, not one being written now.
    with time_machine.travel(timezone.now() + timedelta(minutes=11), tick=False):
        fresh = media() / "video_other.x1y2.part"
        fresh.write_bytes(b"in progress")
        os.utime(fresh, (time.time(), time.time()))
        tasks.poll_tick()
    assert parts() == [fresh]
    assert (Path(settings.MEDIA_ROOT) / task.result_file).exists()


def test_sweep_removes_only_stale_part_files(settings):
    media().mkdir(parents=True)
    stale, fresh, video = media() / "a.1.part", media() / "b.2.part", media() / "c.mp4"
    for path in (stale, fresh, video):
        path.write_bytes(b"x")
    old = time.time() - storage.PART_MAX_AGE - 1
    os.utime(stale, (old, old))
    os.utime(video, (old, old))
    assert storage.sweep_partial() == 1
    assert not stale.exists() and fresh.exists() and video.exists()
