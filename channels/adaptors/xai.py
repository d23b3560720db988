"""xAI Grok Imagine video: a "deferred request". ``POST /v1/videos/generations`` (text, first frame or
reference images), ``POST /v1/videos/extensions`` (continue a video given by URL) or ``POST
/v1/videos/edits`` (edit a video given by URL, as the prompt says) answers ``{"request_id"}``;
``GET /v1/videos/{request_id}`` answers HTTP 200 with ``status`` pending, done, failed or expired.
Credentials: one xAI API key (Bearer), the chat API's.

xAI bills its own defaults (8 s at 480p) when ``duration`` and ``resolution`` are left out, so both
are always sent, as planned. A finished video whose ``video.respect_moderation`` is false comes back
``done`` without a URL: the task fails (content moderation) and the tenant pays nothing, though xAI
may bill the account. What xAI billed (``usage.cost_in_usd_ticks``) is returned in PollResult.state,
for the task's vendor state. The result URL (``vidgen.x.ai``) is temporary and fetched without
the key. xAI has no cancel, no task list and takes no id of ours: a create that timed out cannot be
found, so it fails at once and is released.

A clip to continue or edit may be one of the client's own Grok videos (the gateway resolves its id,
pins the request to the channel that made it and sets ``clip.source``): xAI is given its own result
URL of that video (temporary: an expired one is xAI's 4xx, released). The length xAI reported for it
(``duration`` in the vendor state) lets the input limits be checked before anything is held."""

from dataclasses import dataclass

from .. import http
from ..canonical import EDIT, EXTEND, IMAGE, REFERENCE, TEXT, RequestInvalid
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
    extends: bool = False  # POST /v1/videos/extensions and /v1/videos/edits take it


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
EXTENSION_INPUT = (2, 15)  # seconds of the video an extension continues
# An edit keeps its input's length (at most 8.7 s), resolution (at most 720p) and shape: held as 9 s at
# 720p, the most it can be, and captured on the video.duration xAI reports.
EDIT_INPUT_MAX = 8.7
EDIT_HELD_SECONDS = 9
PATHS = {"generation": "/videos/generations", "extension": "/videos/extensions", "edit": "/videos/edits"}
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
        modes = (TEXT, IMAGE, REFERENCE) + ((EXTEND, EDIT) if spec.extends else ())
        excludes = [("image", "reference_images")]
        if spec.extends:
            excludes += [("first_clip", "image"), ("first_clip", "reference_images"), ("first_clip", "video")]
            excludes += [("video", "image"), ("video", "reference_images")]
        inputs = media_inputs(
            reference_images=MAX_REFERENCES,
            first_clip=spec.extends,
            video=spec.extends,
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
        if request.video:
            return self._plan_edit(request, upstream_model)
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
        _keeps_input(request, "An extension")
        _clip_url(request.first_clip, "first_clip")
        low, high = EXTENSION_INPUT
        length = _source_seconds(request.first_clip)
        if length is not None and not low <= length <= high:
            raise RequestInvalid(
                f"xAI extends a video of {low}-{high} s; {request.first_clip.video_id} is {length:g} s",
                "first_clip",
                "invalid_source",
            )
        seconds = self.choose(request.seconds, EXTENSION_DURATIONS, "seconds", default=DEFAULT_EXTENSION_SECONDS)
        pinned = {"model": upstream_model, "duration": seconds, "resolution": None, "aspect_ratio": None}
        extra = split_pinned(request.extra, {**pinned, **dict.fromkeys(UNSETTABLE)})
        return Plan(seconds=seconds, resolution=f"{EXTENSION_RESOLUTION}p", extra=extra, derived={"kind": "extension"})

    def _plan_edit(self, request, upstream_model):
        """``POST /v1/videos/edits``: the output keeps the input's length (at most 8.7 s), resolution (at most
        720p) and shape, so nothing of it can be asked for; held as 9 s at 720p, captured on what xAI reports."""
        _keeps_input(request, "An edit", length=True)
        if not request.prompt:
            raise RequestInvalid(f"Editing a video with {upstream_model} needs a 'prompt' saying how", "prompt")
        _clip_url(request.video, "video")
        length = _source_seconds(request.video)
        if length is not None and length > EDIT_INPUT_MAX:
            raise RequestInvalid(
                f"xAI edits a video of at most {EDIT_INPUT_MAX:g} s; {request.video.video_id} is {length:g} s",
                "video",
                "invalid_source",
            )
        pinned = {"model": upstream_model, "duration": None, "resolution": None, "aspect_ratio": None}
        extra = split_pinned(request.extra, {**pinned, **dict.fromkeys(UNSETTABLE)})
        return Plan(
            seconds=EDIT_HELD_SECONDS, resolution=f"{EXTENSION_RESOLUTION}p", extra=extra, derived={"kind": "edit"}
        )

    # --- submit / poll ---------------------------------------------------------------

    def build_body(self, request, upstream_model, plan):
        body = {"model": upstream_model}
        if request.prompt:
            body["prompt"] = request.prompt
        kind = plan.derived.get("kind")
        if kind == "edit":
            body["video"] = {"url": request.video.url}  # xAI takes no duration: the input's is kept
        elif kind == "extension":
            body["duration"] = plan.seconds
            body["video"] = {"url": request.first_clip.url}
        else:
            body["duration"] = plan.seconds
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
        response = http.request(
            "POST",
            self._url(ctx, PATHS[kind]),
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
            # A generation or an edit reports what it made: the capture goes down to it.
            duration = float(video["duration"]) if _is_number(video.get("duration")) else None
            if duration is not None:
                state["duration"] = duration  # the input limits of a later extension or edit of it
            seconds = duration if kind != "extension" else None
            return PollResult(
                status=COMPLETED,
                vendor_status=raw,
                progress=100,
                result_url=url,
                seconds=seconds,
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


def _keeps_input(request, what, length=False):
    """An extension or an edit keeps its input's resolution and shape (an edit its ``length`` too)."""
    fields = [("seconds", request.seconds)] if length else []
    fields += [("size", request.size), ("resolution", request.resolution), ("aspect_ratio", request.aspect_ratio)]
    for name, value in fields:
        if value is not None:
            keeps = "length, resolution" if length else "resolution"
            raise RequestInvalid(
                f"{what} keeps the input video's {keeps} and shape; '{name}' cannot be set",
                name,
                "unsupported_parameter",
            )


def _clip_url(clip, param):
    """The URL xAI fetches a clip from: the client's, or xAI's own URL of the client's video it names."""
    if clip.url:
        return clip.url
    raise RequestInvalid(
        f"'{param}' names {clip.video_id}, for which xAI gave no video URL: it cannot be given to xAI",
        param,
        "invalid_source",
    )


def _source_seconds(clip):
    """The length xAI reported for the client's own video a clip names (None: not known)."""
    state = getattr(clip.source, "state", None) or {}
    return float(state["duration"]) if _is_number(state.get("duration")) else None


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
