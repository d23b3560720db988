"""Vidu native dialect: ``POST /vidu/ent/v2/{text2video,img2video,start-end2video,reference2video}``
and ``GET /vidu/ent/v2/tasks/{id}/creations``, with ``Authorization: Token sk-...`` (or Bearer).

The endpoint fixes how ``images`` are read: none, the first frame, first and last frames, or
reference images; the Vidu adaptor then picks the same endpoint upstream. reference2video takes
``subjects`` (``[{id, images, voice_id}]``, 1-7 subjects of 1-3 images) instead of ``images``: each
image becomes a reference image tagged with its subject's id, the voices go as the adaptor's
``subject_voices``. ``audio`` (a boolean) is the canonical ``generate_audio``. ``model``,
``duration`` and ``resolution`` are billed; ``style``, ``movement_amplitude``, ``bgm``,
``payload`` and other fields pass through. Errors are Vidu's ``{code, reason, message, metadata}``.
``POST /vidu/ent/v2/tasks/{id}/cancel`` cancels a task (``{}``); one that can no longer be cancelled is
refused as Vidu refuses it (400 BadRequest), and reads ``failed`` / ``UserCancelled`` once cancelled.
"""

import uuid

from rest_framework.response import Response

from accounts.auth import BearerOrTokenAuthentication

from .. import cancel, services, signing
from ..errors import AUTHENTICATION, PERMISSION, GatewayError
from ..models import VideoTask
from .base import DialectView
from .parsing import as_text, build_request

TEXT2VIDEO = "text2video"
IMG2VIDEO = "img2video"
START_END = "start-end2video"
REFERENCE = "reference2video"
IMAGE_COUNTS = {TEXT2VIDEO: (0, 0), IMG2VIDEO: (1, 1), START_END: (2, 2), REFERENCE: (1, 7)}
CANONICAL = ("model", "prompt", "images", "subjects", "duration", "resolution", "aspect_ratio", "seed", "audio")
MAX_SUBJECTS = 7
MAX_SUBJECT_IMAGES = 3
STATE = {
    VideoTask.Status.QUEUED: "queueing",
    VideoTask.Status.IN_PROGRESS: "processing",
    VideoTask.Status.COMPLETED: "success",
    VideoTask.Status.FAILED: "failed",
    VideoTask.Status.CANCELLED: "failed",  # with err_code UserCancelled, as Vidu shows a cancelled task
}
REASONS = {
    "missing_api_key": "Unauthorized",
    "not_found": "TaskNotFound",
    "insufficient_balance": "CreditInsufficient",
    "key_spend_limit_reached": "CreditInsufficient",
    "content_moderation": "TaskPromptPolicyViolation",
    "model_not_found": "ModelUnavailable",
    "no_channel_available": "ModelUnavailable",
    "invalid_body": "BadRequest",
    "unwanted_images": "FieldUnwanted",
    "image_count": "FieldItemCountOutOfRange",
    "subject_count": "FieldItemCountOutOfRange",
    "too_many_inputs": "FieldItemCountOutOfRange",
    "unwanted_subjects": "FieldUnwanted",
    "idempotency_request_in_progress": "OperationInProcess",  # Vidu's "operation in process, please retry later"
    # Vidu refuses a cancel it cannot do with 400 BadRequest ("task state is scheduled, can not cancel").
    "cancel_too_late": "BadRequest",
    "cancel_not_supported": "BadRequest",
}
FAILURE_REASONS = {
    "content_moderation": "CreationPolicyViolation",
    "vendor_failed": "InternalServiceFailure",
    "cancelled": "UserCancelled",
}


def vidu_reason(error):
    if error.code in REASONS:
        return REASONS[error.code]
    if error.kind == AUTHENTICATION:
        return "Unauthorized"
    if error.kind == PERMISSION:
        return "Forbidden"
    if error.code.startswith("missing_") or error.code.endswith("_required"):
        return "FieldLacking"
    if error.status == 429:
        return "TooManyRequests"
    return "InternalServiceFailure" if error.status >= 500 else "FieldInvalid"


class ViduView(DialectView):
    route = VideoTask.Route.VIDU
    authentication_classes = [BearerOrTokenAuthentication]

    def error_body(self, error):
        status = 400 if error.status == 402 or REASONS.get(error.code) == "BadRequest" else error.status
        metadata = {"trace_id": uuid.uuid4().hex}
        return {"code": status, "reason": vidu_reason(error), "message": error.message, "metadata": metadata}

    own_route_only = True

    def error_status(self, error, body):
        return body["code"]


class Create(ViduView):
    """``endpoint`` is set per URL."""

    endpoint = TEXT2VIDEO

    def post(self, request):
        data = self.body()
        if data.get("callback_url"):
            raise GatewayError(
                400, "unsupported_parameter", "callback_url is not supported: query the task.", param="callback_url"
            )
        subjects = data.get("subjects")
        if subjects is not None and self.endpoint != REFERENCE:
            raise GatewayError(400, "unwanted_subjects", "unwanted field: subjects", param="subjects")
        if subjects is not None and data.get("images") is not None:
            raise GatewayError(
                400, "unwanted_images", "unwanted field: images (give subjects or images)", param="images"
            )
        images = self._images(data.get("images")) if subjects is None else []
        extra = {key: value for key, value in data.items() if key not in CANONICAL}
        fields = {
            "seconds": data.get("duration"),
            "resolution": data.get("resolution"),
            "aspect_ratio": data.get("aspect_ratio"),
            "seed": data.get("seed"),
            "generate_audio": data.get("audio"),
        }
        if subjects is not None:
            fields["reference_images"], voices = self._subjects(subjects)
            if voices:
                extra["subject_voices"] = voices
        elif self.endpoint == REFERENCE:
            fields["reference_images"] = images
        elif images:
            fields["image"] = images[0]
            fields["last_frame"] = images[1] if len(images) > 1 else None
        canonical = build_request(
            as_text(data.get("model"), "model", required=True),
            as_text(data.get("prompt"), "prompt"),
            fields,
            extra=extra,
        )
        task = services.create_task(
            api_key=self.api_key,
            request=canonical,
            route=self.route,
            vendor="vidu",
            idempotency_key=self.idempotency_key,
        )
        answer = {
            key: data[key] for key in ("style", "movement_amplitude", "bgm", "payload", "off_peak") if key in data
        }
        if subjects is not None:
            answer["subjects"] = subjects
        else:
            answer["images"] = images
        if canonical.generate_audio is not None:
            answer["audio"] = canonical.generate_audio
        answer.update(
            task_id=task.public_id,
            state="created",
            model=task.model,
            prompt=task.prompt,
            duration=task.seconds,
            seed=canonical.seed if canonical.seed is not None else 0,
            resolution=task.resolution,
            created_at=task.created_at.isoformat().replace("+00:00", "Z"),
        )
        if self.endpoint in (TEXT2VIDEO, REFERENCE):
            answer["aspect_ratio"] = canonical.aspect_ratio or "16:9"
        return Response(answer)

    def _images(self, images):
        low, high = IMAGE_COUNTS[self.endpoint]
        if self.endpoint == TEXT2VIDEO:
            if images is not None:
                raise GatewayError(400, "unwanted_images", "unwanted field: images", param="images")
            return []
        if not isinstance(images, list) or not low <= len(images) <= high:
            raise GatewayError(400, "image_count", "field item count out of range: images", param="images")
        return images

    @staticmethod
    def _subjects(subjects):
        """``[{id, images, voice_id}]`` -> (reference images as {"url", "tag"}, {id: voice_id})."""
        if not isinstance(subjects, list) or not 1 <= len(subjects) <= MAX_SUBJECTS:
            raise GatewayError(400, "subject_count", "field item count out of range: subjects", param="subjects")
        references, voices, seen = [], {}, set()
        for index, subject in enumerate(subjects):
            param = f"subjects[{index}]"
            subject_id = subject.get("id") if isinstance(subject, dict) else None
            if not isinstance(subject_id, str) or not subject_id.strip():
                raise GatewayError(
                    400, "missing_subject_id", "field is missing or empty: subjects.id", param=f"{param}.id"
                )
            if subject_id in seen:
                raise GatewayError(
                    400, "invalid_subject_id", "invalid field: subjects.id (repeated)", param=f"{param}.id"
                )
            seen.add(subject_id)
            images = subject.get("images")
            if not isinstance(images, list) or not 1 <= len(images) <= MAX_SUBJECT_IMAGES:
                raise GatewayError(
                    400,
                    "image_count",
                    "field item count out of range: subjects.images (1 to 3 images per subject)",
                    param=f"{param}.images",
                )
            references += [{"url": image, "tag": subject_id} for image in images]
            voice = subject.get("voice_id")
            if voice is not None:
                if not isinstance(voice, str) or not voice:
                    raise GatewayError(
                        400, "invalid_voice_id", "invalid field: subjects.voice_id", param=f"{param}.voice_id"
                    )
                voices[subject_id] = voice
        return references, voices


class Creations(ViduView):
    def get(self, request, task_id):
        task = self.get_task(task_id)
        creations = []
        if task.status == VideoTask.Status.COMPLETED:
            url = signing.signed_content_url(request, task)
            creations = [{"id": task.public_id, "url": url, "cover_url": "", "watermarked_url": url}]
        err_code = ""
        if STATE[task.status] == "failed":
            err_code = FAILURE_REASONS.get(task.error_code, "InternalServiceFailure")
        extra = task.params.get("extra") or {}
        return Response(
            {
                "id": task.public_id,
                "state": STATE[task.status],
                "err_code": err_code,
                "payload": extra.get("payload", ""),
                "bgm": extra.get("bgm", False),
                "off_peak": extra.get("off_peak", False),
                "creations": creations,
            }
        )


class Cancel(ViduView):
    """``POST /vidu/ent/v2/tasks/{id}/cancel`` with ``{"id": ...}``: ``{}`` once cancelled."""

    def post(self, request, task_id):
        data = self.body()
        if "id" in data and str(data["id"]) != task_id:
            raise GatewayError(400, "invalid_id", "invalid field: id", param="id")
        cancel.cancel_task(self.get_task(task_id))
        return Response({})
