"""Google Veo through the Gemini API: ``POST /v1beta/models/{model}:predictLongRunning`` returns a
long-running operation, polled at ``GET /v1beta/{operation name}``; the finished video's URI needs
the key to download. Credentials: one API key, sent as ``x-goog-api-key``.

Veo takes image bytes only, so image URLs given by the client are downloaded (SSRF-guarded) at
submit time."""

import logging
import re
from dataclasses import dataclass

from .. import http
from ..canonical import FIRST_LAST, IMAGE, REFERENCE, TEXT, RequestInvalid
from ..fetch import fetch_image
from .base import (
    COMPLETED,
    FAILED,
    IN_PROGRESS,
    Adaptor,
    ContentSource,
    Plan,
    PollResult,
    Submission,
    VendorAuthFailed,
    VendorError,
    VendorRejected,
    VendorTaskMissing,
    VendorUnavailable,
    declare_capabilities,
    split_pinned,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VeoModel:
    durations: tuple = (4, 6, 8)
    resolutions: tuple = ("720p", "1080p")
    last_frame: bool = False
    references: bool = False
    wide_1080p_only: bool = False  # Veo 3.0 renders 1080p at 16:9 only
    send_resolution: bool = True


VEO_30 = VeoModel(wide_1080p_only=True)
VEO_31 = VeoModel(last_frame=True, references=True)
MODELS = {
    "veo-3.0-generate-001": VEO_30,
    "veo-3.0-fast-generate-001": VEO_30,
    "veo-3.1-generate-preview": VEO_31,
    "veo-3.1-fast-generate-preview": VEO_31,
    "veo-2.0-generate-001": VeoModel(durations=(5, 6, 7, 8), resolutions=("720p",), send_resolution=False),
}
ASPECT_RATIOS = ("16:9", "9:16")
MAX_REFERENCES = 3
# Keys metadata may not set, besides the billed ones: Veo would make more than one video.
UNSETTABLE = ("sampleCount", "numberOfVideos")
AUTH_STATUSES = {"UNAUTHENTICATED", "PERMISSION_DENIED"}
UNAVAILABLE_STATUSES = {"RESOURCE_EXHAUSTED", "UNAVAILABLE", "INTERNAL", "FAILED_PRECONDITION", "DEADLINE_EXCEEDED"}
MODERATION_HINTS = ("usage guidelines", "safety", "sensitive", "responsible ai", "prohibited")


class GeminiVeo(Adaptor):
    vendor = "gemini"
    label = "Google Veo (Gemini API)"
    default_base_url = "https://generativelanguage.googleapis.com"
    known_models = tuple(MODELS)
    poll_interval = 10

    def parse_credentials(self, raw):
        key = super().parse_credentials(raw)
        if key.startswith("{"):
            raise ValueError("A Gemini API credential is one API key (AIza...); service-account JSON is for Vertex")
        return key

    def _url(self, ctx, path):
        base = ctx.base_url.rstrip("/").removesuffix("/v1beta")
        return f"{base}/v1beta/{path}"

    def _headers(self, ctx):
        return {"x-goog-api-key": ctx.credentials}

    # --- plan ------------------------------------------------------------------------

    def capabilities(self, upstream_model):
        spec = MODELS.get(upstream_model, VEO_31)
        modes = (TEXT, IMAGE) + ((FIRST_LAST,) if spec.last_frame else ()) + ((REFERENCE,) if spec.references else ())
        audio = not upstream_model.startswith("veo-2")  # Veo 3 makes the sound with the picture
        return declare_capabilities(modes, spec.durations, spec.resolutions, aspect_ratios=ASPECT_RATIOS, audio=audio)

    def plan(self, request, upstream_model):
        spec = MODELS.get(upstream_model, VEO_31)
        seconds = self.choose(request.seconds, spec.durations, "seconds", default=8)
        param = "size" if request.width and request.height else "aspect_ratio"
        ratio = self.choose(request.aspect_ratio, ASPECT_RATIOS, param, default="16:9")
        resolution = self.choose(request.resolution, spec.resolutions, "resolution", default="720p")
        if resolution == "1080p" and seconds != 8:
            raise RequestInvalid(f"'resolution' 1080p of {upstream_model} needs 'seconds' 8", "seconds")
        if resolution == "1080p" and spec.wide_1080p_only and ratio != "16:9":
            raise RequestInvalid(f"'resolution' 1080p of {upstream_model} is 16:9 only", "resolution")
        if request.last_frame and not (spec.last_frame and request.image):
            raise RequestInvalid(
                f"'last_frame' needs an 'image' and a Veo 3.1 model, not {upstream_model}", "last_frame"
            )
        if request.reference_images:
            if not spec.references:
                raise RequestInvalid(f"{upstream_model} takes no 'reference_images' (Veo 3.1 does)", "reference_images")
            if len(request.reference_images) > MAX_REFERENCES or seconds != 8 or request.image:
                raise RequestInvalid(
                    f"'reference_images' take up to {MAX_REFERENCES} images, 'seconds' 8 and no first frame",
                    "reference_images",
                )
        pinned = {
            "model": upstream_model,
            "durationSeconds": seconds,
            "resolution": resolution if spec.send_resolution else None,
            "aspectRatio": ratio,
            **dict.fromkeys(UNSETTABLE),
        }
        # Metadata may say negative_prompt or negativePrompt; the API speaks camelCase.
        extra = split_pinned({_camel(key): value for key, value in request.extra.items()}, pinned)
        return Plan(seconds=seconds, resolution=resolution, aspect_ratio=ratio, extra=extra)

    # --- submit / poll ---------------------------------------------------------------

    def submit(self, ctx, request, upstream_model, plan):
        body = self.build_body(request, upstream_model, plan)
        response = http.request(
            "POST",
            self._url(ctx, f"models/{upstream_model}:predictLongRunning"),
            headers=self._headers(ctx),
            json=body,
            read_timeout=ctx.read_timeout,
        )
        data = self._checked(response)
        name = data.get("name")
        if not isinstance(name, str) or not name:
            raise VendorError("Gemini accepted the request but returned no operation name")
        return Submission(vendor_task_id=name, state={"operation": name})

    def build_body(self, request, upstream_model, plan):
        spec = MODELS.get(upstream_model, VEO_31)
        instance = {"prompt": request.prompt}
        if request.image:
            instance["image"] = _image_bytes(request.image, "image")
        if request.last_frame:
            instance["lastFrame"] = _image_bytes(request.last_frame, "last_frame")
        if request.reference_images:
            instance["referenceImages"] = [
                {"image": _image_bytes(image, f"reference_images[{index}]"), "referenceType": "asset"}
                for index, image in enumerate(request.reference_images)
            ]
        parameters = {"aspectRatio": plan.aspect_ratio, "durationSeconds": plan.seconds}
        if spec.send_resolution:
            parameters["resolution"] = plan.resolution
        if request.negative_prompt:
            parameters["negativePrompt"] = request.negative_prompt
        if request.seed is not None:
            parameters["seed"] = request.seed
        parameters.update(plan.extra)  # the billed fields were checked in plan()
        return {"instances": [instance], "parameters": parameters}

    def poll(self, ctx, ref):
        name = ref.state.get("operation") or ref.vendor_task_id
        response = http.request("GET", self._url(ctx, name), headers=self._headers(ctx))
        if response.status_code == 404 and _rpc_status(response) == "NOT_FOUND":
            raise VendorTaskMissing(f"Gemini has no operation {name}", code="NOT_FOUND", http_status=404)
        data = self._checked(response)
        if not data.get("done"):
            return PollResult(status=IN_PROGRESS, vendor_status="running")
        if isinstance(data.get("error"), dict):
            error = data["error"]
            message = error.get("message") or "Veo reports the operation failed"
            return PollResult(
                status=FAILED,
                vendor_status="error",
                error_code=str(error.get("status") or error.get("code") or "error"),
                error_message=message,
                moderation=_is_moderation(message),
            )
        return self._finished(data.get("response"))

    def _finished(self, response):
        if not isinstance(response, dict):
            raise VendorError("Veo reports the operation done without a response or an error")
        result = response.get("generateVideoResponse", response)
        samples = result.get("generatedSamples") or result.get("generatedVideos") or []
        uri = samples[0].get("video", {}).get("uri") if samples and isinstance(samples[0], dict) else None
        if uri:
            return PollResult(status=COMPLETED, vendor_status="done", result_url=uri)
        filtered = result.get("raiMediaFilteredCount") or 0
        if filtered:
            reasons = "; ".join(str(r) for r in result.get("raiMediaFilteredReasons") or []) or "no reason given"
            return PollResult(
                status=FAILED,
                vendor_status="filtered",
                error_code="rai_media_filtered",
                error_message=f"Veo's safety filter removed the video: {reasons}",
                moderation=True,
            )
        return PollResult(
            status=FAILED, vendor_status="done", error_code="no_video", error_message="Veo finished without a video"
        )

    def content(self, ctx, ref):
        return ContentSource(url=ref.result_url, headers=self._headers(ctx))

    def check(self, ctx):
        response = http.request("GET", self._url(ctx, "models?pageSize=1"), headers=self._headers(ctx))
        self._checked(response)
        return "The key was accepted: listing models worked."

    def _checked(self, response):
        data = self.json_body(response) if response.content else {}
        if not isinstance(data, dict):
            raise VendorError("Gemini answered with an unexpected body", http_status=response.status_code)
        if response.status_code < 300:
            return data
        error = data.get("error") if isinstance(data.get("error"), dict) else {}
        status = str(error.get("status") or "")
        message = error.get("message") or f"Gemini answered HTTP {response.status_code}"
        reasons = {d.get("reason") for d in error.get("details") or [] if isinstance(d, dict)}
        code = status or None
        if status in AUTH_STATUSES or "API_KEY_INVALID" in reasons or response.status_code in (401, 403):
            raise VendorAuthFailed(message, code=code, http_status=response.status_code)
        if status in UNAVAILABLE_STATUSES or response.status_code == 429 or response.status_code >= 500:
            raise VendorUnavailable(message, code=code, http_status=response.status_code)
        raise VendorRejected(message, code=code, http_status=response.status_code, moderation=_is_moderation(message))


def _rpc_status(response):
    """The ``error.status`` of a Google RPC error body ("NOT_FOUND", ...), or ""."""
    try:
        return str(response.json()["error"]["status"])
    except (ValueError, KeyError, TypeError):
        return ""


def _image_bytes(image, param):
    """Veo wants inline bytes; a URL is downloaded through the SSRF guard."""
    if image.data is None:
        image = fetch_image(image.url, param)
    return {"bytesBase64Encoded": image.base64, "mimeType": image.mime_type}


def _camel(key):
    """Metadata may say negative_prompt or negativePrompt; the API speaks camelCase."""
    return re.sub(r"_([a-z])", lambda match: match.group(1).upper(), key)


def _is_moderation(message):
    text = message.lower()
    return any(hint in text for hint in MODERATION_HINTS)


adaptor = GeminiVeo()
