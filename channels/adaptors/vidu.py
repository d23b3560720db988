"""Vidu: ``POST /ent/v2/{text2video,img2video,start-end2video,reference2video}``, queried
with ``GET /ent/v2/tasks/{id}/creations``. Credentials: one API key, sent as
``Authorization: Token <key>``.

The endpoint follows the images: none -> text2video, one -> img2video, first+last ->
start-end2video, reference images -> reference2video. new-api clients may pin it with
``metadata.action`` (textGenerate, generate, firstTailGenerate, referenceGenerate), e.g. one
image used as a reference. Duration and resolution are billed per the model's rules (the
dialects lift new-api's ``metadata.duration``/``metadata.resolution`` into the request), so
metadata may repeat them but never override them.

Which model does what (docs/vendors/vidu.md): ``viduq3-pro`` text, image, first+last frames;
``viduq3-turbo`` those and reference2video (3-16 s there); ``viduq3`` reference2video only (3-16 s);
the Q3 models take ``audio`` (the canonical ``generate_audio``; Vidu's default: on).

reference2video takes its images in one of two forms, never both: untagged reference images go
as the flat ``images`` list (1-7; 1-3 on vidu2.0); reference images tagged with a subject id go as
``subjects: [{id, images, voice_id}]`` (the prompt names them ``@id``): at most 7 subjects of at
most 3 images, 7 images in all, on the models that take subjects (not vidu1.5). A subject's
``voice_id`` comes from ``metadata.subject_voices`` ({subject id: voice id}).

Cancel: ``POST /ent/v2/tasks/{id}/cancel`` with ``{"id": ...}`` answers ``{}`` while the task is
queued; once it is scheduled Vidu refuses (400 BadRequest "task state is scheduled, can not
cancel"). A cancelled task reads ``state: failed`` with ``err_code: UserCancelled``.

Callbacks: with ``callback_url`` Vidu POSTs the Get Generation answer on each state change,
signed (VIDU-DOC callback-signature): ``X-HMAC-SIGNATURE = base64(HMAC-SHA256(the API key that
created the task, METHOD\npath\nquery\naccess key\nDate\n + "name:value\n" for each header in
X-HMAC-SIGNED-HEADERS))``. verify_callback() checks it, that the Date is fresh (an old signed
request replayed is refused) and that the payload is about the task; the payload is then trusted.
The body is not in the signed string: a signed ``Content-MD5`` header, when present, must match it.
"""

import base64
import hashlib
import hmac
import json
import logging
import time
from email.utils import parsedate_to_datetime

from .. import http
from ..canonical import FIRST_LAST, IMAGE, TEXT, RequestInvalid
from ..canonical import REFERENCE as REFERENCE_MODE
from .base import (
    ANY_TAG,
    CANCELLED,
    COMPLETED,
    FAILED,
    IN_PROGRESS,
    QUEUED,
    Adaptor,
    CallbackRejected,
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
from .common import requested_ratio

log = logging.getLogger(__name__)

TEXT2VIDEO = "text2video"
IMG2VIDEO = "img2video"
START_END = "start-end2video"
REFERENCE = "reference2video"
# new-api's metadata.action names
ACTIONS = {
    "textGenerate": TEXT2VIDEO,
    "generate": IMG2VIDEO,
    "firstTailGenerate": START_END,
    "referenceGenerate": REFERENCE,
}
IMAGE_COUNTS = {TEXT2VIDEO: (0, 0), IMG2VIDEO: (1, 1), START_END: (2, 2), REFERENCE: (1, 7)}
REFERENCE_MODELS = ("viduq3", "viduq3-turbo", "viduq2", "viduq1", "vidu2.0", "vidu1.5")
REFERENCE_ONLY = ("viduq3",)  # smart shot cuts from reference images; no text/img2video
SUBJECT_MODELS = ("viduq3", "viduq3-turbo", "viduq2", "viduq1", "vidu2.0")  # take ``subjects``
AUDIO_MODELS = ("viduq3", "viduq3-pro", "viduq3-turbo")  # take ``audio`` (default true)
MAX_SUBJECTS = 7
MAX_SUBJECT_IMAGES = 3  # per subject
MAX_REFERENCE_IMAGES = 7  # in all, flat or in subjects
SUBJECT_VOICES = "subject_voices"  # the gateway's metadata key: {subject id: voice_id}
IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp")
RATIOS = ("16:9", "9:16", "1:1")
WIDE_RATIOS = RATIOS + ("4:3", "3:4")  # text2video on q2/q3
HD = ("540p", "720p", "1080p")
STATUS = {"created": QUEUED, "queueing": QUEUED, "processing": IN_PROGRESS, "success": COMPLETED, "failed": FAILED}
MODERATION_REASONS = ("TaskPromptPolicyViolation", "AuditSubmitIllegal", "CreationPolicyViolation")
# The job was provably not taken, for reasons of this account or this moment: try another channel.
UNAVAILABLE_REASONS = ("CreditInsufficient", "QuotaExceeded", "TooManyRequests", "SystemThrottling")
UNAVAILABLE_REASONS += ("ModelUnavailable", "OperationInProcess", "InternalServiceFailure")
NOT_FOUND_REASONS = ("TaskNotFound", "CreationNotFound", "NotFound")
CANCELLED_REASON = "UserCancelled"  # err_code of a task cancelled before it ran
CALLBACK_ALGORITHM = "hmac-sha256"
CALLBACK_MAX_AGE = 300  # seconds a signed callback's Date may be off from now (either way)


def model_rules(model, endpoint=None):
    """(allowed seconds, default seconds, {seconds: (allowed resolutions, default)}) of a Vidu model
    (on ``endpoint``, when it changes them: reference2video on Q3 runs 3-16 s)."""
    if model == "viduq3" or (model.startswith("viduq3") and endpoint == REFERENCE):
        return range(3, 17), 5, dict.fromkeys(range(3, 17), (HD, "720p"))
    if model.startswith("viduq3"):
        return range(1, 17), 5, dict.fromkeys(range(1, 17), (HD, "720p"))
    if model.startswith("viduq2"):
        return range(1, 11), 5, dict.fromkeys(range(1, 11), (HD, "720p"))
    if model.startswith("viduq1"):
        return (5,), 5, {5: (("1080p",), "1080p")}
    if model in ("vidu2.0", "vidu1.5"):
        return (4, 8), 4, {4: (("360p", "720p", "1080p"), "360p"), 8: (("720p",), "720p")}
    raise RequestInvalid(
        f"Unknown Vidu model {model!r}; the gateway knows viduq3*, viduq2*, viduq1*, vidu2.0 and vidu1.5",
        "model",
        "model_not_supported",
    )


class Vidu(Adaptor):
    vendor = "vidu"
    label = "Vidu"
    default_base_url = "https://api.vidu.com"
    known_models = (
        "viduq3-pro",
        "viduq3-turbo",
        "viduq2",
        "viduq2-pro",
        "viduq2-turbo",
        "viduq1",
        "viduq1-classic",
        "vidu2.0",
        "vidu1.5",
    )
    poll_interval = 10
    supports_cancel = True
    supports_callback = True
    signs_callbacks = True

    # --- validation -------------------------------------------------------------------

    def capabilities(self, upstream_model):
        try:
            durations, _, resolutions = model_rules(upstream_model)
        except RequestInvalid:
            return {}
        tiers = dict.fromkeys(tier for allowed, _ in resolutions.values() for tier in allowed)
        modes = () if upstream_model in REFERENCE_ONLY else (TEXT, IMAGE, FIRST_LAST)
        modes += (REFERENCE_MODE,) if upstream_model in REFERENCE_MODELS else ()
        ratios = WIDE_RATIOS if upstream_model.startswith(("viduq2", "viduq3")) else RATIOS
        audio = upstream_model in AUDIO_MODELS
        inputs = media_inputs(
            reference_images=_most_references(upstream_model),
            image_tags=(ANY_TAG,) if upstream_model in SUBJECT_MODELS else (),
            generate_audio=(True, False) if audio else (),
        )
        return declare_capabilities(modes, durations, tiers, aspect_ratios=ratios, audio=audio, inputs=inputs)

    def plan(self, request, upstream_model):
        model_rules(upstream_model)  # an unknown model is refused first
        endpoint = self._endpoint(request, upstream_model)
        durations, default_seconds, resolutions = model_rules(upstream_model, endpoint)
        ratio = None
        if endpoint in (TEXT2VIDEO, REFERENCE):
            ratio = self._aspect_ratio(request, upstream_model, endpoint)
        seconds = self._seconds(request, upstream_model, endpoint, durations, default_seconds)
        allowed, default_resolution = resolutions[seconds]
        resolution = self._resolution(request, upstream_model, seconds, allowed, default_resolution)
        derived = {"endpoint": endpoint}
        if endpoint == REFERENCE:
            derived.update(self._references(request, upstream_model))
        audio = self._audio(request, upstream_model)
        if audio is not None:
            derived["audio"] = audio
        # "action" only chose the endpoint; "audio" and the subjects' voices were read above.
        taken = ("action", "audio", SUBJECT_VOICES)
        extra = {key: value for key, value in request.extra.items() if key not in taken}
        pinned = {**self._billed(upstream_model, seconds, resolution), "images": None, "subjects": None}
        extra = split_pinned(extra, pinned)
        return Plan(seconds=seconds, resolution=resolution, aspect_ratio=ratio, extra=extra, derived=derived)

    def _seconds(self, request, model, endpoint, durations, default):
        if request.seconds is not None and request.seconds not in durations and endpoint == REFERENCE:
            low, high = durations[0], durations[-1]
            raise RequestInvalid(
                f"{model} reference2video runs {low} to {high} seconds; got {request.seconds}",
                "seconds",
                "invalid_seconds",
            )
        return self.choose(request.seconds, tuple(durations), "seconds", default=default)

    def _references(self, request, model):
        """reference2video's images: {"images": [...]} (untagged) or {"subjects": [...]} (tagged)."""
        images = request.reference_images or tuple(request.images())
        tagged = [image.tag is not None for image in images]
        if not any(tagged):
            most = _most_references(model, flat=True)
            if len(images) > most:
                raise RequestInvalid(
                    f"{model} reference2video takes at most {most} reference images, got {len(images)}",
                    "reference_images",
                    "too_many_inputs",
                )
            if request.extra.get(SUBJECT_VOICES) is not None:
                raise RequestInvalid(
                    f"metadata.{SUBJECT_VOICES} needs reference images tagged with subject ids",
                    f"metadata.{SUBJECT_VOICES}",
                )
            return {"images": [_image_value(image) for image in images]}
        if not all(tagged):
            index = tagged.index(False)
            raise RequestInvalid(
                "Vidu takes reference images either all tagged with a subject id (subjects) or none "
                f"(a flat list), not a mix; reference_images[{index}] has no tag",
                f"reference_images[{index}].tag",
                "conflicting_inputs",
            )
        if model not in SUBJECT_MODELS:
            raise RequestInvalid(
                f"{model} takes no subjects: send its reference images without tags; "
                f"models that take subjects: {', '.join(SUBJECT_MODELS)}",
                "reference_images[0].tag",
                "unsupported_input",
            )
        if len(images) > MAX_REFERENCE_IMAGES:
            raise RequestInvalid(
                f"Vidu subjects take at most {MAX_REFERENCE_IMAGES} images in all, got {len(images)}",
                "reference_images",
                "too_many_inputs",
            )
        subjects = {}
        for index, image in enumerate(images):
            subject = subjects.setdefault(image.tag, {"id": image.tag, "images": []})
            if len(subject["images"]) == MAX_SUBJECT_IMAGES:
                raise RequestInvalid(
                    f"Vidu takes at most {MAX_SUBJECT_IMAGES} images per subject; subject {image.tag!r} has more",
                    f"reference_images[{index}]",
                    "too_many_inputs",
                )
            subject["images"].append(_image_value(image))
        if len(subjects) > MAX_SUBJECTS:  # unreachable while 7 images make at most 7 subjects; kept explicit
            raise RequestInvalid(f"Vidu takes at most {MAX_SUBJECTS} subjects", "reference_images", "too_many_inputs")
        voices = request.extra.get(SUBJECT_VOICES)
        if voices is not None:
            param = f"metadata.{SUBJECT_VOICES}"
            if not isinstance(voices, dict) or not all(isinstance(v, str) and v for v in voices.values()):
                raise RequestInvalid(f"{param} must map subject ids to voice ids", param)
            for subject_id, voice in voices.items():
                if subject_id not in subjects:
                    raise RequestInvalid(f"{param} names {subject_id!r}, which no reference image is tagged", param)
                subjects[subject_id]["voice_id"] = voice
        return {"subjects": list(subjects.values())}

    def _audio(self, request, model):
        """The ``audio`` switch to send (None: leave Vidu's default): the canonical generate_audio, or
        a Vidu client's own ``audio`` (metadata, native body), which must agree with it."""
        audio = request.generate_audio
        if "audio" in request.extra:
            given = request.extra["audio"]
            if not isinstance(given, bool):
                raise RequestInvalid("metadata.audio must be true or false", "metadata.audio")
            if audio is not None and given != audio:
                raise RequestInvalid(
                    f"metadata.audio ({given}) contradicts generate_audio ({audio})",
                    "metadata.audio",
                    "conflicting_parameters",
                )
            if model not in AUDIO_MODELS:
                shown = ", ".join(AUDIO_MODELS)
                raise RequestInvalid(f"{model} does not take 'audio'; models that do: {shown}", "metadata.audio")
            audio = given
        return audio

    def _endpoint(self, request, model):
        action = request.extra.get("action")
        if action is not None and action not in ACTIONS:
            raise RequestInvalid(f"metadata.action must be one of {', '.join(ACTIONS)}", "metadata.action")
        images = request.images()
        if action:
            endpoint = ACTIONS[action]
        elif request.reference_images:
            endpoint = REFERENCE
            if request.image or request.last_frame:
                raise RequestInvalid("Vidu reference2video takes reference images only, no first/last frame", "image")
        elif request.last_frame and not request.image:
            raise RequestInvalid("A last frame needs a first frame ('image')", "image", "image_required")
        else:
            endpoint = (TEXT2VIDEO, IMG2VIDEO, START_END)[len(images)]
        if endpoint != REFERENCE and model in REFERENCE_ONLY:
            raise RequestInvalid(
                f"{model} makes videos from reference images only (reference2video); give 'reference_images' "
                "(or use viduq3-pro / viduq3-turbo)",
                "reference_images",
                "unsupported_mode",
            )
        if endpoint == REFERENCE and model not in REFERENCE_MODELS:
            shown = ", ".join(REFERENCE_MODELS)
            param = "reference_images" if request.reference_images else "model"
            raise RequestInvalid(f"{model} cannot do reference2video; models that can: {shown}", param)
        low, high = IMAGE_COUNTS[endpoint]
        if endpoint == REFERENCE:
            high = MAX_REFERENCE_IMAGES  # the finer counts (flat or subjects) are in _references()
        if not low <= len(images) <= high:
            wanted = str(low) if low == high else f"{low} to {high}"
            param = "reference_images" if endpoint == REFERENCE and request.reference_images else "image"
            raise RequestInvalid(f"Vidu {endpoint} takes {wanted} images, got {len(images)}", param, "image_count")
        if endpoint in (TEXT2VIDEO, REFERENCE) and not request.prompt:
            raise RequestInvalid(f"Vidu {endpoint} needs a 'prompt'", "prompt", "prompt_required")
        for image in images:
            if image.data is not None and image.mime_type not in IMAGE_TYPES:
                raise RequestInvalid(f"Vidu takes PNG, JPEG or WebP images, not {image.mime_type}", "image")
        return endpoint

    def _resolution(self, request, model, seconds, allowed, default):
        resolution = request.resolution
        param = "size" if request.size else "resolution"
        if resolution is not None and resolution not in allowed:
            shown = f"{request.size} ({resolution})" if request.size else resolution
            raise RequestInvalid(
                f"{model} renders {', '.join(allowed)} at {seconds} s; '{param}' {shown} is not one of them",
                param,
                f"invalid_{param}",
            )
        return resolution or default

    def _aspect_ratio(self, request, model, endpoint):
        # 4:3 and 3:4: text2video on q2/q3, and reference2video on q3.
        wide = model.startswith("viduq3") or (endpoint == TEXT2VIDEO and model.startswith("viduq2"))
        allowed = WIDE_RATIOS if wide else RATIOS
        return requested_ratio(request, allowed)

    @staticmethod
    def _billed(model, seconds, resolution):
        return {"model": model, "duration": seconds, "resolution": resolution}

    # --- calls ------------------------------------------------------------------------

    def submit(self, ctx, request, upstream_model, plan):
        endpoint = plan.derived["endpoint"]
        body = {"model": upstream_model}
        if request.prompt:
            body["prompt"] = request.prompt
        if endpoint == REFERENCE:
            for key in ("images", "subjects"):
                if key in plan.derived:
                    body[key] = plan.derived[key]
        elif endpoint != TEXT2VIDEO:
            body["images"] = [_image_value(image) for image in request.images()]
        if "audio" in plan.derived:
            body["audio"] = plan.derived["audio"]
        body["duration"] = plan.seconds
        body["resolution"] = plan.resolution
        if plan.aspect_ratio:
            body["aspect_ratio"] = plan.aspect_ratio
        if request.seed is not None:
            body["seed"] = request.seed
        body.update(plan.extra)  # the billed keys were checked in plan()
        if ctx.callback_url:
            body["callback_url"] = ctx.callback_url  # the gateway's, replacing a client's metadata one
        url = self._url(ctx, f"/ent/v2/{endpoint}")
        response = http.request("POST", url, headers=self._headers(ctx), json=body, read_timeout=ctx.read_timeout)
        answer = self._checked(response)
        if answer.get("state") == "failed":
            reason = str(answer.get("err_code") or "failed")
            raise VendorRejected(
                f"Vidu refused the task: {reason}", code=reason, moderation=reason in MODERATION_REASONS
            )
        if not answer.get("task_id"):
            raise VendorError("Vidu accepted the request but returned no task_id")
        return Submission(vendor_task_id=str(answer["task_id"]), vendor_status=str(answer.get("state", "")))

    def poll(self, ctx, ref):
        url = self._url(ctx, f"/ent/v2/tasks/{ref.vendor_task_id}/creations")
        try:
            answer = self._checked(http.request("GET", url, headers=self._headers(ctx)))
        except VendorRejected as exc:
            if exc.code in NOT_FOUND_REASONS:
                raise VendorTaskMissing(exc.message, code=exc.code, http_status=exc.http_status) from None
            raise
        return self._result(answer, ref.vendor_task_id)

    def verify_callback(self, headers, body, method, path, query, ctx, ref):
        headers = {name.lower(): value for name, value in headers.items()}
        if headers.get("x-hmac-algorithm", "").lower() != CALLBACK_ALGORITHM:
            raise CallbackRejected(f"X-HMAC-ALGORITHM must be {CALLBACK_ALGORITHM}")
        signature = headers.get("x-hmac-signature", "")
        access_key = headers.get("x-hmac-access-key", "")
        date = headers.get("date", "")
        names = [name.strip() for name in headers.get("x-hmac-signed-headers", "").split(";") if name.strip()]
        if not (signature and access_key and date and names):
            raise CallbackRejected("The callback is not signed")
        if any(name.lower() not in headers for name in names):
            raise CallbackRejected("A header named in X-HMAC-SIGNED-HEADERS is missing")
        signing = f"{method}\n{path}\n{query}\n{access_key}\n{date}\n"
        signing += "".join(f"{name}:{headers[name.lower()]}\n" for name in names)
        key = self.parse_credentials(ctx.credentials).encode()
        expected = base64.b64encode(hmac.new(key, signing.encode(), hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise CallbackRejected("The callback's signature does not match")
        try:
            sent_at = parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            raise CallbackRejected("The callback's Date cannot be read") from None
        if abs(time.time() - sent_at) > CALLBACK_MAX_AGE:
            raise CallbackRejected("The callback's Date is too old (or in the future): a replay")
        if "content-md5" in (name.lower() for name in names):
            digest = base64.b64encode(hashlib.md5(body).digest()).decode()
            if not hmac.compare_digest(digest.encode(), headers["content-md5"].strip().encode()):
                raise CallbackRejected("The callback's body does not match its signed Content-MD5")
        try:
            answer = json.loads(body)
        except ValueError:
            raise CallbackRejected("The callback's body is not JSON") from None
        if not isinstance(answer, dict):
            raise CallbackRejected("The callback's body is not a JSON object")
        # The signed path already names the task; an id in the payload must agree with it.
        about = str(answer.get("id") or answer.get("task_id") or "")
        if about and ref.vendor_task_id and about != ref.vendor_task_id:
            raise CallbackRejected(f"The callback is about task {about!r}, not {ref.vendor_task_id!r}")
        try:
            return self._result(answer, ref.vendor_task_id)
        except VendorError as exc:
            raise CallbackRejected(exc.message) from None

    def _result(self, answer, task_id):
        """A Get Generation answer (a query's, or a callback's) as a PollResult."""
        raw = str(answer.get("state", ""))
        status = STATUS.get(raw)
        if status is None:
            log.warning("Vidu task %s has an unknown state %r; still waiting", task_id, raw)
            return PollResult(status=IN_PROGRESS, vendor_status=raw)
        result = PollResult(status=status, vendor_status=raw)
        if status == COMPLETED:
            creations = answer.get("creations") or []
            if not creations or not isinstance(creations[0], dict) or not creations[0].get("url"):
                raise VendorError("Vidu reports success but gives no creation URL")
            result.result_url = creations[0]["url"]
        elif status == FAILED and answer.get("err_code") == CANCELLED_REASON:
            result.status = CANCELLED
            result.error_code = CANCELLED_REASON
            result.error_message = "Vidu reports the task was cancelled"
        elif status == FAILED:
            result.error_code = str(answer.get("err_code") or "failed")
            result.error_message = f"Vidu reports the task failed: {result.error_code}"
            result.moderation = result.error_code in MODERATION_REASONS
        return result

    def cancel(self, ctx, ref):
        url = self._url(ctx, f"/ent/v2/tasks/{ref.vendor_task_id}/cancel")
        response = http.request("POST", url, headers=self._headers(ctx), json={"id": ref.vendor_task_id})
        try:
            self._checked(response)
        except VendorRejected as exc:
            if exc.code in NOT_FOUND_REASONS:
                raise VendorTaskMissing(exc.message, code=exc.code, http_status=exc.http_status) from None
            if exc.code == "BadRequest" and "cancel" in exc.message.lower():  # "task state is ..., can not cancel"
                raise CancelTooLate(exc.message, code=exc.code, http_status=exc.http_status) from None
            raise

    def check(self, ctx):
        try:
            self._checked(http.request("GET", self._url(ctx, "/ent/v2/tasks/0/creations"), headers=self._headers(ctx)))
        except VendorRejected as exc:
            if exc.code in NOT_FOUND_REASONS:
                return f"Vidu accepted the key (looking up a missing task answered {exc.code})."
            raise
        return "Vidu accepted the key."

    # --- helpers ----------------------------------------------------------------------

    def _url(self, ctx, path):
        return ctx.base_url.rstrip("/") + path

    def _headers(self, ctx):
        return {"Authorization": f"Token {self.parse_credentials(ctx.credentials)}"}

    def _checked(self, response):
        try:
            body = response.json()
        except ValueError:
            body = None
        status = response.status_code
        if status < 300:
            if not isinstance(body, dict):
                raise VendorError(
                    f"Vidu answered HTTP {status} with a body that is not a JSON object", http_status=status
                )
            return body
        if not isinstance(body, dict):
            raise self.classify_http_error(response, f"Vidu answered HTTP {status}")
        reason = body.get("reason")
        message = f"Vidu {reason or status}: {body.get('message') or 'no message'}"
        if reason in ("Unauthorized", "Forbidden"):
            raise VendorAuthFailed(message, code=reason, http_status=status)
        if reason in UNAVAILABLE_REASONS:
            raise VendorUnavailable(message, code=reason, http_status=status)
        raise self.classify_http_error(response, message, code=reason, moderation=reason in MODERATION_REASONS)


def _image_value(image):
    """Vidu wants a URL or a data URI with its content type; raw bytes become one."""
    return image.url or image.data_uri


def _most_references(model, flat=False):
    """How many reference images ``model`` takes (as a flat list when ``flat``); 0: no reference2video."""
    if model not in REFERENCE_MODELS:
        return 0
    if model == "vidu2.0" and (flat or model not in SUBJECT_MODELS):
        return 3
    return MAX_REFERENCE_IMAGES


adaptor = Vidu()
