"""Alibaba DashScope (Bailian) Wan video: ``POST /services/aigc/video-generation/video-synthesis``
(t2v, i2v), ``POST /services/aigc/image2video/video-synthesis`` (kf2v first+last frame), then
``GET /tasks/{id}``. Credentials: one API key, sent as Bearer with ``X-DashScope-Async: enable``.

Cancel: ``POST /tasks/{id}/cancel``; only a PENDING task can be cancelled (it then reads
``CANCELED``), a started one is refused (400 ``UnsupportedOperation``)."""

import logging
from dataclasses import dataclass

from .. import http
from ..canonical import FIRST_LAST, IMAGE, TEXT, RequestInvalid, resolution_tier
from .base import (
    CANCELLED,
    COMPLETED,
    FAILED,
    IN_PROGRESS,
    QUEUED,
    Adaptor,
    CancelTooLate,
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

T2V, I2V, KF2V = "t2v", "i2v", "kf2v"
SIZE_TIERS = {
    "480p": ("832*480", "480*832", "624*624"),
    "720p": ("1280*720", "720*1280", "960*960", "1088*832", "832*1088"),
    "1080p": ("1920*1080", "1080*1920", "1440*1440", "1632*1248", "1248*1632"),
}
TIER_OF_SIZE = {size: tier for tier, sizes in SIZE_TIERS.items() for size in sizes}
RATIO_INDEX = {"16:9": 0, "9:16": 1, "1:1": 2, "4:3": 3, "3:4": 4}


@dataclass(frozen=True)
class WanModel:
    kind: str
    tiers: tuple  # billed tiers the model renders
    default: str  # default size "W*H" (t2v) or tier (i2v/kf2v)
    durations: tuple = (5,)
    audio: bool = False


MODELS = {
    "wan2.5-t2v-preview": WanModel(T2V, ("480p", "720p", "1080p"), "1920*1080", (5, 10), audio=True),
    "wan2.2-t2v-plus": WanModel(T2V, ("480p", "1080p"), "1920*1080"),
    "wanx2.1-t2v-turbo": WanModel(T2V, ("480p", "720p"), "1280*720"),
    "wanx2.1-t2v-plus": WanModel(T2V, ("720p",), "1280*720"),
    "wan2.5-i2v-preview": WanModel(I2V, ("480p", "720p", "1080p"), "1080p", (5, 10), audio=True),
    "wan2.2-i2v-flash": WanModel(I2V, ("480p", "720p", "1080p"), "720p"),
    "wan2.2-i2v-plus": WanModel(I2V, ("480p", "1080p"), "1080p"),
    "wanx2.1-i2v-plus": WanModel(I2V, ("720p",), "720p"),
    "wanx2.1-i2v-turbo": WanModel(I2V, ("480p", "720p"), "720p", (3, 4, 5)),
    "wan2.2-kf2v-flash": WanModel(KF2V, ("480p", "720p", "1080p"), "720p"),
    "wanx2.1-kf2v-plus": WanModel(KF2V, ("720p",), "720p"),
    "wan2.1-kf2v-plus": WanModel(KF2V, ("720p",), "720p"),
}
PATHS = {
    T2V: "/services/aigc/video-generation/video-synthesis",
    I2V: "/services/aigc/video-generation/video-synthesis",
    KF2V: "/services/aigc/image2video/video-synthesis",
}
STATUS = {
    "PENDING": QUEUED,
    "RUNNING": IN_PROGRESS,
    "SUSPENDED": IN_PROGRESS,
    "SUCCEEDED": COMPLETED,
    "FAILED": FAILED,
    "CANCELED": CANCELLED,
}
UNKNOWN = "UNKNOWN"  # the task does not exist (or expired after 24 h): VendorTaskMissing
# Extras that belong in ``input``; every other extra goes to ``parameters``. Images come from
# the canonical fields only (they decide the mode), so they are pinned like the billed fields.
IMAGE_KEYS = ("img_url", "first_frame_url", "last_frame_url")
INPUT_KEYS = ("audio_url", "template", "negative_prompt", *IMAGE_KEYS)
AUDIO_EXTRAS = ("audio_url", "audio")
MODERATION_CODES = {"DataInspectionFailed", "DataInspection", "IPInfringementSuspect"}


def model_spec(upstream_model):
    """The model's rules; a model we do not know gets a permissive spec and the vendor validates."""
    if upstream_model in MODELS:
        return MODELS[upstream_model]
    every = ("480p", "720p", "1080p")
    if "kf2v" in upstream_model:
        return WanModel(KF2V, every, "720p", (5, 10))
    if "i2v" in upstream_model:
        return WanModel(I2V, every, "720p", (5, 10), audio="wan2.5" in upstream_model)
    return WanModel(T2V, every, "1280*720", (5, 10), audio="wan2.5" in upstream_model)


class DashScopeWan(Adaptor):
    vendor = "dashscope"
    label = "Alibaba DashScope Wan"
    default_base_url = "https://dashscope.aliyuncs.com/api/v1"
    known_models = tuple(MODELS)
    poll_interval = 10
    supports_cancel = True

    def _url(self, ctx, path):
        base = ctx.base_url.rstrip("/")
        if not base.endswith("/api/v1"):
            base += "/api/v1"
        return base + path

    def _headers(self, ctx, create=False):
        headers = {"Authorization": f"Bearer {ctx.credentials}"}
        if create:
            headers["X-DashScope-Async"] = "enable"
        return headers

    # --- plan ------------------------------------------------------------------------

    def capabilities(self, upstream_model):
        spec = model_spec(upstream_model)
        mode = {T2V: TEXT, I2V: IMAGE, KF2V: FIRST_LAST}[spec.kind]
        sizes = [size.replace("*", "x") for tier in spec.tiers for size in SIZE_TIERS[tier]] if spec.kind == T2V else ()
        ratios = tuple(RATIO_INDEX) if spec.kind == T2V else ()
        return declare_capabilities(
            (mode,), spec.durations, spec.tiers, sizes=sizes, aspect_ratios=ratios, audio=spec.audio
        )

    def plan(self, request, upstream_model):
        spec = model_spec(upstream_model)
        default = 5 if 5 in spec.durations else spec.durations[0]
        seconds = self.choose(request.seconds, spec.durations, "seconds", default=default)
        self._check_images(request, spec, upstream_model)
        if not spec.audio and any(key in request.extra for key in AUDIO_EXTRAS):
            raise RequestInvalid(
                f"metadata.audio_url / metadata.audio are only supported by wan2.5 models, not {upstream_model}",
                "metadata.audio_url",
                "unsupported_audio",
            )
        width = height = None
        if spec.kind == T2V:
            size = self._t2v_size(request, spec, upstream_model)
            width, height = (int(part) for part in size.split("*"))
            tier = TIER_OF_SIZE[size] if size in TIER_OF_SIZE else resolution_tier(width, height)
        else:
            tier = self._tier(request, spec, upstream_model)
        pinned = {
            "model": upstream_model,
            "duration": seconds,
            "size": f"{width}*{height}" if spec.kind == T2V else None,
            "resolution": None if spec.kind == T2V else tier.upper(),
            **self._inputs_images(request, spec),
        }
        extra = split_pinned(request.extra, pinned)
        return Plan(seconds=seconds, resolution=tier, width=width, height=height, extra=extra)

    @staticmethod
    def _inputs_images(request, spec):
        """The image fields of ``input``: what the model takes, None for the others."""
        images = dict.fromkeys(IMAGE_KEYS)
        if spec.kind == I2V:
            images["img_url"] = _image_ref(request.image)
        elif spec.kind == KF2V:
            images["first_frame_url"] = _image_ref(request.image)
            if request.last_frame:
                images["last_frame_url"] = _image_ref(request.last_frame)
        return images

    def _check_images(self, request, spec, model):
        if request.reference_images:
            raise RequestInvalid(f"{model} takes no 'reference_images'", "reference_images", "unsupported_mode")
        if spec.kind == T2V and (request.image or request.last_frame):
            raise RequestInvalid(
                f"{model} is a text-to-video model and takes no 'image'; use an i2v or kf2v model", "image"
            )
        if spec.kind in (I2V, KF2V) and request.image is None:
            raise RequestInvalid(f"{model} needs an 'image' (the first frame)", "image", "image_required")
        if spec.kind == I2V and request.last_frame:
            raise RequestInvalid(
                f"{model} takes no 'last_frame'; use a kf2v model for first+last frames",
                "last_frame",
                "unsupported_mode",
            )
        if spec.kind == KF2V and request.last_frame is None and "template" not in request.extra:
            raise RequestInvalid(f"{model} needs a 'last_frame' (or metadata.template)", "last_frame", "image_required")

    def _t2v_size(self, request, spec, model):
        allowed = [size for tier in spec.tiers for size in SIZE_TIERS[tier]]
        if request.width and request.height:
            size = f"{request.width}*{request.height}"
            if size not in allowed and model in MODELS:
                shown = ", ".join(s.replace("*", "x") for s in allowed)
                raise RequestInvalid(f"'size' for {model} must be one of {shown}; got {request.size}", "size")
            return size
        tier = request.resolution or TIER_OF_SIZE[spec.default]
        if tier not in spec.tiers:
            raise RequestInvalid(
                f"'resolution' for {model} must be one of {', '.join(spec.tiers)}; got {tier!r}", "resolution"
            )
        ratio = request.aspect_ratio or "16:9"
        if ratio not in RATIO_INDEX or RATIO_INDEX[ratio] >= len(SIZE_TIERS[tier]):
            ratios = ", ".join(list(RATIO_INDEX)[: len(SIZE_TIERS[tier])])
            raise RequestInvalid(
                f"'aspect_ratio' for {model} at {tier} must be one of {ratios}; got {ratio!r}", "aspect_ratio"
            )
        return SIZE_TIERS[tier][RATIO_INDEX[ratio]]

    def _tier(self, request, spec, model):
        tier = request.resolution
        if request.width and request.height:
            tier = TIER_OF_SIZE.get(f"{request.width}*{request.height}", tier)
        tier = tier or spec.default
        if tier not in spec.tiers:
            raise RequestInvalid(
                f"'resolution' for {model} must be one of {', '.join(spec.tiers)}; got {tier!r}", "resolution"
            )
        return tier

    # --- submit / poll ---------------------------------------------------------------

    def submit(self, ctx, request, upstream_model, plan):
        spec = model_spec(upstream_model)
        body = self.build_body(request, upstream_model, plan)
        response = http.request(
            "POST",
            self._url(ctx, PATHS[spec.kind]),
            headers=self._headers(ctx, create=True),
            json=body,
            read_timeout=ctx.read_timeout,
        )
        data = self._checked(response)
        output = data.get("output") if isinstance(data.get("output"), dict) else {}
        task_id = output.get("task_id") or data.get("task_id")
        if not task_id:
            raise VendorError("DashScope accepted the request but returned no task_id")
        return Submission(
            vendor_task_id=str(task_id), vendor_status=str(output.get("task_status", "")), state={"kind": spec.kind}
        )

    def build_body(self, request, upstream_model, plan):
        spec = model_spec(upstream_model)
        inputs = {"prompt": request.prompt}
        parameters = {"duration": plan.seconds}
        if spec.kind == T2V:
            parameters["size"] = f"{plan.width}*{plan.height}"
        else:
            parameters["resolution"] = plan.resolution.upper()
        inputs.update((key, ref) for key, ref in self._inputs_images(request, spec).items() if ref)
        if request.negative_prompt:
            inputs["negative_prompt"] = request.negative_prompt
        if request.seed is not None:
            parameters["seed"] = request.seed
        for key, value in plan.extra.items():  # the billed and image fields were checked in plan()
            (inputs if key in INPUT_KEYS else parameters)[key] = value
        return {"model": upstream_model, "input": inputs, "parameters": parameters}

    def poll(self, ctx, ref):
        response = http.request("GET", self._url(ctx, f"/tasks/{ref.vendor_task_id}"), headers=self._headers(ctx))
        data = self._checked(response)
        output = data.get("output")
        if not isinstance(output, dict) or not output.get("task_status"):
            raise VendorError("DashScope answered the task query without output.task_status")
        raw = str(output["task_status"])
        if raw == UNKNOWN:
            raise VendorTaskMissing(f"{_failure_text(raw)}: {ref.vendor_task_id}", code=raw)
        status = STATUS.get(raw)
        if status is None:
            log.warning("DashScope task %s has an unknown status %r", ref.vendor_task_id, raw)
            return PollResult(status=IN_PROGRESS, vendor_status=raw)
        result = PollResult(status=status, vendor_status=raw)
        if status == COMPLETED:
            result.result_url = output.get("video_url")
            if not result.result_url:
                raise VendorError("DashScope reports the task SUCCEEDED but gives no output.video_url")
            result.seconds = _produced_seconds(data.get("usage"))
        elif status == CANCELLED:
            result.error_code = raw
            result.error_message = _failure_text(raw)
        elif status == FAILED:
            result.error_code = str(output.get("code") or raw)
            result.error_message = output.get("message") or _failure_text(raw)
            result.moderation = _is_moderation(result.error_code)
        return result

    def cancel(self, ctx, ref):
        response = http.request(
            "POST", self._url(ctx, f"/tasks/{ref.vendor_task_id}/cancel"), headers=self._headers(ctx)
        )
        try:
            self._checked(response)
        except VendorRejected as exc:
            if exc.code == "UnsupportedOperation" or "PENDING" in exc.message:  # only PENDING can be cancelled
                raise CancelTooLate(exc.message, code=exc.code, http_status=exc.http_status) from None
            raise

    def check(self, ctx):
        response = http.request(
            "GET", self._url(ctx, "/tasks/00000000-0000-0000-0000-000000000000"), headers=self._headers(ctx)
        )
        self._checked(response)
        return "The key was accepted: querying a task worked."

    def _checked(self, response):
        data = self.json_body(response) if response.content else {}
        if not isinstance(data, dict):
            raise VendorError("DashScope answered with an unexpected body", http_status=response.status_code)
        if response.status_code < 300:
            return data
        code = str(data.get("code") or "")
        message = data.get("message") or data.get("msg") or f"DashScope answered HTTP {response.status_code}"
        message = f"{code}: {message}" if code else message
        status = response.status_code
        if status == 401 or code == "InvalidApiKey" or code.startswith("AccessDenied"):
            raise VendorAuthFailed(message, code=code, http_status=status)
        if code == "Arrearage" or code.startswith("Throttling") or status in (408, 429) or status >= 500:
            raise VendorUnavailable(message, code=code, http_status=status)
        raise VendorRejected(message, code=code or None, http_status=status, moderation=_is_moderation(code))


def _image_ref(image):
    """DashScope takes an http(s) URL or a base64 data URI."""
    return image.url if image.url else image.data_uri


def _is_moderation(code):
    return code in MODERATION_CODES


def _produced_seconds(usage):
    if not isinstance(usage, dict):
        return None
    for key in ("video_duration", "output_video_duration", "duration"):
        try:
            return float(usage[key])
        except (KeyError, TypeError, ValueError):
            continue
    return None


def _failure_text(raw):
    if raw == "UNKNOWN":
        return "DashScope does not know this task (it does not exist or expired after 24 hours)"
    if raw == "CANCELED":
        return "The task was cancelled at DashScope"
    return "DashScope reports the task failed"


adaptor = DashScopeWan()
