"""MiniMax Hailuo video: ``POST /v1/video_generation``, ``GET /v1/query/video_generation?task_id=``,
then ``GET /v1/files/retrieve?file_id=`` for the download URL. Credentials: one API key (Bearer).
Business errors come as HTTP 200 with a non-zero ``base_resp.status_code``.

Callbacks: with ``callback_url`` MiniMax first checks the URL while the create is in flight, POSTing
``{"challenge": "..."}``, which must be echoed back as ``{"challenge": "..."}`` (else the create fails
2013 "fail to check callback url"); then it POSTs ``{task_id, status, file_id, base_resp}`` on status
changes (unsigned).

Hailuo 2.3 (docs/vendors/minimax-hailuo.md): ``MiniMax-Hailuo-2.3`` text or first frame, 768P
(default) or 1080P, 6 or 10 s, 1080P only at 6 s; ``MiniMax-Hailuo-2.3-Fast`` the same from a first
frame only. No last frame and no subject reference on 2.3 (neither is documented for it): refused;
``S2V-01`` keeps its one subject image. No model takes audio, reference videos or a clip to continue."""

import json
import logging
from dataclasses import dataclass

from .. import http
from ..canonical import FIRST_LAST, IMAGE, REFERENCE, TEXT, RequestInvalid
from .base import (
    COMPLETED,
    FAILED,
    IN_PROGRESS,
    QUEUED,
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
class HailuoModel:
    text: bool  # runs from a prompt alone
    image: bool  # takes a first frame
    resolutions: tuple
    default: str
    ten_seconds: tuple = ()  # resolutions at which 10 s is offered
    last_frame: bool = False
    subject: bool = False  # S2V: needs one subject reference image
    image_only: tuple = ()  # resolutions offered only with a first frame
    # Why a subject reference is refused, when the model is documented without one (2.3).
    no_subject: str = ""

    @property
    def durations(self):
        return (6, 10) if self.ten_seconds else (6,)


UNVERIFIED_SUBJECT = "subject_reference on Hailuo 2.3 is not documented by MiniMax"
HAILUO_23 = HailuoModel(True, True, ("768P", "1080P"), "768P", ("768P",), no_subject=UNVERIFIED_SUBJECT)
T2V_01 = HailuoModel(True, False, ("720P",), "720P")
I2V_01 = HailuoModel(False, True, ("720P",), "720P")
MODELS = {
    "MiniMax-Hailuo-2.3": HAILUO_23,
    "MiniMax-Hailuo-2.3-Fast": HailuoModel(
        False, True, ("768P", "1080P"), "768P", ("768P",), no_subject=UNVERIFIED_SUBJECT
    ),
    "MiniMax-Hailuo-02": HailuoModel(
        True, True, ("512P", "768P", "1080P"), "768P", ("512P", "768P"), last_frame=True, image_only=("512P",)
    ),
    "T2V-01-Director": T2V_01,
    "T2V-01": T2V_01,
    "I2V-01-Director": I2V_01,
    "I2V-01-live": I2V_01,
    "I2V-01": I2V_01,
    "S2V-01": HailuoModel(False, False, ("720P",), "720P", subject=True),
}
ALL_RESOLUTIONS = ("512P", "720P", "768P", "1080P")
# A model we do not know: let the vendor validate.
PERMISSIVE = HailuoModel(True, True, ALL_RESOLUTIONS, "768P", ALL_RESOLUTIONS, last_frame=True)
STATUS = {
    "Preparing": QUEUED,
    "Queueing": QUEUED,
    "Processing": IN_PROGRESS,
    "Success": COMPLETED,
    "Fail": FAILED,
}
AUTH_CODES = {1004, 2049}
UNAVAILABLE_CODES = {1000, 1001, 1002, 1008, 1013, 1039}
MODERATION_CODES = {1026, 1027}
# "invalid params" answering a query, whose only parameter is the task_id: MiniMax does not know the task.
UNKNOWN_TASK_CODE = 2013
IMAGE_KEYS = ("first_frame_image", "last_frame_image", "subject_reference")


class MiniMaxHailuo(Adaptor):
    vendor = "minimax"
    label = "MiniMax Hailuo"
    default_base_url = "https://api.minimax.io"
    known_models = tuple(MODELS)
    poll_interval = 10
    supports_callback = True

    def _url(self, ctx, path):
        base = ctx.base_url.rstrip("/")
        return base.removesuffix("/v1") + path

    def _headers(self, ctx):
        return {"Authorization": f"Bearer {ctx.credentials}"}

    # --- plan ------------------------------------------------------------------------

    def capabilities(self, upstream_model):
        spec = MODELS.get(upstream_model, PERMISSIVE)
        offered = ((spec.text, TEXT), (spec.image, IMAGE), (spec.last_frame, FIRST_LAST), (spec.subject, REFERENCE))
        modes = [mode for offers, mode in offered if offers]
        inputs = media_inputs(reference_images=1 if spec.subject else 0)
        return declare_capabilities(modes, spec.durations, [tier.lower() for tier in spec.resolutions], inputs=inputs)

    def plan(self, request, upstream_model):
        spec = MODELS.get(upstream_model, PERMISSIVE)
        images = self._images(request, spec, upstream_model)
        resolution = self._resolution(request)
        resolution = self.choose(resolution, spec.resolutions, "resolution", default=spec.default)
        if resolution in spec.image_only and request.image is None:
            raise RequestInvalid(f"'resolution' {resolution} of {upstream_model} needs an 'image'", "resolution")
        seconds = self.choose(request.seconds, spec.durations, "seconds", default=6)
        if seconds == 10 and resolution not in spec.ten_seconds:
            raise RequestInvalid(
                f"'seconds' 10 of {upstream_model} is offered at {', '.join(spec.ten_seconds)} only, "
                f"not at {resolution}; use 6",
                "seconds",
            )
        pinned = {"model": upstream_model, "duration": seconds, "resolution": resolution, **images}
        extra = split_pinned(request.extra, pinned)
        images = {key: value for key, value in images.items() if value is not None}
        return Plan(seconds=seconds, resolution=resolution.lower(), extra=extra, derived={"images": images})

    def _images(self, request, spec, model):
        """The body's image fields (IMAGE_KEYS), None for those the request does not fill."""
        images = dict.fromkeys(IMAGE_KEYS)
        if spec.subject:
            # S2V: the subject may come as the single 'image' too.
            subjects = request.reference_images or ((request.image,) if request.image else ())
            if len(subjects) != 1 or (request.reference_images and request.image) or request.last_frame:
                raise RequestInvalid(
                    f"{model} needs exactly one subject image in 'reference_images'", "reference_images"
                )
            images["subject_reference"] = [{"type": "character", "image": [_image_ref(subjects[0])]}]
            return images
        if request.reference_images and spec.no_subject:
            raise RequestInvalid(
                f"{model} takes no subject reference ('reference_images' / metadata.subject_reference): "
                f"{spec.no_subject}; use S2V-01 for a subject image",
                "reference_images",
                "unsupported_input",
            )
        if request.reference_images:
            raise RequestInvalid(f"{model} takes no 'reference_images' (S2V-01 does)", "reference_images")
        if request.image is None and not spec.text:
            raise RequestInvalid(f"{model} is image-to-video and needs an 'image'", "image", "image_required")
        if request.image is not None and not spec.image:
            raise RequestInvalid(f"{model} is text-to-video and takes no 'image'", "image")
        if request.last_frame is not None and not (spec.last_frame and request.image):
            raise RequestInvalid(
                f"'last_frame' needs an 'image' (first frame) and a model with first+last frames "
                f"(MiniMax-Hailuo-02), not {model}",
                "last_frame",
            )
        if request.image:
            images["first_frame_image"] = _image_ref(request.image)
        if request.last_frame:
            images["last_frame_image"] = _image_ref(request.last_frame)
        return images

    @staticmethod
    def _resolution(request):
        if request.width and request.height and f"{min(request.width, request.height)}P" in ALL_RESOLUTIONS:
            return f"{min(request.width, request.height)}P"
        return request.resolution.upper() if request.resolution else None

    # --- submit / poll ---------------------------------------------------------------

    def submit(self, ctx, request, upstream_model, plan):
        body = self.build_body(request, upstream_model, plan)
        if ctx.callback_url:
            body["callback_url"] = ctx.callback_url  # the gateway's, replacing a client's metadata one
        url = self._url(ctx, "/v1/video_generation")
        response = http.request("POST", url, headers=self._headers(ctx), json=body, read_timeout=ctx.read_timeout)
        data = self._checked(response)
        task_id = data.get("task_id")
        if not task_id:
            raise VendorError("MiniMax accepted the request but returned no task_id")
        return Submission(vendor_task_id=str(task_id))

    def build_body(self, request, upstream_model, plan):
        body = {
            "model": upstream_model,
            "prompt": request.prompt,
            "duration": plan.seconds,
            "resolution": plan.resolution.upper(),
            **plan.derived["images"],
        }
        body.update(plan.extra)  # the billed and image fields were checked in plan()
        return body

    def callback_handshake(self, body):
        """MiniMax's check of the callback URL: ``{"challenge": X}`` is answered ``{"challenge": X}``."""
        try:
            data = json.loads(body)
        except ValueError:
            return None
        if isinstance(data, dict) and set(data) == {"challenge"} and isinstance(data["challenge"], str):
            return {"challenge": data["challenge"]}
        return None

    def poll(self, ctx, ref):
        response = http.request(
            "GET",
            self._url(ctx, "/v1/query/video_generation"),
            headers=self._headers(ctx),
            params={"task_id": ref.vendor_task_id},
        )
        data = self._checked(response, raise_business=False)
        raw = str(data.get("status") or "")
        if raw != "Fail":
            code, message = _base_resp(data)
            if code == UNKNOWN_TASK_CODE:
                raise VendorTaskMissing(f"MiniMax error {code}: {message or 'no message'}", code=str(code))
            _raise_business(data)
        status = STATUS.get(raw)
        if status is None:
            log.warning("MiniMax task %s has an unknown status %r", ref.vendor_task_id, raw)
            return PollResult(status=IN_PROGRESS, vendor_status=raw)
        result = PollResult(status=status, vendor_status=raw)
        if status == COMPLETED:
            file_id = data.get("file_id")
            if not file_id:
                raise VendorError("MiniMax reports Success but gives no file_id")
            result.result_url, size = self._download_url(ctx, file_id)
            result.state = {"file_id": str(file_id)}
            if size is not None:
                result.state["file_bytes"] = size
        elif status == FAILED:
            code, message = _base_resp(data)
            result.error_code = str(code) if code else "Fail"
            result.error_message = message if code else "MiniMax reports the generation failed"
            result.moderation = code in MODERATION_CODES
        return result

    def _download_url(self, ctx, file_id):
        response = http.request(
            "GET", self._url(ctx, "/v1/files/retrieve"), headers=self._headers(ctx), params={"file_id": file_id}
        )
        data = self._checked(response)
        file = data.get("file") if isinstance(data.get("file"), dict) else {}
        url = file.get("download_url")
        if not url:
            raise VendorError(f"MiniMax gave no download_url for file {file_id}")
        size = file.get("bytes")
        # The file's size, to check the gateway's copy against (absent or odd: not checked).
        return url, size if isinstance(size, int) and not isinstance(size, bool) and size > 0 else None

    def content(self, ctx, ref):
        return ContentSource(url=ref.result_url, expected_bytes=ref.state.get("file_bytes"))

    def check(self, ctx):
        response = http.request(
            "GET",
            self._url(ctx, "/v1/query/video_generation"),
            headers=self._headers(ctx),
            params={"task_id": "0"},
        )
        data = self._checked(response, raise_business=False)
        code, _ = _base_resp(data)
        if code in AUTH_CODES or code in UNAVAILABLE_CODES:
            _raise_business(data)
        return "The key was accepted: querying a task worked."

    def _checked(self, response, raise_business=True):
        data = self.json_body(response) if response.content else {}
        if not isinstance(data, dict):
            raise VendorError("MiniMax answered with an unexpected body", http_status=response.status_code)
        if response.status_code >= 300:
            code, message = _base_resp(data)
            raise self.classify_http_error(
                response, message or f"MiniMax answered HTTP {response.status_code}", code=code or None
            )
        if raise_business:
            _raise_business(data)
        return data


def _base_resp(data):
    base = data.get("base_resp") if isinstance(data.get("base_resp"), dict) else {}
    try:
        code = int(base.get("status_code") or 0)
    except (TypeError, ValueError):
        code = -1
    return code, str(base.get("status_msg") or "")


def _raise_business(data):
    code, message = _base_resp(data)
    if code == 0:
        return
    message = f"MiniMax error {code}: {message or 'no message'}"
    if code in AUTH_CODES:
        raise VendorAuthFailed(message, code=str(code))
    if code in UNAVAILABLE_CODES:
        raise VendorUnavailable(message, code=str(code))
    raise VendorRejected(message, code=str(code), moderation=code in MODERATION_CODES)


def _image_ref(image):
    """MiniMax takes a public URL or a base64 data URL."""
    return image.url if image.url else image.data_uri


adaptor = MiniMaxHailuo()
