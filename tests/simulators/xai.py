"""xAI Grok Imagine simulator: the Bearer key (a wrong key is xAI's HTTP 400 "Incorrect API key
provided", as its chat API answers), the create bodies of ``/v1/videos/generations``,
``/v1/videos/extensions`` and ``/v1/videos/edits`` checked per model (durations, resolutions, aspect
ratios, references, the fields that exclude each other; an edit's input at most 8.7 s, an extension's
2-15 s), deferred results at ``GET /v1/videos/{request_id}`` (HTTP 200 for
every status), and the finished file on a "vidgen" path that needs no key. Errors come in xAI's
shape ``{"code": "<gRPC-style text>", "error": "<message>"}``.

An input video is one this simulator made (its ``/vidgen/`` URL: its length is what it reported) or,
for any other URL, a clip of INPUT_SECONDS. An edit keeps its input's length, an extension adds to it.

States a script may name: ``pending``, ``rendering`` (HTTP 202, no body), ``done``, ``moderated``
(done, ``respect_moderation: false``, no URL), ``failed``, ``expired``."""

import re

from .base import Response, SimTask, Simulator

MODELS = {
    "grok-imagine-video": {"resolutions": ("480p", "720p"), "extends": True, "edits": True},
    "grok-imagine-video-1.5": {"resolutions": ("480p", "720p", "1080p"), "extends": False, "edits": False},
}
ASPECT_RATIOS = {"1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3"}
GENERATION_FIELDS = {"model", "prompt", "duration", "aspect_ratio", "resolution", "image", "reference_images", "user"}
EXTENSION_FIELDS = {"model", "prompt", "duration", "video", "user"}
EDIT_FIELDS = {"model", "prompt", "video", "user"}  # no duration, resolution or aspect_ratio: the input's are kept
TICKS_PER_SECOND = {"480p": 500_000_000, "720p": 700_000_000, "1080p": 1_000_000_000}  # 1 tick = 1e-10 USD
INPUT_SECONDS = 5  # the length of an input video given by a URL this simulator did not serve
EDIT_INPUT_MAX = 8.7
OWN_VIDEO = re.compile(r"/vidgen/(?P<request_id>[^/]+)\.mp4$")
DATA_URI = re.compile(r"^data:image/[\w.+-]+;base64,[A-Za-z0-9+/=]+$")
INVALID = "Client specified an invalid argument"
NOT_FOUND = "Some requested entity was not found"


def xai_error(status, message, code=INVALID):
    return Response(status, {"code": code, "error": message})


class XAISimulator(Simulator):
    def __init__(self, api_key="xai-test-key"):
        self.api_key = api_key
        super().__init__()

    def setup_routes(self):
        self.route("POST", r"/v1/videos/generations", self.generate)
        self.route("POST", r"/v1/videos/extensions", self.extend)
        self.route("POST", r"/v1/videos/edits", self.edit)
        self.route("GET", r"/v1/videos/(?P<request_id>[^/]+)", self.result)
        self.route("GET", r"/v1/models", self.models)
        self.route("GET", r"/vidgen/(?P<request_id>[^/]+)\.mp4", self.download)

    def _denied(self, request):
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer "):
            return xai_error(401, "No API key provided. You can obtain an API key from https://console.x.ai.")
        key = header.removeprefix("Bearer ")
        if key != self.api_key:
            return xai_error(
                400, f"Incorrect API key provided: {key[:2]}***. You can obtain an API key from https://console.x.ai."
            )
        return None

    def _body(self, request, fields):
        try:
            body = request.json()
        except ValueError:
            return None, xai_error(400, "Failed to deserialize the JSON body into the target type")
        if not isinstance(body, dict):
            return None, xai_error(400, "The body must be a JSON object")
        unknown = set(body) - fields
        if unknown:
            return None, xai_error(422, f"unknown field `{sorted(unknown)[0]}`")
        model = body.get("model")
        if model not in MODELS:
            return None, xai_error(
                404, f"The model {model} does not exist or your team does not have access to it.", NOT_FOUND
            )
        return body, None

    def generate(self, request):
        denied = self._denied(request)
        if denied:
            return denied
        body, problem = self._body(request, GENERATION_FIELDS)
        if problem:
            return problem
        problem = self._check_generation(body)
        if problem:
            return xai_error(400, problem)
        return self._accept(body, "generation", body.get("duration", 8))

    def _check_generation(self, body):
        model, spec = body["model"], MODELS[body["model"]]
        references = body.get("reference_images")
        image = body.get("image")
        if references is not None and image is not None:
            return "reference_images cannot be combined with image"
        if (references is not None or image is None) and not body.get("prompt"):
            return "prompt is required"
        duration = body.get("duration", 8)
        if not isinstance(duration, int) or isinstance(duration, bool) or not 1 <= duration <= 15:
            return f"duration must be an integer between 1 and 15, got {duration!r}"
        resolution = body.get("resolution", "480p")
        if resolution not in spec["resolutions"]:
            return f"resolution {resolution!r} is not supported by {model}"
        if resolution == "1080p" and (image is not None or references is not None):
            return "1080p is supported for text-to-video only"
        if body.get("aspect_ratio", "16:9") not in ASPECT_RATIOS:
            return f"aspect_ratio {body['aspect_ratio']!r} is not supported"
        for name, value in (("image", image), *((f"reference_images[{i}]", r) for i, r in enumerate(references or []))):
            if value is not None and not _image_ok(value):
                return f'{name} must be {{"url": <https URL or base64 data URI>}}'
        if references is not None:
            if not isinstance(references, list) or not 1 <= len(references) <= 7:
                return "reference_images must hold 1 to 7 images"
            if duration > 10:
                return "duration must be at most 10 seconds with reference_images"
        return None

    def extend(self, request):
        denied = self._denied(request)
        if denied:
            return denied
        body, problem = self._body(request, EXTENSION_FIELDS)
        if problem:
            return problem
        if not MODELS[body["model"]]["extends"]:
            return xai_error(400, f"{body['model']} does not support video extension")
        seconds, problem = self._input(body.get("video"))
        if problem:
            return xai_error(400, problem)
        if not 2 <= seconds <= 15:
            return xai_error(400, f"The input video must be 2 to 15 seconds long, got {seconds:g}")
        duration = body.get("duration", 6)
        if not isinstance(duration, int) or isinstance(duration, bool) or not 2 <= duration <= 10:
            return xai_error(400, f"duration must be an integer between 2 and 10, got {duration!r}")
        return self._accept(body, "extension", seconds + duration)

    def edit(self, request):
        denied = self._denied(request)
        if denied:
            return denied
        body, problem = self._body(request, EDIT_FIELDS)
        if problem:
            return problem
        if not MODELS[body["model"]]["edits"]:
            return xai_error(400, f"{body['model']} does not support video editing")
        if not isinstance(body.get("prompt"), str) or not body["prompt"].strip():
            return xai_error(400, "prompt is required")
        seconds, problem = self._input(body.get("video"))
        if problem:
            return xai_error(400, problem)
        if seconds > EDIT_INPUT_MAX:
            return xai_error(400, f"The input video must be at most {EDIT_INPUT_MAX} seconds long, got {seconds:g}")
        return self._accept(body, "edit", seconds)

    def _input(self, video):
        """The length of the input video ``{"url": ...}``, or a problem."""
        if not isinstance(video, dict) or set(video) != {"url"} or not str(video["url"]).startswith("http"):
            return None, 'video must be {"url": <URL of an mp4>}'
        own = OWN_VIDEO.search(video["url"])
        if own is None:
            return INPUT_SECONDS, None
        task = self.tasks.get(own.group("request_id"))
        if task is None or not task.extra.get("done"):
            return None, f"Could not download the video at {video['url']}"
        return task.extra["duration"], None

    def _accept(self, body, kind, duration):
        request_id = f"0000-{self.next_id():0>8}"
        self.tasks[request_id] = SimTask(
            id=request_id, model=body["model"], body=body, kind=kind, extra={"duration": duration}
        )
        return Response(200, {"request_id": request_id})

    def result(self, request, request_id):
        denied = self._denied(request)
        if denied:
            return denied
        task = self.known(request_id)
        if task is None:
            return xai_error(404, f"Video generation request {request_id} not found", NOT_FOUND)
        state = self.state_for(task, ["pending", "pending", "done"])
        body = {"status": state, "model": task.model}
        duration = task.extra["duration"]
        resolution = "720p" if task.kind in ("extension", "edit") else task.body.get("resolution", "480p")
        usage = {"cost_in_usd_ticks": round(duration * TICKS_PER_SECOND[resolution])}
        if state == "rendering":
            return Response(202, None)
        if state == "pending":
            body["progress"] = min(90, 30 * task.polls)
        elif state == "done":
            task.extra["done"] = True
            url = f"{self.url}/vidgen/{request_id}.mp4"
            body.update(video={"url": url, "duration": duration, "respect_moderation": True}, usage=usage)
        elif state == "moderated":
            body.update(status="done", video={"duration": duration, "respect_moderation": False}, usage=usage)
        elif state == "failed":
            body.update(
                model="",
                video={"duration": 0, "respect_moderation": True},
                error={"code": "internal_error", "message": "Video generation failed."},
            )
        return Response(200, body)

    def models(self, request):
        denied = self._denied(request)
        if denied:
            return denied
        return Response(200, {"object": "list", "data": [{"id": name, "object": "model"} for name in MODELS]})

    def download(self, request, request_id):
        task = self.tasks.get(request_id)
        if task is None or not task.extra.get("done"):
            return Response(404, b"<Error><Code>NoSuchKey</Code></Error>", {"Content-Type": "application/xml"})
        return Response(200, self.video_bytes, {"Content-Type": "video/mp4"})


def _image_ok(value):
    if not isinstance(value, dict) or set(value) != {"url"} or not isinstance(value["url"], str):
        return False
    return value["url"].startswith("https://") or bool(DATA_URI.match(value["url"]))
