"""The task lifecycle, written once for every dialect and vendor.

create_task: validate, price, hold (in the transaction that creates the row), then
submit to the first channel that takes it. poll_task / apply_result: advance a task
from what its vendor says. finish: the one terminal transition; it captures or
releases the hold in the same transaction, and only the caller that wins the
conditional update settles, so a task is billed or refunded exactly once.
"""

import dataclasses
import functools
import hashlib
import json
import logging
import math
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from accounts import prepared, request_id
from accounts import services as money
from channels import services as routing
from channels.adaptors.base import (
    CANCELLED,
    COMPLETED,
    FAILED,
    IN_PROGRESS,
    QUEUED,
    AdaptorError,
    Lookup,
    VendorAuthFailed,
    VendorRejected,
    VendorTaskMissing,
    VendorTimeout,
    VendorUnavailable,
)
from channels.canonical import RequestInvalid
from channels.models import Channel

from . import limits, metrics, storage, webhooks
from .errors import BILLING, INVALID, PERMISSION, SERVER, UPSTREAM, GatewayError
from .models import VideoTask

log = logging.getLogger(__name__)

POLL_LEASE = timedelta(seconds=120)  # a claimed task is re-polled after this if its worker died
# A vendor's 429 to a poll pauses polling of its channel for the Retry-After it sent, else this many seconds.
RATE_LIMIT_PAUSE = 30
# A task being delivered (videos/delivery.py) is taken again after this if its worker died; the
# worker copying renews it while bytes arrive.
DELIVERY_LEASE = timedelta(minutes=3)
MAX_POLL_INTERVAL = 60
# A submit may be in flight for one connect and one read of the create call (submit_grace()) plus
# this, for the work around it (planning, image downloads, the database); a task still without a
# vendor id after that was interrupted (its web worker died).
SUBMIT_MARGIN = timedelta(seconds=20)
# A submit that timed out at a vendor that can look jobs up (Adaptor.supports_find): the job is
# looked for this long (reconcile_task) before the task fails.
RECONCILE_WINDOW = timedelta(minutes=5)
LOOKUP = "lookup"  # the key of vendor_state holding what Adaptor.find() needs meanwhile
# A vendor's "not found" for a task is confirmed by a second poll this much later; the second in
# a row fails the task (vendor_task_lost).
MISSING_RECHECK = timedelta(seconds=15)
MISSING_CONFIRMATIONS = 2
RETRY_AFTER_MAX = 10  # seconds: how long a retry of a create still in flight is told to wait, at most
# A task whose vendor was sent a callback URL is polled this many times less often, and at most every
# MAX_CALLBACK_POLL_INTERVAL seconds: its vendor calls back (videos/callbacks.py), polling is the fallback.
CALLBACK_POLL_FACTOR = 6
MAX_CALLBACK_POLL_INTERVAL = 300
# VideoTask.learned_by: how the gateway learned a task's outcome from its vendor.
LEARNED_BY_POLL = "poll"
LEARNED_BY_CALLBACK = "callback"  # a poll a vendor callback triggered, or a signed callback payload


# --- Creating ------------------------------------------------------------------------


def plan_request(api_key, request, *, remix_of=None, vendor=None):
    """What creating ``request`` would do, without doing any of it: the request as submitted (a
    remix's carries its source), the candidate channels, the first one's plan and the amount to hold.
    Raises GatewayError as create_task() would (``POST /v1/videos/quote`` answers with this)."""
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
        if request.own_clips():
            request, candidates = _with_own_videos(api_key, request, candidates)
    if not candidates:
        if routing.is_known_model(model, vendor):
            raise GatewayError(
                503, "no_channel_available", f"Every channel serving '{model}' is disabled right now.", kind=UPSTREAM
            )
        where = "by this gateway" if vendor is None else "on this vendor's route"
        raise GatewayError(400, "model_not_found", f"The model '{model}' is not served {where}.", param="model")

    first = candidates[0]
    try:
        plan = first.adaptor.checked_plan(request, first.upstream_model(model))
        amount = routing.quote(model, plan)
    except RequestInvalid as exc:
        raise GatewayError(400, exc.code, exc.message, param=exc.param) from None
    except routing.ModelNotPriced as exc:
        raise GatewayError(400, exc.code, str(exc), param="model") from None
    return request, candidates, plan, amount


def _with_own_videos(api_key, request, candidates):
    """A request continuing or editing one of the tenant's own videos (``first_clip``/``video`` given
    as ``video_...``): the vendor works on its own copy of that video, so the request goes to the
    channel that made it, carrying the vendor's reference to it. Another tenant's video is not found."""
    sources = {}
    for name, clip in request.own_clips().items():
        source = (
            VideoTask.objects.select_related("channel").filter(tenant_id=api_key.tenant_id, public_id=clip.video_id)
        ).first()
        if source is None:
            raise GatewayError(404, "video_not_found", f"No video '{clip.video_id}' exists for this key.", param=name)
        if source.status != VideoTask.Status.COMPLETED:
            raise GatewayError(
                400, "video_not_ready", f"'{name}' names a video that has not completed ({source.status}).", param=name
            )
        sources[name] = source
        request = dataclasses.replace(
            request, **{name: dataclasses.replace(clip, url=source.result_url or None, source=source.ref())}
        )
    channels = {source.channel_id for source in sources.values()}
    name, source = next(iter(sources.items()))
    if len(channels) > 1:
        raise GatewayError(400, "conflicting_inputs", "The videos named come from different channels.", param=name)
    if source.channel is None or source.channel.status != Channel.Status.ENABLED:
        raise GatewayError(
            503, "no_channel_available", "The channel that made the source video is unavailable.", kind=UPSTREAM
        )
    pinned = [channel for channel in candidates if channel.pk == source.channel_id]
    if not pinned:
        raise GatewayError(
            400,
            "incompatible_source",
            f"'{name}' names a video made with {source.model}, on a channel that does not serve "
            f"'{request.model}': continue or edit it with a model of the same vendor.",
            param=name,
        )
    return request, pinned


def create_task(*, api_key, request, route, remix_of=None, vendor=None, idempotency_key=""):
    """Hold the price and submit ``request``; return the task, or raise GatewayError.

    ``vendor`` restricts selection to channels of one vendor (native routes). With an
    ``idempotency_key``, a repeated request returns the first task (nothing is held twice)."""
    fingerprint = _fingerprint(request, route, remix_of) if idempotency_key else ""
    if idempotency_key:
        existing = _idempotent_replay(api_key, idempotency_key, fingerprint)
        if existing is not None:
            return existing
    limits.check_rate(api_key)
    request, candidates, plan, amount = plan_request(api_key, request, remix_of=remix_of, vendor=vendor)
    model = request.model
    first = candidates[0]

    now = timezone.now()
    try:
        with transaction.atomic():
            limits.check_in_flight(api_key)
            task = VideoTask(
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
                request_id=request_id.current(),
                # Before the submit: MiniMax checks the callback URL while the create is in flight.
                callback_token=secrets.token_urlsafe(32) if settings.GATEWAY_PUBLIC_URL else "",
            )
            prepared.insert(task)
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
        ctx = routing.submit_context(channel, task.public_id, callback_path(task))
        try:
            channel_plan = plan
            if channel is not candidates[0]:
                channel_plan = adaptor.checked_plan(
                    request, upstream_model
                )  # another vendor may not take these parameters
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
            if adaptor.supports_find:
                # The vendor may have the job: look for it instead of giving up (never submit again).
                return _await_job(task, channel, request, upstream_model, channel_plan, ctx)
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

        return _record_submission(
            task, channel, upstream_model, _params(request, channel_plan), channel_plan, submission, ctx
        )

    message = last_error.message if last_error else "no channel could be tried"
    _fail_submit(task, "vendor_unavailable", message)
    raise GatewayError(
        503,
        "vendor_unavailable",
        f"No upstream channel could take the request ({message}); nothing was charged.",
        kind=UPSTREAM,
    )


def _record_submission(task, channel, upstream_model, params, plan, submission, ctx):
    """Record the vendor's job on the task, in one UPDATE, and return the task as it now is.

    Conditional: a submit slower than the grace may find its task already failed as interrupted (and
    refunded); it must not come back to life. The vendor's job is then recorded for the operator.
    What create_task wrote already (the first channel's plan) is not written again, and the task is
    updated in memory rather than read back."""
    now = timezone.now()
    fields = {
        "channel": channel,
        "vendor_task_id": submission.vendor_task_id,
        "vendor_status": submission.vendor_status[:64],
        "vendor_state": submission.state,
        "submitted_at": now,
        "next_poll_at": now + _first_poll(channel.adaptor, ctx),
    }
    planned = {
        "params": params,
        "seconds": plan.seconds,
        "resolution": plan.resolution or "",
        "upstream_model": upstream_model,
        "callback_token": task.callback_token if ctx.callback_url else "",  # blank: no callback URL was sent
    }
    fields.update((name, value) for name, value in planned.items() if getattr(task, name) != value)
    if _update_active(task, fields):
        for name, value in fields.items():
            setattr(task, name, value)
        return task
    VideoTask.objects.filter(pk=task.pk).update(
        channel=channel, vendor_task_id=submission.vendor_task_id, submitted_at=now
    )
    log.error(
        "%s was accepted by %s as %s after it had been failed as interrupted; that vendor job is unbilled",
        task.public_id,
        channel.name,
        submission.vendor_task_id,
    )
    task.refresh_from_db()
    return task


def _update_active(task, fields):
    """``VideoTask.objects.filter(pk=task.pk, status__in=VideoTask.ACTIVE).update(**fields)``: the
    rows changed. Its SQL is built once per set of field names (the ORM took longer to build it on
    every create than the database to run it); each value is prepared as the ORM prepares it."""
    params = []
    for name, value in fields.items():
        field = VideoTask._meta.get_field(name)
        if field.is_relation and value is not None:
            value = value.pk
        params.append(field.get_db_prep_save(value, connection))
    with connection.cursor() as cursor:
        cursor.execute(_update_sql(tuple(fields), connection.vendor), [*params, task.pk, *_ACTIVE_VALUES])
        return cursor.rowcount


_ACTIVE_VALUES = tuple(status.value for status in VideoTask.ACTIVE)


@functools.cache
def _update_sql(names, vendor):
    quote = connection.ops.quote_name
    meta = VideoTask._meta
    columns = ", ".join(f"{quote(meta.get_field(name).column)} = %s" for name in names)
    statuses = ", ".join("%s" for _ in _ACTIVE_VALUES)
    return (
        f"UPDATE {quote(meta.db_table)} SET {columns}"
        f" WHERE {quote(meta.pk.column)} = %s AND {quote(meta.get_field('status').column)} IN ({statuses})"
    )


def _await_job(task, channel, request, upstream_model, plan, ctx):
    """A create timed out at a vendor that can look jobs up: the client is told the task is queued
    (the hold stays) while the poll tick looks for the job (reconcile_task) until reconcile_until."""
    adaptor = channel.adaptor
    now = timezone.now()
    VideoTask.objects.filter(pk=task.pk, status__in=VideoTask.ACTIVE).update(
        channel=channel,
        params=_params(request, plan),
        seconds=plan.seconds,
        resolution=plan.resolution or "",
        upstream_model=upstream_model,
        vendor_status="submit_timeout",
        vendor_state={LOOKUP: adaptor.lookup_state(request, upstream_model, plan)},
        reconcile_until=now + RECONCILE_WINDOW,
        callback_token=task.callback_token if ctx.callback_url else "",
        next_poll_at=now + timedelta(seconds=adaptor.poll_interval),
    )
    log.warning("Submitting %s to %s timed out; looking for the job until it shows up", task.public_id, channel.name)
    task.refresh_from_db()
    return task


def callback_path(task):
    """The path of the task's callback URL (routed to videos/api/callbacks.py), or "" without a token."""
    if not task.callback_token:
        return ""
    return reverse("vendor-callback", args=[task.public_id, task.callback_token])


def _first_poll(adaptor, ctx):
    """How long after the submit a task is first polled: later when its vendor will call back."""
    if ctx.callback_url:
        return timedelta(seconds=min(MAX_CALLBACK_POLL_INTERVAL, adaptor.poll_interval * CALLBACK_POLL_FACTOR))
    return timedelta(seconds=adaptor.poll_interval)


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
    """The task a request with this key created, or None when a new one is to be made.

    A task still without a vendor job is never shown as queued: while its submit may still be in
    flight the retry is told to come back (409 ``idempotency_request_in_progress``, Retry-After);
    past the submit grace it was interrupted, so it is failed, its key freed and None returned."""
    existing = VideoTask.objects.filter(api_key=api_key, idempotency_key=idempotency_key).first()
    if existing is not None and existing.request_hash != fingerprint:
        raise GatewayError(
            409, "idempotency_key_reused", "This Idempotency-Key was already used for a different request."
        )
    if existing is None or not _never_submitted(existing):
        return existing
    wait = (existing.created_at + submit_grace() - timezone.now()).total_seconds()
    if wait > 0:
        raise GatewayError(
            409,
            "idempotency_request_in_progress",
            "A request with this Idempotency-Key is still being submitted; retry shortly.",
            headers={"Retry-After": str(min(RETRY_AFTER_MAX, math.ceil(wait)))},
        )
    if _interrupt(existing):
        return None
    existing.refresh_from_db()  # submitted (or finished) meanwhile
    return existing if existing.idempotency_key == idempotency_key else None


def submit_grace():
    """How long a submit may be in flight: one connect and one read of the vendor's create call
    (GATEWAY_SUBMIT_TIMEOUT) plus SUBMIT_MARGIN. A task older than this without a vendor id, and
    not being looked for after a timeout, was interrupted."""
    seconds = settings.GATEWAY_UPSTREAM_CONNECT_TIMEOUT + settings.GATEWAY_SUBMIT_TIMEOUT
    return timedelta(seconds=seconds) + SUBMIT_MARGIN


def _never_submitted(task):
    """Active, no vendor job, and not being looked for after a submit timeout (reconcile_task)."""
    return task.is_active and not task.vendor_task_id and task.reconcile_until is None


def _interrupt(task):
    """Fail a task whose submit never finished (its worker died), release its hold and free its
    Idempotency-Key, so a retry creates a fresh task. False if it got a vendor job (or ended) meanwhile."""
    with transaction.atomic():
        unsubmitted = VideoTask.objects.filter(
            pk=task.pk, status__in=VideoTask.ACTIVE, vendor_task_id="", reconcile_until__isnull=True
        )
        if not unsubmitted.update(idempotency_key=""):
            return False
        return finish(
            task,
            VideoTask.Status.FAILED,
            error_code="submit_interrupted",
            error_message="The gateway was interrupted while submitting; the hold was released.",
        )


# --- Finishing -----------------------------------------------------------------------


def finish(
    task,
    status,
    *,
    error_code="",
    error_message="",
    seconds_produced=None,
    result_url="",
    vendor_status=None,
    result_file="",
    result_bytes=None,
):
    """Move an active task to a terminal status and settle its hold. Returns False if it was
    already terminal (someone else finished it), in which case nothing is settled again.

    COMPLETED is reached only through delivery (videos/delivery.py), with the video stored and
    verified (``result_file``, ``result_bytes``) or, storing off, its size at the vendor's URL."""
    now = timezone.now()
    fields = {"status": status, "finished_at": now, "next_poll_at": None}
    if vendor_status is not None:
        fields["vendor_status"] = vendor_status[:64]
    if status == VideoTask.Status.COMPLETED:
        fields.update(
            progress=100,
            result_url=result_url or "",
            seconds_produced=seconds_produced,
            result_file=result_file,
            result_bytes=result_bytes,
            expires_at=now + timedelta(seconds=settings.GATEWAY_RESULT_TTL_SECONDS),
        )
    else:
        fields.update(error_code=error_code[:64], error_message=error_message)
    with transaction.atomic():
        active = VideoTask.objects.filter(pk=task.pk, status__in=VideoTask.ACTIVE)
        if status == VideoTask.Status.CANCELLED:
            # Never a video the vendor finished: it is being delivered, and will be charged.
            active = active.filter(vendor_completed_at__isnull=True)
        if not active.update(**fields):
            return False
        task.refresh_from_db()
        if status == VideoTask.Status.COMPLETED:
            seconds = seconds_produced if seconds_produced else task.seconds
            charge = routing.settle_amount(
                task.model,
                seconds,
                task.resolution,
                task.amount_held,
                credits=(task.vendor_state or {}).get("vendor_credits"),  # a model priced per vendor credit
            )
            task.amount_charged = money.capture(task, charge)
            VideoTask.objects.filter(pk=task.pk).update(amount_charged=task.amount_charged)
        else:  # failed or cancelled: the whole hold goes back, and the ledger says why
            money.release(task, note="cancelled" if status == VideoTask.Status.CANCELLED else error_code)
        # The outbox: the tenant's webhook events commit with the transition, or not at all.
        webhooks.record_task_event(task)
    metrics.task_finished(task)
    return True


# --- Polling -------------------------------------------------------------------------


def paused_channels(now):
    """The channels whose polling is paused at ``now`` (their vendor answered 429): id -> until."""
    return dict(Channel.objects.filter(poll_paused_until__gt=now).values_list("pk", "poll_paused_until"))


def _due(now, paused=None):
    """Active tasks whose next poll is due, but those of a paused channel (``paused``, else read) that
    would call its vendor's API: a video the vendor finished is delivered from its URL all the same."""
    paused = paused_channels(now) if paused is None else paused
    due = VideoTask.objects.active().filter(next_poll_at__lte=now)
    if paused:
        due = due.exclude(channel_id__in=list(paused), vendor_completed_at__isnull=True)
    return due


def due_task_ids(now, limit=50):
    return list(_due(now).order_by("next_poll_at").values_list("pk", flat=True)[:limit])


def claim_due(now, limit, *, paused=None, channel=None):
    """Take up to ``limit`` due tasks for polling in one transaction, the longest due first, with their
    channels. As claim() does, each one's next poll is pushed POLL_LEASE out before any vendor call.
    On PostgreSQL the rows are locked SKIP LOCKED, so pollers on other machines take other tasks at the
    same moment instead of waiting (SQLite has one writer at a time). With ``channel``: only its tasks
    with a vendor job to ask about (the top-up of one Adaptor.poll_many() call)."""
    lease = now + POLL_LEASE
    due = _due(now, paused)
    if channel is not None:
        due = due.filter(channel=channel, vendor_completed_at__isnull=True).exclude(vendor_task_id="")
    with transaction.atomic():
        locked = due.select_related("channel").select_for_update(skip_locked=True, of=("self",))
        tasks = list(locked.order_by("next_poll_at")[:limit])
        if tasks:
            VideoTask.objects.filter(pk__in=[task.pk for task in tasks]).update(next_poll_at=lease)
    for task in tasks:
        task.next_poll_at = lease
    return tasks


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


def release(task, due_at):
    """Give back a claimed task without polling it, due at ``due_at`` (its channel was paused since the
    claim, or its poller is stopping); nothing happens if it changed hands meanwhile."""
    VideoTask.objects.filter(pk=task.pk, status__in=VideoTask.ACTIVE, next_poll_at=task.next_poll_at).update(
        next_poll_at=due_at
    )


def pause_channel(channel, exc):
    """The vendor answered 429 (``exc``): poll none of the channel's tasks for its Retry-After, or
    RATE_LIMIT_PAUSE seconds without one. Returns when the pause ends."""
    seconds = RATE_LIMIT_PAUSE if exc.retry_after is None else max(1, exc.retry_after)
    until = timezone.now() + timedelta(seconds=seconds)
    return routing.pause_polling(channel, until, f"{channel.adaptor.label} answered 429 to a poll: {exc.message}")


def _backoff(task):
    interval = task.channel.adaptor.poll_interval if task.channel else 5
    ceiling = MAX_POLL_INTERVAL
    if task.callback_token:  # its vendor calls back: polls are only the fallback
        interval, ceiling = interval * CALLBACK_POLL_FACTOR, MAX_CALLBACK_POLL_INTERVAL
    return timedelta(seconds=min(ceiling, interval * 1.5 ** min(task.poll_count, 10)))


def poll_task(task, learned_by=LEARNED_BY_POLL):
    """Ask the vendor about a claimed task and act on the answer. ``learned_by`` is recorded when the
    answer is the task's outcome: LEARNED_BY_CALLBACK for the poll a vendor callback triggered."""
    if task.vendor_completed_at is not None:
        # Done at the vendor, not yet delivered (a delivery failed and is due again, or its worker
        # died and the lease ran out): deliver it again, the vendor has nothing more to say.
        lease = timezone.now() + DELIVERY_LEASE
        if VideoTask.objects.filter(pk=task.pk, status__in=VideoTask.ACTIVE).update(next_poll_at=lease):
            storage.enqueue_delivery(task.pk, lease)
        return
    if not task.vendor_task_id and task.reconcile_until is not None:
        reconcile_task(task)  # its submit timed out: is the job at the vendor?
        return
    channel = task.channel
    try:
        ctx = routing.call_context(channel)
        with routing.scrubbed(ctx):
            result = channel.adaptor.poll(ctx, task.ref())
        result.error_message = routing.scrub(result.error_message, ctx.credentials)
    except VendorTaskMissing as exc:
        _vendor_missing(task, exc.message)
        return
    except AdaptorError as exc:
        if exc.rate_limited:
            # Too many requests from this account, nothing about the task: it is due again when the
            # channel's pause ends, and counts no error.
            until = pause_channel(channel, exc)
            VideoTask.objects.filter(pk=task.pk, status__in=VideoTask.ACTIVE, vendor_completed_at__isnull=True).update(
                next_poll_at=until
            )
            return
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
    answered(task, result, learned_by)


def answered(task, result, learned_by=LEARNED_BY_POLL):
    """Act on what the vendor said about a task, asked alone (poll()) or with others (poll_many())."""
    if task.vendor_missing:  # the vendor knows the task again: a "not found" is confirmed only in a row
        VideoTask.objects.filter(pk=task.pk).update(vendor_missing=0)
        task.vendor_missing = 0
    apply_result(task, result, learned_by)


def _vendor_missing(task, message):
    """The vendor answered that it does not know the task. One such answer may be a glitch: poll
    again soon to confirm; MISSING_CONFIRMATIONS in a row fail the task and release its hold. Any
    other answer about the task resets the count (poll_task); a failed call (timeout, 5xx) neither
    counts nor resets: it says nothing about the task."""
    missing = task.vendor_missing + 1
    label = task.channel.adaptor.label
    log.warning(
        "%s: %s does not know task %s (%d in a row): %s", task.public_id, label, task.vendor_task_id, missing, message
    )
    if missing < MISSING_CONFIRMATIONS:
        VideoTask.objects.filter(pk=task.pk, status__in=VideoTask.ACTIVE).update(
            vendor_missing=missing,
            vendor_status="not_found",
            poll_count=task.poll_count + 1,
            next_poll_at=timezone.now() + MISSING_RECHECK,
        )
        return
    VideoTask.objects.filter(pk=task.pk, status__in=VideoTask.ACTIVE).update(
        vendor_missing=missing, learned_by=LEARNED_BY_POLL
    )
    finish(
        task,
        VideoTask.Status.FAILED,
        error_code="vendor_task_lost",
        error_message=f"{label} no longer knows this task (it answered 'not found' twice); the hold was released.",
        vendor_status="not_found",
    )


def reconcile_task(task):
    """A submit that timed out (see _await_job): adopt the job if the vendor has it, and the task
    is polled from then on like any other; once reconcile_until has passed without it (the last
    lookup made after that moment), the task fails (vendor_timeout) and its hold is released."""
    channel = task.channel
    adaptor = channel.adaptor
    lookup = Lookup(
        external_id=task.public_id,
        upstream_model=task.upstream_model,
        since=task.created_at.timestamp(),
        state=task.vendor_state.get(LOOKUP) or {},
    )
    errored = False
    try:
        ctx = routing.call_context(channel)
        with routing.scrubbed(ctx):
            jobs = adaptor.find(ctx, lookup)
        if _adopt(task, channel, jobs):
            return
    except AdaptorError as exc:
        if exc.rate_limited:
            pause_channel(channel, exc)  # not the task's error; its next look waits for the pause
        else:
            routing.note_failure(channel, f"Looking up a submit that timed out failed: {exc.message}")
            errored = True
    except Exception:
        log.exception("Looking up %s at %s failed", task.public_id, channel.name)
        errored = True
    if timezone.now() >= task.reconcile_until:
        finish(
            task,
            VideoTask.Status.FAILED,
            error_code="vendor_timeout",
            error_message=f"{adaptor.label} did not answer in time and has no job for this task; nothing was charged.",
        )
        return
    _poll_later(task, errored=errored)


def _adopt(task, channel, jobs):
    """Record the first of ``jobs`` that no other task has as this task's vendor job. Adoptions on
    one channel are serialised (the channel row is locked), so two tasks never take one job."""
    adaptor = channel.adaptor
    with transaction.atomic():
        Channel.objects.select_for_update().filter(pk=channel.pk).first()
        ids = [job.vendor_task_id for job in jobs]
        taken = set(
            VideoTask.objects.filter(channel=channel, vendor_task_id__in=ids).values_list("vendor_task_id", flat=True)
        )
        job = next((job for job in jobs if job.vendor_task_id not in taken), None)
        if job is None:
            return False
        now = timezone.now()
        adopted = VideoTask.objects.filter(pk=task.pk, status__in=VideoTask.ACTIVE, vendor_task_id="").update(
            vendor_task_id=job.vendor_task_id,
            vendor_status=job.vendor_status[:64],
            vendor_state=job.state,
            submitted_at=now,
            reconcile_until=None,
            poll_count=task.poll_count + 1,
            next_poll_at=now + timedelta(seconds=adaptor.poll_interval),
        )
    if adopted:
        log.warning(
            "%s: adopted job %s found at %s after its submit timed out",
            task.public_id,
            job.vendor_task_id,
            channel.name,
        )
    return True


def _poll_later(task, errored=False, **fields):
    updates = {"next_poll_at": timezone.now() + _backoff(task), "poll_count": task.poll_count + 1, **fields}
    if errored:
        updates["poll_errors"] = task.poll_errors + 1
    # Never over a delivery's lease: a poll answered late (or a callback) may find the video done meanwhile.
    VideoTask.objects.filter(pk=task.pk, status__in=VideoTask.ACTIVE, vendor_completed_at__isnull=True).update(
        **updates
    )


def apply_result(task, result, learned_by=LEARNED_BY_POLL):
    state = {**task.vendor_state, **result.state} if result.state else task.vendor_state
    if result.status == COMPLETED:
        # Done at the vendor is not done here: the task stays in progress, uncharged, until its
        # video is delivered (videos/delivery.py, under the lease taken here), which finishes it.
        now = timezone.now()
        lease = now + DELIVERY_LEASE
        if VideoTask.objects.filter(pk=task.pk, status__in=VideoTask.ACTIVE, vendor_completed_at__isnull=True).update(
            status=VideoTask.Status.IN_PROGRESS,
            started_at=task.started_at or now,
            progress=99,
            vendor_status=(result.vendor_status or "")[:64],
            vendor_state=state,
            result_url=result.result_url or "",
            seconds_produced=result.seconds,
            vendor_completed_at=now,
            learned_by=learned_by,
            poll_count=task.poll_count + 1,
            next_poll_at=lease,
        ):
            storage.enqueue_delivery(task.pk, lease)
        return
    if result.status == CANCELLED:  # stopped at the vendor (by videos/cancel.py, or there)
        VideoTask.objects.filter(pk=task.pk, status__in=VideoTask.ACTIVE).update(learned_by=learned_by)
        finish(
            task,
            VideoTask.Status.CANCELLED,
            error_code="cancelled",
            error_message=f"{result.error_message or 'The vendor cancelled the task'}; nothing was charged.",
            vendor_status=result.vendor_status,
        )
        return
    if result.status == FAILED:
        code = "content_moderation" if result.moderation else "vendor_failed"
        message = result.error_message or "The vendor reports that generation failed."
        if result.error_code:
            message = f"{message} (vendor code {result.error_code})"
        # What the vendor said about the failed job (its cost, say) is kept with the task.
        VideoTask.objects.filter(pk=task.pk, status__in=VideoTask.ACTIVE).update(
            learned_by=learned_by, vendor_state=state
        )
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
    """Fail and refund tasks past their deadline, and tasks whose submit was interrupted.

    A task its vendor finished before the deadline is left to its delivery while the delivery
    window lasts (the delivery settles it); past the window the deadline applies again."""
    expired = 0
    window = timedelta(seconds=settings.GATEWAY_DELIVERY_WINDOW_SECONDS)
    overdue = VideoTask.objects.active().filter(deadline_at__lte=now).exclude(vendor_completed_at__gt=now - window)
    for task in overdue:
        expired += _settle_one(
            finish,
            task,
            VideoTask.Status.FAILED,
            error_code="deadline_exceeded",
            error_message="The vendor did not finish the video before the deadline; the hold was released.",
        )
    # Never submitted (a web worker killed mid-submit); tasks whose submit timed out are looked
    # for at their vendor instead (reconcile_task).
    stuck = VideoTask.objects.active().filter(
        vendor_task_id="", reconcile_until__isnull=True, created_at__lte=now - submit_grace()
    )
    for task in stuck:
        expired += _settle_one(_interrupt, task)
    return expired


def _settle_one(settle, task, *args, **kwargs):
    """One task's settlement failing (a broken invariant on its row) must not keep every other
    overdue task from being settled: it is logged loudly and tried again at the next sweep. A
    database outage is not one task's problem: it goes up to the poll loop."""
    try:
        return settle(task, *args, **kwargs)
    except (OperationalError, InterfaceError):
        raise
    except Exception:
        log.exception("Settling overdue task %s failed; tried again at the next sweep", task.public_id)
        return 0


def poll_once(now=None, limit=50):
    """One pass in the calling thread: expire overdue tasks, poll the due ones this worker can claim
    (several of one channel in one call where its vendor can), queue due webhooks."""
    from . import polling  # the poll loop builds on this module

    now = now or timezone.now()
    expire_overdue(now)
    polled = polling.poll_due(now, limit)
    webhooks.sweep()  # queue the webhook deliveries that are due, each as its own job
    return polled


def run_tick(seconds=None):
    """The scheduled entry point: keep polling due tasks for ``seconds`` (many at once, each on a
    thread of its own: videos/polling.py), then return how many were polled."""
    from . import polling  # the poll loop builds on this module

    seconds = settings.GATEWAY_TICK_SECONDS if seconds is None else seconds
    return polling.Poller().run(seconds)


# --- Client reads --------------------------------------------------------------------


def delete_task(task):
    """Hide a finished video from clients and drop its stored copy; the row and ledger stay."""
    if task.is_active:
        raise GatewayError(
            409, "video_in_progress", "A video that is still generating cannot be deleted.", kind=INVALID
        )
    storage.remove_result(task)
    VideoTask.objects.filter(pk=task.pk).update(deleted_at=timezone.now(), result_file="")
