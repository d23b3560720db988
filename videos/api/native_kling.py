"""Kling native dialect: ``/kling/v1/videos/{family}`` for the families text2video, image2video,
omni-video, multi-image2video and video-extend, as Kling's own clients speak them. The body is
Kling's (``model_name``, ``prompt``, ``image``, ``image_tail``, ``image_list``, ``video_list``,
``mode``, ``duration``, ``camera_control``, ...); answers are Kling's envelope ``{code, message,
request_id, data}`` with millisecond timestamps, and errors carry Kling's codes.

``mode`` and ``duration`` decide the price: the Kling adaptor's plan() bills them. Every other
field we do not interpret goes to the adaptor as an extra, untouched.

omni-video: ``image_list`` items with ``type`` ``first_frame``/``end_frame`` are the frames, untyped
ones references; the ``video_list`` item is the video to edit (``refer_type: base``) or a reference
(``feature``, the default). video-extend: ``video_id`` is one of the client's own videos, i.e. a
``task_result.videos[].id`` this route showed (our task id); the model is that video's.

A task belongs to the family whose route made it (``native_action`` in its params; tasks made before
it was recorded: text2video for text, image2video otherwise): it is queried and listed there only.
"""

import uuid

from django.db.models import Q
from rest_framework.response import Response

from channels.canonical import OWN_VIDEO_RE, TEXT, RequestInvalid

from .. import services, signing
from ..errors import GatewayError
from ..models import VideoTask
from .base import DialectView
from .parsing import as_int, as_metadata, as_text, build_request, check_n, in_client_terms

TEXT2VIDEO = "text2video"
IMAGE2VIDEO = "image2video"
OMNI = "omni-video"
MULTI_IMAGE = "multi-image2video"
VIDEO_EXTEND = "video-extend"
FAMILIES = (TEXT2VIDEO, IMAGE2VIDEO, OMNI, MULTI_IMAGE, VIDEO_EXTEND)
DEFAULT_MODEL = "kling-v1"
DEFAULT_MODELS = {OMNI: "kling-video-o1", MULTI_IMAGE: "kling-v1-6"}  # Kling's defaults on those routes
# Body fields the dialect turns into canonical ones, per family; the rest are Kling extras.
# new-api's documented form of the 2025 routes adds width/height, n and a metadata object.
COMMON = ("model_name", "model", "prompt", "negative_prompt", "duration", "aspect_ratio", "n", "metadata")
CANONICAL = {
    TEXT2VIDEO: (*COMMON, "image", "image_tail", "width", "height"),
    IMAGE2VIDEO: (*COMMON, "image", "image_tail", "width", "height"),
    OMNI: (*COMMON, "image_list", "video_list"),
    MULTI_IMAGE: (*COMMON, "image_list"),
    VIDEO_EXTEND: ("model_name", "model", "prompt", "negative_prompt", "video_id", "metadata"),
}
FRAME_TYPES = {"first_frame": "image", "end_frame": "last_frame"}
REFER_TYPES = ("base", "feature")
STATUS = {
    VideoTask.Status.QUEUED: "submitted",
    VideoTask.Status.IN_PROGRESS: "processing",
    VideoTask.Status.COMPLETED: "succeed",
    VideoTask.Status.FAILED: "failed",
    VideoTask.Status.CANCELLED: "failed",  # Kling has no cancelled state; task_status_msg says so
}
# Kling's documented error table: code -> HTTP status.
HTTP_STATUS = {
    1000: 401, 1001: 401, 1002: 401, 1003: 401, 1004: 401,
    1102: 429, 1103: 403, 1200: 400, 1201: 400, 1202: 404, 1203: 404,
    1301: 400, 1302: 429, 5000: 500, 5001: 503, 5002: 504,
}  # fmt: skip
# Our stable codes -> Kling's; anything else by HTTP status below.
CODES = {
    "missing_api_key": 1001,
    "invalid_api_key": 1002,
    "key_expired": 1004,
    "insufficient_balance": 1102,
    "key_spend_limit_reached": 1102,
    "invalid_body": 1200,
    "unsupported_media_type": 1200,
    "method_not_allowed": 1202,
    "not_found": 1203,
    "model_not_found": 1203,
    "content_moderation": 1301,
    "vendor_timeout": 5002,
    "no_channel_available": 5001,
    "vendor_unavailable": 5001,
    "service_unavailable": 5001,
    # A retry while the first create with its Idempotency-Key is still being submitted: Kling's
    # "too fast", which its clients back off and retry on (Retry-After says when).
    "idempotency_request_in_progress": 1302,
}
BY_STATUS = {400: 1201, 401: 1000, 402: 1102, 403: 1103, 404: 1203, 405: 1202, 429: 1302}


def kling_code(error):
    if error.code in CODES:
        return CODES[error.code]
    return BY_STATUS.get(error.status, 5000 if error.status >= 500 else 1201)


def family(task):
    """The family whose route made the task."""
    action = (task.params or {}).get("native_action")
    if action in FAMILIES:
        return action
    return TEXT2VIDEO if task.mode == TEXT else IMAGE2VIDEO


def of_family(tasks, action):
    """``tasks`` narrowed to those family() gives ``action``."""
    made_here = Q(params__native_action=action)
    if action not in (TEXT2VIDEO, IMAGE2VIDEO):
        return tasks.filter(made_here)
    text = Q(mode=TEXT) if action == TEXT2VIDEO else ~Q(mode=TEXT)
    return tasks.filter(made_here | (Q(params__native_action__isnull=True) & text))


def _ms(value):
    return int(value.timestamp() * 1000) if value else None


def _seconds_text(value):
    return f"{value:g}"


def task_data(request, task):
    """One task as Kling's ``data`` object."""
    extra = task.params.get("extra") or {}
    data = {
        "task_id": task.public_id,
        "task_status": STATUS[task.status],
        "task_status_msg": task.error_message if STATUS[task.status] == "failed" else "",
        "task_info": {"external_task_id": extra.get("external_task_id") or ""},
        "created_at": _ms(task.created_at),
        "updated_at": _ms(task.finished_at or task.started_at or task.submitted_at or task.created_at),
    }
    if task.status == VideoTask.Status.COMPLETED:
        video = {
            "id": task.public_id,  # what video-extend takes
            "url": signing.signed_content_url(request, task),
            "duration": _seconds_text(task.duration),
        }
        data["task_result"] = {"videos": [video]}
    return data


class KlingView(DialectView):
    route = VideoTask.Route.KLING

    def error_body(self, error):
        return {"code": kling_code(error), "message": error.message, "request_id": str(uuid.uuid4()), "data": None}

    own_route_only = True

    def error_status(self, error, body):
        return HTTP_STATUS.get(body["code"], error.status)

    def envelope(self, data):
        return Response({"code": 0, "message": "SUCCEED", "request_id": str(uuid.uuid4()), "data": data})


# Kling's names of the canonical fields its bodies carry under another name.
KLING_NAMES = {"seconds": "duration", "last_frame": "image_tail", "first_clip": "video_id"}


class Videos(KlingView):
    """``POST`` creates a task of this family; ``GET`` lists them (``pageNum``, ``pageSize``).
    ``action`` (the family) is set per URL."""

    action = TEXT2VIDEO

    def post(self, request):
        data = self.body()
        if data.get("callback_url"):
            raise GatewayError(
                400,
                "unsupported_parameter",
                "callback_url is not supported: query the task instead.",
                param="callback_url",
            )
        check_n(data.get("n"))
        fields, extra = FIELDS[self.action](data)
        with in_client_terms(KLING_NAMES):  # a refusal says "duration", "video_id", as the client sent them
            canonical = build_request(
                self._model(data),
                as_text(data.get("prompt"), "prompt"),
                {"negative_prompt": data.get("negative_prompt"), **fields},
                as_metadata(data.get("metadata")),
                extra={**{key: value for key, value in data.items() if key not in CANONICAL[self.action]}, **extra},
                native_action=self.action,
            )
            task = services.create_task(
                api_key=self.api_key,
                request=canonical,
                route=self.route,
                vendor="kling",
                idempotency_key=self.idempotency_key,
            )
        return self.envelope(task_data(request, task))

    def get(self, request):
        page = as_int(request.query_params.get("pageNum"), "pageNum", 1, 1000) or 1
        size = as_int(request.query_params.get("pageSize"), "pageSize", 1, 500) or 30
        tasks = of_family(self.tasks(), self.action)
        start = (page - 1) * size
        return self.envelope([task_data(request, task) for task in tasks[start : start + size]])

    def _model(self, data):
        name = as_text(data.get("model_name"), "model_name")
        alias = as_text(data.get("model"), "model")
        if name and alias and name != alias:
            raise GatewayError(
                400, "conflicting_parameters", f"'model' ({alias}) contradicts 'model_name' ({name}).", param="model"
            )
        if name or alias:
            return name or alias
        if self.action == VIDEO_EXTEND:  # the model that made the video (the gateway checks the id)
            source = VideoTask.objects.for_tenant(self.tenant).filter(public_id=data.get("video_id"))
            return source.values_list("model", flat=True).first() or DEFAULT_MODEL
        return DEFAULT_MODELS.get(self.action, DEFAULT_MODEL)


class Video(KlingView):
    """``GET /kling/v1/videos/{family}/{task_id}``: the family must be the one that made it, as at Kling."""

    action = TEXT2VIDEO

    def get(self, request, task_id):
        task = self.get_task(task_id)
        if family(task) != self.action:
            raise GatewayError(404, "not_found", f"No {self.action} task {task_id} exists for this key.")
        return self.envelope(task_data(request, task))


# --- each family's body, as canonical fields (and extras the dialect lifts out of Kling's lists) ----


def _frames_fields(data):
    """text2video and image2video."""
    fields = {"seconds": data.get("duration"), "aspect_ratio": data.get("aspect_ratio")}
    fields.update(image=data.get("image"), last_frame=data.get("image_tail"))
    return {**fields, "width": data.get("width"), "height": data.get("height")}, {}


def _omni_fields(data):
    """omni-video: ``image_list`` (frames by ``type``, references untyped) and one ``video_list`` item
    (``refer_type`` base: the video to edit; feature, the default: a reference)."""
    fields = {"seconds": data.get("duration"), "aspect_ratio": data.get("aspect_ratio")}
    references = []
    for index, item in enumerate(_items(data, "image_list")):
        url = _text(item, "image_url", f"image_list[{index}]")
        kind = item.get("type")
        if kind is None:
            references.append(url)
            continue
        if kind not in FRAME_TYPES:
            raise RequestInvalid(
                "image_list type is 'first_frame' or 'end_frame' (none: a reference image)",
                f"image_list[{index}].type",
            )
        if FRAME_TYPES[kind] in fields:
            raise RequestInvalid(f"image_list takes one {kind}", f"image_list[{index}].type")
        fields[FRAME_TYPES[kind]] = url
    fields["reference_images"] = references or None
    videos = _items(data, "video_list")
    if len(videos) > 1:
        raise RequestInvalid("video_list takes one video", "video_list")
    extra = {}
    if videos:
        item = videos[0]
        url = _text(item, "video_url", "video_list[0]")
        refer_type = item.get("refer_type", "feature")
        if refer_type not in REFER_TYPES:
            raise RequestInvalid("video_list refer_type is 'base' or 'feature'", "video_list[0].refer_type")
        if refer_type == "base":
            fields["video"] = url
        else:
            fields["reference_videos"] = [{"url": url, "tag": "feature"}]
        if "keep_original_sound" in item:
            extra["keep_original_sound"] = item["keep_original_sound"]
    return fields, extra


def _multi_image_fields(data):
    """multi-image2video: ``image_list`` of ``{image}``, the reference images."""
    images = [_text(item, "image", f"image_list[{index}]") for index, item in enumerate(_items(data, "image_list"))]
    fields = {"seconds": data.get("duration"), "aspect_ratio": data.get("aspect_ratio")}
    return {**fields, "reference_images": images or None}, {}


def _extend_fields(data):
    """video-extend: ``video_id``, one of the client's own videos (the id task_result.videos[] shows)."""
    video_id = data.get("video_id")
    if not isinstance(video_id, str) or not OWN_VIDEO_RE.match(video_id):
        raise RequestInvalid(
            "'video_id' is the id of one of your videos (task_result.videos[].id, video_...)", "video_id"
        )
    return {"first_clip": video_id}, {}


FIELDS = {
    TEXT2VIDEO: _frames_fields,
    IMAGE2VIDEO: _frames_fields,
    OMNI: _omni_fields,
    MULTI_IMAGE: _multi_image_fields,
    VIDEO_EXTEND: _extend_fields,
}


def _items(data, name):
    """A Kling list of objects (none: [])."""
    items = data.get(name)
    if items is None:
        return []
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise RequestInvalid(f"'{name}' must be a list of objects", name)
    return items


def _text(item, key, param):
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise RequestInvalid(f"'{param}.{key}' is required", f"{param}.{key}")
    return value
