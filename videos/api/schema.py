"""The client API's contract: the OpenAPI 3.1 document at ``/openapi.json`` and its docs page at ``/docs``.

drf-spectacular walks the DRF views of ``videos/api/urls.py``; the dialects answer hand-built dicts in
their vendors' shapes, so each operation is described here (``extend_schema_view``) with JSON Schemas
registered as components (``add_components``, a postprocessing hook), one error shape per dialect.
The vendor callback route is a plain Django view: the same hook adds it, without a key.
Swagger UI comes from drf-spectacular-sidecar (vendored static files, no CDN).
"""

from django.urls import path
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.renderers import OpenApiJsonRenderer2
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerSplitView

from . import catalog, native_dashscope, native_jimeng, native_kling, native_vidu, openai, unified


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.auth.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A tenant's `sk-` key. Vidu's routes also take `Authorization: Token sk-...`.",
        }


class ApiKeyOrTokenScheme(ApiKeyScheme):
    target_class = "accounts.auth.BearerOrTokenAuthentication"
    name = "apiKeyOrToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Bearer sk-...` or `Token sk-...`.",
        }


def ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def text(nullable=False, **extra):
    return {"type": ["string", "null"] if nullable else "string", **extra}


def integer(nullable=False, **extra):
    return {"type": ["integer", "null"] if nullable else "integer", **extra}


NUMBER = {"type": ["integer", "number"]}
NUMBER_OR_TEXT = {"type": ["integer", "number", "string"]}
BINARY = {"type": "string", "format": "binary"}
ANY_OBJECT = {"type": "object", "additionalProperties": True}
IMAGE = {
    "type": "string",
    "description": "An image: an http(s) URL or a data URI (base64); the gateway fetches URLs itself.",
}


TAG = text(
    description="A role (e.g. asset, style) or a subject id the prompt names; GET /v1/models lists what a model takes."
)
TAGGED_IMAGE = {"oneOf": [IMAGE, {"type": "object", "properties": {"url": IMAGE, "tag": TAG}, "required": ["url"]}]}
CLIP = {
    "oneOf": [
        {"type": "string", "description": "An http(s) URL the vendor fetches (clips are not uploaded)."},
        {"type": "object", "properties": {"url": {"type": "string"}, "tag": TAG}, "required": ["url"]},
    ]
}
CLIPS = {"oneOf": [CLIP, {"type": "array", "items": CLIP}]}
# A video the vendor works on: a URL, or one of the caller's own completed videos by id.
OWN_CLIP = {
    "oneOf": [
        *CLIP["oneOf"],
        {"type": "string", "pattern": "^video_", "description": "One of your completed videos, by its id."},
        {"type": "object", "properties": {"video_id": {"type": "string"}}, "required": ["video_id"]},
    ]
}
# The media vocabulary (channels/canonical.py), in the dialects that can express it. A model that
# cannot take an input refuses it with a 400 naming the field, before anything is held.
MEDIA_PROPERTIES = {
    "reference_images": {"type": "array", "items": TAGGED_IMAGE, "description": "Images to follow (look, subject)."},
    "reference_videos": {
        "type": "array",
        "items": CLIP,
        "description": "Clips whose look, motion or subject to follow.",
    },
    "audio_url": {**CLIPS, "description": "Driving or reference audio clip(s)."},
    "first_clip": {**OWN_CLIP, "description": "A video to continue (extension): a URL or one of your videos."},
    "video": {**OWN_CLIP, "description": "A video to edit as the prompt says: a URL or one of your videos."},
    "generate_audio": {
        "type": "boolean",
        "description": "Whether the video has generated sound; unset: the model's default.",
    },
}


# The top level both create dialects read (videos/api/parsing.py BODY_FIELDS); any other field is a
# 400 unknown_parameter. Each alias is listed, pointing at the field it fills.
GENERIC_PROPERTIES = {
    "seconds": {**NUMBER_OR_TEXT, "description": 'Clip length in seconds, e.g. "5"; also "auto" where a model allows.'},
    "duration": {**NUMBER_OR_TEXT, "description": "The same as seconds (new-api's name)."},
    "size": text(description='"WIDTHxHEIGHT", e.g. "1280x720", or a resolution such as "720p".'),
    "width": NUMBER_OR_TEXT,
    "height": NUMBER_OR_TEXT,
    "resolution": text(description='e.g. "720p".'),
    "aspect_ratio": text(description='e.g. "16:9".'),
    "fps": NUMBER_OR_TEXT,
    "seed": NUMBER_OR_TEXT,
    "negative_prompt": text(),
    "image": {**IMAGE, "description": "The first frame."},
    "last_frame": {**IMAGE, "description": "The last frame."},
    "images": {"type": "array", "items": TAGGED_IMAGE, "description": "new-api's name for reference_images."},
    "mode": text(description="The vendor's own mode, e.g. Kling std or pro: the same as metadata.mode."),
    "user": text(description="Accepted for new-api clients; not used."),
    "response_format": text(description="Accepted for new-api clients; not used."),
}


def _aliases():
    """Every other name parsing accepts at the top level, each described as the field it fills."""
    from .parsing import BODY_FIELDS, LIFTED

    named = {"model", "prompt", "n", "metadata", *GENERIC_PROPERTIES, *MEDIA_PROPERTIES}
    return {
        name: {"description": f"The same as {LIFTED[name]}."} for name in sorted(BODY_FIELDS - named) if name in LIFTED
    }


def obj(properties, required=(), additional=True, **extra):
    schema = {"type": "object", "properties": properties, "additionalProperties": additional, **extra}
    if required:
        schema["required"] = list(required)
    return schema


ALIASES = _aliases()
TASK_STATUS = ["queued", "in_progress", "completed", "failed"]

COMPONENTS = {
    # --- OpenAI /v1/videos and /v1/models
    "OpenAIError": obj(
        {
            "error": obj(
                {
                    "message": text(),
                    "type": text(description="e.g. invalid_request_error, authentication_error, billing_error"),
                    "param": text(nullable=True),
                    "code": text(description="The gateway's stable error code."),
                },
                required=("message", "type", "param", "code"),
            )
        },
        required=("error",),
    ),
    "OpenAIVideoCreate": obj(
        {
            "model": text(
                description="A model this key may use (GET /v1/models); default: GATEWAY_DEFAULT_VIDEO_MODEL."
            ),
            "prompt": text(),
            **GENERIC_PROPERTIES,
            "input_reference": {
                "oneOf": [IMAGE, obj({"image_url": IMAGE}, required=("image_url",))],
                "description": "The first frame: an image URL / data URI, or {image_url}. Not with image.",
            },
            **MEDIA_PROPERTIES,
            "audio": {"type": "boolean", "description": "Vidu-style: the same as generate_audio."},
            **ALIASES,
            "n": {"const": 1},
            "metadata": {**ANY_OBJECT, "description": "Vendor-specific fields; also an object as a JSON string."},
        },
        required=("prompt",),
        additional=False,
    ),
    "OpenAIVideoCreateMultipart": obj(
        {
            "model": text(),
            "prompt": text(),
            "seconds": text(),
            "duration": text(description="The same as seconds."),
            "size": text(),
            "resolution": text(),
            "image": text(description="The first frame as a URL; not with input_reference."),
            "mode": text(description="The vendor's own mode: the same as metadata.mode."),
            "input_reference": {"type": "string", "format": "binary", "description": "The first frame, uploaded."},
            "metadata": text(description="Vendor-specific fields as a JSON object in a string."),
        },
        required=("prompt",),
    ),
    "OpenAIVideoRemix": obj({"prompt": text()}, required=("prompt",), additional=False),
    # POST /v1/videos/edits and /extensions: the SDK's videos.edit / videos.extend (multipart,
    # video[id]=...); JSON works too, and so does any field of a create (metadata included).
    **{
        name: obj(
            {
                "prompt": text(),
                "video": {
                    "oneOf": [
                        obj({"id": text()}, required=("id",)),
                        {"type": "string", "description": "One of your videos (video_...) or a URL."},
                    ],
                    "description": "The completed video to work on; the request goes to the channel that made it.",
                },
                **extension,
                "model": text(description="Default: the source video's model."),
                "metadata": ANY_OBJECT,
            },
            required=("prompt", "video", *extension),
        )
        for name, extension in (
            ("OpenAIVideoEdit", {}),
            (
                "OpenAIVideoExtend",
                {"seconds": text(description="The length to add, if the vendor allows.")},
            ),
        )
    },
    **{
        f"{name}Multipart": obj(
            {
                "prompt": text(),
                "video[id]": text(description="One of your completed videos."),
                **extension,
                "model": text(),
                "metadata": text(description="Vendor-specific fields as a JSON object in a string."),
            },
            required=("prompt", "video[id]", *extension),
        )
        for name, extension in (("OpenAIVideoEdit", {}), ("OpenAIVideoExtend", {"seconds": text()}))
    },
    "OpenAIVideo": obj(
        {
            "id": text(),
            "object": {"const": "video"},
            "model": text(),
            "status": {"enum": TASK_STATUS, "description": "A cancelled video reads failed, error code cancelled."},
            "progress": integer(),
            "created_at": integer(nullable=True),
            "completed_at": integer(nullable=True),
            "expires_at": integer(nullable=True),
            "size": text(nullable=True),
            "seconds": text(),
            "prompt": text(nullable=True),
            "remixed_from_video_id": text(nullable=True),
            "error": {
                "oneOf": [
                    {"type": "null"},
                    obj({"code": text(), "message": text(nullable=True)}, required=("code", "message")),
                ]
            },
        },
        required=("id", "object", "model", "status", "progress", "created_at", "seconds", "error"),
    ),
    "OpenAIVideoQuote": obj(
        {
            "object": {"const": "video.quote"},
            "model": text(),
            "seconds": text(),
            "size": text(nullable=True),
            "resolution": text(nullable=True),
            "amount": integer(description="Units held now (1,000,000 = 1 USD)."),
            "amount_usd": {},
        },
        required=("object", "model", "amount"),
    ),
    "OpenAIVideoList": obj(
        {
            "object": {"const": "list"},
            "data": {"type": "array", "items": ref("OpenAIVideo")},
            "first_id": text(nullable=True),
            "last_id": text(nullable=True),
            "has_more": {"type": "boolean"},
        },
        required=("object", "data", "first_id", "last_id", "has_more"),
    ),
    "OpenAIVideoDeleted": obj(
        {"id": text(), "object": {"const": "video.deleted"}, "deleted": {"type": "boolean"}},
        required=("id", "object", "deleted"),
    ),
    "Model": obj(
        {"id": text(), "object": {"const": "model"}, "created": integer(), "owned_by": text()},
        required=("id", "object", "created", "owned_by"),
    ),
    "ModelList": obj(
        {"object": {"const": "list"}, "data": {"type": "array", "items": ref("Model")}},
        required=("object", "data"),
    ),
    # --- unified /v1/video/generations (new-api)
    "UnifiedError": obj(
        {"code": text(), "message": text(), "param": text(nullable=True), "type": text()},
        required=("code", "message", "param", "type"),
    ),
    "UnifiedGenerationCreate": obj(
        {
            "model": text(),
            "prompt": text(),
            **GENERIC_PROPERTIES,
            "input_reference": {**IMAGE, "description": "The same as image (new-api accepts it here)."},
            "n": {"const": 1},
            **MEDIA_PROPERTIES,
            "audio": {"type": "boolean", "description": "Vidu-style: the same as generate_audio."},
            **ALIASES,
            "metadata": ANY_OBJECT,
        },
        required=("model", "prompt"),
        additional=False,
    ),
    "UnifiedGenerationCreated": obj(
        {
            "id": text(),
            "object": {"const": "video"},
            "model": text(),
            "created_at": integer(),
            "task_id": text(),
            "status": {"enum": TASK_STATUS},
        },
        required=("id", "task_id", "status"),
    ),
    "UnifiedGeneration": obj(
        {
            "task_id": text(),
            "status": {"enum": TASK_STATUS},
            "progress": integer(),
            "format": text(),
            "url": text(nullable=True, description="A signed download link, once completed."),
            "metadata": ANY_OBJECT,
            "error": {"oneOf": [{"type": "null"}, ANY_OBJECT]},
        },
        required=("task_id", "status", "progress", "url", "error"),
    ),
    # --- Kling native
    "KlingCreate": obj(
        {
            "model_name": text(
                description="Default kling-v1 (omni-video: kling-video-o1; multi-image2video: kling-v1-6; "
                "video-extend: the video's own)."
            ),
            "model": text(description="new-api's alias of model_name."),
            "prompt": text(),
            "negative_prompt": text(),
            "image": IMAGE,
            "image_tail": IMAGE,
            "mode": text(description="std or pro; billed."),
            "duration": NUMBER_OR_TEXT,
            "aspect_ratio": text(),
            "cfg_scale": NUMBER,
            "camera_control": ANY_OBJECT,
            "image_list": {
                "type": "array",
                "items": ANY_OBJECT,
                "description": "omni-video: [{image_url, type: first_frame|end_frame}] (untyped: references); "
                "multi-image2video: [{image}].",
            },
            "video_list": {
                "type": "array",
                "items": ANY_OBJECT,
                "description": "omni-video: [{video_url, refer_type: base|feature, keep_original_sound}].",
            },
            "video_id": text(description="video-extend: one of your videos (a task_result.videos[].id)."),
            "external_task_id": text(),
            "n": {"const": 1},
            "metadata": ANY_OBJECT,
        },
        description="Kling's body; fields the gateway does not interpret go to the vendor untouched.",
    ),
    "KlingTask": obj(
        {
            "task_id": text(),
            "task_status": {"enum": ["submitted", "processing", "succeed", "failed"]},
            "task_status_msg": text(nullable=True),
            "task_info": ANY_OBJECT,
            "created_at": integer(description="Milliseconds since the epoch."),
            "updated_at": integer(),
            "task_result": obj({"videos": {"type": "array", "items": ANY_OBJECT}}),
        },
        required=("task_id", "task_status", "created_at", "updated_at"),
    ),
    "KlingTaskEnvelope": obj(
        {"code": {"const": 0}, "message": text(), "request_id": text(), "data": ref("KlingTask")},
        required=("code", "message", "request_id", "data"),
    ),
    "KlingTaskListEnvelope": obj(
        {
            "code": {"const": 0},
            "message": text(),
            "request_id": text(),
            "data": {"type": "array", "items": ref("KlingTask")},
        },
        required=("code", "message", "request_id", "data"),
    ),
    "KlingError": obj(
        {
            "code": integer(description="Kling's error code (1000-1004 auth, 1102 balance, 1200-1203, 5000-5002)."),
            "message": text(),
            "request_id": text(),
            "data": {"type": "null"},
        },
        required=("code", "message", "request_id", "data"),
    ),
    # --- DashScope native
    "DashScopeSynthesis": obj(
        {
            "model": text(),
            "input": obj(
                {
                    "prompt": text(),
                    "negative_prompt": text(),
                    "img_url": IMAGE,
                    "first_frame_url": IMAGE,
                    "last_frame_url": IMAGE,
                    "audio_url": text(),
                    "template": text(),
                    "extend_prompt": {"type": "boolean"},
                    "function": text(),
                },
                additional=False,
            ),
            "parameters": obj(
                {"size": text(), "resolution": text(), "duration": NUMBER_OR_TEXT, "seed": NUMBER_OR_TEXT}
            ),
        },
        required=("model", "input"),
    ),
    "DashScopeCreated": obj(
        {
            "request_id": text(),
            "output": obj({"task_id": text(), "task_status": {"const": "PENDING"}}, required=("task_id",)),
        },
        required=("request_id", "output"),
    ),
    "DashScopeTask": obj(
        {
            "request_id": text(),
            "output": obj(
                {
                    "task_id": text(),
                    "task_status": {"enum": ["PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELED", "UNKNOWN"]},
                    "submit_time": text(),
                    "scheduled_time": text(),
                    "end_time": text(),
                    "video_url": text(),
                    "orig_prompt": text(nullable=True),
                    "code": text(),
                    "message": text(nullable=True),
                },
                required=("task_id", "task_status"),
            ),
            "usage": ANY_OBJECT,
        },
        required=("request_id", "output"),
    ),
    "DashScopeCancelled": obj({"request_id": text()}, required=("request_id",)),
    "DashScopeError": obj(
        {"request_id": text(), "code": text(description="e.g. InvalidParameter, InvalidApiKey"), "message": text()},
        required=("request_id", "code", "message"),
    ),
    # --- Jimeng native (Volcengine CVSync2Async)
    "JimengRequest": obj(
        {
            "req_key": text(description="The model (submit); checked against the task (get result)."),
            "task_id": text(description="CVSync2AsyncGetResult only."),
            "prompt": text(),
            "image_urls": {"type": "array", "items": IMAGE, "maxItems": 2},
            "binary_data_base64": {"type": "array", "items": text(), "maxItems": 2},
            "frames": NUMBER_OR_TEXT,
            "seed": NUMBER_OR_TEXT,
            "aspect_ratio": text(),
        }
    ),
    "JimengEnvelope": obj(
        {
            "code": integer(description="10000 on success, else Jimeng's business code."),
            "data": {"oneOf": [{"type": "null"}, ANY_OBJECT]},
            "message": text(nullable=True),
            "request_id": text(),
            "status": integer(),
            "time_elapsed": text(),
        },
        required=("code", "data", "message", "request_id", "status", "time_elapsed"),
    ),
    "JimengGatewayError": obj(
        {
            "ResponseMetadata": obj(
                {
                    "RequestId": text(),
                    "Action": text(),
                    "Version": text(),
                    "Service": text(),
                    "Region": text(),
                    "Error": obj({"Code": text(), "Message": text()}, required=("Code", "Message")),
                },
                required=("RequestId", "Error"),
            )
        },
        required=("ResponseMetadata",),
        description="Errors the Volcengine gateway raises itself (key, Action, Version).",
    ),
    "JimengError": {"anyOf": [ref("JimengEnvelope"), ref("JimengGatewayError")]},
    # --- Vidu native
    "ViduCreate": obj(
        {
            "model": text(),
            "prompt": text(),
            "images": {"type": "array", "items": IMAGE},
            "duration": NUMBER_OR_TEXT,
            "resolution": text(),
            "aspect_ratio": text(),
            "seed": NUMBER_OR_TEXT,
            "style": text(),
            "movement_amplitude": text(),
            "bgm": {"type": "boolean"},
            "payload": text(),
            "off_peak": {"type": "boolean"},
            "audio": {"type": "boolean", "description": "Generated sound (Q3 models; default on at Vidu)."},
            "subjects": {
                "type": "array",
                "description": "reference2video: up to 7 subjects (3 images each, 7 in all), named @id in the prompt.",
                "items": obj(
                    {"id": text(), "images": {"type": "array", "items": IMAGE}, "voice_id": text()},
                    required=("id", "images"),
                ),
            },
        },
        required=("model",),
    ),
    "ViduCreated": obj(
        {
            "task_id": text(),
            "state": {"const": "created"},
            "model": text(),
            "prompt": text(nullable=True),
            "images": {"type": "array"},
            "duration": NUMBER,
            "seed": NUMBER,
            "resolution": text(nullable=True),
            "aspect_ratio": text(),
            "created_at": text(),
            "audio": {"type": "boolean"},
            "subjects": {"type": "array"},
        },
        required=("task_id", "state", "model"),
    ),
    "ViduCreations": obj(
        {
            "id": text(),
            "state": {"enum": ["queueing", "processing", "success", "failed"]},
            "err_code": text(),
            "payload": {},
            "bgm": {},
            "off_peak": {},
            "creations": {"type": "array", "items": ANY_OBJECT},
        },
        required=("id", "state", "err_code", "creations"),
    ),
    "ViduCancel": obj({"id": text()}),
    "ViduError": obj(
        {
            "code": integer(description="The HTTP status."),
            "reason": text(description="e.g. FieldInvalid, Unauthorized, TaskNotFound"),
            "message": text(),
            "metadata": ANY_OBJECT,
        },
        required=("code", "reason", "message", "metadata"),
    ),
    # --- vendor callbacks
    "CallbackAnswer": ANY_OBJECT,
}

# Every status a dialect's errors may take (the vendor-facing 5xx included: 502/503/504 when a vendor fails).
ERROR_STATUSES = (400, 401, 402, 403, 404, 405, 409, 413, 415, 429, 500, 502, 503, 504)
DESCRIPTIONS = {
    400: "Invalid request",
    401: "Missing or bad key (WWW-Authenticate: Bearer)",
    402: "Insufficient balance",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict (e.g. too late to cancel)",
    413: "Body too large",
    415: "Unsupported media type",
    429: "Too many requests / request in progress",
    500: "Gateway failure",
    502: "Vendor failure",
    503: "Unavailable (Retry-After)",
    504: "Vendor timeout",
}


def responses(success, error, statuses=ERROR_STATUSES):
    answers = {status: OpenApiResponse(response=schema, description="OK") for status, schema in success.items()}
    for status in statuses:
        answers.setdefault(status, OpenApiResponse(response=ref(error), description=DESCRIPTIONS[status]))
    return answers


def operation(summary, tag, success, error, request=None, parameters=None, auth=True, description=""):
    return extend_schema(
        summary=summary,
        description=description,
        tags=[tag],
        request=request,
        responses=responses(success, error),
        parameters=parameters or [],
        **({} if auth else {"auth": []}),
    )


def json_body(name):
    return {"application/json": ref(name)}


def query(name, kind=OpenApiTypes.STR, description="", **extra):
    return OpenApiParameter(name, kind, OpenApiParameter.QUERY, description=description, **extra)


OPENAI, UNIFIED = "OpenAI videos", "Unified (new-api)"
KLING, DASHSCOPE, JIMENG, VIDU = "Kling native", "DashScope native", "Jimeng native", "Vidu native"

extend_schema_view(
    post=operation(
        "Create a video",
        OPENAI,
        {200: ref("OpenAIVideo")},
        "OpenAIError",
        request={
            "application/json": ref("OpenAIVideoCreate"),
            "multipart/form-data": ref("OpenAIVideoCreateMultipart"),
        },
        parameters=[OpenApiParameter("Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER)],
    ),
    get=operation(
        "List videos",
        OPENAI,
        {200: ref("OpenAIVideoList")},
        "OpenAIError",
        parameters=[
            query("limit", OpenApiTypes.INT, "1-100, default 20"),
            query("order", enum=["asc", "desc"]),
            query("after", description="A video id to list after."),
        ],
    ),
)(openai.VideoCollection)
extend_schema_view(
    get=operation("Retrieve a video", OPENAI, {200: ref("OpenAIVideo")}, "OpenAIError"),
    delete=operation(
        "Delete a video (an active one is cancelled first)", OPENAI, {200: ref("OpenAIVideoDeleted")}, "OpenAIError"
    ),
)(openai.VideoDetail)
extend_schema_view(
    post=operation("Cancel a video", OPENAI, {200: ref("OpenAIVideo")}, "OpenAIError"),
)(openai.VideoCancel)
extend_schema_view(
    post=operation(
        "Remix a completed video",
        OPENAI,
        {200: ref("OpenAIVideo")},
        "OpenAIError",
        request=json_body("OpenAIVideoRemix"),
    ),
)(openai.VideoRemix)
for view, name, summary in (
    (openai.VideoEdits, "OpenAIVideoEdit", "Edit one of your videos (SDK videos.edit)"),
    (openai.VideoExtensions, "OpenAIVideoExtend", "Extend one of your videos (SDK videos.extend)"),
):
    extend_schema_view(
        post=operation(
            summary,
            OPENAI,
            {200: ref("OpenAIVideo")},
            "OpenAIError",
            request={"application/json": ref(name), "multipart/form-data": ref(f"{name}Multipart")},
            parameters=[OpenApiParameter("Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER)],
        ),
    )(view)
extend_schema_view(
    get=extend_schema(
        summary="Download the video",
        auth=[{"apiKey": []}, {}],  # the key, or a signed link's token
        description="With the key, or with `token` from a signed link (then no key). Honours Range.",
        tags=[OPENAI],
        parameters=[
            query("variant", enum=["video"]),
            query("token", description="A signed link's token; replaces the key."),
        ],
        responses={
            (200, "video/mp4"): OpenApiResponse(response=BINARY, description="The MP4"),
            (206, "video/mp4"): OpenApiResponse(response=BINARY, description="A byte range"),
            416: OpenApiResponse(ref("OpenAIError"), description="Range not satisfiable (Content-Range: bytes */size)"),
            **{
                status: OpenApiResponse(response=ref("OpenAIError"), description=DESCRIPTIONS[status])
                for status in ERROR_STATUSES
            },
        },
    ),
)(openai.VideoContent)
if hasattr(catalog, "VideoQuote"):
    extend_schema_view(
        post=operation(
            "Quote a create: what it would hold now",
            OPENAI,
            {200: ref("OpenAIVideoQuote")},
            "OpenAIError",
            request={
                "application/json": ref("OpenAIVideoCreate"),
                "multipart/form-data": ref("OpenAIVideoCreateMultipart"),
            },
        ),
    )(catalog.VideoQuote)
extend_schema_view(
    get=operation("Models this key may use", OPENAI, {200: ref("ModelList")}, "OpenAIError"),
)(catalog.ModelList)
extend_schema_view(
    get=operation("One model this key may use", OPENAI, {200: ref("Model")}, "OpenAIError"),
)(catalog.ModelDetail)

extend_schema_view(
    post=operation(
        "Create a generation",
        UNIFIED,
        {201: ref("UnifiedGenerationCreated")},
        "UnifiedError",
        request=json_body("UnifiedGenerationCreate"),
    ),
)(unified.Generations)
extend_schema_view(
    get=operation("Retrieve a generation", UNIFIED, {200: ref("UnifiedGeneration")}, "UnifiedError"),
)(unified.Generation)

extend_schema_view(
    post=operation(
        "Create a task", KLING, {200: ref("KlingTaskEnvelope")}, "KlingError", request=json_body("KlingCreate")
    ),
    get=operation(
        "List tasks",
        KLING,
        {200: ref("KlingTaskListEnvelope")},
        "KlingError",
        parameters=[query("pageNum", OpenApiTypes.INT), query("pageSize", OpenApiTypes.INT)],
    ),
)(native_kling.Videos)
extend_schema_view(
    get=operation("Retrieve a task", KLING, {200: ref("KlingTaskEnvelope")}, "KlingError"),
)(native_kling.Video)

extend_schema_view(
    post=operation(
        "Create a video synthesis task",
        DASHSCOPE,
        {200: ref("DashScopeCreated")},
        "DashScopeError",
        request=json_body("DashScopeSynthesis"),
        parameters=[
            OpenApiParameter(
                "X-DashScope-Async",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                enum=["enable"],
                description="Required under /api/v1 (else 403); optional under /alibailian.",
            )
        ],
    ),
)(native_dashscope.Synthesis)
extend_schema_view(
    get=operation(
        "Query a task (UNKNOWN for an id this key cannot see)", DASHSCOPE, {200: ref("DashScopeTask")}, "DashScopeError"
    ),
)(native_dashscope.Task)
extend_schema_view(
    post=operation("Cancel a task", DASHSCOPE, {200: ref("DashScopeCancelled")}, "DashScopeError"),
)(native_dashscope.Cancel)

extend_schema_view(
    post=operation(
        "Submit a task or get its result",
        JIMENG,
        {200: ref("JimengEnvelope")},
        "JimengError",
        request=json_body("JimengRequest"),
        parameters=[
            query("Action", required=True, enum=[native_jimeng.SUBMIT, native_jimeng.GET_RESULT]),
            query("Version", required=True, enum=[native_jimeng.VERSION]),
        ],
    ),
)(native_jimeng.Jimeng)

extend_schema_view(
    post=operation("Create a task", VIDU, {200: ref("ViduCreated")}, "ViduError", request=json_body("ViduCreate")),
)(native_vidu.Create)
extend_schema_view(
    get=operation("Retrieve a task's creations", VIDU, {200: ref("ViduCreations")}, "ViduError"),
)(native_vidu.Creations)
extend_schema_view(
    post=operation("Cancel a task", VIDU, {200: {"type": "object"}}, "ViduError", request=json_body("ViduCancel")),
)(native_vidu.Cancel)


CALLBACK = {
    "post": {
        "operationId": "vendor_callback",
        "summary": "A vendor's callback (Kling, Vidu, Seedance, MiniMax): no key, the token in the path authenticates",
        "tags": ["Vendor callbacks"],
        "security": [],
        "parameters": [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in ("task_id", "token")
        ],
        "requestBody": {"content": {"application/json": {"schema": ANY_OBJECT}}},
        "responses": {
            str(status): {
                "description": description,
                "content": {"application/json": {"schema": ref("CallbackAnswer")}},
            }
            for status, description in {
                200: "Received",
                400: "Unreadable",
                401: "Bad signature",
                404: "Unknown task or wrong token",
                405: "Method not allowed",
                413: "Body too large",
                503: "Unavailable",
            }.items()
        },
    }
}


def exclude_catch_alls(endpoints):
    """drf-spectacular preprocessing hook: the catch-alls that answer 404 under each API prefix
    (``unknown_route``, regex patterns) are no operations."""
    return [endpoint for endpoint in endpoints if not endpoint[3].cls.__name__.startswith("Unknown")]


class OpenAPIDocument(SpectacularJSONAPIView):
    renderer_classes = [OpenApiJsonRenderer2]  # served as application/json

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


def add_components(result, generator, request, public):
    """drf-spectacular postprocessing hook: the JSON Schemas above, and the callback route."""
    result.setdefault("components", {}).setdefault("schemas", {}).update(COMPONENTS)
    result.setdefault("paths", {})["/callbacks/{task_id}/{token}"] = CALLBACK
    return result


urlpatterns = [
    path("openapi.json", OpenAPIDocument.as_view(), name="openapi"),
    path("docs", SpectacularSwaggerSplitView.as_view(url_name="openapi"), name="api-docs"),
]
