"""Cancelling a task: stop the vendor's job where the vendor can, then settle through finish().

cancel_task() is the one way every dialect and the task pages cancel:

- a task already cancelled is answered as it is (a repeated cancel is harmless);
- a finished task, or one whose video the vendor has already finished (``vendor_completed_at``: it is
  being delivered and will be charged), is too late: 409 ``cancel_too_late``;
- at a vendor that cannot cancel (``Adaptor.supports_cancel`` false: Kling, Jimeng, OpenAI, MiniMax,
  Veo) it is 409 ``cancel_not_supported``;
- a task with a vendor job: the adaptor cancels it at the vendor (CancelTooLate when the job has
  started: 409 ``cancel_too_late``), then finish(CANCELLED) releases the hold in full;
- a task without a vendor job: while its submit may still be in flight (submit_grace()), or while the
  job is looked for after a submit timeout (``reconcile_until``), the vendor may hold a job we cannot
  name, and failing the task here would leave that job running unbilled. So nothing is done: 409
  ``cancel_too_late`` with Retry-After (the submit ends within seconds, then a cancel can reach the
  vendor). Past the grace the submit was interrupted (its web worker died; the poll tick would fail
  it as ``submit_interrupted`` within a minute, released): it is cancelled locally, under the same
  conditional update that _interrupt() uses, so a submit finishing late cannot revive it.

finish() decides, whatever the vendor said: a conditional update only one caller wins. If the task
completed, or the vendor finished its video, between the vendor's answer and finish(), the completion
stands (captured once, never released) and the client is told so (409 ``cancel_too_late`` naming the
final state); if a poll saw the vendor's cancelled state first, the task is cancelled all the same and
the client gets it. On any error nothing has changed here.
"""

import logging
import math

from django.db import transaction
from django.utils import timezone

from channels import services as routing
from channels.adaptors.base import (
    AdaptorError,
    CancelNotSupported,
    CancelTooLate,
    VendorAuthFailed,
    VendorTimeout,
    VendorUnavailable,
)

from . import services
from .errors import INVALID, UPSTREAM, GatewayError
from .models import VideoTask

log = logging.getLogger(__name__)

CANCELLED_CODE = "cancelled"  # the error code of a cancelled task, in every dialect
# Final answers: the OpenAI SDK retries a 409 unless told not to.
FINAL = {"x-should-retry": "false"}


def can_cancel(task):
    """Whether a cancel may succeed (for showing a Cancel button; cancel_task() decides)."""
    if not task.is_active or task.vendor_completed_at is not None:
        return False
    return task.channel is None or task.channel.adaptor.supports_cancel


def cancel_task(task):
    """Cancel an active task and return it, now cancelled (see the module docstring). Raises
    GatewayError: 409 ``cancel_not_supported`` / ``cancel_too_late``, or the vendor's failure."""
    task = VideoTask.objects.select_related("channel").get(pk=task.pk)
    if task.status == VideoTask.Status.CANCELLED:
        return task
    if not task.is_active:
        raise _too_late(_ended(task))
    adaptor = task.channel.adaptor if task.channel else None
    if adaptor is not None and not adaptor.supports_cancel:
        raise _not_supported(adaptor.label)
    if task.vendor_completed_at is not None:
        raise _too_late("The video is already finished at the vendor; it is being delivered and will be charged.")
    if not task.vendor_task_id:
        return _cancel_unsubmitted(task)

    ctx = routing.call_context(task.channel)
    try:
        with routing.scrubbed(ctx):
            adaptor.cancel(ctx, task.ref())
    except CancelNotSupported:
        raise _not_supported(adaptor.label) from None
    except CancelTooLate as exc:
        current = _reread(task)
        if current.status == VideoTask.Status.CANCELLED:  # cancelled meanwhile (another cancel, a poll)
            return current
        raise _too_late(f"{adaptor.label} can no longer cancel it ({exc.message}); it runs to its end.") from None
    except VendorAuthFailed as exc:
        routing.note_failure(task.channel, f"Credentials rejected while cancelling: {exc.message}", disable=True)
        raise _vendor_failed(502, "vendor_error", f"{adaptor.label} rejected the gateway's credentials.") from None
    except VendorUnavailable as exc:
        raise _vendor_failed(
            503, "vendor_unavailable", f"{adaptor.label} could not be reached ({exc.message})."
        ) from None
    except VendorTimeout:
        message = f"{adaptor.label} did not answer the cancel in time (if it cancelled, the next poll shows it)"
        raise _vendor_failed(504, "vendor_timeout", message) from None
    except AdaptorError as exc:
        raise _vendor_failed(502, "vendor_error", f"{adaptor.label} did not cancel the task: {exc.message}") from None
    return _settle(task, f"Cancelled at the client's request; {adaptor.label} stopped the job.")


def _cancel_unsubmitted(task):
    """No vendor job yet: wait while one may exist; cancel locally once the submit was interrupted."""
    if task.reconcile_until is not None:
        wait = (task.reconcile_until - timezone.now()).total_seconds()
        raise _too_late(
            "The submit timed out and the gateway is still looking for the job at the vendor; "
            "it cannot be cancelled until it is found.",
            retry_after=wait,
        )
    wait = (task.created_at + services.submit_grace() - timezone.now()).total_seconds()
    if wait > 0:
        raise _too_late("The task is still being submitted to the vendor; retry the cancel shortly.", retry_after=wait)
    with transaction.atomic():
        # The row stays locked until the commit: a submit answering this late finds the task ended.
        unsubmitted = VideoTask.objects.filter(
            pk=task.pk, status__in=VideoTask.ACTIVE, vendor_task_id="", reconcile_until__isnull=True
        )
        if unsubmitted.update(next_poll_at=None):
            return _settle(task, "Cancelled at the client's request before the vendor took the job.")
    current = _reread(task)
    if current.status == VideoTask.Status.CANCELLED:
        return current
    raise _too_late("The task changed meanwhile; look at it again.", retry_after=1)


def _settle(task, message):
    """finish(CANCELLED): the hold released in full, once; or the final state that won instead."""
    if services.finish(
        task, VideoTask.Status.CANCELLED, error_code=CANCELLED_CODE, error_message=message, vendor_status="cancelled"
    ):
        log.info("Cancelled %s", task.public_id)
        return _reread(task)
    current = _reread(task)
    if current.status == VideoTask.Status.CANCELLED:
        return current
    if current.is_active:  # the vendor finished the video first (vendor_completed_at): it is delivered
        raise _too_late("The vendor finished the video before the cancel took effect; it is being delivered.")
    raise _too_late(_ended(current))


def _reread(task):
    return VideoTask.objects.select_related("channel").get(pk=task.pk)


def _ended(task):
    if task.status == VideoTask.Status.COMPLETED:
        return "The video was completed before it could be cancelled; it was charged."
    return f"The task already ended ({task.status}: {task.error_code or 'no code'}); nothing was charged."


def _too_late(message, retry_after=None):
    if retry_after is None:
        headers = FINAL
    else:
        headers = {"Retry-After": str(min(services.RETRY_AFTER_MAX, max(1, math.ceil(retry_after))))}
    return GatewayError(409, "cancel_too_late", message, kind=INVALID, headers=headers)


def _not_supported(label):
    return GatewayError(
        409,
        "cancel_not_supported",
        f"{label} cannot cancel a task once it is submitted; it runs to its end and is billed as usual.",
        kind=INVALID,
        headers=FINAL,
    )


def _vendor_failed(status, code, message):
    """The vendor did not confirm the cancel: the task goes on as before (the client may retry)."""
    return GatewayError(status, code, f"{message.rstrip('.')}; the task goes on.", kind=UPSTREAM)
