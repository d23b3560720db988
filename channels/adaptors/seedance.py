"""Doubao Seedance through Volcengine Ark: ``POST /contents/generations/tasks`` and
``GET /contents/generations/tasks/{id}`` under ``/api/v3``, with a Bearer ARK API key.

The prompt and images go in ``content``; duration, resolution, ratio, seed... go in the
top-level fields (never the old ``--rs``/``--dur`` text commands, which are refused in
prompts because they would change what is billed).

Cancel: ``DELETE /contents/generations/tasks/{id}`` cancels a queued task (it then reads
``cancelled``) but deletes the record of a finished one, and a running task cannot be cancelled.
So cancel() reads the task first and sends the DELETE only while Ark still has it queued.

Seedance 2.0 (``doubao-seedance-2-0-*``) adds ``video_url`` items (role ``reference_video``) and
``audio_url`` items (role ``reference_audio``) to ``content``, a ``generate_audio`` switch (on by
default) and an automatic duration (``duration: -1``, canonical ``seconds`` AUTO_SECONDS): the hold
is for the longest video the model makes and the capture for the seconds the finished task reports.
The clips' lengths (each 2-15 s, videos and audios each 15 s in total) are Ark's to check: the
gateway does not fetch clips, and Ark's 400 ``InvalidParameter`` comes back as the vendor's refusal
(nothing charged).
"""

import logging
import re
from dataclasses import dataclass, replace

from django.utils.translation import gettext_lazy

from .. import http
from ..canonical import AUTO_SECONDS, FIRST_LAST, IMAGE, REFERENCE, TEXT, RequestInvalid
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
    VendorError,
    VendorRejected,
    VendorTaskMissing,
    VendorUnavailable,
    declare_capabilities,
    media_inputs,
    split_pinned,
)

log = logging.getLogger(__name__)

RESOLUTIONS = ("480p", "720p", "1080p")
RATIOS = ("16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "adaptive")
MAX_REFERENCES = 4
# Text commands that would change duration or resolution behind the billed values.
PRICED_COMMANDS = re.compile(r"(?<!\S)--(rs|resolution|dur|duration|frames|draft)\b", re.I)
# The channel cannot serve this (account overdue, model not activated): try another one.
CHANNEL_CODES = {"AccountOverdueError", "ModelNotOpen", "InvalidEndpointOrModel.NotFound", "ServiceNotOpen"}
STATUS = {"queued": QUEUED, "running": IN_PROGRESS}
ENDED = {"cancelled": "The task was cancelled at Ark", "expired": "The task expired at Ark before it ran"}


@dataclass(frozen=True)
class Model:
    seconds: tuple
    default_resolution: str
    modes: tuple
    resolutions: tuple = RESOLUTIONS
    reference_images: int = MAX_REFERENCES
    # Seedance 2.0: reference clips, the generate_audio switch, duration -1.
    reference_videos: int = 0
    audio: int = 0
    generate_audio: bool = False
    auto_seconds: bool = False

    def inputs(self):
        if not self.reference_videos:
            return media_inputs(reference_images=self.reference_images if REFERENCE in self.modes else 0)
        frames_exclude = [(frame, ref) for frame in ("image", "last_frame") for ref in REFERENCE_FIELDS]
        return media_inputs(
            reference_images=self.reference_images,
            reference_videos=self.reference_videos,
            audio=self.audio,
            generate_audio=(True, False) if self.generate_audio else (),
            excludes=frames_exclude,
        )


REFERENCE_FIELDS = ("reference_images", "reference_videos", "audio")
SEEDANCE_2 = Model(
    tuple(range(4, 16)),
    "720p",
    (TEXT, IMAGE, FIRST_LAST, REFERENCE),
    reference_images=9,
    reference_videos=3,
    audio=3,
    generate_audio=True,
    auto_seconds=True,
)
SEEDANCE_2_FAST = replace(SEEDANCE_2, resolutions=("480p", "720p"))
MODELS = {
    "doubao-seedance-1-0-pro-250528": Model(tuple(range(2, 13)), "1080p", (TEXT, IMAGE, FIRST_LAST)),
    "doubao-seedance-1-0-lite-t2v-250428": Model(tuple(range(2, 13)), "720p", (TEXT,)),
    "doubao-seedance-1-0-lite-i2v-250428": Model(tuple(range(2, 13)), "720p", (IMAGE, FIRST_LAST, REFERENCE)),
    "doubao-seedance-1-5-pro-251215": Model(tuple(range(4, 13)), "720p", (TEXT, IMAGE, FIRST_LAST)),
    # 4K for the full model is in one relay's price list only [L]: not offered until verified.
    "doubao-seedance-2-0-260128": SEEDANCE_2,
    "doubao-seedance-2-0-fast-260128": SEEDANCE_2_FAST,
    "doubao-seedance-2-0-mini-260615": SEEDANCE_2_FAST,  # [L]: tiers unknown, the fast model's assumed
}
# A model outside the catalogue (a channel may serve newer ones): Ark validates the rest.
OTHER = Model(tuple(range(2, 16)), "720p", (TEXT, IMAGE, FIRST_LAST, REFERENCE))
MODE_NAMES = {
    TEXT: "text only",
    IMAGE: "a first-frame image",
    FIRST_LAST: "first and last frames",
    REFERENCE: "reference images",
}


def is_moderation(code):
    return "SensitiveContentDetected" in str(code or "")


class Seedance(Adaptor):
    vendor = "seedance"
    label = "Doubao Seedance (Volcengine Ark)"
    default_base_url = "https://ark.cn-beijing.volces.com/api/v3"
    credential_format = gettext_lazy("ARK API key")
    credential_fields = ("api_key",)
    known_models = tuple(MODELS)
    poll_interval = 10
    supports_cancel = True
    supports_callback = True  # callback_url: Ark POSTs the task object on each status change (unsigned)

    def _url(self, ctx, path):
        base = (ctx.base_url or self.default_base_url).rstrip("/")
        if not base.endswith("/api/v3"):
            base += "/api/v3"
        return base + path

    def _headers(self, ctx):
        return {"Authorization": f"Bearer {ctx.credentials}"}

    # --- request translation ---------------------------------------------------------------

    def capabilities(self, upstream_model):
        model = MODELS.get(upstream_model, OTHER)
        ratios = RATIOS if TEXT in model.modes else ()
        return declare_capabilities(
            model.modes,
            model.seconds,
            model.resolutions,
            aspect_ratios=ratios,
            audio=model.generate_audio,
            inputs=model.inputs(),
        )

    def plan(self, request, upstream_model):
        model = MODELS.get(upstream_model, OTHER)
        if request.mode not in model.modes:
            allowed = " or ".join(MODE_NAMES[mode] for mode in model.modes)
            param = {TEXT: "image", FIRST_LAST: "last_frame", REFERENCE: "reference_images"}.get(request.mode, "image")
            raise RequestInvalid(f"{upstream_model} takes {allowed}; got {MODE_NAMES[request.mode]}", param)
        if len(request.reference_images) > model.reference_images:
            raise RequestInvalid(
                f"{upstream_model} takes at most {model.reference_images} reference images",
                "reference_images",
                "too_many_inputs",
            )
        for name in REFERENCE_FIELDS:
            if getattr(request, name) and (request.image or request.last_frame):
                raise RequestInvalid(
                    f"{name.replace('_', ' ').capitalize()} cannot be combined with first/last frames",
                    name,
                    "conflicting_inputs",
                )
        for name in ("reference_videos", "audio"):
            for index, clip in enumerate(getattr(request, name)):
                if clip.tag:  # Ark's clips carry a fixed role; the prompt names them "Video 1", "Audio 1"
                    raise RequestInvalid(
                        f"{upstream_model} takes no tag on {name}[{index}] (refer to it as 'Video {index + 1}' "
                        f"or 'Audio {index + 1}' in the prompt)",
                        f"{name}[{index}].tag",
                        "unsupported_input",
                    )
        if request.audio and not (request.reference_images or request.reference_videos):
            raise RequestInvalid(
                f"{upstream_model} takes audio clips only with a reference image or video to go with them",
                "audio",
                "reference_required",
            )
        if request.last_frame and not request.image:
            raise RequestInvalid("A last frame needs a first frame ('image') too", "image", "image_required")
        if request.mode == TEXT and not request.prompt:
            raise RequestInvalid("A text-to-video request needs a prompt", "prompt", "prompt_required")
        if PRICED_COMMANDS.search(request.prompt or ""):
            raise RequestInvalid(
                "Put duration and resolution in the request's fields, not as --rs/--dur commands in the prompt",
                "prompt",
                "prompt_commands_refused",
            )
        if request.negative_prompt:
            raise RequestInvalid("Seedance does not take a negative prompt", "negative_prompt", "unsupported_parameter")
        if request.fps not in (None, 24):
            raise RequestInvalid("Seedance renders 24 fps only", "fps", "invalid_fps")
        if model.auto_seconds and request.seconds == AUTO_SECONDS:
            # Ark picks the length: hold for the longest it makes, capture what it reports producing.
            duration, seconds = AUTO_SECONDS, max(model.seconds)
        else:
            duration = seconds = self.choose(request.seconds, model.seconds, "seconds", default=5)
        resolution = self.choose(
            request.resolution, model.resolutions, "size" if request.size else "resolution", model.default_resolution
        )
        self.choose(request.aspect_ratio, RATIOS, "aspect_ratio")
        content = self._content(request)
        pinned = {"model": upstream_model, "content": content, "duration": duration, "resolution": resolution}
        derived = {"content": content, "duration": duration}
        if model.generate_audio:  # Ark's default is on: said explicitly, so what is sent is what was asked
            pinned["generate_audio"] = derived["generate_audio"] = request.generate_audio is not False
        extra = split_pinned(request.extra, {**pinned, "frames": None, "draft": None})  # before money moves
        return Plan(seconds=seconds, resolution=resolution, extra=extra, derived=derived)

    @staticmethod
    def _content(request):
        content = [{"type": "text", "text": request.prompt}] if request.prompt else []
        roles = [(request.image, "first_frame"), (request.last_frame, "last_frame")]
        roles += [(image, "reference_image") for image in request.reference_images]
        for image, role in roles:
            if image is not None:
                url = image.url if image.data is None else image.data_uri
                content.append({"type": "image_url", "image_url": {"url": url}, "role": role})
        for clip in request.reference_videos:
            content.append({"type": "video_url", "video_url": {"url": clip.url}, "role": "reference_video"})
        for clip in request.audio:
            content.append({"type": "audio_url", "audio_url": {"url": clip.url}, "role": "reference_audio"})
        return content

    def submit(self, ctx, request, upstream_model, plan):
        body = {
            "model": upstream_model,
            "content": plan.derived["content"],
            "duration": plan.derived.get("duration", plan.seconds),
            "resolution": plan.resolution,
        }
        if "generate_audio" in plan.derived:
            body["generate_audio"] = plan.derived["generate_audio"]
        if request.aspect_ratio:
            body["ratio"] = request.aspect_ratio
        if request.seed is not None:
            body["seed"] = request.seed
        body.update(plan.extra)  # the billed fields were checked in plan()
        if ctx.callback_url:
            body["callback_url"] = ctx.callback_url  # the gateway's, replacing a client's metadata one
        response = http.request(
            "POST",
            self._url(ctx, "/contents/generations/tasks"),
            headers=self._headers(ctx),
            json=body,
            read_timeout=ctx.read_timeout,
        )
        answer = self._checked(response)
        if not answer.get("id"):
            raise VendorError("Ark accepted the request but returned no task id")
        return Submission(vendor_task_id=str(answer["id"]), vendor_status="queued")

    # --- polling --------------------------------------------------------------------------

    def poll(self, ctx, ref):
        body = self._task(ctx, ref)
        raw = str(body.get("status") or "")
        if raw in STATUS:
            return PollResult(status=STATUS[raw], vendor_status=raw)
        if raw == "succeeded":
            url = (body.get("content") or {}).get("video_url") if isinstance(body.get("content"), dict) else None
            if not url:
                return PollResult(FAILED, raw, error_code="no_video", error_message="Ark finished without a video URL")
            duration = body.get("duration")
            seconds = float(duration) if isinstance(duration, (int, float)) and duration > 0 else None
            return PollResult(status=COMPLETED, vendor_status=raw, progress=100, result_url=url, seconds=seconds)
        if raw == "failed":
            error = body.get("error") if isinstance(body.get("error"), dict) else {}
            code = str(error.get("code") or "vendor_failed")
            message = error.get("message") or "Ark reports that the task failed"
            return PollResult(FAILED, raw, error_code=code, error_message=message, moderation=is_moderation(code))
        if raw in ENDED:
            status = CANCELLED if raw == "cancelled" else FAILED
            return PollResult(status=status, vendor_status=raw, error_code=raw, error_message=ENDED[raw])
        log.warning("Seedance task %s has an unknown status %r", ref.vendor_task_id, raw)
        return PollResult(status=IN_PROGRESS, vendor_status=raw)

    def _task(self, ctx, ref):
        url = self._url(ctx, f"/contents/generations/tasks/{ref.vendor_task_id}")
        response = http.request("GET", url, headers=self._headers(ctx))
        if response.status_code == 404 and "NotFound" in _error_code(response):
            message = f"Ark has no task {ref.vendor_task_id} (finished tasks are kept for a limited time)"
            raise VendorTaskMissing(message, code=_error_code(response), http_status=404)
        return self._checked(response)

    def cancel(self, ctx, ref):
        status = str(self._task(ctx, ref).get("status") or "")
        if status == "cancelled":
            return
        if status != "queued":  # a DELETE now would refuse (running) or delete a finished task's record
            raise CancelTooLate(f"Ark cancels queued tasks only; this one is {status or 'in an unknown state'}")
        url = self._url(ctx, f"/contents/generations/tasks/{ref.vendor_task_id}")
        try:
            self._checked(http.request("DELETE", url, headers=self._headers(ctx)))
        except VendorRejected as exc:
            if exc.http_status in (400, 409):  # it started between the two calls
                raise CancelTooLate(exc.message, code=exc.code, http_status=exc.http_status) from None
            raise

    def check(self, ctx):
        url = self._url(ctx, "/contents/generations/tasks/cgt-gateway-credential-check")
        response = http.request("GET", url, headers=self._headers(ctx))
        if response.status_code in (400, 404):
            return "The Ark API key was accepted (a query for a made-up task answered 'not found')."
        self._checked(response)
        return "The Ark API key was accepted."

    def _checked(self, response):
        body = self.json_body(response) if response.content else {}
        if not isinstance(body, dict):
            raise VendorError("Ark answered with an unexpected body")
        if response.status_code < 300:
            return body
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        code = error.get("code") or error.get("type")
        message = error.get("message") or f"Ark answered HTTP {response.status_code}"
        if code in CHANNEL_CODES:
            raise VendorUnavailable(message, code=code, http_status=response.status_code)
        raise self.classify_http_error(response, message, code=code, moderation=is_moderation(code))


def _error_code(response):
    try:
        error = response.json().get("error")
        return str(error.get("code") or "")
    except (ValueError, AttributeError):
        return ""


adaptor = Seedance()
