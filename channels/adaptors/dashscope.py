"""Alibaba DashScope (Bailian) Wan video. Create: ``POST {base}/services/aigc/video-generation/video-synthesis``
(t2v, i2v, r2v and every wan2.7 model), ``POST {base}/services/aigc/image2video/video-synthesis`` (kf2v
first+last frame); query ``GET {base}/tasks/{id}``. Credentials: one API key, sent as Bearer with
``X-DashScope-Async: enable``. ``{base}`` is a region's host or a workspace host, with ``/api/v1``
(KNOWN_BASE_URLS); keys are per region.

Two body shapes: the legacy one (wan2.1–2.6: ``input.img_url``, ``first_frame_url``, ``audio_url``,
``reference_urls``; ``parameters.size`` for t2v/r2v, ``resolution`` for i2v/kf2v), and the wan2.7 one,
where every image, clip and audio track is an item of ``input.media`` (``{type, url}``, URLs only) and
``parameters`` carry ``resolution`` (720P/1080P), ``ratio`` and ``duration`` (2–15 s).

wan2.7-videoedit edits the canonical ``video`` (its ``video`` media item; the one ``reference_videos``
clip, the form it took first, is still read as that video). A clip to continue or edit may be one of
the client's own Wan videos (``video_…``, resolved by the gateway): DashScope is given that video's
result URL (valid 24 h at DashScope).

Cancel: ``POST /tasks/{id}/cancel``; only a PENDING task can be cancelled (it then reads
``CANCELED``), a started one is refused (400 ``UnsupportedOperation``)."""

import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from .. import http
from ..canonical import EDIT as EDIT_MODE
from ..canonical import EXTEND, FIRST_LAST, IMAGE, REFERENCE, TEXT, RequestInvalid, resolution_tier
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
    media_inputs,
    split_pinned,
)

log = logging.getLogger(__name__)

T2V, I2V, KF2V, R2V, EDIT = "t2v", "i2v", "kf2v", "r2v", "videoedit"
LEGACY, MEDIA = "legacy", "media"  # the body shape: wan2.1–2.6, or wan2.7's input.media
SIZE_TIERS = {
    "480p": ("832*480", "480*832", "624*624"),
    "720p": ("1280*720", "720*1280", "960*960", "1088*832", "832*1088"),
    "1080p": ("1920*1080", "1080*1920", "1440*1440", "1632*1248", "1248*1632"),
}
TIER_OF_SIZE = {size: tier for tier, sizes in SIZE_TIERS.items() for size in sizes}
RATIO_INDEX = {"16:9": 0, "9:16": 1, "1:1": 2, "4:3": 3, "3:4": 4}
RATIOS = tuple(RATIO_INDEX)
SWITCHABLE = (True, False)  # parameters.audio: generated sound on or off


@dataclass(frozen=True)
class WanModel:
    kind: str
    tiers: tuple  # billed tiers the model renders
    default: str  # default size "W*H" (legacy t2v/r2v) or tier (the others)
    durations: tuple = (5,)
    audio: bool = False  # the video comes with sound
    protocol: str = LEGACY
    audio_clips: int = 0  # input.audio_url (legacy, wan2.7-t2v) or driving_audio items
    generate_audio: tuple = ()  # the values parameters.audio takes (legacy), or (True,): always on
    shot_type: bool = False  # parameters.shot_type "single"/"multi" (wan2.6 multi-shot)
    reference_images: int = 0
    reference_videos: int = 0
    references: int = 0  # at most this many references of both kinds together
    ratios: tuple = ()  # parameters.ratio (wan2.7 t2v/r2v/videoedit)
    first_clip: bool = False  # continues a video (wan2.7-i2v's first_clip item)


def _seconds(first, last):
    return tuple(range(first, last + 1))


WAN27 = {"tiers": ("720p", "1080p"), "default": "1080p", "audio": True, "protocol": MEDIA}
MODELS = {
    "wan2.5-t2v-preview": WanModel(
        T2V, ("480p", "720p", "1080p"), "1920*1080", (5, 10), True, audio_clips=1, generate_audio=SWITCHABLE
    ),
    "wan2.2-t2v-plus": WanModel(T2V, ("480p", "1080p"), "1920*1080"),
    "wanx2.1-t2v-turbo": WanModel(T2V, ("480p", "720p"), "1280*720"),
    "wanx2.1-t2v-plus": WanModel(T2V, ("720p",), "1280*720"),
    "wan2.5-i2v-preview": WanModel(
        I2V, ("480p", "720p", "1080p"), "1080p", (5, 10), True, audio_clips=1, generate_audio=SWITCHABLE
    ),
    "wan2.2-i2v-flash": WanModel(I2V, ("480p", "720p", "1080p"), "720p"),
    "wan2.2-i2v-plus": WanModel(I2V, ("480p", "1080p"), "1080p"),
    "wanx2.1-i2v-plus": WanModel(I2V, ("720p",), "720p"),
    "wanx2.1-i2v-turbo": WanModel(I2V, ("480p", "720p"), "720p", (3, 4, 5)),
    "wan2.2-kf2v-flash": WanModel(KF2V, ("480p", "720p", "1080p"), "720p"),
    "wanx2.1-kf2v-plus": WanModel(KF2V, ("720p",), "720p"),
    "wan2.1-kf2v-plus": WanModel(KF2V, ("720p",), "720p"),
    # wan2.6: the legacy body; multi-shot (shot_type), sound generated or from audio_url.
    "wan2.6-t2v": WanModel(
        T2V, ("720p", "1080p"), "1920*1080", (5, 10, 15), True, audio_clips=1, generate_audio=SWITCHABLE,
        shot_type=True,
    ),
    "wan2.6-i2v": WanModel(
        I2V, ("720p", "1080p"), "1080p", _seconds(2, 15), True, audio_clips=1, generate_audio=SWITCHABLE,
        shot_type=True,
    ),
    "wan2.6-i2v-flash": WanModel(
        I2V, ("720p", "1080p"), "720p", _seconds(2, 15), True, audio_clips=1, generate_audio=SWITCHABLE,
        shot_type=True,
    ),
    # r2v: input.reference_urls, the subjects' images and videos (videos first: character1, ...).
    "wan2.6-r2v": WanModel(
        R2V, ("720p", "1080p"), "1920*1080", _seconds(2, 10), True, generate_audio=SWITCHABLE, shot_type=True,
        reference_images=5, reference_videos=3, references=5,
    ),
    # wan2.7: input.media items; sound always on.
    "wan2.7-t2v": WanModel(
        T2V, durations=_seconds(2, 15), audio_clips=1, generate_audio=(True,), ratios=RATIOS, **WAN27
    ),
    "wan2.7-i2v": WanModel(
        I2V, durations=_seconds(2, 15), audio_clips=1, generate_audio=(True,), first_clip=True, **WAN27
    ),
    "wan2.7-r2v": WanModel(
        R2V, durations=_seconds(2, 10), generate_audio=(True,), reference_images=5, reference_videos=5,
        references=5, ratios=RATIOS, **WAN27,
    ),
    "wan2.7-videoedit": WanModel(
        EDIT, durations=_seconds(2, 10), reference_images=4, reference_videos=1, references=5, ratios=RATIOS, **WAN27
    ),
}  # fmt: skip
PATHS = {
    T2V: "/services/aigc/video-generation/video-synthesis",
    I2V: "/services/aigc/video-generation/video-synthesis",
    R2V: "/services/aigc/video-generation/video-synthesis",
    EDIT: "/services/aigc/video-generation/video-synthesis",
    KF2V: "/services/aigc/image2video/video-synthesis",
}
# The hosts an operator picks from (channel base URL); every one takes the same paths under /api/v1.
KNOWN_BASE_URLS = (
    ("https://dashscope.aliyuncs.com/api/v1", "China (Beijing)"),
    ("https://dashscope-intl.aliyuncs.com/api/v1", "Singapore (international)"),
    ("https://dashscope-us.aliyuncs.com/api/v1", "US (Virginia)"),
    ("https://{WorkspaceId}.cn-beijing.maas.aliyuncs.com/api/v1", "Beijing workspace"),
    ("https://{WorkspaceId}.ap-southeast-1.maas.aliyuncs.com/api/v1", "Singapore workspace"),
    ("https://{WorkspaceId}.us-east-1.maas.aliyuncs.com/api/v1", "Virginia workspace (unverified)"),
    ("https://{WorkspaceId}.eu-central-1.maas.aliyuncs.com/api/v1", "Frankfurt workspace"),
)
API_ROOT = "/api/v1"
COMPATIBLE_ROOT = "/compatible-mode/v1"  # the OpenAI-compatible base admins sometimes paste
STATUS = {
    "PENDING": QUEUED,
    "RUNNING": IN_PROGRESS,
    "SUSPENDED": IN_PROGRESS,
    "SUCCEEDED": COMPLETED,
    "FAILED": FAILED,
    "CANCELED": CANCELLED,
}
UNKNOWN = "UNKNOWN"  # the task does not exist (or expired after 24 h): VendorTaskMissing
# Fields of ``input`` that come from the canonical request only (they decide the mode and what is
# billed): metadata may not set them. Other extras in INPUT_KEYS go to ``input``, the rest to ``parameters``.
MEDIA_KEYS = (
    "img_url",
    "first_frame_url",
    "last_frame_url",
    "audio_url",
    "reference_urls",
    "reference_video_urls",
    "media",
)
INPUT_KEYS = ("template", "negative_prompt", "reference_video_description", *MEDIA_KEYS)
SHOT_TYPES = ("single", "multi")
MODERATION_CODES = {"DataInspectionFailed", "DataInspection", "IPInfringementSuspect"}


def model_spec(upstream_model):
    """The model's rules; a model we do not know gets a permissive spec and the vendor validates."""
    if upstream_model in MODELS:
        return MODELS[upstream_model]
    every = ("480p", "720p", "1080p")
    if upstream_model.startswith("wan2.7"):  # a dated snapshot, wan2.7-i2v-2026-04-25
        kind = next((k for k in (I2V, R2V, EDIT) if k in upstream_model), T2V)
        return MODELS[f"wan2.7-{kind}"]
    sound = {"audio": True, "audio_clips": 1, "generate_audio": SWITCHABLE} if "wan2.5" in upstream_model else {}
    if "wan2.6" in upstream_model:
        sound = {"audio": True, "audio_clips": 1, "generate_audio": SWITCHABLE, "shot_type": True}
    if "kf2v" in upstream_model:
        return WanModel(KF2V, every, "720p", (5, 10))
    if "r2v" in upstream_model:
        return MODELS["wan2.6-r2v"]
    if "i2v" in upstream_model:
        return WanModel(I2V, every, "720p", _seconds(2, 15), **sound)
    return WanModel(T2V, every, "1280*720", _seconds(2, 15), **sound)


def api_root(base_url):
    """``{scheme}://{host}[/prefix]/api/v1`` from a channel's base URL: a region's or a workspace's
    host, with or without ``/api/v1``, a full create or task URL pasted whole, or the OpenAI-compatible
    ``/compatible-mode/v1`` base (same host, same key)."""
    base = base_url.strip().rstrip("/")
    parts = urlsplit(base)
    path = parts.path
    if API_ROOT in f"{path}/":
        path = path[: f"{path}/".index(API_ROOT + "/")]
    elif path.endswith(COMPATIBLE_ROOT):
        path = path[: -len(COMPATIBLE_ROOT)]
    return f"{parts.scheme}://{parts.netloc}{path}{API_ROOT}"


class DashScopeWan(Adaptor):
    vendor = "dashscope"
    label = "Alibaba DashScope Wan"
    default_base_url = "https://dashscope.aliyuncs.com/api/v1"
    # The hosts offered for a channel's base URL ({WorkspaceId}: the console's Workspace Details page).
    known_base_urls = KNOWN_BASE_URLS
    known_models = tuple(MODELS)
    poll_interval = 10
    supports_cancel = True

    def _url(self, ctx, path):
        return api_root(ctx.base_url or self.default_base_url) + path

    def _headers(self, ctx, create=False):
        headers = {"Authorization": f"Bearer {ctx.credentials}"}
        if create:
            headers["X-DashScope-Async"] = "enable"
        return headers

    # --- plan ------------------------------------------------------------------------

    def capabilities(self, upstream_model):
        spec = model_spec(upstream_model)
        if spec.kind == I2V and spec.protocol == MEDIA:
            modes = (IMAGE, FIRST_LAST, EXTEND)
        else:
            modes = ({T2V: TEXT, I2V: IMAGE, KF2V: FIRST_LAST, R2V: REFERENCE, EDIT: EDIT_MODE}[spec.kind],)
        sized = _takes_size(spec)
        sizes = [size.replace("*", "x") for tier in spec.tiers for size in SIZE_TIERS[tier]] if sized else ()
        ratios = tuple(RATIO_INDEX) if sized else spec.ratios
        excludes = (("first_clip", "image"), ("first_clip", "audio")) if spec.first_clip else ()
        if spec.kind == EDIT:  # the video to edit, or (as first taken) the one reference video: not both
            excludes = (("video", "reference_videos"),)
        inputs = media_inputs(
            reference_images=spec.reference_images,
            reference_videos=spec.reference_videos,
            audio=spec.audio_clips,
            first_clip=spec.first_clip,
            video=spec.kind == EDIT,
            generate_audio=spec.generate_audio,
            excludes=excludes,
        )
        return declare_capabilities(
            modes, spec.durations, spec.tiers, sizes=sizes, aspect_ratios=ratios, audio=spec.audio, inputs=inputs
        )

    def plan(self, request, upstream_model):
        spec = model_spec(upstream_model)
        default = 5 if 5 in spec.durations else spec.durations[0]
        seconds = self.choose(request.seconds, spec.durations, "seconds", default=default)
        self._check_media(request, spec, upstream_model)
        generate_audio = self._generate_audio(request, spec, upstream_model)
        self._check_shot_type(request, spec, upstream_model)
        width = height = ratio = None
        if _takes_size(spec):
            size = self._t2v_size(request, spec, upstream_model)
            width, height = (int(part) for part in size.split("*"))
            tier = TIER_OF_SIZE[size] if size in TIER_OF_SIZE else resolution_tier(width, height)
        else:
            tier = self._tier(request, spec, upstream_model)
            ratio = self._ratio(request, spec, upstream_model)
        pinned = {
            "model": upstream_model,
            "duration": seconds,
            "size": f"{width}*{height}" if width else None,
            "resolution": None if width else tier.upper(),
            **dict.fromkeys(MEDIA_KEYS),
        }
        if spec.protocol == MEDIA:
            pinned["ratio"] = ratio
        extras = {key: value for key, value in request.extra.items() if key != "audio"}  # checked above
        extra = split_pinned(extras, pinned)
        return Plan(
            seconds=seconds,
            resolution=tier,
            width=width,
            height=height,
            aspect_ratio=ratio,
            extra=extra,
            derived={"generate_audio": generate_audio},
        )

    def _check_media(self, request, spec, model):
        """What the model's kind needs and takes, beyond what check_inputs() polices."""
        images = spec.reference_images
        if request.reference_images and not images:
            raise RequestInvalid(f"{model} takes no 'reference_images'", "reference_images", "unsupported_mode")
        if len(request.reference_images) > images:
            raise RequestInvalid(
                f"{model} takes at most {images} reference images", "reference_images", "too_many_inputs"
            )
        if spec.kind in (T2V, R2V, EDIT) and (request.image or request.last_frame):
            what = {T2V: "a text-to-video", R2V: "a reference-to-video", EDIT: "a video-editing"}[spec.kind]
            raise RequestInvalid(
                f"{model} is {what} model and takes no 'image' or 'last_frame'",
                "image" if request.image else "last_frame",
                "unsupported_mode",
            )
        if spec.kind == I2V:
            self._check_i2v(request, spec, model)
        if spec.kind == KF2V:
            if request.image is None:
                raise RequestInvalid(f"{model} needs an 'image' (the first frame)", "image", "image_required")
            if request.last_frame is None and "template" not in request.extra:
                raise RequestInvalid(
                    f"{model} needs a 'last_frame' (or metadata.template)", "last_frame", "image_required"
                )
        if spec.kind == R2V and not (request.reference_images or request.reference_videos):
            raise RequestInvalid(
                f"{model} needs reference images or videos ('reference_images', 'reference_videos')",
                "reference_images",
                "reference_required",
            )
        if spec.kind == EDIT and not request.video and len(request.reference_videos) != 1:
            raise RequestInvalid(f"{model} edits one video: give it as 'video'", "video", "video_required")
        if spec.kind == EDIT and request.video and request.reference_videos:  # plan() without check_inputs()
            raise RequestInvalid(
                f"{model} edits one video: give it as 'video' only", "reference_videos", "conflicting_inputs"
            )
        for param in ("first_clip", "video"):
            clip = getattr(request, param)
            if clip is not None and not clip.url:
                raise RequestInvalid(
                    f"'{param}' names {clip.video_id}, for which DashScope gave no video URL: it cannot be used",
                    param,
                    "invalid_source",
                )
        total = len(request.reference_images) + len(request.reference_videos)
        if spec.references and total > spec.references:
            raise RequestInvalid(
                f"{model} takes at most {spec.references} references (images and videos together); got {total}",
                "reference_videos" if request.reference_videos else "reference_images",
                "too_many_inputs",
            )
        if spec.protocol == MEDIA or spec.kind == R2V:  # input.media and reference_urls take URLs only
            named = [("image", request.image), ("last_frame", request.last_frame)]
            named += [(f"reference_images[{i}]", image) for i, image in enumerate(request.reference_images)]
            for param, image in named:
                if image is not None and image.url is None:
                    raise RequestInvalid(
                        f"{model} takes images by http(s) URL only (DashScope fetches them); "
                        f"'{param}' was given as data: upload it and send its URL",
                        param,
                        "image_url_required",
                    )

    @staticmethod
    def _check_i2v(request, spec, model):
        if spec.protocol == LEGACY:
            if request.image is None:
                raise RequestInvalid(f"{model} needs an 'image' (the first frame)", "image", "image_required")
            if request.last_frame:
                raise RequestInvalid(
                    f"{model} takes no 'last_frame'; use a kf2v model (or wan2.7-i2v) for first+last frames",
                    "last_frame",
                    "unsupported_mode",
                )
            return
        if request.first_clip and request.image:
            raise RequestInvalid(
                f"{model} starts from a first frame or continues a first clip, not both", "image", "conflicting_inputs"
            )
        if request.first_clip and request.audio:
            raise RequestInvalid(
                f"{model} takes driving audio with a first frame, not with a first clip", "audio", "conflicting_inputs"
            )
        if not (request.image or request.first_clip):
            raise RequestInvalid(
                f"{model} needs an 'image' (the first frame) or a 'first_clip' to continue", "image", "image_required"
            )

    @staticmethod
    def _generate_audio(request, spec, model):
        """parameters.audio: the canonical generate_audio, or DashScope's own ``audio`` extra
        (metadata.audio: true/false); None when nothing is sent (the model's default, or always on)."""
        wanted = request.generate_audio
        if "audio" in request.extra:
            said = request.extra["audio"]
            if not isinstance(said, bool):
                raise RequestInvalid(
                    "metadata.audio must be true or false (give an audio clip as 'audio_url')", "metadata.audio"
                )
            if wanted is not None and wanted != said:
                raise RequestInvalid(
                    f"metadata.audio ({said}) conflicts with generate_audio ({wanted})",
                    "metadata.audio",
                    "conflicting_parameters",
                )
            if said not in spec.generate_audio:
                allowed = "does not take it" if not spec.generate_audio else "always makes sound"
                raise RequestInvalid(
                    f"metadata.audio asks {model} for {'sound' if said else 'silence'}; {model} {allowed}",
                    "metadata.audio",
                    "unsupported_input",
                )
            wanted = said
        if wanted is not None and wanted not in spec.generate_audio:  # plan() called without check_inputs()
            raise RequestInvalid(
                f"{model} does not take 'generate_audio' {wanted}", "generate_audio", "unsupported_input"
            )
        return None if spec.generate_audio == (True,) else wanted

    @staticmethod
    def _check_shot_type(request, spec, model):
        if "shot_type" not in request.extra:
            return
        if not spec.shot_type:
            raise RequestInvalid(
                f"metadata.shot_type (multi-shot) is a wan2.6 parameter; {model} does not take it",
                "metadata.shot_type",
                "unsupported_input",
            )
        if request.extra["shot_type"] not in SHOT_TYPES:
            raise RequestInvalid(
                f"metadata.shot_type must be one of {', '.join(SHOT_TYPES)}", "metadata.shot_type", "invalid_value"
            )

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

    @staticmethod
    def _ratio(request, spec, model):
        """wan2.7's parameters.ratio, for the models that take one (i2v follows its first frame)."""
        if not spec.ratios or request.aspect_ratio is None:
            return None
        if request.aspect_ratio not in spec.ratios:
            raise RequestInvalid(
                f"'aspect_ratio' for {model} must be one of {', '.join(spec.ratios)}; got {request.aspect_ratio!r}",
                "aspect_ratio",
            )
        return request.aspect_ratio

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
        if plan.width:
            parameters["size"] = f"{plan.width}*{plan.height}"
        else:
            parameters["resolution"] = plan.resolution.upper()
        if plan.aspect_ratio:
            parameters["ratio"] = plan.aspect_ratio
        inputs.update(_media(request, spec))
        if request.negative_prompt:
            inputs["negative_prompt"] = request.negative_prompt
        if request.seed is not None:
            parameters["seed"] = request.seed
        if plan.derived.get("generate_audio") is not None:
            parameters["audio"] = plan.derived["generate_audio"]
        for key, value in plan.extra.items():  # the billed and media fields were checked in plan()
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


def _takes_size(spec):
    """The legacy t2v and r2v bodies name a pixel size (``size: "1280*720"``); the others a tier."""
    return spec.protocol == LEGACY and spec.kind in (T2V, R2V)


def _image_ref(image):
    """DashScope's legacy image fields take an http(s) URL or a base64 data URI."""
    return image.url if image.url else image.data_uri


def _media(request, spec):
    """The ``input`` fields carrying the request's images, clips and audio, as the model's body shape
    names them (plan() checked which the model takes, and that input.media gets URLs only)."""
    if spec.protocol == LEGACY:
        fields = {}
        if spec.kind == I2V:
            fields["img_url"] = _image_ref(request.image)
        elif spec.kind == KF2V:
            fields["first_frame_url"] = _image_ref(request.image)
            if request.last_frame:
                fields["last_frame_url"] = _image_ref(request.last_frame)
        elif spec.kind == R2V:  # videos first: the prompt calls them character1, character2, ...
            fields["reference_urls"] = [clip.url for clip in request.reference_videos] + [
                image.url for image in request.reference_images
            ]
        if request.audio:
            fields["audio_url"] = request.audio[0].url
        return fields
    if spec.kind == T2V:
        return {"audio_url": request.audio[0].url} if request.audio else {}
    items = []
    if spec.kind == I2V:
        items += [
            ("first_frame", request.image),
            ("first_clip", request.first_clip),
            ("last_frame", request.last_frame),
        ]
        items += [("driving_audio", clip) for clip in request.audio]
    elif spec.kind == EDIT:  # the video to edit: canonical ``video``, or the one reference video
        items += [("video", request.video or request.reference_videos[0])]
        items += [("reference_image", image) for image in request.reference_images]
    else:
        items += [("reference_image", image) for image in request.reference_images]
        items += [("reference_video", clip) for clip in request.reference_videos]
    return {"media": [{"type": kind, "url": item.url} for kind, item in items if item is not None]}


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
