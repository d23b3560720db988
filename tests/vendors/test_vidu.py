"""Vidu adaptor against the Vidu simulator (tests/simulators/vidu.py)."""

import base64

import httpx
import pytest

from channels.adaptors import registry
from channels.adaptors.base import (
    CANCELLED,
    COMPLETED,
    FAILED,
    IN_PROGRESS,
    QUEUED,
    CallContext,
    CancelTooLate,
    TaskRef,
    VendorAuthFailed,
    VendorError,
    VendorRejected,
    VendorTaskMissing,
    VendorUnavailable,
)
from channels.adaptors.vidu import adaptor
from channels.canonical import CanonicalRequest, ImageInput, RequestInvalid
from tests.simulators.vidu import ViduSimulator
from videos.api.parsing import build_request

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
PNG_B64 = base64.b64encode(PNG).decode()
SEED_IMAGE = "https://prod-ss-images.s3.cn-northwest-1.amazonaws.com.cn/vidu-maas/template/image2video.png"
FIRST = "https://example.com/first.jpg"
LAST = "https://example.com/last.jpg"


@pytest.fixture
def sim():
    with ViduSimulator(api_key="vda_test") as simulator:
        yield simulator


@pytest.fixture
def ctx(sim):
    return CallContext(base_url=sim.url, credentials="vda_test")


def run(ctx, request, model="viduq2"):
    plan = adaptor.plan(request, model)
    return plan, adaptor.submit(ctx, request, model, plan)


def sent(sim):
    return sim.calls("POST")[-1]


def test_registry_and_credentials():
    assert registry.get("vidu") is adaptor
    assert adaptor.parse_credentials("  vda_x  ") == "vda_x"
    with pytest.raises(ValueError, match="API key"):
        adaptor.parse_credentials("   ")


# --- translation -----------------------------------------------------------------------


def test_seed_example_becomes_a_valid_img2video_body(sim, ctx):
    """/work/shared/seeds/000: new-api's documented Vidu request."""
    request = CanonicalRequest(
        model="viduq1",
        prompt="an astronaut walks on the moon",
        seconds=5,
        width=1920,
        height=1080,
        image=ImageInput.parse(SEED_IMAGE),
        seed=0,
        extra={
            "duration": 5,
            "resolution": "1080p",
            "movement_amplitude": "auto",
            "bgm": False,
            "payload": "",
            "callback_url": "https://your-callback-url.com/webhook",
        },
    )
    plan, submission = run(ctx, request, model="viduq1")
    assert (plan.seconds, plan.resolution) == (5, "1080p")
    assert sent(sim).path == "/ent/v2/img2video"
    assert sent(sim).headers["authorization"] == "Token vda_test"
    assert sent(sim).json() == {
        "model": "viduq1",
        "prompt": "an astronaut walks on the moon",
        "images": [SEED_IMAGE],
        "duration": 5,
        "resolution": "1080p",
        "seed": 0,
        "movement_amplitude": "auto",
        "bgm": False,
        "payload": "",
        "callback_url": "https://your-callback-url.com/webhook",
    }
    assert submission.vendor_task_id in sim.tasks
    assert submission.vendor_status == "created"


def test_text_to_video_body(sim, ctx):
    plan, _ = run(ctx, CanonicalRequest(model="v", prompt="a cat", seconds=8, width=1280, height=720))
    assert (plan.seconds, plan.resolution) == (8, "720p")
    assert sent(sim).path == "/ent/v2/text2video"
    assert sent(sim).json() == {
        "model": "viduq2",
        "prompt": "a cat",
        "duration": 8,
        "resolution": "720p",
        "aspect_ratio": "16:9",
    }


def test_text_to_video_wide_ratio_on_q2(sim, ctx):
    run(ctx, CanonicalRequest(model="v", prompt="x", width=960, height=720))
    assert sent(sim).json()["aspect_ratio"] == "4:3"
    with pytest.raises(RequestInvalid) as exc:
        adaptor.plan(CanonicalRequest(model="v", prompt="x", width=960, height=720), "vidu2.0")
    assert exc.value.param == "size"


@pytest.mark.parametrize(
    ("model", "seconds", "resolution"),
    [("viduq2", 5, "720p"), ("viduq3-pro", 5, "720p"), ("viduq1", 5, "1080p"), ("vidu2.0", 4, "360p")],
)
def test_model_defaults(sim, ctx, model, seconds, resolution):
    plan, _ = run(ctx, CanonicalRequest(model="v", prompt="x"), model=model)
    assert (plan.seconds, plan.resolution) == (seconds, resolution)
    assert (sent(sim).json()["duration"], sent(sim).json()["resolution"]) == (seconds, resolution)


def test_vidu2_eight_seconds_defaults_to_720p(sim, ctx):
    plan, _ = run(ctx, CanonicalRequest(model="v", prompt="x", seconds=8), model="vidu2.0")
    assert (plan.seconds, plan.resolution) == (8, "720p")


def test_metadata_duration_and_resolution_are_billed_when_the_request_has_none(sim, ctx):
    request = build_request("v", "x", {}, {"duration": "10", "resolution": "1080P"})  # the dialects lift them
    plan, _ = run(ctx, request)
    assert (plan.seconds, plan.resolution) == (10, "1080p")
    assert (sent(sim).json()["duration"], sent(sim).json()["resolution"]) == (10, "1080p")


def test_base64_image_becomes_a_data_uri(sim, ctx):
    run(ctx, CanonicalRequest(model="v", image=ImageInput.parse(PNG_B64)))
    assert sent(sim).json()["images"] == [f"data:image/png;base64,{PNG_B64}"]


def test_first_and_last_frame(sim, ctx):
    request = CanonicalRequest(model="v", image=ImageInput(url=FIRST), last_frame=ImageInput.parse(PNG_B64))
    run(ctx, request)
    assert sent(sim).path == "/ent/v2/start-end2video"
    assert sent(sim).json()["images"] == [FIRST, f"data:image/png;base64,{PNG_B64}"]
    assert "aspect_ratio" not in sent(sim).json()


def test_reference_images(sim, ctx):
    refs = [ImageInput(url=f"https://example.com/{i}.png") for i in range(3)]
    run(ctx, CanonicalRequest(model="v", prompt="these three", reference_images=refs, aspect_ratio="9:16"))
    assert sent(sim).path == "/ent/v2/reference2video"
    body = sent(sim).json()
    assert body["images"] == [ref.url for ref in refs]
    assert body["aspect_ratio"] == "9:16"


def test_metadata_action_pins_reference_for_one_image(sim, ctx):
    request = CanonicalRequest(
        model="v", prompt="x", image=ImageInput(url=FIRST), extra={"action": "referenceGenerate"}
    )
    run(ctx, request)
    assert sent(sim).path == "/ent/v2/reference2video"
    assert "action" not in sent(sim).json()


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"extra": {"model": "viduq2-pro"}}, "metadata.model"),
        ({"seconds": 5, "extra": {"duration": 10}}, "metadata.duration"),
        ({"resolution": "720p", "extra": {"resolution": "1080p"}}, "metadata.resolution"),
    ],
)
def test_protected_metadata_is_refused(sim, fields, param):
    with pytest.raises(RequestInvalid) as exc:
        adaptor.plan(CanonicalRequest(model="v", prompt="x", **fields), "viduq2")
    assert exc.value.param == param
    assert sim.requests == []


# --- plan validation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "model", "param", "words"),
    [
        ({"seconds": 11}, "viduq2", "seconds", "1, 2, 3"),
        ({"seconds": 16}, "viduq3-turbo", None, None),
        ({"seconds": 4}, "viduq1", "seconds", "5"),
        ({"seconds": 5}, "vidu2.0", "seconds", "4, 8"),
        ({"width": 1280, "height": 720}, "viduq1", "size", "1080p"),
        ({"seconds": 8, "resolution": "1080p"}, "vidu1.5", "resolution", "720p at 8 s"),
        ({"resolution": "360p"}, "viduq2", "resolution", "540p, 720p, 1080p"),
        ({"width": 1000, "height": 900}, "viduq2", "size", "16:9"),
        ({"prompt": ""}, "viduq2", "prompt", "prompt"),
        ({"reference_images": [ImageInput(url=FIRST)], "prompt": ""}, "viduq2", "prompt", "prompt"),
        ({"reference_images": [ImageInput(url=FIRST)] * 8}, "viduq2", "reference_images", "1 to 7"),
        ({"reference_images": [ImageInput(url=FIRST)] * 4}, "vidu2.0", "reference_images", "at most 3"),
        ({"reference_images": [ImageInput(url=FIRST)]}, "viduq2-turbo", "reference_images", "reference2video"),
        ({"extra": {"action": "referenceGenerate"}, "image": ImageInput(url=FIRST)}, "viduq3-pro", "model", "viduq3,"),
        ({"extra": {"action": "firstTailGenerate"}, "image": ImageInput(url=FIRST)}, "viduq2", "image", "2"),
        ({"extra": {"action": "jump"}}, "viduq2", "metadata.action", "referenceGenerate"),
        ({"last_frame": ImageInput(url=LAST)}, "viduq2", "image", "first frame"),
        ({"image": ImageInput(data=b"GIF89a", mime_type="image/gif")}, "viduq2", "image", "WebP"),
        ({}, "vidu-mystery", "model", "viduq2"),
    ],
)
def test_plan_validation(fields, model, param, words):
    request = CanonicalRequest(model="v", **{"prompt": "x", **fields})
    if param is None:
        assert adaptor.plan(request, model).seconds == fields["seconds"]
        return
    with pytest.raises(RequestInvalid) as exc:
        adaptor.plan(request, model)
    assert exc.value.param == param
    assert words in exc.value.message


# --- polling ---------------------------------------------------------------------------


def test_every_state_is_mapped(sim, ctx):
    _, submission = run(ctx, CanonicalRequest(model="v", prompt="x"))
    sim.script = ["created", "queueing", "processing", "success"]
    ref = TaskRef(submission.vendor_task_id, "viduq2", submission.state)
    results = [adaptor.poll(ctx, ref) for _ in range(4)]
    assert [r.status for r in results] == [QUEUED, QUEUED, IN_PROGRESS, COMPLETED]
    assert [r.vendor_status for r in results] == ["created", "queueing", "processing", "success"]
    assert results[-1].result_url == f"{sim.url}/files/{submission.vendor_task_id}.mp4"
    assert httpx.get(results[-1].result_url).content == sim.video_bytes
    assert sim.calls("GET", "/ent/")[-1].path == f"/ent/v2/tasks/{submission.vendor_task_id}/creations"


@pytest.mark.parametrize(
    ("reason", "moderation"),
    [("CreationPolicyViolation", True), ("TaskPromptPolicyViolation", True), ("InternalServiceFailure", False)],
)
def test_failure_with_reason(sim, ctx, reason, moderation):
    _, submission = run(ctx, CanonicalRequest(model="v", prompt="x"))
    sim.script, sim.failure_reason = ["failed"], reason
    result = adaptor.poll(ctx, TaskRef(submission.vendor_task_id, "viduq2", {}))
    assert (result.status, result.error_code, result.moderation) == (FAILED, reason, moderation)
    assert reason in result.error_message


def test_cancel_while_queued(sim, ctx):
    _, submission = run(ctx, CanonicalRequest(model="v", prompt="x"))
    ref = TaskRef(submission.vendor_task_id, "viduq2", {})
    assert adaptor.supports_cancel
    adaptor.cancel(ctx, ref)
    [call] = sim.calls("POST", "/cancel")
    assert call.path == f"/ent/v2/tasks/{submission.vendor_task_id}/cancel"
    assert call.json() == {"id": submission.vendor_task_id}
    assert call.headers["authorization"] == "Token vda_test"
    result = adaptor.poll(ctx, ref)  # Vidu shows it failed, UserCancelled
    assert (result.status, result.vendor_status, result.error_code) == (CANCELLED, "failed", "UserCancelled")


def test_cancel_refused_once_scheduled(sim, ctx):
    _, submission = run(ctx, CanonicalRequest(model="v", prompt="x"))
    sim.script = ["processing"]
    with pytest.raises(CancelTooLate, match="task state is scheduled, can not cancel") as refused:
        adaptor.cancel(ctx, TaskRef(submission.vendor_task_id, "viduq2", {}))
    assert (refused.value.code, refused.value.http_status) == ("BadRequest", 400)
    with pytest.raises(VendorTaskMissing):
        adaptor.cancel(ctx, TaskRef("999", "viduq2", {}))


def test_unknown_state_stays_in_progress(sim, ctx):
    _, submission = run(ctx, CanonicalRequest(model="v", prompt="x"))
    sim.script = ["scheduled"]
    result = adaptor.poll(ctx, TaskRef(submission.vendor_task_id, "viduq2", {}))
    assert (result.status, result.vendor_status) == (IN_PROGRESS, "scheduled")


def test_success_without_creations_is_a_vendor_error(sim, ctx):
    sim.fail_next(200, {"id": "1", "state": "success", "creations": []})
    with pytest.raises(VendorError, match="creation URL"):
        adaptor.poll(ctx, TaskRef("1", "viduq2", {}))


def test_failed_at_create_is_rejected(sim, ctx):
    sim.fail_next(200, {"task_id": "9", "state": "failed", "err_code": "AuditSubmitIllegal"})
    with pytest.raises(VendorRejected) as exc:
        run(ctx, CanonicalRequest(model="v", prompt="x"))
    assert (exc.value.code, exc.value.moderation) == ("AuditSubmitIllegal", True)


# --- errors ----------------------------------------------------------------------------


def test_moderation_at_submit(sim, ctx):
    with pytest.raises(VendorRejected) as exc:
        run(ctx, CanonicalRequest(model="v", prompt="please moderate me"))
    assert (exc.value.code, exc.value.moderation, exc.value.http_status) == ("TaskPromptPolicyViolation", True, 400)


def test_wrong_key_is_auth_failure(sim):
    with pytest.raises(VendorAuthFailed) as exc:
        run(CallContext(base_url=sim.url, credentials="vda_wrong"), CanonicalRequest(model="v", prompt="x"))
    assert (exc.value.code, exc.value.http_status) == ("Unauthorized", 401)
    assert sim.tasks == {}


def test_simulator_checks_the_token_scheme(sim):
    for header in ("Bearer vda_test", "vda_test", "Token vda_other"):
        response = httpx.get(f"{sim.url}/ent/v2/tasks/1/creations", headers={"Authorization": header})
        assert (response.status_code, response.json()["reason"]) == (401, "Unauthorized")


@pytest.mark.parametrize(
    ("status", "reason", "error"),
    [
        (400, "CreditInsufficient", VendorUnavailable),
        (400, "ModelUnavailable", VendorUnavailable),
        (429, "QuotaExceeded", VendorUnavailable),
        (429, "TooManyRequests", VendorUnavailable),
        (429, "SystemThrottling", VendorUnavailable),
        (500, "InternalServiceFailure", VendorUnavailable),
        (403, "Forbidden", VendorAuthFailed),
        (400, "FieldInvalid", VendorRejected),
        (400, "ImageDownloadFailure", VendorRejected),
    ],
)
def test_error_reasons(sim, ctx, status, reason, error):
    body = {"code": status, "reason": reason, "message": "boom", "metadata": {"trace_id": "t"}}
    sim.fail_next(status, body, path_contains="/ent/v2/")
    with pytest.raises(error) as exc:
        run(ctx, CanonicalRequest(model="v", prompt="x"))
    assert exc.value.code == reason
    assert "boom" in exc.value.message
    assert getattr(exc.value, "moderation", False) is False


def test_html_gateway_error_is_unavailable(sim, ctx):
    sim.fail_next(502, b"<html>bad gateway</html>", path_contains="/ent/v2/")
    with pytest.raises(VendorUnavailable):
        run(ctx, CanonicalRequest(model="v", prompt="x"))


def test_garbage_body_is_vendor_error(sim, ctx):
    sim.fail_next(200, b"not json at all", path_contains="/ent/v2/")
    with pytest.raises(VendorError):
        run(ctx, CanonicalRequest(model="v", prompt="x"))
    sim.fail_next(200, {"state": "created"}, path_contains="/ent/v2/")
    with pytest.raises(VendorError, match="task_id"):
        run(ctx, CanonicalRequest(model="v", prompt="x"))


def test_simulator_rejects_what_the_adaptor_must_not_send(sim):
    headers = {"Authorization": "Token vda_test"}
    bad = [
        ("img2video", {"model": "viduq1", "images": [PNG_B64]}, "ImageFormatInvalid"),
        ("img2video", {"model": "viduq1", "images": [FIRST], "aspect_ratio": "16:9"}, "FieldUnwanted"),
        ("img2video", {"model": "viduq1", "images": [FIRST, LAST]}, "FieldItemCountOutOfRange"),
        ("text2video", {"model": "vidu2.0", "prompt": "x", "duration": 8, "resolution": "1080p"}, "FieldInvalid"),
        ("reference2video", {"model": "viduq2", "images": [FIRST]}, "FieldLacking"),
    ]
    for endpoint, body, reason in bad:
        response = httpx.post(f"{sim.url}/ent/v2/{endpoint}", json=body, headers=headers)
        assert (response.status_code, response.json()["reason"]) == (400, reason), body


# --- check -----------------------------------------------------------------------------


def test_check_ok(sim, ctx):
    assert "accepted the key" in adaptor.check(ctx)
    assert sim.requests[-1].path == "/ent/v2/tasks/0/creations"


def test_check_with_bad_key(sim):
    with pytest.raises(VendorAuthFailed):
        adaptor.check(CallContext(base_url=sim.url, credentials="nope"))


def test_check_when_vidu_throttles(sim, ctx):
    sim.fail_next(429, {"code": 429, "reason": "SystemThrottling", "message": "slow down", "metadata": {}})
    with pytest.raises(VendorUnavailable):
        adaptor.check(ctx)
