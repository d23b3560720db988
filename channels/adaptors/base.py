"""The contract between the gateway core and one vendor.

An adaptor turns a CanonicalRequest into the vendor's HTTP calls and the vendor's
answers back into canonical facts. It knows nothing of tenants, keys, balances or
Django models: the core hands it a CallContext (where and with what credentials) and
a TaskRef (what it remembered about one task), and acts on what it returns or raises.

Errors tell the core what happened, which decides routing and money:

- RequestInvalid (from channels.canonical): the client's request cannot be served by
  this model; found before any money moves. -> 400, no vendor call.
- VendorRejected: the vendor refused this request (bad parameter, moderation). The
  client's doing: -> 400 with the vendor's reason, hold released, channel not blamed.
- VendorAuthFailed: the vendor rejected our credentials. -> channel auto-disabled,
  next channel tried.
- VendorUnavailable: the vendor provably did not take the job (connection refused,
  429, 5xx, account out of credit). -> next channel tried. A 429 to a poll pauses polling of
  the channel for the error's ``retry_after`` (the vendor's Retry-After header).
- VendorTimeout: the request may have reached the vendor. -> not resent anywhere (no
  duplicate jobs). An adaptor with ``supports_find`` gets the job looked up (find()) for a
  few minutes and adopted if the vendor has it; otherwise, or if it never shows up, the task
  fails and the hold is released.
- VendorError: anything else the vendor did wrong (garbage, a missing id).
- VendorTaskMissing (from poll() only): the vendor does not know the task we submitted (its
  own "not found" answer, never a transport error). -> confirmed by a second poll soon
  after, then the task fails (``vendor_task_lost``) and the hold is released.
- CancelNotSupported, CancelTooLate (from cancel() only): the vendor has no way to cancel a task,
  or refuses because the job has started or finished. -> 409 to the client, nothing changes.
  Any other error from cancel() is one of the kinds above, and the task is left as it was.

Many at once: an adaptor with ``supports_poll_many`` answers several tasks of one channel in one
call (the vendor's task list, poll_many()); the core uses it when it claims several due tasks of
the channel together and polls the ones it left out with poll().

Callbacks: an adaptor with ``supports_callback`` sends ``CallContext.callback_url`` (set only when
the operator configured GATEWAY_PUBLIC_URL) in its create body. A callback is a hint that makes the
core poll the task at once; only an adaptor with ``signs_callbacks`` has its payload trusted, after
verify_callback() checked the vendor's signature (CallbackRejected otherwise).
"""

import math
import time
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .. import metrics
from ..canonical import CanonicalRequest, RequestInvalid

QUEUED = "queued"
IN_PROGRESS = "in_progress"
COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"  # poll(): the vendor reports the job cancelled (by cancel() or at the vendor)
RETRY_AFTER_MAX = 600  # seconds: a vendor's Retry-After is believed up to this long


class AdaptorError(Exception):
    """Base of vendor-side failures. ``code`` is the vendor's own code when it gave one;
    ``retry_after`` the seconds its Retry-After header asked for (retry_after_seconds()), if any."""

    kind = "vendor_error"

    def __init__(self, message, *, code=None, http_status=None, retry_after=None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.http_status = http_status
        self.retry_after = retry_after

    @property
    def rate_limited(self):
        """The vendor answered 429: too many requests from this account, whatever the request."""
        return self.http_status == 429


class VendorRejected(AdaptorError):
    kind = "vendor_rejected"

    def __init__(self, message, *, moderation=False, **kwargs):
        super().__init__(message, **kwargs)
        self.moderation = moderation


class VendorAuthFailed(AdaptorError):
    kind = "vendor_auth_failed"


class VendorUnavailable(AdaptorError):
    kind = "vendor_unavailable"


class VendorTimeout(AdaptorError):
    kind = "vendor_timeout"


class VendorError(AdaptorError):
    kind = "vendor_error"


class VendorTaskMissing(AdaptorError):
    """poll(): the vendor answered that it does not know this task (Kling 1203, Vidu TaskNotFound,
    OpenAI/Ark/Gemini 404, Jimeng ``not_found``, DashScope ``UNKNOWN``, MiniMax 2013). Raise it
    only for the vendor's own "no such task", so a transport error never counts as one."""

    kind = "vendor_task_missing"


class CancelNotSupported(AdaptorError):
    """cancel(): this vendor has no way to cancel a job (the default)."""

    kind = "cancel_not_supported"


class CancelTooLate(AdaptorError):
    """cancel(): the vendor refuses because the job has started or finished; it runs to its end."""

    kind = "cancel_too_late"


class CallbackRejected(Exception):
    """verify_callback(): the callback's signature does not check (forged, stale, or not the
    vendor's). The callback changes nothing."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


@dataclass
class CallContext:
    """Where to call and with what: one channel's decrypted configuration."""

    base_url: str
    credentials: str
    options: dict = field(default_factory=dict)
    # Set by the core for submit() and remix(): our id for the task (its public id), which an
    # adaptor sends as the vendor's external id where the vendor takes one (Kling's
    # external_task_id), and the read timeout of the create call (GATEWAY_SUBMIT_TIMEOUT).
    external_id: str = ""
    read_timeout: float | None = None
    # Set by the core for submit() when callbacks are on and the adaptor supports them: the
    # per-task URL the vendor is to call back (blank: send none, the task is polled).
    callback_url: str = ""


@dataclass
class Plan:
    """What one channel will make of a request: what is billed (``seconds``, ``resolution``) and
    what the adaptor derived from the request to produce it. plan() fills it in; submit() and
    remix() read it rather than deriving again. The request itself is never changed: it is what
    the client asked for, and the next channel tried plans it afresh.

    Plans compare by what is billed: two plans are equal when they bill the same.
    """

    seconds: int
    resolution: str | None = None
    # The pixel size and aspect ratio the vendor is asked to render, when the adaptor decides them
    # (a default, or a normalised size); None when the request's own go through unchanged.
    width: int | None = field(default=None, compare=False)
    height: int | None = field(default=None, compare=False)
    aspect_ratio: str | None = field(default=None, compare=False)
    # The request's vendor extras left after split_pinned() checked the billed ones: merged into
    # the vendor body as they are.
    extra: dict = field(default_factory=dict, compare=False)
    # Anything else submit() needs from planning: the endpoint or req_key chosen, the images as
    # the vendor takes them, ...
    derived: dict = field(default_factory=dict, compare=False)

    @property
    def size(self):
        return f"{self.width}x{self.height}" if self.width and self.height else None

    def record(self):
        """JSON-safe: what the task is billed and produced as, for the task row."""
        planned = {
            "seconds": self.seconds,
            "size": self.size,
            "resolution": self.resolution,
            "aspect_ratio": self.aspect_ratio,
        }
        return {key: value for key, value in planned.items() if value is not None}


@dataclass
class Submission:
    vendor_task_id: str
    vendor_status: str = ""
    # Per-task facts the adaptor needs later (Kling's path family, Jimeng's req_key, ...).
    state: dict = field(default_factory=dict)


@dataclass
class TaskRef:
    """What the core hands back to the adaptor about one submitted task."""

    vendor_task_id: str
    upstream_model: str
    state: dict
    result_url: str = ""


@dataclass
class Lookup:
    """What the core hands find() about a submit that timed out."""

    external_id: str  # our id for the task, as CallContext.external_id was at submit
    upstream_model: str
    since: float  # Unix time before the create was sent: the job cannot be older (allow for clock skew)
    state: dict  # what lookup_state() recorded when the submit timed out


@dataclass
class PollResult:
    status: str  # QUEUED, IN_PROGRESS, COMPLETED, FAILED or CANCELLED
    vendor_status: str = ""
    progress: int | None = None
    result_url: str | None = None
    seconds: float | None = None  # seconds actually produced, when the vendor says
    error_code: str | None = None
    error_message: str | None = None
    moderation: bool = False  # the failure was the vendor's content moderation
    state: dict = field(default_factory=dict)  # merged into the task's remembered facts


@dataclass
class ContentSource:
    """How to fetch a finished video's bytes: a URL (with headers) or a local file."""

    url: str | None = None
    headers: dict = field(default_factory=dict)
    path: str | None = None
    content_type: str = "video/mp4"
    # The file's size as the vendor states it apart from the download (MiniMax's file.bytes):
    # the gateway's copy must have exactly this many bytes.
    expected_bytes: int | None = None


class Adaptor:
    vendor = ""  # registry key, stored on Channel.vendor
    label = ""
    default_base_url = ""
    known_base_urls: tuple = ()  # other endpoints of the vendor (regions, workspaces), shown to admins
    credential_format = gettext_lazy("API key")  # shown to admins; "AK|SK" for pairs
    credential_fields = ("api_key",)  # the dashboard's write-only inputs, joined with "|"
    known_models: tuple = ()  # suggestions for admins; channels may serve others
    poll_interval = 5  # seconds before the first poll; backs off from there
    # find() can tell, after a submit timed out, whether the vendor has the job (by our external
    # id or in its task list). Without it a submit timeout fails the task at once.
    supports_find = False
    # cancel() can stop a job at the vendor (while it is queued, at most vendors).
    supports_cancel = False
    # submit() sends ctx.callback_url where the vendor calls back on state changes; the task's
    # regular polls back off further (polling stays the fallback).
    supports_callback = False
    # The vendor signs its callbacks: verify_callback() checks them and its payload is trusted.
    signs_callbacks = False
    # poll_many() answers several tasks of one channel in one call (the vendor's task list).
    supports_poll_many = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        metrics.instrument(cls)  # vendor calls made in submit(), poll(), ... are labelled for /metrics

    def parse_credentials(self, raw):
        """Validate the credential string (new-api's formats: ``AK|SK`` pairs or one key) and
        return it normalised; raise ValueError with a clear message."""
        value = (raw or "").strip()
        if len(self.credential_fields) > 1:
            parts = [part.strip() for part in value.split("|")]
            if len(parts) != len(self.credential_fields) or not all(parts):
                raise ValueError(
                    _("%(vendor)s needs %(format)s (%(count)d values joined by '|')")
                    % {"vendor": self.label, "format": self.credential_format, "count": len(self.credential_fields)}
                )
            return "|".join(parts)
        if not value:
            raise ValueError(
                _("%(vendor)s needs: %(format)s") % {"vendor": self.label, "format": self.credential_format}
            )
        if "|" in value or any(ch.isspace() for ch in value):
            raise ValueError(
                _("%(vendor)s takes one %(format)s, without spaces or '|'")
                % {"vendor": self.label, "format": self.credential_format}
            )
        return value

    def plan(self, request: CanonicalRequest, upstream_model: str) -> Plan:
        """Validate the request for this model and say what will be billed.

        Raise RequestInvalid naming the field and the allowed values.
        """
        raise NotImplementedError

    def checked_plan(self, request: CanonicalRequest, upstream_model: str) -> Plan:
        """plan(), after the media inputs the model does not declare are refused (check_inputs):
        what the gateway calls, so an adaptor that knows nothing of a new input never drops it."""
        check_inputs(request, upstream_model, self.capabilities(upstream_model))
        return self.plan(request, upstream_model)

    def capabilities(self, upstream_model: str) -> dict:
        """What ``upstream_model`` takes, as plan() enforces it (``GET /v1/models`` shows it); build
        it with declare_capabilities() below. {} when the adaptor cannot say (a model it does not know)."""
        return {}

    def submit(self, ctx: CallContext, request: CanonicalRequest, upstream_model: str, plan: Plan) -> Submission:
        raise NotImplementedError

    def poll(self, ctx: CallContext, ref: TaskRef) -> PollResult:
        raise NotImplementedError

    def poll_many(self, ctx: CallContext, refs: list[TaskRef], since: float) -> dict[str, PollResult]:
        """Only with ``supports_poll_many``: what the vendor says of as many of ``refs`` as a few calls
        can tell, by vendor task id. ``since`` is the Unix time none of them was submitted before (allow
        for clock skew), where listing newest first may stop. A ref left out is polled with poll();
        being left out never means the vendor does not know the task (only poll()'s VendorTaskMissing
        does). Raises as poll() does when a call fails."""
        raise NotImplementedError

    def lookup_state(self, request: CanonicalRequest, upstream_model: str, plan: Plan) -> dict:
        """What find() needs to recognise this job among the vendor's (JSON-safe). Called when a
        submit times out and stored with the task; only for adaptors that support find()."""
        return {}

    def find(self, ctx: CallContext, lookup: Lookup) -> list[Submission]:
        """The jobs at the vendor that may be the one a timed-out submit created, oldest first:
        the one carrying ``lookup.external_id`` where the vendor took it, else the jobs matching
        exactly what was sent, created since ``lookup.since``. Empty when there is none (yet).
        The core adopts the first one no other task has; never submits again."""
        raise NotImplementedError

    def content(self, ctx: CallContext, ref: TaskRef) -> ContentSource:
        """Where the finished video's bytes are. Default: the result URL, no auth."""
        return ContentSource(url=ref.result_url)

    def remix(self, ctx: CallContext, ref: TaskRef, request: CanonicalRequest, plan: Plan) -> Submission:
        raise RequestInvalid(f"{self.label} videos cannot be remixed", "video_id", "remix_not_supported")

    def cancel(self, ctx: CallContext, ref: TaskRef) -> None:
        """Stop the job at the vendor. Return when the vendor confirmed it (the job will not run,
        nothing more will come of it); raise CancelTooLate when the vendor refuses because the job
        has started or finished, CancelNotSupported when it cannot cancel at all (the default),
        or any other AdaptorError when the call failed (nothing is known to have changed)."""
        raise CancelNotSupported(f"{self.label} has no way to cancel a task once it is submitted")

    def callback_handshake(self, body: bytes) -> dict | None:
        """The answer to a request the vendor makes to check a callback URL before using it (MiniMax's
        challenge), or None when ``body`` is not one. It may come while the create is in flight."""
        return None

    def verify_callback(self, headers, body, method, path, query, ctx: CallContext, ref: TaskRef) -> PollResult:
        """Only with ``signs_callbacks``: check the vendor's signature over this callback (``headers``
        lower-cased, ``body`` bytes, ``path`` and raw ``query`` as received) with the channel's
        credentials, and that it is about ``ref`` (its vendor id, when known); return the signed
        payload as a PollResult. Raise CallbackRejected when anything does not check."""
        raise NotImplementedError

    def check(self, ctx: CallContext) -> str:
        """A real, cheap call proving the credentials work; returns a sentence for admins."""
        raise NotImplementedError

    # --- helpers for subclasses ----------------------------------------------------

    @staticmethod
    def choose(value, allowed, param, default=None):
        """Validate one value against the allowed ones (None -> default)."""
        if value is None:
            return default
        if value not in allowed:
            shown = ", ".join(str(a) for a in allowed)
            raise RequestInvalid(f"'{param}' must be one of {shown}; got {value!r}", param, f"invalid_{param}")
        return value

    @staticmethod
    def classify_http_error(response, message, code=None, moderation=False):
        """The usual mapping from an HTTP error status to an adaptor error."""
        status = response.status_code
        if status in (401, 403):
            return VendorAuthFailed(message, code=code, http_status=status)
        if status == 429 or status >= 500:
            return VendorUnavailable(message, code=code, http_status=status, retry_after=retry_after_seconds(response))
        return VendorRejected(message, code=code, http_status=status, moderation=moderation)

    @staticmethod
    def json_body(response):
        try:
            return response.json()
        except ValueError:
            raise VendorError(
                f"The vendor answered HTTP {response.status_code} with a body that is not JSON",
                http_status=response.status_code,
            ) from None


def retry_after_seconds(response, now=None):
    """The wait a response's Retry-After header asks for, in whole seconds (delay-seconds or an
    HTTP-date), at most RETRY_AFTER_MAX; None when there is none or it cannot be read."""
    value = (response.headers.get("retry-after") or "").strip()
    if not value:
        return None
    if value.isdigit():
        seconds = int(value)
    else:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if moment.tzinfo is None:  # "-0000": no zone stated; an HTTP-date is GMT
            moment = moment.replace(tzinfo=UTC)
        seconds = math.ceil(moment.timestamp() - (time.time() if now is None else now))
    return min(max(seconds, 0), RETRY_AFTER_MAX)


def declare_capabilities(modes, durations, resolutions, *, sizes=(), aspect_ratios=(), audio=False, inputs=None):
    """An adaptor's capabilities() answer: the ``modes`` it takes (channels.canonical TEXT, IMAGE,
    FIRST_LAST, REFERENCE, EXTEND, EDIT), the ``durations`` in seconds, the billed ``resolutions`` tiers, the
    exact ``sizes`` ("WxH") when the vendor takes only those, the ``aspect_ratios`` a text request may
    ask for, whether the video comes with ``audio``, and the media ``inputs`` it accepts (media_inputs()).
    Any combination plan() refuses still fails."""
    return {
        "modes": list(modes),
        "durations": sorted(durations),
        "resolutions": list(resolutions),
        "sizes": list(sizes),
        "aspect_ratios": list(aspect_ratios),
        "audio": audio,
        "inputs": inputs if inputs is not None else media_inputs(),
    }


ANY_TAG = "*"


def media_inputs(
    *,
    reference_images=0,
    image_tags=(),
    reference_videos=0,
    audio=0,
    first_clip=False,
    video=False,
    generate_audio=(),
    excludes=(),
):
    """What a model accepts beyond the prompt and its first/last frame, as check_inputs() enforces it:
    at most ``reference_images``, ``reference_videos`` and ``audio`` clips; the ``image_tags`` a reference
    image may carry (ANY_TAG: any text, e.g. a subject id the prompt names); whether it continues a
    ``first_clip``; whether it edits a ``video``; the values ``generate_audio`` may take ((True, False):
    switchable; (True,): always on, may be asked for; (): not a parameter); and ``excludes``, pairs of
    canonical fields that cannot come together (("first_clip", "image"))."""
    return {
        "reference_images": reference_images,
        "image_tags": list(image_tags),
        "reference_videos": reference_videos,
        "audio": audio,
        "first_clip": first_clip,
        "video": video,
        "generate_audio": list(generate_audio),
        "excludes": [list(pair) for pair in excludes],
    }


# Canonical media fields check_inputs() polices, with the words its refusals use.
MEDIA_FIELDS = {"reference_videos": "reference videos", "audio": "audio clips"}


def check_inputs(request, upstream_model, capabilities):
    """Refuse, before any money moves and naming the field, media the model cannot take: nothing a
    client sends is silently dropped. ``capabilities`` is the adaptor's answer for the model ({} when
    it cannot say: then none of these inputs is taken)."""
    limits = capabilities.get("inputs") or media_inputs()
    for name, words in MEDIA_FIELDS.items():
        given, most = getattr(request, name), limits.get(name, 0)
        if given and not most:
            raise RequestInvalid(f"{upstream_model} takes no {words} ('{name}')", name, "unsupported_input")
        if len(given) > most:
            raise RequestInvalid(f"{upstream_model} takes at most {most} {words} ('{name}')", name, "too_many_inputs")
    if request.first_clip and not limits.get("first_clip"):
        raise RequestInvalid(
            f"{upstream_model} cannot continue a video ('first_clip')", "first_clip", "unsupported_input"
        )
    if request.video and not limits.get("video"):
        raise RequestInvalid(f"{upstream_model} cannot edit a video ('video')", "video", "unsupported_input")
    if request.generate_audio is not None and request.generate_audio not in limits.get("generate_audio", ()):
        allowed = limits.get("generate_audio") or []
        said = "does not take 'generate_audio'" if not allowed else f"takes 'generate_audio' {allowed[0]} only"
        raise RequestInvalid(f"{upstream_model} {said}", "generate_audio", "unsupported_input")
    tags = limits.get("image_tags") or []
    for index, image in enumerate(request.reference_images):
        if image.tag and ANY_TAG not in tags and image.tag not in tags:
            shown = ", ".join(tags) if tags else "none"
            raise RequestInvalid(
                f"reference_images[{index}] tag {image.tag!r} is not one {upstream_model} takes ({shown})",
                f"reference_images[{index}].tag",
                "unsupported_input",
            )
    for first, second in limits.get("excludes") or ():
        if _given(request, first) and _given(request, second):
            raise RequestInvalid(
                f"{upstream_model} takes '{first}' or '{second}', not both", second, "conflicting_inputs"
            )


def _given(request, name):
    value = getattr(request, name)
    return value is not None and value != () and value is not False


def split_pinned(extra, pinned):
    """Check the extras that would change what is billed; return the others, to merge into the body.

    The one rule for every adaptor: metadata cannot override billed fields. ``pinned`` maps
    vendor fields to the values plan() bills (the model, duration, resolution, the images that
    decide the mode, ...), or to None for a field the gateway alone sets or leaves out. Metadata
    may repeat a billed value (new-api clients send ``metadata.duration: 5`` next to
    ``duration: 5``, and Kling wants the string "5"), so values are compared as text; a
    different value, or any value for a field pinned to None, is refused.
    """
    rest = {}
    for key, value in (extra or {}).items():
        if key not in pinned:
            rest[key] = value
        elif pinned[key] is None:
            raise RequestInvalid(
                f"metadata.{key} cannot be set through metadata", f"metadata.{key}", "metadata_override_refused"
            )
        elif str(value).strip().lower() != str(pinned[key]).lower():
            raise RequestInvalid(
                f"metadata.{key} ({value!r}) cannot override the billed value ({pinned[key]!r}); "
                f"set it through the request's own fields",
                f"metadata.{key}",
                "metadata_override_refused",
            )
    return rest
