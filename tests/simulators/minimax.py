"""MiniMax Hailuo simulator: Bearer key, HTTP 200 with ``base_resp`` business errors, per-model
duration/resolution/image rules, the query -> file retrieve -> download chain.

A create with a ``callback_url`` first checks it, as MiniMax does, before answering: it POSTs
``{"challenge": X}`` and refuses the create (2013 "fail to check callback url") unless the URL
answers 200 ``{"challenge": X}`` within 3 s (kept in ``challenges``). ``advance()`` then calls back
with ``{task_id, status, file_id, base_resp}``."""

import json
import re
import uuid

import httpx

from .base import Response, SimTask, Simulator

# model -> (text ok, image ok, {resolution: durations}, last frame ok, subject)
MODELS = {
    "MiniMax-Hailuo-2.3": (True, True, {"768P": (6, 10), "1080P": (6,)}, False, False),
    "MiniMax-Hailuo-2.3-Fast": (False, True, {"768P": (6, 10), "1080P": (6,)}, False, False),
    "MiniMax-Hailuo-02": (True, True, {"512P": (6, 10), "768P": (6, 10), "1080P": (6,)}, True, False),
    "T2V-01-Director": (True, False, {"720P": (6,)}, False, False),
    "T2V-01": (True, False, {"720P": (6,)}, False, False),
    "I2V-01-Director": (False, True, {"720P": (6,)}, False, False),
    "I2V-01-live": (False, True, {"720P": (6,)}, False, False),
    "I2V-01": (False, True, {"720P": (6,)}, False, False),
    "S2V-01": (False, False, {"720P": (6,)}, False, True),
}
DEFAULT_RESOLUTION = {"MiniMax-Hailuo-2.3": "768P", "MiniMax-Hailuo-2.3-Fast": "768P", "MiniMax-Hailuo-02": "768P"}
IMAGE_RE = re.compile(r"^(https?://\S+|data:image/[\w.+-]+;base64,[A-Za-z0-9+/=]+)$")


def base_resp(code=0, message="success", **body):
    return Response(200, {**body, "base_resp": {"status_code": code, "status_msg": message}})


class MiniMaxSimulator(Simulator):
    def __init__(self, api_key="mm-test-key"):
        self.api_key = api_key
        # base_resp of a query answering status "Fail" (tests set 1027 for output moderation).
        self.failure = (0, "success")
        # file.bytes that files/retrieve states; None: the download's real length (tests set a wrong one).
        self.file_bytes = None
        self.challenges = []  # (callback_url, HTTP status, answer) of each check of a callback URL
        super().__init__()

    def setup_routes(self):
        self.route("POST", r"/v1/video_generation", self.create)
        self.route("GET", r"/v1/query/video_generation", self.query)
        self.route("GET", r"/v1/files/retrieve", self.retrieve)
        self.route("GET", r"/download/(?P<file_id>\d+)\.mp4", self.download)

    def _denied(self, request):
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return base_resp(1004, "login fail: Please carefully check the API secret key")
        return None

    def create(self, request):
        denied = self._denied(request)
        if denied:
            return denied
        body = request.json()
        problem = self._validate(body)
        if problem:
            return base_resp(2013, f"invalid params, {problem}")
        if "moderate me" in (body.get("prompt") or ""):
            return base_resp(1026, "input new_sensitive")
        if body.get("callback_url") and not self._callback_url_answers(body["callback_url"]):
            return base_resp(2013, "invalid params, fail to check callback url")
        task_id = f"{300000000000000 + int(self.next_id())}"
        self.tasks[task_id] = SimTask(id=task_id, model=body["model"], body=body)
        return base_resp(task_id=task_id)

    def _validate(self, body):
        model = body.get("model")
        if model not in MODELS:
            return f"unknown model {model!r}"
        text_ok, image_ok, tiers, last_ok, subject = MODELS[model]
        first, last = body.get("first_frame_image"), body.get("last_frame_image")
        for name, value in (("first_frame_image", first), ("last_frame_image", last)):
            if value is not None and not IMAGE_RE.match(str(value)):
                return f"{name} must be a URL or a base64 data URL"
        if subject:
            refs = body.get("subject_reference")
            if not (isinstance(refs, list) and refs and refs[0].get("type") == "character" and refs[0].get("image")):
                return "subject_reference is required"
        elif body.get("subject_reference") is not None:
            return f"{model} does not take subject_reference"
        elif first is None and not text_ok:
            return "first_frame_image is required"
        if first is not None and not image_ok:
            return f"{model} does not take first_frame_image"
        if last is not None and not (last_ok and first):
            return f"{model} does not take last_frame_image"
        resolution = body.get("resolution", DEFAULT_RESOLUTION.get(model, "720P"))
        if resolution not in tiers or (resolution == "512P" and first is None):
            return f"resolution {resolution!r} is not supported"
        if body.get("duration", 6) not in tiers[resolution]:
            return f"duration {body.get('duration')!r} is not supported at {resolution}"
        return None

    def _callback_url_answers(self, url):
        challenge = uuid.uuid4().hex
        try:
            response = httpx.post(url, json={"challenge": challenge}, timeout=3)
        except httpx.HTTPError as exc:
            response, status, answer = None, None, repr(exc)
        if response is not None:
            status = response.status_code
            try:
                answer = response.json()
            except ValueError:
                answer = response.text
        self.challenges.append((url, status, answer))
        return status == 200 and answer == {"challenge": challenge}

    def callback_request(self, task, state):
        body = {"task_id": task.id, "status": state, "file_id": ""}
        if state == "Success":
            body["file_id"] = task.extra["file_id"] = task.id[-6:]
        code, message = self.failure if state == "Fail" else (0, "success")
        body["base_resp"] = {"status_code": code, "status_msg": message}
        return json.dumps(body).encode(), {"Content-Type": "application/json"}

    def query(self, request):
        denied = self._denied(request)
        if denied:
            return denied
        task = self.known(request.query.get("task_id", ""))
        if task is None:
            return base_resp(2013, "invalid params, task_id not found")
        status = self.state_for(task, ["Preparing", "Queueing", "Processing", "Success"])
        body = {"task_id": task.id, "status": status, "file_id": ""}
        if status == "Success":
            body.update(file_id=task.id[-6:], video_width=1366, video_height=768)
            task.extra["file_id"] = body["file_id"]
        if status == "Fail":
            return base_resp(*self.failure, **body)
        return base_resp(**body)

    def retrieve(self, request):
        denied = self._denied(request)
        if denied:
            return denied
        file_id = request.query.get("file_id", "")
        if not any(task.extra.get("file_id") == file_id for task in self.tasks.values()):
            return base_resp(2013, "invalid params, file not found")
        file = {
            "file_id": int(file_id),
            "bytes": len(self.video_bytes) if self.file_bytes is None else self.file_bytes,
            "created_at": 1700000000,
            "filename": "output.mp4",
            "purpose": "video_generation",
            "download_url": f"{self.url}/download/{file_id}.mp4",
        }
        return base_resp(file=file)

    def download(self, request, file_id):
        return Response(200, self.video_bytes, {"Content-Type": "video/mp4"})
