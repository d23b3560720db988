import base64

import httpx
import pytest

from channels.adaptors.base import (
    COMPLETED,
    FAILED,
    IN_PROGRESS,
    CallContext,
    Plan,
    TaskRef,
    VendorAuthFailed,
    VendorError,
    VendorRejected,
    VendorUnavailable,
)
from channels.adaptors.gemini import adaptor
from channels.adaptors.registry import get
from channels.canonical import CanonicalRequest, ImageInput, RequestInvalid
from tests.simulators.gemini import GeminiSimulator, tiny_png

KEY = "AIza-test-key"
PNG = tiny_png()
PNG_B64 = base64.b64encode(PNG).decode()
V30, V31 = "veo-3.0-generate-001", "veo-3.1-generate-preview"


@pytest.fixture
def sim():
    with GeminiSimulator(api_key=KEY) as simulator:
        yield simulator


@pytest.fixture
def private_urls(settings):
    settings.GATEWAY_ALLOW_PRIVATE_URLS = True


def ctx(sim, key=KEY, suffix=""):
    return CallContext(base_url=sim.url + suffix, credentials=key, options={})


def submit(sim, model=V30, key=KEY, **fields):
    request = CanonicalRequest(model=model, **fields)
    plan = adaptor.plan(request, model)
    return adaptor.submit(ctx(sim, key), request, model, plan), plan


def sent(sim):
    return sim.calls("POST")[-1]


def poll(sim, submission, model=V30):
    ref = TaskRef(vendor_task_id=submission.vendor_task_id, upstream_model=model, state=submission.state)
    return adaptor.poll(ctx(sim), ref)


def test_registered():
    assert get("gemini") is adaptor
    assert adaptor.default_base_url == "https://generativelanguage.googleapis.com"


def test_text_body_defaults_and_operation_state(sim):
    submission, plan = submit(sim, prompt="a cat")
    assert plan == Plan(seconds=8, resolution="720p")
    call = sent(sim)
    assert call.path == f"/v1beta/models/{V30}:predictLongRunning"
    assert call.headers["x-goog-api-key"] == KEY
    assert "key" not in call.query and "authorization" not in call.headers
    assert call.json() == {
        "instances": [{"prompt": "a cat"}],
        "parameters": {"aspectRatio": "16:9", "durationSeconds": 8, "resolution": "720p"},
    }
    name = f"models/{V30}/operations/op000001"
    assert submission.vendor_task_id == name and submission.state == {"operation": name}


def test_size_maps_to_ratio_and_resolution(sim):
    _, plan = submit(sim, V31, prompt="p", width=720, height=1280, seconds=4, negative_prompt="blur")
    assert plan == Plan(seconds=4, resolution="720p")
    assert sent(sim).json()["parameters"] == {
        "aspectRatio": "9:16",
        "durationSeconds": 4,
        "resolution": "720p",
        "negativePrompt": "blur",
    }
    _, plan = submit(sim, prompt="p", width=1920, height=1080)
    assert plan == Plan(seconds=8, resolution="1080p")


def test_base64_image_is_sent_inline(sim):
    submit(sim, prompt="p", image=ImageInput(data=PNG, mime_type="image/png"))
    assert sent(sim).json()["instances"][0]["image"] == {"bytesBase64Encoded": PNG_B64, "mimeType": "image/png"}


def test_image_url_is_downloaded(sim, private_urls):
    submit(sim, prompt="p", image=ImageInput(url=f"{sim.url}/images/frame.png"))
    assert sent(sim).json()["instances"][0]["image"] == {"bytesBase64Encoded": PNG_B64, "mimeType": "image/png"}
    assert sim.calls("GET", "/images/frame.png")


def test_loopback_image_url_refused_by_default(sim):
    with pytest.raises(RequestInvalid) as info:
        submit(sim, prompt="p", image=ImageInput(url=f"{sim.url}/images/frame.png"))
    assert (info.value.param, info.value.code) == ("image", "image_url_not_allowed")
    assert sim.calls("GET", "/images/") == [] and sim.calls("POST") == []


def test_first_and_last_frame(sim, private_urls):
    submit(
        sim,
        V31,
        prompt="p",
        image=ImageInput(data=PNG, mime_type="image/png"),
        last_frame=ImageInput(url=f"{sim.url}/images/frame.png"),
    )
    instance = sent(sim).json()["instances"][0]
    assert instance["image"]["bytesBase64Encoded"] == PNG_B64
    assert instance["lastFrame"] == {"bytesBase64Encoded": PNG_B64, "mimeType": "image/png"}


def test_reference_images_for_veo31():
    request = CanonicalRequest(model=V31, reference_images=[ImageInput(data=PNG, mime_type="image/png")] * 2)
    plan = adaptor.plan(request, V31)
    body = adaptor.build_body(request, V31, plan)
    assert (
        body["instances"][0]["referenceImages"]
        == [{"image": {"bytesBase64Encoded": PNG_B64, "mimeType": "image/png"}, "referenceType": "asset"}] * 2
    )


def test_metadata_extras_are_camel_cased(sim):
    submit(sim, prompt="p", extra={"person_generation": "allow_adult", "enhance_prompt": True})
    parameters = sent(sim).json()["parameters"]
    assert parameters["personGeneration"] == "allow_adult" and parameters["enhancePrompt"] is True


@pytest.mark.parametrize(
    "extra, param",
    [
        ({"durationSeconds": 4}, "metadata.durationSeconds"),
        ({"duration_seconds": 4}, "metadata.durationSeconds"),
        ({"resolution": "1080p"}, "metadata.resolution"),
        ({"sample_count": 2}, "metadata.sampleCount"),
        ({"model": V31}, "metadata.model"),
    ],
)
def test_protected_metadata_refused(sim, extra, param):
    with pytest.raises(RequestInvalid) as info:
        submit(sim, prompt="p", extra=extra)
    assert info.value.param == param
    assert sim.calls("POST") == []


@pytest.mark.parametrize(
    "model, fields, param",
    [
        (V30, {"seconds": 5}, "seconds"),
        (V30, {"resolution": "480p"}, "resolution"),
        (V30, {"width": 1000, "height": 1000}, "size"),
        (V30, {"aspect_ratio": "1:1"}, "aspect_ratio"),
        (V31, {"resolution": "1080p", "seconds": 6}, "seconds"),
        (V30, {"resolution": "1080p", "aspect_ratio": "9:16"}, "resolution"),
        (V30, {"image": ImageInput(url="https://x/a"), "last_frame": ImageInput(url="https://x/b")}, "last_frame"),
        (V31, {"last_frame": ImageInput(url="https://x/b")}, "last_frame"),
        (V30, {"reference_images": [ImageInput(url="https://x/a")]}, "reference_images"),
        (V31, {"reference_images": [ImageInput(url="https://x/a")] * 4}, "reference_images"),
        ("veo-2.0-generate-001", {"seconds": 4}, "seconds"),
    ],
)
def test_plan_validation(model, fields, param):
    with pytest.raises(RequestInvalid) as info:
        adaptor.plan(CanonicalRequest(model=model, prompt="p", **fields), model)
    assert info.value.param == param
    assert param.split("_")[0] in info.value.message


def test_veo31_allows_vertical_1080p_and_veo2_sends_no_resolution():
    assert adaptor.plan(CanonicalRequest(model=V31, width=1080, height=1920), V31) == Plan(8, "1080p")
    request = CanonicalRequest(model="veo-2.0-generate-001", seconds=5)
    plan = adaptor.plan(request, "veo-2.0-generate-001")
    assert "resolution" not in adaptor.build_body(request, "veo-2.0-generate-001", plan)["parameters"]


def test_operation_lifecycle_and_content(sim):
    submission, _ = submit(sim, prompt="p")
    results = [poll(sim, submission) for _ in range(3)]
    assert [r.status for r in results] == [IN_PROGRESS, IN_PROGRESS, COMPLETED]
    assert sim.calls("GET", "/operations/")[-1].path == f"/v1beta/{submission.vendor_task_id}"
    done = results[-1]
    assert done.result_url == f"{sim.url}/v1beta/files/op000001:download?alt=media"
    ref = TaskRef(submission.vendor_task_id, V30, submission.state, result_url=done.result_url)
    source = adaptor.content(ctx(sim), ref)
    assert source.url == done.result_url and source.headers == {"x-goog-api-key": KEY}
    assert httpx.get(source.url, headers=source.headers).content == sim.video_bytes
    assert httpx.get(source.url).status_code == 403  # the download needs the key


def test_operation_error(sim):
    sim.script = ["error"]
    submission, _ = submit(sim, prompt="p")
    result = poll(sim, submission)
    assert (result.status, result.error_code, result.moderation) == (FAILED, "INTERNAL", False)
    assert "internal error" in result.error_message


def test_safety_filtered_output_is_moderation(sim):
    sim.script = ["filtered"]
    submission, _ = submit(sim, prompt="p")
    result = poll(sim, submission)
    assert (result.status, result.error_code, result.moderation) == (FAILED, "rai_media_filtered", True)
    assert "celebrity" in result.error_message


def test_unknown_operation_metadata_stays_in_progress(sim):
    sim.script = ["thinking"]
    submission, _ = submit(sim, prompt="p")
    assert poll(sim, submission).status == IN_PROGRESS


def test_done_without_response_is_vendor_error(sim):
    submission, _ = submit(sim, prompt="p")
    sim.fail_next(200, {"name": submission.vendor_task_id, "done": True}, path_contains="/operations/")
    with pytest.raises(VendorError):
        poll(sim, submission)


def test_moderation_at_submit(sim):
    with pytest.raises(VendorRejected) as info:
        submit(sim, prompt="please moderate me")
    assert (info.value.moderation, info.value.code) == (True, "INVALID_ARGUMENT")


def test_wrong_key_is_auth_failure(sim):
    with pytest.raises(VendorAuthFailed) as info:
        submit(sim, key="AIza-wrong", prompt="p")
    assert info.value.http_status == 400  # Google answers a bad key with 400 API_KEY_INVALID
    with pytest.raises(VendorAuthFailed):
        submit(sim, key="", prompt="p")
    assert sim.tasks == {}


@pytest.mark.parametrize(
    "status, rpc, kind",
    [
        (429, "RESOURCE_EXHAUSTED", VendorUnavailable),
        (500, "INTERNAL", VendorUnavailable),
        (503, "UNAVAILABLE", VendorUnavailable),
        (400, "FAILED_PRECONDITION", VendorUnavailable),
        (403, "PERMISSION_DENIED", VendorAuthFailed),
        (400, "INVALID_ARGUMENT", VendorRejected),
    ],
)
def test_error_mapping(sim, status, rpc, kind):
    sim.fail_next(status, {"error": {"code": status, "message": "m", "status": rpc}}, path_contains=":predict")
    with pytest.raises(kind) as info:
        submit(sim, prompt="p")
    assert (info.value.code, info.value.http_status) == (rpc, status)


def test_simulator_rejects_bad_parameters(sim):
    request = CanonicalRequest(model=V30, prompt="p", extra={"cameraMotion": "pan"})
    plan = adaptor.plan(request, V30)
    with pytest.raises(VendorRejected) as info:
        adaptor.submit(ctx(sim), request, V30, plan)
    assert "cameraMotion" in info.value.message


def test_garbage_and_missing_name(sim):
    sim.fail_next(200, b"<html>", path_contains=":predict")
    with pytest.raises(VendorError):
        submit(sim, prompt="p")
    sim.fail_next(200, {}, path_contains=":predict")
    with pytest.raises(VendorError):
        submit(sim, prompt="p")


def test_check_and_base_url_with_version(sim):
    assert "accepted" in adaptor.check(ctx(sim, suffix="/v1beta/"))
    with pytest.raises(VendorAuthFailed):
        adaptor.check(ctx(sim, key="AIza-wrong"))


def test_parse_credentials():
    assert adaptor.parse_credentials(" AIzaX ") == "AIzaX"
    for bad in ("", "a|b", '{"type": "service_account"}'):
        with pytest.raises(ValueError):
            adaptor.parse_credentials(bad)
