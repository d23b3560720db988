import httpx
import pytest

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
    VendorUnavailable,
)
from channels.adaptors.minimax import adaptor
from channels.adaptors.registry import get
from channels.canonical import CanonicalRequest, ImageInput, RequestInvalid
from tests.simulators.minimax import MiniMaxSimulator
from videos.api.parsing import build_request

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
KEY = "mm-test-key"
URL_A, URL_B = "https://example.com/a.png", "https://example.com/b.png"


@pytest.fixture
def sim():
    with MiniMaxSimulator(api_key=KEY) as simulator:
        yield simulator


def ctx(sim, key=KEY):
    return CallContext(base_url=sim.url, credentials=key, options={})


def submit(sim, model, key=KEY, **fields):
    request = CanonicalRequest(model=model, **fields)
    plan = adaptor.plan(request, model)
    return adaptor.submit(ctx(sim, key), request, model, plan), plan


def sent(sim):
    return sim.calls("POST", "/v1/video_generation")[-1]


def poll(sim, submission, model="MiniMax-Hailuo-02"):
    ref = TaskRef(vendor_task_id=submission.vendor_task_id, upstream_model=model, state=submission.state)
    return adaptor.poll(ctx(sim), ref)


def test_registered():
    assert get("minimax") is adaptor
    assert adaptor.default_base_url == "https://api.minimax.io"


def test_text_body_and_defaults(sim):
    submission, plan = submit(sim, "MiniMax-Hailuo-02", prompt="a cat")
    assert plan == Plan(seconds=6, resolution="768p")
    call = sent(sim)
    assert call.headers["authorization"] == f"Bearer {KEY}"
    assert call.json() == {"model": "MiniMax-Hailuo-02", "prompt": "a cat", "duration": 6, "resolution": "768P"}
    assert submission.vendor_task_id in sim.tasks


def test_image_url_maps_to_first_frame_image(sim):
    _, plan = submit(sim, "I2V-01", prompt="p", image=ImageInput(url=URL_A))
    assert plan == Plan(seconds=6, resolution="720p")
    assert sent(sim).json() == {
        "model": "I2V-01",
        "prompt": "p",
        "duration": 6,
        "resolution": "720P",
        "first_frame_image": URL_A,
    }


def test_base64_image_becomes_data_url_and_512p(sim):
    _, plan = submit(
        sim, "MiniMax-Hailuo-02", prompt="p", image=ImageInput(data=PNG, mime_type="image/png"), resolution="512p"
    )
    assert plan == Plan(seconds=6, resolution="512p")
    assert sent(sim).json()["first_frame_image"].startswith("data:image/png;base64,iVBORw0KGgo")


def test_first_and_last_frame(sim):
    _, plan = submit(
        sim,
        "MiniMax-Hailuo-02",
        prompt="p",
        image=ImageInput(url=URL_A),
        last_frame=ImageInput(url=URL_B),
        width=1920,
        height=1080,
    )
    assert plan == Plan(seconds=6, resolution="1080p")
    body = sent(sim).json()
    assert (body["first_frame_image"], body["last_frame_image"], body["resolution"]) == (URL_A, URL_B, "1080P")


def test_subject_reference_for_s2v(sim):
    submit(sim, "S2V-01", prompt="p", reference_images=[ImageInput(url=URL_A)])
    assert sent(sim).json()["subject_reference"] == [{"type": "character", "image": [URL_A]}]


def test_new_api_metadata_images_are_lifted(sim):
    metadata = {"first_frame_image": URL_A, "prompt_optimizer": False}
    request = build_request("I2V-01-live", "p", {}, metadata)  # the dialects lift the image
    adaptor.submit(ctx(sim), request, "I2V-01-live", adaptor.plan(request, "I2V-01-live"))
    body = sent(sim).json()
    assert body["first_frame_image"] == URL_A and body["prompt_optimizer"] is False


def test_new_api_metadata_subject_reference_is_lifted(sim):
    subject = [{"type": "character", "image": [URL_A]}]
    request = build_request("S2V-01", "p", {}, {"subject_reference": subject})
    assert request.reference_images == (ImageInput(url=URL_A),) and "subject_reference" not in request.extra
    adaptor.submit(ctx(sim), request, "S2V-01", adaptor.plan(request, "S2V-01"))
    assert sent(sim).json()["subject_reference"] == subject
    with pytest.raises(RequestInvalid) as info:
        build_request("S2V-01", "p", {}, {"subject_reference": [{"type": "character"}]})
    assert info.value.param == "metadata.subject_reference"


def test_metadata_extras_are_merged(sim):
    extra = {"prompt_optimizer": False, "fast_pretreatment": True, "aigc_watermark": True}
    submit(sim, "MiniMax-Hailuo-2.3", prompt="p", seconds=10, extra=extra)
    assert sent(sim).json() == {
        "model": "MiniMax-Hailuo-2.3",
        "prompt": "p",
        "duration": 10,
        "resolution": "768P",
        "prompt_optimizer": False,
        "fast_pretreatment": True,
        "aigc_watermark": True,
    }


@pytest.mark.parametrize(
    "extra, param",
    [({"model": "MiniMax-Hailuo-2.3"}, "metadata.model"), ({"resolution": "1080P"}, "metadata.resolution")],
)
def test_protected_metadata_refused(sim, extra, param):
    request = CanonicalRequest(model="m", prompt="p", resolution="768p", extra=extra)
    with pytest.raises(RequestInvalid) as info:  # in plan(), before any money moves
        adaptor.plan(request, "MiniMax-Hailuo-02")
    assert info.value.param == param and info.value.code == "metadata_override_refused"
    assert sim.calls("POST") == []


def test_metadata_duration_conflicting_with_seconds_is_refused(sim):
    request = CanonicalRequest(model="m", prompt="p", seconds=6, extra={"duration": 10})
    with pytest.raises(RequestInvalid) as info:
        adaptor.plan(request, "MiniMax-Hailuo-02")
    assert info.value.param == "metadata.duration"


@pytest.mark.parametrize(
    "model, fields, param",
    [
        ("MiniMax-Hailuo-02", {"seconds": 5}, "seconds"),
        ("MiniMax-Hailuo-02", {"seconds": 10, "resolution": "1080p"}, "seconds"),
        ("T2V-01", {"seconds": 10}, "seconds"),
        ("MiniMax-Hailuo-02", {"resolution": "720p"}, "resolution"),
        ("MiniMax-Hailuo-02", {"resolution": "512p"}, "resolution"),
        ("MiniMax-Hailuo-2.3-Fast", {}, "image"),
        ("I2V-01", {}, "image"),
        ("T2V-01", {"image": ImageInput(url=URL_A)}, "image"),
        ("MiniMax-Hailuo-2.3", {"image": ImageInput(url=URL_A), "last_frame": ImageInput(url=URL_B)}, "last_frame"),
        ("MiniMax-Hailuo-02", {"last_frame": ImageInput(url=URL_B)}, "last_frame"),
        ("S2V-01", {}, "reference_images"),
        ("MiniMax-Hailuo-02", {"reference_images": [ImageInput(url=URL_A)]}, "reference_images"),
    ],
)
def test_plan_validation(model, fields, param):
    with pytest.raises(RequestInvalid) as info:
        adaptor.plan(CanonicalRequest(model=model, prompt="p", **fields), model)
    assert info.value.param == param
    assert param in info.value.message


def test_plan_message_lists_allowed_resolutions():
    with pytest.raises(RequestInvalid) as info:
        adaptor.plan(CanonicalRequest(model="m", resolution="720p"), "MiniMax-Hailuo-2.3")
    assert "768P, 1080P" in info.value.message


def test_every_state_and_file_retrieve(sim):
    submission, _ = submit(sim, "MiniMax-Hailuo-02", prompt="p")
    results = [poll(sim, submission) for _ in range(4)]
    assert [r.status for r in results] == [QUEUED, QUEUED, IN_PROGRESS, COMPLETED]
    assert [r.vendor_status for r in results] == ["Preparing", "Queueing", "Processing", "Success"]
    done = results[-1]
    file_id = sim.tasks[submission.vendor_task_id].extra["file_id"]
    assert done.result_url == f"{sim.url}/download/{file_id}.mp4"
    assert done.state == {"file_id": file_id, "file_bytes": len(sim.video_bytes)}  # files/retrieve's file.bytes
    source = adaptor.content(
        ctx(sim), TaskRef(submission.vendor_task_id, "MiniMax-Hailuo-02", done.state, done.result_url)
    )
    assert (source.url, source.expected_bytes) == (done.result_url, len(sim.video_bytes))
    retrieve = sim.calls("GET", "/v1/files/retrieve")[-1]
    assert retrieve.query == {"file_id": file_id}
    assert retrieve.headers["authorization"] == f"Bearer {KEY}"
    assert httpx.get(done.result_url).content == sim.video_bytes


def test_failure_and_output_moderation(sim):
    sim.script = ["Fail"]
    submission, _ = submit(sim, "MiniMax-Hailuo-02", prompt="p")
    result = poll(sim, submission)
    assert (result.status, result.error_code, result.moderation) == (FAILED, "Fail", False)
    assert "failed" in result.error_message
    sim.failure = (1027, "output new_sensitive")
    result = poll(sim, submission)
    assert (result.status, result.error_code, result.moderation) == (FAILED, "1027", True)
    assert result.error_message == "output new_sensitive"


def test_unknown_state_stays_in_progress(sim, caplog):
    sim.script = ["Rendering"]
    submission, _ = submit(sim, "MiniMax-Hailuo-02", prompt="p")
    result = poll(sim, submission)
    assert (result.status, result.vendor_status) == (IN_PROGRESS, "Rendering")
    assert "Rendering" in caplog.text


def test_moderation_at_submit(sim):
    with pytest.raises(VendorRejected) as info:
        submit(sim, "MiniMax-Hailuo-02", prompt="please moderate me")
    assert (info.value.moderation, info.value.code) == (True, "1026")


def test_wrong_key_is_auth_failure(sim):
    with pytest.raises(VendorAuthFailed) as info:
        submit(sim, "MiniMax-Hailuo-02", key="wrong", prompt="p")
    assert info.value.code == "1004"
    assert sim.tasks == {}


@pytest.mark.parametrize(
    "code, kind",
    [(2049, VendorAuthFailed), (1002, VendorUnavailable), (1008, VendorUnavailable), (2013, VendorRejected)],
)
def test_business_error_mapping(sim, code, kind):
    sim.fail_next(200, {"base_resp": {"status_code": code, "status_msg": "m"}}, path_contains="/video_generation")
    with pytest.raises(kind) as info:
        submit(sim, "MiniMax-Hailuo-02", prompt="p")
    assert info.value.code == str(code)
    if kind is VendorRejected:
        assert info.value.moderation is False


@pytest.mark.parametrize("status, kind", [(429, VendorUnavailable), (502, VendorUnavailable), (401, VendorAuthFailed)])
def test_http_error_mapping(sim, status, kind):
    sim.fail_next(status, {"error": "x"}, path_contains="/video_generation")
    with pytest.raises(kind):
        submit(sim, "MiniMax-Hailuo-02", prompt="p")


def test_garbage_and_missing_ids(sim):
    sim.fail_next(200, b"not json", path_contains="/video_generation")
    with pytest.raises(VendorError):
        submit(sim, "MiniMax-Hailuo-02", prompt="p")
    sim.fail_next(200, {"base_resp": {"status_code": 0, "status_msg": "success"}}, path_contains="/video_generation")
    with pytest.raises(VendorError):
        submit(sim, "MiniMax-Hailuo-02", prompt="p")


def test_poll_errors(sim):
    submission, _ = submit(sim, "MiniMax-Hailuo-02", prompt="p")
    sim.fail_next(200, {"base_resp": {"status_code": 1002, "status_msg": "rate limit"}}, path_contains="/query/")
    with pytest.raises(VendorUnavailable):
        poll(sim, submission)
    sim.script = ["Success"]
    sim.fail_next(200, {"file": {}, "base_resp": {"status_code": 0}}, path_contains="/files/")
    with pytest.raises(VendorError):
        poll(sim, submission)


def test_check(sim):
    assert "accepted" in adaptor.check(ctx(sim))
    with pytest.raises(VendorAuthFailed):
        adaptor.check(ctx(sim, key="wrong"))


def test_base_url_with_v1_suffix(sim):
    request = CanonicalRequest(model="T2V-01", prompt="p")
    plan = adaptor.plan(request, "T2V-01")
    adaptor.submit(CallContext(base_url=sim.url + "/v1/", credentials=KEY), request, "T2V-01", plan)
    assert sent(sim).path == "/v1/video_generation"


def test_parse_credentials():
    assert adaptor.parse_credentials(" key ") == "key"
    for bad in ("", "a|b", "a b"):
        with pytest.raises(ValueError):
            adaptor.parse_credentials(bad)
