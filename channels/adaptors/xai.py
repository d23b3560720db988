"""xAI Grok Imagine video: a "deferred request". ``POST /v1/videos/generations`` (text, first frame or
reference images) or ``POST /v1/videos/extensions`` (continue a video given by URL) answers
``{"request_id"}``; ``GET /v1/videos/{request_id}`` answers HTTP 200 with ``status`` pending, done,
failed or expired. Credentials: one xAI API key (Bearer), the chat API's.

xAI bills its own defaults (8 s at 480p) when ``duration`` and ``resolution`` are left out, so both
are always sent, as planned. A finished video whose ``video.respect_moderation`` is false comes back
``done`` without a URL: the task fails (content moderation) and the tenant pays nothing, though xAI
may bill the account. What xAI billed (``usage.cost_in_usd_ticks``) is returned in PollResult.state,
for the task's vendor state. The result URL (``vidgen.x.ai``) is temporary and fetched without
the key. xAI has no cancel, no task list and takes no id of ours: a create that timed out cannot be
found, so it fails at once and is released."""

from dataclasses import dataclass

from .. import http
from ..canonical import EXTEND, IMAGE, REFERENCE, TEXT, RequestInvalid
from .base import (
    COMPLETED,
    FAILED,
    IN_PROGRESS,
    Adaptor,
    Plan,
    PollResult,
    Submission,
    VendorAuthFailed,
    VendorError,
    VendorTaskMissing,
    VendorUnavailable,
    declare_capabilities,
    media_inputs,
    split_pinned,
)
from .common import requested_ratio


@dataclass(frozen=True)
class GrokModel:
    resolutions: tuple = ("480p", "720p")
    text_only: tuple = ()  # resolutions offered for text-to-video only (1.5: native 1080p)
    extends: bool = False  # POST /v1/videos/extensions takes it


MODELS = {
    "grok-imagine-video": GrokModel(extends=True),
    "grok-imagine-video-1.5": GrokModel(resolutions=("480p", "720p", "1080p"), text_only=("1080p",)),
}
# A model the catalogue does not know (grok-imagine-video-1.5-lite, say): the rules every Grok Imagine
# model shares; xAI validates the rest.
OTHER = GrokModel()
DURATIONS = tuple(range(1, 16))  # seconds, generation
REFERENCE_DURATIONS = tuple(range(1, 11))  # with reference images
EXTENSION_DURATIONS = tuple(range(2, 11))  # seconds added to the input video
DEFAULT_SECONDS = 8  # xAI's own default, sent explicitly
DEFAULT_EXTENSION_SECONDS = 6
DEFAULT_RESOLUTION = "480p"
EXTENSION_RESOLUTION = 720  # an extension keeps its input's resolution, at most 720p: billed at 720p
MAX_REFERENCES = 7
ASPECT_RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4", "3:2", "2:3")
# Body fields only plan() decides (or that would take the video away from us), besides the billed ones.
UNSETTABLE = ("image", "reference_images", "video", "output", "storage_options", "n")
# xAI answers a wrong key with HTTP 400 {"code": "Client specified an invalid argument", "error": "Incorrect
# API key provided: ..."}, and a team out of credits with 403: matched on the message.
AUTH_HINTS = ("incorrect api key", "invalid api key", "no api key", "missing api key", "api key is invalid")
CREDIT_HINTS = ("credits", "spending limit")
MODERATION_HINTS = ("moderation", "content policy", "usage guidelines", "safety", "violat")


class XAIGrokImagine(Adaptor):
    vendor = "xai"
    label = "xAI Grok Imagine"
    default_base_url = "https://api.x.ai"
    known_models = tuple(MODELS)
    poll_interval = 10

    def _url(self, ctx, path):
        base = ctx.base_url.rstrip("/").removesuffix("/v1")
        return f"{base}/v1{path}"

    def _headers(self, ctx):
        return {"Authorization": f"Bearer {ctx.credentials}"}

    # --- plan ------------------------------------------------------------------------

    def capabilities(self, upstream_model):
        spec = MODELS.get(upstream_model, OTHER)
        modes = (TEXT, IMAGE, REFERENCE) + ((EXTEND,) if spec.extends else ())
        excludes = [("image", "reference_images")]
        if spec.extends:
            excludes += [("first_clip", "image"), ("first_clip", "reference_images")]
        inputs = media_inputs(
            reference_images=MAX_REFERENCES,
            first_clip=spec.extends,
            generate_audio=(True,),  # Grok Imagine videos come with sound; it is not a parameter
            excludes=excludes,
        )
        return declare_capabilities(
            modes, DURATIONS, spec.resolutions, aspect_ratios=ASPECT_RATIOS, audio=True, inputs=inputs
        )

    def plan(self, request, upstream_model):
        spec = MODELS.get(upstream_model, OTHER)
        for name in ("seed", "negative_prompt", "fps"):
            if getattr(request, name) is not None:
                raise RequestInvalid(f"Grok Imagine takes no '{name}'", name, "unsupported_parameter")
        if request.last_frame:
            raise RequestInvalid("Grok Imagine takes a first frame only, not a 'last_frame'", "last_frame")
        if request.first_clip:
            return self._plan_extension(request, upstream_model)
        if not request.prompt and not request.image:
            raise RequestInvalid(f"{upstream_model} needs a 'prompt' without a first frame", "prompt")
        references = request.reference_images
        if len(references) > MAX_REFERENCES:
            raise RequestInvalid(
                f"Grok Imagine takes at most {MAX_REFERENCES} 'reference_images'", "reference_images", "too_many_inputs"
            )
        durations = REFERENCE_DURATIONS if references else DURATIONS
        seconds = request.seconds if request.seconds is not None else DEFAULT_SECONDS
        if seconds not in durations:
            shown = f"{durations[0]}-{durations[-1]}"
            with_refs = " with 'reference_images'" if references else ""
            raise RequestInvalid(
                f"'seconds' of {upstream_model} must be {shown}{with_refs}; got {seconds!r}",
                "seconds",
                "invalid_seconds",
            )
        param = "size" if request.width and request.height else "resolution"
        resolution = self.choose(request.resolution, spec.resolutions, param, default=DEFAULT_RESOLUTION)
        if resolution in spec.text_only and request.mode != TEXT:
            raise RequestInvalid(
                f"{resolution} of {upstream_model} is for text-to-video only (no 'image' or 'reference_images')",
                param,
                f"invalid_{param}",
            )
        ratio = requested_ratio(request, ASPECT_RATIOS)
        if request.image:
            ratio = None  # the output follows the image
        pinned = {"model": upstream_model, "duration": seconds, "resolution": resolution, **dict.fromkeys(UNSETTABLE)}
        if ratio:
            pinned["aspect_ratio"] = ratio
        extra = split_pinned(request.extra, pinned)
        return Plan(
            seconds=seconds, resolution=resolution, aspect_ratio=ratio, extra=extra, derived={"kind": "generation"}
        )

    def _plan_extension(self, request, upstream_model):
        """``POST /v1/videos/extensions``: ``seconds`` is the length added (2-10 s), billed at 720p, the
        most the output can be (it keeps the input video's resolution and shape)."""
        for name, value in (
            ("size", request.size),
            ("resolution", request.resolution),
            ("aspect_ratio", request.aspect_ratio),
        ):
            if value:
                raise RequestInvalid(
                    f"An extension keeps the input video's resolution and shape; '{name}' cannot be set",
                    name,
                    "unsupported_parameter",
                )
        seconds = self.choose(request.seconds, EXTENSION_DURATIONS, "seconds", default=DEFAULT_EXTENSION_SECONDS)
        pinned = {"model": upstream_model, "duration": seconds, "resolution": None, "aspect_ratio": None}
        extra = split_pinned(request.extra, {**pinned, **dict.fromkeys(UNSETTABLE)})
        return Plan(seconds=seconds, resolution=f"{EXTENSION_RESOLUTION}p", extra=extra, derived={"kind": "extension"})

    # --- submit / poll ---------------------------------------------------------------

    def build_body(self, request, upstream_model, plan):
        body = {"model": upstream_model}
        if request.prompt:
            body["prompt"] = request.prompt
        body["duration"] = plan.seconds
        if plan.derived.get("kind") == "extension":
            body["video"] = {"url": request.first_clip.url}
        else:
            body["resolution"] = plan.resolution
            if plan.aspect_ratio:
                body["aspect_ratio"] = plan.aspect_ratio
            if request.image:
                body["image"] = {"url": _image_url(request.image)}
            if request.reference_images:
                body["reference_images"] = [{"url": _image_url(image)} for image in request.reference_images]
        body.update(plan.extra)  # the billed and mode-deciding fields were checked in plan()
        return body

    def submit(self, ctx, request, upstream_model, plan):
        kind = plan.derived.get("kind", "generation")
        path = "/videos/extensions" if kind == "extension" else "/videos/generations"
        response = http.request(
            "POST",
            self._url(ctx, path),
            headers=self._headers(ctx),
            json=self.build_body(request, upstream_model, plan),
            read_timeout=ctx.read_timeout,
        )
        data = self._checked(response)
        request_id = data.get("request_id")
        if not isinstance(request_id, str) or not request_id:
            raise VendorError("xAI accepted the request but returned no request_id")
        return Submission(vendor_task_id=request_id, vendor_status="pending", state={"kind": kind})

    def poll(self, ctx, ref):
        response = http.request("GET", self._url(ctx, f"/videos/{ref.vendor_task_id}"), headers=self._headers(ctx))
        if response.status_code == 404 and _error_text(response) is not None:  # xAI's own "not found"
            raise VendorTaskMissing(f"xAI has no video request {ref.vendor_task_id}", http_status=404)
        if response.status_code == 202 and not response.content:  # still rendering, no body yet
            return PollResult(status=IN_PROGRESS, vendor_status="pending")
        return self._result(self._checked(response), ref.state.get("kind", "generation"))

    def _result(self, data, kind):
        raw = str(data.get("status", ""))
        video = data.get("video") if isinstance(data.get("video"), dict) else {}
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        state = {"cost_in_usd_ticks": usage["cost_in_usd_ticks"]} if "cost_in_usd_ticks" in usage else {}
        if raw == "done":
            url = video.get("url")
            if video.get("respect_moderation") is False:
                return PollResult(
                    status=FAILED,
                    vendor_status=raw,
                    error_code="respect_moderation",
                    error_message="xAI's moderation withheld the video",
                    moderation=True,
                    state=state,
                )
            if not isinstance(url, str) or not url:
                return PollResult(
                    status=FAILED,
                    vendor_status=raw,
                    error_code="no_video",
                    error_message="xAI reports the video done without a URL",
                    state=state,
                )
            # An extension reports the whole video (input + added part); the added part is what was billed.
            seconds = video.get("duration") if kind == "generation" and _is_number(video.get("duration")) else None
            return PollResult(
                status=COMPLETED,
                vendor_status=raw,
                progress=100,
                result_url=url,
                seconds=float(seconds) if seconds is not None else None,
                state=state,
            )
        if raw == "failed":
            error = data.get("error") if isinstance(data.get("error"), dict) else {}
            code = str(error.get("code") or "failed")
            message = str(error.get("message") or "xAI reports the video failed")
            return PollResult(
                status=FAILED,
                vendor_status=raw,
                error_code=code,
                error_message=message,
                moderation=_is_moderation(f"{code} {message}"),
                state=state,
            )
        if raw == "expired":
            return PollResult(
                status=FAILED,
                vendor_status=raw,
                error_code="expired",
                error_message="xAI expired the request before the video was made",
                state=state,
            )
        # "pending", and anything xAI adds later ("queued", "processing" on some copies of its docs).
        progress = data.get("progress")
        return PollResult(
            status=IN_PROGRESS,
            vendor_status=raw or "pending",
            progress=int(progress) if _is_number(progress) else None,
            state=state,
        )

    def check(self, ctx):
        response = http.request("GET", self._url(ctx, "/models"), headers=self._headers(ctx))
        self._checked(response)
        return "The key was accepted: listing models worked."

    def _checked(self, response):
        data = self.json_body(response) if response.content else {}
        if not isinstance(data, dict):
            raise VendorError("xAI answered with an unexpected body", http_status=response.status_code)
        if response.status_code < 300:
            return data
        message = _error_text(response) or f"xAI answered HTTP {response.status_code}"
        code = data.get("code") if isinstance(data.get("code"), str) else None
        if isinstance(data.get("error"), dict):
            code = data["error"].get("code") or data["error"].get("type") or code
        status, lowered = response.status_code, message.lower()
        if status < 500 and any(hint in lowered for hint in AUTH_HINTS):  # xAI: 400 "Incorrect API key provided"
            raise VendorAuthFailed(message, code=code, http_status=status)
        if status < 500 and any(hint in lowered for hint in CREDIT_HINTS):  # 403: the team has no credits left
            raise VendorUnavailable(message, code=code, http_status=status)
        raise self.classify_http_error(
            response, message, code=code, moderation=status < 500 and _is_moderation(message)
        )


def _image_url(image):
    """xAI takes an image as an https URL or a data URI."""
    return image.url or image.data_uri


def _error_text(response):
    """The message of an answer in xAI's error shape, ``{"code": "...", "error": "..."}`` (or the
    OpenAI-style ``{"error": {"message": ...}}``); None for anything else (a proxy's page)."""
    try:
        data = response.json()
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    error = data.get("error")
    if isinstance(error, dict):
        return str(error.get("message") or error.get("code") or "")
    if isinstance(error, str):
        return error
    return None


def _is_moderation(text):
    text = text.lower()
    return any(hint in text for hint in MODERATION_HINTS)


def _is_number(value):
    if isinstance(value, bool):
        return False
    try:
        float(value)
        return True
    except (TypeError, ValueError):
        return False


adaptor = XAIGrokImagine()
