"""Kling native dialect: ``/kling/v1/videos/{text2video,image2video}`` as Kling's own clients
speak it. The body is Kling's (``model_name``, ``prompt``, ``image``, ``image_tail``, ``mode``,
``duration``, ``camera_control``, ...); answers are Kling's envelope ``{code, message,
request_id, data}`` with millisecond timestamps, and errors carry Kling's codes.

``mode`` and ``duration`` decide the price: the Kling adaptor's plan() bills them. Every other
field we do not interpret goes to the adaptor as an extra, untouched.
"""

import uuid

from rest_framework.response import Response

from channels.canonical import TEXT

from .. import services, signing
from ..errors import GatewayError
from ..models import VideoTask
from .base import DialectView
from .parsing import as_int, as_metadata, as_text, build_request

TEXT2VIDEO = "text2video"
IMAGE2VIDEO = "image2video"
DEFAULT_MODEL = "kling-v1"
# Body fields the dialect turns into canonical ones; the rest are Kling extras.
# new-api's documented form of this route adds width/height, n and a metadata object.
CANONICAL = (
    *("model_name", "model", "prompt", "negative_prompt", "image", "image_tail", "duration", "aspect_ratio"),
    *("width", "height", "n", "metadata"),
)
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
    return TEXT2VIDEO if task.mode == TEXT else IMAGE2VIDEO


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
            "id": task.public_id,
            "url": signing.signed_content_url(request, task),
            "duration": _seconds_text(task.seconds_produced or task.seconds),
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
        model = self._model(data)
        as_int(data.get("n"), "n", 1, 1)  # one video per task; n>1 is refused, not ignored
        canonical = build_request(
            model,
            as_text(data.get("prompt"), "prompt"),
            {
                "seconds": data.get("duration"),
                "aspect_ratio": data.get("aspect_ratio"),
                "negative_prompt": data.get("negative_prompt"),
                "image": data.get("image"),
                "last_frame": data.get("image_tail"),
                "width": data.get("width"),
                "height": data.get("height"),
            },
            as_metadata(data.get("metadata")),
            extra={key: value for key, value in data.items() if key not in CANONICAL},
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
        tasks = self.tasks().filter(mode=TEXT) if self.action == TEXT2VIDEO else self.tasks().exclude(mode=TEXT)
        start = (page - 1) * size
        return self.envelope([task_data(request, task) for task in tasks[start : start + size]])

    @staticmethod
    def _model(data):
        name = as_text(data.get("model_name"), "model_name")
        alias = as_text(data.get("model"), "model")
        if name and alias and name != alias:
            raise GatewayError(
                400, "conflicting_parameters", f"'model' ({alias}) contradicts 'model_name' ({name}).", param="model"
            )
        return name or alias or DEFAULT_MODEL


class Video(KlingView):
    """``GET /kling/v1/videos/{family}/{task_id}``: the family must be the one that made it, as at Kling."""

    action = TEXT2VIDEO

    def get(self, request, task_id):
        task = self.get_task(task_id)
        if family(task) != self.action:
            raise GatewayError(404, "not_found", f"No {self.action} task {task_id} exists for this key.")
        return self.envelope(task_data(request, task))
