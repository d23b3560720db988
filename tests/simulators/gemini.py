"""Gemini API (Veo) simulator: ``x-goog-api-key`` auth with Google's real answers (400
API_KEY_INVALID for a wrong key, 403 PERMISSION_DENIED for none), inline image bytes only,
long-running operations, a key-protected download URI. Also serves a PNG at ``/images/frame.png``
for tests of the adaptor downloading client image URLs.

Veo's rules as the simulator checks them: durations 4/6/8; 720p/1080p (and 4k on 3.1), 1080p and 4k
at 8 s only; ``lastFrame`` with an ``image`` on 3.1; up to 3 ``referenceImages`` (asset) at 8 s
without frames; ``video`` (extension) only as the ``uri`` of a video this simulator made, at 8 s
and 720p. The Vertex-only parameters (``generateAudio``, ``seed``, ``fps``, ...) are refused as
Google's SDK refuses to send them (``VERTEX_ONLY``); ``vertex = True`` (tests/simulators/vertex.py)
takes them."""

import base64
import binascii
import re
import struct
import zlib

from .base import Response, SimTask, Simulator

V31 = {"last_frame": True, "references": 3, "extend": True, "resolutions": {"720p", "1080p", "4k"}}
BASIC = {"last_frame": False, "references": 0, "extend": False, "resolutions": {"720p", "1080p"}}
MODELS = {
    "veo-3.0-generate-001": BASIC,
    "veo-3.0-fast-generate-001": BASIC,
    "veo-3.1-generate-preview": V31,
    "veo-3.1-fast-generate-preview": V31,
    "veo-3.1-generate-001": V31,
    "veo-3.1-fast-generate-001": BASIC,
    "veo-3.1-lite-generate-001": BASIC,
}
PARAMETERS = {
    "aspectRatio",
    "durationSeconds",
    "negativePrompt",
    "personGeneration",
    "resolution",
    "sampleCount",
    "enhancePrompt",
}
VERTEX_ONLY = {"generateAudio", "seed", "fps", "storageUri", "pubsubTopic", "compressionQuality", "resizeMode"}
INSTANCE_KEYS = {"prompt", "image", "lastFrame", "referenceImages", "video"}
FILE_URI = re.compile(r"/v1beta/files/(?P<op>[A-Za-z0-9_-]+)(:download)?(\?alt=media)?$")


def tiny_png():
    """A real 1x1 PNG."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def rpc_error(code, status, message, reason=None):
    error = {"code": code, "message": message, "status": status}
    if reason:
        error["details"] = [
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "googleapis.com"}
        ]
    return Response(code, {"error": error})


class GeminiSimulator(Simulator):
    def __init__(self, api_key="AIza-test-key"):
        self.api_key = api_key
        self.png = tiny_png()
        super().__init__()

    def setup_routes(self):
        self.route("POST", r"/v1beta/models/(?P<model>[^/:]+):predictLongRunning", self.create)
        self.route("GET", r"/v1beta/models/(?P<model>[^/:]+)/operations/(?P<op>[^/]+)", self.operation)
        self.route("GET", r"/v1beta/models", self.list_models)
        self.route("GET", r"/v1beta/files/(?P<file_id>[^/:]+):download", self.download)
        self.route("GET", r"/images/frame.png", lambda request: Response(200, self.png, {"Content-Type": "image/png"}))

    def _denied(self, request):
        key = request.headers.get("x-goog-api-key")
        if not key:
            return rpc_error(
                403,
                "PERMISSION_DENIED",
                "Method doesn't allow unregistered callers (callers without established identity).",
            )
        if key != self.api_key:
            return rpc_error(
                400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", "API_KEY_INVALID"
            )
        return None

    def create(self, request, model):
        denied = self._denied(request)
        if denied:
            return denied
        if model not in MODELS:
            return rpc_error(404, "NOT_FOUND", f"models/{model} is not found for API version v1beta")
        body = request.json()
        problem = self._validate(body, model)
        if problem:
            return rpc_error(400, "INVALID_ARGUMENT", problem)
        prompt = body["instances"][0].get("prompt") or ""
        if "moderate me" in prompt:
            return rpc_error(
                400,
                "INVALID_ARGUMENT",
                "The prompt could not be submitted. This prompt contains words that violate the usage guidelines.",
            )
        op = f"op{self.next_id():0>6}"
        name = self.operation_name(request, model, op)
        self.tasks[op] = SimTask(id=op, model=model, body=body, extra={"name": name})
        return Response(200, {"name": name})

    vertex = False

    def operation_name(self, request, model, op):
        return f"models/{model}/operations/{op}"

    def _validate(self, body, model):
        instances = body.get("instances")
        if not isinstance(instances, list) or len(instances) != 1 or not isinstance(instances[0], dict):
            return "instances must hold exactly one instance"
        instance = instances[0]
        spec = MODELS[model]
        unknown = set(instance) - INSTANCE_KEYS
        if unknown:
            return f"Invalid JSON payload received. Unknown name {sorted(unknown)[0]!r} at 'instances[0]'"
        references = instance.get("referenceImages") or []
        images = [instance.get("image"), instance.get("lastFrame")] + [ref.get("image") for ref in references]
        for image in filter(None, images):
            problem = self._image_problem(image)
            if problem:
                return problem
        if "lastFrame" in instance and not (spec["last_frame"] and "image" in instance):
            return f"lastFrame is not supported by {model} without an image"
        parameters = body.get("parameters") or {}
        allowed = PARAMETERS | VERTEX_ONLY if self.vertex else PARAMETERS
        unknown = set(parameters) - allowed
        if unknown & VERTEX_ONLY:
            return f"{sorted(unknown & VERTEX_ONLY)[0]} parameter is not supported in Gemini API."
        if unknown:
            return f"Invalid JSON payload received. Unknown name {sorted(unknown)[0]!r} at 'parameters'"
        if "generateAudio" in parameters and not isinstance(parameters["generateAudio"], bool):
            return "generateAudio must be a boolean"
        duration = parameters.get("durationSeconds", 8)
        if duration not in (4, 6, 8) or isinstance(duration, bool):
            return f"durationSeconds {duration!r} is out of bounds (4, 6, 8)"
        if parameters.get("aspectRatio", "16:9") not in ("16:9", "9:16"):
            return "aspectRatio must be 16:9 or 9:16"
        resolution = parameters.get("resolution", "720p")
        if resolution not in spec["resolutions"] or (resolution in ("1080p", "4k") and duration != 8):
            return f"resolution {resolution!r} is not supported with durationSeconds {duration} by {model}"
        if references:
            if len(references) > spec["references"]:
                return f"{model} takes at most {spec['references']} reference images"
            if any(str(ref.get("referenceType", "")).lower() != "asset" for ref in references):
                return "referenceType must be asset"
            if {"image", "lastFrame", "video"} & set(instance) or duration != 8:
                return "referenceImages take durationSeconds 8 and no image, lastFrame or video"
        if "video" in instance:
            if not spec["extend"]:
                return f"video extension is not supported by {model}"
            if {"image", "lastFrame"} & set(instance) or duration != 8 or resolution != "720p":
                return "video extension takes durationSeconds 8, resolution 720p and no image"
            problem = self._video_problem(instance["video"])
            if problem:
                return problem
        return None

    def _image_problem(self, image):
        if set(image) != {"bytesBase64Encoded", "mimeType"} or not image["mimeType"].startswith("image/"):
            return "image must be {bytesBase64Encoded, mimeType}; URIs are not supported by this model"
        try:
            base64.b64decode(image["bytesBase64Encoded"], validate=True)
        except (binascii.Error, ValueError):
            return "image.bytesBase64Encoded is not valid base64"
        return None

    def _video_problem(self, video):
        """The Gemini API extends a video it made: its file URI, from a finished operation."""
        match = FILE_URI.search(str(video.get("uri") or "")) if set(video) == {"uri"} else None
        task = self.tasks.get(match.group("op")) if match else None
        if task is None or not task.extra.get("done"):
            return "video.uri must be the URI of a video generated by Veo (a file of this project)"
        return None

    def operation(self, request, model, op):
        denied = self._denied(request)
        if denied:
            return denied
        task = self.known(op)
        if task is None:
            return rpc_error(404, "NOT_FOUND", f"Operation models/{model}/operations/{op} not found")
        state = self.state_for(task, ["running", "running", "done"])
        body = {"name": task.extra["name"]}
        if state == "running":
            body["done"] = False
            return Response(200, body)
        body["done"] = True
        if state == "error":
            body["error"] = {
                "code": 13,
                "message": "Video generation failed due to an internal error.",
                "status": "INTERNAL",
            }
        elif state == "filtered":
            body["response"] = {
                "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse",
                "generateVideoResponse": {
                    "raiMediaFilteredCount": 1,
                    "raiMediaFilteredReasons": ["The video was filtered because it may depict a celebrity."],
                },
            }
        elif state == "done":
            task.extra["done"] = True
            uri = f"{self.url}/v1beta/files/{op}:download?alt=media"
            body["response"] = {
                "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse",
                "generateVideoResponse": {"generatedSamples": [{"video": {"uri": uri}}]},
            }
        else:
            body["metadata"] = {"state": state}
            body["done"] = False
        return Response(200, body)

    def list_models(self, request):
        denied = self._denied(request)
        if denied:
            return denied
        return Response(200, {"models": [{"name": f"models/{name}"} for name in MODELS], "nextPageToken": ""})

    def download(self, request, file_id):
        denied = self._denied(request)
        if denied:
            return denied
        task = self.tasks.get(file_id)
        if task is None or not task.extra.get("done"):
            return rpc_error(404, "NOT_FOUND", "File not found")
        return Response(200, self.video_bytes, {"Content-Type": "video/mp4"})
