"""xAI Grok Imagine: the adaptor against its simulator (bodies, plans, statuses, errors), then end to
end through both client dialects with exact billing, refunds, and every capability refusal before
any money moves."""

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
    VendorTaskMissing,
    VendorUnavailable,
)
from channels.adaptors.registry import get
from channels.adaptors.xai import adaptor
from channels.canonical import CanonicalRequest, ImageInput, MediaInput, RequestInvalid
from channels.models import Channel, Price
from tests.helpers import USD, as_sent, drive, ledger_sum
from tests.simulators.base import Response
from tests.simulators.xai import XAISimulator
from videos.models import VideoTask

KEY = "xai-test-key"
V1, V15 = "grok-imagine-video", "grok-imagine-video-1.5"
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
PNG_B64 = base64.b64encode(PNG).decode()
PICTURE = "https://img.example.com/first.png"
CLIP = "https://media.example.com/clip.mp4"
INVALID_CODE = "Client specified an invalid argument"


@pytest.fixture
def sim():
    with XAISimulator(api_key=KEY) as simulator:
        yield simulator


def ctx(sim, key=KEY, suffix=""):
    return CallContext(base_url=sim.url + suffix, credentials=key, options={})


def submit(sim, model=V1, key=KEY, **fields):
    request = CanonicalRequest(model=model, **fields)
    plan = adaptor.checked_plan(request, model)
    return adaptor.submit(ctx(sim, key), request, model, plan), plan


def sent(sim):
    return sim.calls("POST")[-1]


def poll(sim, submission, model=V1):
    return adaptor.poll(ctx(sim), TaskRef(submission.vendor_task_id, model, submission.state))


def refused(model, **fields):
    with pytest.raises(RequestInvalid) as info:
        adaptor.checked_plan(CanonicalRequest(model=model, **fields), model)
    return info.value


# --- the adaptor ----------------------------------------------------------------------------


def test_registered_with_its_capabilities():
    assert get("xai") is adaptor and adaptor.default_base_url == "https://api.x.ai"
    assert adaptor.known_models == (V1, V15)
    caps = adaptor.capabilities(V1)
    assert caps["modes"] == ["text", "image", "reference", "extend", "edit"]
    assert caps["durations"] == list(range(1, 16)) and caps["resolutions"] == ["480p", "720p"]
    assert caps["inputs"]["reference_images"] == 7 and caps["inputs"]["first_clip"] is True
    assert caps["inputs"]["video"] is True and ["video", "image"] in caps["inputs"]["excludes"]
    assert caps["inputs"]["reference_videos"] == 0 and caps["inputs"]["audio"] == 0
    assert caps["inputs"]["generate_audio"] == [True] and caps["audio"] is True
    caps = adaptor.capabilities(V15)
    assert caps["modes"] == ["text", "image", "reference"] and caps["resolutions"] == ["480p", "720p", "1080p"]
    assert caps["inputs"]["first_clip"] is False and caps["inputs"]["video"] is False
    # a model the catalogue does not know gets the shared rules (480p/720p, no extension)
    assert adaptor.capabilities("grok-imagine-video-1.5-lite")["resolutions"] == ["480p", "720p"]


def test_text_always_sends_duration_and_resolution(sim):
    submission, plan = submit(sim, prompt="a cat")
    assert plan == Plan(seconds=8, resolution="480p")
    call = sent(sim)
    assert call.path == "/v1/videos/generations" and call.headers["authorization"] == f"Bearer {KEY}"
    assert call.json() == {"model": V1, "prompt": "a cat", "duration": 8, "resolution": "480p"}
    assert submission.vendor_task_id == "0000-00000001" and submission.state == {"kind": "generation"}


def test_size_gives_resolution_and_aspect_ratio(sim):
    _, plan = submit(sim, prompt="p", width=720, height=1280, seconds=15)
    assert plan == Plan(seconds=15, resolution="720p")
    assert sent(sim).json() == {
        "model": V1,
        "prompt": "p",
        "duration": 15,
        "resolution": "720p",
        "aspect_ratio": "9:16",
    }
    submit(sim, prompt="p", aspect_ratio="3:2", resolution="480p", seconds=1)
    assert sent(sim).json()["aspect_ratio"] == "3:2" and sent(sim).json()["duration"] == 1


def test_first_frame_by_url_or_data_uri_and_no_aspect_ratio(sim):
    submit(sim, prompt="p", image=ImageInput(url=PICTURE), width=1280, height=720)
    body = sent(sim).json()
    assert body["image"] == {"url": PICTURE} and "aspect_ratio" not in body and body["resolution"] == "720p"
    submit(sim, image=ImageInput(data=PNG, mime_type="image/png"))  # no prompt: the image is enough
    assert sent(sim).json()["image"] == {"url": f"data:image/png;base64,{PNG_B64}"}


def test_reference_images(sim):
    images = [ImageInput(url=PICTURE)] * 6 + [ImageInput(data=PNG, mime_type="image/png")]
    _, plan = submit(sim, V15, prompt="these two meet", reference_images=images, seconds=10, resolution="720p")
    assert plan == Plan(seconds=10, resolution="720p")
    body = sent(sim).json()
    assert body["reference_images"][:6] == [{"url": PICTURE}] * 6
    assert body["reference_images"][6] == {"url": f"data:image/png;base64,{PNG_B64}"}
    assert "image" not in body


def test_grok_15_renders_1080p_from_text(sim):
    _, plan = submit(sim, V15, prompt="p", width=1920, height=1080, seconds=5)
    assert plan == Plan(seconds=5, resolution="1080p")
    assert sent(sim).json()["resolution"] == "1080p"


def test_extension(sim):
    submission, plan = submit(sim, prompt="and then it rains", first_clip=MediaInput(url=CLIP))
    assert plan == Plan(seconds=6, resolution="720p")
    call = sent(sim)
    assert call.path == "/v1/videos/extensions"
    assert call.json() == {"model": V1, "prompt": "and then it rains", "duration": 6, "video": {"url": CLIP}}
    assert submission.state == {"kind": "extension"}
    sim.script = ["done"]
    result = poll(sim, submission)
    # xAI reports the whole video (input + added part): the planned seconds stay billed
    assert result.status == COMPLETED and result.seconds is None


def test_edit(sim):
    submission, plan = submit(sim, prompt="make it snow", video=MediaInput(url=CLIP))
    # held as 9 s (the input is at most 8.7 s) at 720p (the output's cap)
    assert plan == Plan(seconds=9, resolution="720p")
    call = sent(sim)
    assert call.path == "/v1/videos/edits" and call.headers["authorization"] == f"Bearer {KEY}"
    assert call.json() == {"model": V1, "prompt": "make it snow", "video": {"url": CLIP}}  # no duration: kept
    assert submission.state == {"kind": "edit"}
    sim.script = ["done"]
    result = poll(sim, submission)
    # the edit keeps its input's length (the simulator's input clip: 5 s): captured on it
    assert result.status == COMPLETED and result.seconds == 5.0
    assert result.state == {"cost_in_usd_ticks": 5 * 700_000_000, "duration": 5.0}


def own(url, seconds=None, video_id="video_source000001"):
    """A clip naming one of the client's own Grok videos, as the gateway hands it to the adaptor."""
    state = {"kind": "generation", **({"duration": seconds} if seconds is not None else {})}
    return MediaInput(url=url, video_id=video_id, source=TaskRef("0000-x", V1, state, result_url=url or ""))


def test_an_own_video_is_given_to_xai_by_its_result_url(sim):
    sim.script = ["done"]
    submission, _ = submit(sim, prompt="a fox", seconds=6)
    made = poll(sim, submission)
    clip = own(made.result_url, made.state["duration"])
    edit, _ = submit(sim, prompt="make it snow", video=clip)
    assert sent(sim).json()["video"] == {"url": made.result_url}
    assert poll(sim, edit).seconds == 6.0  # the edit kept its input's length
    submit(sim, prompt="and on", first_clip=clip, seconds=3)
    assert sent(sim).path == "/v1/videos/extensions" and sent(sim).json()["video"] == {"url": made.result_url}


def test_metadata_extras_are_merged_and_billed_ones_protected(sim):
    submit(sim, prompt="p", extra={"user": "tenant-7", "duration": 8})
    assert sent(sim).json()["user"] == "tenant-7"
    request = CanonicalRequest(model=V1, prompt="p", extra={"keyframes": []})
    with pytest.raises(VendorRejected) as info:
        adaptor.submit(ctx(sim), request, V1, adaptor.checked_plan(request, V1))
    assert "keyframes" in info.value.message and info.value.http_status == 422  # unknown to xAI


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"duration": 5}, "metadata.duration"),
        ({"resolution": "720p"}, "metadata.resolution"),
        ({"model": V15}, "metadata.model"),
        ({"video": {"url": CLIP}}, "metadata.video"),
        ({"output": {"upload_url": "https://x"}}, "metadata.output"),
        ({"storage_options": {}}, "metadata.storage_options"),
        ({"image": {"url": PICTURE}}, "metadata.image"),
    ],
)
def test_protected_metadata_refused(sim, extra, param):
    assert refused(V1, prompt="p", extra=extra).param == param
    assert sim.calls("POST") == []


REFUSALS = [
    (V1, {"seconds": 16}, "seconds"),
    (V1, {"seconds": 0}, "seconds"),
    (V1, {"reference_images": [ImageInput(url=PICTURE)] * 8}, "reference_images"),
    (V1, {"reference_images": [ImageInput(url=PICTURE)], "seconds": 11}, "seconds"),
    (V1, {"resolution": "1080p"}, "resolution"),
    (V1, {"width": 1920, "height": 1080}, "size"),
    (V1, {"width": 960, "height": 540}, "size"),
    (V1, {"width": 2520, "height": 1080}, "size"),
    (V1, {"aspect_ratio": "21:9"}, "aspect_ratio"),
    (V15, {"resolution": "1080p", "image": ImageInput(url=PICTURE)}, "resolution"),
    (V15, {"resolution": "1080p", "reference_images": [ImageInput(url=PICTURE)]}, "resolution"),
    (V1, {"image": ImageInput(url=PICTURE), "last_frame": ImageInput(url=PICTURE)}, "last_frame"),
    (V1, {"seed": 7}, "seed"),
    (V1, {"negative_prompt": "blur"}, "negative_prompt"),
    (V1, {"fps": 24}, "fps"),
    (V1, {"prompt": ""}, "prompt"),
    (V1, {"prompt": "", "reference_images": [ImageInput(url=PICTURE)]}, "prompt"),
    # the generic checks, from the declared inputs
    (V1, {"reference_videos": [MediaInput(url=CLIP)]}, "reference_videos"),
    (V1, {"audio": [MediaInput(url=CLIP, kind="audio")]}, "audio"),
    (V1, {"generate_audio": False}, "generate_audio"),
    (V1, {"reference_images": [ImageInput(url=PICTURE, tag="style")]}, "reference_images[0].tag"),
    (V1, {"image": ImageInput(url=PICTURE), "reference_images": [ImageInput(url=PICTURE)]}, "reference_images"),
    (V15, {"first_clip": MediaInput(url=CLIP)}, "first_clip"),
    (V1, {"first_clip": MediaInput(url=CLIP), "image": ImageInput(url=PICTURE)}, "image"),
    (V1, {"first_clip": MediaInput(url=CLIP), "reference_images": [ImageInput(url=PICTURE)]}, "reference_images"),
    # an extension adds 2-10 s and keeps its input's resolution and shape
    (V1, {"first_clip": MediaInput(url=CLIP), "seconds": 1}, "seconds"),
    (V1, {"first_clip": MediaInput(url=CLIP), "seconds": 11}, "seconds"),
    (V1, {"first_clip": MediaInput(url=CLIP), "resolution": "480p"}, "resolution"),
    (V1, {"first_clip": MediaInput(url=CLIP), "width": 1280, "height": 720}, "size"),
    (V1, {"first_clip": MediaInput(url=CLIP), "aspect_ratio": "16:9"}, "aspect_ratio"),
    # an edit: grok-imagine-video only, alone, and it keeps its input's length, resolution and shape
    (V15, {"video": MediaInput(url=CLIP)}, "video"),
    (V1, {"video": MediaInput(url=CLIP), "image": ImageInput(url=PICTURE)}, "image"),
    (V1, {"video": MediaInput(url=CLIP), "reference_images": [ImageInput(url=PICTURE)]}, "reference_images"),
    (V1, {"video": MediaInput(url=CLIP), "first_clip": MediaInput(url=CLIP)}, "video"),
    (V1, {"video": MediaInput(url=CLIP), "seconds": 5}, "seconds"),
    (V1, {"video": MediaInput(url=CLIP), "resolution": "720p"}, "resolution"),
    (V1, {"video": MediaInput(url=CLIP), "width": 1280, "height": 720}, "size"),
    (V1, {"video": MediaInput(url=CLIP), "aspect_ratio": "16:9"}, "aspect_ratio"),
    (V1, {"video": MediaInput(url=CLIP), "prompt": ""}, "prompt"),
    (V1, {"video": MediaInput(url=CLIP), "extra": {"duration": 9}}, "metadata.duration"),
    (V1, {"video": MediaInput(url=CLIP), "extra": {"resolution": "720p"}}, "metadata.resolution"),
    # one of the client's own videos: its URL at xAI is needed, and its length must fit
    (V1, {"video": own(None)}, "video"),
    (V1, {"first_clip": own(None)}, "first_clip"),
    (V1, {"video": own(CLIP, seconds=10.0)}, "video"),
    (V1, {"first_clip": own(CLIP, seconds=15.5)}, "first_clip"),
]


@pytest.mark.parametrize(("model", "fields", "param"), REFUSALS)
def test_plan_refusals(model, fields, param):
    fields = {"prompt": "p", **fields}
    assert refused(model, **fields).param == param


def test_generate_audio_true_is_accepted(sim):
    submit(sim, prompt="p", generate_audio=True)
    assert "generate_audio" not in sent(sim).json()  # on by default; not a parameter


def test_statuses(sim):
    submission, _ = submit(sim, prompt="p", seconds=5, resolution="720p")
    first, second, done = (poll(sim, submission) for _ in range(3))
    assert (first.status, first.progress, second.progress) == (IN_PROGRESS, 30, 60)
    assert sim.calls("GET")[-1].path == f"/v1/videos/{submission.vendor_task_id}"
    assert done.status == COMPLETED and done.seconds == 5.0 and done.progress == 100
    assert done.result_url == f"{sim.url}/vidgen/{submission.vendor_task_id}.mp4"
    # what xAI billed, and the length (the input limits of a later extension or edit of this video)
    assert done.state == {"cost_in_usd_ticks": 5 * 700_000_000, "duration": 5.0}
    # the file needs no key, and none is sent to it
    ref = TaskRef(submission.vendor_task_id, V1, submission.state, result_url=done.result_url)
    source = adaptor.content(ctx(sim), ref)
    assert source.url == done.result_url and source.headers == {}
    assert httpx.get(source.url).content == sim.video_bytes


@pytest.mark.parametrize(
    ("state", "status", "code", "moderation"),
    [
        ("moderated", FAILED, "respect_moderation", True),
        ("failed", FAILED, "internal_error", False),
        ("expired", FAILED, "expired", False),
        ("rendering", IN_PROGRESS, None, False),
        ("processing", IN_PROGRESS, None, False),
    ],
)
def test_ends_and_unknown_states(sim, state, status, code, moderation):
    sim.script = [state]
    submission, _ = submit(sim, prompt="p")
    result = poll(sim, submission)
    assert (result.status, result.error_code, result.moderation) == (status, code, moderation)
    assert result.result_url is None
    if status == FAILED:
        assert result.error_message


def test_moderated_result_keeps_what_xai_billed(sim):
    sim.script = ["moderated"]
    submission, _ = submit(sim, prompt="p", seconds=2)
    assert poll(sim, submission).state == {"cost_in_usd_ticks": 2 * 500_000_000}


def test_done_without_url_is_a_failure(sim):
    submission, _ = submit(sim, prompt="p")
    sim.fail_next(
        200, {"status": "done", "video": {"duration": 8, "respect_moderation": True}}, path_contains="/v1/videos/0"
    )
    result = poll(sim, submission)
    assert (result.status, result.error_code, result.moderation) == (FAILED, "no_video", False)


def test_not_found_is_a_missing_task_and_a_foreign_404_is_not(sim):
    submission, _ = submit(sim, prompt="p")
    sim.forget(submission.vendor_task_id)
    with pytest.raises(VendorTaskMissing):
        poll(sim, submission)
    sim.fail_next(404, b"<html>Not Found</html>", path_contains="/v1/videos/0")
    with pytest.raises(VendorError):
        poll(sim, submission)


def test_wrong_or_missing_key_is_an_auth_failure(sim):
    with pytest.raises(VendorAuthFailed) as info:
        submit(sim, key="xai-wrong", prompt="p")
    assert info.value.http_status == 400  # xAI answers a wrong key with 400 "Incorrect API key provided"
    assert httpx.get(f"{sim.url}/v1/models").status_code == 401  # no key at all
    sim.fail_next(401, {"code": "Unauthenticated", "error": "No API key provided."}, path_contains="/models")
    with pytest.raises(VendorAuthFailed) as info:
        adaptor.check(ctx(sim))
    assert info.value.http_status == 401
    assert sim.tasks == {}


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (429, {"code": "Too many requests", "error": "Rate limit reached"}, VendorUnavailable),
        (500, {"code": "Internal error", "error": "boom"}, VendorUnavailable),
        (503, {"code": "Service unavailable", "error": "overloaded"}, VendorUnavailable),
        (403, {"code": "Permission denied", "error": "Your team has no credits left"}, VendorUnavailable),
        (403, {"code": "Permission denied", "error": "This key is blocked"}, VendorAuthFailed),
        (400, {"code": "Client specified an invalid argument", "error": "bad duration"}, VendorRejected),
    ],
)
def test_error_mapping(sim, status, body, kind):
    sim.fail_next(status, body, path_contains="/generations")
    with pytest.raises(kind) as info:
        submit(sim, prompt="p")
    assert info.value.http_status == status and info.value.message == body["error"]


def test_rate_limit_carries_retry_after_and_moderation_is_flagged(sim):
    limited = Response(429, {"code": "Too many requests", "error": "slow down"}, {"Retry-After": "7"})
    sim.serve_next(limited, path_contains="/v1/videos/")
    with pytest.raises(VendorUnavailable) as info:
        adaptor.poll(ctx(sim), TaskRef("0000-x", V1, {}))
    assert info.value.rate_limited and info.value.retry_after == 7
    sim.fail_next(400, {"code": INVALID_CODE, "error": "Prompt rejected by content moderation"}, path_contains="/gen")
    with pytest.raises(VendorRejected) as info:
        submit(sim, prompt="p")
    assert info.value.moderation


def test_garbage_and_missing_id(sim):
    sim.fail_next(200, b"<html>", path_contains="/generations")
    with pytest.raises(VendorError):
        submit(sim, prompt="p")
    sim.fail_next(200, {}, path_contains="/generations")
    with pytest.raises(VendorError):
        submit(sim, prompt="p")
    sim.fail_next(200, ["not", "an", "object"], path_contains="/v1/videos/")
    with pytest.raises(VendorError):
        adaptor.poll(ctx(sim), TaskRef("0000-x", V1, {}))


def test_the_simulator_edits_only_what_it_can_fetch_and_at_most_8_7_s(sim):
    headers = {"Authorization": f"Bearer {KEY}"}
    sim.script = ["done"]
    long, _ = submit(sim, prompt="p", seconds=10)
    made = poll(sim, long)
    edit = {"model": V1, "prompt": "p", "video": {"url": made.result_url}}
    answer = httpx.post(f"{sim.url}/v1/videos/edits", json=edit, headers=headers)
    assert answer.status_code == 400 and "8.7" in answer.json()["error"]


def test_check_and_base_url_with_v1(sim):
    assert "accepted" in adaptor.check(ctx(sim, suffix="/v1/"))
    submit(sim, prompt="p")
    assert sent(sim).path == "/v1/videos/generations"


def test_simulator_checks_what_xai_checks(sim):
    """The simulator refuses what xAI refuses, so a body the adaptor got wrong fails here."""
    headers = {"Authorization": f"Bearer {KEY}"}
    url = f"{sim.url}/v1/videos/generations"
    cases = [
        {"model": V1, "prompt": "p", "duration": 16},
        {"model": V1, "prompt": "p", "resolution": "1080p"},
        {"model": V15, "prompt": "p", "resolution": "1080p", "image": {"url": PICTURE}},
        {"model": V1, "prompt": "p", "reference_images": [{"url": PICTURE}] * 8},
        {"model": V1, "prompt": "p", "reference_images": [{"url": PICTURE}], "duration": 11},
        {"model": V1, "prompt": "p", "reference_images": [{"url": PICTURE}], "image": {"url": PICTURE}},
        {"model": V1, "reference_images": [{"url": PICTURE}]},
        {"model": V1, "prompt": "p", "image": "https://flat.example.com/a.png"},
        {"model": V1, "prompt": "p", "aspect_ratio": "21:9"},
    ]
    for body in cases:
        assert httpx.post(url, json=body, headers=headers).status_code == 400, body
    assert httpx.post(url, json={"model": "grok-x", "prompt": "p"}, headers=headers).status_code == 404
    edits = f"{sim.url}/v1/videos/edits"
    for body in (
        {"model": V15, "prompt": "p", "video": {"url": CLIP}},  # 1.5 does not edit
        {"model": V1, "video": {"url": CLIP}},  # no prompt
        {"model": V1, "prompt": "p", "video": CLIP},  # not the object form
        {"model": V1, "prompt": "p", "video": {"url": f"{sim.url}/vidgen/0000-99999999.mp4"}},  # not a video
    ):
        assert httpx.post(edits, json=body, headers=headers).status_code == 400, body
    unknown = {"model": V1, "prompt": "p", "video": {"url": CLIP}, "duration": 5}
    assert httpx.post(edits, json=unknown, headers=headers).status_code == 422
    assert httpx.post(edits, json={"model": V1, "prompt": "p", "video": {"url": CLIP}}).status_code == 401
    extension = f"{sim.url}/v1/videos/extensions"
    assert httpx.post(extension, json={"model": V15, "video": {"url": CLIP}}, headers=headers).status_code == 400
    assert (
        httpx.post(
            extension, json={"model": V1, "video": {"url": CLIP}, "resolution": "720p"}, headers=headers
        ).status_code
        == 422
    )
    assert sim.tasks == {}


# --- end to end -----------------------------------------------------------------------------

PER_SECOND = 50_000  # $0.05/s at 480p
TIERS = {"720p": "1.4", "1080p": "2"}  # $0.07/s at 720p, $0.10/s at 1080p


@pytest.fixture
def grok(db):
    with XAISimulator(api_key=KEY) as simulator:
        channel = Channel(name="grok", vendor="xai", base_url=simulator.url, served_models=[V1, V15])
        channel.credentials = KEY
        channel.save()
        for model in (V1, V15):
            Price.objects.create(model=model, per_second=PER_SECOND, resolution_multipliers=TIERS)
        channel.simulator = simulator
        yield channel


def openai_create(api, **body):
    return api.post("/v1/videos", {"model": V1, "prompt": "a lighthouse", **body}, format="json")


def unified_create(api, **body):
    return api.post("/v1/video/generations", {"model": V1, "prompt": "a lighthouse", **body}, format="json")


def settle(task_id, tenant, before, amount):
    task = drive(VideoTask.objects.get(public_id=task_id), times=12)
    assert task.status == "completed", (task.error_code, task.error_message)
    assert task.amount_held == amount and task.amount_charged == amount
    tenant.refresh_from_db()
    assert tenant.balance == before - amount and ledger_sum(tenant) == tenant.balance
    return task


@pytest.mark.django_db
def test_both_dialects_bill_exactly(api, tenant, grok):
    before = tenant.balance
    response = openai_create(api, seconds="6", size="1280x720")
    assert response.status_code == 200, response.content
    task = settle(response.json()["id"], tenant, before, 6 * 70_000)
    assert (
        task.channel == grok and task.resolution == "720p" and task.vendor_state["cost_in_usd_ticks"] == 6 * 7 * 10**8
    )
    assert api.get(f"/v1/videos/{task.public_id}/content").status_code == 200
    assert grok.simulator.calls("POST")[-1].json()["duration"] == 6

    before = tenant.balance
    response = unified_create(api, duration=5, image=PICTURE)
    assert response.status_code == 201, response.content
    settle(response.json()["task_id"], tenant, before, 5 * 50_000)
    assert grok.simulator.calls("POST")[-1].json()["image"] == {"url": PICTURE}

    before = tenant.balance
    response = unified_create(api, model=V15, duration=4, size="1920x1080")
    assert response.status_code == 201, response.content
    settle(response.json()["task_id"], tenant, before, 4 * 100_000)

    before = tenant.balance
    response = unified_create(api, metadata={"first_clip": CLIP})  # an extension: 6 s added, billed at 720p
    assert response.status_code == 201, response.content
    settle(response.json()["task_id"], tenant, before, 6 * 70_000)
    assert grok.simulator.calls("POST")[-1].path == "/v1/videos/extensions"

    before = tenant.balance
    response = openai_create(api, seconds="3", reference_images=[PICTURE, PICTURE])
    assert response.status_code == 200, response.content
    settle(response.json()["id"], tenant, before, 3 * 50_000)


@pytest.mark.django_db
def test_edits_by_url_through_both_dialects_bill_what_xai_made(api, tenant, grok):
    """Held as 9 s at 720p (the input is at most 8.7 s), captured on the length xAI reports (5 s here)."""
    for create, body, key in ((openai_create, {"video": CLIP}, "id"), (unified_create, {"video_url": CLIP}, "task_id")):
        before = tenant.balance
        response = create(api, prompt="make it snow", **body)
        assert response.status_code in (200, 201), response.content
        task = VideoTask.objects.get(public_id=response.json()[key])
        assert (task.mode, task.seconds, task.resolution) == ("edit", 9, "720p")
        assert task.amount_held == 9 * 70_000
        call = grok.simulator.calls("POST")[-1]
        assert call.path == "/v1/videos/edits"
        assert call.json() == {"model": V1, "prompt": "make it snow", "video": {"url": CLIP}}
        task = drive(task, times=12)
        assert task.status == "completed", (task.error_code, task.error_message)
        assert task.seconds_produced == 5.0 and task.amount_charged == 5 * 70_000
        tenant.refresh_from_db()
        assert tenant.balance == before - 5 * 70_000 and ledger_sum(tenant) == tenant.balance


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("script", "code"),
    [(["failed"], "vendor_failed"), (["moderated"], "content_moderation"), (["expired"], "vendor_failed")],
)
def test_failures_refund_in_full(api, tenant, grok, script, code):
    grok.simulator.script = script
    response = unified_create(api, duration=4)
    assert response.status_code == 201, response.content
    task = drive(VideoTask.objects.get(public_id=response.json()["task_id"]))
    assert task.status == "failed" and task.error_code == code and task.error_message
    assert task.amount_charged == 0
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD and ledger_sum(tenant) == tenant.balance
    assert api.get(f"/v1/videos/{task.public_id}").json()["error"]["code"] == code


@pytest.mark.django_db
def test_a_request_xai_forgot_fails_and_refunds(api, tenant, grok):
    response = openai_create(api, seconds="4")
    task = VideoTask.objects.get(public_id=response.json()["id"])
    grok.simulator.forget(task.vendor_task_id)
    task = drive(task)
    assert task.status == "failed" and task.error_code == "vendor_task_lost"
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD and ledger_sum(tenant) == tenant.balance


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "body", "answer", "disabled"),
    [
        (400, {"code": INVALID_CODE, "error": "Incorrect API key provided: xa***"}, 503, True),
        (429, {"code": "Too many requests", "error": "slow down"}, 503, False),
        (502, {"code": "Bad gateway", "error": "upstream"}, 503, False),
        (200, b"<html>oops</html>", 502, False),
        (400, {"code": INVALID_CODE, "error": "duration is invalid"}, 400, False),
    ],
)
def test_submit_errors_move_no_money(api, tenant, grok, status, body, answer, disabled):
    grok.simulator.fail_next(status, body, path_contains="/generations")
    response = openai_create(api, seconds="4")
    assert response.status_code == answer, response.content
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD and ledger_sum(tenant) == tenant.balance
    grok.refresh_from_db()
    assert (grok.status == Channel.Status.AUTO_DISABLED) is disabled


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("model", "fields", "param"),
    [
        (V1, {"seconds": "16"}, "seconds"),
        (V1, {"size": "1920x1080"}, "size"),
        (V1, {"reference_images": [PICTURE] * 8}, "reference_images"),
        (V1, {"reference_images": [PICTURE], "seconds": "12"}, "seconds"),
        (V1, {"reference_images": [{"url": PICTURE, "tag": "style"}]}, "reference_images[0].tag"),
        (V1, {"reference_videos": [CLIP]}, "reference_videos"),
        (V1, {"audio_url": "https://media.example.com/a.mp3"}, "audio"),
        (V1, {"generate_audio": False}, "generate_audio"),
        (V1, {"first_clip": CLIP, "input_reference": PICTURE}, "image"),
        (V1, {"first_clip": CLIP, "seconds": "12"}, "seconds"),
        (V15, {"first_clip": CLIP}, "first_clip"),
        (V15, {"size": "1920x1080", "input_reference": PICTURE}, "size"),
        (V1, {"metadata": {"seed": 3}}, "seed"),
        (V15, {"video": CLIP}, "video"),
        (V1, {"video": CLIP, "input_reference": PICTURE}, "image"),
        (V1, {"video": CLIP, "reference_images": [PICTURE]}, "reference_images"),
        (V1, {"video": CLIP, "first_clip": CLIP}, "video"),
        (V1, {"video": CLIP, "seconds": "5"}, "seconds"),
        (V1, {"video": CLIP, "size": "1280x720"}, "size"),
    ],
)
def test_capability_refusals_before_any_money_moves(api, tenant, grok, model, fields, param):
    renamed = {"seconds": "duration", "input_reference": "image"}  # the unified dialect's names
    unified = {renamed.get(key, key): int(value) if key == "seconds" else value for key, value in fields.items()}
    for create, body in ((openai_create, fields), (unified_create, unified)):
        response = create(api, model=model, **body)
        assert response.status_code == 400, response.content
        answer = response.json()
        assert answer.get("error", answer)["param"] == as_sent(param, body), answer
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD and ledger_sum(tenant) == tenant.balance
    assert not VideoTask.objects.exists() and grok.simulator.calls("POST") == []
