import httpx
import pytest

from channels import http
from channels.adaptors import registry
from channels.adaptors.base import (
    CANCELLED,
    COMPLETED,
    FAILED,
    IN_PROGRESS,
    QUEUED,
    CallContext,
    CancelTooLate,
    Plan,
    TaskRef,
    VendorAuthFailed,
    VendorError,
    VendorRejected,
    VendorTaskMissing,
    VendorUnavailable,
)
from channels.adaptors.seedance import adaptor
from channels.canonical import CanonicalRequest, ImageInput, RequestInvalid
from tests.simulators.seedance import SeedanceSimulator

KEY = "ark-simulator-key"
PRO = "doubao-seedance-1-0-pro-250528"
PRO15 = "doubao-seedance-1-5-pro-251215"
LITE_T2V = "doubao-seedance-1-0-lite-t2v-250428"
LITE_I2V = "doubao-seedance-1-0-lite-i2v-250428"
IMG = "https://example.com/cat.jpg"
LAST = "https://example.com/cat-end.jpg"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


@pytest.fixture
def sim():
    with SeedanceSimulator(KEY) as simulator:
        yield simulator


@pytest.fixture
def ctx(sim):
    return CallContext(base_url=sim.url, credentials=KEY, options={})


def run(ctx, request, model=PRO):
    plan = adaptor.plan(request, model)
    return plan, adaptor.submit(ctx, request, model, plan)


def sent(sim):
    return sim.calls("POST")[-1].json()


def ref_for(submission, model=PRO):
    return TaskRef(vendor_task_id=submission.vendor_task_id, upstream_model=model, state=submission.state)


def test_credentials_and_registry():
    assert adaptor.parse_credentials("  key-1 ") == "key-1"
    for bad in ("", "ak|sk", "two words"):
        with pytest.raises(ValueError):
            adaptor.parse_credentials(bad)
    assert registry.get("seedance") is adaptor


# --- translation -------------------------------------------------------------------------------


def test_text_to_video_body_uses_top_level_fields(sim, ctx):
    request = CanonicalRequest(model="m", prompt="a cat", seconds=8, width=1280, height=720, seed=7)
    plan, submission = run(ctx, request)
    assert plan == Plan(seconds=8, resolution="720p")
    assert sent(sim) == {
        "model": PRO,
        "content": [{"type": "text", "text": "a cat"}],
        "duration": 8,
        "resolution": "720p",
        "ratio": "16:9",
        "seed": 7,
    }
    assert sim.calls("POST")[-1].headers["authorization"] == f"Bearer {KEY}"
    assert submission.vendor_task_id.startswith("cgt-")


def test_defaults_per_model(sim, ctx):
    assert run(ctx, CanonicalRequest(model="m", prompt="p"))[0] == Plan(seconds=5, resolution="1080p")
    assert sent(sim)["resolution"] == "1080p" and "ratio" not in sent(sim) and "seed" not in sent(sim)
    assert run(ctx, CanonicalRequest(model="m", prompt="p"), LITE_T2V)[0] == Plan(seconds=5, resolution="720p")


def test_image_url_is_first_frame(sim, ctx):
    run(ctx, CanonicalRequest(model="m", prompt="walks", image=ImageInput(url=IMG)), LITE_I2V)
    assert sent(sim)["content"] == [
        {"type": "text", "text": "walks"},
        {"type": "image_url", "image_url": {"url": IMG}, "role": "first_frame"},
    ]


def test_bytes_are_sent_as_data_uri(sim, ctx):
    run(ctx, CanonicalRequest(model="m", prompt="", image=ImageInput(data=PNG, mime_type="image/png")), PRO15)
    assert sent(sim)["content"] == [
        {
            "type": "image_url",
            "image_url": {"url": "data:image/png;base64,iVBORw0KGgoAAAAAAAAAAAAAAAAAAAAA"},
            "role": "first_frame",
        }
    ]


def test_first_and_last_frames(sim, ctx):
    request = CanonicalRequest(model="m", prompt="p", image=ImageInput(url=IMG), last_frame=ImageInput(url=LAST))
    run(ctx, request, PRO)
    assert [item.get("role") for item in sent(sim)["content"]] == [None, "first_frame", "last_frame"]


def test_reference_images(sim, ctx):
    request = CanonicalRequest(model="m", prompt="p", reference_images=[ImageInput(url=IMG), ImageInput(url=LAST)])
    run(ctx, request, LITE_I2V)
    assert [item.get("role") for item in sent(sim)["content"]] == [None, "reference_image", "reference_image"]


def test_metadata_extras_are_merged(sim, ctx):
    extra = {"watermark": False, "camera_fixed": True, "return_last_frame": True}
    run(ctx, CanonicalRequest(model="m", prompt="p", extra=extra))
    body = sent(sim)
    assert (body["watermark"], body["camera_fixed"], body["return_last_frame"]) == (False, True, True)


@pytest.mark.parametrize(
    "extra, param",
    [
        ({"duration": 10}, "metadata.duration"),
        ({"resolution": "480p"}, "metadata.resolution"),
        ({"model": LITE_T2V}, "metadata.model"),
        ({"frames": 241}, "metadata.frames"),
        ({"content": []}, "metadata.content"),
    ],
)
def test_protected_metadata_is_refused(extra, param):
    with pytest.raises(RequestInvalid) as exc:
        adaptor.plan(CanonicalRequest(model="m", prompt="p", extra=extra), PRO)
    assert exc.value.param == param


def test_equal_protected_metadata_is_accepted(sim, ctx):
    run(ctx, CanonicalRequest(model="m", prompt="p", seconds=5, extra={"duration": 5}))
    assert sent(sim)["duration"] == 5


# --- plan validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, model, param",
    [
        ({"seconds": 13}, PRO, "seconds"),
        ({"seconds": 3}, PRO15, "seconds"),
        ({"resolution": "4k"}, PRO, "resolution"),
        ({"width": 3840, "height": 2160}, PRO, "size"),
        ({"aspect_ratio": "2:1"}, PRO, "aspect_ratio"),
        ({"image": ImageInput(url=IMG)}, LITE_T2V, "image"),
        ({}, LITE_I2V, "image"),
        ({"reference_images": [ImageInput(url=IMG)]}, PRO, "reference_images"),
        ({"reference_images": [ImageInput(url=IMG)] * 5}, LITE_I2V, "reference_images"),
        ({"last_frame": ImageInput(url=LAST)}, PRO, "image"),
        ({"negative_prompt": "blur"}, PRO, "negative_prompt"),
        ({"prompt": "a cat --rs 1080p --dur 10"}, LITE_T2V, "prompt"),
    ],
)
def test_plan_refuses(kwargs, model, param):
    request = CanonicalRequest(model=model, **{"prompt": "p", **kwargs})
    with pytest.raises(RequestInvalid) as exc:
        adaptor.plan(request, model)
    assert exc.value.param == param


# --- polling ---------------------------------------------------------------------------------------


def test_poll_walks_states_and_reports_seconds(sim, ctx):
    _, submission = run(ctx, CanonicalRequest(model="m", prompt="p", seconds=6))
    ref = ref_for(submission)
    assert adaptor.poll(ctx, ref).status == QUEUED
    assert adaptor.poll(ctx, ref).status == IN_PROGRESS
    sim.produced_seconds = 7
    result = adaptor.poll(ctx, ref)
    assert (result.status, result.seconds) == (COMPLETED, 7.0)
    assert httpx.get(result.result_url).content == sim.video_bytes


@pytest.mark.parametrize(("state", "status"), [("cancelled", CANCELLED), ("expired", FAILED)])
def test_cancelled_and_expired_end_the_task(sim, ctx, state, status):
    _, submission = run(ctx, CanonicalRequest(model="m", prompt="p"))
    sim.script = [state]
    result = adaptor.poll(ctx, ref_for(submission))
    assert (result.status, result.error_code, result.moderation) == (status, state, False)


def test_cancel_deletes_only_a_queued_task(sim, ctx):
    _, submission = run(ctx, CanonicalRequest(model="m", prompt="p"))
    ref = ref_for(submission)
    assert adaptor.supports_cancel
    adaptor.cancel(ctx, ref)
    [delete] = sim.calls("DELETE")
    assert delete.path == f"/api/v3/contents/generations/tasks/{submission.vendor_task_id}"
    assert delete.headers["authorization"] == "Bearer ark-simulator-key"
    assert adaptor.poll(ctx, ref).status == CANCELLED
    adaptor.cancel(ctx, ref)  # already cancelled: nothing more to do
    assert len(sim.calls("DELETE")) == 1


@pytest.mark.parametrize("state", ["running", "succeeded", "failed"])
def test_cancel_too_late_never_deletes(sim, ctx, state):
    _, submission = run(ctx, CanonicalRequest(model="m", prompt="p"))
    sim.script = [state]
    with pytest.raises(CancelTooLate, match=state):
        adaptor.cancel(ctx, ref_for(submission))
    assert sim.calls("DELETE") == [] and submission.vendor_task_id in sim.tasks  # a finished record stays


def test_cancel_refused_when_it_started_between_the_calls(sim, ctx, monkeypatch):
    _, submission = run(ctx, CanonicalRequest(model="m", prompt="p"))
    real = http.request

    def starts_before_the_delete(method, url, **kwargs):
        if method == "DELETE":
            sim.advance(submission.vendor_task_id, "running")
        return real(method, url, **kwargs)

    monkeypatch.setattr(http, "request", starts_before_the_delete)
    with pytest.raises(CancelTooLate) as refused:
        adaptor.cancel(ctx, ref_for(submission))
    assert refused.value.http_status == 400 and len(sim.calls("DELETE")) == 1


def test_failure_with_reason(sim, ctx):
    _, submission = run(ctx, CanonicalRequest(model="m", prompt="p"))
    sim.script = ["failed"]
    result = adaptor.poll(ctx, ref_for(submission))
    assert (result.status, result.error_code) == (FAILED, "InternalServiceError")
    assert "InternalServiceError" in result.error_message and result.moderation is False


def test_output_moderation_failure(sim, ctx):
    _, submission = run(ctx, CanonicalRequest(model="m", prompt="p"))
    sim.script = ["failed:OutputVideoSensitiveContentDetected"]
    result = adaptor.poll(ctx, ref_for(submission))
    assert (result.status, result.moderation) == (FAILED, True)


def test_unknown_state_stays_in_progress(sim, ctx):
    _, submission = run(ctx, CanonicalRequest(model="m", prompt="p"))
    sim.script = ["pondering"]
    result = adaptor.poll(ctx, ref_for(submission))
    assert (result.status, result.vendor_status) == (IN_PROGRESS, "pondering")


def test_vanished_task_is_a_missing_task(ctx):
    with pytest.raises(VendorTaskMissing) as missing:
        adaptor.poll(ctx, TaskRef(vendor_task_id="cgt-nope", upstream_model=PRO, state={}))
    assert missing.value.code == "ResourceNotFound"


# --- errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "prompt, image, code",
    [
        ("moderate me", None, "InputTextSensitiveContentDetected"),
        ("p", "https://example.com/nsfw.png", "InputImageSensitiveContentDetected"),
    ],
)
def test_moderation_at_submit(ctx, prompt, image, code):
    request = CanonicalRequest(model="m", prompt=prompt, image=ImageInput(url=image) if image else None)
    with pytest.raises(VendorRejected) as exc:
        run(ctx, request)
    assert (exc.value.moderation, exc.value.code, exc.value.http_status) == (True, code, 400)


def test_bad_key_is_auth_failure(sim):
    bad = CallContext(base_url=sim.url, credentials="wrong")
    with pytest.raises(VendorAuthFailed) as exc:
        run(bad, CanonicalRequest(model="m", prompt="p"))
    assert exc.value.code == "AuthenticationError"
    assert sim.tasks == {}


@pytest.mark.parametrize(
    "status, code",
    [(429, "RateLimitExceeded.EndpointRPM"), (500, "InternalServiceError"), (403, "AccountOverdueError")],
)
def test_unavailable(sim, ctx, status, code):
    sim.fail_next(status, {"error": {"code": code, "message": "no", "type": "x"}})
    with pytest.raises(VendorUnavailable) as exc:
        run(ctx, CanonicalRequest(model="m", prompt="p"))
    assert exc.value.code == code


def test_model_not_served_by_this_channel_is_unavailable(ctx):
    with pytest.raises(VendorUnavailable) as exc:
        run(ctx, CanonicalRequest(model="m", prompt="p"), "doubao-seedance-9-0-260101")
    assert exc.value.code == "InvalidEndpointOrModel.NotFound"


def test_vendor_parameter_error_is_rejected(sim, ctx):
    with pytest.raises(VendorRejected) as exc:
        run(ctx, CanonicalRequest(model="m", prompt="p", extra={"watermark": "yes"}))
    assert (exc.value.code, exc.value.moderation) == ("InvalidParameter", False)


def test_garbage_is_vendor_error(sim, ctx):
    sim.fail_next(200, b"<html>")
    with pytest.raises(VendorError):
        run(ctx, CanonicalRequest(model="m", prompt="p"))
    sim.fail_next(200, {"status": "queued"})
    with pytest.raises(VendorError, match="no task id"):
        run(ctx, CanonicalRequest(model="m", prompt="p"))


def test_base_url_without_api_v3_is_completed(sim):
    assert adaptor._url(CallContext(base_url="https://ark.cn-beijing.volces.com", credentials=KEY), "/x") == (
        "https://ark.cn-beijing.volces.com/api/v3/x"
    )
    assert adaptor._url(CallContext(base_url=f"{sim.url}/api/v3/", credentials=KEY), "/x") == f"{sim.url}/api/v3/x"


def test_check(sim, ctx):
    assert "accepted" in adaptor.check(ctx)
    assert sim.requests[-1].path == "/api/v3/contents/generations/tasks/cgt-gateway-credential-check"
    with pytest.raises(VendorAuthFailed):
        adaptor.check(CallContext(base_url=sim.url, credentials="wrong"))


def test_a_404_that_is_not_arks_is_not_a_vanished_task(sim, ctx):
    sim.fail_next(404, b"<html>no such path</html>")
    with pytest.raises(VendorError):
        adaptor.poll(ctx, TaskRef(vendor_task_id="cgt-x", upstream_model=PRO, state={}))
