"""OpenAI Videos dialect: ``/v1/videos`` as the official ``openai`` SDK speaks it."""

from django.conf import settings
from rest_framework.response import Response

from channels import services as routing
from channels.canonical import OWN_VIDEO_RE, ImageInput

from .. import cancel, content, services, signing
from ..errors import INVALID, NOT_FOUND, GatewayError, not_found
from ..models import VideoTask
from .base import DialectView
from .parsing import as_int, as_metadata, as_text, body_fields, build_request, check_n, in_client_terms


def _timestamp(value):
    return int(value.timestamp()) if value else None


# The columns video_object() reads: a list loads only these (not the vendor's state, the stored file...).
VIDEO_COLUMNS = (
    *("public_id", "model", "status", "progress", "created_at", "finished_at", "expires_at", "params", "seconds"),
    *("prompt", "remixed_from_id", "error_code", "error_message"),
)


def video_object(task):
    error = None
    status = task.status
    if status == VideoTask.Status.CANCELLED:  # OpenAI's Video has no "cancelled": failed, code "cancelled"
        status = VideoTask.Status.FAILED
    if status == VideoTask.Status.FAILED:
        error = {"code": task.error_code or "failed", "message": task.error_message}
    return {
        "id": task.public_id,
        "object": "video",
        "model": task.model,
        "status": status,
        "progress": task.progress,
        "created_at": _timestamp(task.created_at),
        "completed_at": _timestamp(task.finished_at) if task.status == VideoTask.Status.COMPLETED else None,
        "expires_at": _timestamp(task.expires_at),
        "size": "x".join(str(side) for side in task.dimensions) if all(task.dimensions) else "",
        "seconds": str(task.seconds),
        "prompt": task.prompt,
        "remixed_from_video_id": _remixed_from(task),
        "error": error,
    }


def _remixed_from(task):
    if not task.remixed_from_id:
        return None
    # Reads annotate the source's id (VideoTaskQuerySet.with_remix_source); a task just made has its source.
    return getattr(task, "remixed_from_public_id", None) or task.remixed_from.public_id


REFERENCE_FIELDS = ("input_reference", "input_reference[image_url]")


def _reference(data, files):
    """input_reference: an uploaded file, an image URL / data URI, or {"image_url": ...}."""
    if "input_reference" in files:
        return ImageInput.from_upload(files["input_reference"])
    value = data.get("input_reference") or data.get("input_reference[image_url]")
    if isinstance(value, dict) and value.get("file_id"):
        raise GatewayError(
            400,
            "unsupported_parameter",
            "input_reference.file_id is not supported; upload the file or pass an image_url.",
            param="input_reference",
        )
    return ImageInput.parse(value, "input_reference") if value else None


def default_model():
    """The model of a create that names none: the operator's GATEWAY_DEFAULT_VIDEO_MODEL, when a
    channel serves it. There is no built-in default (OpenAI's Sora, once the obvious one, is gone)."""
    model = settings.GATEWAY_DEFAULT_VIDEO_MODEL
    if not model:
        raise GatewayError(
            400,
            "missing_model",
            "'model' is required: this gateway has no default video model. Name one from GET /v1/models.",
            param="model",
        )
    if not routing.is_known_model(model):
        raise GatewayError(
            400,
            "model_not_found",
            f"'model' was left out and the gateway's default model '{model}' is not served by any channel. "
            "Name one from GET /v1/models.",
            param="model",
        )
    return model


def create_request(data, files):
    """The canonical request of a create body (``POST /v1/videos`` and its quote), and the client's
    names of its fields (parsing.in_client_terms)."""
    model = as_text(data.get("model"), "model") or default_model()
    prompt = as_text(data.get("prompt"), "prompt", required=True)
    check_n(data.get("n"))
    for name in files:
        if name != "input_reference":
            raise GatewayError(
                400,
                "unknown_parameter",
                f"Unrecognized file field: {name}. The one file a create takes is input_reference (the first frame).",
                param=name,
            )
    fields, metadata, names = body_fields(data, as_metadata(data.get("metadata")), own=REFERENCE_FIELDS)
    reference = _reference(data, files)
    if reference is not None:
        if fields.get("image") not in (None, ""):
            raise GatewayError(
                400,
                "conflicting_parameters",
                "input_reference and image both give the first frame: send one of them.",
                param="image",
            )
        fields["image"] = reference
        names = {**names, "image": "input_reference"}
    with in_client_terms(names):
        return build_request(model, prompt, fields, metadata, names=names), names


class OpenAIView(DialectView):
    route = VideoTask.Route.OPENAI

    @classmethod
    def shown_tasks_of(cls, tenant):
        return cls.tasks_of(tenant).with_remix_source()  # video_object names a remix's source

    def error_body(self, error):
        return {"error": {"message": error.message, "type": error.kind, "param": error.param, "code": error.code}}

    def video_response(self, task, status=200):
        response = Response(video_object(task), status=status)
        if task.is_active:
            response["openai-poll-after-ms"] = "2000"
        return response


class VideoCollection(OpenAIView):
    def post(self, request):
        canonical, names = create_request(self.body(), request.FILES)
        with in_client_terms(names):
            task = services.create_task(
                api_key=self.api_key, request=canonical, route=self.route, idempotency_key=self.idempotency_key
            )
        return self.video_response(task)

    def get(self, request):
        limit = as_int(request.query_params.get("limit"), "limit", 1, 100) or 20
        order = request.query_params.get("order", "desc")
        if order not in ("asc", "desc"):
            raise GatewayError(400, "invalid_order", "'order' must be 'asc' or 'desc'.", param="order")
        descending = order == "desc"
        tasks = self.shown_tasks()
        after = request.query_params.get("after")
        if after:
            try:
                created_at, pk = self.tasks().values_list("created_at", "id").get(public_id=after)
            except VideoTask.DoesNotExist:
                raise GatewayError(
                    400, "invalid_after", f"No video {after!r} to list after.", param="after", kind=INVALID
                ) from None
            tasks = tasks.past(created_at, pk, descending=descending)
        page = list(tasks.only(*VIDEO_COLUMNS).newest_first(descending)[: limit + 1])
        data = [video_object(task) for task in page[:limit]]
        return Response(
            {
                "object": "list",
                "data": data,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
                "has_more": len(page) > limit,
            }
        )


class VideoDetail(OpenAIView):
    def get(self, request, video_id):
        return self.video_response(self.get_task(video_id))

    def delete(self, request, video_id):
        """A finished video is deleted; an active one is cancelled first (409 if it cannot be), then deleted."""
        task = self.get_task(video_id)
        if task.is_active:
            task = cancel.cancel_task(task)
        services.delete_task(task)
        return Response({"id": task.public_id, "object": "video.deleted", "deleted": True})


class VideoCancel(OpenAIView):
    """``POST /v1/videos/{id}/cancel``: the video, now failed with error code ``cancelled``."""

    def post(self, request, video_id):
        return self.video_response(cancel.cancel_task(self.get_task(video_id)))


class VideoContent(OpenAIView):
    """The video's bytes, for the key's tenant, or for anyone holding a signed link."""

    def get_permissions(self):
        return [] if "token" in self.request.query_params else super().get_permissions()

    def get_authenticators(self):
        # self.request is unset while drf-spectacular builds its mock request for the OpenAPI document.
        return [] if "token" in getattr(self.request, "GET", ()) else super().get_authenticators()

    def get(self, request, video_id):
        token = request.query_params.get("token")
        if token is not None:
            if not signing.check_token(video_id, token):
                raise GatewayError(
                    403, "invalid_link", "This download link is invalid or has expired.", kind="permission_error"
                )
            try:
                task = VideoTask.objects.select_related("channel").get(public_id=video_id, deleted_at__isnull=True)
            except VideoTask.DoesNotExist:
                raise not_found() from None
        else:
            task = self.get_task(video_id, "channel")  # relaying the vendor's copy asks its channel
        variant = request.query_params.get("variant", "video")
        if variant != "video":
            raise GatewayError(400, "unsupported_variant", "Only variant=video is available.", param="variant")
        if task.status != VideoTask.Status.COMPLETED:
            raise GatewayError(
                404, "video_not_ready", f"The video is not ready (status: {task.status}).", kind="not_found_error"
            )
        return content.respond(request, task)

    head = get


class VideoRemix(OpenAIView):
    def post(self, request, video_id):
        source = self.get_task(video_id, "channel")  # a remix goes to the channel that made the source
        if source.status != VideoTask.Status.COMPLETED:
            raise GatewayError(400, "video_not_ready", "Only a completed video can be remixed.", param="video_id")
        data = self.body()
        for name in data:
            if name != "prompt":
                raise GatewayError(
                    400,
                    "unknown_parameter",
                    f"Unrecognized request argument supplied: {name[:100]}. A remix takes only 'prompt': it keeps "
                    "the source video's model, length and size.",
                    param=name[:100],
                )
        prompt = as_text(data.get("prompt"), "prompt", required=True)
        canonical = build_request(source.model, prompt, {"seconds": source.seconds, "size": source.size or None})
        task = services.create_task(api_key=self.api_key, request=canonical, route=self.route, remix_of=source)
        return self.video_response(task)


# The video an edit or extension works on, as the SDK sends it: {"id": ...} (multipart "video[id]"),
# or as this gateway's other fields take it: "video_..." or {"video_id": ...}, or a URL (no source).
VIDEO_FIELDS = ("video", "video[id]", "video[video_id]")


def _source_video(data, files):
    """The ``video`` of an edit or extension body: one of the caller's videos by id, or a URL."""
    if "video" in files:
        raise GatewayError(
            400,
            "unsupported_parameter",
            "Uploading a video is not supported (vendors fetch videos by URL): name one of your completed "
            'videos as {"id": "video_..."}, or give its URL. With the openai SDK: client.post("/videos/edits", '
            'body={"video": {"id": ...}, "prompt": ...}, cast_to=openai.types.Video).',
            param="video",
        )
    value = data.get("video")
    if isinstance(value, dict):
        value = value.get("id") or value.get("video_id") or value.get("url")
    value = value or data.get("video[id]") or data.get("video[video_id]")
    if not isinstance(value, str) or not value.strip():
        raise GatewayError(
            400,
            "missing_video",
            '\'video\' is required: the completed video to work on, as {"id": "video_..."}.',
            param="video",
        )
    return value.strip()


def own_video_request(view, data, files, field):
    """The canonical request of ``POST /v1/videos/edits`` (``field`` video) or ``/v1/videos/extensions``
    (``field`` first_clip): the prompt, and the video given as that field. The model is the source
    video's unless the body names one (the SDK cannot; extra_body can), or for a URL the default."""
    reference = _source_video(data, files)
    model = as_text(data.get("model"), "model")
    if OWN_VIDEO_RE.match(reference):
        source = view.find_task(reference)
        if source is None:
            raise GatewayError(
                404, "video_not_found", f"No video '{reference}' exists for this key.", param="video", kind=NOT_FOUND
            )
        model = model or source.model
    model = model or default_model()
    prompt = as_text(data.get("prompt"), "prompt", required=True)
    rest = {key: data.get(key) for key in data if key not in VIDEO_FIELDS}
    fields, metadata, names = body_fields(rest, as_metadata(data.get("metadata")))
    if fields.get(field) not in (None, ""):
        raise GatewayError(
            400, "conflicting_parameters", f"'video' is the video to work on here: leave '{field}' out.", param=field
        )
    fields[field] = reference
    with in_client_terms(names):
        return build_request(model, prompt, fields, metadata, names=names), names


class VideoEdits(OpenAIView):
    """``POST /v1/videos/edits`` (the SDK's ``videos.edit``): a new video, one of yours edited as the
    prompt says, on the channel that made it (videos.services._with_own_videos)."""

    field = "video"

    def post(self, request):
        canonical, names = own_video_request(self, self.body(), request.FILES, self.field)
        with in_client_terms(names):
            task = services.create_task(
                api_key=self.api_key, request=canonical, route=self.route, idempotency_key=self.idempotency_key
            )
        return self.video_response(task)


class VideoExtensions(VideoEdits):
    """``POST /v1/videos/extensions`` (the SDK's ``videos.extend``): a new video continuing one of yours
    (``seconds``: the length the vendor adds, where the vendor lets it be chosen)."""

    field = "first_clip"
