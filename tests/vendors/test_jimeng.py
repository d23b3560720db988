import base64
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from channels import volcengine
from channels.adaptors import registry
from channels.adaptors.base import (
    COMPLETED,
    FAILED,
    IN_PROGRESS,
    QUEUED,
    CallContext,
    Plan,
    TaskRef,
    VendorAuthFailed,
    VendorError,
    VendorRejected,
    VendorTaskMissing,
    VendorUnavailable,
)
from channels.adaptors.jimeng import adaptor
from channels.canonical import CanonicalRequest, ImageInput, RequestInvalid
from tests.simulators.jimeng import PNG, JimengSimulator
from videos.api.parsing import build_request

AK, SK = "AKLTsimulator", "c2ltdWxhdG9yLXNlY3JldA=="
IMG = "https://example.com/cat.jpg"
LAST = "https://example.com/cat-end.jpg"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32


@pytest.fixture
def sim():
    with JimengSimulator(AK, SK) as simulator:
        yield simulator


@pytest.fixture
def ctx(sim):
    return CallContext(base_url=sim.url, credentials=f"{AK}|{SK}", options={})


def run(ctx, request, model):
    plan = adaptor.plan(request, model)
    return plan, adaptor.submit(ctx, request, model, plan)


def sent(sim):
    return sim.calls("POST")[-1].json()


def ref_for(submission, model="jimeng_t2v_v30"):
    return TaskRef(vendor_task_id=submission.vendor_task_id, upstream_model=model, state=submission.state)


# --- signing -------------------------------------------------------------------------------


def test_signature_reproduces_the_reference_vector():
    headers = volcengine.sign(
        "POST",
        "https://visual.volcengineapi.com/?Action=CVSync2AsyncSubmitTask&Version=2022-08-31",
        b'{"req_key":"jimeng_vgfm_t2v_l20","prompt":"a cat"}',
        "AKLTEXAMPLEACCESSKEY",
        "EXAMPLESECRETKEY==",
        region="cn-north-1",
        service="cv",
        now=datetime(2025, 1, 1, tzinfo=UTC),
    )
    assert headers["X-Content-Sha256"] == "a398ad4eae2f66e44cbd5e749f5ddb51ceb44d13a9788acce6783f12f2f9b392"
    assert headers["X-Date"] == "20250101T000000Z"
    assert headers["Authorization"] == (
        "HMAC-SHA256 Credential=AKLTEXAMPLEACCESSKEY/20250101/cn-north-1/cv/request, "
        "SignedHeaders=content-type;host;x-content-sha256;x-date, "
        "Signature=e2a3a16fabe7e7379065ffedf8e14a492ae9d706480b9855ed3502fc05c63d88"
    )


def test_canonical_query_sorts_and_encodes_rfc3986():
    assert volcengine.canonical_query("b=a b&a=x~y*") == "a=x~y%2A&b=a%20b"
    assert volcengine.host_header("https://h.example:443/") == "h.example"
    assert volcengine.host_header("http://127.0.0.1:8080/") == "127.0.0.1:8080"


def _raw(sim, *, secret=SK, now=None, tamper=None, content_type="application/json"):
    url = f"{sim.url}/?Action=CVSync2AsyncGetResult&Version=2022-08-31"
    body = b'{"req_key":"jimeng_t2v_v30","task_id":"1"}'
    headers = volcengine.sign(
        "POST", url, body, AK, secret, region="cn-north-1", service="cv", content_type=content_type, now=now
    )
    if tamper:
        headers.update(tamper)
    response = httpx.post(url, content=body, headers=headers)
    return response.status_code, response.json()


def test_simulator_accepts_charset_content_type_and_rejects_bad_signatures(sim):
    assert _raw(sim, content_type="application/json; charset=utf-8")[0] == 200
    status, body = _raw(sim, secret="wrong")
    assert status == 401
    assert body["ResponseMetadata"]["Error"]["Code"] == "SignatureDoesNotMatch"
    status, body = _raw(sim, tamper={"X-Content-Sha256": "0" * 64})
    assert body["ResponseMetadata"]["Error"]["Code"] == "SignatureDoesNotMatch"
    status, body = _raw(sim, now=datetime.now(UTC) - timedelta(minutes=20))
    assert (status, body["ResponseMetadata"]["Error"]["Code"]) == (401, "InvalidTimestamp")
    status, body = _raw(sim, tamper={"Host": "elsewhere.example"})
    assert body["ResponseMetadata"]["Error"]["Code"] == "SignatureDoesNotMatch"


# --- credentials and registry ------------------------------------------------------------------


def test_credentials_need_ak_and_sk():
    assert adaptor.parse_credentials(" ak | sk ") == "ak|sk"
    for bad in ("", "onlyone", "a|", "a|b|c"):
        with pytest.raises(ValueError, match="AK\\|SK"):
            adaptor.parse_credentials(bad)
    assert registry.get("jimeng") is adaptor


# --- translation -------------------------------------------------------------------------------


def test_text_to_video_body(sim, ctx):
    request = CanonicalRequest(model="jimeng_t2v_v30", prompt="a cat", seconds=10, aspect_ratio="9:16")
    plan, submission = run(ctx, request, "jimeng_t2v_v30")
    assert plan == Plan(seconds=10, resolution="720p")
    assert sent(sim) == {
        "req_key": "jimeng_t2v_v30",
        "seed": -1,
        "frames": 241,
        "prompt": "a cat",
        "aspect_ratio": "9:16",
    }
    assert sim.calls("POST")[-1].query == {"Action": "CVSync2AsyncSubmitTask", "Version": "2022-08-31"}
    assert submission.state == {"req_key": "jimeng_t2v_v30"}


def test_defaults_five_seconds_and_sends_a_given_seed(sim, ctx):
    plan, _ = run(ctx, CanonicalRequest(model="m", prompt="a cat", seed=42), "jimeng_vgfm_t2v_l20")
    assert plan == Plan(seconds=5, resolution="720p")
    assert sent(sim) == {"req_key": "jimeng_vgfm_t2v_l20", "seed": 42, "frames": 121, "prompt": "a cat"}


def test_image_url_switches_text_model_to_its_image_sibling(sim, ctx):
    request = CanonicalRequest(model="m", prompt="walks", image=ImageInput(url=IMG), aspect_ratio="16:9")
    plan, submission = run(ctx, request, "jimeng_t2v_v30_1080p")
    assert plan.resolution == "1080p"
    body = sent(sim)
    assert body["req_key"] == "jimeng_i2v_first_v30_1080"
    assert body["image_urls"] == [IMG]
    assert "aspect_ratio" not in body and "binary_data_base64" not in body
    assert submission.state == {"req_key": "jimeng_i2v_first_v30_1080"}


def test_base64_image_is_raw_base64(sim, ctx):
    request = CanonicalRequest(model="m", prompt="walks", image=ImageInput(data=JPEG, mime_type="image/jpeg"))
    run(ctx, request, "jimeng_vgfm_i2v_l20")
    body = sent(sim)
    assert body["binary_data_base64"] == [base64.b64encode(JPEG).decode()]
    assert "image_urls" not in body


def test_first_and_last_frame_use_first_tail(sim, ctx):
    request = CanonicalRequest(model="m", prompt="p", image=ImageInput(url=IMG), last_frame=ImageInput(url=LAST))
    run(ctx, request, "jimeng_t2v_v30")
    assert sent(sim)["req_key"] == "jimeng_i2v_first_tail_v30"
    assert sent(sim)["image_urls"] == [IMG, LAST]


def test_mixed_url_and_bytes_are_all_sent_as_bytes(sim, ctx, settings):
    settings.GATEWAY_ALLOW_PRIVATE_URLS = True
    last = ImageInput(data=JPEG, mime_type="image/jpeg")
    request = CanonicalRequest(model="m", prompt="p", image=ImageInput(url=f"{sim.url}/image.png"), last_frame=last)
    run(ctx, request, "jimeng_i2v_first_tail_v30")
    assert sent(sim)["binary_data_base64"] == [base64.b64encode(PNG).decode(), base64.b64encode(JPEG).decode()]


def test_new_api_seed_example_is_served(sim, ctx):
    """model t2v_l20 + image + metadata {req_key: i2v_l20, image_urls: [same], aspect_ratio}."""
    metadata = {"req_key": "jimeng_vgfm_i2v_l20", "image_urls": [IMG], "aspect_ratio": "16:9"}
    request = build_request("jimeng_vgfm_t2v_l20", "astronaut", {"image": IMG}, metadata)
    assert dict(request.extra) == {"req_key": "jimeng_vgfm_i2v_l20"}  # the repeated image list is dropped
    plan, submission = run(ctx, request, "jimeng_vgfm_t2v_l20")
    assert plan == Plan(seconds=5, resolution="720p")
    assert sent(sim) == {
        "req_key": "jimeng_vgfm_i2v_l20",
        "seed": -1,
        "frames": 121,
        "prompt": "astronaut",
        "image_urls": [IMG],
    }
    assert submission.state["req_key"] == "jimeng_vgfm_i2v_l20"


def test_metadata_image_urls_alone_become_the_images(sim, ctx):
    request = build_request("m", "p", {}, {"image_urls": [IMG, LAST], "req_json": "{}"})
    assert (request.image, request.last_frame) == (ImageInput(url=IMG), ImageInput(url=LAST))
    run(ctx, request, "jimeng_t2v_v30")
    assert sent(sim)["req_key"] == "jimeng_i2v_first_tail_v30"
    assert sent(sim)["image_urls"] == [IMG, LAST]
    assert sent(sim)["req_json"] == "{}"


def test_metadata_image_urls_that_differ_are_refused():
    with pytest.raises(RequestInvalid) as exc:
        build_request("m", "p", {"image": IMG}, {"image_urls": [LAST]})
    assert (exc.value.param, exc.value.code) == ("metadata.image_urls", "metadata_conflict")
    request = CanonicalRequest(model="m", prompt="p", image=ImageInput(url=IMG), extra={"image_urls": [IMG]})
    with pytest.raises(RequestInvalid) as exc:  # a request built without the dialect: a plain override
        adaptor.plan(request, "jimeng_t2v_v30")
    assert (exc.value.param, exc.value.code) == ("metadata.image_urls", "metadata_override_refused")


@pytest.mark.parametrize(
    "extra, param",
    [
        ({"req_key": "jimeng_ti2v_v30_pro"}, "metadata.req_key"),
        ({"req_key": "jimeng_vgfm_i2v_l20"}, "metadata.req_key"),  # no image, so the key stays t2v
        ({"frames": 241}, "metadata.frames"),
        ({"model": "x"}, "metadata.model"),
    ],
)
def test_protected_metadata_is_refused_in_plan(extra, param):
    with pytest.raises(RequestInvalid) as exc:
        adaptor.plan(CanonicalRequest(model="m", prompt="p", extra=extra), "jimeng_vgfm_t2v_l20")
    assert exc.value.param == param


# --- plan validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_kwargs, model, param",
    [
        ({"seconds": 7}, "jimeng_t2v_v30", "seconds"),
        ({}, "jimeng_i2v_first_v30", "image"),
        ({"image": ImageInput(url=IMG)}, "jimeng_i2v_first_tail_v30", "last_frame"),
        ({"image": ImageInput(url=IMG), "last_frame": ImageInput(url=LAST)}, "jimeng_vgfm_t2v_l20", "last_frame"),
        ({"image": ImageInput(url=IMG), "last_frame": ImageInput(url=LAST)}, "jimeng_ti2v_v30_pro", "last_frame"),
        ({"resolution": "1080p"}, "jimeng_t2v_v30", "resolution"),
        ({"width": 1920, "height": 1080}, "jimeng_vgfm_t2v_l20", "size"),
        ({"aspect_ratio": "2:1"}, "jimeng_t2v_v30", "aspect_ratio"),
        ({"negative_prompt": "blur"}, "jimeng_t2v_v30", "negative_prompt"),
        ({"reference_images": [ImageInput(url=IMG)]}, "jimeng_t2v_v30", "reference_images"),
        ({"image": ImageInput(data=b"GIF89a" + b"\0" * 9, mime_type="image/gif")}, "jimeng_vgfm_i2v_l20", "image"),
    ],
)
def test_plan_refuses(request_kwargs, model, param):
    request = CanonicalRequest(model=model, prompt="p", **request_kwargs)
    with pytest.raises(RequestInvalid) as exc:
        adaptor.plan(request, model)
    assert exc.value.param == param


def test_plan_bills_1080p_for_pro_and_1080_keys():
    assert adaptor.plan(CanonicalRequest(model="m", prompt="p"), "jimeng_ti2v_v30_pro").resolution == "1080p"
    request = CanonicalRequest(model="m", prompt="p", image=ImageInput(url=IMG), width=1920, height=1080)
    assert adaptor.plan(request, "jimeng_i2v_first_v30_1080") == Plan(seconds=5, resolution="1080p")


def test_text_request_needs_a_prompt():
    with pytest.raises(RequestInvalid) as exc:
        adaptor.plan(CanonicalRequest(model="m"), "jimeng_t2v_v30")
    assert exc.value.param == "prompt"


# --- polling -------------------------------------------------------------------------------------


def test_poll_walks_every_state_with_the_submit_req_key(sim, ctx):
    request = CanonicalRequest(model="m", prompt="p", image=ImageInput(url=IMG))
    _, submission = run(ctx, request, "jimeng_t2v_v30")
    ref = ref_for(submission)
    assert adaptor.poll(ctx, ref).status == QUEUED
    assert adaptor.poll(ctx, ref).status == IN_PROGRESS
    result = adaptor.poll(ctx, ref)
    assert (result.status, result.vendor_status) == (COMPLETED, "done")
    assert result.result_url.startswith(f"{sim.url}/video/{submission.vendor_task_id}.mp4")
    assert httpx.get(result.result_url).content == sim.video_bytes
    assert sent(sim) == {"req_key": "jimeng_i2v_first_v30", "task_id": submission.vendor_task_id}


def test_expired_is_a_terminal_failure(sim, ctx):
    _, submission = run(ctx, CanonicalRequest(model="m", prompt="p"), "jimeng_t2v_v30")
    sim.script = ["expired"]
    result = adaptor.poll(ctx, ref_for(submission))
    assert (result.status, result.error_code) == (FAILED, "expired")
    assert result.error_message


def test_not_found_is_a_missing_task(sim, ctx):
    _, submission = run(ctx, CanonicalRequest(model="m", prompt="p"), "jimeng_t2v_v30")
    sim.script = ["not_found"]
    with pytest.raises(VendorTaskMissing, match="kept for 12 hours"):  # confirmed by the core, then failed
        adaptor.poll(ctx, ref_for(submission))


def test_done_with_failure_code_fails_with_reason(sim, ctx):
    _, submission = run(ctx, CanonicalRequest(model="m", prompt="p"), "jimeng_t2v_v30")
    sim.script = ["fail:50500"]
    result = adaptor.poll(ctx, ref_for(submission))
    assert (result.status, result.error_code, result.error_message) == (FAILED, "50500", "Internal Error")
    assert result.moderation is False


def test_output_moderation_at_poll(sim, ctx):
    _, submission = run(ctx, CanonicalRequest(model="m", prompt="p"), "jimeng_t2v_v30")
    sim.script = ["fail:50511"]
    result = adaptor.poll(ctx, ref_for(submission))
    assert (result.status, result.error_code, result.moderation) == (FAILED, "50511", True)


def test_unknown_state_stays_in_progress(sim, ctx):
    _, submission = run(ctx, CanonicalRequest(model="m", prompt="p"), "jimeng_t2v_v30")
    sim.script = ["reticulating"]
    result = adaptor.poll(ctx, ref_for(submission))
    assert (result.status, result.vendor_status) == (IN_PROGRESS, "reticulating")


def test_poll_rate_limit_is_transient(sim, ctx):
    _, submission = run(ctx, CanonicalRequest(model="m", prompt="p"), "jimeng_t2v_v30")
    sim.fail_next(429, {"code": 50429, "message": "Request Has Reached API Limit", "data": None})
    with pytest.raises(VendorUnavailable):
        adaptor.poll(ctx, ref_for(submission))


def test_wrong_req_key_at_poll_means_not_found(sim, ctx):
    _, submission = run(ctx, CanonicalRequest(model="m", prompt="p"), "jimeng_t2v_v30")
    ref = TaskRef(vendor_task_id=submission.vendor_task_id, upstream_model="jimeng_t2v_v30", state={})
    assert adaptor.poll(ctx, ref).status == QUEUED  # falls back to the model, which is the req_key here
    ref.state = {"req_key": "jimeng_vgfm_t2v_l20"}
    with pytest.raises(VendorTaskMissing):
        adaptor.poll(ctx, ref)


# --- submit errors ----------------------------------------------------------------------------------


def test_text_moderation_at_submit(ctx):
    with pytest.raises(VendorRejected) as exc:
        run(ctx, CanonicalRequest(model="m", prompt="please moderate me"), "jimeng_t2v_v30")
    assert (exc.value.moderation, exc.value.code, exc.value.http_status) == (True, "50412", 400)


def test_image_moderation_at_submit(ctx):
    request = CanonicalRequest(model="m", prompt="p", image=ImageInput(url="https://example.com/nsfw.jpg"))
    with pytest.raises(VendorRejected) as exc:
        run(ctx, request, "jimeng_vgfm_i2v_l20")
    assert (exc.value.moderation, exc.value.code) == (True, "50411")


@pytest.mark.parametrize("code", [50429, 50430, 50500, 50501])
def test_limits_and_internal_errors_are_unavailable(sim, ctx, code):
    status = 429 if code < 50500 else 500
    sim.fail_next(status, {"code": code, "message": "busy", "status": code, "data": None})
    with pytest.raises(VendorUnavailable) as exc:
        run(ctx, CanonicalRequest(model="m", prompt="p"), "jimeng_t2v_v30")
    assert exc.value.code == str(code)


def test_wrong_secret_is_auth_failure(sim):
    bad = CallContext(base_url=sim.url, credentials=f"{AK}|not-the-secret")
    with pytest.raises(VendorAuthFailed) as exc:
        run(bad, CanonicalRequest(model="m", prompt="p"), "jimeng_t2v_v30")
    assert exc.value.code == "SignatureDoesNotMatch"
    assert sim.tasks == {}


def test_unknown_access_key_is_auth_failure(sim):
    bad = CallContext(base_url=sim.url, credentials=f"AKLTother|{SK}")
    with pytest.raises(VendorAuthFailed) as exc:
        adaptor.check(bad)
    assert exc.value.code == "InvalidAccessKey"


def test_bad_parameter_is_rejected_not_moderation(sim, ctx):
    sim.fail_next(400, {"code": 50205, "message": "Invalid Parameter", "data": None})
    with pytest.raises(VendorRejected) as exc:
        run(ctx, CanonicalRequest(model="m", prompt="p"), "jimeng_t2v_v30")
    assert (exc.value.moderation, exc.value.code) == (False, "50205")


def test_garbage_body_is_vendor_error(sim, ctx):
    sim.fail_next(200, b"<html>oops</html>")
    with pytest.raises(VendorError):
        run(ctx, CanonicalRequest(model="m", prompt="p"), "jimeng_t2v_v30")
    sim.fail_next(200, {"code": 10000, "data": {}, "message": "Success"})
    with pytest.raises(VendorError, match="task_id"):
        run(ctx, CanonicalRequest(model="m", prompt="p"), "jimeng_t2v_v30")


def test_check(sim, ctx):
    assert "accepted" in adaptor.check(ctx)
    assert json.loads(sim.requests[-1].body) == {"req_key": "jimeng_t2v_v30", "task_id": "0"}
