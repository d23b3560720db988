"""Kling AI: ``POST /v1/videos/{family}`` for the families text2video, image2video, omni-video
(kling-video-o1, kling-v3-omni), multi-image2video (reference images, kling-v1-6) and video-extend
(continuing one of Kling's own videos), queried on the same path family
``GET /v1/videos/{family}/{task_id}`` (the family is kept in the task's state).
Credentials: ``AK|SK``, and every request carries a fresh HS256 JWT (iss=AK, exp=now+1800,
nbf=now-5) signed with SK; or Kling's single API key (2026), sent as ``Authorization: Bearer <key>``.

Kling answers ``{code, message, request_id}`` and sometimes reports an error with HTTP 200,
so the ``code`` decides, whatever the HTTP status.

Many at once: poll_many() reads the task list of each family (``GET /v1/videos/{family}?pageNum=
&pageSize=``, newest first, the same task objects a query answers), at most POLL_MANY_PAGES pages of
Kling's largest size, and stops once it has seen every task asked about or reached older ones.

External id: every create carries our task id as ``external_task_id`` (unique per account, as
Kling wants), so a create that times out can be found again in the task list (find()) and
adopted instead of being left running unrecorded. A client's own ``external_task_id`` is kept
with its task (the native route shows it back) but not sent.

Price tier: Kling's ``mode`` decides the output and the price: ``std`` renders 720p, ``pro``
1080p. plan() picks it from the requested resolution (size 1920x1080 -> pro, 1280x720 -> std)
or, when the client gave none, from ``metadata.mode``; the two must agree. Neither: ``std``,
Kling's default. ``mode`` is therefore billed, never an override.

Extension: a ``first_clip`` naming one of the client's own Kling videos (its ``source``, set by the
gateway) is sent to video-extend as that video's Kling id (``task_result.videos[].id``, kept in the
source's state as ``vendor_video_id``); Kling cannot extend a video by URL, so a URL is refused. The
model and mode are the source's, and Kling adds 4-5 s: billed as EXTEND_SECONDS in the source's mode,
the hold captured whole (the answer's duration is the whole video, source included).

Editing: omni-video edits a canonical ``video`` (``video_list`` item with ``refer_type: base``); the
output is as long as that video.

Sound: kling-v2-6, kling-v3 and kling-v3-omni take ``sound: "on"|"off"`` (canonical
``generate_audio``); kling-v2-6 makes sound in mode pro only, and omni takes none with a video.

Credits: a finished task carries ``final_unit_deduction`` (a string: the credits Kling charged),
kept in the task's state as ``vendor_credits``. plan() puts the credits it expects in
``Plan.derived["vendor_credits"]`` (CREDITS_PER_5S: an estimate, see docs/vendors/kling.md), which
a per-credit Price holds (channels.services.quote()).
"""

import base64
import hashlib
import hmac
import json
import logging
import math
import time
from dataclasses import dataclass
from decimal import Decimal

from django.utils.translation import gettext_lazy

from .. import http
from ..canonical import EDIT, EXTEND, FIRST_LAST, IMAGE, REFERENCE, TEXT, RequestInvalid
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
    media_inputs,
    retry_after_seconds,
    split_pinned,
)
from .common import requested_ratio

log = logging.getLogger(__name__)

TEXT2VIDEO = "text2video"
IMAGE2VIDEO = "image2video"
OMNI = "omni-video"
MULTI_IMAGE = "multi-image2video"
VIDEO_EXTEND = "video-extend"
FAMILIES = (TEXT2VIDEO, IMAGE2VIDEO, OMNI, MULTI_IMAGE, VIDEO_EXTEND)
# The families whose videos video-extend continues (Kling: text/image-to-video results and extensions).
EXTENDABLE = (TEXT2VIDEO, IMAGE2VIDEO, VIDEO_EXTEND)


@dataclass(frozen=True)
class Model:
    """What one Kling model takes: its endpoint families, durations, whether ``sound`` is a
    parameter, how many reference images multi-image2video takes (0: not served there), and whether
    video-extend continues its videos."""

    families: tuple = (TEXT2VIDEO, IMAGE2VIDEO)
    durations: tuple = (5, 10)
    sound: bool = False
    multi_images: int = 0
    extends: bool = True


MODELS = {
    "kling-v1": Model(),
    "kling-v1-5": Model(families=(IMAGE2VIDEO,), extends=False),  # "not for videos made by V1.5"
    "kling-v1-6": Model(multi_images=4),
    "kling-v2-master": Model(),
    "kling-v2-1-master": Model(),
    "kling-v2-1": Model(families=(IMAGE2VIDEO,)),
    "kling-v2-5-turbo": Model(),
    "kling-v2-6": Model(sound=True),
    "kling-v3": Model(durations=tuple(range(3, 16)), sound=True),
    "kling-video-o1": Model(families=(OMNI,), durations=tuple(range(3, 11)), extends=False),
    "kling-v3-omni": Model(families=(OMNI,), durations=tuple(range(3, 16)), sound=True, extends=False),
}
UNKNOWN_MODEL = Model()  # a model name we do not know: the 2025 endpoints, as before
SOUND_PRO_ONLY = ("kling-v2-6",)  # sound "on" only in mode pro (vendors.md §1)
OMNI_IMAGES = 7  # omni: images + elements at most, ...
OMNI_IMAGES_WITH_VIDEO = 4  # ... and with a reference video
OMNI_VIDEO_SECONDS = 10  # omni with a video: at most this long; edit (base) mode is billed this long
REFER_TYPES = ("base", "feature")
EXTEND_SECONDS = 5  # video-extend adds 4-5 s: held and captured as 5 s in the source's mode
EXTEND_EXTRAS = ("cfg_scale",)  # what video-extend takes beyond the video, prompt and negative prompt
DEFAULT_MODE = "std"  # Kling's default; a task's state records its mode only when it is another
# Credits Kling charges per 5 s, by mode: an estimate for the hold of a per-credit price (the capture
# follows the task's final_unit_deduction). new-api's Kling plugin's table [L]; docs/vendors/kling.md.
CREDITS_PER_5S = {"std": Decimal(2), "pro": Decimal("3.5")}
MODE_RESOLUTION = {"std": "720p", "pro": "1080p"}
ASPECT_RATIOS = ("16:9", "9:16", "1:1")
IMAGE_TYPES = ("image/jpeg", "image/png")
CAMERA_TYPES = ("simple", "down_back", "forward_up", "right_turn_forward", "left_turn_forward")
PROMPT_LIMIT = 2500
STATUS = {"submitted": QUEUED, "processing": IN_PROGRESS, "succeed": COMPLETED, "failed": FAILED}
# Kling gives no code for a failed task; these words in task_status_msg mean its content checks.
MODERATION_WORDS = ("risk control", "content security", "policy", "sensitive", "inappropriate")
TOKEN_TTL = 1800
NOT_FOUND = "1203"  # "resource not found": on a task query, Kling does not know the task
LIST_PAGE_SIZE = 100  # find() reads the task list of the family, newest first, ...
LIST_PAGES = 5  # ... up to this many pages, or until a page holds only jobs older than the submit
CLOCK_SKEW = 600  # seconds: Kling's clock may differ from ours
POLL_MANY_PAGE_SIZE = 500  # poll_many() reads the task list of a family in Kling's largest pages, ...
POLL_MANY_PAGES = 20  # ... this many at most (10,000 tasks); a task further down is polled on its own


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_token(access_key, secret_key, now=None):
    """Kling's API token: HS256 JWT {iss: AK, exp: now+1800, nbf: now-5} signed with SK."""
    now = int(time.time() if now is None else now)
    header = {"alg": "HS256", "typ": "JWT"}
    claims = {"iss": access_key, "exp": now + TOKEN_TTL, "nbf": now - 5}
    signing_input = ".".join(_b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims))
    signature = hmac.new(secret_key.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(signature)}"


def error_for_code(code, message, http_status=None):
    """Kling's documented error codes -> adaptor errors; None when unknown."""
    kwargs = {"code": str(code), "http_status": http_status}
    if 1000 <= code <= 1004 or code in (1103, 1304):  # auth, no permission, IP whitelist: the channel is wrong
        return VendorAuthFailed(message, **kwargs)
    if 1100 <= code <= 1102 or code in (1302, 1303) or 5000 <= code <= 5002:
        return VendorUnavailable(message, **kwargs)
    if code == 1301:
        return VendorRejected(message, moderation=True, **kwargs)
    if 1200 <= code <= 1203 or code == 1300:
        return VendorRejected(message, **kwargs)
    return None


class Kling(Adaptor):
    vendor = "kling"
    label = "Kling AI"
    default_base_url = "https://api-singapore.klingai.com"
    credential_format = gettext_lazy("AK|SK or API key")
    credential_fields = ("access_key", "secret_key")
    # The dashboard offers both: an access key and a secret key (signed into a JWT per request), or
    # Kling's single API key (sent as a Bearer token as it is).
    credential_choices = {
        "ak_sk": (gettext_lazy("Access key + secret key (signed into a JWT)"), ("access_key", "secret_key")),
        "api_key": (gettext_lazy("Single API key (sent as a Bearer token)"), ("api_key",)),
    }
    known_models = tuple(MODELS)
    poll_interval = 10
    supports_find = True
    supports_poll_many = True
    supports_callback = True  # callback_url: Kling POSTs the task object on each status change (unsigned)

    def parse_credentials(self, raw):
        """``AK|SK`` (two parts) or one API key; anything else is refused, saying which is which."""
        value = (raw or "").strip()
        usage = (
            "Kling takes either AK|SK (access key and secret key joined by '|', signed into a JWT) "
            "or a single API key (sent as a Bearer token), without spaces"
        )
        if "|" in value:
            parts = [part.strip() for part in value.split("|")]
            if len(parts) != 2 or not all(parts) or any(ch.isspace() for part in parts for ch in part):
                raise ValueError(usage)
            return "|".join(parts)
        if not value or any(ch.isspace() for ch in value):
            raise ValueError(usage)
        return value

    # --- validation -------------------------------------------------------------------

    def capabilities(self, upstream_model):
        spec = MODELS.get(upstream_model, UNKNOWN_MODEL)
        sound = (True, False) if spec.sound else ()
        resolutions = MODE_RESOLUTION.values()
        if OMNI in spec.families:
            inputs = media_inputs(
                reference_images=OMNI_IMAGES,
                reference_videos=1,
                video=True,  # edited as a "base" video
                generate_audio=sound,
                excludes=[("video", other) for other in ("image", "last_frame", "reference_videos")],
            )
            modes = (TEXT, IMAGE, FIRST_LAST, REFERENCE, EDIT)
            return declare_capabilities(
                modes, spec.durations, resolutions, aspect_ratios=ASPECT_RATIOS, audio=spec.sound, inputs=inputs
            )
        excludes = [("image", "reference_images"), ("last_frame", "reference_images")] if spec.multi_images else []
        if spec.extends:
            excludes += [("first_clip", other) for other in ("image", "last_frame", "reference_images")]
        inputs = media_inputs(
            reference_images=spec.multi_images, first_clip=spec.extends, generate_audio=sound, excludes=excludes
        )
        extend = (EXTEND,) if spec.extends else ()
        if TEXT2VIDEO not in spec.families:  # image-only: the aspect ratio is the image's own
            return declare_capabilities((IMAGE, FIRST_LAST, *extend), spec.durations, resolutions, inputs=inputs)
        modes = (TEXT, IMAGE, FIRST_LAST, *((REFERENCE,) if spec.multi_images else ()), *extend)
        return declare_capabilities(
            modes, spec.durations, resolutions, aspect_ratios=ASPECT_RATIOS, audio=spec.sound, inputs=inputs
        )

    def plan(self, request, upstream_model):
        spec = MODELS.get(upstream_model, UNKNOWN_MODEL)
        action = self._action(request, upstream_model, spec)
        if action == VIDEO_EXTEND:
            return self._plan_extend(request, upstream_model, spec)
        mode = self._mode(request)
        video = _omni_video(request)
        refer_type = self._refer_type(request)
        if refer_type == "base":  # edit mode: the output is as long as the video, at most 10 s
            if request.seconds is not None:
                raise RequestInvalid(
                    "When Kling edits a video the output is as long as that video: leave 'seconds' out",
                    "seconds",
                    "invalid_seconds",
                )
            if not video.url:
                raise RequestInvalid(
                    f"'{_video_param(request)}' names a video Kling no longer has a URL for", _video_param(request)
                )
            seconds = OMNI_VIDEO_SECONDS
        else:
            seconds = self.choose(request.seconds, spec.durations, "seconds", default=5)
        if video is not None and seconds > OMNI_VIDEO_SECONDS:
            raise RequestInvalid(
                f"With a reference video Kling makes at most {OMNI_VIDEO_SECONDS} s; 'seconds' is {seconds}",
                "seconds",
                "invalid_seconds",
            )
        sound = self._sound(request, upstream_model, spec, mode, video)
        pinned = self._billed(upstream_model, seconds, mode, action, spec, request, refer_type)
        extra = split_pinned(request.extra, pinned)
        self._check_extras(request, upstream_model, action)
        keep_sound = extra.pop("keep_original_sound", None)
        if keep_sound is not None and (video is None or keep_sound not in ("yes", "no")):
            raise RequestInvalid(
                "metadata.keep_original_sound is 'yes' or 'no', with a reference video",
                "metadata.keep_original_sound",
            )
        if action == OMNI:
            self._check_omni(request, video, refer_type)
        ratio = None
        if action in (TEXT2VIDEO, MULTI_IMAGE) or (action == OMNI and not request.image and refer_type != "base"):
            ratio = requested_ratio(request, ASPECT_RATIOS)
            if action == OMNI:
                ratio = ratio or "16:9"  # required there without a first frame or a base video
        credits = CREDITS_PER_5S[mode] * seconds / 5
        return Plan(
            seconds=seconds,
            resolution=MODE_RESOLUTION[mode],
            aspect_ratio=ratio,
            extra=extra,
            derived={
                "action": action,
                "mode": mode,
                "sound": sound,
                "refer_type": refer_type,
                "keep_original_sound": keep_sound or "no",
                "vendor_credits": str(credits.normalize()),
            },
        )

    def _plan_extend(self, request, model, spec):
        """video-extend continues one of Kling's own videos (``first_clip.source``) by 4-5 s, with the
        model and mode that made it: billed EXTEND_SECONDS in that mode. Nothing else is chosen."""
        clip = request.first_clip
        source = clip.source
        if source is None:
            raise RequestInvalid(
                "Kling extends only its own videos: give the id of one of your videos",
                "first_clip",
                "unsupported_input",
            )
        state = source.state or {}
        family = _family(state)
        if not spec.extends or family not in EXTENDABLE:
            made = f"{source.upstream_model} ({family})"
            raise RequestInvalid(
                f"Kling extends videos made by text2video, image2video or an earlier extension, except by "
                f"kling-v1-5; {clip.video_id} was made by {made}",
                "first_clip",
                "unsupported_input",
            )
        if source.upstream_model != model:
            raise RequestInvalid(
                f"Kling extends a video with the model that made it: {clip.video_id} was made by "
                f"{source.upstream_model}, not {model}",
                "first_clip",
                "incompatible_source",
            )
        if not state.get("vendor_video_id"):
            raise RequestInvalid(
                f"Kling gave no video id for {clip.video_id}: it cannot be extended", "first_clip", "unsupported_input"
            )
        if request.seconds not in (None, EXTEND_SECONDS):
            raise RequestInvalid(
                f"Kling extends a video by about {EXTEND_SECONDS} s: leave 'seconds' out",
                "seconds",
                "invalid_seconds",
            )
        if request.generate_audio is not None or "sound" in request.extra:
            param = "generate_audio" if request.generate_audio is not None else "metadata.sound"
            raise RequestInvalid("Kling video-extend takes no sound setting", param, "unsupported_input")
        mode = state.get("mode", DEFAULT_MODE)
        if request.resolution or request.extra.get("mode") is not None:
            asked = self._mode(request)
            if asked != mode:
                param = "metadata.mode" if not request.resolution else "size" if request.size else "resolution"
                raise RequestInvalid(
                    f"Kling extends a video in the mode it was made in: {mode} ({MODE_RESOLUTION[mode]})",
                    param,
                    f"invalid_{param}",
                )
        self._check_extras(request, model, VIDEO_EXTEND)
        pinned = {"model_name": model, "model": model, "duration": str(EXTEND_SECONDS), "mode": mode}
        pinned.update(dict.fromkeys(("video_id", "sound", "image", "image_tail", "image_list", "video_list")))
        extra = split_pinned(request.extra, pinned)
        extra.pop("external_task_id", None)  # a native client's own, kept with its task; video-extend takes none
        for key in extra:
            if key not in EXTEND_EXTRAS:
                raise RequestInvalid(
                    f"Kling video-extend takes a prompt, a negative prompt and {', '.join(EXTEND_EXTRAS)}; "
                    f"not metadata.{key}",
                    f"metadata.{key}",
                    "unsupported_parameter",
                )
        return Plan(
            seconds=EXTEND_SECONDS,
            resolution=MODE_RESOLUTION[mode],
            extra=extra,
            derived={
                "action": VIDEO_EXTEND,
                "mode": mode,
                "video_id": state["vendor_video_id"],
                "vendor_credits": str(CREDITS_PER_5S[mode].normalize()),
            },
        )

    def _action(self, request, model, spec):
        if request.first_clip:
            action = VIDEO_EXTEND
        elif OMNI in spec.families:
            action = OMNI
        elif request.reference_images:
            if not spec.multi_images:
                raise RequestInvalid(
                    f"{model} takes a first frame and a last frame, not reference images "
                    "(multi-image2video: kling-v1-6; omni-video: kling-video-o1, kling-v3-omni)",
                    "reference_images",
                    "unsupported_input",
                )
            action = MULTI_IMAGE
        else:
            action = IMAGE2VIDEO if request.image else TEXT2VIDEO
        if request.last_frame and not request.image:
            raise RequestInvalid("A last frame needs a first frame ('image')", "image", "image_required")
        if request.native_action and request.native_action != action:
            if request.native_action in (TEXT2VIDEO, IMAGE2VIDEO) and action in (TEXT2VIDEO, IMAGE2VIDEO):
                needed = "needs" if request.native_action == IMAGE2VIDEO else "takes no"
                raise RequestInvalid(f"Kling {request.native_action} {needed} 'image'", "image", "invalid_mode")
            raise RequestInvalid(
                f"{model} is not served on Kling's {request.native_action} endpoint (it is a {action} request)",
                "model_name",
                "invalid_mode",
            )
        if action == TEXT2VIDEO and TEXT2VIDEO not in spec.families:
            raise RequestInvalid(f"{model} only does image-to-video: 'image' is required", "image", "image_required")
        if action == MULTI_IMAGE and len(request.reference_images) > spec.multi_images:
            raise RequestInvalid(
                f"{model} takes at most {spec.multi_images} reference images", "reference_images", "too_many_inputs"
            )
        if action in (TEXT2VIDEO, MULTI_IMAGE) and not request.prompt:
            raise RequestInvalid(f"Kling {action} needs a 'prompt'", "prompt", "prompt_required")
        if action == OMNI and not request.prompt and not request.extra.get("multi_shot"):
            raise RequestInvalid("Kling omni-video needs a 'prompt'", "prompt", "prompt_required")
        if len(request.prompt or "") > PROMPT_LIMIT:
            raise RequestInvalid(f"'prompt' is longer than {PROMPT_LIMIT} characters", "prompt", "prompt_too_long")
        images = [("image", request.image), ("last_frame", request.last_frame)]
        images += [(f"reference_images[{i}]", image) for i, image in enumerate(request.reference_images)]
        for param, image in images:
            if image is not None and image.data is not None and image.mime_type not in IMAGE_TYPES:
                raise RequestInvalid(f"Kling takes JPEG or PNG images; '{param}' is {image.mime_type}", param)
        return action

    @staticmethod
    def _refer_type(request):
        """The omni video's role: ``base`` for a ``video`` to edit; for a reference video its tag,
        ``base`` (the video to edit) or ``feature`` (its style and camera to follow, the default)."""
        if request.video is not None:
            if request.video.tag not in (None, "base"):
                raise RequestInvalid(
                    f"'video' is the video to edit; its tag can only be 'base', not {request.video.tag!r}",
                    "video.tag",
                    "unsupported_input",
                )
            return "base"
        if not request.reference_videos:
            return None
        video = request.reference_videos[0]
        if video.tag is not None and video.tag not in REFER_TYPES:
            raise RequestInvalid(
                f"reference_videos[0] tag must be 'base' (edit this video) or 'feature' (follow its style); "
                f"got {video.tag!r}",
                "reference_videos[0].tag",
                "unsupported_input",
            )
        return video.tag or "feature"

    def _sound(self, request, model, spec, mode, video):
        """``on``/``off`` as sent (None: not sent, Kling's default off); check_inputs() refused
        generate_audio for a model without sound."""
        given = request.extra.get("sound")
        if not spec.sound:
            if given is not None:
                raise RequestInvalid(f"{model} makes no sound: metadata.sound is not taken", "metadata.sound")
            return None
        if given is not None and given not in ("on", "off"):
            raise RequestInvalid("metadata.sound must be 'on' or 'off'", "metadata.sound", "invalid_metadata.sound")
        sound = given if request.generate_audio is None else ("on" if request.generate_audio else "off")
        param = "generate_audio" if request.generate_audio is not None else "metadata.sound"
        if sound == "on" and video is not None:
            raise RequestInvalid("Kling makes no sound with a reference video", param, "conflicting_inputs")
        if sound == "on" and model in SOUND_PRO_ONLY and mode != "pro":
            raise RequestInvalid(f"{model} makes sound in mode pro (1080p) only", param, "conflicting_inputs")
        return sound

    def _check_omni(self, request, video, refer_type):
        elements = request.extra.get("element_list") or []
        if not isinstance(elements, list):
            raise RequestInvalid("metadata.element_list must be a list of {element_id}", "metadata.element_list")
        images = len(request.images()) + len(elements)
        most = OMNI_IMAGES_WITH_VIDEO if video is not None else OMNI_IMAGES
        if images > most:
            with_video = " with a reference video" if video is not None else ""
            raise RequestInvalid(
                f"Kling omni-video takes at most {most} images and elements{with_video}; got {images}",
                "reference_images",
                "too_many_inputs",
            )
        if refer_type == "base" and request.image:
            raise RequestInvalid(
                "A video Kling edits ('base') takes no first or last frame", "image", "conflicting_inputs"
            )

    def _mode(self, request):
        chosen = self.choose(request.extra.get("mode"), tuple(MODE_RESOLUTION), "metadata.mode")
        if not request.resolution:
            return chosen or "std"
        by_resolution = {resolution: mode for mode, resolution in MODE_RESOLUTION.items()}
        param = "size" if request.size else "resolution"
        shown = request.size or request.resolution
        if request.resolution not in by_resolution:
            raise RequestInvalid(
                f"Kling renders 720p (mode std) or 1080p (mode pro); '{param}' {shown} is neither",
                param,
                f"invalid_{param}",
            )
        mode = by_resolution[request.resolution]
        if chosen and chosen != mode:
            raise RequestInvalid(
                f"metadata.mode {chosen!r} renders {MODE_RESOLUTION[chosen]}, but '{param}' asks for {shown}",
                "metadata.mode",
                "invalid_metadata.mode",
            )
        return mode

    def _check_extras(self, request, model, action):
        extra = request.extra
        if "cfg_scale" in extra:
            value = extra["cfg_scale"]
            if action != VIDEO_EXTEND and model.startswith(("kling-v2", "kling-v3", "kling-video")):
                raise RequestInvalid(f"{model} does not take metadata.cfg_scale", "metadata.cfg_scale")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise RequestInvalid("metadata.cfg_scale must be a number from 0 to 1", "metadata.cfg_scale")
        camera = extra.get("camera_control")
        if camera is not None and action not in (TEXT2VIDEO, IMAGE2VIDEO):
            raise RequestInvalid(f"Kling {action} takes no camera_control", "metadata.camera_control")
        if camera is not None and (not isinstance(camera, dict) or camera.get("type") not in CAMERA_TYPES):
            raise RequestInvalid(
                f"metadata.camera_control.type must be one of {', '.join(CAMERA_TYPES)}", "metadata.camera_control"
            )
        groups = [
            name
            for name, present in (
                ("first+last frame", bool(request.last_frame or extra.get("image_tail"))),
                ("motion masks", bool(extra.get("static_mask") or extra.get("dynamic_masks"))),
                ("camera_control", camera is not None),
            )
            if present
        ]
        if len(groups) > 1:
            raise RequestInvalid(f"Kling cannot combine {' and '.join(groups)} in one video", "metadata")

    @staticmethod
    def _billed(model, seconds, mode, action, spec, request, refer_type):
        """The vendor fields plan() decides (metadata may only repeat them): the model, duration and
        mode billed, the sound asked for, and the image and video lists the gateway builds."""
        pinned = {"model_name": model, "model": model, "duration": str(seconds), "mode": mode}
        if refer_type == "base":
            pinned["duration"] = None  # the output is as long as the base video
        if spec.sound and request.generate_audio is not None:
            pinned["sound"] = "on" if request.generate_audio else "off"
        if action in (OMNI, MULTI_IMAGE):
            pinned["image_list"] = None
        if action == OMNI:
            pinned["video_list"] = None
        return pinned

    # --- calls ------------------------------------------------------------------------

    def submit(self, ctx, request, upstream_model, plan):
        action = plan.derived["action"]
        if action == VIDEO_EXTEND:
            body = self._extend_body(request, plan)
        else:
            body = self._body(ctx, request, upstream_model, plan)
        if ctx.callback_url:
            body["callback_url"] = ctx.callback_url  # the gateway's, replacing a client's metadata one
        url = self._url(ctx, f"/v1/videos/{action}")
        response = http.request("POST", url, headers=self._headers(ctx), json=body, read_timeout=ctx.read_timeout)
        data = self._data(response)
        task_id = data.get("task_id")
        if not task_id:
            raise VendorError("Kling accepted the request but returned no task_id")
        return Submission(
            vendor_task_id=str(task_id),
            vendor_status=str(data.get("task_status", "")),
            state=_state(action, plan.derived["mode"]),
        )

    @staticmethod
    def _extend_body(request, plan):
        """video-extend's body: Kling's id of the video, and what to say about the next seconds. Kling
        documents no external_task_id here: find() recognises the job by its parent video instead."""
        body = {"video_id": plan.derived["video_id"]}
        if request.prompt:
            body["prompt"] = request.prompt
        if request.negative_prompt:
            body["negative_prompt"] = request.negative_prompt
        body.update(plan.extra)  # cfg_scale, checked in plan()
        return body

    @staticmethod
    def _body(ctx, request, upstream_model, plan):
        action = plan.derived["action"]
        body = {"model_name": upstream_model, "mode": plan.derived["mode"], "duration": str(plan.seconds)}
        if plan.derived.get("refer_type") == "base":
            del body["duration"]  # the output is as long as the video being edited
        if request.prompt:
            body["prompt"] = request.prompt
        if request.negative_prompt:
            body["negative_prompt"] = request.negative_prompt
        if plan.derived.get("sound"):
            body["sound"] = plan.derived["sound"]
        if action == IMAGE2VIDEO:
            body["image"] = _image(request.image)
            if request.last_frame:
                body["image_tail"] = _image(request.last_frame)
        elif action == MULTI_IMAGE:
            body["image_list"] = [{"image": _image(image)} for image in request.reference_images]
        elif action == OMNI:
            images = [{"image_url": _image(request.image), "type": "first_frame"}] if request.image else []
            if request.last_frame:
                images.append({"image_url": _image(request.last_frame), "type": "end_frame"})
            images += [{"image_url": _image(image)} for image in request.reference_images]
            if images:
                body["image_list"] = images
            if video := _omni_video(request):
                body["video_list"] = [
                    {
                        "video_url": video.url,
                        "refer_type": plan.derived["refer_type"],
                        "keep_original_sound": plan.derived["keep_original_sound"],
                    }
                ]
        if plan.aspect_ratio and action != IMAGE2VIDEO:
            body["aspect_ratio"] = plan.aspect_ratio
        body.update(plan.extra)  # the billed keys were checked in plan(); everything else is a Kling extra
        if ctx.external_id:
            body["external_task_id"] = ctx.external_id  # ours, to find the job again after a timeout
        return body

    def poll(self, ctx, ref):
        family = _family(ref.state)
        url = self._url(ctx, f"/v1/videos/{family}/{ref.vendor_task_id}")
        try:
            data = self._data(http.request("GET", url, headers=self._headers(ctx)))
        except VendorRejected as exc:
            if exc.code == NOT_FOUND:
                raise VendorTaskMissing(exc.message, code=exc.code, http_status=exc.http_status) from None
            raise
        return self._result(data, ref.vendor_task_id, family)

    def poll_many(self, ctx, refs, since):
        """The tasks asked about, from the task list of their families (see the module docstring)."""
        wanted = {}
        for ref in refs:
            wanted.setdefault(_family(ref.state), set()).add(ref.vendor_task_id)
        oldest_ms = (since - CLOCK_SKEW) * 1000
        results = {}
        for action, ids in wanted.items():
            url = self._url(ctx, f"/v1/videos/{action}")
            for page in range(1, POLL_MANY_PAGES + 1):
                params = {"pageNum": page, "pageSize": POLL_MANY_PAGE_SIZE}
                response = http.request("GET", url, headers=self._headers(ctx), params=params)
                items = [item for item in self._data(response, expect=list) if isinstance(item, dict)]
                for item in items:
                    task_id = str(item.get("task_id", ""))
                    if task_id in ids and task_id not in results:
                        try:
                            results[task_id] = self._result(item, task_id, action)
                        except VendorError:
                            pass  # left to its own poll, which reports what is wrong with it
                if (
                    ids.issubset(results)
                    or len(items) < POLL_MANY_PAGE_SIZE
                    or all(_number(item.get("created_at")) < oldest_ms for item in items)
                ):
                    break
        return results

    def _result(self, data, task_id, family=TEXT2VIDEO):
        """A task object (a query's ``data``, an item of the task list) of ``family`` as a PollResult."""
        raw = str(data.get("task_status", ""))
        status = STATUS.get(raw)
        if status is None:
            log.warning("Kling task %s has an unknown task_status %r; still waiting", task_id, raw)
            return PollResult(status=IN_PROGRESS, vendor_status=raw)
        result = PollResult(status=status, vendor_status=raw)
        if status == COMPLETED:
            videos = (data.get("task_result") or {}).get("videos") or []
            if not videos or not isinstance(videos[0], dict) or not videos[0].get("url"):
                raise VendorError("Kling reports the task succeeded but gives no video URL")
            result.result_url = videos[0]["url"]
            if family != VIDEO_EXTEND:  # an extension's duration is the whole video's: billed EXTEND_SECONDS
                result.seconds = _float(videos[0].get("duration"))
            if videos[0].get("id"):
                result.state["vendor_video_id"] = str(videos[0]["id"])  # what video-extend takes
            credits = _float(data.get("final_unit_deduction"))
            if credits is not None and math.isfinite(credits) and credits >= 0:
                result.state["vendor_credits"] = str(data["final_unit_deduction"])  # as Kling says them
        elif status == FAILED:
            message = data.get("task_status_msg") or "Kling reports the task failed"
            result.moderation = any(word in message.lower() for word in MODERATION_WORDS)
            result.error_code = "content_moderation" if result.moderation else "task_failed"
            result.error_message = message
        return result

    def lookup_state(self, request, upstream_model, plan):
        state = _state(plan.derived["action"], plan.derived["mode"])
        if plan.derived["action"] == VIDEO_EXTEND:
            state["video_id"] = plan.derived["video_id"]  # find() knows the job by its parent video
        return state

    def find(self, ctx, lookup):
        """The job carrying our ``external_task_id``, from the task list of its family; for
        video-extend, which takes no external id, the jobs extending the same video (``task_info.
        parent_video.id``) created since the submit, oldest first."""
        action = _family(lookup.state)
        state = _state(action, lookup.state.get("mode", DEFAULT_MODE))
        parent = lookup.state.get("video_id") if action == VIDEO_EXTEND else None
        oldest_ms = (lookup.since - CLOCK_SKEW) * 1000
        url = self._url(ctx, f"/v1/videos/{action}")
        found = []
        for page in range(1, LIST_PAGES + 1):
            params = {"pageNum": page, "pageSize": LIST_PAGE_SIZE}
            response = http.request("GET", url, headers=self._headers(ctx), params=params)
            items = [item for item in self._data(response, expect=list) if isinstance(item, dict)]
            for item in items:
                info = item.get("task_info") if isinstance(item.get("task_info"), dict) else {}
                job = Submission(str(item.get("task_id", "")), str(item.get("task_status", "")), dict(state))
                if not job.vendor_task_id:
                    continue
                if parent is None and lookup.external_id and info.get("external_task_id") == lookup.external_id:
                    return [job]
                video = info.get("parent_video") if isinstance(info.get("parent_video"), dict) else {}
                if parent is not None and video.get("id") == parent and _number(item.get("created_at")) >= oldest_ms:
                    found.append(job)
            if len(items) < LIST_PAGE_SIZE or all(_number(item.get("created_at")) < oldest_ms for item in items):
                break
        return found[::-1]  # the list is newest first

    def check(self, ctx):
        try:
            self._data(http.request("GET", self._url(ctx, "/v1/videos/text2video/0"), headers=self._headers(ctx)))
        except VendorRejected as exc:
            if exc.code in ("1200", "1201", "1202", "1203"):
                return f"Kling accepted the credentials (looking up a missing task answered {exc.message!r})."
            raise
        return "Kling accepted the credentials."

    # --- helpers ----------------------------------------------------------------------

    def _url(self, ctx, path):
        base = ctx.base_url.rstrip("/")
        return (base[:-3] if base.endswith("/v1") else base) + path

    def _headers(self, ctx):
        """A JWT signed per request for ``AK|SK``; the single API key as it is."""
        try:
            credentials = self.parse_credentials(ctx.credentials)
        except ValueError as exc:
            raise VendorAuthFailed(str(exc)) from None
        if "|" not in credentials:
            return {"Authorization": f"Bearer {credentials}"}
        access_key, secret_key = credentials.split("|")
        return {"Authorization": f"Bearer {jwt_token(access_key, secret_key)}"}

    def _data(self, response, expect=dict):
        """The ``data`` of a successful answer (an object; a list for the task list); raises the
        error the ``code`` means."""
        try:
            body = response.json()
        except ValueError:
            body = None
        status = response.status_code
        if not isinstance(body, dict):
            if status >= 300:
                raise self.classify_http_error(response, f"Kling answered HTTP {status} without a JSON body")
            raise VendorError(f"Kling answered HTTP {status} with a body that is not a JSON object", http_status=status)
        code = body.get("code")
        if code == 0 and status < 300 and isinstance(body.get("data"), expect):
            return body["data"]
        message = f"Kling error {code}: {body.get('message') or 'no message'}"
        error = error_for_code(code, message, status) if isinstance(code, int) and code else None
        if error is not None:
            error.retry_after = retry_after_seconds(response)  # Kling's 1302/1303 come as HTTP 429
            raise error
        if status >= 300:
            raise self.classify_http_error(response, message, code=None if code is None else str(code))
        raise VendorError(f"Kling answered with code {code!r} and no task data", http_status=status)


def _family(state):
    """The path family a task was created on (kept in its state at submit), text2video if unknown."""
    return state.get("action") if state.get("action") in FAMILIES else TEXT2VIDEO


def _state(action, mode):
    """What a task's state keeps: its path family, and its mode unless Kling's default (an extension
    is made in its source's mode)."""
    return {"action": action} if mode == DEFAULT_MODE else {"action": action, "mode": mode}


def _omni_video(request):
    """The one video omni-video is given: a ``video`` to edit, else the reference video."""
    return request.video or (request.reference_videos[0] if request.reference_videos else None)


def _video_param(request):
    return "video" if request.video else "reference_videos[0]"


def _image(image):
    """A URL as is; bytes as raw base64, which Kling wants without a data: prefix."""
    return image.url or image.base64


def _float(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _number(value):
    """A timestamp that may be missing or odd: 0 then (taken for old)."""
    return _float(value) or 0


adaptor = Kling()
