"""Vidu simulator: checks ``Authorization: Token <key>``, validates the four create bodies
against each model's duration/resolution rules, answers Vidu's documented error bodies
``{code, reason, message, metadata}``, and walks tasks through queueing -> processing ->
success (or ``script``), with ``creations`` empty until success.

A create with a ``callback_url`` is called back on ``advance()`` with the Get Generation answer,
signed as Vidu signs (``Date``, ``x-request-nonce``, ``X-HMAC-*``; HMAC-SHA256 keyed with the API
key that created the task, over the callback URL's path and query). ``forged_signatures`` signs
that many next callbacks with a wrong key.

Cancel (``POST /ent/v2/tasks/{id}/cancel``, body ``{"id": ...}``) answers ``{}`` while the job is
``created`` or ``queueing``; later Vidu refuses with 400 BadRequest "task state is scheduled, can not
cancel" (the documented example; "scheduled" is Vidu's word for a started job). A cancelled job reads
``state: failed`` with ``err_code: UserCancelled`` (the error table's "user cancelled").

Q3 (docs/vendors/vidu.md): ``viduq3-pro`` text/img/start-end2video, 1-16 s; ``viduq3-turbo`` those
and reference2video (3-16 s there); ``viduq3`` reference2video only, 3-16 s; ``audio`` must be a
boolean. reference2video takes a flat ``images`` list (1-7; 1-3 on vidu2.0) or ``subjects``
(``[{id, images, voice_id}]``: 1-7 subjects with distinct ids, 1-3 images each, 7 in all; not on
vidu1.5), never both."""

import base64
import hashlib
import hmac
import json
import re
import uuid
from datetime import UTC, datetime
from email.utils import formatdate
from urllib.parse import urlsplit

from .base import Response, SimTask, Simulator

IMAGE_RE = re.compile(r"^(https?://\S+|data:image/(png|jpeg|jpg|webp);base64,[A-Za-z0-9+/=]+)$")
IMAGES = {"text2video": (0, 0), "img2video": (1, 1), "start-end2video": (2, 2), "reference2video": (1, 7)}
HD = {"540p", "720p", "1080p"}


REFERENCE_MODELS = {"viduq3", "viduq3-turbo", "viduq2", "viduq1", "vidu2.0", "vidu1.5"}
SUBJECT_MODELS = REFERENCE_MODELS - {"vidu1.5"}


def rules(model, endpoint=None):
    """{duration: allowed resolutions} for a model, or None when Vidu does not know it."""
    if model == "viduq3" or (model == "viduq3-turbo" and endpoint == "reference2video"):
        return dict.fromkeys(range(3, 17), HD)
    if model in ("viduq3-pro", "viduq3-turbo"):
        return dict.fromkeys(range(1, 17), HD)
    if model in ("viduq2", "viduq2-pro", "viduq2-turbo"):
        return dict.fromkeys(range(1, 11), HD)
    if model in ("viduq1", "viduq1-classic"):
        return {5: {"1080p"}}
    if model in ("vidu2.0", "vidu1.5"):
        return {4: {"360p", "720p", "1080p"}, 8: {"720p"}}
    return None


def error(status, reason, message):
    body = {"code": status, "reason": reason, "message": message, "metadata": {"trace_id": uuid.uuid4().hex}}
    return Response(status, body)


class ViduSimulator(Simulator):
    def __init__(self, api_key="vda_test"):
        self.api_key = api_key
        self.failure_reason = "CreationPolicyViolation"
        self.forged_signatures = 0
        super().__init__()

    def setup_routes(self):
        self.route("POST", r"/ent/v2/(?P<endpoint>text2video|img2video|start-end2video|reference2video)", self.create)
        self.route("GET", r"/ent/v2/tasks/(?P<task_id>[^/]+)/creations", self.query)
        self.route("GET", r"/files/(?P<task_id>\d+)\.mp4", self.file)
        self.route("POST", r"/ent/v2/tasks/(?P<task_id>[^/]+)/cancel", self.cancel)

    def _unauthorized(self, request):
        if request.headers.get("authorization") != f"Token {self.api_key}":
            return error(401, "Unauthorized", "unauthorized")
        return None

    def create(self, request, endpoint):
        denied = self._unauthorized(request)
        if denied:
            return denied
        try:
            body = request.json()
        except ValueError:
            return error(400, "BadRequest", "bad request")
        problem = self.validate(endpoint, body)
        if problem:
            return error(400, *problem)
        if "moderate me" in body.get("prompt", ""):
            return error(400, "TaskPromptPolicyViolation", "prompt policy violation")
        task_id = str(800000000000 + int(self.next_id()))
        self.tasks[task_id] = SimTask(id=task_id, model=body["model"], body=body, kind=endpoint)
        answer = {key: body.get(key) for key in ("model", "prompt", "duration", "seed", "resolution", "payload")}
        answer.update(
            task_id=task_id,
            state="created",
            images=body.get("images", []),
            **({"subjects": body["subjects"]} if "subjects" in body else {}),
            aspect_ratio=body.get("aspect_ratio", "16:9"),
            movement_amplitude=body.get("movement_amplitude", "auto"),
            bgm=body.get("bgm", False),
            off_peak=False,
            credits=10,
            created_at=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        )
        return Response(200, answer)

    def validate(self, endpoint, body):
        """(reason, message) for the first thing wrong with a create body, or None."""
        model = body.get("model")
        if not model:
            return "FieldLacking", "field is missing or empty: model"
        model_rules = rules(model, endpoint)
        if model_rules is None:
            return "ModelUnavailable", "model unavailable"
        if model == "viduq3" and endpoint != "reference2video":
            return "FieldInvalid", "invalid field: model"
        if endpoint == "reference2video" and model not in REFERENCE_MODELS:
            return "FieldInvalid", "invalid field: model"
        if endpoint in ("text2video", "reference2video") and not body.get("prompt"):
            return "FieldLacking", "field is missing or empty: prompt"
        images = body.get("images")
        low, high = IMAGES[endpoint]
        if endpoint == "reference2video" and model == "vidu2.0":
            high = 3
        if endpoint == "reference2video" and "subjects" in body:
            problem = self.validate_subjects(model, body["subjects"])
            if problem:
                return problem
            if images is not None:
                return "FieldUnwanted", "unwanted field: images"
        elif "subjects" in body:
            return "FieldUnwanted", "unwanted field: subjects"
        elif endpoint == "text2video":
            if images is not None:
                return "FieldUnwanted", "unwanted field: images"
        elif not isinstance(images, list) or not low <= len(images) <= high:
            return "FieldItemCountOutOfRange", "field item count out of range: images"
        elif not all(isinstance(image, str) and IMAGE_RE.match(image) for image in images):
            return "ImageFormatInvalid", "invalid image format"
        if "audio" in body and not isinstance(body["audio"], bool):
            return "FieldInvalid", "invalid field: audio"
        duration = body.get("duration", 4 if model in ("vidu2.0", "vidu1.5") else 5)
        if isinstance(duration, bool) or duration not in model_rules:
            return "FieldInvalid", "invalid field: duration"
        if "resolution" in body and body["resolution"] not in model_rules[duration]:
            return "FieldInvalid", "invalid field: resolution"
        if "aspect_ratio" in body:
            if endpoint in ("img2video", "start-end2video"):
                return "FieldUnwanted", "unwanted field: aspect_ratio"
            ratios = {"16:9", "9:16", "1:1"}
            if model.startswith("viduq3") or (endpoint == "text2video" and model.startswith("viduq2")):
                ratios |= {"4:3", "3:4"}
            if body["aspect_ratio"] not in ratios:
                return "FieldInvalid", "invalid field: aspect_ratio"
        if body.get("movement_amplitude", "auto") not in ("auto", "small", "medium", "large"):
            return "FieldInvalid", "invalid field: movement_amplitude"
        return None

    @staticmethod
    def validate_subjects(model, subjects):
        """(reason, message) for what is wrong with a reference2video ``subjects`` list, or None."""
        if model not in SUBJECT_MODELS:
            return "FieldUnwanted", "unwanted field: subjects"
        if not isinstance(subjects, list) or not 1 <= len(subjects) <= 7:
            return "FieldItemCountOutOfRange", "field item count out of range: subjects"
        ids, total = set(), 0
        for subject in subjects:
            if not isinstance(subject, dict) or not isinstance(subject.get("id"), str) or not subject["id"]:
                return "FieldLacking", "field is missing or empty: subjects.id"
            if subject["id"] in ids:
                return "FieldInvalid", "invalid field: subjects.id"
            ids.add(subject["id"])
            images = subject.get("images")
            if not isinstance(images, list) or not 1 <= len(images) <= 3:
                return "FieldItemCountOutOfRange", "field item count out of range: subjects.images"
            if not all(isinstance(image, str) and IMAGE_RE.match(image) for image in images):
                return "ImageFormatInvalid", "invalid image format"
            if "voice_id" in subject and not isinstance(subject["voice_id"], str):
                return "FieldInvalid", "invalid field: subjects.voice_id"
            if set(subject) - {"id", "images", "voice_id"}:
                return "FieldUnwanted", "unwanted field: subjects"
            total += len(images)
        if total > 7:
            return "FieldItemCountOutOfRange", "field item count out of range: subjects.images"
        return None

    def query(self, request, task_id):
        denied = self._unauthorized(request)
        if denied:
            return denied
        task = self.known(task_id)
        if task is None:
            return error(404, "TaskNotFound", "task not found")
        state = self.state_for(task, ["queueing", "processing", "success"])
        return Response(200, self.generation(task, state))

    def generation(self, task, state):
        """The Get Generation answer of ``task`` in ``state`` (a query's, and a callback's body)."""
        answer = {
            "id": task.id,
            "state": state,
            "err_code": "",
            "credits": 10,
            "payload": task.body.get("payload", ""),
            "bgm": task.body.get("bgm", False),
            "off_peak": False,
            "creations": [],
        }
        if state == "success":
            answer["creations"] = [
                {
                    "id": f"creation-{task.id}",
                    "url": f"{self.url}/files/{task.id}.mp4",
                    "cover_url": f"{self.url}/files/{task.id}.jpg",
                    "watermarked_url": f"{self.url}/files/{task.id}.mp4",
                }
            ]
        elif state == "failed":
            answer["err_code"] = "UserCancelled" if task.extra.get("cancelled") else self.failure_reason
        return answer

    def cancel(self, request, task_id):
        denied = self._unauthorized(request)
        if denied:
            return denied
        task = self.known(task_id)
        if task is None:
            return error(404, "TaskNotFound", "task not found")
        try:
            body = request.json()
        except ValueError:
            return error(400, "BadRequest", "bad request")
        if str(body.get("id", task_id)) != task_id:
            return error(400, "FieldInvalid", "invalid field: id")
        state = self.current_state(task, ["queueing", "processing", "success"])
        if state not in ("created", "queueing") or task.extra.get("cancelled"):
            shown = "scheduled" if state == "processing" else state
            return error(400, "BadRequest", f"task state is {shown}, can not cancel")
        task.extra["cancelled"] = True
        self.advance(task_id, "failed")
        return Response(200, {})

    def callback_request(self, task, state):
        body = json.dumps(self.generation(task, state)).encode()
        key = self.api_key
        if self.forged_signatures:
            self.forged_signatures -= 1
            key = "not-the-" + self.api_key
        return body, {"Content-Type": "application/json", **self.signature(task.body["callback_url"], key)}

    @staticmethod
    def signature(url, key, date=None, nonce=None, extra=None):
        """Vidu's callback signature headers for a POST to ``url``, signed with ``key`` (``extra``:
        more headers to send and sign)."""
        parts = urlsplit(url)
        headers = {"Date": date or formatdate(usegmt=True), "x-request-nonce": nonce or uuid.uuid4().hex}
        headers.update(extra or {})
        signed = list(headers)
        signing = f"POST\n{parts.path}\n{parts.query}\nvidu\n{headers['Date']}\n"
        signing += "".join(f"{name}:{headers[name]}\n" for name in signed)
        digest = hmac.new(key.encode(), signing.encode(), hashlib.sha256).digest()
        return {
            **headers,
            "X-HMAC-SIGNED-HEADERS": ";".join(signed),
            "X-HMAC-ALGORITHM": "hmac-sha256",
            "X-HMAC-ACCESS-KEY": "vidu",
            "X-HMAC-SIGNATURE": base64.b64encode(digest).decode(),
        }

    def file(self, request, task_id):
        return Response(200, self.video_bytes, {"Content-Type": "video/mp4"})
