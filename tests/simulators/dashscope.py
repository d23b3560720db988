"""DashScope Wan video simulator: Bearer key, mandatory ``X-DashScope-Async: enable`` on create,
kf2v only on the image2video path, per-model size/resolution/duration rules, failures inside
``output`` with HTTP 200, ``UNKNOWN`` for task ids it never issued.

Cancel (``POST /api/v1/tasks/{id}/cancel``, as the SDK's ``VideoSynthesis.cancel`` sends it) answers
``{request_id}`` for a PENDING task, which then reads ``CANCELED``; any other status is refused with
400 ``UnsupportedOperation`` (only PENDING tasks can be cancelled; the exact code is unverified [L])."""

import re
import uuid

from .base import Response, SimTask, Simulator

T2V_TIERS = {
    "480P": {"832*480", "480*832", "624*624"},
    "720P": {"1280*720", "720*1280", "960*960", "1088*832", "832*1088"},
    "1080P": {"1920*1080", "1080*1920", "1440*1440", "1632*1248", "1248*1632"},
}
# model -> (path task, kind, tiers, durations)
MODELS = {
    "wan2.5-t2v-preview": ("video-generation", "t2v", ("480P", "720P", "1080P"), (5, 10)),
    "wan2.2-t2v-plus": ("video-generation", "t2v", ("480P", "1080P"), (5,)),
    "wanx2.1-t2v-turbo": ("video-generation", "t2v", ("480P", "720P"), (5,)),
    "wanx2.1-t2v-plus": ("video-generation", "t2v", ("720P",), (5,)),
    "wan2.5-i2v-preview": ("video-generation", "i2v", ("480P", "720P", "1080P"), (5, 10)),
    "wan2.2-i2v-flash": ("video-generation", "i2v", ("480P", "720P", "1080P"), (5,)),
    "wan2.2-i2v-plus": ("video-generation", "i2v", ("480P", "1080P"), (5,)),
    "wanx2.1-i2v-plus": ("video-generation", "i2v", ("720P",), (5,)),
    "wanx2.1-i2v-turbo": ("video-generation", "i2v", ("480P", "720P"), (3, 4, 5)),
    "wan2.2-kf2v-flash": ("image2video", "kf2v", ("480P", "720P", "1080P"), (5,)),
    "wanx2.1-kf2v-plus": ("image2video", "kf2v", ("720P",), (5,)),
    "wan2.1-kf2v-plus": ("image2video", "kf2v", ("720P",), (5,)),
}
IMAGE_RE = re.compile(r"^(https?://\S+|data:image/[\w.+-]+;base64,[A-Za-z0-9+/=]+)$")


def error(status, code, message):
    return Response(status, {"request_id": str(uuid.uuid4()), "code": code, "message": message})


class DashScopeSimulator(Simulator):
    def __init__(self, api_key="sk-dashscope-test"):
        self.api_key = api_key
        # What a FAILED task reports (tests may change it, e.g. to DataInspectionFailed).
        self.failure = ("InternalError.Algo", "The video could not be generated.")
        super().__init__()

    def setup_routes(self):
        self.route("POST", r"/api/v1/services/aigc/(?P<task>[\w-]+)/video-synthesis", self.create)
        self.route("GET", r"/api/v1/tasks/(?P<task_id>[^/]+)", self.query)
        self.route("GET", r"/results/(?P<task_id>[^/]+)\.mp4", self.video)
        self.route("POST", r"/api/v1/tasks/(?P<task_id>[^/]+)/cancel", self.cancel)

    def _authorized(self, request):
        return request.headers.get("authorization") == f"Bearer {self.api_key}"

    def create(self, request, task):
        if not self._authorized(request):
            return error(401, "InvalidApiKey", "Invalid API-key provided.")
        if request.headers.get("x-dashscope-async") != "enable":
            return error(403, "AccessDenied", "current user api does not support synchronous calls")
        body = request.json()
        model = body.get("model")
        if not model:
            return error(400, "BadRequest.EmptyModel", 'Required parameter "model" missing from request.')
        if not isinstance(body.get("input"), dict):
            return error(400, "BadRequest.EmptyInput", 'Required parameter "input" missing from request.')
        if model not in MODELS:
            return error(400, "InvalidParameter", f"Model not exist: {model}")
        path_task, kind, tiers, durations = MODELS[model]
        if task != path_task:
            return error(400, "InvalidParameter", f"Model {model} is not supported by the {task} task")
        problem = self._validate(body["input"], body.get("parameters") or {}, model, kind, tiers, durations)
        if problem:
            return error(400, "InvalidParameter", problem)
        if "moderate me" in (body["input"].get("prompt") or ""):
            return error(400, "DataInspectionFailed", "Input or output data may contain inappropriate content.")
        task_id = str(uuid.uuid4())
        self.tasks[task_id] = SimTask(id=task_id, model=model, body=body, kind=kind)
        return Response(
            200, {"request_id": str(uuid.uuid4()), "output": {"task_id": task_id, "task_status": "PENDING"}}
        )

    def _validate(self, inputs, parameters, model, kind, tiers, durations):
        duration = parameters.get("duration", 5)
        if duration not in durations:
            return f"The duration {duration!r} is not supported by {model}"
        if kind == "t2v":
            if "resolution" in parameters or "img_url" in inputs:
                return f"{model} takes parameters.size and no image"
            size = parameters.get("size")
            if size is not None and not any(size in T2V_TIERS[tier] for tier in tiers):
                return f"The size is not match {size!r}"
        else:
            if "size" in parameters:
                return f"{model} takes parameters.resolution, not size"
            if parameters.get("resolution", tiers[-1]) not in tiers:
                return f"The resolution {parameters.get('resolution')!r} is not supported by {model}"
        images = {"i2v": ("img_url",), "kf2v": ("first_frame_url", "last_frame_url")}.get(kind, ())
        for field in images:
            if field == "last_frame_url" and "template" in inputs and field not in inputs:
                continue
            if not IMAGE_RE.match(str(inputs.get(field, ""))):
                return f"input.{field} must be an http(s) URL or a base64 data URI"
        if ("audio_url" in inputs or "audio" in parameters) and not model.startswith("wan2.5"):
            return f"{model} does not support audio"
        return None

    def query(self, request, task_id):
        if not self._authorized(request):
            return error(401, "InvalidApiKey", "Invalid API-key provided.")
        task = self.known(task_id)
        if task is None:
            return Response(
                200, {"request_id": str(uuid.uuid4()), "output": {"task_id": task_id, "task_status": "UNKNOWN"}}
            )
        status = self.state_for(task, ["PENDING", "RUNNING", "SUCCEEDED"])
        task.extra["status"] = status
        output = {"task_id": task_id, "task_status": status, "submit_time": "2025-07-27 21:05:15.212"}
        body = {"request_id": str(uuid.uuid4()), "output": output}
        if status == "SUCCEEDED":
            output["video_url"] = f"{self.url}/results/{task_id}.mp4?Expires=1761000000"
            duration = (task.body.get("parameters") or {}).get("duration", 5)
            if task.model.startswith("wan2.5"):
                body["usage"] = {"duration": duration, "video_count": 1, "SR": 1080}
            else:
                body["usage"] = {"video_duration": duration, "video_ratio": "1280*720", "video_count": 1}
        elif status == "FAILED":
            output["code"], output["message"] = self.failure
        return Response(200, body)

    def cancel(self, request, task_id):
        if not self._authorized(request):
            return error(401, "InvalidApiKey", "Invalid API-key provided.")
        task = self.known(task_id)
        if task is None:
            return error(404, "InvalidParameter.TaskNotExist", f"The task {task_id} does not exist.")
        if self.current_state(task, ["PENDING", "RUNNING", "SUCCEEDED"]) != "PENDING":
            message = "Failed to cancel the task, please confirm if the task is in PENDING status."
            return error(400, "UnsupportedOperation", message)
        self.advance(task_id, "CANCELED")
        return Response(200, {"request_id": str(uuid.uuid4())})

    def video(self, request, task_id):
        task = self.tasks.get(task_id)
        if task is None or task.extra.get("status") != "SUCCEEDED":
            return Response(404, b"NoSuchKey", {"Content-Type": "application/xml"})
        return Response(200, self.video_bytes, {"Content-Type": "video/mp4"})
