"""Vendor callbacks: push from the vendors that offer it, polling as the fallback.

With GATEWAY_PUBLIC_URL set, every task gets an unguessable ``callback_token`` and its create call
carries ``GATEWAY_PUBLIC_URL/callbacks/<task id>/<token>`` to vendors that call back (Kling, Vidu,
Seedance, MiniMax: ``Adaptor.supports_callback``); such tasks are polled less often
(services.CALLBACK_POLL_FACTOR). When the vendor calls back (videos/api/callbacks.py), receive():

- answers a vendor's check of the URL (MiniMax's challenge), even while the create is in flight;
- checks the signature where the vendor signs (Vidu: ``Adaptor.verify_callback``, a fresh Date);
- otherwise takes the callback as a **hint**: the task is taken for a poll at once (its
  ``next_poll_at`` becomes a lease, so the poll tick leaves it alone) and poll_now() asks the vendor,
  as a django-q2 job; the poll's answer decides, never the unsigned payload. A signed payload that
  checks is applied as the vendor's answer directly. Either way the outcome is ``learned_by``
  "callback", and a video the vendor finished goes to delivery at once.

A wrong token and an unknown task are the same 404; a forged or stale signature a 401; nothing
changes. A callback for a task already finished (or done at the vendor and being delivered) is the
vendor retrying: 200, nothing changes.
"""

import hmac
import logging
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings
from django.utils import timezone
from django_q.tasks import async_task

from channels import services as routing
from channels.adaptors import registry
from channels.adaptors.base import CallbackRejected

from . import services
from .models import VideoTask

log = logging.getLogger(__name__)

POLL_JOB_TIMEOUT = 120  # seconds django-q2 lets one callback poll run (one vendor call, then a queued delivery)


@dataclass
class Answer:
    status: int
    body: dict = field(default_factory=dict)


NOT_FOUND = Answer(404, {"error": {"code": "not_found", "message": "No task with that callback URL."}})
RECEIVED = Answer(200, {"status": "success"})


def receive(public_id, token, *, method, path, query, headers, body):
    """One callback from a vendor (see the module docstring); returns the Answer to send back."""
    task = VideoTask.objects.select_related("channel").filter(public_id=public_id).first()
    if task is None or not task.callback_token or not hmac.compare_digest(task.callback_token.encode(), token.encode()):
        return NOT_FOUND
    if task.is_active:
        candidates = [task.channel.adaptor] if task.channel else registry.all_adaptors()
        for adaptor in candidates:
            answer = adaptor.callback_handshake(body) if adaptor.supports_callback else None
            if answer is not None:
                return Answer(200, answer)
    if task.channel is None:
        return RECEIVED  # not submitted yet: its first poll follows the submit
    adaptor = task.channel.adaptor
    signed = None
    if adaptor.signs_callbacks:
        # The vendor signs the path of the URL it was given, whatever a proxy in front of us rewrote.
        if settings.GATEWAY_PUBLIC_URL:
            path = urlsplit(settings.GATEWAY_PUBLIC_URL + services.callback_path(task)).path
        try:
            ctx = routing.call_context(task.channel)
            signed = adaptor.verify_callback(headers, body, method, path, query, ctx, task.ref())
        except CallbackRejected as exc:
            log.warning("Callback for %s refused: %s", task.public_id, exc.message)
            return Answer(401, {"error": {"code": "invalid_signature", "message": exc.message}})
    if not task.is_active or task.vendor_completed_at is not None or not task.vendor_task_id:
        return RECEIVED  # known already (the vendor retrying), or its job not recorded yet: nothing to do
    lease = _take(task)
    if lease is None:
        return RECEIVED
    if signed is not None:
        task.next_poll_at = lease
        services.apply_result(task, signed, services.LEARNED_BY_CALLBACK)
    else:
        async_task(
            "videos.tasks.poll_on_callback",
            task.pk,
            lease,
            sync=settings.GATEWAY_SYNC_TASKS,
            timeout=POLL_JOB_TIMEOUT,
        )
    return RECEIVED


def _take(task):
    """Make the task due and take it for one poll now, as claim() would: ``next_poll_at`` becomes a
    lease (the poll tick leaves it alone; a lost job leaves it to the tick once the lease ends). A
    poll in flight elsewhere is not waited for: two polls of one task are harmless. None when the
    task changed meanwhile."""
    lease = timezone.now() + services.POLL_LEASE
    taken = VideoTask.objects.filter(
        pk=task.pk,
        status__in=VideoTask.ACTIVE,
        vendor_completed_at__isnull=True,
        next_poll_at=task.next_poll_at,
    ).update(next_poll_at=lease)
    return lease if taken else None


def poll_now(task_id, lease):
    """The django-q2 job a callback queues: poll the task it took (``lease``) once, right away."""
    task = VideoTask.objects.select_related("channel").filter(pk=task_id).first()
    if task is None or not task.is_active or task.next_poll_at != lease:
        return False  # finished, or taken over (the lease ran out and the tick polled it)
    services.poll_task(task, services.LEARNED_BY_CALLBACK)
    return True
