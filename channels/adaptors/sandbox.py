"""A built-in vendor that needs no account.

It behaves like a vendor: a task is queued, then in progress, then after ``delay``
seconds (channel option, default 4) completed with a real, playable MP4 bundled with
the gateway. Model ``sandbox-fail``, or a prompt containing ``[fail]``, ends in a vendor
failure; a prompt containing ``[reject]`` is refused at submit like a moderation block.
A task can be cancelled while it is queued or in progress (until ``delay`` has passed).
"""

import secrets
import time

from django.utils.translation import gettext_lazy

from ..canonical import EDIT, EXTEND, FIRST_LAST, IMAGE, REFERENCE, TEXT, RequestInvalid, resolution_tier
from .base import (
    COMPLETED,
    FAILED,
    IN_PROGRESS,
    QUEUED,
    Adaptor,
    CancelTooLate,
    ContentSource,
    Plan,
    PollResult,
    Submission,
    TaskRef,
    VendorRejected,
    declare_capabilities,
    media_inputs,
)
from .samples import DURATIONS, sample_video_path

INPUTS = media_inputs(
    reference_images=4,
    image_tags=("asset", "style"),
    reference_videos=2,
    audio=1,
    first_clip=True,
    video=True,
    generate_audio=(True, False),
    excludes=(
        *(("first_clip", other) for other in ("image", "reference_images", "reference_videos", "video")),
        *(("video", other) for other in ("image", "reference_images")),
    ),
)


class Sandbox(Adaptor):
    vendor = "sandbox"
    label = "Sandbox (built in, no account)"
    default_base_url = "sandbox://local"
    credential_format = gettext_lazy("nothing (leave blank)")
    credential_fields = ()
    known_models = ("sandbox-video", "sandbox-fail")
    poll_interval = 1
    supports_cancel = True

    def parse_credentials(self, raw):
        return (raw or "").strip()

    def capabilities(self, upstream_model):
        # Any mode and any size up to 4096x4096 is taken; the tier follows the size. The media
        # vocabulary is taken in full (and ignored), with limits like a real vendor's, so clients
        # can try it against the demo.
        return declare_capabilities(
            (TEXT, IMAGE, FIRST_LAST, REFERENCE, EXTEND, EDIT),
            DURATIONS,
            ("480p", "720p", "1080p"),
            audio=True,
            inputs=INPUTS,
        )

    def plan(self, request, upstream_model):
        seconds = self.choose(request.seconds, DURATIONS, "seconds", default=5)
        if request.width and (request.width > 4096 or request.height > 4096):
            raise RequestInvalid("'size' may be at most 4096x4096", "size", "invalid_size")
        resolution = request.resolution or (resolution_tier(request.width, request.height) if request.width else "720p")
        return Plan(seconds=seconds, resolution=resolution)

    def submit(self, ctx, request, upstream_model, plan):
        if "[reject]" in request.prompt:
            raise VendorRejected(
                "The sandbox refused the prompt (it contains [reject])", code="moderation", moderation=True
            )
        return Submission(
            vendor_task_id=f"sbx_{secrets.token_hex(8)}",
            vendor_status="queued",
            state={
                "submitted": time.time(),
                "seconds": plan.seconds,
                "fail": upstream_model == "sandbox-fail" or "[fail]" in request.prompt,
            },
        )

    def remix(self, ctx, ref, request, plan):
        return self.submit(ctx, request, ref.upstream_model, plan)

    def poll(self, ctx, ref):
        delay = float(ctx.options.get("delay", 4))
        elapsed = time.time() - ref.state.get("submitted", 0)
        if elapsed < delay * 0.25:
            return PollResult(status=QUEUED, vendor_status="queued", progress=0)
        if elapsed < delay:
            return PollResult(status=IN_PROGRESS, vendor_status="running", progress=min(99, int(100 * elapsed / delay)))
        if ref.state.get("fail"):
            return PollResult(
                status=FAILED,
                vendor_status="failed",
                error_code="sandbox_failure",
                error_message="The sandbox vendor reports that generation failed (as asked).",
            )
        seconds = ref.state.get("seconds", 5)
        return PollResult(
            status=COMPLETED,
            vendor_status="succeeded",
            progress=100,
            seconds=seconds,
            result_url=f"sandbox://{sample_video_path(seconds).name}",
        )

    def cancel(self, ctx, ref):
        if time.time() - ref.state.get("submitted", 0) >= float(ctx.options.get("delay", 4)):
            raise CancelTooLate("The sandbox already finished this video")

    def content(self, ctx, ref):
        return ContentSource(path=str(sample_video_path(ref.state.get("seconds", 5))))

    def check(self, ctx):
        """Polls a probe task, as the poller would a real one: the channel's options (``delay``)
        are read and a bad one fails the test instead of every task's polls."""
        try:
            delay = float(ctx.options.get("delay", 4))
        except (TypeError, ValueError):
            raise VendorRejected(
                f"The channel option 'delay' must be a number of seconds, not {ctx.options['delay']!r}"
            ) from None
        probe = TaskRef(vendor_task_id="sbx_check", upstream_model="sandbox-video", state={"submitted": time.time()})
        result = self.poll(ctx, probe)
        return f"The sandbox answered a poll ({result.vendor_status}); its videos take {delay:g} s."


adaptor = Sandbox()
