"""Volcengine Ark (Doubao Seedance) simulator: Bearer ARK key, the content-array create
body with top-level duration/resolution/ratio/seed, the task object on GET, and Ark's
``{"error": {code, message, param, type}}`` errors.

Script states: ``queued``, ``running``, ``succeeded``, ``failed``, ``cancelled``,
``expired``, ``failed:<ErrorCode>``, or anything else verbatim. ``produced_seconds``
overrides the duration reported for a finished task.

A create with a ``callback_url`` is called back on ``advance()`` with the same task object as the
query (unsigned); a ``succeeded``/``failed`` callback not acknowledged is tried 3 more times.

``DELETE /contents/generations/tasks/{id}`` cancels a queued task (it then reads ``cancelled``) and
deletes the record of a finished one (queries answer 404 after that), answering ``{}``; a running
task is refused with 400 (the exact error code is unverified [L]).
"""

import json
import re
import time

from .base import Response, SimTask, Simulator

MODELS = {  # model -> (durations, resolutions, allowed image roles)
    "doubao-seedance-1-0-pro-250528": (range(2, 13), {"480p", "720p", "1080p"}, {"first_frame", "last_frame"}),
    "doubao-seedance-1-0-lite-t2v-250428": (range(2, 13), {"480p", "720p", "1080p"}, set()),
    "doubao-seedance-1-0-lite-i2v-250428": (
        range(2, 13),
        {"480p", "720p", "1080p"},
        {"first_frame", "last_frame", "reference_image"},
    ),
    "doubao-seedance-1-5-pro-251215": (range(4, 13), {"480p", "720p", "1080p"}, {"first_frame", "last_frame"}),
}
RATIOS = {"16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "adaptive", "keep_ratio"}
IMAGE_URL = re.compile(r"^(https?://\S+|data:image/(png|jpeg|jpg|webp|bmp|gif);base64,[A-Za-z0-9+/=]+)$")


def error(status, code, message, kind="BadRequest", param=""):
    return Response(
        status, {"error": {"code": code, "message": f"{message} Request id: sim", "param": param, "type": kind}}
    )


class SeedanceSimulator(Simulator):
    def __init__(self, api_key="ark-simulator-key"):
        self.api_key = api_key
        self.produced_seconds = None
        super().__init__()

    def setup_routes(self):
        self.route("POST", r"/api/v3/contents/generations/tasks", self.create)
        self.route("GET", r"/api/v3/contents/generations/tasks/(?P<task_id>[^/]+)", self.retrieve)
        self.route("GET", r"/files/(?P<task_id>[^/]+)\.mp4", self.video)
        self.route("DELETE", r"/api/v3/contents/generations/tasks/(?P<task_id>[^/]+)", self.delete)

    def _unauthorized(self, request):
        if request.headers.get("authorization") == f"Bearer {self.api_key}":
            return None
        return error(401, "AuthenticationError", "The API key in the request is missing or invalid.", "Unauthorized")

    def create(self, request):
        refused = self._unauthorized(request)
        if refused:
            return refused
        body = request.json()
        model = body.get("model")
        if model not in MODELS:
            return error(404, "InvalidEndpointOrModel.NotFound", f"The model {model} does not exist.", "NotFound")
        durations, resolutions, roles = MODELS[model]
        content = body.get("content")
        if not isinstance(content, list) or not content:
            return error(400, "MissingParameter", "content is required", param="content")
        texts = [item for item in content if item.get("type") == "text"]
        images = [item for item in content if item.get("type") == "image_url"]
        if len(texts) > 1 or len(texts) + len(images) != len(content):
            return error(400, "InvalidParameter", "content takes one text item and image_url items", param="content")
        used = [item.get("role", "first_frame") for item in images]
        if any(role not in roles for role in used) or ("last_frame" in used and "first_frame" not in used):
            return error(400, "InvalidParameter", f"image roles {used} are not supported by {model}", param="role")
        if "reference_image" in used and set(used) != {"reference_image"}:
            return error(400, "InvalidParameter", "reference images cannot be mixed with frames", param="role")
        if any(not IMAGE_URL.match(str((item.get("image_url") or {}).get("url", ""))) for item in images):
            return error(400, "InvalidParameter", "image_url.url must be a URL or an image data URI", param="url")
        if not texts and not images:
            return error(400, "MissingParameter", "a text prompt is required", param="content")
        checks = [
            ("duration", lambda v: v in durations),
            ("resolution", lambda v: v in resolutions),
            ("ratio", lambda v: v in RATIOS),
            ("seed", lambda v: isinstance(v, int) and -1 <= v <= 2**32 - 1),
            ("watermark", lambda v: isinstance(v, bool)),
            ("camera_fixed", lambda v: isinstance(v, bool)),
        ]
        for name, valid in checks:
            if name in body and not valid(body[name]):
                return error(400, "InvalidParameter", f"The parameter `{name}` is invalid: {body[name]!r}", param=name)
        text = texts[0]["text"] if texts else ""
        if "moderate me" in text:
            return error(400, "InputTextSensitiveContentDetected", "The input text may contain sensitive information.")
        if any("nsfw" in item["image_url"]["url"] for item in images):
            return error(
                400, "InputImageSensitiveContentDetected", "The input image may contain sensitive information."
            )
        task_id = f"cgt-20250101{self.next_id():0>6}-sim{len(self.tasks):0>2}"
        self.tasks[task_id] = SimTask(id=task_id, model=model, body=body)
        return Response(200, {"id": task_id})

    def retrieve(self, request, task_id):
        refused = self._unauthorized(request)
        if refused:
            return refused
        task = self.known(task_id)
        if task is None:
            return error(404, "ResourceNotFound", f"The specified task {task_id} is not found.", "NotFound")
        state = self.state_for(task, ["queued", "running", "succeeded"])
        return Response(200, self.task_object(task, state))

    def task_object(self, task, state):
        """The task as Ark shows it in ``state`` (a query's answer, and a callback's body)."""
        status, _, code = state.partition(":")
        body = task.body
        result = {
            "id": task.id,
            "model": task.model,
            "status": status,
            "error": None,
            "created_at": int(task.created),
            "updated_at": int(time.time()),
            "seed": body.get("seed", 12345),
            "resolution": body.get("resolution", "720p"),
            "ratio": body.get("ratio", "16:9"),
            "duration": self.produced_seconds or body.get("duration", 5),
            "framespersecond": 24,
            "service_tier": "default",
            "execution_expires_after": 172800,
        }
        if status == "succeeded":
            result["content"] = {"video_url": f"{self.url}/files/{task.id}.mp4?X-Tos-Expires=86400"}
            result["usage"] = {"completion_tokens": 108900, "total_tokens": 108900}
        elif status == "failed":
            code = code or "InternalServiceError"
            result["error"] = {"code": code, "message": f"The task failed: {code}"}
        return result

    def callback_request(self, task, state):
        return json.dumps(self.task_object(task, state)).encode(), {"Content-Type": "application/json"}

    def callback_retries(self, state):
        return 3 if state.partition(":")[0] in ("succeeded", "failed") else 0

    def delete(self, request, task_id):
        refused = self._unauthorized(request)
        if refused:
            return refused
        task = self.known(task_id)
        if task is None:
            return error(404, "ResourceNotFound", f"The specified task {task_id} is not found.", "NotFound")
        status = self.current_state(task, ["queued", "running", "succeeded"]).partition(":")[0]
        if status == "queued":
            self.advance(task_id, "cancelled")
        elif status == "running":
            return error(400, "OperationDenied.InvalidState", "A running task cannot be cancelled or deleted.")
        else:
            with self.lock:
                del self.tasks[task_id]  # a finished task's record is deleted
        return Response(200, {})

    def video(self, request, task_id):
        if task_id not in self.tasks:
            return Response(404, b"not found")
        return Response(200, self.video_bytes, {"Content-Type": "video/mp4"})
