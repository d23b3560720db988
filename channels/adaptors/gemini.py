"""Google Veo through the Gemini API: ``POST /v1beta/models/{model}:predictLongRunning`` returns a
long-running operation, polled at ``GET /v1beta/{operation name}``; the finished video's URI needs
the key to download. Credentials: one API key, sent as ``x-goog-api-key``.

Veo takes image bytes only, so image URLs given by the client are downloaded (SSRF-guarded) at
submit time.

The Gemini API refuses ``generateAudio``, ``seed``, ``fps`` and the Vertex-only parameters (Google's
SDK raises on them): Veo 3 always makes sound there, and a request asking for no sound, a seed or
another frame rate is refused before the hold rather than sent or dropped. Vertex AI, which takes
them, is its own adaptor (channels/adaptors/vertex.py) on the same model table.

Extension (canonical ``first_clip``) continues a video Veo made: the Gemini API takes it as the
``uri`` of the vendor's own file (``…/v1beta/files/{id}``), given by the client or, when the client
names one of its own Veo videos (``video_…``, resolved by the gateway to ``clip.source``), that video's
result URI. Any other URL is refused.
"""

import logging
import re
from dataclasses import dataclass

from .. import http
from ..canonical import EXTEND, FIRST_LAST, IMAGE, REFERENCE, TEXT, RequestInvalid
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
    media_inputs,
    split_pinned,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VeoModel:
    durations: tuple = (4, 6, 8)
    resolutions: tuple = ("720p", "1080p")
    last_frame: bool = False
    references: int = 0  # asset reference images (8 s, no frames)
    extend: bool = False  # continues a Veo video (first_clip; 8 s at 720p)
    wide_1080p_only: bool = False  # Veo 3.0 renders 1080p at 16:9 only
    send_resolution: bool = True
    audio: bool = True  # Veo 3 makes the sound with the picture


VEO_30 = VeoModel(wide_1080p_only=True)
VEO_31 = VeoModel(resolutions=("720p", "1080p", "4k"), last_frame=True, references=3, extend=True)
MODELS = {
    "veo-3.0-generate-001": VEO_30,
    "veo-3.0-fast-generate-001": VEO_30,
    "veo-3.1-generate-preview": VEO_31,
    "veo-3.1-fast-generate-preview": VEO_31,
    "veo-3.1-generate-001": VEO_31,
    # [M]: text and image to video only, 720p/1080p (one gateway's model page); Google checks the rest.
    "veo-3.1-fast-generate-001": VeoModel(),
    "veo-3.1-lite-generate-001": VeoModel(),  # [M]: text and one image; no 4K
    "veo-2.0-generate-001": VeoModel(durations=(5, 6, 7, 8), resolutions=("720p",), send_resolution=False, audio=False),
}
ASPECT_RATIOS = ("16:9", "9:16")
EIGHT_SECONDS_ONLY = ("1080p", "4k")  # and reference images, and extension
EXTEND_RESOLUTION = "720p"
FPS = 24
REFERENCE_TAGS = ("asset",)  # Veo 3.1's referenceType; STYLE is Veo 2's [H], on 3.1 unverified: refused
# Keys metadata may not set, besides the billed ones: Veo would make more than one video.
UNSETTABLE = ("sampleCount", "numberOfVideos")
# What Google's SDK refuses to send to the Gemini API (Vertex only): refused here, never sent.
VERTEX_ONLY = (
    "generateAudio",
    "seed",
    "fps",
    "storageUri",
    "pubsubTopic",
    "compressionQuality",
    "resizeMode",
    "labels",
    "mask",
)
GEMINI_FILE = re.compile(r"^https?://[^/]+/v1beta/files/[A-Za-z0-9_-]+(:download)?(\?alt=media)?$")
AUTH_STATUSES = {"UNAUTHENTICATED", "PERMISSION_DENIED"}
UNAVAILABLE_STATUSES = {"RESOURCE_EXHAUSTED", "UNAVAILABLE", "INTERNAL", "FAILED_PRECONDITION", "DEADLINE_EXCEEDED"}
MODERATION_HINTS = ("usage guidelines", "safety", "sensitive", "responsible ai", "prohibited")


def spec_for(upstream_model):
    return MODELS.get(upstream_model, VEO_31)


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

    # What this backend takes beyond the Gemini API (Vertex: True).
    takes_vertex_parameters = False

    # --- plan ------------------------------------------------------------------------

    def capabilities(self, upstream_model):
        spec = spec_for(upstream_model)
        modes = [TEXT, IMAGE]
        modes += [FIRST_LAST] if spec.last_frame else []
        modes += [REFERENCE] if spec.references else []
        modes += [EXTEND] if spec.extend else []
        if not spec.audio:
            switch = ()
        else:
            switch = (True, False) if self.takes_vertex_parameters else (True,)
        frames = ("image", "last_frame")
        excludes = [(frame, "reference_images") for frame in frames]
        if spec.extend:
            excludes += [("first_clip", other) for other in (*frames, "reference_images")]
        inputs = media_inputs(
            reference_images=spec.references,
            image_tags=REFERENCE_TAGS if spec.references else (),
            first_clip=spec.extend,
            generate_audio=switch,
            excludes=excludes,
        )
        return declare_capabilities(
            modes, spec.durations, spec.resolutions, aspect_ratios=ASPECT_RATIOS, audio=spec.audio, inputs=inputs
        )

    def plan(self, request, upstream_model):
        spec = spec_for(upstream_model)
        seconds = self.choose(request.seconds, spec.durations, "seconds", default=8)
        param = "size" if request.width and request.height else "aspect_ratio"
        ratio = self.choose(request.aspect_ratio, ASPECT_RATIOS, param, default="16:9")
        wanted = "4k" if request.resolution == "2160p" else request.resolution
        resolution = self.choose(wanted, spec.resolutions, "size" if request.size else "resolution", default="720p")
        if resolution in EIGHT_SECONDS_ONLY and seconds != 8:
            raise RequestInvalid(f"'resolution' {resolution} of {upstream_model} needs 'seconds' 8", "seconds")
        if resolution == "1080p" and spec.wide_1080p_only and ratio != "16:9":
            raise RequestInvalid(f"'resolution' 1080p of {upstream_model} is 16:9 only", "resolution")
        if request.last_frame and not (spec.last_frame and request.image):
            raise RequestInvalid(
                f"'last_frame' needs an 'image' and a model that takes one (Veo 3.1), not {upstream_model}",
                "last_frame",
            )
        if request.reference_images:
            if not spec.references:
                raise RequestInvalid(f"{upstream_model} takes no 'reference_images' (Veo 3.1 does)", "reference_images")
            if len(request.reference_images) > spec.references or seconds != 8 or request.image:
                raise RequestInvalid(
                    f"'reference_images' take up to {spec.references} images, 'seconds' 8 and no first frame",
                    "reference_images",
                )
        derived = {}
        if request.first_clip:
            derived["video"] = self._clip(request.first_clip, upstream_model)
            if seconds != 8 or resolution != EXTEND_RESOLUTION:
                raise RequestInvalid(
                    f"Extending a video with {upstream_model} takes 'seconds' 8 at {EXTEND_RESOLUTION}",
                    "seconds" if seconds != 8 else "resolution",
                )
        if request.fps not in (None, FPS):
            raise RequestInvalid(f"Veo renders {FPS} fps only", "fps", "invalid_fps")
        if request.seed is not None and not self.takes_vertex_parameters:
            raise RequestInvalid("The Gemini API takes no 'seed' (Vertex AI does)", "seed", "unsupported_parameter")
        pinned = {
            "model": upstream_model,
            "durationSeconds": seconds,
            "resolution": resolution if spec.send_resolution else None,
            "aspectRatio": ratio,
            **dict.fromkeys(UNSETTABLE),
        }
        if self.takes_vertex_parameters:
            # Where the video is written and who hears of it are the channel's, not the client's.
            pinned.update(storageUri=None, pubsubTopic=None)
            if spec.audio:
                pinned["generateAudio"] = derived["generate_audio"] = request.generate_audio is not False
        # Metadata may say negative_prompt or negativePrompt; the API speaks camelCase.
        extra = {_camel(key): value for key, value in request.extra.items()}
        if not self.takes_vertex_parameters:
            for key in VERTEX_ONLY:
                if key in extra:
                    raise RequestInvalid(
                        f"The Gemini API does not take '{key}' (Vertex AI does)",
                        f"metadata.{key}",
                        "unsupported_parameter",
                    )
        extra = split_pinned(extra, pinned)
        return Plan(seconds=seconds, resolution=resolution, aspect_ratio=ratio, extra=extra, derived=derived)

    def _clip(self, clip, upstream_model):
        """The ``instances[0].video`` of an extension: the Gemini API's own file of a Veo video."""
        if clip.source is not None:  # one of the client's Veo videos: its result is that file
            return {"uri": self._source_url(clip)}
        if not GEMINI_FILE.match(clip.url):
            raise RequestInvalid(
                f"{upstream_model} extends only a video Veo made, given as its Gemini file URI "
                "(https://generativelanguage.googleapis.com/v1beta/files/…) or as the id of one of your Veo "
                "videos (video_…); other URLs cannot be extended",
                "first_clip",
                "unsupported_input",
            )
        return {"uri": clip.url}

    def _source_url(self, clip):
        """The result URL of the client's own video a clip names, which Veo is given back."""
        if not clip.url:
            raise RequestInvalid(
                f"'first_clip' names {clip.video_id}, for which {self.label} gave no video URI: it cannot be extended",
                "first_clip",
                "invalid_source",
            )
        return clip.url

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
        spec = spec_for(upstream_model)
        instance = {"prompt": request.prompt}
        if request.image:
            instance["image"] = _image_bytes(request.image, "image")
        if request.last_frame:
            instance["lastFrame"] = _image_bytes(request.last_frame, "last_frame")
        if request.reference_images:
            instance["referenceImages"] = [
                {"image": _image_bytes(image, f"reference_images[{index}]"), "referenceType": image.tag or "asset"}
                for index, image in enumerate(request.reference_images)
            ]
        if "video" in plan.derived:
            instance["video"] = plan.derived["video"]
        parameters = {"aspectRatio": plan.aspect_ratio, "durationSeconds": plan.seconds}
        if spec.send_resolution:
            parameters["resolution"] = plan.resolution
        if request.negative_prompt:
            parameters["negativePrompt"] = request.negative_prompt
        if self.takes_vertex_parameters:
            if request.seed is not None:
                parameters["seed"] = request.seed
            if "generate_audio" in plan.derived:
                parameters["generateAudio"] = plan.derived["generate_audio"]
        parameters.update(plan.extra)  # the billed fields were checked in plan()
        return {"instances": [instance], "parameters": parameters}

    def poll(self, ctx, ref):
        name = ref.state.get("operation") or ref.vendor_task_id
        response = self._fetch_operation(ctx, name)
        if response.status_code == 404 and _rpc_status(response) == "NOT_FOUND":
            raise VendorTaskMissing(f"{self.label} has no operation {name}", code="NOT_FOUND", http_status=404)
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
        return self._finished(ctx, data.get("response"))

    def _fetch_operation(self, ctx, name):
        return http.request("GET", self._url(ctx, name), headers=self._headers(ctx))

    def _video_url(self, ctx, result):
        """The finished video's URL in an operation's response (Gemini: a Files API URI)."""
        samples = result.get("generatedSamples") or result.get("generatedVideos") or []
        return samples[0].get("video", {}).get("uri") if samples and isinstance(samples[0], dict) else None

    def _finished(self, ctx, response):
        if not isinstance(response, dict):
            raise VendorError("Veo reports the operation done without a response or an error")
        result = response.get("generateVideoResponse", response)
        uri = self._video_url(ctx, result)
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
