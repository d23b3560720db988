"""Jimeng (即梦) video through Volcengine Visual's CVSync2Async API.

Both calls are ``POST /?Action=...&Version=2022-08-31`` signed with Volcengine's
HMAC-SHA256 scheme (region cn-north-1, service cv); credentials are ``AK|SK``. The
model IS the ``req_key``; a text-to-video key given images switches to its family's
image sibling (t2v_l20 -> i2v_l20, t2v_v30 -> i2v_first_v30 / i2v_first_tail_v30, and
the 1080p family likewise) and is billed as the requested model. GetResult must be sent
the same ``req_key`` as the submit, so it is remembered in ``Submission.state``.
"""

import json
import logging
from dataclasses import dataclass

from .. import http, volcengine
from ..canonical import FIRST_LAST, IMAGE, TEXT, RequestInvalid
from ..fetch import fetch_image
from .base import (
    COMPLETED,
    FAILED,
    IN_PROGRESS,
    QUEUED,
    Adaptor,
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

VERSION = "2022-08-31"
REGION = "cn-north-1"
SERVICE = "cv"
SUCCESS = 10000
SECONDS = (5, 10)  # frames = 24 * seconds + 1 -> 121 or 241
RATIOS = ("16:9", "4:3", "1:1", "3:4", "9:16", "21:9")
IMAGE_TYPES = ("image/jpeg", "image/png")
MAX_IMAGE_BYTES = int(4.7 * 1024 * 1024)
MODERATION_CODES = {50411, 50412, 50413, 50511, 50512}
UNAVAILABLE_CODES = {50429, 50430, 50500, 50501}
DENIED_CODES = {50400}  # "Access Denied": the account may not use this service
AUTH_ERRORS = {
    "SignatureDoesNotMatch",
    "InvalidAccessKey",
    "InvalidCredential",
    "InvalidTimestamp",
    "MissingAuthenticationToken",
    "AccessDenied",
    "InvalidSecretToken",
}


@dataclass(frozen=True)
class ReqKey:
    resolution: str
    images: tuple  # how many input images the key takes: (0,), (1,), (2,) or (0, 1)
    one_image: str | None = None  # sibling for a text-to-video key given one image
    two_images: str | None = None  # sibling given a first and a last frame


REQ_KEYS = {
    "jimeng_vgfm_t2v_l20": ReqKey("720p", (0,), one_image="jimeng_vgfm_i2v_l20"),
    "jimeng_vgfm_i2v_l20": ReqKey("720p", (1,)),
    "jimeng_t2v_v30": ReqKey("720p", (0,), "jimeng_i2v_first_v30", "jimeng_i2v_first_tail_v30"),
    "jimeng_i2v_first_v30": ReqKey("720p", (1,)),
    "jimeng_i2v_first_tail_v30": ReqKey("720p", (2,)),
    "jimeng_ti2v_v30_pro": ReqKey("1080p", (0, 1)),
    "jimeng_t2v_v30_1080p": ReqKey("1080p", (0,), "jimeng_i2v_first_v30_1080", "jimeng_i2v_first_tail_v30_1080"),
    "jimeng_i2v_first_v30_1080": ReqKey("1080p", (1,)),
    "jimeng_i2v_first_tail_v30_1080": ReqKey("1080p", (2,)),
}
STATUS = {"in_queue": QUEUED, "generating": IN_PROGRESS}


def spec_for(req_key):
    """A key outside the catalogue (a channel may serve newer ones) takes 0-2 images."""
    return REQ_KEYS.get(req_key) or ReqKey("1080p" if "1080" in req_key else "720p", (0, 1, 2))


def derive_req_key(model, image_count):
    """The req_key that runs ``model`` with ``image_count`` input images, or RequestInvalid."""
    spec = spec_for(model)
    if image_count in spec.images:
        return model
    sibling = {1: spec.one_image, 2: spec.two_images}.get(image_count)
    if sibling:
        return sibling
    if image_count == 0:
        frames = "a first and a last frame" if 2 in spec.images else "an image (first frame)"
        raise RequestInvalid(f"Jimeng model {model} needs {frames}", "image", "image_required")
    if spec.images == (2,):
        raise RequestInvalid(
            f"Jimeng model {model} needs a first and a last frame", "last_frame", "last_frame_required"
        )
    if image_count == 2:
        raise RequestInvalid(f"Jimeng model {model} does not take a last frame", "last_frame", "last_frame_unsupported")
    raise RequestInvalid(f"Jimeng model {model} is text-to-video only and takes no image", "image", "image_unsupported")


class Jimeng(Adaptor):
    vendor = "jimeng"
    label = "Jimeng (Volcengine Visual)"
    default_base_url = "https://visual.volcengineapi.com"
    credential_format = "AK|SK"
    credential_fields = ("access_key_id", "secret_access_key")
    known_models = tuple(REQ_KEYS)
    poll_interval = 10

    # --- request translation -----------------------------------------------------------

    def capabilities(self, upstream_model):
        spec = spec_for(upstream_model)
        # A text-to-video key given images runs its image siblings (derive_req_key()).
        counts = set(spec.images) | {count for count, sibling in ((1, spec.one_image), (2, spec.two_images)) if sibling}
        modes = [mode for count, mode in ((0, TEXT), (1, IMAGE), (2, FIRST_LAST)) if count in counts]
        return declare_capabilities(modes, SECONDS, (spec.resolution,), aspect_ratios=RATIOS if 0 in counts else ())

    def plan(self, request, upstream_model):
        if request.reference_images:
            raise RequestInvalid(
                "Jimeng takes a first frame and a last frame, not reference images", "reference_images"
            )
        images = [img for img in (request.image, request.last_frame) if img]
        if request.last_frame and not request.image:
            raise RequestInvalid("A last frame needs a first frame ('image') too", "image", "image_required")
        req_key = derive_req_key(upstream_model, len(images))
        for param, image in (("image", request.image), ("last_frame", request.last_frame)):
            if image is not None and image.data is not None:
                if image.mime_type not in IMAGE_TYPES:
                    raise RequestInvalid(f"Jimeng takes JPEG or PNG images; '{param}' is {image.mime_type}", param)
                if len(image.data) > MAX_IMAGE_BYTES:
                    raise RequestInvalid(f"Jimeng takes images up to 4.7 MB; '{param}' is larger", param)
        if not images and not request.prompt:
            raise RequestInvalid("A text-to-video request needs a prompt", "prompt", "prompt_required")
        if request.negative_prompt:
            raise RequestInvalid("Jimeng does not take a negative prompt", "negative_prompt", "unsupported_parameter")
        if request.fps not in (None, 24):
            raise RequestInvalid("Jimeng renders 24 fps only", "fps", "invalid_fps")
        seconds = self.choose(request.seconds, SECONDS, "seconds", default=5)
        resolution = spec_for(req_key).resolution
        if request.resolution and request.resolution != resolution:
            raise RequestInvalid(
                f"Jimeng model {upstream_model} renders {resolution}; got {request.resolution} "
                f"(pick a {request.resolution} model instead)",
                "size" if request.size else "resolution",
                "invalid_resolution",
            )
        if not images:
            self.choose(request.aspect_ratio, RATIOS, "aspect_ratio")
        # The model is the req_key; the image lists are filled from the request's images by submit().
        pinned = {"req_key": req_key, "frames": frames(seconds), "model": None}
        extra = split_pinned(request.extra, {**pinned, "image_urls": None, "binary_data_base64": None})
        return Plan(seconds=seconds, resolution=resolution, extra=extra, derived={"req_key": req_key})

    def submit(self, ctx, request, upstream_model, plan):
        req_key = plan.derived["req_key"]
        seed = -1 if request.seed is None else request.seed
        body = {"req_key": req_key, "seed": seed, "frames": frames(plan.seconds)}
        if request.prompt:
            body["prompt"] = request.prompt
        if request.mode == TEXT and request.aspect_ratio:
            body["aspect_ratio"] = request.aspect_ratio  # image-to-video follows the image's own ratio
        body.update(plan.extra)  # the billed fields were checked in plan()
        images = [img for img in (request.image, request.last_frame) if img]
        if images and all(img.data is None for img in images):
            body["image_urls"] = [img.url for img in images]
        elif images:  # bytes, or a mix: the vendor takes one list, so send everything as bytes
            param = ("image", "last_frame")
            images = [img if img.data is not None else fetch_image(img.url, param[i]) for i, img in enumerate(images)]
            body["binary_data_base64"] = [img.base64 for img in images]
        answer = self._call(ctx, "CVSync2AsyncSubmitTask", body, read_timeout=ctx.read_timeout)
        data = answer.get("data")
        task_id = data.get("task_id") if isinstance(data, dict) else None
        if not task_id:
            raise VendorError("Jimeng accepted the request but returned no task_id")
        return Submission(vendor_task_id=str(task_id), vendor_status="in_queue", state={"req_key": req_key})

    # --- polling -----------------------------------------------------------------------

    def poll(self, ctx, ref):
        req_key = ref.state.get("req_key") or ref.upstream_model
        response = self._send(ctx, "CVSync2AsyncGetResult", {"req_key": req_key, "task_id": ref.vendor_task_id})
        body = self.json_body(response)
        if not isinstance(body, dict):
            raise VendorError("Jimeng answered with an unexpected body")
        data = body.get("data") if isinstance(body.get("data"), dict) else {}
        raw = str(data.get("status") or "")
        if response.status_code != 200 or _code(body) != SUCCESS:
            error = self._error(response, body)
            if not isinstance(error, VendorRejected) and raw != "done":
                raise error
            return PollResult(
                status=FAILED,
                vendor_status=raw or "failed",
                error_code=str(error.code or "vendor_failed"),
                error_message=error.message,
                moderation=_code(body) in MODERATION_CODES,
            )
        if raw in STATUS:
            return PollResult(status=STATUS[raw], vendor_status=raw)
        if raw == "done":
            url = data.get("video_url")
            if not url:
                return PollResult(FAILED, raw, error_code="no_video", error_message="Jimeng finished without a video")
            return PollResult(status=COMPLETED, vendor_status=raw, progress=100, result_url=url)
        if raw == "not_found":
            raise VendorTaskMissing(
                f"Jimeng has no task {ref.vendor_task_id} for {req_key} (tasks are kept for 12 hours)", code=raw
            )
        if raw == "expired":
            message = "The task expired at Jimeng before it produced a video; submit it again"
            return PollResult(status=FAILED, vendor_status=raw, error_code="expired", error_message=message)
        log.warning("Jimeng task %s has an unknown status %r", ref.vendor_task_id, raw)
        return PollResult(status=IN_PROGRESS, vendor_status=raw)

    def check(self, ctx):
        try:
            answer = self._call(ctx, "CVSync2AsyncGetResult", {"req_key": "jimeng_t2v_v30", "task_id": "0"})
        except VendorRejected as exc:  # the signature passed; the vendor only disliked the made-up task
            return f"The AK/SK pair was accepted (a query for a made-up task answered: {exc.message})."
        data = answer.get("data") if isinstance(answer.get("data"), dict) else {}
        status = data.get("status")
        return f"The AK/SK pair was accepted (a query for a made-up task answered status {status!r})."

    # --- HTTP ----------------------------------------------------------------------------

    def _send(self, ctx, action, body, read_timeout=None):
        access_key, _, secret_key = ctx.credentials.partition("|")
        url = f"{(ctx.base_url or self.default_base_url).rstrip('/')}/?Action={action}&Version={VERSION}"
        payload = json.dumps(body, ensure_ascii=False).encode()
        headers = volcengine.sign("POST", url, payload, access_key, secret_key, region=REGION, service=SERVICE)
        return http.request("POST", url, content=payload, headers=headers, read_timeout=read_timeout)

    def _call(self, ctx, action, body, read_timeout=None):
        response = self._send(ctx, action, body, read_timeout)
        answer = self.json_body(response)
        if not isinstance(answer, dict):
            raise VendorError("Jimeng answered with an unexpected body")
        if response.status_code != 200 or _code(answer) != SUCCESS:
            raise self._error(response, answer)
        return answer

    def _error(self, response, body):
        """The adaptor error for a non-success answer (gateway envelope or business code)."""
        meta_error = (body.get("ResponseMetadata") or {}).get("Error") if isinstance(body, dict) else None
        if isinstance(meta_error, dict) and meta_error:
            code = str(meta_error.get("Code") or "")
            message = meta_error.get("Message") or f"Volcengine answered HTTP {response.status_code} ({code})"
            if code in AUTH_ERRORS:
                return VendorAuthFailed(message, code=code, http_status=response.status_code)
            return self.classify_http_error(response, message, code=code)
        code = _code(body)
        if code is None:
            return VendorError(f"Jimeng answered HTTP {response.status_code} without a result code")
        message = str(body.get("message") or f"Jimeng error {code}")
        if code in MODERATION_CODES:
            return VendorRejected(message, code=str(code), http_status=response.status_code, moderation=True)
        if code in UNAVAILABLE_CODES:
            return VendorUnavailable(message, code=str(code), http_status=response.status_code)
        if code in DENIED_CODES:
            return VendorAuthFailed(message, code=str(code), http_status=response.status_code)
        if response.status_code == 200:  # a business error reported with HTTP 200
            return VendorRejected(message, code=str(code), http_status=200)
        return self.classify_http_error(response, message, code=str(code))


def frames(seconds):
    """Jimeng counts frames at 24 fps plus one: 5 s -> 121, 10 s -> 241."""
    return 24 * seconds + 1


def _code(body):
    try:
        return int(body.get("code"))
    except (TypeError, ValueError, AttributeError):
        return None


adaptor = Jimeng()
