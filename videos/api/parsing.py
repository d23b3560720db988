"""Turning loosely typed client fields into a CanonicalRequest, shared by the dialects.

Dialects pick their own field names off the wire; this module validates values and lifts
the generic keys clients put in ``metadata`` (duration, seed, negative_prompt, first and
last frames, ...) into canonical fields, leaving vendor-specific keys in ``extra``. This is
the only place metadata becomes canonical fields: adaptors read the request as it is, so a
vendor's own name for a canonical field (MiniMax's ``subject_reference``, Jimeng's image
lists, DashScope's ``img_url``...) is lifted here too.
"""

import json
import re
from contextlib import contextmanager

from django.conf import settings

from channels.canonical import (
    AUDIO,
    AUTO_SECONDS,
    RESOLUTION_RE,
    VIDEO,
    CanonicalRequest,
    ImageInput,
    MediaInput,
    RequestInvalid,
    normalize_resolution,
    parse_size,
)

from ..errors import GatewayError

# metadata key -> canonical field
LIFTED = {
    "seconds": "seconds",
    "duration": "seconds",
    "size": "size",
    "width": "width",
    "height": "height",
    "resolution": "resolution",
    "aspect_ratio": "aspect_ratio",
    "negative_prompt": "negative_prompt",
    "seed": "seed",
    "fps": "fps",
    "image": "image",
    "img_url": "image",
    "image_url": "image",
    "first_frame_url": "image",
    "first_frame_image": "image",
    "image_tail": "last_frame",
    "last_frame": "last_frame",
    "last_frame_url": "last_frame",
    "last_frame_image": "last_frame",
    "reference_images": "reference_images",
    "subject_reference": "reference_images",  # MiniMax S2V, reshaped by _subject_images
    "reference_videos": "reference_videos",
    "reference_video_urls": "reference_videos",  # DashScope Wan r2v's name
    "audio_url": "audio",  # one driving clip (Wan's name)
    "audio_urls": "audio",
    "driving_audio": "audio",
    "first_clip": "first_clip",
    "video": "video",  # the video to edit
    "video_url": "video",
    "generate_audio": "generate_audio",
}
# Jimeng's image lists (new-api clients repeat the request's images in them): the first and last frame.
FRAME_LISTS = ("image_urls", "binary_data_base64")
MAX_SECONDS = 3600
# Lone UTF-16 surrogates ("\ud800" in JSON) cannot be encoded as UTF-8: not stored, not rendered.
SURROGATE_RE = re.compile("[\ud800-\udfff]")
MAX_DEPTH = 32  # nesting of metadata / vendor-specific values
MAX_CLIPS = 16  # reference videos or audio clips in one request (vendors take 3 at most today)
MAX_REFERENCE_IMAGES = 16


def check_value(value, param):
    """Refuse, naming the field, any string holding a lone surrogate or a NUL, and values nested too deeply."""
    stack = [(value, param, 0)]
    while stack:
        item, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise RequestInvalid(f"'{where}' is nested more than {MAX_DEPTH} levels deep", where, "invalid_value")
        if isinstance(item, str):
            if SURROGATE_RE.search(item):
                raise RequestInvalid(
                    f"'{where}' contains a lone UTF-16 surrogate, which is not valid Unicode text",
                    where,
                    "invalid_unicode",
                )
            if "\x00" in item:  # no database stores it in text (PostgreSQL refuses it outright)
                raise RequestInvalid(f"'{where}' contains a NUL character (\\u0000)", where, "invalid_unicode")
        elif isinstance(item, dict):
            for key, child in item.items():
                stack.append((key, where, depth + 1))
                stack.append((child, f"{where}.{key}" if isinstance(key, str) else where, depth + 1))
        elif isinstance(item, list | tuple):
            stack.extend((child, f"{where}[{index}]", depth + 1) for index, child in enumerate(item))
    return value


def as_int(value, param, minimum=None, maximum=None):
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise RequestInvalid(f"'{param}' must be a whole number", param, f"invalid_{param}")
    try:
        number = float(value) if isinstance(value, str) else value
        if isinstance(number, float):
            if not number.is_integer():
                raise ValueError
            number = int(number)
        if not isinstance(number, int):
            raise ValueError
    except (TypeError, ValueError):
        raise RequestInvalid(f"'{param}' must be a whole number, got {value!r}", param, f"invalid_{param}") from None
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise RequestInvalid(f"'{param}' must be between {minimum} and {maximum}", param, f"invalid_{param}")
    return number


def check_n(value):
    """``n``, the number of videos: one per task. Any other count is refused, not silently ignored."""
    if value not in (None, "", 1, "1") and not (isinstance(value, float) and value == 1):
        raise RequestInvalid(f"'n' must be 1 (one video per request), got {value!r}", "n", "invalid_n")


def as_text(value, param, required=False):
    if value is None or value == "":
        if required:
            raise RequestInvalid(f"'{param}' is required", param, f"missing_{param}")
        return ""
    if not isinstance(value, str):
        raise RequestInvalid(f"'{param}' must be a string", param, f"invalid_{param}")
    return check_value(value, param)


def check_prompt(value, param="prompt"):
    """A prompt (or negative prompt) at most GATEWAY_MAX_PROMPT_CHARS long."""
    limit = settings.GATEWAY_MAX_PROMPT_CHARS
    if value and len(value) > limit:
        raise RequestInvalid(
            f"'{param}' is {len(value)} characters long; the gateway's limit is {limit}",
            param,
            f"{param}_too_long",
        )
    return value


def as_metadata(value, param="metadata"):
    """metadata as an object, or as a JSON string (multipart forms)."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            raise RequestInvalid(f"'{param}' must be a JSON object", param, "invalid_metadata") from None
    if not isinstance(value, dict):
        raise RequestInvalid(f"'{param}' must be a JSON object", param, "invalid_metadata")
    return value


def _merge(fields, metadata, where="metadata.", lifted=LIFTED, names=None):
    """Top-level fields win; metadata fills gaps; a conflicting duplicate is refused, naming both.
    ``names``: the client's own names of ``fields`` (body_fields)."""
    merged = dict(fields)
    extra = {}
    given_as = dict(names or {})  # canonical field -> the name the client gave it as, where that differs
    for key, value in metadata.items():
        target = lifted.get(key)
        if target is None:
            extra[key] = value
            continue
        if value is None or value == "":
            continue
        current = merged.get(target)
        if current is None or current == "":
            merged[target] = value
            given_as[target] = f"{where}{key}"
        elif str(current) != str(value):
            other = given_as.get(target, f"the request's {target}")
            raise RequestInvalid(
                f"{where}{key} ({value!r}) conflicts with {other} ({current!r})",
                f"{where}{key}",
                "conflicting_parameters",
            )
    return merged, extra


def _subject_images(value):
    """MiniMax's ``[{"type": "character", "image": [url]}]`` -> ``[url]``."""
    try:
        return [value[0]["image"][0]]
    except (KeyError, IndexError, TypeError):
        raise RequestInvalid(
            "metadata.subject_reference must look like [{'type': 'character', 'image': [url]}]",
            "metadata.subject_reference",
        ) from None


def _frame_lists(metadata):
    """Take Jimeng's image lists out of ``metadata``: [(key, ImageInput)], at most two."""
    given = []
    for key in FRAME_LISTS:
        if key not in metadata:
            continue
        values = metadata.pop(key)
        if not isinstance(values, list) or not values or len(values) > 2:
            raise RequestInvalid(f"metadata.{key} must be a list of one or two images", f"metadata.{key}")
        given += [(key, ImageInput.parse(value, f"metadata.{key}")) for value in values]
    if len(given) > 2:
        raise RequestInvalid("metadata may carry at most two images", f"metadata.{given[0][0]}")
    return given


def _with_frame_lists(image, last_frame, given):
    """With no image in the request, the listed images are its first (and last) frame; when they
    repeat the request's images they are dropped; anything else is a conflict."""
    if not given:
        return image, last_frame
    canonical = [img for img in (image, last_frame) if img]
    if not canonical:
        return given[0][1], given[1][1] if len(given) > 1 else None
    if [_identity(img) for _, img in given] != [_identity(img) for img in canonical]:
        key = given[0][0]
        raise RequestInvalid(
            f"metadata.{key} differs from the request's image/last_frame; give the images once",
            f"metadata.{key}",
            "metadata_conflict",
        )
    return image, last_frame


def _identity(image):
    return image.url if image.data is None else image.data


def _image(value, param):
    if value is None or value == "":
        return None
    if isinstance(value, ImageInput):
        return value
    return ImageInput.parse(value, param)


def _clips(value, kind, param):
    """One clip or a list of them (URLs, or objects with ``url`` and ``tag``) -> [MediaInput]."""
    if value is None or value == "" or value == []:
        return []
    values = value if isinstance(value, list) else [value]
    if len(values) > MAX_CLIPS:
        raise RequestInvalid(f"'{param}' may list at most {MAX_CLIPS} clips", param)
    return [MediaInput.parse(item, kind, f"{param}[{index}]") for index, item in enumerate(values)]


def _one_clip(value, param):
    """The one video a field names: a URL, an object with ``url`` (and ``tag``), or one of the client's
    own videos by id (``video_...`` or ``{"video_id": ...}``)."""
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, list):
        if len(value) > 1:
            raise RequestInvalid(f"'{param}' is one video", param)
        value = value[0]
    return MediaInput.parse(value, VIDEO, param, own_videos=True)


def _seconds(value):
    """A duration in whole seconds; ``"auto"`` (or -1) lets a model that can choose the length choose it
    (AUTO_SECONDS: held at the model's longest, billed on what it produced; other models refuse it)."""
    if isinstance(value, str) and value.strip().lower() == "auto" or value in (-1, "-1"):
        return AUTO_SECONDS
    return as_int(value, "seconds", 1, MAX_SECONDS)


def as_bool(value, param):
    """JSON booleans, and the strings form fields carry ("true"/"false", "1"/"0", "on"/"off")."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "on", "yes"):
        return True
    if text in ("false", "0", "off", "no"):
        return False
    raise RequestInvalid(f"'{param}' must be true or false, got {value!r}", param)


def media_fields(data):
    """The media vocabulary's top-level body fields (the unified and OpenAI dialects): reference
    videos, audio clips (``audio_url``/``audio``; a boolean ``audio`` asks for generated audio, as
    Vidu's clients send it), the clip to continue, and ``generate_audio``."""
    audio = data.get("audio")
    generate_audio = data.get("generate_audio")
    if isinstance(audio, bool):
        audio, generate_audio = None, audio if generate_audio is None else generate_audio
    return {
        "reference_videos": data.get("reference_videos") or data.get("reference_video_urls"),
        "audio": data.get("audio_url") or data.get("audio_urls") or data.get("driving_audio") or audio,
        "first_clip": data.get("first_clip"),
        "video": data.get("video") or data.get("video_url"),
        "generate_audio": generate_audio,
    }


# The top level of a unified or OpenAI create body. Besides model, prompt, n and metadata: every
# generic name metadata may carry (LIFTED, so "duration" and "seconds" work in both dialects; not
# MiniMax's own subject_reference, which stays in metadata), new-api's ``images`` and ``mode``, and
# two fields new-api documents that change nothing here (``user``, ``response_format``). Any other
# field is refused, naming it: a field the gateway dropped would be a video the client did not ask
# for, and paid for.
TOP_LEVEL_ALIASES = {"images": "reference_images"}
MEDIA_NAMES = frozenset(
    {"reference_videos", "reference_video_urls", "audio", "audio_url", "audio_urls", "driving_audio"}
    | {"first_clip", "video", "video_url", "generate_audio"}
)
GENERIC_NAMES = frozenset(LIFTED) - MEDIA_NAMES - {"subject_reference"}
BODY_FIELDS = frozenset(
    {"model", "prompt", "n", "metadata", "mode", "user", "response_format"}
    | GENERIC_NAMES
    | MEDIA_NAMES
    | set(TOP_LEVEL_ALIASES)
)


def body_fields(data, metadata, own=(), aliases=None):
    """The canonical fields of a unified or OpenAI create body's top level (BODY_FIELDS, the dialect's
    ``aliases`` of canonical fields, and its ``own`` names, which it reads itself), its metadata with
    a top-level ``mode`` (a vendor field) added, and {canonical field: the client's name for it} where
    the client used another name (for in_client_terms). Refuses a field it does not know, and two
    names of one field that disagree."""
    aliases = {**TOP_LEVEL_ALIASES, **(aliases or {})}
    for key in data:
        if key not in BODY_FIELDS and key not in own and key not in aliases:
            raise RequestInvalid(
                f"Unrecognized request argument supplied: {key[:100]}. Vendor-specific fields go in 'metadata'.",
                key[:100],
                "unknown_parameter",
            )
    fields = {name: value for name, value in media_fields(data).items() if value is not None}
    generic = {key: data.get(key) for key in sorted(GENERIC_NAMES) if key in data}
    generic.update((key, data.get(key)) for key in aliases if key in data)
    if isinstance(generic.get("images"), str):
        raise RequestInvalid("'images' must be a list of images", "images")
    fields, _ = _merge(fields, generic, where="", lifted={**LIFTED, **aliases})
    names = {target: key for key, target in {**LIFTED, **aliases}.items() if key in data and key != target}
    names = {target: key for target, key in names.items() if target not in data}  # the canonical name wins
    mode = data.get("mode")
    if mode not in (None, ""):
        if metadata.get("mode") not in (None, "", mode):
            raise RequestInvalid(
                f"metadata.mode ({metadata['mode']!r}) conflicts with the request's mode ({mode!r})",
                "metadata.mode",
                "conflicting_parameters",
            )
        metadata = {**metadata, "mode": mode}
    return fields, metadata, names


@contextmanager
def in_client_terms(names):
    """Errors about a canonical field the client gave under another name (``duration`` for seconds,
    ``images`` for reference_images...) name the client's field: a RequestInvalid or GatewayError
    raised inside has its ``param`` and the quoted name in its message rewritten."""
    try:
        yield
    except (RequestInvalid, GatewayError) as exc:
        param = exc.param or ""
        canonical = re.split(r"[.\[]", param, maxsplit=1)[0]
        if canonical in names:
            exc.param = names[canonical] + param[len(canonical) :]
            exc.message = exc.message.replace(f"'{canonical}", f"'{names[canonical]}")
        raise


def build_request(model, prompt, fields, metadata=None, *, extra=None, native_action=None, names=None):
    """``fields`` uses canonical names: seconds, size, width, height, resolution, aspect_ratio,
    negative_prompt, seed, fps, image, last_frame, reference_images, reference_videos, audio,
    first_clip, video, generate_audio. ``first_clip`` and ``video`` may name one of the client's own
    videos by its id (video_...), which the gateway resolves (videos.services)."""
    check_prompt(as_text(prompt, "prompt"))
    for name, value in fields.items():
        if not isinstance(value, ImageInput):
            check_value(value, name)
    metadata = dict(check_value(metadata or {}, "metadata"))
    for name, value in (extra or {}).items():  # vendor-specific fields, named as the client sent them
        check_value(name, str(name))
        check_value(value, name)
    frame_lists = _frame_lists(metadata)
    if metadata.get("subject_reference"):
        metadata["subject_reference"] = _subject_images(metadata["subject_reference"])
    merged, lifted_extra = _merge({k: v for k, v in fields.items() if v is not None}, metadata, names=names)
    width = as_int(merged.get("width"), "width", 16, 8192)
    height = as_int(merged.get("height"), "height", 16, 8192)
    resolution = merged.get("resolution")
    size = merged.get("size")
    if size not in (None, ""):
        text = str(size)
        if RESOLUTION_RE.match(text):
            resolution = resolution or text
        else:
            width, height = parse_size(text)
    if (width is None) != (height is None):
        raise RequestInvalid("'width' and 'height' go together", "width" if width is None else "height")
    references = merged.get("reference_images") or []
    if not isinstance(references, list):
        raise RequestInvalid("'reference_images' must be a list of images", "reference_images")
    if len(references) > MAX_REFERENCE_IMAGES:
        raise RequestInvalid(f"'reference_images' may list at most {MAX_REFERENCE_IMAGES} images", "reference_images")
    first_clip = _one_clip(merged.get("first_clip"), "first_clip")
    video = _one_clip(merged.get("video"), "video")
    seed = as_int(merged.get("seed"), "seed", -1, 2**32 - 1)
    image, last_frame = _with_frame_lists(
        _image(merged.get("image"), "image"), _image(merged.get("last_frame"), "last_frame"), frame_lists
    )
    return CanonicalRequest(
        model=model,
        prompt=prompt,
        seconds=_seconds(merged.get("seconds")),
        width=width,
        height=height,
        resolution=normalize_resolution(resolution) if resolution else None,
        aspect_ratio=as_text(merged.get("aspect_ratio"), "aspect_ratio") or None,
        image=image,
        last_frame=last_frame,
        reference_images=[_image(ref, "reference_images") for ref in references],
        reference_videos=_clips(merged.get("reference_videos"), VIDEO, "reference_videos"),
        audio=_clips(merged.get("audio"), AUDIO, "audio"),
        first_clip=first_clip,
        video=video,
        generate_audio=as_bool(merged.get("generate_audio"), "generate_audio"),
        negative_prompt=check_prompt(as_text(merged.get("negative_prompt"), "negative_prompt"), "negative_prompt")
        or None,
        seed=seed,
        fps=as_int(merged.get("fps"), "fps", 1, 120),
        extra={**lifted_extra, **(extra or {})},
        native_action=native_action,
    )
