"""OpenAI Videos API (Sora 2): ``POST /v1/videos``, ``GET /v1/videos/{id}``, bytes at
``/v1/videos/{id}/content``. Credentials: one API key.

OpenAI takes no caller's id for a video, so a create that timed out is looked for in the video
list (``GET /v1/videos``, newest first): a video created since the submit with exactly the model,
prompt, seconds, size (and remix source) that were sent (find()). The same list answers the
polls of many videos in one call (poll_many()): the videos in flight are the newest."""

import json

from .. import http
from ..canonical import IMAGE, TEXT, RequestInvalid, resolution_tier
from .base import (
    COMPLETED,
    FAILED,
    IN_PROGRESS,
    QUEUED,
    Adaptor,
    ContentSource,
    Plan,
    PollResult,
    Submission,
    VendorError,
    VendorTaskMissing,
    declare_capabilities,
    split_pinned,
)

SECONDS = (4, 8, 12)
SIZES = {
    "sora-2": ("720x1280", "1280x720"),
    "sora-2-pro": ("720x1280", "1280x720", "1024x1792", "1792x1024"),
}
STATUS = {
    "queued": QUEUED,
    "pending": QUEUED,
    "in_progress": IN_PROGRESS,
    "processing": IN_PROGRESS,
    "completed": COMPLETED,
    "failed": FAILED,
    "cancelled": FAILED,
}
MODERATION_CODES = {"moderation_blocked", "content_policy_violation", "content_filter"}
LIST_LIMIT = 100  # find() reads the video list newest first, this many a page, ...
LIST_PAGES = 5  # ... up to this many pages, or until the videos are older than the submit
CLOCK_SKEW = 600  # seconds: OpenAI's clock may differ from ours
POLL_MANY_PAGES = 10  # poll_many() reads this many pages of the list at most; older videos are polled alone


class OpenAIVideos(Adaptor):
    vendor = "openai"
    label = "OpenAI Videos (Sora)"
    default_base_url = "https://api.openai.com"
    known_models = ("sora-2", "sora-2-pro", "sora-2-2025-10-06", "sora-2-pro-2025-10-06", "sora-2-2025-12-08")
    poll_interval = 5
    supports_find = True
    supports_poll_many = True

    def _url(self, ctx, path):
        base = ctx.base_url.rstrip("/")
        if not base.endswith("/v1"):
            base += "/v1"
        return base + path

    def _headers(self, ctx):
        return {"Authorization": f"Bearer {ctx.credentials}"}

    def _family(self, upstream_model):
        return "sora-2-pro" if upstream_model.startswith("sora-2-pro") else "sora-2"

    def capabilities(self, upstream_model):
        sizes = SIZES[self._family(upstream_model)]
        tiers = dict.fromkeys(resolution_tier(*(int(part) for part in size.split("x"))) for size in sizes)
        return declare_capabilities((TEXT, IMAGE), SECONDS, tiers, sizes=sizes, audio=True)

    def plan(self, request, upstream_model):
        seconds = self.choose(request.seconds, SECONDS, "seconds", default=4)
        size = self.choose(request.size, SIZES[self._family(upstream_model)], "size", default="720x1280")
        if request.last_frame or request.reference_images:
            raise RequestInvalid("Sora takes one input_reference image, not first/last frames", "image")
        width, height = (int(part) for part in size.split("x"))
        extra = split_pinned(request.extra, {"model": upstream_model, "seconds": seconds, "size": size})
        return Plan(seconds=seconds, resolution=resolution_tier(width, height), width=width, height=height, extra=extra)

    def submit(self, ctx, request, upstream_model, plan):
        fields = {"model": upstream_model, "prompt": request.prompt, "seconds": str(plan.seconds), "size": plan.size}
        fields.update(plan.extra)
        image = request.image
        if image is not None and image.data is not None:
            files = {"input_reference": ("input_reference", image.data, image.mime_type)}
            data = {k: v if isinstance(v, str) else _form_value(v) for k, v in fields.items()}
            response = http.request(
                "POST",
                self._url(ctx, "/videos"),
                headers=self._headers(ctx),
                data=data,
                files=files,
                read_timeout=ctx.read_timeout,
            )
        else:
            if image is not None:
                fields["input_reference"] = {"image_url": image.url}
            response = http.request(
                "POST",
                self._url(ctx, "/videos"),
                headers=self._headers(ctx),
                json=fields,
                read_timeout=ctx.read_timeout,
            )
        return self._submission(response)

    def remix(self, ctx, ref, request, plan):
        response = http.request(
            "POST",
            self._url(ctx, f"/videos/{ref.vendor_task_id}/remix"),
            headers=self._headers(ctx),
            json={"prompt": request.prompt},
            read_timeout=ctx.read_timeout,
        )
        return self._submission(response)

    def _submission(self, response):
        body = self._checked(response)
        video_id = body.get("id")
        if not video_id:
            raise VendorError("OpenAI accepted the request but returned no video id")
        return Submission(vendor_task_id=str(video_id), vendor_status=str(body.get("status", "")))

    def poll(self, ctx, ref):
        response = http.request("GET", self._url(ctx, f"/videos/{ref.vendor_task_id}"), headers=self._headers(ctx))
        if response.status_code == 404 and _is_error_body(response):  # OpenAI's own "no such video"
            raise VendorTaskMissing(f"OpenAI has no video {ref.vendor_task_id}", http_status=404)
        return self._result(self._checked(response))

    def poll_many(self, ctx, refs, since):
        """The videos asked about, from the video list, newest first, until all were seen or the
        list reaches videos created before ``since``."""
        wanted = {ref.vendor_task_id for ref in refs}
        oldest = since - CLOCK_SKEW
        results, after = {}, None
        for _ in range(POLL_MANY_PAGES):
            params = {"limit": LIST_LIMIT, "order": "desc", **({"after": after} if after else {})}
            response = http.request("GET", self._url(ctx, "/videos"), headers=self._headers(ctx), params=params)
            page = self._checked(response)
            videos = [video for video in page.get("data") or [] if isinstance(video, dict)]
            for video in videos:
                if video.get("id") in wanted:
                    results[video["id"]] = self._result(video)
            after = page.get("last_id")
            done = wanted.issubset(results) or all(_created(video) < oldest for video in videos)
            if done or not page.get("has_more") or not after:
                break
        return results

    def _result(self, body):
        """A video object (a retrieve's answer, an item of the list) as a PollResult."""
        raw = str(body.get("status", ""))
        status = STATUS.get(raw)
        if status is None:
            return PollResult(status=IN_PROGRESS, vendor_status=raw, progress=body.get("progress"))
        result = PollResult(status=status, vendor_status=raw, progress=_progress(body.get("progress")))
        if status == COMPLETED:
            seconds = body.get("seconds")
            result.seconds = float(seconds) if _is_number(seconds) else None
        elif status == FAILED:
            error = body.get("error") or {}
            result.error_code = str(error.get("code") or "vendor_failed")
            result.error_message = error.get("message") or f"OpenAI reports the video {raw}"
            result.moderation = result.error_code in MODERATION_CODES
        return result

    def lookup_state(self, request, upstream_model, plan):
        sent = {"prompt": request.prompt, "seconds": str(plan.seconds), "size": plan.size}
        if request.remix_of_vendor_id:  # a remix sends the prompt only; the rest is the source's
            sent = {"prompt": request.prompt, "remix_of": request.remix_of_vendor_id}
        return sent

    def find(self, ctx, lookup):
        """Videos created since the submit with exactly what was sent, oldest first."""
        oldest = lookup.since - CLOCK_SKEW
        found, after = [], None
        for _ in range(LIST_PAGES):
            params = {"limit": LIST_LIMIT, "order": "desc", **({"after": after} if after else {})}
            response = http.request("GET", self._url(ctx, "/videos"), headers=self._headers(ctx), params=params)
            page = self._checked(response)
            videos = [video for video in page.get("data") or [] if isinstance(video, dict)]
            found += [video for video in videos if _created(video) >= oldest and _sent(video, lookup)]
            after = page.get("last_id")
            if not page.get("has_more") or not after or all(_created(video) < oldest for video in videos):
                break
        found.sort(key=_created)
        return [Submission(str(video["id"]), vendor_status=str(video.get("status", ""))) for video in found]

    def content(self, ctx, ref):
        return ContentSource(url=self._url(ctx, f"/videos/{ref.vendor_task_id}/content"), headers=self._headers(ctx))

    def check(self, ctx):
        response = http.request("GET", self._url(ctx, "/videos?limit=1"), headers=self._headers(ctx))
        self._checked(response)
        return "The key was accepted: listing videos worked."

    def _checked(self, response):
        body = self.json_body(response) if response.content else {}
        if response.status_code < 300:
            if not isinstance(body, dict):
                raise VendorError("OpenAI answered with an unexpected body")
            return body
        error = body.get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        code = error.get("code") or error.get("type")
        message = error.get("message") or f"OpenAI answered HTTP {response.status_code}"
        raise self.classify_http_error(response, message, code=code, moderation=code in MODERATION_CODES)


def _form_value(value):
    return json.dumps(value)


def _is_error_body(response):
    """An answer in OpenAI's error shape ``{"error": {...}}`` (not a proxy's or a wrong path's page)."""
    try:
        return isinstance(response.json().get("error"), dict)
    except (ValueError, AttributeError):
        return False


def _created(video):
    value = video.get("created_at")
    return float(value) if _is_number(value) else 0.0


def _sent(video, lookup):
    """Whether a listed video is exactly what lookup_state() says was sent (never a guess on a
    missing prompt: an old API version without it in the list matches nothing)."""
    sent = lookup.state
    if not video.get("id") or not sent.get("prompt") or video.get("prompt") != sent["prompt"]:
        return False
    if "remix_of" in sent:
        return video.get("remixed_from_video_id") == sent["remix_of"]
    return (
        not video.get("remixed_from_video_id")
        and video.get("model") == lookup.upstream_model
        and str(video.get("seconds")) == sent.get("seconds")
        and video.get("size") == sent.get("size")
    )


def _is_number(value):
    try:
        float(value)
        return True
    except (TypeError, ValueError):
        return False


def _progress(value):
    return int(value) if _is_number(value) else None


adaptor = OpenAIVideos()
