"""Kling adaptor against the Kling simulator (tests/simulators/kling.py)."""

import base64
import json
import time

import httpx
import pytest

from channels.adaptors import registry
from channels.adaptors.base import (
    COMPLETED,
    FAILED,
    IN_PROGRESS,
    QUEUED,
    CallContext,
    TaskRef,
    VendorAuthFailed,
    VendorError,
    VendorRejected,
    VendorUnavailable,
)
from channels.adaptors.kling import adaptor, jwt_token
from channels.canonical import CanonicalRequest, ImageInput, RequestInvalid
from tests.simulators.kling import KlingSimulator

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
PNG_B64 = base64.b64encode(PNG).decode()
FIRST = "https://example.com/first.jpg"
LAST = "https://example.com/last.png"


@pytest.fixture
def sim():
    with KlingSimulator(access_key="ak_test", secret_key="sk_test") as simulator:
        yield simulator


@pytest.fixture
def ctx(sim):
    return CallContext(base_url=sim.url, credentials="ak_test|sk_test")


def run(ctx, request, model="kling-v1-6"):
    """plan + submit, as the core does; returns (plan, submission)."""
    plan = adaptor.plan(request, model)
    return plan, adaptor.submit(ctx, request, model, plan)


def sent(sim):
    return sim.calls("POST")[-1]


# --- auth ------------------------------------------------------------------------------


def test_jwt_matches_the_reference_vector():
    token = jwt_token("ak_example", "sk_example", now=1735689600)
    assert token == (
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
        ".eyJpc3MiOiJha19leGFtcGxlIiwiZXhwIjoxNzM1NjkxNDAwLCJuYmYiOjE3MzU2ODk1OTV9"
        ".jkTyEJv9Mv9whXCv6qmzARdzqXAgt_o19TCt3HMjpmg"
    )


def _query_with(sim, authorization):
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = httpx.get(f"{sim.url}/v1/videos/text2video/1", headers=headers)
    return response.status_code, response.json()["code"]


def test_simulator_really_verifies_the_jwt(sim):
    now = int(time.time())
    good = jwt_token("ak_test", "sk_test", now=now)
    assert _query_with(sim, f"Bearer {good}") == (404, 1203)  # authenticated; the task does not exist
    assert _query_with(sim, None) == (401, 1001)
    assert _query_with(sim, f"Bearer {good[:-2]}xx") == (401, 1002)  # tampered signature
    assert _query_with(sim, f"Bearer {jwt_token('ak_test', 'wrong', now=now)}") == (401, 1002)
    assert _query_with(sim, f"Bearer {jwt_token('ak_other', 'sk_test', now=now)}") == (401, 1002)
    assert _query_with(sim, "Bearer not-a-jwt") == (401, 1002)
    assert _query_with(sim, f"Bearer {jwt_token('ak_test', 'sk_test', now=now + 60)}") == (401, 1003)
    assert _query_with(sim, f"Bearer {jwt_token('ak_test', 'sk_test', now=now - 1801)}") == (401, 1004)


def test_adaptor_mints_a_fresh_valid_token(sim, ctx):
    run(ctx, CanonicalRequest(model="k", prompt="a cat"))
    header = sent(sim).headers["authorization"]
    payload = header.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["iss"] == "ak_test"
    assert claims["exp"] - claims["nbf"] == 1805
    assert abs(claims["nbf"] - (time.time() - 5)) < 5


def test_wrong_secret_key_is_auth_failure(sim):
    bad = CallContext(base_url=sim.url, credentials="ak_test|nope")
    with pytest.raises(VendorAuthFailed) as exc:
        run(bad, CanonicalRequest(model="k", prompt="a cat"))
    assert exc.value.code == "1002"
    assert exc.value.http_status == 401
    assert sim.tasks == {}


def test_parse_credentials():
    assert adaptor.parse_credentials(" ak | sk ") == "ak|sk"
    assert adaptor.parse_credentials(" single-api-key ") == "single-api-key"  # Kling's 2026 API key
    for raw in ("", "ak|", "|sk", "a|b|c", "two words", "a b|sk"):
        with pytest.raises(ValueError, match="either AK\\|SK .* or a single API key"):
            adaptor.parse_credentials(raw)
    assert registry.get("kling") is adaptor
    assert adaptor.credential_fields == ("access_key", "secret_key")


# --- translation -----------------------------------------------------------------------


def test_text_to_video_body(sim, ctx):
    request = CanonicalRequest(model="k", prompt="a cat", seconds=10, width=1280, height=720, negative_prompt="blur")
    plan, submission = run(ctx, request)
    assert (plan.seconds, plan.resolution) == (10, "720p")
    assert sent(sim).path == "/v1/videos/text2video"
    assert sent(sim).json() == {
        "model_name": "kling-v1-6",
        "mode": "std",
        "duration": "10",
        "prompt": "a cat",
        "negative_prompt": "blur",
        "aspect_ratio": "16:9",
    }
    assert submission.state == {"action": "text2video"}
    assert submission.vendor_status == "submitted"
    assert submission.vendor_task_id in sim.tasks


@pytest.mark.parametrize(
    ("size", "ratio", "mode", "resolution"),
    [
        ((1920, 1080), "16:9", "pro", "1080p"),
        ((720, 1280), "9:16", "std", "720p"),
        ((1080, 1080), "1:1", "pro", "1080p"),
    ],
)
def test_size_decides_aspect_ratio_and_mode(sim, ctx, size, ratio, mode, resolution):
    plan, _ = run(ctx, CanonicalRequest(model="k", prompt="x", width=size[0], height=size[1]))
    assert plan.resolution == resolution
    assert (sent(sim).json()["aspect_ratio"], sent(sim).json()["mode"]) == (ratio, mode)


def test_defaults_without_size_or_duration(sim, ctx):
    plan, _ = run(ctx, CanonicalRequest(model="k", prompt="x"))
    assert (plan.seconds, plan.resolution) == (5, "720p")
    assert sent(sim).json() == {"model_name": "kling-v1-6", "mode": "std", "duration": "5", "prompt": "x"}


def test_image_url_goes_to_image2video_without_aspect_ratio(sim, ctx):
    request = CanonicalRequest(model="k", prompt="move", image=ImageInput(url=FIRST), width=1280, height=720)
    _, submission = run(ctx, request, model="kling-v2-1")
    assert sent(sim).path == "/v1/videos/image2video"
    assert sent(sim).json() == {
        "model_name": "kling-v2-1",
        "mode": "std",
        "duration": "5",
        "prompt": "move",
        "image": FIRST,
    }
    assert submission.state == {"action": "image2video"}


def test_base64_image_is_sent_raw_without_data_prefix(sim, ctx):
    image = ImageInput.parse(f"data:image/png;base64,{PNG_B64}")
    run(ctx, CanonicalRequest(model="k", image=image))
    assert sent(sim).json()["image"] == PNG_B64


def test_first_and_last_frame(sim, ctx):
    request = CanonicalRequest(
        model="k", prompt="p", image=ImageInput(url=FIRST), last_frame=ImageInput.parse(PNG_B64), seconds=10
    )
    run(ctx, request, model="kling-v1-5")
    body = sent(sim).json()
    assert (body["image"], body["image_tail"], body["duration"]) == (FIRST, PNG_B64, "10")


def test_metadata_extras_are_merged(sim, ctx):
    camera = {"type": "simple", "config": {"horizontal": 0, "vertical": 0, "pan": 5, "tilt": 0, "roll": 0, "zoom": 0}}
    extra = {
        "camera_control": camera,
        "cfg_scale": 0.7,
        "callback_url": "https://cb.example/k",
        "external_task_id": "mine-1",
        "duration": 5,  # repeats the billed value: allowed
        "model_name": "kling-v1-6",
    }
    run(ctx, CanonicalRequest(model="k", prompt="x", seconds=5, extra=extra))
    body = sent(sim).json()
    assert body["camera_control"] == camera
    assert (body["cfg_scale"], body["callback_url"]) == (0.7, "https://cb.example/k")
    assert body["external_task_id"] == "mine-1"
    assert (body["duration"], body["model_name"]) == ("5", "kling-v1-6")


def test_metadata_mode_chooses_the_billed_tier(sim, ctx):
    plan, _ = run(ctx, CanonicalRequest(model="k", prompt="x", extra={"mode": "pro"}))
    assert plan.resolution == "1080p"
    assert sent(sim).json()["mode"] == "pro"


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"extra": {"model_name": "kling-v2-master"}}, "metadata.model_name"),
        ({"extra": {"model": "kling-v2-master"}}, "metadata.model"),
        ({"seconds": 5, "extra": {"duration": "10"}}, "metadata.duration"),
        ({"width": 1920, "height": 1080, "extra": {"mode": "std"}}, "metadata.mode"),
        ({"extra": {"mode": "turbo"}}, "metadata.mode"),
    ],
)
def test_protected_metadata_is_refused(sim, ctx, fields, param):
    with pytest.raises(RequestInvalid) as exc:
        adaptor.plan(CanonicalRequest(model="k", prompt="x", **fields), "kling-v1-6")
    assert exc.value.param == param
    assert sim.requests == []


# --- plan validation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "model", "param", "words"),
    [
        ({"seconds": 7}, "kling-v1-6", "seconds", "5, 10"),
        ({"width": 1000, "height": 900}, "kling-v1-6", "size", "16:9, 9:16, 1:1"),
        ({"width": 854, "height": 480}, "kling-v1-6", "size", "720p"),
        ({"resolution": "4k"}, "kling-v1-6", "resolution", "1080p"),
        ({"aspect_ratio": "4:3"}, "kling-v1-6", "aspect_ratio", "16:9"),
        ({}, "kling-v2-1", "image", "image-to-video"),
        ({"reference_images": [ImageInput(url=FIRST)]}, "kling-v2-master", "reference_images", "reference"),
        ({"last_frame": ImageInput(url=LAST)}, "kling-v1-6", "image", "first frame"),
        ({"extra": {"cfg_scale": 0.5}}, "kling-v2-master", "metadata.cfg_scale", "kling-v2-master"),
        ({"extra": {"cfg_scale": 3}}, "kling-v1", "metadata.cfg_scale", "0 to 1"),
        ({"extra": {"camera_control": {"type": "spin"}}}, "kling-v1", "metadata.camera_control", "simple"),
        ({"prompt": "", "extra": {}}, "kling-v1-6", "prompt", "prompt"),
        ({"image": ImageInput(data=b"GIF89a", mime_type="image/gif")}, "kling-v1-6", "image", "JPEG or PNG"),
        (
            {
                "image": ImageInput(url=FIRST),
                "last_frame": ImageInput(url=LAST),
                "extra": {"camera_control": {"type": "down_back"}},
            },
            "kling-v1-6",
            "metadata",
            "cannot combine",
        ),
    ],
)
def test_plan_refuses_what_kling_cannot_do(fields, model, param, words):
    fields = {"prompt": "x", **fields}
    with pytest.raises(RequestInvalid) as exc:
        adaptor.plan(CanonicalRequest(model="k", **fields), model)
    assert exc.value.param == param
    assert words in exc.value.message


def test_native_action_must_match_the_images():
    with pytest.raises(RequestInvalid, match="image2video needs 'image'"):
        adaptor.plan(CanonicalRequest(model="k", prompt="x", native_action="image2video"), "kling-v1")


# --- polling ---------------------------------------------------------------------------


def test_every_state_is_mapped_and_seconds_reported(sim, ctx):
    _, submission = run(ctx, CanonicalRequest(model="k", image=ImageInput(url=FIRST), seconds=10))
    ref = TaskRef(submission.vendor_task_id, "kling-v1-6", submission.state)
    results = [adaptor.poll(ctx, ref) for _ in range(3)]
    assert [r.status for r in results] == [QUEUED, IN_PROGRESS, COMPLETED]
    assert [r.vendor_status for r in results] == ["submitted", "processing", "succeed"]
    done = results[-1]
    assert done.seconds == 10.1
    assert done.result_url == f"{sim.url}/files/{submission.vendor_task_id}.mp4"
    assert httpx.get(done.result_url).content == sim.video_bytes
    assert all(r.path == f"/v1/videos/image2video/{submission.vendor_task_id}" for r in sim.calls("GET", "/v1/"))


def test_failure_with_moderation_reason(sim, ctx):
    _, submission = run(ctx, CanonicalRequest(model="k", prompt="x"))
    sim.script = ["failed"]
    result = adaptor.poll(ctx, TaskRef(submission.vendor_task_id, "kling-v1-6", submission.state))
    assert (result.status, result.moderation, result.error_code) == (FAILED, True, "content_moderation")
    assert result.error_message == "Failure to pass the risk control system"
    sim.failure_message = "Generation failed, please retry"
    result = adaptor.poll(ctx, TaskRef(submission.vendor_task_id, "kling-v1-6", submission.state))
    assert (result.status, result.moderation, result.error_code) == (FAILED, False, "task_failed")


def test_unknown_state_stays_in_progress(sim, ctx):
    _, submission = run(ctx, CanonicalRequest(model="k", prompt="x"))
    sim.script = ["rendering-v9"]
    result = adaptor.poll(ctx, TaskRef(submission.vendor_task_id, "kling-v1-6", submission.state))
    assert (result.status, result.vendor_status) == (IN_PROGRESS, "rendering-v9")


def test_succeed_without_video_is_a_vendor_error(sim, ctx):
    sim.fail_next(200, {"code": 0, "message": "SUCCEED", "data": {"task_id": "1", "task_status": "succeed"}})
    with pytest.raises(VendorError, match="no video URL"):
        adaptor.poll(ctx, TaskRef("1", "kling-v1-6", {"action": "text2video"}))


# --- errors ----------------------------------------------------------------------------


def test_moderation_at_submit(sim, ctx):
    with pytest.raises(VendorRejected) as exc:
        run(ctx, CanonicalRequest(model="k", prompt="please moderate me"))
    assert (exc.value.moderation, exc.value.code, exc.value.http_status) == (True, "1301", 400)


@pytest.mark.parametrize(
    ("code", "status", "error", "moderation"),
    [
        (1004, 401, VendorAuthFailed, False),
        (1103, 403, VendorAuthFailed, False),
        (1101, 429, VendorUnavailable, False),
        (1102, 200, VendorUnavailable, False),  # code != 0 with HTTP 200: the code decides
        (1302, 429, VendorUnavailable, False),
        (1303, 429, VendorUnavailable, False),
        (5000, 500, VendorUnavailable, False),
        (5001, 503, VendorUnavailable, False),
        (1201, 400, VendorRejected, False),
        (1201, 200, VendorRejected, False),
        (1301, 200, VendorRejected, True),
    ],
)
def test_error_codes(sim, ctx, code, status, error, moderation):
    sim.fail_next(status, {"code": code, "message": "boom", "request_id": "r"}, path_contains="/v1/videos")
    with pytest.raises(error) as exc:
        run(ctx, CanonicalRequest(model="k", prompt="x"))
    assert exc.value.code == str(code)
    assert getattr(exc.value, "moderation", False) is moderation
    assert "boom" in exc.value.message


def test_unknown_code_falls_back_to_http_status(sim, ctx):
    sim.fail_next(503, {"code": 9999, "message": "new"}, path_contains="/v1/videos")
    with pytest.raises(VendorUnavailable):
        run(ctx, CanonicalRequest(model="k", prompt="x"))
    sim.fail_next(200, {"code": 9999, "message": "new"}, path_contains="/v1/videos")
    with pytest.raises(VendorError):
        run(ctx, CanonicalRequest(model="k", prompt="x"))


def test_html_gateway_error_is_unavailable(sim, ctx):
    sim.fail_next(502, b"<html>Bad Gateway</html>", path_contains="/v1/videos")
    with pytest.raises(VendorUnavailable):
        run(ctx, CanonicalRequest(model="k", prompt="x"))


def test_garbage_body_is_vendor_error(sim, ctx):
    sim.fail_next(200, b"surely not json", path_contains="/v1/videos")
    with pytest.raises(VendorError):
        run(ctx, CanonicalRequest(model="k", prompt="x"))
    sim.fail_next(200, {"code": 0, "message": "SUCCEED", "data": {}}, path_contains="/v1/videos")
    with pytest.raises(VendorError, match="task_id"):
        run(ctx, CanonicalRequest(model="k", prompt="x"))


def test_simulator_rejects_what_the_adaptor_must_not_send(sim, ctx):
    token = jwt_token("ak_test", "sk_test")
    headers = {"Authorization": f"Bearer {token}"}
    bad = [
        ("text2video", {"prompt": "x", "duration": 5}),
        ("image2video", {"image": f"data:image/png;base64,{PNG_B64}"}),
        ("image2video", {"image": FIRST, "aspect_ratio": "16:9"}),
    ]
    for action, body in bad:
        response = httpx.post(f"{sim.url}/v1/videos/{action}", json=body, headers=headers)
        assert (response.status_code, response.json()["code"]) == (400, 1201), body


# --- check -----------------------------------------------------------------------------


def test_check_ok(sim, ctx):
    assert "accepted the credentials" in adaptor.check(ctx)
    assert sim.requests[-1].path == "/v1/videos/text2video/0"


def test_check_with_bad_credentials(sim):
    with pytest.raises(VendorAuthFailed):
        adaptor.check(CallContext(base_url=sim.url, credentials="ak_test|wrong"))
    with pytest.raises(VendorAuthFailed, match="AK\\|SK"):
        adaptor.check(CallContext(base_url=sim.url, credentials="not a key"))
    with pytest.raises(VendorAuthFailed, match="1002"):  # a single API key the simulator does not know
        adaptor.check(CallContext(base_url=sim.url, credentials="no-separator"))


def test_check_when_kling_is_down(sim, ctx):
    sim.fail_next(500, {"code": 5000, "message": "internal"})
    with pytest.raises(VendorUnavailable):
        adaptor.check(ctx)
