"""Every model the seed documents name (and one per vendor beyond them), end to end through
both client dialects: the request reaches that vendor's simulator, which checks the auth and
the body; the task completes; the tenant pays per second; a vendor failure refunds."""

import base64
import json

import pytest

from channels.models import Channel, Price
from tests.helpers import USD, drive, ledger_sum
from tests.simulators.dashscope import DashScopeSimulator
from tests.simulators.gemini import GeminiSimulator
from tests.simulators.jimeng import JimengSimulator
from tests.simulators.kling import KlingSimulator
from tests.simulators.minimax import MiniMaxSimulator
from tests.simulators.openai import OpenAISimulator
from tests.simulators.seedance import SeedanceSimulator
from tests.simulators.vidu import ViduSimulator
from videos.models import VideoTask

pytestmark = pytest.mark.django_db

PER_SECOND = 1_000
IMAGE = "https://img.example.com/first.png"
LAST = "https://img.example.com/last.png"
PNG_B64 = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )
).decode()

VENDORS = {
    # vendor: (simulator factory, credentials, failure script state)
    "openai": (lambda: OpenAISimulator(api_key="sk-upstream-test"), "sk-upstream-test", "failed"),
    "kling": (lambda: KlingSimulator(), "ak_test|sk_test", "failed"),
    "jimeng": (lambda: JimengSimulator(), "AKLTsimulator|c2ltdWxhdG9yLXNlY3JldA==", "expired"),
    "vidu": (lambda: ViduSimulator(), "vda_test", "failed"),
    "dashscope": (lambda: DashScopeSimulator(), "sk-dashscope-test", "FAILED"),
    "seedance": (lambda: SeedanceSimulator(), "ark-simulator-key", "failed"),
    "minimax": (lambda: MiniMaxSimulator(), "mm-test-key", "Fail"),
    "gemini": (lambda: GeminiSimulator(), "AIza-test-key", "error"),
}

# (vendor, model, /v1/videos form fields, /v1/video/generations body, billed seconds)
CASES = [
    ("openai", "sora-2", {"seconds": "8", "size": "1280x720"}, {"duration": 4}, (8, 4)),
    ("kling", "kling-v1", {"seconds": "5", "size": "1280x720"}, {"duration": 10, "size": "1280x720"}, (5, 10)),
    (
        "kling",
        "kling-v2-master",
        {"seconds": "5", "input_reference": IMAGE},
        {"duration": 5, "image": IMAGE, "metadata": {"negative_prompt": "blur", "image_tail": LAST}},
        (5, 5),
    ),
    (
        "jimeng",
        "jimeng_vgfm_t2v_l20",
        {"seconds": "5"},
        {"image": IMAGE, "metadata": {"req_key": "jimeng_vgfm_i2v_l20", "image_urls": [IMAGE], "aspect_ratio": "16:9"}},
        (5, 5),
    ),
    ("jimeng", "jimeng_vgfm_i2v_l20", {"seconds": "10", "input_reference": IMAGE}, {"image": IMAGE}, (10, 5)),
    (
        "vidu",
        "viduq1",
        {"seconds": "5"},
        {
            "size": "1920x1080",
            "image": IMAGE,
            "duration": 5,
            "metadata": {
                "duration": 5,
                "seed": 0,
                "resolution": "1080p",
                "movement_amplitude": "auto",
                "bgm": False,
                "payload": "",
                "callback_url": "https://your-callback-url.com/webhook",
            },
        },
        (5, 5),
    ),
    (
        "dashscope",
        "wan2.5-t2v-preview",
        {"seconds": "5", "size": "1920*1080"},
        {"duration": 10, "size": "1920x1080"},
        (5, 10),
    ),
    (
        "dashscope",
        "wan2.5-i2v-preview",
        {"seconds": "5", "metadata": json.dumps({"img_url": IMAGE})},
        {"image": IMAGE, "metadata": {"resolution": "480P", "prompt_extend": True, "audio": True}},
        (5, 5),
    ),
    ("dashscope", "wan2.2-i2v-flash", {"resolution": "720P", "input_reference": IMAGE}, {"image": IMAGE}, (5, 5)),
    ("dashscope", "wan2.2-i2v-plus", {"input_reference": IMAGE}, {"image": IMAGE}, (5, 5)),
    ("dashscope", "wanx2.1-i2v-plus", {"input_reference": IMAGE}, {"image": IMAGE}, (5, 5)),
    (
        "dashscope",
        "wanx2.1-i2v-turbo",
        {"seconds": "3", "input_reference": IMAGE},
        {"image": IMAGE, "duration": 4},
        (3, 4),
    ),
    (
        "dashscope",
        "wan2.2-kf2v-flash",
        {
            "seconds": "5",
            "metadata": json.dumps(
                {"first_frame_url": IMAGE, "last_frame_url": LAST, "resolution": "720P", "watermark": False}
            ),
        },
        {"image": IMAGE, "metadata": {"last_frame_url": LAST}},
        (5, 5),
    ),
    ("seedance", "doubao-seedance-1-0-pro-250528", {"seconds": "5"}, {"duration": 10, "image": IMAGE}, (5, 10)),
    ("minimax", "MiniMax-Hailuo-02", {"seconds": "6"}, {"duration": 10, "image": IMAGE}, (6, 10)),
    ("gemini", "veo-3.0-generate-001", {"seconds": "8"}, {"duration": 4, "image": PNG_B64}, (8, 4)),
]


@pytest.fixture
def channel_for(tenant):
    started = []

    def make(vendor, model):
        factory, credentials, _ = VENDORS[vendor]
        simulator = factory().start()
        started.append(simulator)
        channel = Channel(name=f"{vendor}-sim", vendor=vendor, base_url=simulator.url, served_models=[model])
        channel.credentials = credentials
        channel.save()
        Price.objects.create(model=model, per_second=PER_SECOND)
        channel.simulator = simulator
        return channel

    yield make
    for simulator in started:
        simulator.stop()


def creates(simulator):
    return [r for r in simulator.requests if r.method == "POST"]


def complete(api, tenant, task_id, seconds, before):
    task = drive(VideoTask.objects.get(public_id=task_id), times=12)
    assert task.status == "completed", (task.error_code, task.error_message)
    assert task.amount_held == seconds * PER_SECOND
    produced = task.seconds_produced
    expected = min(task.amount_held, int(-(-(produced if produced else seconds) * PER_SECOND // 1)))
    assert task.amount_charged == expected
    tenant.refresh_from_db()
    assert tenant.balance == before - expected and ledger_sum(tenant) == tenant.balance
    assert api.get(f"/v1/videos/{task_id}/content").status_code == 200
    return task


@pytest.mark.parametrize(("vendor", "model", "form", "unified", "seconds"), CASES, ids=[case[1] for case in CASES])
def test_seed_model_through_both_dialects(api, tenant, channel_for, settings, vendor, model, form, unified, seconds):
    settings.GATEWAY_ALLOW_PRIVATE_URLS = True  # Veo downloads client images; here they are data
    channel = channel_for(vendor, model)
    before = tenant.balance

    response = api.post(
        "/v1/videos", {"model": model, "prompt": "an astronaut on the moon", **form}, format="multipart"
    )
    assert response.status_code == 200, response.content
    assert len(creates(channel.simulator)) >= 1
    task = complete(api, tenant, response.json()["id"], seconds[0], before)
    assert task.channel == channel and task.route == "openai"

    before = tenant.balance
    response = api.post(
        "/v1/video/generations", {"model": model, "prompt": "an astronaut on the moon", **unified}, format="json"
    )
    assert response.status_code == 201, response.content
    complete(api, tenant, response.json()["task_id"], seconds[1], before)


@pytest.mark.parametrize("vendor", sorted(VENDORS))
def test_vendor_failure_refunds(api, tenant, channel_for, vendor):
    case = next(case for case in CASES if case[0] == vendor)
    channel = channel_for(vendor, case[1])
    channel.simulator.script = [VENDORS[vendor][2]]
    response = api.post("/v1/video/generations", {"model": case[1], "prompt": "x", **case[3]}, format="json")
    assert response.status_code == 201, response.content
    task = drive(VideoTask.objects.get(public_id=response.json()["task_id"]))
    assert task.status == "failed" and task.error_code in ("vendor_failed", "content_moderation")
    assert task.error_message
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD and ledger_sum(tenant) == tenant.balance
