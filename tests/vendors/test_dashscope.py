import pytest

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
from channels.adaptors.dashscope import adaptor
from channels.adaptors.registry import get
from channels.canonical import CanonicalRequest, ImageInput, RequestInvalid
from tests.simulators.dashscope import DashScopeSimulator
from videos.api.parsing import build_request

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
KEY = "sk-dashscope-test"


@pytest.fixture
def sim():
    with DashScopeSimulator(api_key=KEY) as simulator:
        yield simulator


def ctx(sim, key=KEY, suffix="/api/v1"):
    return CallContext(base_url=sim.url + suffix, credentials=key, options={})


def submit(sim, model, key=KEY, **fields):
    request = CanonicalRequest(model=model, **fields)
    plan = adaptor.plan(request, model)
    return adaptor.submit(ctx(sim, key), request, model, plan), plan


def sent(sim):
    return sim.calls("POST")[-1]


def test_registered():
    assert get("dashscope") is adaptor
    assert adaptor.default_base_url == "https://dashscope.aliyuncs.com/api/v1"


def test_t2v_body_headers_and_size_conversion(sim):
    submission, plan = submit(sim, "wan2.5-t2v-preview", prompt="a cat", width=1920, height=1080, seconds=10)
    assert plan == Plan(seconds=10, resolution="1080p")
    call = sent(sim)
    assert call.path == "/api/v1/services/aigc/video-generation/video-synthesis"
    assert call.headers["authorization"] == f"Bearer {KEY}"
    assert call.headers["x-dashscope-async"] == "enable"
    assert call.json() == {
        "model": "wan2.5-t2v-preview",
        "input": {"prompt": "a cat"},
        "parameters": {"duration": 10, "size": "1920*1080"},
    }
    assert submission.vendor_status == "PENDING"
    assert submission.state == {"kind": "t2v"}
    assert submission.vendor_task_id in sim.tasks


def test_t2v_native_size_string_and_base_without_api_v1(sim):
    request = build_request("wan2.5-t2v-preview", "x", {"size": "1920*1080"})  # as the native dialect does
    plan = adaptor.plan(request, "wan2.5-t2v-preview")
    assert plan == Plan(seconds=5, resolution="1080p")
    adaptor.submit(ctx(sim, suffix=""), request, "wan2.5-t2v-preview", plan)
    assert sent(sim).json()["parameters"] == {"duration": 5, "size": "1920*1080"}


def test_t2v_resolution_and_ratio_pick_the_tier_size():
    request = CanonicalRequest(model="m", resolution="480p", aspect_ratio="9:16")
    plan = adaptor.plan(request, "wanx2.1-t2v-turbo")
    assert plan == Plan(seconds=5, resolution="480p")
    assert plan.size == "480x832" and request.size is None
    square = CanonicalRequest(model="m", width=624, height=624)
    assert adaptor.plan(square, "wan2.5-t2v-preview").resolution == "480p"  # the tier, not the short side


def test_t2v_defaults():
    request = CanonicalRequest(model="m")
    plan = adaptor.plan(request, "wan2.2-t2v-plus")
    assert plan == Plan(seconds=5, resolution="1080p")
    assert plan.size == "1920x1080" and request.size is None
    request = CanonicalRequest(model="m")
    assert adaptor.plan(request, "wanx2.1-t2v-plus") == Plan(seconds=5, resolution="720p")


def test_i2v_url_and_size_maps_to_tier(sim):
    _, plan = submit(
        sim, "wan2.2-i2v-flash", prompt="p", image=ImageInput(url="https://example.com/a.png"), width=1280, height=720
    )
    assert plan == Plan(seconds=5, resolution="720p")
    assert sent(sim).json() == {
        "model": "wan2.2-i2v-flash",
        "input": {"prompt": "p", "img_url": "https://example.com/a.png"},
        "parameters": {"duration": 5, "resolution": "720P"},
    }


def test_i2v_base64_becomes_data_uri_and_default_resolution(sim):
    _, plan = submit(sim, "wan2.5-i2v-preview", prompt="p", image=ImageInput(data=PNG, mime_type="image/png"))
    assert plan == Plan(seconds=5, resolution="1080p")
    body = sent(sim).json()
    assert body["input"]["img_url"].startswith("data:image/png;base64,iVBORw0KGgo")
    assert body["parameters"]["resolution"] == "1080P"


def test_kf2v_goes_to_image2video_path(sim):
    first, last = ImageInput(url="https://x/1.png"), ImageInput(url="https://x/2.png")
    submission, plan = submit(sim, "wan2.2-kf2v-flash", prompt="p", image=first, last_frame=last, resolution="480p")
    call = sent(sim)
    assert call.path == "/api/v1/services/aigc/image2video/video-synthesis"
    assert call.json()["input"] == {
        "prompt": "p",
        "first_frame_url": "https://x/1.png",
        "last_frame_url": "https://x/2.png",
    }
    assert call.json()["parameters"] == {"duration": 5, "resolution": "480P"}
    assert submission.state == {"kind": "kf2v"}
    for model in ("wanx2.1-kf2v-plus", "wan2.1-kf2v-plus"):
        submit(sim, model, image=first, last_frame=last)
        assert sent(sim).path.endswith("/image2video/video-synthesis")


def test_metadata_extras_are_merged(sim):
    metadata = {
        "prompt_extend": False,
        "watermark": True,
        "template": "flying",
        "audio_url": "https://x/a.mp3",
        "audio": True,
        "size": "1280*720",  # lifted into the request's size by the dialect
    }
    request = build_request("wan2.5-t2v-preview", "p", {"negative_prompt": "blur", "seed": 42}, metadata)
    # audio_url is the canonical audio clip (lifted by the dialect); "audio", DashScope's own switch,
    # stays an extra and is sent as generate_audio would be.
    assert [clip.url for clip in request.audio] == ["https://x/a.mp3"] and "audio_url" not in request.extra
    assert request.extra["audio"] is True and request.generate_audio is None
    plan = adaptor.checked_plan(request, "wan2.5-t2v-preview")
    assert plan.derived["generate_audio"] is True and "audio" not in plan.extra
    adaptor.submit(ctx(sim), request, "wan2.5-t2v-preview", plan)
    body = sent(sim).json()
    assert body["input"] == {
        "prompt": "p",
        "negative_prompt": "blur",
        "template": "flying",
        "audio_url": "https://x/a.mp3",
    }
    assert body["parameters"] == {
        "duration": 5,
        "size": "1280*720",
        "seed": 42,
        "prompt_extend": False,
        "watermark": True,
        "audio": True,
    }


@pytest.mark.parametrize(
    "extra, param",
    [
        ({"duration": 10}, "metadata.duration"),
        ({"size": "832*480"}, "metadata.size"),
        ({"resolution": "480P"}, "metadata.resolution"),
        ({"model": "wan2.5-t2v-preview"}, "metadata.model"),
        ({"img_url": "https://x/evil.png"}, "metadata.img_url"),
    ],
)
def test_protected_metadata_refused(sim, extra, param):
    request = CanonicalRequest(model="m", prompt="p", seconds=5, width=1920, height=1080, extra=extra)
    with pytest.raises(RequestInvalid) as info:  # in plan(), before any money moves
        adaptor.plan(request, "wan2.2-t2v-plus")
    assert info.value.param == param and info.value.code == "metadata_override_refused"
    assert sim.calls("POST") == []


@pytest.mark.parametrize(
    "model, fields, param",
    [
        ("wan2.2-t2v-plus", {"seconds": 10}, "seconds"),
        ("wanx2.1-i2v-turbo", {"seconds": 6, "image": ImageInput(url="https://x/a.png")}, "seconds"),
        ("wan2.2-t2v-plus", {"width": 1280, "height": 720}, "size"),
        ("wanx2.1-t2v-plus", {"resolution": "1080p"}, "resolution"),
        ("wan2.2-i2v-plus", {"resolution": "720p", "image": ImageInput(url="https://x/a.png")}, "resolution"),
        ("wan2.5-i2v-preview", {}, "image"),
        ("wan2.5-t2v-preview", {"image": ImageInput(url="https://x/a.png")}, "image"),
        (
            "wan2.2-i2v-flash",
            {"image": ImageInput(url="https://x/a"), "last_frame": ImageInput(url="https://x/b")},
            "last_frame",
        ),
        ("wan2.2-kf2v-flash", {"image": ImageInput(url="https://x/a.png")}, "last_frame"),
        ("wan2.2-t2v-plus", {"extra": {"audio_url": "https://x/a.mp3"}}, "metadata.audio_url"),
        ("wan2.2-t2v-plus", {"extra": {"audio": True}}, "metadata.audio"),
        ("wan2.2-t2v-plus", {"reference_images": [ImageInput(url="https://x/a")]}, "reference_images"),
    ],
)
def test_plan_validation(model, fields, param):
    with pytest.raises(RequestInvalid) as info:
        adaptor.plan(CanonicalRequest(model=model, prompt="p", **fields), model)
    assert info.value.param == param
    assert param.split(".")[-1] in info.value.message


def test_plan_message_lists_allowed_sizes():
    with pytest.raises(RequestInvalid) as info:
        adaptor.plan(CanonicalRequest(model="m", width=1280, height=720), "wan2.2-t2v-plus")
    assert "1920x1080" in info.value.message and "832x480" in info.value.message


def test_kf2v_template_needs_no_last_frame():
    request = CanonicalRequest(model="m", image=ImageInput(url="https://x/a"), extra={"template": "flying"})
    assert adaptor.plan(request, "wan2.2-kf2v-flash") == Plan(seconds=5, resolution="720p")


def poll(sim, submission, model="wan2.2-t2v-plus"):
    ref = TaskRef(vendor_task_id=submission.vendor_task_id, upstream_model=model, state=submission.state)
    return adaptor.poll(ctx(sim), ref)


def test_states_and_completion_with_seconds(sim):
    sim.script = ["PENDING", "RUNNING", "SUSPENDED", "SUCCEEDED"]
    submission, _ = submit(sim, "wan2.2-t2v-plus", prompt="p")
    results = [poll(sim, submission) for _ in range(4)]
    assert [r.status for r in results] == [QUEUED, IN_PROGRESS, IN_PROGRESS, COMPLETED]
    assert [r.vendor_status for r in results] == ["PENDING", "RUNNING", "SUSPENDED", "SUCCEEDED"]
    done = results[-1]
    assert done.seconds == 5.0
    assert done.result_url.startswith(f"{sim.url}/results/{submission.vendor_task_id}.mp4")
    assert sim.calls("GET", "/tasks/")[-1].headers.get("x-dashscope-async") is None
    import httpx

    assert httpx.get(done.result_url).content == sim.video_bytes


def test_wan25_usage_duration_is_reported(sim):
    sim.script = ["SUCCEEDED"]
    submission, _ = submit(sim, "wan2.5-t2v-preview", prompt="p", seconds=10)
    assert poll(sim, submission, "wan2.5-t2v-preview").seconds == 10.0


def test_failed_with_reason_and_moderation(sim):
    sim.script = ["FAILED"]
    submission, _ = submit(sim, "wan2.2-t2v-plus", prompt="p")
    result = poll(sim, submission)
    assert (result.status, result.error_code, result.moderation) == (FAILED, "InternalError.Algo", False)
    assert result.error_message == "The video could not be generated."
    sim.failure = ("DataInspectionFailed", "Output data may contain inappropriate content.")
    result = poll(sim, submission)
    assert (result.status, result.error_code, result.moderation) == (FAILED, "DataInspectionFailed", True)


def test_canceled_is_cancelled_and_unknown_is_a_missing_task(sim):
    sim.script = ["CANCELED"]
    submission, _ = submit(sim, "wan2.2-t2v-plus", prompt="p")
    result = poll(sim, submission)
    assert (result.status, result.error_code) == (CANCELLED, "CANCELED")
    assert result.error_message == "The task was cancelled at DashScope"
    gone = TaskRef(vendor_task_id="no-such-task", upstream_model="wan2.2-t2v-plus", state={})
    with pytest.raises(VendorTaskMissing, match="does not exist or expired") as missing:
        adaptor.poll(ctx(sim), gone)  # the core confirms it with a second poll before failing the task
    assert missing.value.code == "UNKNOWN"


def test_unknown_state_stays_in_progress(sim, caplog):
    sim.script = ["WARMING_UP"]
    submission, _ = submit(sim, "wan2.2-t2v-plus", prompt="p")
    result = poll(sim, submission)
    assert (result.status, result.vendor_status) == (IN_PROGRESS, "WARMING_UP")
    assert "WARMING_UP" in caplog.text


def test_moderation_at_submit(sim):
    with pytest.raises(VendorRejected) as info:
        submit(sim, "wan2.2-t2v-plus", prompt="please moderate me")
    assert info.value.moderation is True
    assert info.value.code == "DataInspectionFailed"


def test_wrong_key_is_auth_failure_and_simulator_really_checks(sim):
    with pytest.raises(VendorAuthFailed) as info:
        submit(sim, "wan2.2-t2v-plus", key="sk-wrong", prompt="p")
    assert info.value.code == "InvalidApiKey"
    assert sim.tasks == {}


def test_simulator_requires_async_header(sim):
    import httpx

    response = httpx.post(
        sim.url + "/api/v1/services/aigc/video-generation/video-synthesis",
        headers={"Authorization": f"Bearer {KEY}"},
        json={"model": "wan2.2-t2v-plus", "input": {"prompt": "p"}},
    )
    assert response.status_code == 403 and response.json()["code"] == "AccessDenied"


@pytest.mark.parametrize(
    "status, code, kind",
    [
        (403, "AccessDenied.Unpurchased", VendorAuthFailed),
        (429, "Throttling.RateQuota", VendorUnavailable),
        (400, "Arrearage", VendorUnavailable),
        (500, "InternalError", VendorUnavailable),
        (503, "ServiceUnavailable", VendorUnavailable),
        (400, "InvalidParameter", VendorRejected),
    ],
)
def test_error_mapping(sim, status, code, kind):
    sim.fail_next(status, {"request_id": "r", "code": code, "message": "m"}, path_contains="/services/")
    with pytest.raises(kind) as info:
        submit(sim, "wan2.2-t2v-plus", prompt="p")
    assert info.value.code == code and info.value.http_status == status


def test_garbage_body_is_vendor_error(sim):
    sim.fail_next(200, b"<html>oops</html>", path_contains="/services/")
    with pytest.raises(VendorError):
        submit(sim, "wan2.2-t2v-plus", prompt="p")
    sim.fail_next(200, {"request_id": "r", "output": {}}, path_contains="/services/")
    with pytest.raises(VendorError):
        submit(sim, "wan2.2-t2v-plus", prompt="p")


def test_poll_errors(sim):
    submission, _ = submit(sim, "wan2.2-t2v-plus", prompt="p")
    sim.fail_next(429, {"request_id": "r", "code": "Throttling", "message": "slow down"}, path_contains="/tasks/")
    with pytest.raises(VendorUnavailable):
        poll(sim, submission)
    sim.fail_next(200, {"request_id": "r"}, path_contains="/tasks/")
    with pytest.raises(VendorError):
        poll(sim, submission)


def test_check(sim):
    assert "accepted" in adaptor.check(ctx(sim))
    with pytest.raises(VendorAuthFailed):
        adaptor.check(ctx(sim, key="sk-wrong"))


def test_parse_credentials():
    assert adaptor.parse_credentials("  sk-abc ") == "sk-abc"
    for bad in ("", "ak|sk", "sk a"):
        with pytest.raises(ValueError):
            adaptor.parse_credentials(bad)


def test_cancel_a_pending_task(sim):
    submission, _ = submit(sim, "wan2.2-t2v-plus", prompt="p")
    ref = TaskRef(vendor_task_id=submission.vendor_task_id, upstream_model="wan2.2-t2v-plus", state={})
    assert adaptor.supports_cancel
    adaptor.cancel(ctx(sim), ref)
    [call] = sim.calls("POST", "/cancel")
    assert call.path == f"/api/v1/tasks/{submission.vendor_task_id}/cancel"
    assert call.headers["authorization"] == f"Bearer {KEY}"
    assert poll(sim, submission).status == CANCELLED


def test_cancel_refused_once_running(sim):
    sim.script = ["RUNNING"]
    submission, _ = submit(sim, "wan2.2-t2v-plus", prompt="p")
    ref = TaskRef(vendor_task_id=submission.vendor_task_id, upstream_model="wan2.2-t2v-plus", state={})
    with pytest.raises(CancelTooLate, match="PENDING") as refused:
        adaptor.cancel(ctx(sim), ref)
    assert (refused.value.code, refused.value.http_status) == ("UnsupportedOperation", 400)
    assert poll(sim, submission).status == IN_PROGRESS
