"""The task lifecycle, written once for every dialect and vendor.

create_task: validate, price, hold (in the transaction that creates the row), then
submit to the first channel that takes it. poll_task / apply_result: advance a task
from what its vendor says. finish: the one terminal transition; it captures or
releases the hold in the same transaction, and only the caller that wins the
conditional update settles, so a task is billed or refunded exactly once.
"""

import dataclasses
import hashlib
import json
import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import services as money
from channels import services as routing
from channels.adaptors.base import (
    COMPLETED,
    FAILED,
    IN_PROGRESS,
    QUEUED,
    AdaptorError,
    VendorAuthFailed,
    VendorRejected,
    VendorTimeout,
    VendorUnavailable,
)
from channels.canonical import RequestInvalid
from channels.models import Channel

from . import storage
from .errors import BILLING, INVALID, PERMISSION, SERVER, UPSTREAM, GatewayError
from .models import Heartbeat, VideoTask

log = logging.getLogger(__name__)

POLL_LEASE = timedelta(seconds=120)  # a claimed task is re-polled after this if its worker died
MAX_POLL_INTERVAL = 60
SUBMIT_GRACE = timedelta(minutes=10)  # a task still unsubmitted after this was interrupted


# --- Creating ------------------------------------------------------------------------


def create_task(*, api_key, request, route, remix_of=None, vendor=None, idempotency_key=""):
    """Hold the price and submit ``request``; return the task, or raise GatewayError.

    ``vendor`` restricts selection to channels of one vendor (native routes). With an
    ``idempotency_key``, a repeated request returns the first task (nothing is held twice)."""
    fingerprint = _fingerprint(request, route, remix_of) if idempotency_key else ""
    if idempotency_key:
        existing = _idempotent_replay(api_key, idempotency_key, fingerprint)
        if existing is not None:
            return existing
    model = request.model
    if not model:
        raise GatewayError(400, "missing_model", "'model' is required.", param="model")
    if not api_key.allows_model(model):
        raise GatewayError(
            403, "model_not_allowed", f"This key may not use the model '{model}'.", param="model", kind=PERMISSION
        )
    if remix_of is not None:
        if remix_of.channel is None or remix_of.channel.status != Channel.Status.ENABLED:
            raise GatewayError(
                503, "no_channel_available", "The channel that made the source video is unavailable.", kind=UPSTREAM
            )
        candidates = [remix_of.channel]
        request = dataclasses.replace(request, remix_of_vendor_id=remix_of.vendor_task_id)
    else:
        candidates = routing.candidates(model)
        if vendor is not None:
            candidates = [channel for channel in candidates if channel.vendor == vendor]
    if not candidates:
        if routing.is_known_model(model):
            raise GatewayError(
                503, "no_channel_available", f"Every channel serving '{model}' is disabled right now.", kind=UPSTREAM
            )
        raise GatewayError(400, "model_not_found", f"The model '{model}' is not served by this gateway.", param="model")

    first = candidates[0]
    try:
        plan = first.adaptor.plan(request, first.upstream_model(model))
        amount = routing.quote(model, plan)
    except RequestInvalid as exc:
        raise GatewayError(400, exc.code, exc.message, param=exc.param) from None
    except routing.ModelNotPriced as exc:
        raise GatewayError(400, exc.code, str(exc), param="model") from None

    now = timezone.now()
    try:
        with transaction.atomic():
            task = VideoTask.objects.create(
                tenant=api_key.tenant,
                api_key=api_key,
                route=route,
                model=model,
                upstream_model=first.upstream_model(model),
                mode=request.mode,
                prompt=request.prompt,
                params=_params(request, plan),
                remixed_from=remix_of,
                seconds=plan.seconds,
                resolution=plan.resolution or "",
                amount_held=amount,
                deadline_at=now + timedelta(seconds=settings.GATEWAY_TASK_DEADLINE_SECONDS),
                idempotency_key=idempotency_key,
                request_hash=fingerprint,
            )
            money.hold(task, amount)
    except money.BillingError as exc:
        raise GatewayError(402, exc.code, str(exc), kind=BILLING) from None
    except IntegrityError:
        # The same key raced in from a parallel retry: answer with the task that won.
        existing = _idempotent_replay(api_key, idempotency_key, fingerprint) if idempotency_key else None
        if existing is None:
            raise
        return existing
    return _submit(task, request, plan, candidates, remix_of)


def _submit(task, request, plan, candidates, remix_of):
    """Try each candidate channel until one takes the job (see adaptors.base for the rules).

    Every channel plans the client's request afresh (it is immutable, so nothing the one before
    derived leaks into it); a later channel is used only if its plan costs no more than the hold."""
    last_error = None
    for channel in candidates:
        adaptor = channel.adaptor
        upstream_model = channel.upstream_model(task.model)
        ctx = routing.call_context(channel)
        try:
            channel_plan = plan
            if channel is not candidates[0]:
                channel_plan = adaptor.plan(request, upstream_model)  # another vendor may not take these parameters
                # Plans compare by what they bill. A plan that costs more than the hold is skipped;
                # one that costs no more is fine: the capture is on the task's seconds, never above the hold.
                if channel_plan != plan and routing.quote(task.model, channel_plan) > task.amount_held:
                    log.info("Channel %s would bill more than %s holds; skipped", channel.name, task.public_id)
                    continue
            with routing.scrubbed(ctx):
                if remix_of is not None:
                    submission = adaptor.remix(ctx, remix_of.ref(), request, channel_plan)
                else:
                    submission = adaptor.submit(ctx, request, upstream_model, channel_plan)
        except VendorAuthFailed as exc:
            routing.note_failure(channel, f"Credentials rejected: {exc.message}", disable=True)
            last_error = exc
            continue
        except VendorUnavailable as exc:
            routing.note_failure(channel, exc.message)
            last_error = exc
            continue
        except RequestInvalid as exc:
            if channel is not candidates[0]:
                continue
            _fail_submit(task, exc.code, exc.message)
            raise GatewayError(400, exc.code, exc.message, param=exc.param) from None
        except VendorRejected as exc:
            code = "content_moderation" if exc.moderation else "vendor_rejected"
            _fail_submit(task, code, exc.message, channel)
            raise GatewayError(400, code, f"{adaptor.label} refused the request: {exc.message}") from None
        except VendorTimeout as exc:
            routing.note_failure(channel, exc.message)
            _fail_submit(task, "vendor_timeout", exc.message, channel)
            raise GatewayError(
                504, "vendor_timeout", f"{adaptor.label} did not answer in time; nothing was charged.", kind=UPSTREAM
            ) from None
        except AdaptorError as exc:
            routing.note_failure(channel, exc.message)
            _fail_submit(task, "vendor_error", exc.message, channel)
            raise GatewayError(
                502, "vendor_error", f"{adaptor.label} answered unexpectedly: {exc.message}", kind=UPSTREAM
            ) from None
        except Exception:
            log.exception("Submitting %s to channel %s failed", task.public_id, channel.name)
            _fail_submit(task, "internal_error", "The gateway failed while submitting this task.", channel)
            raise GatewayError(
                500, "internal_error", "The gateway failed while submitting; nothing was charged.", kind=SERVER
            ) from None

        now = timezone.now()
        VideoTask.objects.filter(pk=task.pk).update(
            channel=channel,
            params=_params(request, channel_plan),
            seconds=channel_plan.seconds,
            resolution=channel_plan.resolution or "",
            upstream_model=upstream_model,
            vendor_task_id=submission.vendor_task_id,
            vendor_status=submission.vendor_status[:64],
            vendor_state=submission.state,
            submitted_at=now,
            next_poll_at=now + timedelta(seconds=adaptor.poll_interval),
        )
        task.refresh_from_db()
        return task

    message = last_error.message if last_error else "no channel could be tried"
    _fail_submit(task, "vendor_unavailable", message)
    raise GatewayError(
        503,
        "vendor_unavailable",
        f"No upstream channel could take the request ({message}); nothing was charged.",
        kind=UPSTREAM,
    )


def _params(request, plan):
    """What the task row keeps of a request: the client's parameters, with the seconds, size,
    resolution and aspect ratio replaced by the ones the channel planned (what the task is
    billed and produced as, which pages and dialects read). The client's own values the plan
    replaced are kept under "requested"."""
    params = request.record()
    planned = plan.record()
    requested = {key: params[key] for key in planned if params.get(key) not in (None, planned[key])}
    params.update(planned)
    if requested:
        params["requested"] = requested
    return params


def _fail_submit(task, code, message, channel=None):
    # The client got an error, not this task: free its Idempotency-Key for a retry.
    fields = {"idempotency_key": ""}
    if channel is not None:
        fields["channel"] = channel
    VideoTask.objects.filter(pk=task.pk).update(**fields)
    finish(task, VideoTask.Status.FAILED, error_code=code, error_message=message)


def _fingerprint(request, route, remix_of):
    record = {
        "route": route,
        "model": request.model,
        "prompt": request.prompt,
        "params": request.record(),
        "remix_of": remix_of.public_id if remix_of else None,
    }
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()


def _idempotent_replay(api_key, idempotency_key, fingerprint):
    existing = VideoTask.objects.filter(api_key=api_key, idempotency_key=idempotency_key).first()
    if existing is not None and existing.request_hash != fingerprint:
        raise GatewayError(
            409, "idempotency_key_reused", "This Idempotency-Key was already used for a different request."
        )
    return existing


# --- Finishing -----------------------------------------------------------------------


def finish(task, status, *, error_code="", error_message="", seconds_produced=None, result_url="", vendor_status=None):
    """Move an active task to a terminal status and settle its hold. Returns False if it was
    already terminal (someone else finished it), in which case nothing is settled again."""
    now = timezone.now()
    fields = {"status": status, "finished_at": now, "next_poll_at": None}
    if vendor_status is not None:
        fields["vendor_status"] = vendor_status[:64]
    if status == VideoTask.Status.COMPLETED:
        fields.update(
            progress=100,
            result_url=result_url or "",
            seconds_produced=seconds_produced,
            expires_at=now + timedelta(seconds=settings.GATEWAY_RESULT_TTL_SECONDS),
        )
    else:
        fields.update(error_code=error_code[:64], error_message=error_message)
    with transaction.atomic():
        if not VideoTask.objects.filter(pk=task.pk, status__in=VideoTask.ACTIVE).update(**fields):
            return False
        task.refresh_from_db()
        if status == VideoTask.Status.COMPLETED:
            seconds = seconds_produced if seconds_produced else task.seconds
            charge = routing.settle_amount(task.model, seconds, task.resolution, task.amount_held)
            task.amount_charged = money.capture(task, charge)
            VideoTask.objects.filter(pk=task.pk).update(amount_charged=task.amount_charged)
        else:
            money.release(task, note=error_code)
    return True


# --- Polling -------------------------------------------------------------------------


def due_task_ids(now, limit=50):
    return list(
        VideoTask.objects.active()
        .filter(next_poll_at__lte=now)
        .order_by("next_poll_at")
        .values_list("pk", flat=True)[:limit]
    )


def claim(task_id, now):
    """Take a due task for polling; push its next poll out first so a crash cannot hot-loop
    it and no other worker polls it meanwhile. Returns the task, or None if someone else has it."""
    task = VideoTask.objects.select_related("channel").filter(pk=task_id).first()
    if task is None or not task.is_active or task.next_poll_at is None or task.next_poll_at > now:
        return None
    claimed = VideoTask.objects.filter(pk=task.pk, status__in=VideoTask.ACTIVE, next_poll_at=task.next_poll_at).update(
        next_poll_at=now + POLL_LEASE
    )
    return task if claimed else None


def _backoff(task):
    interval = task.channel.adaptor.poll_interval if task.channel else 5
    return timedelta(seconds=min(MAX_POLL_INTERVAL, interval * 1.5 ** min(task.poll_count, 10)))


def poll_task(task):
    channel = task.channel
    try:
        ctx = routing.call_context(channel)
        with routing.scrubbed(ctx):
            result = channel.adaptor.poll(ctx, task.ref())
        result.error_message = routing.scrub(result.error_message, ctx.credentials)
    except AdaptorError as exc:
        if isinstance(exc, VendorAuthFailed):
            routing.note_failure(channel, f"Credentials rejected while polling: {exc.message}", disable=True)
        else:
            routing.note_failure(channel, f"Polling failed: {exc.message}")
        _poll_later(task, errored=True)
        return
    except Exception:
        log.exception("Polling %s failed", task.public_id)
        _poll_later(task, errored=True)
        return
    apply_result(task, result)


def _poll_later(task, errored=False, **fields):
    updates = {"next_poll_at": timezone.now() + _backoff(task), "poll_count": task.poll_count + 1, **fields}
    if errored:
        updates["poll_errors"] = task.poll_errors + 1
    VideoTask.objects.filter(pk=task.pk, status__in=VideoTask.ACTIVE).update(**updates)


def apply_result(task, result):
    state = {**task.vendor_state, **result.state} if result.state else task.vendor_state
    if result.status == COMPLETED:
        if state != task.vendor_state:
            VideoTask.objects.filter(pk=task.pk).update(vendor_state=state)
            task.vendor_state = state
        if finish(
            task,
            VideoTask.Status.COMPLETED,
            seconds_produced=result.seconds,
            result_url=result.result_url or "",
            vendor_status=result.vendor_status,
        ):
            storage.enqueue_store(task.pk)
        return
    if result.status == FAILED:
        code = "content_moderation" if result.moderation else "vendor_failed"
        message = result.error_message or "The vendor reports that generation failed."
        if result.error_code:
            message = f"{message} (vendor code {result.error_code})"
        finish(
            task, VideoTask.Status.FAILED, error_code=code, error_message=message, vendor_status=result.vendor_status
        )
        return
    fields = {"vendor_status": (result.vendor_status or "")[:64], "vendor_state": state}
    if result.status == IN_PROGRESS or task.status == VideoTask.Status.IN_PROGRESS:
        fields["status"] = VideoTask.Status.IN_PROGRESS
        fields["started_at"] = task.started_at or timezone.now()
        progress = result.progress if result.progress is not None else min(90, max(task.progress, 0) + 10)
        fields["progress"] = max(task.progress, min(99, progress))
    elif result.status == QUEUED:
        fields["progress"] = max(task.progress, min(99, result.progress or 0))
    _poll_later(task, **fields)


def expire_overdue(now):
    """Fail and refund tasks past their deadline, and tasks whose submit was interrupted."""
    expired = 0
    for task in VideoTask.objects.active().filter(deadline_at__lte=now):
        expired += finish(
            task,
            VideoTask.Status.FAILED,
            error_code="deadline_exceeded",
            error_message="The vendor did not finish the video before the deadline; the hold was released.",
        )
    stuck = VideoTask.objects.active().filter(vendor_task_id="", created_at__lte=now - SUBMIT_GRACE)
    for task in stuck:
        expired += finish(
            task,
            VideoTask.Status.FAILED,
            error_code="submit_interrupted",
            error_message="The gateway was interrupted while submitting; the hold was released.",
        )
    return expired


def poll_once(now=None, limit=50):
    """One pass: expire overdue tasks, then poll every due one this worker can claim."""
    now = now or timezone.now()
    expire_overdue(now)
    polled = 0
    for task_id in due_task_ids(now, limit):
        task = claim(task_id, now)
        if task is not None:
            poll_task(task)
            polled += 1
    return polled


def run_tick(seconds=None):
    """The scheduled entry point: keep polling due tasks for ``seconds``, then return."""
    seconds = settings.GATEWAY_TICK_SECONDS if seconds is None else seconds
    stop_at = time.monotonic() + seconds
    polled = 0
    while True:
        Heartbeat.beat("poller")
        polled += poll_once()
        if time.monotonic() >= stop_at:
            return polled
        time.sleep(min(1.0, max(0.0, stop_at - time.monotonic())))


# --- Client reads --------------------------------------------------------------------


def delete_task(task):
    """Hide a finished video from clients and drop its stored copy; the row and ledger stay."""
    if task.is_active:
        raise GatewayError(
            409, "video_in_progress", "A video that is still generating cannot be deleted.", kind=INVALID
        )
    storage.remove_result(task)
    VideoTask.objects.filter(pk=task.pk).update(deleted_at=timezone.now(), result_file="")
