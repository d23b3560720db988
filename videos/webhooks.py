"""Webhooks to tenants: the outbox and its delivery (Standard Webhooks, signed as OpenAI signs them).

Recording. ``record_task_event`` runs inside the transaction of a task's terminal transition
(services.finish) and writes one WebhookEvent per enabled endpoint of the task's tenant subscribed
to the type (``video.completed``, ``video.failed``, ``video.cancelled``): an event exists if and
only if the transition committed. Its body, kept in ``payload``, is ``{"id": "evt_...", "object":
"event", "created_at", "type", "data"}`` with ``data`` the task as ``GET /v1/videos/{id}`` renders it.

Delivery, by the worker only. ``sweep`` (called by the poll tick on every pass) claims each due
event (``next_attempt_at <= now``) with a conditional update that pushes ``next_attempt_at`` a lease
ahead, and queues it as its own django-q2 job (``deliver``), at most MAX_IN_FLIGHT per endpoint (one
while the endpoint is failing): a slow or dead endpoint holds at most that many workers, for at most
the timeout each, and never delays another endpoint's events. ``deliver`` takes the lease and POSTs
the body through the SSRF guard (channels.outbound: checked on every attempt, connected to the
address checked) with ``webhook-id`` (the event id, the same on every attempt), ``webhook-timestamp``
(this attempt's) and ``webhook-signature`` (``v1,<base64 HMAC-SHA256>`` per signing secret: two while
a rotated-out secret still signs). Only a 2xx delivers; anything else (a 3xx included: redirects are
not followed), a timeout or a refused URL is retried after RETRY_DELAYS (with jitter) until
GATEWAY_WEBHOOK_RETRY_HOURS after the event, then given up. A worker killed mid-attempt leaves the
lease to run out and the sweep takes the event again. An endpoint that has failed without a single
success for GATEWAY_WEBHOOK_DISABLE_DAYS is disabled, with the reason shown to its tenant.
"""

import json
import logging
import random
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from django.conf import settings
from django.db.models import F
from django.utils import timezone
from django_q.tasks import async_task
from standardwebhooks import Webhook

from accounts import services as accounts
from accounts.crypto import CredentialsUnreadable
from accounts.models import WebhookEndpoint
from channels import outbound

from . import metrics
from .models import VideoTask, WebhookAttempt, WebhookEvent

log = logging.getLogger(__name__)

EVENT_TYPES = {
    VideoTask.Status.COMPLETED: "video.completed",
    VideoTask.Status.FAILED: "video.failed",
    VideoTask.Status.CANCELLED: "video.cancelled",
}
TEST_EVENT = "webhook.test"
# Seconds between a failed attempt and the next: quick at first (a receiver's brief hiccup costs
# little), then growing; the last one repeats. Each is spread by +-JITTER.
RETRY_DELAYS = (5, 30, 120, 600, 1800, 3600, 3 * 3600, 6 * 3600)
JITTER = 0.2
MAX_IN_FLIGHT = 4  # events of one endpoint being delivered at once; 1 while it is failing
SWEEP_LIMIT = 200  # due events looked at per sweep pass
SNIPPET = 200  # characters of a failed answer's body kept in last_error
USER_AGENT = "VideoGateway-Webhooks/1"


def lease():
    """How long a claimed event is left to its worker: longer than one attempt can take."""
    return timedelta(seconds=job_timeout() + 60)


def job_timeout():
    """The django-q2 timeout of one delivery job: DNS, connect, send and read, each bounded by
    GATEWAY_WEBHOOK_TIMEOUT."""
    return 3 * settings.GATEWAY_WEBHOOK_TIMEOUT + 30


def retry_window():
    return timedelta(hours=settings.GATEWAY_WEBHOOK_RETRY_HOURS)


# --- Recording -------------------------------------------------------------------------------


def record_task_event(task):
    """Write the outbox rows for ``task``, which just reached a terminal status. Call it inside the
    transaction of that transition. Returns the events written."""
    kind = EVENT_TYPES.get(task.status)
    if kind is None:
        return []
    endpoints = [
        endpoint
        for endpoint in WebhookEndpoint.objects.filter(tenant_id=task.tenant_id, enabled=True)
        if endpoint.subscribed(kind)
    ]
    if not endpoints:
        return []
    from .api import openai  # the dialects import services, which imports this module

    data = openai.video_object(task)
    now = timezone.now()
    events = []
    for endpoint in endpoints:
        event = WebhookEvent(endpoint=endpoint, task=task, type=kind, created_at=now, next_attempt_at=now)
        event.payload = _body(event, data)
        events.append(event)
    return WebhookEvent.objects.bulk_create(events)


def send_test_event(endpoint):
    """Queue a ``webhook.test`` event for ``endpoint``, delivered (and retried) like any other."""
    now = timezone.now()
    event = WebhookEvent(endpoint=endpoint, type=TEST_EVENT, created_at=now, next_attempt_at=now)
    event.payload = _body(event, {"endpoint_id": endpoint.public_id, "message": "A test event from the video gateway."})
    event.save()
    return event


def resend(event):
    """Queue a new attempt of ``event`` (same webhook-id). False while an attempt is in flight."""
    now = timezone.now()
    return bool(
        WebhookEvent.objects.filter(pk=event.pk)
        .exclude(status=WebhookEvent.Status.PENDING, last_latency_ms__isnull=True, next_attempt_at__gt=now)
        .update(status=WebhookEvent.Status.PENDING, next_attempt_at=now)
    )


def _body(event, data):
    return {
        "id": event.public_id,
        "object": "event",
        "created_at": int(event.created_at.timestamp()),
        "type": event.type,
        "data": data,
    }


# --- Delivering ------------------------------------------------------------------------------


def sweep(now=None, limit=SWEEP_LIMIT):
    """Claim the due events of enabled endpoints and queue one delivery job for each; returns how
    many were queued. Claiming pushes ``next_attempt_at`` a lease ahead and clears
    ``last_latency_ms``: together they mark the event in flight until its attempt is recorded."""
    now = now or timezone.now()
    due = list(
        WebhookEvent.objects.filter(
            status=WebhookEvent.Status.PENDING, next_attempt_at__lte=now, endpoint__enabled=True
        )
        .order_by("next_attempt_at")
        .values_list("pk", "endpoint_id", "next_attempt_at", "endpoint__failing_since")[:limit]
    )
    if not due:
        return 0
    in_flight = Counter(
        WebhookEvent.objects.filter(
            endpoint_id__in={row[1] for row in due},
            status=WebhookEvent.Status.PENDING,
            last_latency_ms__isnull=True,
            next_attempt_at__gt=now,
        ).values_list("endpoint_id", flat=True)
    )
    queued = 0
    for pk, endpoint_id, due_at, failing_since in due:
        if in_flight[endpoint_id] >= (1 if failing_since else MAX_IN_FLIGHT):
            continue
        held = now + lease()
        claimed = WebhookEvent.objects.filter(pk=pk, status=WebhookEvent.Status.PENDING, next_attempt_at=due_at).update(
            next_attempt_at=held, last_latency_ms=None
        )
        if not claimed:
            continue  # another sweep has it
        in_flight[endpoint_id] += 1
        async_task("videos.tasks.deliver_webhook", pk, held, sync=settings.GATEWAY_SYNC_TASKS, timeout=job_timeout())
        queued += 1
    return queued


@dataclass
class Outcome:
    status_code: int | None = None
    error: str = ""
    latency_ms: int = 0

    @property
    def delivered(self):
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def summary(self):
        return f"HTTP {self.status_code}" if self.status_code is not None else self.error


def deliver(event_id, lease_until):
    """One attempt at delivering an event the sweep claimed (``next_attempt_at == lease_until``).
    Returns the Outcome, or None when the event is no longer this job's."""
    event = WebhookEvent.objects.select_related("endpoint").filter(pk=event_id).first()
    if event is None or event.status != WebhookEvent.Status.PENDING or not event.endpoint.enabled:
        return None
    started = timezone.now()
    held = started + lease()
    if not WebhookEvent.objects.filter(
        pk=event.pk, status=WebhookEvent.Status.PENDING, next_attempt_at=lease_until
    ).update(next_attempt_at=held, attempts=F("attempts") + 1, last_latency_ms=None):
        return None  # a duplicate job, or the lease ran out and the event was claimed again
    number = event.attempts + 1
    outcome = _attempt(event)
    _record(event, number, started, held, outcome)
    return outcome


def _attempt(event):
    endpoint = event.endpoint
    body = json.dumps(event.payload, separators=(",", ":"))
    begun = time.monotonic()
    try:
        secrets = accounts.webhook_signing_secrets(endpoint)
    except CredentialsUnreadable:
        return Outcome(error="the signing secret cannot be decrypted with the configured GATEWAY_ENCRYPTION_KEYS")
    stamp = int(timezone.now().timestamp())
    signed_at = datetime.fromtimestamp(stamp, tz=UTC)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": event.public_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": " ".join(Webhook(secret).sign(event.public_id, signed_at, body) for secret in secrets),
    }
    timeout = settings.GATEWAY_WEBHOOK_TIMEOUT
    https_only = settings.PRODUCTION
    try:
        with outbound.stream(
            "POST", endpoint.url, timeout=timeout, headers=headers, content=body.encode(), https_only=https_only
        ) as response:
            latency = _ms(begun)
            if 200 <= response.status_code < 300:
                return Outcome(response.status_code, latency_ms=latency)
            error = f"HTTP {response.status_code}"
            if response.is_redirect:
                error += f" (a redirect to {response.headers.get('location', '?')}; redirects are not followed)"
            else:
                text = _read_some(response)
                if text:
                    error += f": {text}"
            return Outcome(response.status_code, error, latency)
    except outbound.UrlRefused as exc:
        return Outcome(error=f"not sent: the URL {exc.message}", latency_ms=_ms(begun))
    except httpx.TimeoutException:
        return Outcome(error=f"no answer within {timeout} s", latency_ms=_ms(begun))
    except httpx.HTTPError as exc:
        return Outcome(error=f"connection failed ({type(exc).__name__})", latency_ms=_ms(begun))


def _record(event, number, started, held, outcome):
    now = timezone.now()
    WebhookAttempt.objects.create(
        event=event,
        number=number,
        at=started,
        status_code=outcome.status_code,
        error=outcome.error,
        latency_ms=outcome.latency_ms,
    )
    fields = {
        "last_status_code": outcome.status_code,
        "last_error": outcome.error,
        "last_latency_ms": outcome.latency_ms,
    }
    give_up_at = event.created_at + retry_window()
    if outcome.delivered:
        fields.update(status=WebhookEvent.Status.DELIVERED, delivered_at=now, next_attempt_at=None)
        metrics.webhook_attempt("delivered")
    elif now >= give_up_at:
        fields.update(status=WebhookEvent.Status.FAILED, next_attempt_at=None)
        metrics.webhook_attempt("gave_up")
    else:
        fields["next_attempt_at"] = min(now + retry_delay(number), give_up_at)
        metrics.webhook_attempt("failed")
    # Only while the lease is this job's (a resend may have queued the event again meanwhile).
    WebhookEvent.objects.filter(pk=event.pk, status=WebhookEvent.Status.PENDING, next_attempt_at=held).update(**fields)
    endpoint = event.endpoint
    if outcome.delivered:
        WebhookEndpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=False).update(failing_since=None)
        return
    log.warning("Webhook %s to %s, attempt %d: %s", event.public_id, endpoint.url, number, outcome.summary)
    _note_failure(endpoint, now, outcome)


def retry_delay(attempts):
    """The wait after the ``attempts``-th failed attempt."""
    base = RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1]
    return timedelta(seconds=base * random.uniform(1 - JITTER, 1 + JITTER))


def _note_failure(endpoint, now, outcome):
    """Count the endpoint as failing since its first failure after a success; disable it once that
    has lasted GATEWAY_WEBHOOK_DISABLE_DAYS."""
    WebhookEndpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=True).update(failing_since=now)
    since = WebhookEndpoint.objects.filter(pk=endpoint.pk).values_list("failing_since", flat=True).first()
    if since is None or now - since < timedelta(days=settings.GATEWAY_WEBHOOK_DISABLE_DAYS):
        return
    reason = (
        f"Disabled automatically on {now:%Y-%m-%d %H:%M} UTC: every delivery since {since:%Y-%m-%d %H:%M} UTC "
        f"failed (last: {outcome.summary})."
    )[:300]
    if WebhookEndpoint.objects.filter(pk=endpoint.pk, enabled=True).update(enabled=False, disabled_reason=reason):
        log.warning("Webhook endpoint %s (%s) disabled: %s", endpoint.public_id, endpoint.url, reason)


def _ms(begun):
    return max(0, round((time.monotonic() - begun) * 1000))


def _read_some(response, limit=SNIPPET):
    data = b""
    try:
        for chunk in response.iter_bytes():
            data += chunk
            if len(data) >= limit:
                break
    except httpx.HTTPError:
        pass
    return " ".join(data[:limit].decode("utf-8", "replace").split())
