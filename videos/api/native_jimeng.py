"""Jimeng native dialect: Volcengine Visual's CVSync2Async API on ``POST /jimeng/?Action=...
&Version=2022-08-31``, authenticated with the tenant's ``sk-`` key instead of a V4 signature.

``CVSync2AsyncSubmitTask`` takes Jimeng's body (``req_key`` is the model; ``prompt``,
``image_urls`` or ``binary_data_base64``, ``frames``, ``seed``, ``aspect_ratio``);
``CVSync2AsyncGetResult`` takes ``{req_key, task_id}`` and really returns the task (new-api
sends it to the submit handler). Answers are Volcengine's ``{code, data, message, request_id,
status, time_elapsed}``; errors the Volcengine gateway raises itself (auth, Action, Version)
come in its ``ResponseMetadata`` envelope.
"""

import time
import uuid

from rest_framework.response import Response

from .. import services, signing
from ..errors import AUTHENTICATION, GatewayError
from ..models import VideoTask
from .base import DialectView
from .parsing import as_int, as_text, build_request

VERSION = "2022-08-31"
SUBMIT = "CVSync2AsyncSubmitTask"
GET_RESULT = "CVSync2AsyncGetResult"
SUCCESS = 10000
STATUS = {VideoTask.Status.QUEUED: "in_queue", VideoTask.Status.IN_PROGRESS: "generating"}
# Ended without a result the client could fix: "expired" (resubmit), as Jimeng says. A cancelled task
# (only a submit interrupted before Jimeng had it can be cancelled) reads the same, never a 500.
EXPIRED_CODES = ("deadline_exceeded", "submit_interrupted", "vendor_task_lost", "cancelled")
CANONICAL = ("req_key", "prompt", "image_urls", "binary_data_base64", "frames", "seed", "aspect_ratio")
# Our codes -> Jimeng business codes (Jimeng's documented table; 50205 and 50400 from its common table;
# 50403, "balance insufficient", is the gateway's own: Jimeng documents no arrears code).
CODES = {
    "content_moderation": 50412,
    "insufficient_balance": 50403,
    "key_spend_limit_reached": 50403,
    "vendor_timeout": 50500,
    "vendor_unavailable": 50429,
    "no_channel_available": 50429,
    "idempotency_request_in_progress": 50429,  # "Please Try Later": the first create is still being submitted
}
HTTP_STATUS = {50205: 400, 50400: 403, 50403: 403, 50412: 400, 50429: 429, 50500: 500}


def request_id():
    """Volcengine's form: a timestamp and 20 hex digits."""
    return time.strftime("%Y%m%d%H%M%S") + uuid.uuid4().hex[:20].upper()


def envelope(started, data, code=SUCCESS, message="Success"):
    elapsed = (time.monotonic() - started) * 1000
    return {
        "code": code,
        "data": data,
        "message": message,
        "request_id": request_id(),
        "status": code,
        "time_elapsed": f"{elapsed:.6f}ms",
    }


def business_code(error):
    if error.code in CODES:
        return CODES[error.code]
    if error.status == 403:
        return 50400
    if error.status == 429:  # "Please Try Later", as for rate limits
        return 50429
    return 50500 if error.status >= 500 else 50205


def _frames_to_seconds(frames):
    """Jimeng counts frames at 24 fps plus one: 121 -> 5 s, 241 -> 10 s."""
    value = as_int(frames, "frames", 25)
    if value is None:
        return None
    if (value - 1) % 24:
        raise GatewayError(400, "invalid_frames", f"'frames' must be 24 * seconds + 1, got {value}.", param="frames")
    return (value - 1) // 24


class Jimeng(DialectView):
    route = VideoTask.Route.JIMENG

    def initial(self, request, *args, **kwargs):
        self.started = time.monotonic()
        super().initial(request, *args, **kwargs)

    def error_body(self, error):
        if error.kind == AUTHENTICATION or error.code == "invalid_action":
            code = {"missing_api_key": "MissingAuthenticationToken", "invalid_action": "InvalidActionOrVersion"}
            metadata = {
                "RequestId": request_id(),
                "Action": self.request.query_params.get("Action", ""),
                "Version": self.request.query_params.get("Version", ""),
                "Service": "cv",
                "Region": "cn-north-1",
                "Error": {"Code": code.get(error.code, "InvalidAccessKey"), "Message": error.message},
            }
            return {"ResponseMetadata": metadata}
        return envelope(getattr(self, "started", time.monotonic()), None, business_code(error), error.message)

    own_route_only = True

    def error_status(self, error, body):
        if error.status == 503:  # Jimeng has no "unavailable" business code: 50500 with HTTP 503
            return 503
        return HTTP_STATUS[body["code"]] if "code" in body else error.status

    def post(self, request):
        action = request.query_params.get("Action")
        if request.query_params.get("Version") != VERSION or action not in (SUBMIT, GET_RESULT):
            raise GatewayError(
                400,
                "invalid_action",
                f"Action must be {SUBMIT} or {GET_RESULT} and Version {VERSION}.",
                param="Action",
            )
        data = self.body()
        return self.submit(data) if action == SUBMIT else self.get_result(data)

    def submit(self, data):
        images = self._images(data)
        canonical = build_request(
            as_text(data.get("req_key"), "req_key", required=True),
            as_text(data.get("prompt"), "prompt"),
            {
                "seconds": _frames_to_seconds(data.get("frames")),
                "seed": data.get("seed"),
                "aspect_ratio": data.get("aspect_ratio"),
                "image": images[0] if images else None,
                "last_frame": images[1] if len(images) > 1 else None,
            },
            extra={key: value for key, value in data.items() if key not in CANONICAL},
        )
        task = services.create_task(
            api_key=self.api_key,
            request=canonical,
            route=self.route,
            vendor="jimeng",
            idempotency_key=self.idempotency_key,
        )
        return Response(envelope(self.started, {"task_id": task.public_id}))

    @staticmethod
    def _images(data):
        urls, blobs = data.get("image_urls"), data.get("binary_data_base64")
        if urls and blobs:
            raise GatewayError(400, "conflicting_parameters", "Give image_urls or binary_data_base64, not both.")
        images = urls or blobs or []
        if not isinstance(images, list) or len(images) > 2:
            param = "image_urls" if urls else "binary_data_base64"
            raise GatewayError(400, f"invalid_{param}", f"'{param}' must be a list of one or two images.", param=param)
        return images

    def get_result(self, data):
        task_id = as_text(data.get("task_id"), "task_id", required=True)
        req_key = as_text(data.get("req_key"), "req_key")
        task = self.find_task(task_id)
        if task is None or (req_key and req_key != task.model):  # Jimeng answers not_found, with success
            return Response(envelope(self.started, {"status": "not_found", "video_url": ""}))
        if task.status in STATUS:
            return Response(envelope(self.started, {"status": STATUS[task.status], "video_url": ""}))
        if task.status == VideoTask.Status.COMPLETED:
            url = signing.signed_content_url(self.request, task)
            return Response(envelope(self.started, {"status": "done", "video_url": url}))
        if task.error_code in EXPIRED_CODES:
            return Response(envelope(self.started, {"status": "expired", "video_url": ""}))
        # A finished failure: status "done", and the outer code says why (as at Jimeng).
        code, status = (50511, 400) if task.error_code == "content_moderation" else (50500, 500)
        body = envelope(self.started, {"status": "done", "video_url": ""}, code, task.error_message)
        return Response(body, status=status)
