"""MiniMax Hailuo 2.3 and 2.3-Fast: capabilities, every refusal rule, and end to end through
/v1/videos and /v1/video/generations against the MiniMax simulator, billed exactly."""

import httpx
import pytest

from channels.adaptors.minimax import adaptor
from channels.canonical import CanonicalRequest, ImageInput, MediaInput, RequestInvalid
from channels.models import Channel, Price
from tests.helpers import USD, drive, ledger_sum
from tests.simulators.minimax import MiniMaxSimulator
from videos.models import VideoTask

KEY = "mm-test-key"
PRICE = 10_000
A, B = "https://x.test/a.png", "https://x.test/b.png"
PRO, FAST = "MiniMax-Hailuo-2.3", "MiniMax-Hailuo-2.3-Fast"


@pytest.fixture
def sim():
    with MiniMaxSimulator(api_key=KEY) as simulator:
        yield simulator


def sent(sim):
    return sim.calls("POST", "/v1/video_generation")[-1]


def test_capabilities():
    pro = adaptor.capabilities(PRO)
    assert pro["modes"] == ["text", "image"] and pro["durations"] == [6, 10]
    assert pro["resolutions"] == ["768p", "1080p"] and pro["audio"] is False
    assert pro["inputs"]["reference_images"] == 0 and pro["inputs"]["generate_audio"] == []
    fast = adaptor.capabilities(FAST)
    assert fast["modes"] == ["image"] and fast["durations"] == [6, 10] and fast["resolutions"] == ["768p", "1080p"]
    s2v = adaptor.capabilities("S2V-01")
    assert s2v["modes"] == ["reference"] and s2v["inputs"]["reference_images"] == 1


@pytest.mark.parametrize(
    ("model", "fields", "param", "words"),
    [
        (PRO, {"seconds": 10, "resolution": "1080p"}, "seconds", "768P only"),
        (FAST, {"seconds": 10, "resolution": "1080p", "image": ImageInput(url=A)}, "seconds", "768P only"),
        (PRO, {"seconds": 5}, "seconds", "6, 10"),
        (PRO, {"resolution": "720p"}, "resolution", "768P, 1080P"),
        (PRO, {"resolution": "512p", "image": ImageInput(url=A)}, "resolution", "768P, 1080P"),
        (FAST, {}, "image", "image-to-video"),
        (PRO, {"image": ImageInput(url=A), "last_frame": ImageInput(url=B)}, "last_frame", "MiniMax-Hailuo-02"),
        (FAST, {"image": ImageInput(url=A), "last_frame": ImageInput(url=B)}, "last_frame", "MiniMax-Hailuo-02"),
        (PRO, {"reference_images": [ImageInput(url=A)]}, "reference_images", "not documented"),
        (FAST, {"reference_images": [ImageInput(url=A)]}, "reference_images", "S2V-01"),
        (PRO, {"generate_audio": True}, "generate_audio", "does not take"),
        (PRO, {"reference_videos": [MediaInput(url=A)]}, "reference_videos", "no reference videos"),
        (PRO, {"audio": [MediaInput(url=A, kind="audio")]}, "audio", "no audio clips"),
        (PRO, {"first_clip": MediaInput(url=A)}, "first_clip", "cannot continue"),
        (PRO, {"seconds": 6, "extra": {"duration": 10}}, "metadata.duration", "billed"),
        (PRO, {"extra": {"resolution": "1080P"}}, "metadata.resolution", "billed"),
        (PRO, {"extra": {"model": FAST}}, "metadata.model", "billed"),
        ("S2V-01", {"reference_images": [ImageInput(url=A, tag="face")]}, "reference_images[0].tag", "none"),
    ],
)
def test_refusals(sim, model, fields, param, words):
    with pytest.raises(RequestInvalid) as exc:
        adaptor.checked_plan(CanonicalRequest(model="m", prompt="p", **fields), model)
    assert exc.value.param == param
    assert words in exc.value.message
    assert sim.requests == []


@pytest.mark.parametrize(
    "body",
    [
        {"model": PRO, "prompt": "p", "duration": 10, "resolution": "1080P"},
        {"model": FAST, "prompt": "p"},
        {"model": PRO, "prompt": "p", "first_frame_image": A, "last_frame_image": B},
        {"model": PRO, "prompt": "p", "subject_reference": [{"type": "character", "image": [A]}]},
        {"model": PRO, "prompt": "p", "resolution": "720P"},
    ],
)
def test_simulator_refuses_what_minimax_refuses(sim, body):
    response = httpx.post(f"{sim.url}/v1/video_generation", json=body, headers={"Authorization": f"Bearer {KEY}"})
    assert response.json()["base_resp"]["status_code"] == 2013


# --- end to end, billed -----------------------------------------------------------------------


@pytest.fixture
def hailuo(sim, db):
    channel = Channel(name="minimax", vendor="minimax", base_url=sim.url, served_models=[PRO, FAST])
    channel.credentials = KEY
    channel.save()
    for model in (PRO, FAST):
        Price.objects.create(model=model, per_second=PRICE, resolution_multipliers={"1080p": "2"})
    return channel


def settle(tenant):
    tenant.refresh_from_db()
    assert ledger_sum(tenant) == tenant.balance
    return tenant.balance


@pytest.mark.django_db
def test_text_through_v1_videos_ten_seconds_at_768p(api, hailuo, sim, tenant):
    response = api.post("/v1/videos", {"model": PRO, "prompt": "a cat", "seconds": "10"}, format="json")
    assert response.status_code == 200, response.content
    task = VideoTask.objects.get(public_id=response.json()["id"])
    assert task.amount_held == 10 * PRICE
    body = sent(sim).json()
    assert (body["model"], body["duration"], body["resolution"]) == (PRO, 10, "768P")
    assert "first_frame_image" not in body
    assert drive(task).status == VideoTask.Status.COMPLETED
    assert settle(tenant) == 10 * USD - 10 * PRICE


@pytest.mark.django_db
@pytest.mark.parametrize("model", [PRO, FAST])
def test_image_through_the_unified_route_at_1080p(api, hailuo, sim, tenant, model):
    body = {"model": model, "prompt": "p", "image": A, "duration": 6, "metadata": {"resolution": "1080P"}}
    response = api.post("/v1/video/generations", body, format="json")
    assert response.status_code == 201, response.content
    task = VideoTask.objects.get(public_id=response.json()["id"])
    assert task.amount_held == 6 * PRICE * 2
    upstream = sent(sim).json()
    assert (upstream["model"], upstream["first_frame_image"], upstream["resolution"]) == (model, A, "1080P")
    assert drive(task).status == VideoTask.Status.COMPLETED
    assert settle(tenant) == 10 * USD - 6 * PRICE * 2


@pytest.mark.django_db
def test_failure_refunds_exactly(api, hailuo, sim, tenant):
    sim.script = ["Processing", "Fail"]
    response = api.post("/v1/videos", {"model": FAST, "prompt": "p", "input_reference": A}, format="json")
    assert response.status_code == 200, response.content
    task = VideoTask.objects.get(public_id=response.json()["id"])
    assert drive(task).status == VideoTask.Status.FAILED
    assert settle(tenant) == 10 * USD


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("route", "body", "param"),
    [
        ("/v1/videos", {"model": FAST, "prompt": "p"}, "image"),
        ("/v1/videos", {"model": PRO, "prompt": "p", "seconds": "10", "size": "1920x1080"}, "seconds"),
        ("/v1/videos", {"model": PRO, "prompt": "p", "reference_images": [A]}, "reference_images"),
        ("/v1/videos", {"model": PRO, "prompt": "p", "generate_audio": True}, "generate_audio"),
        (
            "/v1/video/generations",
            {"model": PRO, "prompt": "p", "metadata": {"subject_reference": [{"type": "character", "image": [A]}]}},
            "reference_images",
        ),
        (
            "/v1/video/generations",
            {"model": PRO, "prompt": "p", "image": A, "metadata": {"last_frame_image": B}},
            "last_frame",
        ),
    ],
)
def test_refused_requests_move_no_money(api, hailuo, sim, tenant, route, body, param):
    rows = tenant.ledger.count()
    response = api.post(route, body, format="json")
    assert response.status_code == 400, response.content
    error = response.json().get("error", response.json())
    assert error["param"] == param
    assert not VideoTask.objects.exists() and not sim.calls("POST")
    assert settle(tenant) == 10 * USD and tenant.ledger.count() == rows
