"""The canonical request is what the client asked for, and nobody changes it: every adaptor's
plan() and submit() leave it as it was (what they derive travels in the Plan), a failover plans
the client's request afresh, and the task row keeps the client's values and the planned ones."""

import copy
import dataclasses

import pytest

from channels.adaptors import registry
from channels.adaptors.base import CallContext
from channels.canonical import REMIX, CanonicalRequest, ImageInput, RequestInvalid
from channels.models import Channel
from tests.helpers import USD, ledger_sum
from tests.simulators.dashscope import DashScopeSimulator
from tests.simulators.gemini import GeminiSimulator
from tests.simulators.jimeng import JimengSimulator
from tests.simulators.kling import KlingSimulator
from tests.simulators.minimax import MiniMaxSimulator
from tests.simulators.openai import OpenAISimulator
from tests.simulators.seedance import SeedanceSimulator
from tests.simulators.vidu import ViduSimulator
from videos.api.parsing import build_request
from videos.models import VideoTask

IMG = "https://img.example.com/first.png"
LAST = "https://img.example.com/last.png"
NESTED = {"tags": ["calm"], "camera": {"moves": ["pan"]}}


def _openai(plan, body, request):
    assert (plan.width, plan.height, plan.size) == (720, 1280, "720x1280")  # Sora's default, planned
    assert body["size"] == "720x1280" and body["seconds"] == "4" and body["style"] == NESTED
    assert request.size is None


def _dashscope(plan, body, request):
    assert plan.size == "832x480" and plan.resolution == "480p"  # the tier size for 480p at 16:9
    assert body["parameters"] == {"duration": 5, "size": "832*480", "style": NESTED}
    assert (request.width, request.height, request.resolution) == (None, None, "480p")


def _minimax(plan, body, request):
    # S2V takes its subject as a reference image; the request keeps it as its 'image'.
    assert body["subject_reference"] == [{"type": "character", "image": [IMG]}]
    assert "first_frame_image" not in body and body["style"] == NESTED
    assert request.image == ImageInput(url=IMG) and request.reference_images == ()


def _gemini(plan, body, request):
    assert (plan.aspect_ratio, plan.resolution) == ("16:9", "720p")
    assert body["parameters"]["aspectRatio"] == "16:9" and body["parameters"]["resolution"] == "720p"
    assert body["parameters"]["personGeneration"] == "allow_adult"  # Veo refuses names it does not know
    assert request.extra == {"person_generation": "allow_adult"}
    assert (request.aspect_ratio, request.resolution) == (None, None)


def _jimeng(plan, body, request):
    assert plan.derived["req_key"] == body["req_key"] == "jimeng_i2v_first_tail_v30"
    assert body["image_urls"] == [IMG, LAST] and body["style"] == NESTED


def _kling(plan, body, request):
    assert plan.derived["action"] == "text2video" and plan.derived["mode"] == "pro" and plan.aspect_ratio == "16:9"
    assert (body["mode"], body["aspect_ratio"], body["duration"]) == ("pro", "16:9", "5")
    assert body["style"] == NESTED and "model" not in body


def _vidu(plan, body, request):
    assert plan.derived == {"endpoint": "text2video"}
    assert (body["duration"], body["resolution"], body["style"]) == (5, "720p", NESTED)
    assert "action" not in body and request.extra["action"] == "textGenerate"


def _seedance(plan, body, request):
    assert body["content"] == plan.derived["content"]
    assert body["content"][1] == {"type": "image_url", "image_url": {"url": IMG}, "role": "first_frame"}
    assert (body["duration"], body["resolution"], body["style"]) == (5, "1080p", NESTED)


CASES = {
    "openai": (OpenAISimulator, "sk-upstream-test", "sora-2", {}, _openai),
    "dashscope": (
        DashScopeSimulator,
        "sk-dashscope-test",
        "wan2.2-t2v-plus",
        {"resolution": "480p", "aspect_ratio": "16:9"},
        _dashscope,
    ),
    "minimax": (MiniMaxSimulator, "mm-test-key", "S2V-01", {"image": ImageInput(url=IMG)}, _minimax),
    "gemini": (
        GeminiSimulator,
        "AIza-test-key",
        "veo-3.1-generate-preview",
        {"extra": {"person_generation": "allow_adult"}},
        _gemini,
    ),
    "jimeng": (
        JimengSimulator,
        "AKLTsimulator|c2ltdWxhdG9yLXNlY3JldA==",
        "jimeng_t2v_v30",
        {"image": ImageInput(url=IMG), "last_frame": ImageInput(url=LAST)},
        _jimeng,
    ),
    "kling": (
        KlingSimulator,
        "ak_test|sk_test",
        "kling-v1",
        {"width": 1920, "height": 1080, "extra": {"mode": "pro", "model": "kling-v1"}},
        _kling,
    ),
    "vidu": (ViduSimulator, "vda_test", "viduq2", {"extra": {"action": "textGenerate", "duration": "5"}}, _vidu),
    "seedance": (
        SeedanceSimulator,
        "ark-simulator-key",
        "doubao-seedance-1-0-pro-250528",
        {"image": ImageInput(url=IMG), "extra": {"duration": 5}},
        _seedance,
    ),
}


@pytest.mark.parametrize("vendor", sorted(CASES))
def test_plan_and_submit_leave_the_request_as_the_client_gave_it(vendor):
    simulator, credentials, model, fields, check = CASES[vendor]
    if vendor != "gemini":  # a nested extra, passed through untouched
        fields = {**fields, "extra": {"style": NESTED, **fields.get("extra", {})}}
    request = CanonicalRequest(model=model, prompt="a calm lake", **fields)
    before = copy.deepcopy(request)
    adaptor = registry.get(vendor)
    with simulator() as sim:
        plan = adaptor.plan(request, model)
        assert request == before
        adaptor.submit(CallContext(base_url=sim.url, credentials=credentials), request, model, plan)
        body = sim.calls("POST")[-1].json()
    assert request == before
    check(plan, body, request)


def test_the_sandbox_leaves_the_request_alone_too():
    request = CanonicalRequest(model="sandbox-video", prompt="p", width=1280, height=720, extra={"style": NESTED})
    before = copy.deepcopy(request)
    adaptor = registry.get("sandbox")
    plan = adaptor.plan(request, "sandbox-video")
    adaptor.submit(CallContext(base_url="sandbox://local", credentials=""), request, "sandbox-video", plan)
    assert request == before and (plan.seconds, plan.resolution) == (5, "720p")


def test_refused_metadata_leaves_the_request_alone_and_says_why():
    """The one rule: metadata may repeat a billed value, never change it."""
    adaptor = registry.get("openai")
    request = CanonicalRequest(model="sora-2", prompt="p", extra={"model": "SORA-2 ", "seconds": "4"})
    assert adaptor.plan(request, "sora-2").extra == {}  # repeats of the billed values are dropped
    request = CanonicalRequest(model="sora-2", prompt="p", extra={"model": "sora-2-pro"})
    before = copy.deepcopy(request)
    with pytest.raises(RequestInvalid) as info:
        adaptor.plan(request, "sora-2")
    assert (info.value.code, info.value.param) == ("metadata_override_refused", "metadata.model")
    assert request == before


def test_a_request_cannot_be_changed():
    caller_extra = {"camera": {"moves": ["pan"]}}
    request = CanonicalRequest(
        model="m", prompt="p", width=1280, height=720, reference_images=[ImageInput(url=IMG)], extra=caller_extra
    )
    for name, value in (("width", 720), ("resolution", "1080p"), ("extra", {}), ("image", ImageInput(url=LAST))):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(request, name, value)
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.reference_images[0].url = LAST
    with pytest.raises(TypeError):
        request.extra["camera"] = "tilt"
    with pytest.raises(AttributeError):
        request.reference_images.append(ImageInput(url=LAST))
    request.extra["camera"]["moves"].append("tilt")  # a copy: the request's extras stay as they were
    caller_extra["camera"]["moves"].append("zoom")  # the caller's dict was copied as well
    assert request.extra == {"camera": {"moves": ["pan"]}}
    assert (request.resolution, request.aspect_ratio) == ("720p", "16:9")  # derived once, at construction


def test_a_remix_is_a_new_request():
    request = CanonicalRequest(model="sora-2", prompt="p", seconds=4, width=1280, height=720)
    remix = dataclasses.replace(request, remix_of_vendor_id="video_1")
    assert remix.mode == REMIX and remix.size == "1280x720"
    assert request.mode == "text" and request.remix_of_vendor_id is None


# --- through the gateway ----------------------------------------------------------------------


@pytest.fixture
def sandbox_for_sora(db, sora):
    """A second channel for sora-2 whose adaptor plans differently: no size of its own."""
    sora.priority = 10
    sora.save()
    channel = Channel(name="sandbox-sora", vendor="sandbox", served_models=["sora-2"], options={"delay": 4})
    channel.save()
    return channel


@pytest.fixture
def sandbox_requests(monkeypatch):
    """The requests the sandbox adaptor is asked to plan and submit."""
    adaptor = registry.get("sandbox")
    seen = []

    def spy(method):
        def call(*args):
            seen.append((method.__name__, copy.deepcopy([a for a in args if isinstance(a, CanonicalRequest)][0])))
            return method(*args)

        return call

    monkeypatch.setattr(adaptor, "plan", spy(adaptor.plan))
    monkeypatch.setattr(adaptor, "submit", spy(adaptor.submit))
    return seen


def test_failover_plans_the_clients_request_not_the_first_channels(api, sora, sandbox_for_sora, sandbox_requests):
    sora.simulator.fail_next(503, {"error": {"message": "down"}}, path_contains="/v1/videos")
    response = api.post("/v1/videos", {"prompt": "x", "seconds": "4"}, format="json")
    assert response.status_code == 200, response.content
    task = VideoTask.objects.get()
    assert task.channel == sandbox_for_sora
    # OpenAI planned 720x1280 for the request; the sandbox saw the request without a size.
    assert [name for name, _ in sandbox_requests] == ["plan", "submit"]
    assert all(request.size is None and request.width is None for _, request in sandbox_requests)
    # The row says what the channel that took the job planned: no size of Sora's.
    assert task.params == {"seconds": 4, "resolution": "720p"}
    assert (task.seconds, task.resolution) == (4, "720p")


def test_failover_skips_a_channel_that_would_bill_otherwise(api, sora, sandbox_for_sora, sandbox_requests, tenant):
    sora.simulator.fail_next(503, {"error": {"message": "down"}}, path_contains="/v1/videos")
    response = api.post("/v1/videos", {"prompt": "x"}, format="json")  # Sora's default is 4 s, the sandbox's 5 s
    assert response.status_code == 503, response.content
    assert response.json()["error"]["code"] == "vendor_unavailable"
    assert [name for name, _ in sandbox_requests] == ["plan"]
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD and ledger_sum(tenant) == tenant.balance


def test_task_params_hold_the_clients_values_and_the_planned_ones(api, sora):
    body = {"prompt": "x", "metadata": {"resolution": "1080p", "seed": 7, "style": "anime"}}
    response = api.post("/v1/videos", body, format="json")
    assert response.status_code == 200, response.content
    task = VideoTask.objects.get()
    assert task.params == {
        "seconds": 4,  # planned: Sora's default
        "size": "720x1280",  # planned
        "resolution": "720p",  # planned; the client asked for 1080p:
        "requested": {"resolution": "1080p"},
        "seed": 7,
        "extra": {"style": "anime"},
    }
    assert (response.json()["size"], response.json()["seconds"]) == ("720x1280", "4")
    assert sora.simulator.calls("POST")[-1].json()["style"] == "anime"


def test_the_dialect_lifts_metadata_the_adaptor_takes_it_as_it_is():
    request = build_request(
        "m", "p", {}, {"duration": "10", "resolution": "1080P", "first_frame_image": IMG, "image_urls": [IMG]}
    )
    assert (request.seconds, request.resolution, request.image) == (10, "1080p", ImageInput(url=IMG))
    assert dict(request.extra) == {}
