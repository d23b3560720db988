"""Alibaba DashScope (Bailian) native dialect, as the official ``dashscope`` SDK speaks it:
``POST .../services/aigc/{video-generation,image2video}/video-synthesis`` with
``{model, input{...}, parameters{...}}`` and ``GET .../tasks/{task_id}``, served under
``/api/v1/`` (a DashScope base URL of ``http://HOST/api/v1`` works) and ``/alibailian/api/v1/``.

Answers are DashScope's: ``{request_id, output{task_id, task_status, ...}, usage{...}}``, a
failed task inside ``output`` with HTTP 200, ``UNKNOWN`` for an id this key cannot see, and
errors as ``{request_id, code, message}``. Duration, size and resolution are billed by the
DashScope adaptor's plan(); other ``parameters`` pass through to the vendor untouched.
``POST .../tasks/{task_id}/cancel`` cancels a task (``VideoSynthesis.cancel``); one that can no
longer be cancelled is refused as DashScope refuses it (400 ``UnsupportedOperation``).

Media become canonical fields, whichever body shape carries them: ``input.audio_url`` -> audio,
``parameters.audio`` -> generate_audio, wan2.6 r2v's ``input.reference_urls`` (videos, then images,
told apart by their file extension) and older ``reference_video_urls`` -> reference_videos /
reference_images, and wan2.7's ``input.media`` items (first_frame, last_frame, first_clip,
driving_audio, reference_image, reference_video, video) -> image, last_frame, first_clip, audio,
reference_images, reference_videos (``video``, the clip wan2.7-videoedit edits, too).
"""

import json
import re
import uuid
from datetime import timedelta, timezone
from urllib.parse import urlsplit

from rest_framework.parsers import JSONParser, ParseError
from rest_framework.response import Response

from .. import cancel, services, signing
from ..errors import AUTHENTICATION, PERMISSION, GatewayError
from ..models import VideoTask
from .base import DialectView
from .parsing import as_text, build_request

BEIJING = timezone(timedelta(hours=8))
STATUS = {
    VideoTask.Status.QUEUED: "PENDING",
    VideoTask.Status.IN_PROGRESS: "RUNNING",
    VideoTask.Status.COMPLETED: "SUCCEEDED",
    VideoTask.Status.FAILED: "FAILED",
    VideoTask.Status.CANCELLED: "CANCELED",
}
# input keys: canonical ones, and the ones the adaptor places back into ``input``.
IMAGE_INPUTS = ("img_url", "first_frame_url", "last_frame_url")
PASSED_INPUTS = ("template", "reference_video_description")
MEDIA_INPUTS = ("audio_url", "reference_urls", "reference_video_urls", "media")
# The SDK always adds "extend_prompt" (deprecated prompt_extend) and "function" (the endpoint's name).
KNOWN_INPUTS = (
    "prompt", "negative_prompt", "extend_prompt", "function", *IMAGE_INPUTS, *PASSED_INPUTS, *MEDIA_INPUTS
)  # fmt: skip
CANONICAL_PARAMETERS = ("size", "resolution", "duration", "seed", "ratio", "audio")
# wan2.7 input.media item types -> canonical fields (single: one item at most).
MEDIA_TYPES = {
    "first_frame": "image",
    "last_frame": "last_frame",
    "first_clip": "first_clip",
    "driving_audio": "audio",
    "reference_image": "reference_images",
    "reference_video": "reference_videos",
    "video": "video",  # the video to edit (wan2.7-videoedit)
}
SINGLE_MEDIA = ("image", "last_frame", "first_clip", "video")
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".flv", ".m4v")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")
CODES = {
    "missing_model": "BadRequest.EmptyModel",
    "insufficient_balance": "Arrearage",
    "key_spend_limit_reached": "Arrearage",
    "content_moderation": "DataInspectionFailed",
    "vendor_timeout": "RequestTimeOut",
    "no_channel_available": "ServiceUnavailable",
    "vendor_unavailable": "ServiceUnavailable",
    "service_unavailable": "ServiceUnavailable",
    # DashScope cancels PENDING tasks only and refuses the others with 400 UnsupportedOperation.
    "cancel_too_late": "UnsupportedOperation",
    "cancel_not_supported": "UnsupportedOperation",
}
TASK_CODES = {"content_moderation": "DataInspectionFailed", "deadline_exceeded": "RequestTimeOut"}
COMMENT_RE = re.compile(r'("(?:\\.|[^"\\])*")|//[^\n]*')


def dashscope_code(error):
    if error.code in CODES:
        return CODES[error.code]
    if error.kind == AUTHENTICATION:
        return "InvalidApiKey"
    if error.kind == PERMISSION:
        return "AccessDenied"
    if error.status == 429:
        return "Throttling"
    return "InternalError" if error.status >= 500 else "InvalidParameter"


class LenientJSONParser(JSONParser):
    """JSON that may carry ``//`` line comments, as the vendor docs' own curl example does."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            text = stream.read().decode("utf-8") if stream else ""
        except UnicodeDecodeError as exc:
            raise ParseError(f"The body is not valid UTF-8 - {exc}") from None
        try:
            return json.loads(text)
        except ValueError:
            pass
        try:
            return json.loads(COMMENT_RE.sub(lambda match: match.group(1) or "", text))
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None


def _time(value):
    return value.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] if value else None


def _number(value):
    return int(value) if float(value).is_integer() else value


def task_output(request, task):
    output = {"task_id": task.public_id, "task_status": STATUS[task.status], "submit_time": _time(task.created_at)}
    if task.submitted_at:
        output["scheduled_time"] = _time(task.started_at or task.submitted_at)
    if task.finished_at:
        output["end_time"] = _time(task.finished_at)
    if task.status == VideoTask.Status.COMPLETED:
        output["video_url"] = signing.signed_content_url(request, task)
        output["orig_prompt"] = task.prompt
    elif task.status == VideoTask.Status.FAILED:
        output["code"] = TASK_CODES.get(task.error_code, "InternalError")
        output["message"] = task.error_message
    return output


def task_usage(task):
    return {
        "video_duration": _number(task.seconds_produced or task.seconds),
        "video_ratio": task.size.replace("x", "*") if task.size else "standard",
        "video_count": 1,
    }


class DashScopeView(DialectView):
    route = VideoTask.Route.DASHSCOPE

    def error_body(self, error):
        return {"request_id": str(uuid.uuid4()), "code": dashscope_code(error), "message": error.message}

    own_route_only = True

    def error_status(self, error, body):
        if error.status == 402 or CODES.get(error.code) == "UnsupportedOperation":
            return 400  # DashScope answers Arrearage, and a cancel it cannot do, with 400
        return error.status


class Synthesis(DashScopeView):
    """Create. ``require_async``: DashScope refuses a create without ``X-DashScope-Async: enable``;
    the ``/alibailian`` route, like the gateway it imitates, also takes none (but not another value)."""

    parser_classes = [LenientJSONParser]
    require_async = True

    def post(self, request):
        mode = request.headers.get("X-DashScope-Async")
        if mode != "enable" and (self.require_async or mode is not None):
            raise GatewayError(
                403, "async_required", "current user api does not support synchronous calls", kind=PERMISSION
            )
        data = self.body()
        model = as_text(data.get("model"), "model", required=True)
        inputs, parameters = data.get("input"), data.get("parameters") or {}
        if inputs is None:
            raise GatewayError(400, "missing_input", 'Required parameter "input" missing from request.', param="input")
        if not isinstance(inputs, dict):
            raise GatewayError(400, "invalid_input", '"input" must be an object.', param="input")
        if not isinstance(parameters, dict):
            raise GatewayError(400, "invalid_parameters", '"parameters" must be an object.', param="parameters")
        unknown = sorted(set(inputs) - set(KNOWN_INPUTS))
        if unknown:
            raise GatewayError(
                400, "unsupported_parameter", f"input.{unknown[0]} is not supported by this gateway.", param="input"
            )
        if inputs.get("img_url") and inputs.get("first_frame_url"):
            raise GatewayError(400, "conflicting_parameters", "Give input.img_url or input.first_frame_url, not both.")
        media = _media_fields(inputs)
        extra = {key: inputs[key] for key in PASSED_INPUTS if key in inputs}
        extra.update({key: value for key, value in parameters.items() if key not in CANONICAL_PARAMETERS})
        if inputs.get("extend_prompt") is False and "prompt_extend" not in parameters:
            extra["prompt_extend"] = False  # the deprecated spelling of the same switch
        canonical = build_request(
            model,
            as_text(inputs.get("prompt"), "prompt"),
            {
                "negative_prompt": inputs.get("negative_prompt"),
                "image": inputs.get("img_url") or inputs.get("first_frame_url"),
                "last_frame": inputs.get("last_frame_url"),
                "size": parameters.get("size"),
                "resolution": parameters.get("resolution"),
                "aspect_ratio": parameters.get("ratio"),
                "seconds": parameters.get("duration"),
                "seed": parameters.get("seed"),
                "generate_audio": parameters.get("audio"),
                **media,
            },
            extra=extra,
        )
        task = services.create_task(
            api_key=self.api_key,
            request=canonical,
            route=self.route,
            vendor="dashscope",
            idempotency_key=self.idempotency_key,
        )
        return Response(
            {"request_id": str(uuid.uuid4()), "output": {"task_id": task.public_id, "task_status": "PENDING"}}
        )


def _invalid(message, param):
    return GatewayError(400, "invalid_media", message, param=param)


def _media_fields(inputs):
    """The canonical media fields (image, audio, references, ...) of a native ``input``."""
    fields = {}
    if inputs.get("audio_url"):
        fields["audio"] = inputs["audio_url"]
    if "reference_urls" in inputs and "reference_video_urls" in inputs:
        raise _invalid("Give input.reference_urls or input.reference_video_urls, not both.", "input.reference_urls")
    if "reference_urls" in inputs:
        fields["reference_videos"], fields["reference_images"] = _references(inputs["reference_urls"])
    elif "reference_video_urls" in inputs:
        fields["reference_videos"] = inputs["reference_video_urls"]
    if "media" not in inputs:
        return fields
    mixed = [key for key in (*IMAGE_INPUTS, *MEDIA_INPUTS) if key in inputs and key != "media"]
    if mixed:
        raise _invalid(f"input.media carries every image and clip; input.{mixed[0]} cannot come with it.", "input")
    items = inputs["media"]
    if not isinstance(items, list) or not items:
        raise _invalid("input.media must be a non-empty list of {type, url} items.", "input.media")
    for index, item in enumerate(items):
        where = f"input.media[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("type"), str) or not item.get("url"):
            raise _invalid(f"{where} must be an object with a type and a url.", where)
        target = MEDIA_TYPES.get(item["type"])
        if target is None:
            raise GatewayError(
                400, "unsupported_parameter", f"{where}.type {item['type']!r} is not supported by this gateway.",
                param=f"{where}.type",
            )  # fmt: skip
        if target not in SINGLE_MEDIA:
            fields.setdefault(target, []).append(item["url"])
        elif target in fields:
            raise _invalid(f"input.media may carry one {item['type']} item.", where)
        else:
            fields[target] = item["url"]
    return fields


def _references(urls):
    """wan2.6 r2v's ``reference_urls`` -> (video URLs, image URLs), told apart by file extension. The
    prompt names the subjects character1, character2, ... in this order, which the gateway keeps only
    when the videos come first."""
    if not isinstance(urls, list) or not urls or not all(isinstance(url, str) for url in urls):
        raise _invalid("input.reference_urls must be a non-empty list of URLs.", "input.reference_urls")
    videos, images = [], []
    for index, url in enumerate(urls):
        path = urlsplit(url).path.lower()
        if path.endswith(VIDEO_SUFFIXES):
            if images:
                raise _invalid("List the reference videos before the reference images in input.reference_urls.",
                               f"input.reference_urls[{index}]")  # fmt: skip
            videos.append(url)
        elif path.endswith(IMAGE_SUFFIXES):
            images.append(url)
        else:
            raise _invalid(
                f"input.reference_urls[{index}] is neither an image nor a video by its name "
                f"(expected one of {', '.join(IMAGE_SUFFIXES + VIDEO_SUFFIXES)}).",
                f"input.reference_urls[{index}]",
            )
    return videos, images


class Task(DashScopeView):
    """Query. An id this key cannot see answers ``UNKNOWN`` with HTTP 200, as DashScope does."""

    def get(self, request, task_id):
        task = self.find_task(task_id)
        body = {"request_id": str(uuid.uuid4())}
        if task is None:
            body["output"] = {"task_id": task_id, "task_status": "UNKNOWN"}
            return Response(body)
        body["output"] = task_output(request, task)
        if task.status == VideoTask.Status.COMPLETED:
            body["usage"] = task_usage(task)
        return Response(body)


class Cancel(DashScopeView):
    """``POST .../tasks/{task_id}/cancel``: ``{request_id}`` once cancelled (it then reads CANCELED)."""

    def post(self, request, task_id):
        cancel.cancel_task(self.get_task(task_id))
        return Response({"request_id": str(uuid.uuid4())})
