"""Kling AI simulator: verifies the HS256 JWT for real (signature with the SK registered for
``iss``, then nbf and exp), or, when configured with an ``api_key``, takes that key as a plain
Bearer token (Kling's 2026 single API key) next to JWTs; validates the create bodies of
text2video, image2video, omni-video and multi-image2video per model (durations, ``sound``, image
and video lists and their counts), and walks tasks through submitted -> processing -> succeed
(or ``script``).

video-extend takes only the id of a video this simulator produced (``task_result.videos[].id`` of a
succeeded text2video, image2video or video-extend task, not one by kling-v1-5): a task id is code
1201, an unknown id 1203. Its body is ``video_id``, ``prompt``, ``negative_prompt``, ``cfg_scale``
and ``callback_url`` (model, mode or duration: 1201, they follow the source); the extension adds
``extend_seconds``, and its answer shows the whole video and ``task_info.parent_video``.

The task list of a family (``GET /v1/videos/{family}?pageNum=&pageSize=``) answers newest first
with each task's ``task_info.external_task_id`` and each task's state (a listing is a look at every
task it shows, as a query is); pageNum must be 1-1000 and pageSize 1-500 (code 1201 otherwise), and
a task the vendor forgot is not listed. A task it does not know is 404 code 1203. ``latency``
delays every answer (tests/simulators/latency.py). A create with a ``callback_url`` is called back
on ``advance()``: Kling POSTs the task object (the CN docs' form, unsigned: Kling documents no
signature). A finished task carries ``final_unit_deduction``: ``credits`` when a test sets it, else
2 credits per 5 s in std and 3.5 in pro (an extension: as 5 s in its source's mode)."""

import base64
import binascii
import hashlib
import hmac
import json
import time
import uuid

from .base import Response, SimTask, Simulator
from .latency import Latency

T2V, I2V, OMNI, MULTI, EXTEND = "text2video", "image2video", "omni-video", "multi-image2video", "video-extend"
FAMILIES = (T2V, I2V, OMNI, MULTI, EXTEND)
EXTEND_FIELDS = {"video_id", "prompt", "negative_prompt", "cfg_scale", "callback_url"}
FIVE_TEN = ("5", "10")
UP_TO = {n: tuple(str(s) for s in range(3, n + 1)) for n in (10, 15)}
# model -> (families, durations, whether it takes ``sound``)
MODELS = {
    "kling-v1": ((T2V, I2V), FIVE_TEN, False),
    "kling-v1-5": ((I2V,), FIVE_TEN, False),
    "kling-v1-6": ((T2V, I2V, MULTI), FIVE_TEN, False),
    "kling-v2-master": ((T2V, I2V), FIVE_TEN, False),
    "kling-v2-1-master": ((T2V, I2V), FIVE_TEN, False),
    "kling-v2-1": ((I2V,), FIVE_TEN, False),
    "kling-v2-5-turbo": ((T2V, I2V), FIVE_TEN, False),
    "kling-v2-6": ((T2V, I2V), FIVE_TEN, True),
    "kling-v3": ((T2V, I2V), UP_TO[15], True),
    "kling-video-o1": ((OMNI,), UP_TO[10], False),
    "kling-v3-omni": ((OMNI,), UP_TO[15], True),
}
RATIOS = ("16:9", "9:16", "1:1")
CREDITS_PER_5S = {"std": 2, "pro": 3.5}
CAMERA_TYPES = {"simple", "down_back", "forward_up", "right_turn_forward", "left_turn_forward"}
HTTP_STATUS = {
    1000: 401, 1001: 401, 1002: 401, 1003: 401, 1004: 401,
    1100: 429, 1101: 429, 1102: 429, 1103: 403,
    1200: 400, 1201: 400, 1202: 404, 1203: 404,
    1300: 400, 1301: 400, 1302: 429, 1303: 429, 1304: 429,
    5000: 500, 5001: 503, 5002: 504,
}  # fmt: skip


def error(code, message, status=None):
    """Kling's error envelope with the HTTP status its table gives (or ``status``)."""
    body = {"code": code, "message": message, "request_id": str(uuid.uuid4())}
    return Response(HTTP_STATUS.get(code, 400) if status is None else status, body)


def _b64decode(segment):
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


class KlingSimulator(Latency, Simulator):
    def __init__(self, access_key="ak_test", secret_key="sk_test", api_key=None):
        self.keys = {access_key: secret_key}
        self.api_key = api_key  # Kling's single API key, taken as a plain Bearer token
        self.credits = None  # final_unit_deduction of finished tasks (None: from duration and mode)
        self.base_video_seconds = 8  # the length of a video omni edits ("base"): the output's
        self.extend_seconds = 4.5  # what video-extend adds ("4-5 s")
        self.failure_message = "Failure to pass the risk control system"
        super().__init__()

    def setup_routes(self):
        for action in FAMILIES:
            self.route("POST", f"/v1/videos/(?P<action>{action})", self.create)
            self.route("GET", f"/v1/videos/(?P<action>{action})", self.list)
            self.route("GET", f"/v1/videos/(?P<action>{action})/(?P<task_id>[^/]+)", self.query)
        self.route("GET", r"/files/(?P<task_id>\d+)\.mp4", self.file)

    # --- auth ---------------------------------------------------------------------------

    def auth_error(self, request):
        """None when the Bearer JWT is valid now; otherwise Kling's 401 answer."""
        header = request.headers.get("authorization", "")
        if not header:
            return error(1001, "Authorization is empty")
        if not header.startswith("Bearer "):
            return error(1002, "Authorization is invalid")
        token = header[len("Bearer ") :]
        if self.api_key is not None and hmac.compare_digest(token.encode(), self.api_key.encode()):
            return None
        parts = token.split(".")
        try:
            head, claims = (json.loads(_b64decode(part)) for part in parts[:2])
            signature = _b64decode(parts[2])
        except (ValueError, IndexError, binascii.Error):
            return error(1002, "Authorization is invalid")
        secret = self.keys.get(claims.get("iss")) if isinstance(claims, dict) else None
        if len(parts) != 3 or head.get("alg") != "HS256" or secret is None:
            return error(1002, "Authorization is invalid")
        expected = hmac.new(secret.encode(), f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, signature):
            return error(1002, "Authorization is invalid")
        now = time.time()
        if not isinstance(claims.get("nbf"), int) or claims["nbf"] > now:
            return error(1003, "Authorization is not yet valid")
        if not isinstance(claims.get("exp"), int) or claims["exp"] <= now:
            return error(1004, "Authorization has expired")
        return None

    # --- routes -------------------------------------------------------------------------

    def create(self, request, action):
        denied = self.auth_error(request)
        if denied:
            return denied
        try:
            body = request.json()
        except ValueError:
            return error(1200, "request body is not JSON")
        if not isinstance(body, dict):
            return error(1200, "request body is not a JSON object")
        parent = None
        if action == EXTEND:
            parent, denied = self.extendable(body.get("video_id"))
            if denied:
                return denied
        problem = self.validate(action, body)
        if problem:
            return error(1201, problem)
        if "moderate me" in body.get("prompt", ""):
            return error(1301, "prompt triggers the content security policy")
        task_id = str(831922345719271433 + int(self.next_id()))
        model = parent.model if parent else body.get("model_name", "kling-v1")
        self.tasks[task_id] = SimTask(id=task_id, model=model, body=body, kind=action)
        if parent:  # the model and mode are the source's
            self.tasks[task_id].extra.update(parent=parent, mode=self.mode_of(parent))
        return Response(200, self.envelope(self.task_data(self.tasks[task_id], "submitted")))

    def extendable(self, video_id):
        """(the task whose video ``video_id`` is, None) or (None, Kling's error): only a video this
        account made and that still exists, by its video id."""
        if not isinstance(video_id, str) or not video_id:
            return None, error(1201, "video_id is required")
        if video_id in self.tasks:
            return None, error(1201, f"video_id {video_id} is a task id; give the video id (task_result.videos[].id)")
        task = self.tasks.get(video_id.removeprefix("video-")) if video_id.startswith("video-") else None
        if task is None or task.extra.get("status") != "succeed":
            return None, error(1203, f"video {video_id} not found")
        if task.kind not in (T2V, I2V, EXTEND):
            return None, error(1201, f"videos made by {task.kind} cannot be extended")
        if task.model == "kling-v1-5":
            return None, error(1201, "videos made by kling-v1-5 cannot be extended")
        return task, None

    def mode_of(self, task):
        return task.extra["mode"] if "mode" in task.extra else task.body.get("mode", "std")

    def seconds_of(self, task):
        """The length of a task's video: an extension's is its parent's and what it added."""
        if task.kind == EXTEND:
            return self.seconds_of(task.extra["parent"]) + self.extend_seconds
        videos = task.body.get("video_list") or [{}]
        base = videos[0].get("refer_type") == "base"
        return (float(self.base_video_seconds) if base else float(task.body.get("duration", "5"))) + 0.1

    def validate(self, action, body):
        """The first thing wrong with a create body, as Kling's message would say."""
        if action == EXTEND:
            unknown = sorted(set(body) - EXTEND_FIELDS - {"external_task_id"})
            if unknown:
                return f"video-extend takes no {', '.join(unknown)}: the model and mode are the source video's"
            for name in ("prompt", "negative_prompt"):
                if name in body and (not isinstance(body[name], str) or len(body[name]) > 2500):
                    return f"{name} must be a string of at most 2500 characters"
            scale = body.get("cfg_scale", 0.5)
            if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 <= scale <= 1:
                return "cfg_scale must be a number from 0 to 1"
            return None
        model = body.get("model_name", "kling-video-o1" if action == OMNI else "kling-v1")
        families, durations, sound = MODELS.get(model, ((), (), False))
        if action not in families:
            return f"model_name {model!r} is not supported by {action}"
        prompt = body.get("prompt")
        if action in (T2V, MULTI) and not prompt:
            return "prompt is required"
        if prompt is not None and (not isinstance(prompt, str) or len(prompt) > 2500):
            return "prompt must be a string of at most 2500 characters"
        if body.get("mode", "std") not in ("std", "pro"):
            return "mode must be std or pro"
        if "sound" in body:
            if not sound:
                return f"{model} does not support sound"
            if body["sound"] not in ("on", "off"):
                return "sound must be on or off"
            if body["sound"] == "on" and model == "kling-v2-6" and body.get("mode", "std") != "pro":
                return "sound is only supported in pro mode"
        if "cfg_scale" in body and (not model.startswith("kling-v1") or not 0 <= body["cfg_scale"] <= 1):
            return "cfg_scale is not valid for this model"
        if action == OMNI:
            return self.validate_omni(body, durations)
        if body.get("duration", "5") not in durations:
            return f"duration must be one of {', '.join(durations)} (a string)"
        camera = body.get("camera_control")
        if camera is not None and (action == MULTI or camera.get("type") not in CAMERA_TYPES):
            return "camera_control.type is invalid"
        if action in (T2V, MULTI):
            if body.get("aspect_ratio", "16:9") not in RATIOS:
                return "aspect_ratio must be 16:9, 9:16 or 1:1"
            if "image" in body or "image_tail" in body:
                return f"{action} takes no image"
        if action == T2V:
            return None
        if action == MULTI:
            items = body.get("image_list")
            if not isinstance(items, list) or not 1 <= len(items) <= 4:
                return "image_list must hold 1 to 4 images"
            if any(not isinstance(item, dict) or not self.valid_image(item.get("image")) for item in items):
                return "image_list items are {image: URL or base64 without a data: prefix}"
            return None
        if "aspect_ratio" in body:
            return "image2video takes no aspect_ratio: the image decides"
        for name in ("image", "image_tail"):
            if name in body and not self.valid_image(body[name]):
                return f"{name} must be a URL or base64 without a data: prefix"
        if "image" not in body:
            return "image is required"
        if "image_tail" in body and (camera is not None or "dynamic_masks" in body or "static_mask" in body):
            return "image_tail cannot be combined with camera_control or masks"
        return None

    def validate_omni(self, body, durations):
        if not body.get("prompt") and not body.get("multi_shot"):
            return "prompt is required"
        images = body.get("image_list", [])
        videos = body.get("video_list", [])
        elements = body.get("element_list", [])
        if not all(isinstance(value, list) for value in (images, videos, elements)):
            return "image_list, video_list and element_list must be arrays"
        types = []
        for item in images:
            if not isinstance(item, dict) or not self.valid_image(item.get("image_url")):
                return "image_list items are {image_url: URL or base64 without a data: prefix, type}"
            if "type" in item and item["type"] not in ("first_frame", "end_frame"):
                return "image_list type must be first_frame or end_frame"
            types.append(item.get("type"))
        if any(types.count(kind) > 1 for kind in ("first_frame", "end_frame")):
            return "image_list takes one first_frame and one end_frame at most"
        if "end_frame" in types and "first_frame" not in types:
            return "an end_frame needs a first_frame"
        if len(videos) > 1:
            return "video_list takes one video"
        video = videos[0] if videos else None
        if video is not None:
            if not isinstance(video, dict) or not str(video.get("video_url", "")).startswith(("http://", "https://")):
                return "video_list items need a video_url"
            if video.get("refer_type", "base") not in ("base", "feature"):
                return "refer_type must be base or feature"
            if video.get("keep_original_sound", "no") not in ("yes", "no"):
                return "keep_original_sound must be yes or no"
            if body.get("sound", "off") != "off":
                return "sound must be off with video_list"
        most = 4 if video is not None else 7
        if len(images) + len(elements) > most:
            return f"image_list and element_list hold at most {most} items together"
        base = video is not None and video.get("refer_type", "base") == "base"
        if base and ("first_frame" in types or "end_frame" in types):
            return "a base video takes no first_frame or end_frame"
        if not base:
            duration = body.get("duration", "5")
            if duration not in durations or (video is not None and int(duration) > 10):
                return "duration is not valid for this model and inputs"
        framed = base or "first_frame" in types
        if framed and "aspect_ratio" in body:
            return "aspect_ratio is not taken with a first frame or a base video"
        if not framed and body.get("aspect_ratio") not in RATIOS:
            return "aspect_ratio is required (16:9, 9:16 or 1:1)"
        return None

    @staticmethod
    def valid_image(value):
        if not isinstance(value, str) or value.startswith("data:"):
            return False
        if value.startswith(("http://", "https://")):
            return True
        try:
            return bool(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            return False

    def query(self, request, action, task_id):
        denied = self.auth_error(request)
        if denied:
            return denied
        task = self.known(task_id)
        if task is None or task.kind != action:
            return error(1203, f"task {task_id} not found")
        status = self.state_for(task, ["submitted", "processing", "succeed"])
        task.extra["status"] = status
        return Response(200, self.envelope(self.task_data(task, status)))

    def list(self, request, action):
        denied = self.auth_error(request)
        if denied:
            return denied
        try:
            page, size = int(request.query.get("pageNum", 1)), int(request.query.get("pageSize", 30))
        except ValueError:
            return error(1201, "pageNum and pageSize must be integers")
        if not (1 <= page <= 1000 and 1 <= size <= 500):
            return error(1201, "pageNum must be 1-1000 and pageSize 1-500")
        tasks = [t for t in self.tasks.values() if t.kind == action and self.listed(t.id)]
        tasks.sort(key=lambda t: (t.created, int(t.id)), reverse=True)
        shown = tasks[(page - 1) * size : page * size]
        data = []
        for task in shown:
            task.extra["status"] = self.state_for(task, ["submitted", "processing", "succeed"])
            data.append(self.task_data(task, task.extra["status"]))
        return Response(200, self.envelope(data))

    def listed(self, task_id):
        """Whether the task list shows a task: not while the vendor has forgotten it (a listing uses up
        none of forget()'s "not found" answers)."""
        return self._forgotten.get(str(task_id), 0) == 0

    def file(self, request, task_id):
        return Response(200, self.video_bytes, {"Content-Type": "video/mp4"})

    def callback_request(self, task, state):
        task.extra["status"] = state
        return json.dumps(self.task_data(task, state)).encode(), {"Content-Type": "application/json"}

    # --- bodies -------------------------------------------------------------------------

    def video(self, task):
        """A task's video as Kling shows it: the whole video (an extension's includes its source)."""
        seconds = self.seconds_of(task)
        return {"id": f"video-{task.id}", "url": f"{self.url}/files/{task.id}.mp4", "duration": f"{seconds:g}"}

    @staticmethod
    def envelope(data):
        return {"code": 0, "message": "SUCCEED", "request_id": str(uuid.uuid4()), "data": data}

    def task_data(self, task, status):
        created = int(task.created * 1000)
        data = {
            "task_id": task.id,
            "task_status": status,
            "task_status_msg": "",
            "task_info": {"external_task_id": task.body.get("external_task_id", "")},
            "created_at": created,
            "updated_at": created + 1000 * task.polls,
        }
        if task.kind == EXTEND:
            parent = task.extra["parent"]
            data["task_info"]["parent_video"] = self.video(parent)
        if status == "succeed":
            if task.kind == EXTEND:
                credits = CREDITS_PER_5S[self.mode_of(task)]  # one extension: as a 5 s video
            else:
                videos = task.body.get("video_list") or [{}]
                base = videos[0].get("refer_type") == "base"
                seconds = float(self.base_video_seconds) if base else float(task.body.get("duration", "5"))
                credits = CREDITS_PER_5S[task.body.get("mode", "std")] * seconds / 5
            data["final_unit_deduction"] = self.credits if self.credits is not None else f"{credits:g}"
            data["task_result"] = {"videos": [self.video(task)]}
        elif status == "failed":
            data["task_status_msg"] = self.failure_message
        return data
