"""DashScope Wan video simulator: Bearer key, mandatory ``X-DashScope-Async: enable`` on create,
kf2v only on the image2video path, per-model size/resolution/duration rules (wan2.6 r2v's
``reference_urls``; wan2.7's ``input.media`` item types and counts per model), failures inside
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
WIDE = ("720P", "1080P")
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
    # wan2.6, the legacy body (docs/vendors/dashscope-wan.md)
    "wan2.6-t2v": ("video-generation", "t2v", WIDE, (5, 10, 15)),
    "wan2.6-i2v": ("video-generation", "i2v", WIDE, tuple(range(2, 16))),
    "wan2.6-i2v-flash": ("video-generation", "i2v", WIDE, tuple(range(2, 16))),
    "wan2.6-r2v": ("video-generation", "r2v", WIDE, tuple(range(2, 11))),
    # wan2.7, input.media
    "wan2.7-t2v": ("video-generation", "t2v", WIDE, tuple(range(2, 16))),
    "wan2.7-i2v": ("video-generation", "i2v", WIDE, tuple(range(2, 16))),
    "wan2.7-r2v": ("video-generation", "r2v", WIDE, tuple(range(2, 11))),
    "wan2.7-videoedit": ("video-generation", "videoedit", WIDE, tuple(range(2, 11))),
}
# wan2.7: the input.media item types each model takes, with how many of each.
MEDIA_TYPES = {
    "wan2.7-t2v": {},
    "wan2.7-i2v": {"first_frame": 1, "last_frame": 1, "driving_audio": 1, "first_clip": 1},
    "wan2.7-r2v": {"reference_image": 5, "reference_video": 5},
    "wan2.7-videoedit": {"video": 1, "reference_image": 4},
}
SHOTS = ("single", "multi")
RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4")
IMAGE_RE = re.compile(r"^(https?://\S+|data:image/[\w.+-]+;base64,[A-Za-z0-9+/=]+)$")
URL_RE = re.compile(r"^(https?|oss)://\S+$")
VIDEO_RE = re.compile(r"\.(mp4|mov)(\?.*)?$", re.I)


def error(status, code, message):
    return Response(status, {"request_id": str(uuid.uuid4()), "code": code, "message": message})


class DashScopeSimulator(Simulator):
    def __init__(self, api_key="sk-dashscope-test", prefix=""):
        self.api_key = api_key
        # A path the host serves /api/v1 under (a reverse proxy in front of a workspace host, say).
        self.prefix = prefix.rstrip("/")
        # What a FAILED task reports (tests may change it, e.g. to DataInspectionFailed).
        self.failure = ("InternalError.Algo", "The video could not be generated.")
        super().__init__()

    def setup_routes(self):
        api = re.escape(self.prefix) + "/api/v1"
        self.route("POST", api + r"/services/aigc/(?P<task>[\w-]+)/video-synthesis", self.create)
        self.route("GET", api + r"/tasks/(?P<task_id>[^/]+)", self.query)
        self.route("GET", r"/results/(?P<task_id>[^/]+)\.mp4", self.video)
        self.route("POST", api + r"/tasks/(?P<task_id>[^/]+)/cancel", self.cancel)

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
        validate = self._validate_media if model in MEDIA_TYPES else self._validate
        problem = validate(body["input"], body.get("parameters") or {}, model, kind, tiers, durations)
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
        if "media" in inputs:
            return f"{model} does not take input.media (a wan2.7 field)"
        if "shot_type" in parameters and (not model.startswith("wan2.6") or parameters["shot_type"] not in SHOTS):
            return f"shot_type {parameters['shot_type']!r} is not supported by {model}"
        if kind == "r2v":
            return self._validate_r2v(inputs, parameters, model, tiers)
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
        if ("audio_url" in inputs or "audio" in parameters) and not model.startswith(("wan2.5", "wan2.6")):
            return f"{model} does not support audio"
        return self._check_audio(inputs, parameters)

    @staticmethod
    def _check_audio(inputs, parameters):
        if "audio_url" in inputs and not URL_RE.match(str(inputs["audio_url"])):
            return "input.audio_url must be a public URL"
        if "audio" in parameters and not isinstance(parameters["audio"], bool):
            return "parameters.audio must be a boolean"
        return None

    def _validate_r2v(self, inputs, parameters, model, tiers):
        """wan2.6-r2v: reference_urls (1–5 URLs, at most 3 videos), size of the 720P/1080P tiers, no audio_url."""
        urls = inputs.get("reference_urls")
        if not isinstance(urls, list) or not 1 <= len(urls) <= 5:
            return "input.reference_urls must list 1 to 5 image or video URLs"
        if not all(isinstance(url, str) and URL_RE.match(url) for url in urls):
            return "input.reference_urls must be public URLs"
        if sum(1 for url in urls if VIDEO_RE.search(url)) > 3:
            return "input.reference_urls may hold at most 3 videos"
        if "audio_url" in inputs or "img_url" in inputs or "resolution" in parameters:
            return f"{model} takes reference_urls and parameters.size only"
        size = parameters.get("size")
        if size is not None and not any(size in T2V_TIERS[tier] for tier in tiers):
            return f"The size is not match {size!r}"
        return self._check_audio(inputs, parameters)

    def _validate_media(self, inputs, parameters, model, kind, tiers, durations):
        """wan2.7: every image and clip an input.media item of the model's types; resolution 720P/1080P,
        duration 2–15 (r2v, videoedit: 2–10), ratio for t2v/r2v/videoedit."""
        duration = parameters.get("duration", 5)
        if duration not in durations:
            return f"The duration {duration!r} is not supported by {model}"
        legacy = [key for key in ("img_url", "first_frame_url", "last_frame_url", "reference_urls") if key in inputs]
        if legacy or "size" in parameters or "shot_type" in parameters:
            return f"{model} uses the new protocol: input.media, parameters.resolution (not {legacy or 'size'})"
        if parameters.get("resolution", "1080P") not in tiers:
            return f"The resolution {parameters.get('resolution')!r} is not supported by {model}"
        if "ratio" in parameters and (kind == "i2v" or parameters["ratio"] not in RATIOS):
            return f"The ratio {parameters['ratio']!r} is not supported by {model}"
        if "audio" in parameters:
            return f"{model} does not take parameters.audio"
        if "audio_url" in inputs and kind != "t2v":
            return f"{model} takes audio as a driving_audio media item"
        media = inputs.get("media", [])
        if kind == "t2v" and "media" in inputs:
            return f"{model} takes no input.media"
        if not isinstance(media, list):
            return "input.media must be a list"
        allowed, counts = MEDIA_TYPES[model], {}
        for index, item in enumerate(media):
            if not isinstance(item, dict) or set(item) - {"type", "url", "reference_voice"}:
                return f"input.media[{index}] must be an object with type and url"
            if item.get("type") not in allowed:
                return f"input.media[{index}].type {item.get('type')!r} is not supported by {model}"
            if not URL_RE.match(str(item.get("url", ""))):
                return f"input.media[{index}].url must be a public http(s) or oss:// URL"
            counts[item["type"]] = counts.get(item["type"], 0) + 1
            if counts[item["type"]] > allowed[item["type"]]:
                return f"{model} takes at most {allowed[item['type']]} {item['type']} items"
        if kind == "i2v":
            if not (counts.get("first_frame") or counts.get("first_clip")):
                return "wan2.7-i2v must provide an image: a first_frame or first_clip item"
            if counts.get("first_frame") and counts.get("first_clip"):
                return "first_frame and first_clip cannot be combined"
            if counts.get("first_clip") and counts.get("driving_audio"):
                return "driving_audio goes with a first_frame"
        if kind == "r2v" and not 1 <= counts.get("reference_image", 0) + counts.get("reference_video", 0) <= 5:
            return f"{model} takes 1 to 5 reference_image and reference_video items"
        if kind == "videoedit" and counts.get("video") != 1:
            return f"{model} needs exactly one video item"
        return self._check_audio(inputs, parameters)

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
            if task.model.startswith(("wan2.5", "wan2.6", "wan2.7")):
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
