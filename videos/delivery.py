"""Delivery: the step between "the vendor says the video is done" and "completed" here.

No video is charged that cannot be delivered. When a poll finds the video done, apply_result
records it (``vendor_completed_at``, the result URL, the seconds produced), keeps the task in
progress at 99 % and takes the delivery lease (``next_poll_at`` pushed DELIVERY_LEASE ahead);
deliver() then, as a django-q2 job:

- takes the lease by a conditional update on its value (one worker delivers at a time; a job
  handed out twice, or one whose lease ran out, finds it gone and stops), renews it while bytes
  arrive, and counts the attempt (``delivery_attempts``);
- copies the video into our storage and verifies it (storage.fetch), or, with storing off
  (GATEWAY_STORE_RESULTS) or a video larger than GATEWAY_MAX_VIDEO_BYTES, checks that the
  vendor's URL answers with the whole length;
- on success, finish(COMPLETED): the capture, with the stored file, in one conditional update;
- on a failure that may pass (timeout, 5xx, cut short, wrong length or checksum), tries again
  with backoff (5 s doubling, at most 5 min) while the delivery window lasts
  (GATEWAY_DELIVERY_WINDOW_SECONDS from ``vendor_completed_at``);
- when the URL answers as gone (403/404/410, not a video) twice in a row, or a failure comes
  after the window ended, finish(FAILED, "result_undeliverable"): the hold is released in full.

A worker killed mid-copy leaves its lease to run out and its ``.part`` file to the sweep
(storage.sweep_partial); the next poll tick finds the task due and delivers it again.
"""

import logging
import struct
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from channels.services import call_context

from . import mp4, services, storage
from .models import VideoTask

log = logging.getLogger(__name__)

FIRST_RETRY = 5  # seconds after the first failed attempt; doubles with every attempt
MAX_RETRY = 300  # seconds, at most, between two attempts
GONE_LIMIT = 2  # "gone" answers in a row that fail the task
UNDELIVERABLE = "result_undeliverable"


def deliver(task_id, lease=None):
    """Deliver one task the vendor finished (see the module docstring). ``lease`` is the
    ``next_poll_at`` the poller set when it queued this job. A failed copy does not raise (the poll
    tick retries it, not the queue); only the database failing does. Returns the bytes delivered,
    or None."""
    task = VideoTask.objects.select_related("channel").filter(pk=task_id).first()
    if task is None:
        return None
    if task.status == VideoTask.Status.COMPLETED:
        return _store_completed(task)
    if not task.is_active or task.vendor_completed_at is None:
        return None
    now = timezone.now()
    if lease is None and task.next_poll_at is not None and task.next_poll_at > now:
        return None  # called without the poller's lease (an old job): never take a live one
    held = now + services.DELIVERY_LEASE
    taken = VideoTask.objects.filter(
        pk=task.pk, status__in=VideoTask.ACTIVE, next_poll_at=lease or task.next_poll_at
    ).update(next_poll_at=held, delivery_attempts=F("delivery_attempts") + 1)
    if not taken:
        return None  # another worker delivers it, or it was finished meanwhile
    task.delivery_attempts += 1
    task.next_poll_at = held
    window = timedelta(seconds=settings.GATEWAY_DELIVERY_WINDOW_SECONDS)
    window_end = task.vendor_completed_at + window
    # Attempts that never report back (their worker killed every time) end here, a lease after the
    # window; a first attempt is always made, even after the gateway was down longer than that.
    if task.delivery_attempts > 1 and now >= window_end + services.DELIVERY_LEASE:
        return _undeliverable(task, f"no delivery succeeded within {_duration(window)}")
    try:
        source = task.channel.adaptor.content(call_context(task.channel), task.ref())
        delivered = storage.fetch(task, source, store=settings.GATEWAY_STORE_RESULTS, keep_alive=lambda: _renew(task))
    except storage.LeaseLost:
        log.warning("Delivery of %s was taken over by another worker; this copy stopped", task.public_id)
        return None
    except storage.DeliveryFailed as exc:
        return _failed(task, exc, window_end, window)
    except Exception as exc:
        log.exception("Delivering %s failed", task.public_id)
        return _failed(task, storage.DeliveryFailed(f"the gateway failed ({type(exc).__name__})"), window_end, window)
    _record_produced(task, delivered)
    if services.finish(
        task,
        VideoTask.Status.COMPLETED,
        seconds_produced=task.seconds_produced,
        result_url=task.result_url,
        result_file=delivered.relative,
        result_bytes=delivered.size,
    ):
        log.info("Delivered %s (%d bytes, %s)", task.public_id, delivered.size, delivered.relative or "relayed")
        return delivered.size
    storage.discard(task.pk, delivered)  # finished otherwise meanwhile: nothing to serve it to
    return None


def _record_produced(task, delivered):
    """Keep what the stored MP4 measures (duration, width, height) in the task's params under
    "produced", before the task completes, so the dialects can report the video as it is."""
    if not delivered.relative:
        return
    try:
        produced = mp4.measure(Path(settings.MEDIA_ROOT) / delivered.relative).record()
    except (OSError, ValueError, struct.error) as exc:
        log.info("Could not measure the video of %s: %s", task.public_id, exc)
        return
    task.params = {**task.params, "produced": produced}
    VideoTask.objects.filter(pk=task.pk, status__in=VideoTask.ACTIVE).update(params=task.params)


def _renew(task):
    """Keep the delivery lease while copying; raise LeaseLost if another worker has it now."""
    held = timezone.now() + services.DELIVERY_LEASE
    if not VideoTask.objects.filter(pk=task.pk, status__in=VideoTask.ACTIVE, next_poll_at=task.next_poll_at).update(
        next_poll_at=held
    ):
        raise storage.LeaseLost()
    task.next_poll_at = held


def _failed(task, exc, window_end, window):
    try:
        _renew(task)  # decide only while the delivery is still this worker's
    except storage.LeaseLost:
        return None
    now = timezone.now()
    gone = task.delivery_gone + 1 if exc.gone else 0
    if gone >= GONE_LIMIT:
        return _undeliverable(task, f"{exc.message}, twice in a row")
    if now >= window_end:
        return _undeliverable(task, f"{exc.message}; retried for {_duration(window)}")
    delay = timedelta(seconds=min(MAX_RETRY, FIRST_RETRY * 2 ** min(task.delivery_attempts - 1, 16)))
    log.warning(
        "Delivery %d of %s failed (%s); next attempt in %s",
        task.delivery_attempts,
        task.public_id,
        exc.message,
        delay,
    )
    # The last attempt comes at the window's end at the latest, and its failure is final.
    VideoTask.objects.filter(pk=task.pk, status__in=VideoTask.ACTIVE, next_poll_at=task.next_poll_at).update(
        next_poll_at=min(now + delay, window_end), delivery_gone=gone
    )
    return None


def _undeliverable(task, reason):
    log.warning("Video of %s is undeliverable: %s", task.public_id, reason)
    services.finish(
        task,
        VideoTask.Status.FAILED,
        error_code=UNDELIVERABLE,
        error_message=(
            f"The vendor finished the video but it could not be delivered: {reason}. "
            "Nothing was charged; the hold was released."
        ),
    )
    return None


def _duration(delta):
    seconds = int(delta.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def _store_completed(task):
    """A job queued by an older gateway (``videos.tasks.store_result``) for a task it completed
    and charged before copying: copy it now if it is not stored yet. Nothing is settled here."""
    if task.result_file or task.deleted_at or not settings.GATEWAY_STORE_RESULTS:
        return None
    try:
        source = task.channel.adaptor.content(call_context(task.channel), task.ref())
        delivered = storage.fetch(task, source)
    except Exception as exc:
        log.warning("Could not store the video of %s: %s", task.public_id, exc)
        return None
    if not delivered.relative:
        return None
    if not VideoTask.objects.filter(pk=task.pk, deleted_at__isnull=True, result_file="").update(
        result_file=delivered.relative, result_bytes=delivered.size
    ):
        storage.discard(task.pk, delivered)
    return delivered.size
