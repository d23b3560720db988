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

Seedance 2.0 models also take ``video_url`` (role ``reference_video``) and ``audio_url`` (role
``reference_audio``) items: at most 9 images, 3 videos, 3 audios; frames exclude references; audio
needs a reference image or video; videos and audios each at most 15 s in total (a clip's length is
``clip_seconds[url]``, else 5 s: Ark measures the real files); ``generate_audio`` a boolean;
``duration`` 4-15 or -1, which finishes as ``auto_seconds`` long.
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
FRAME_ROLES = {"first_frame", "last_frame"}
V2_ROLES = FRAME_ROLES | {"reference_image"}
V2_DURATIONS = [-1, *range(4, 16)]
SEEDANCE_2 = {  # model -> resolutions; 2.0 models take clips and generate_audio
    "doubao-seedance-2-0-260128": {"480p", "720p", "1080p"},
    "doubao-seedance-2-0-fast-260128": {"480p", "720p"},
    "doubao-seedance-2-0-mini-260615": {"480p", "720p"},
}
MODELS.update({model: (V2_DURATIONS, tiers, V2_ROLES) for model, tiers in SEEDANCE_2.items()})
CLIP_LIMIT = 15  # seconds of reference video, and of reference audio, per request
CLIP_URL = re.compile(r"^https?://\S+$")
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
        self.auto_seconds = 11  # what a duration -1 task turns out to last
        self.clip_seconds = {}  # clip URL -> its length in seconds (else 5)
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
        clips = [item for item in content if item.get("type") in ("video_url", "audio_url")]
        if clips and model not in SEEDANCE_2:
            return error(400, "InvalidParameter", f"{model} does not take video_url or audio_url", param="content")
        if len(texts) > 1 or len(texts) + len(images) + len(clips) != len(content):
            return error(400, "InvalidParameter", "content takes one text item and media items", param="content")
        if model in SEEDANCE_2:
            problem = self._check_v2(body, images, clips)
            if problem:
                return error(400, "InvalidParameter", problem[1], param=problem[0])
        used = [item.get("role", "first_frame") for item in images]
        if any(role not in roles for role in used) or ("last_frame" in used and "first_frame" not in used):
            return error(400, "InvalidParameter", f"image roles {used} are not supported by {model}", param="role")
        if "reference_image" in used and set(used) != {"reference_image"} and model not in SEEDANCE_2:
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

    def _check_v2(self, body, images, clips):
        """Seedance 2.0's rules: counts, exclusivity, clip lengths, generate_audio. (param, message)."""
        roles = [item.get("role") for item in images]
        if any(role not in V2_ROLES for role in roles):
            return "role", f"image roles {roles} are not all first_frame, last_frame or reference_image"
        videos = [item for item in clips if item["type"] == "video_url"]
        audios = [item for item in clips if item["type"] == "audio_url"]
        if any(item.get("role") != "reference_video" for item in videos):
            return "role", "video_url items take the role reference_video"
        if any(item.get("role") != "reference_audio" for item in audios):
            return "role", "audio_url items take the role reference_audio"
        for item in clips:
            url = (item.get(item["type"]) or {}).get("url")
            if not CLIP_URL.match(str(url or "")):
                return "url", f"{item['type']}.url must be a public http(s) URL"
        if len(images) > 9 or len(videos) > 3 or len(audios) > 3:
            return "content", "at most 9 images, 3 videos and 3 audios"
        references = "reference_image" in roles or videos or audios
        if FRAME_ROLES & set(roles) and references:
            return "role", "first/last frames cannot be combined with reference images, videos or audios"
        if audios and not ("reference_image" in roles or videos):
            return "content", "reference audio needs at least one reference image or video"
        for kind, items in (("video", videos), ("audio", audios)):
            total = sum(self.clip_seconds.get(item[f"{kind}_url"]["url"], 5) for item in items)
            if total > CLIP_LIMIT:
                return "content", f"the reference {kind}s last {total} s in total, more than {CLIP_LIMIT} s"
        if "generate_audio" in body and not isinstance(body["generate_audio"], bool):
            return "generate_audio", f"The parameter `generate_audio` is invalid: {body['generate_audio']!r}"
        return None

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
            "duration": self.produced_seconds or self._duration(body),
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

    def _duration(self, body):
        duration = body.get("duration", 5)
        return self.auto_seconds if duration == -1 else duration

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
