"""DashScope / Bailian native routes against the DashScope simulator, with raw HTTP and the real
``dashscope`` SDK."""

import re

import dashscope
import httpx
import pytest
from dashscope import VideoSynthesis
from rest_framework.test import APIClient

from channels.adaptors.samples import sample_video_bytes
from channels.models import Channel, Price
from tests.helpers import USD, drive, ledger_sum
from tests.simulators.dashscope import DashScopeSimulator
from videos.models import VideoTask

pytestmark = pytest.mark.django_db

PRICE = 10_000
T2V = "wanx2.1-t2v-turbo"
MODELS = ("wanx2.1-t2v-turbo", "wan2.5-i2v-preview", "wan2.2-kf2v-flash", "wan-cheap")
CREATE = "/api/v1/services/aigc/video-generation/video-synthesis"
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$")
# The curl example of seed 003, byte for byte (its JSON carries a // comment; it sends no async header).
SEED_003 = """{
    "model": "wan2.5-i2v-preview",
    "input": {
        "prompt": "Change the lighting.",
        "img_url": "https://brainrot-yt-shorts.oss-cn-beijing.aliyuncs.com/images/cached/55a955b7e41723417281051d7bebdb45.png"
    },
    "parameters": {
        "resolution": "480P",
        "prompt_extend": true,
        // "duration": 5,
        "audio": true
    }
}"""


@pytest.fixture
def sim():
    with DashScopeSimulator(api_key="sk-dashscope-test") as simulator:
        yield simulator


@pytest.fixture
def wan(sim):
    channel = Channel(
        name="bailian",
        vendor="dashscope",
        base_url=f"{sim.url}/api/v1",
        served_models=list(MODELS),
        model_mapping={"wan-cheap": "wanx2.1-t2v-turbo"},
    )
    channel.credentials = "sk-dashscope-test"
    channel.save()
    for model in MODELS:
        Price.objects.create(model=model, per_second=PRICE, resolution_multipliers={"1080p": "2"})
    return channel


def create(client, body, path=CREATE, asynchronous=True):
    headers = {"HTTP_X_DASHSCOPE_ASYNC": "enable"} if asynchronous else {}
    return client.post(path, body, format="json", **headers)


def test_t2v_completes_in_dashscope_shape(api, wan, sim, tenant):
    body = {
        "model": "wanx2.1-t2v-turbo",
        "input": {"prompt": "a cat", "negative_prompt": "blur"},
        "parameters": {"size": "1280*720", "duration": 5, "prompt_extend": False, "watermark": True},
    }
    response = create(api, body)
    assert response.status_code == 200, response.content
    created = response.json()
    assert set(created) == {"request_id", "output"}
    assert set(created["output"]) == {"task_id", "task_status"}
    task_id = created["output"]["task_id"]
    assert task_id.startswith("video_") and created["output"]["task_status"] == "PENDING"
    sent = sim.calls("POST")[-1]
    assert sent.headers["x-dashscope-async"] == "enable"
    assert sent.json()["parameters"] == {"duration": 5, "size": "1280*720", "prompt_extend": False, "watermark": True}
    assert sent.json()["input"] == {"prompt": "a cat", "negative_prompt": "blur"}
    task = VideoTask.objects.get(public_id=task_id)
    assert task.route == "dashscope" and task.amount_held == 5 * PRICE and task.vendor_task_id != task_id

    pending = api.get(f"/api/v1/tasks/{task_id}").json()
    assert pending["output"]["task_status"] == "PENDING" and "usage" not in pending
    assert TIME_RE.match(pending["output"]["submit_time"]) and "video_url" not in pending["output"]
    drive(task)
    done = api.get(f"/api/v1/tasks/{task_id}").json()
    assert set(done) == {"request_id", "output", "usage"}
    output = done["output"]
    assert set(output) == {
        "task_id", "task_status", "submit_time", "scheduled_time", "end_time", "video_url", "orig_prompt"
    }  # fmt: skip
    assert output["task_id"] == task_id and output["task_status"] == "SUCCEEDED"
    assert all(TIME_RE.match(output[key]) for key in ("submit_time", "scheduled_time", "end_time"))
    assert output["submit_time"] <= output["scheduled_time"] <= output["end_time"]
    assert sim.url not in output["video_url"] and "token=" in output["video_url"]
    assert done["usage"] == {"video_duration": 5, "video_ratio": "1280*720", "video_count": 1}
    download = APIClient().get(output["video_url"])
    assert b"".join(download.streaming_content) == sample_video_bytes(5)
    assert api.get(f"/v1/videos/{task_id}").json()["status"] == "completed"
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD - 5 * PRICE and ledger_sum(tenant) == tenant.balance


def test_seed_003_curl_example_completes(api, wan, sim):
    path = "/alibailian/api/v1/services/aigc/video-generation/video-synthesis"
    response = api.post(path, SEED_003, content_type="application/json")
    assert response.status_code == 200, response.content
    task_id = response.json()["output"]["task_id"]
    sent = sim.calls("POST")[-1].json()
    assert sent["model"] == "wan2.5-i2v-preview" and sent["input"]["img_url"].startswith("https://brainrot")
    assert sent["parameters"] == {"duration": 5, "resolution": "480P", "prompt_extend": True, "audio": True}
    drive(VideoTask.objects.get(public_id=task_id))
    done = api.get(f"/alibailian/api/v1/tasks/{task_id}").json()
    assert done["output"]["task_status"] == "SUCCEEDED"
    assert done["usage"] == {"video_duration": 5, "video_ratio": "standard", "video_count": 1}
    download = APIClient().get(done["output"]["video_url"])
    assert download.status_code == 200


def test_kf2v_goes_to_the_image2video_path(api, wan, sim):
    body = {
        "model": "wan2.2-kf2v-flash",
        "input": {"first_frame_url": "https://x.test/a.png", "last_frame_url": "https://x.test/b.png"},
        "parameters": {"resolution": "720P"},
    }
    response = create(api, body, "/api/v1/services/aigc/image2video/video-synthesis")
    assert response.status_code == 200, response.content
    sent = sim.calls("POST")[-1]
    assert sent.path.endswith("/image2video/video-synthesis")
    assert sent.json()["input"]["last_frame_url"] == "https://x.test/b.png"
    assert VideoTask.objects.get().mode == "first_last"


def test_billing_matches_unified_route(api, wan):
    native = create(
        api,
        {"model": "wan2.5-i2v-preview", "input": {"img_url": "https://x.test/a.png"}, "parameters": {"duration": 10}},
    )
    unified = api.post(
        "/v1/video/generations",
        {"model": "wan2.5-i2v-preview", "prompt": "x", "image": "https://x.test/a.png", "duration": 10},
        format="json",
    )
    assert native.status_code == 200 and unified.status_code == 201, native.content
    a = VideoTask.objects.get(public_id=native.json()["output"]["task_id"])
    b = VideoTask.objects.get(public_id=unified.json()["id"])
    assert a.amount_held == b.amount_held == 10 * PRICE * 2  # wan2.5 i2v defaults to 1080P
    drive(a)
    drive(b)
    a.refresh_from_db()
    b.refresh_from_db()
    assert a.amount_charged == b.amount_charged == a.amount_held


def test_failed_task_reports_inside_output_and_refunds(api, wan, sim, tenant):
    sim.script = ["RUNNING", "FAILED"]
    sim.failure = ("DataInspectionFailed", "Output data may contain inappropriate content.")
    task_id = create(api, {"model": "wanx2.1-t2v-turbo", "input": {"prompt": "x"}}).json()["output"]["task_id"]
    drive(VideoTask.objects.get(public_id=task_id))
    response = api.get(f"/api/v1/tasks/{task_id}")
    assert response.status_code == 200
    output = response.json()["output"]
    assert output["task_status"] == "FAILED" and output["code"] == "DataInspectionFailed"
    assert "inappropriate" in output["message"] and "video_url" not in output
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD and ledger_sum(tenant) == tenant.balance


def test_model_mapping_applies(api, wan, sim):
    assert create(api, {"model": "wan-cheap", "input": {"prompt": "x"}}).status_code == 200
    assert sim.calls("POST")[-1].json()["model"] == "wanx2.1-t2v-turbo"


def test_other_tenant_and_unknown_ids_are_unknown(api, other_api, wan):
    task_id = create(api, {"model": "wanx2.1-t2v-turbo", "input": {"prompt": "x"}}).json()["output"]["task_id"]
    for client, wanted in ((other_api, task_id), (api, "video_nope")):
        response = client.get(f"/api/v1/tasks/{wanted}")
        assert response.status_code == 200
        assert response.json()["output"] == {"task_id": wanted, "task_status": "UNKNOWN"}


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (None, "No API key: send 'Authorization: Bearer sk-...'."),
        ("Bearer sk-nope", "Incorrect API key provided."),
        ("Basic abc", "Send the key as 'Authorization: Bearer sk-...'."),
    ],
)
def test_bad_key_is_401_invalid_api_key(api, wan, tenant, authorization, message):
    body = {"model": "wanx2.1-t2v-turbo", "input": {"prompt": "x"}}
    task_id = create(api, body).json()["output"]["task_id"]
    client = APIClient()
    if authorization:
        client.credentials(HTTP_AUTHORIZATION=authorization)
    for response in (
        create(client, body),
        create(client, body, path="/alibailian" + CREATE, asynchronous=False),
        client.get(f"/api/v1/tasks/{task_id}"),
        client.get(f"/alibailian/api/v1/tasks/{task_id}"),
    ):
        assert response.status_code == 401
        error = response.json()
        assert set(error) == {"request_id", "code", "message"} and error["request_id"]
        assert (error["code"], error["message"]) == ("InvalidApiKey", message)
        assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert list(VideoTask.objects.values_list("public_id", flat=True)) == [task_id]
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD - 5 * PRICE  # only the keyed task holds money


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"input": {"prompt": "x"}}, 400, "BadRequest.EmptyModel"),
        ({"model": "wanx2.1-t2v-turbo"}, 400, "InvalidParameter"),
        ({"model": T2V, "input": {"prompt": "x"}, "parameters": {"duration": 10}}, 400, "InvalidParameter"),
        ({"model": T2V, "input": {"prompt": "x"}, "parameters": {"size": "1920*1080"}}, 400, "InvalidParameter"),
        ({"model": T2V, "input": {"prompt": "x", "media": []}}, 400, "InvalidParameter"),
        ({"model": T2V, "input": {"prompt": "x"}, "parameters": {"audio": True}}, 400, "InvalidParameter"),
        ({"model": "wan2.5-i2v-preview", "input": {"prompt": "no image"}}, 400, "InvalidParameter"),
        ({"model": "nope", "input": {"prompt": "x"}}, 400, "InvalidParameter"),
    ],
)  # fmt: skip
def test_bad_input_is_dashscope_error(api, wan, sim, body, status, code):
    response = create(api, body)
    assert response.status_code == status, response.content
    error = response.json()
    assert set(error) == {"request_id", "code", "message"} and error["code"] == code and error["message"]
    assert not VideoTask.objects.exists() and not sim.calls("POST")


def test_async_header_required_on_api_v1(api, wan):
    body = {"model": "wanx2.1-t2v-turbo", "input": {"prompt": "x"}}
    response = create(api, body, asynchronous=False)
    assert response.status_code == 403 and response.json()["code"] == "AccessDenied"
    bailian = "/alibailian/api/v1/services/aigc/video-generation/video-synthesis"
    refused = api.post(bailian, body, format="json", HTTP_X_DASHSCOPE_ASYNC="disable")
    assert refused.status_code == 403
    assert not VideoTask.objects.exists()


def test_insufficient_balance_is_arrearage(api, wan, tenant):
    tenant.__class__.objects.filter(pk=tenant.pk).update(balance=1)
    response = create(api, {"model": "wanx2.1-t2v-turbo", "input": {"prompt": "x"}})
    assert response.status_code == 400 and response.json()["code"] == "Arrearage"


# --- the official SDK against a live gateway ---------------------------------------------------


@pytest.fixture
def sdk(live_server, key, monkeypatch):
    monkeypatch.setattr(dashscope, "base_http_api_url", f"{live_server.url}/api/v1")
    monkeypatch.setattr(dashscope, "api_key", key.plaintext)
    return live_server


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("poller")
def test_sdk_async_call_fetch_wait(sdk, wan, sim, tenant):
    created = VideoSynthesis.async_call(model="wanx2.1-t2v-turbo", prompt="a cat", size="1280*720", seed=7)
    assert created.status_code == 200, (created.code, created.message)
    assert created.output.task_id.startswith("video_") and created.output.task_status == "PENDING"
    sent = sim.calls("POST")[-1].json()
    assert sent["input"] == {"prompt": "a cat"}  # extend_prompt and function stay with us
    assert sent["parameters"] == {"duration": 5, "size": "1280*720", "seed": 7}
    fetched = VideoSynthesis.fetch(created)
    assert fetched.status_code == 200 and fetched.output.task_id == created.output.task_id
    done = VideoSynthesis.wait(created, wait_timeout=30)  # a broken gateway fails, not hangs
    assert done.status_code == 200 and done.output.task_status == "SUCCEEDED"
    assert done.usage.video_count == 1 and done.usage.video_duration == 5
    assert httpx.get(done.output.video_url).content == sample_video_bytes(5)
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD - 5 * PRICE


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("poller")
def test_sdk_call_image_to_video_and_kf2v(sdk, wan, sim):
    done = VideoSynthesis.call(
        model="wan2.5-i2v-preview", prompt="x", img_url="https://x.test/a.png", duration=10, wait_timeout=30
    )
    assert done.status_code == 200 and done.output.task_status == "SUCCEEDED", (done.code, done.message)
    kf2v = VideoSynthesis.call(
        model="wan2.2-kf2v-flash",
        first_frame_url="https://x.test/a.png",
        last_frame_url="https://x.test/b.png",
        wait_timeout=30,
    )
    assert kf2v.output.task_status == "SUCCEEDED"
    assert sim.calls("POST")[-1].path == "/api/v1/services/aigc/image2video/video-synthesis"


@pytest.mark.django_db(transaction=True)
def test_sdk_sees_errors_and_unknown_tasks(sdk, wan):
    bad = VideoSynthesis.async_call(model="wanx2.1-t2v-turbo", prompt="x", duration=10)
    assert bad.status_code == 400 and bad.code == "InvalidParameter" and bad.message
    unknown = VideoSynthesis.fetch("video_missing")
    assert unknown.status_code == 200 and unknown.output.task_status == "UNKNOWN"
    assert VideoSynthesis.wait("video_missing", wait_timeout=30).output.task_status == "UNKNOWN"
    denied = VideoSynthesis.async_call(model="wanx2.1-t2v-turbo", prompt="x", api_key="sk-wrong")
    assert denied.status_code == 401 and denied.code == "InvalidApiKey"


@pytest.mark.django_db(transaction=True)
def test_sdk_cancel_pending_and_refused_once_running(sdk, wan, sim, tenant):
    created = VideoSynthesis.async_call(model="wanx2.1-t2v-turbo", prompt="a cat", size="1280*720")
    cancelled = VideoSynthesis.cancel(created)
    assert cancelled.status_code == 200, (cancelled.code, cancelled.message)
    assert sim.calls("POST", "/cancel")[-1].path.endswith("/cancel")
    assert VideoSynthesis.fetch(created).output.task_status == "CANCELED"
    assert VideoSynthesis.wait(created, wait_timeout=30).output.task_status == "CANCELED"  # wait() ends on it
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD and ledger_sum(tenant) == tenant.balance

    sim.script = ["RUNNING"]
    running = VideoSynthesis.async_call(model="wanx2.1-t2v-turbo", prompt="a dog", size="1280*720")
    drive(VideoTask.objects.get(public_id=running.output.task_id), times=1)
    refused = VideoSynthesis.cancel(running)
    assert (refused.status_code, refused.code) == (400, "UnsupportedOperation")
    assert VideoSynthesis.fetch(running).output.task_status == "RUNNING"
