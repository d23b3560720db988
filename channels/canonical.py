"""The canonical video request: what every client dialect parses into, and what every
vendor adaptor translates from. It knows nothing of HTTP, tenants or money.

A request is immutable: it is what the client asked for, and every channel tried for it
plans the same request. What an adaptor derives from it (a normalised size, the images it
will send, the extras left after the billed ones were checked) goes in its Plan.
"""

import base64
import binascii
import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from django.conf import settings

TEXT = "text"
IMAGE = "image"
FIRST_LAST = "first_last"
REFERENCE = "reference"
EXTEND = "extend"
EDIT = "edit"
REMIX = "remix"
MODES = (TEXT, IMAGE, FIRST_LAST, REFERENCE, EXTEND, EDIT, REMIX)

# ``seconds`` asking a model that can choose the length to choose it (Seedance 2.0's duration -1):
# held at the model's longest, billed on the seconds produced; models that cannot refuse it.
AUTO_SECONDS = -1

# Media kinds a request can carry besides images.
VIDEO = "video"
AUDIO = "audio"
MEDIA_URL_MAX = 4096
# One of this gateway's own videos, named by its public id where a clip URL could go ("first_clip":
# "video_..."): the gateway resolves it to the vendor's video (videos.services), never a client.
OWN_VIDEO_RE = re.compile(r"^video_[A-Za-z0-9_-]{8,40}$")

SIZE_RE = re.compile(r"^\s*(\d{2,5})\s*[xX*×]\s*(\d{2,5})\s*$")
RESOLUTION_RE = re.compile(r"^\s*(\d{3,4})\s*[pP]\s*$")
RATIO_RE = re.compile(r"^\s*(\d{1,2})\s*:\s*(\d{1,2})\s*$")
DATA_URI_RE = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(;[\w=.+-]+)*;base64,(?P<data>.*)$", re.S)


class RequestInvalid(ValueError):
    """A client mistake found by parsing or validation, before any money moves."""

    def __init__(self, message, param=None, code="invalid_request", status=400):
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        self.status = status  # 413 for a value over a size limit


def image_too_large(param):
    limit = settings.GATEWAY_MAX_IMAGE_BYTES
    return RequestInvalid(
        f"'{param}' is larger than the gateway's image limit of {limit} bytes ({limit / 1024**2:g} MiB)",
        param,
        "image_too_large",
        status=413,
    )


def sniff_image(data):
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:3] == b"GIF":
        return "image/gif"
    if data[:2] == b"BM":
        return "image/bmp"
    return None


TAG_KEYS = ("tag", "role", "subject")
TAG_MAX = 64


def _tag(value, param):
    """The role or subject tag of an object-shaped image or clip (``tag``, or ``role``/``subject``)."""
    given = [key for key in TAG_KEYS if key in value]
    if not given:
        return None
    if len(given) > 1:
        raise RequestInvalid(f"'{param}' has both '{given[0]}' and '{given[1]}'; give one tag", param)
    tag = value[given[0]]
    if not isinstance(tag, str) or not tag.strip() or len(tag) > TAG_MAX:
        raise RequestInvalid(f"'{param}' {given[0]} must be a non-empty text of at most {TAG_MAX} characters", param)
    return tag.strip()


@dataclass(frozen=True)
class ImageInput:
    """An image as the client gave it: a URL, or bytes (upload, base64 or data URI)."""

    url: str | None = None
    data: bytes | None = None
    mime_type: str | None = None
    # A reference image's role or subject, as the client named it ("style", "asset", a subject id
    # the prompt refers to): adaptors that can say it to their vendor do; the others refuse it.
    tag: str | None = None

    @classmethod
    def parse(cls, value, param="image"):
        """Accept an http(s) URL, a data URI or raw base64; or an object ``{"url": ..., "tag": ...}``
        (also ``image_url``, and ``role``/``subject`` for the tag)."""
        if isinstance(value, dict):
            tag = _tag(value, param)
            image = cls.parse(value.get("image_url") or value.get("url") or value.get("image"), param)
            return replace(image, tag=tag) if tag else image
        if not isinstance(value, str) or not value.strip():
            raise RequestInvalid(f"'{param}' must be an image URL, a data URI or base64 data", param)
        value = value.strip()
        if value.startswith(("http://", "https://")):
            return cls(url=value)
        match = DATA_URI_RE.match(value)
        raw = match.group("data") if match else value
        if len(raw) // 4 * 3 > settings.GATEWAY_MAX_IMAGE_BYTES:  # refused before decoding
            raise image_too_large(param)
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise RequestInvalid(f"'{param}' is neither an http(s) URL nor valid base64 image data", param) from None
        # What the bytes are, whatever a data URI declares: "data:image/png;base64,AAAA" is no image.
        mime = sniff_image(data)
        if mime is None:
            raise RequestInvalid(f"'{param}' does not contain a PNG, JPEG, WebP, GIF or BMP image", param)
        return cls(data=data, mime_type=mime)

    @classmethod
    def from_upload(cls, upload, param="input_reference"):
        if upload.size is not None and upload.size > settings.GATEWAY_MAX_IMAGE_BYTES:
            raise image_too_large(param)
        data = upload.read(settings.GATEWAY_MAX_IMAGE_BYTES + 1)
        if len(data) > settings.GATEWAY_MAX_IMAGE_BYTES:
            raise image_too_large(param)
        mime = sniff_image(data)
        if not data or mime is None:
            raise RequestInvalid(f"'{param}' must be a PNG, JPEG, WebP, GIF or BMP image file", param)
        return cls(data=data, mime_type=mime)

    @property
    def base64(self):
        return base64.b64encode(self.data).decode() if self.data is not None else None

    @property
    def data_uri(self):
        return f"data:{self.mime_type};base64,{self.base64}" if self.data is not None else None

    def describe(self):
        """A short JSON-safe record for the task row (never the bytes)."""
        shown = self.url if self.url else f"<{self.mime_type}, {len(self.data)} bytes>"
        return {"url": shown, "tag": self.tag} if self.tag else shown


@dataclass(frozen=True)
class MediaInput:
    """A video or audio clip the vendor fetches itself: an http(s) URL (the gateway does not
    download clips; vendors take them only by URL). ``tag`` as for images.

    A video clip may instead name one of this gateway's own videos (``video_id``, where the
    dialect allows it: the clip to continue or to edit). The gateway then pins the request to the
    channel that made it and fills in ``source``, the vendor's reference to that task
    (adaptors.base.TaskRef: its vendor task id, ``state["vendor_video_id"]`` where the vendor has
    one, and ``result_url``), and ``url``, the vendor's own URL of the result."""

    url: str | None = None
    kind: str = VIDEO
    tag: str | None = None
    video_id: str | None = None
    source: object = None  # a TaskRef, set by the gateway for a video_id

    @classmethod
    def parse(cls, value, kind, param, *, own_videos=False):
        tag = None
        if isinstance(value, dict):
            tag = _tag(value, param)
            if own_videos and isinstance(value.get("video_id"), str):
                value = value["video_id"]
            else:
                value = value.get("url") or value.get(f"{kind}_url")
        if own_videos and kind == VIDEO and isinstance(value, str) and OWN_VIDEO_RE.match(value.strip()):
            return cls(kind=kind, tag=tag, video_id=value.strip())
        if not isinstance(value, str) or not value.strip().startswith(("http://", "https://")):
            own = " or the id of one of your videos (video_...)" if own_videos and kind == VIDEO else ""
            raise RequestInvalid(
                f"'{param}' must be an http(s) URL of the {kind}{own} (vendors fetch clips by URL)", param
            )
        value = value.strip()
        if len(value) > MEDIA_URL_MAX:
            raise RequestInvalid(f"'{param}' is longer than {MEDIA_URL_MAX} characters", param)
        return cls(url=value, kind=kind, tag=tag)

    def describe(self):
        if self.video_id:
            return {"video_id": self.video_id, "tag": self.tag} if self.tag else {"video_id": self.video_id}
        return {"url": self.url, "tag": self.tag} if self.tag else self.url


def parse_size(value, param="size"):
    """'1280x720', '1280*720' -> (1280, 720)."""
    match = SIZE_RE.match(str(value))
    if not match:
        raise RequestInvalid(f"'{param}' must look like 1280x720, got {value!r}", param, "invalid_size")
    return int(match.group(1)), int(match.group(2))


def resolution_tier(width, height):
    """The resolution tier prices and vendors speak of, from a pixel size."""
    short = min(width, height)
    for tier in (360, 480, 540, 720, 768, 1080, 1440):
        if short <= tier:
            return f"{tier}p"
    return "2160p"


def aspect_ratio(width, height):
    """Nearest of the common ratios vendors accept."""
    ratios = {"16:9": 16 / 9, "9:16": 9 / 16, "1:1": 1.0, "4:3": 4 / 3, "3:4": 3 / 4, "21:9": 21 / 9}
    actual = width / height
    return min(ratios, key=lambda name: abs(ratios[name] - actual))


class Extra(Mapping):
    """Vendor extras, read-only. Reading a value hands out a copy, so whoever holds a request
    (an adaptor planning it, say) cannot change what the next reader sees."""

    def __init__(self, items=None):
        self._items = copy.deepcopy(dict(items._items if isinstance(items, Extra) else items or {}))

    def __getitem__(self, key):
        return copy.deepcopy(self._items[key])

    def __iter__(self):
        return iter(self._items)

    def __len__(self):
        return len(self._items)

    def __repr__(self):
        return f"Extra({self._items!r})"


# The clips that may name one of this gateway's own videos (a vendor continues or edits its own work).
OWN_VIDEO_FIELDS = ("first_clip", "video")


@dataclass(frozen=True)
class CanonicalRequest:
    model: str
    prompt: str = ""
    seconds: int | None = None  # None: the vendor's default for the model
    width: int | None = None
    height: int | None = None
    resolution: str | None = None  # "720p"; derived from width/height when those are given
    aspect_ratio: str | None = None  # "16:9"; derived from width/height when those are given
    image: ImageInput | None = None  # first frame, or the single reference image
    last_frame: ImageInput | None = None
    reference_images: tuple[ImageInput, ...] = ()  # a list given here is kept as a tuple
    reference_videos: tuple[MediaInput, ...] = ()  # clips whose look, motion or subject to follow
    audio: tuple[MediaInput, ...] = ()  # driving or reference audio clips
    first_clip: MediaInput | None = None  # a video to continue (extension)
    video: MediaInput | None = None  # a video to edit (the prompt says how)
    generate_audio: bool | None = None  # None: the model's default
    negative_prompt: str | None = None
    seed: int | None = None
    fps: int | None = None
    # Vendor-specific fields (metadata, or a native body's fields we do not interpret), read-only
    # (an Extra). Adaptors merge these into the vendor body but never let them change the model,
    # duration or resolution that is billed (adaptors.base.split_pinned).
    extra: Mapping = field(default_factory=dict)
    # Set by the gateway for a remix (dataclasses.replace): the vendor's id of the source video.
    remix_of_vendor_id: str | None = None
    # Set by native dialects that pin the vendor operation (e.g. Kling "image2video").
    native_action: str | None = None

    def __post_init__(self):
        # Frozen: the derived fields are set once, here, and never again.
        resolution, ratio = self.resolution, self.aspect_ratio
        if self.width and self.height:
            resolution = resolution or resolution_tier(self.width, self.height)
            ratio = ratio or aspect_ratio(self.width, self.height)
        object.__setattr__(self, "resolution", normalize_resolution(resolution) if resolution else resolution)
        object.__setattr__(self, "aspect_ratio", ratio)
        object.__setattr__(self, "reference_images", tuple(self.reference_images or ()))
        object.__setattr__(self, "reference_videos", tuple(self.reference_videos or ()))
        object.__setattr__(self, "audio", tuple(self.audio or ()))
        object.__setattr__(self, "extra", Extra(self.extra))

    @property
    def size(self):
        return f"{self.width}x{self.height}" if self.width and self.height else None

    @property
    def mode(self):
        if self.remix_of_vendor_id:
            return REMIX
        if self.first_clip:
            return EXTEND
        if self.video:
            return EDIT
        if self.reference_images or self.reference_videos:
            return REFERENCE
        if self.image and self.last_frame:
            return FIRST_LAST
        if self.image:
            return IMAGE
        return TEXT

    def own_clips(self):
        """The canonical fields naming one of this gateway's videos: {"first_clip": MediaInput, ...}."""
        return {name: clip for name in OWN_VIDEO_FIELDS if (clip := getattr(self, name)) and clip.video_id}

    def images(self):
        return [img for img in (self.image, self.last_frame, *self.reference_images) if img]

    def record(self):
        """JSON-safe parameters for the task row."""
        params = {
            "seconds": self.seconds,
            "size": self.size,
            "resolution": self.resolution,
            "aspect_ratio": self.aspect_ratio,
            "negative_prompt": self.negative_prompt,
            "seed": self.seed,
            "fps": self.fps,
            "image": self.image.describe() if self.image else None,
            "last_frame": self.last_frame.describe() if self.last_frame else None,
            "reference_images": [img.describe() for img in self.reference_images] or None,
            "reference_videos": [clip.describe() for clip in self.reference_videos] or None,
            "audio": [clip.describe() for clip in self.audio] or None,
            "first_clip": self.first_clip.describe() if self.first_clip else None,
            "video": self.video.describe() if self.video else None,
            "generate_audio": self.generate_audio,
            "extra": _json_safe(self.extra) or None,
            "native_action": self.native_action,  # the vendor operation a native route named
        }
        return {key: value for key, value in params.items() if value is not None}


def normalize_resolution(value):
    """'1080P', '1080p', '1080' -> '1080p'. Leaves anything else alone (validated later)."""
    text = str(value).strip()
    match = RESOLUTION_RE.match(text) or re.match(r"^(\d{3,4})$", text)
    return f"{match.group(1)}p" if match else text.lower()


def _json_safe(value, depth=0):
    """Drop base64 blobs and anything unserialisable from a record."""
    if depth > 6:
        return None
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v, depth + 1) for v in value]
    if isinstance(value, str) and len(value) > 2000:
        return f"<{len(value)} characters>"
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
