"""Retry from the task page: the same request submitted again as a new task.

The canonical request is rebuilt from what the task row kept of it (``params``, videos.services._params:
the client's parameters, the planned seconds/size/resolution/aspect ratio, and under "requested" the
client's own values the plan replaced) and goes through ``services.create_task``, the path every
API dialect takes: the same validation, price, hold and channel selection. Images uploaded as bytes
were never kept (the row holds "<image/png, N bytes>"), so such a task cannot be retried here.
"""

from django.utils.translation import gettext as _

from channels.canonical import RequestInvalid

from . import services
from .api.parsing import build_request
from .errors import GatewayError
from .models import VideoTask

RETRYABLE = (VideoTask.Status.FAILED, VideoTask.Status.CANCELLED)
# The routes that pin a vendor (native dialects): a retry goes to a channel of that vendor again.
NATIVE_VENDORS = {
    VideoTask.Route.KLING: "kling",
    VideoTask.Route.JIMENG: "jimeng",
    VideoTask.Route.DASHSCOPE: "dashscope",
    VideoTask.Route.VIDU: "vidu",
}
# The canonical fields a task row records (CanonicalRequest.record) that build_request reads back.
FIELDS = (
    *("seconds", "size", "resolution", "aspect_ratio", "negative_prompt", "seed", "fps"),
    *("image", "last_frame", "reference_images", "reference_videos", "audio", "first_clip", "video"),
    "generate_audio",
)
IMAGE_FIELDS = ("image", "last_frame", "reference_images")


class CannotRetry(Exception):
    """The task cannot be submitted again from the page; the message says why, for people."""


def can_retry(task):
    return task.status in RETRYABLE and task.api_key_id is not None


def _uploaded(value):
    """A recorded image the row kept only a description of (its bytes were not stored)."""
    if isinstance(value, list):
        return any(_uploaded(item) for item in value)
    if isinstance(value, dict):
        value = value.get("url")
    return isinstance(value, str) and value.startswith("<")


def canonical_request(task):
    """The request ``task`` was created from, as the dialects parsed it. Raises CannotRetry."""
    params = task.params
    if any(_uploaded(params.get(name)) for name in IMAGE_FIELDS):
        raise CannotRetry(
            _("This task was given an uploaded image, which is not kept: submit it again with the image.")
        )
    fields = {name: params.get(name) for name in FIELDS}
    fields.update({name: value for name, value in (params.get("requested") or {}).items() if name in FIELDS})
    try:
        return build_request(
            task.model,
            task.prompt,
            fields,
            extra=params.get("extra") or None,
            native_action=params.get("native_action"),
        )
    except RequestInvalid as exc:
        raise CannotRetry(_("This task's request cannot be rebuilt: %(reason)s") % {"reason": exc.message}) from None


def retry(task):
    """Submit ``task``'s request again with the key that made it; the new task, or raise CannotRetry
    (not retryable, no usable key) or GatewayError (as the API would answer the create)."""
    if not can_retry(task):
        raise CannotRetry(_("Only failed or cancelled tasks made with a key can be retried."))
    api_key = task.api_key
    if not api_key.is_usable:
        raise CannotRetry(_("The key that made this task is disabled or expired."))
    request = canonical_request(task)
    remix_of = None
    if task.remixed_from_id:
        remix_of = (
            VideoTask.objects.for_tenant(task.tenant).select_related("channel").filter(pk=task.remixed_from_id).first()
        )
        if remix_of is None:
            raise GatewayError(404, "video_not_found", "The source video of this remix is gone.")
    return services.create_task(
        api_key=api_key,
        request=request,
        route=task.route,
        remix_of=remix_of,
        vendor=NATIVE_VENDORS.get(task.route),
    )
