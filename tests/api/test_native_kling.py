"""Kling native routes (/kling/v1/videos/...) against the Kling simulator."""

import time

import httpx
import pytest
from rest_framework.test import APIClient

from channels.adaptors.samples import sample_video_bytes
from channels.models import Channel, Price
from tests.helpers import USD, client_for, drive, ledger_sum
from tests.simulators.kling import KlingSimulator
from videos.models import VideoTask

pytestmark = pytest.mark.django_db

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
PRICE = 10_000  # per second; 1080p (mode pro) costs double


@pytest.fixture
def sim():
    with KlingSimulator(access_key="ak_test", secret_key="sk_test") as simulator:
        yield simulator


@pytest.fixture
def kling(sim):
    channel = Channel(
        name="kling-main",
        vendor="kling",
        base_url=sim.url,
        served_models=["kling-v1-6", "kling-v1", "kling-cheap"],
        model_mapping={"kling-cheap": "kling-v1"},
    )
    channel.credentials = "ak_test|sk_test"
    channel.save()
    for model in ("kling-v1-6", "kling-v1", "kling-cheap"):
        Price.objects.create(model=model, per_second=PRICE, resolution_multipliers={"1080p": "2"})
    return channel


def create(api, body, action="text2video"):
    return api.post(f"/kling/v1/videos/{action}", body, format="json")


def test_text2video_completes_in_kling_shape(api, kling, sim, tenant):
    before = int(time.time() * 1000)
    response = create(api, {"model_name": "kling-v1-6", "prompt": "a cat", "duration": "5", "cfg_scale": 0.5})
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"code", "message", "request_id", "data"}
    assert (body["code"], body["message"]) == (0, "SUCCEED") and len(body["request_id"]) == 36
    data = body["data"]
    assert set(data) == {"task_id", "task_status", "task_status_msg", "task_info", "created_at", "updated_at"}
    assert data["task_id"].startswith("video_") and data["task_status"] == "submitted"
    assert data["task_info"] == {"external_task_id": ""}
    assert before <= data["created_at"] <= data["updated_at"] <= int(time.time() * 1000)  # milliseconds
    sent = sim.calls("POST")[-1].json()
    assert sent["cfg_scale"] == 0.5 and sent["model_name"] == "kling-v1-6" and sent["duration"] == "5"
    task = VideoTask.objects.get(public_id=data["task_id"])
    assert task.route == "kling" and task.channel == kling and task.amount_held == 5 * PRICE
    assert data["task_id"] != task.vendor_task_id

    drive(task)
    query = api.get(f"/kling/v1/videos/text2video/{data['task_id']}").json()
    assert query["code"] == 0
    done = query["data"]
    assert done["task_status"] == "succeed" and done["task_status_msg"] == ""
    assert done["updated_at"] >= done["created_at"]
    [video] = done["task_result"]["videos"]
    assert set(video) == {"id", "url", "duration"}
    assert video["id"] == data["task_id"] and video["duration"] == "5.1"
    assert sim.url not in video["url"] and "token=" in video["url"]
    download = APIClient().get(video["url"])
    assert download.status_code == 200 and b"".join(download.streaming_content) == sample_video_bytes(5)
    # the same task everywhere
    assert api.get(f"/v1/videos/{data['task_id']}").json()["status"] == "completed"
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD - 5 * PRICE and ledger_sum(tenant) == tenant.balance


def test_image2video_passes_native_fields(api, kling, sim):
    image = "https://example.com/first.png"
    body = {
        "model_name": "kling-v1-6",
        "image": image,
        "image_tail": "https://example.com/last.png",
        "mode": "pro",
        "duration": "10",
        "external_task_id": "mine-1",
    }
    response = create(api, body, "image2video")
    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert data["task_info"] == {"external_task_id": "mine-1"}
    sent = sim.calls("POST", "image2video")[-1].json()
    assert sent["image"] == image and sent["image_tail"] == "https://example.com/last.png"
    assert (sent["mode"], sent["duration"]) == ("pro", "10")
    # Kling is sent our task id as its external id (a timed-out create can be found again); the
    # client's own is kept with the task and shown back, as above
    assert sent["external_task_id"] == data["task_id"]
    task = VideoTask.objects.get(public_id=data["task_id"])
    assert task.mode == "first_last" and task.amount_held == 10 * PRICE * 2
    # the query path family must match, as at Kling
    wrong = api.get(f"/kling/v1/videos/text2video/{data['task_id']}")
    assert wrong.status_code == 404 and wrong.json()["code"] == 1203
    assert api.get(f"/kling/v1/videos/image2video/{data['task_id']}").json()["data"]["task_status"] == "submitted"


def test_camera_control_and_base64_image(api, kling, sim):
    import base64

    camera = {"type": "simple", "config": {"zoom": 5}}
    raw = base64.b64encode(PNG).decode()
    response = create(api, {"model_name": "kling-v1-6", "image": raw, "camera_control": camera}, "image2video")
    assert response.status_code == 200, response.content
    sent = sim.calls("POST", "image2video")[-1].json()
    assert sent["camera_control"] == camera and sent["image"] == raw


def test_model_mapping_and_default_model(api, kling, sim):
    assert create(api, {"model_name": "kling-cheap", "prompt": "x"}).status_code == 200
    assert sim.calls("POST")[-1].json()["model_name"] == "kling-v1"
    assert VideoTask.objects.get().model == "kling-cheap"
    assert create(api, {"prompt": "no model"}).status_code == 200
    assert VideoTask.objects.first().model == "kling-v1"


def test_billing_matches_unified_route(api, kling):
    native = create(api, {"model_name": "kling-v1-6", "prompt": "x", "duration": "10", "mode": "pro"})
    unified = api.post(
        "/v1/video/generations",
        {"model": "kling-v1-6", "prompt": "x", "duration": 10, "metadata": {"mode": "pro"}},
        format="json",
    )
    assert native.status_code == 200 and unified.status_code == 201
    a = VideoTask.objects.get(public_id=native.json()["data"]["task_id"])
    b = VideoTask.objects.get(public_id=unified.json()["id"])
    assert a.amount_held == b.amount_held == 10 * PRICE * 2
    drive(a)
    drive(b)
    a.refresh_from_db()
    b.refresh_from_db()
    assert a.amount_charged == b.amount_charged > 0


def test_seed_form_with_metadata_and_size(api, kling, sim):
    """new-api's documented form of the route: model, numeric duration, width/height, metadata."""
    body = {
        "model": "kling-v1-6",
        "prompt": "a fox",
        "duration": 5,
        "width": 1920,
        "height": 1080,
        "metadata": {"negative_prompt": "blur", "cfg_scale": 0.3},
    }
    response = create(api, body)
    assert response.status_code == 200, response.content
    sent = sim.calls("POST")[-1].json()
    assert (sent["mode"], sent["negative_prompt"], sent["cfg_scale"]) == ("pro", "blur", 0.3)
    assert sent["aspect_ratio"] == "16:9"


def test_failure_refunds_and_reports_failed(api, kling, sim, tenant):
    sim.script = ["processing", "failed"]
    task_id = create(api, {"model_name": "kling-v1-6", "prompt": "x"}).json()["data"]["task_id"]
    drive(VideoTask.objects.get(public_id=task_id))
    data = api.get(f"/kling/v1/videos/text2video/{task_id}").json()["data"]
    assert data["task_status"] == "failed" and "risk control" in data["task_status_msg"]
    assert "task_result" not in data
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD and ledger_sum(tenant) == tenant.balance


def test_list_pages_by_family(api, kling):
    ids = [create(api, {"model_name": "kling-v1-6", "prompt": f"p{i}"}).json()["data"]["task_id"] for i in range(3)]
    create(api, {"model_name": "kling-v1-6", "image": "https://example.com/a.png"}, "image2video")
    page = api.get("/kling/v1/videos/text2video?pageNum=1&pageSize=2").json()
    assert page["code"] == 0 and [t["task_id"] for t in page["data"]] == ids[::-1][:2]
    second = api.get("/kling/v1/videos/text2video?pageNum=2&pageSize=2").json()["data"]
    assert [t["task_id"] for t in second] == ids[:1]
    assert len(api.get("/kling/v1/videos/image2video").json()["data"]) == 1
    bad = api.get("/kling/v1/videos/text2video?pageSize=501")
    assert bad.status_code == 400 and bad.json()["code"] == 1201


def test_other_tenant_gets_kling_not_found(api, other_api, kling):
    task_id = create(api, {"model_name": "kling-v1-6", "prompt": "x"}).json()["data"]["task_id"]
    response = other_api.get(f"/kling/v1/videos/text2video/{task_id}")
    assert response.status_code == 404
    body = response.json()
    assert body["code"] == 1203 and body["data"] is None and body["request_id"]
    assert other_api.get("/kling/v1/videos/text2video").json()["data"] == []


@pytest.mark.parametrize(
    ("authorization", "code", "message"),
    [
        (None, 1001, "No API key: send 'Authorization: Bearer sk-...'."),
        ("Bearer sk-nope", 1002, "Incorrect API key provided."),
        ("Basic abc", 1002, "Send the key as 'Authorization: Bearer sk-...'."),
    ],
)
def test_bad_key_is_401_in_kling_shape(api, kling, tenant, authorization, code, message):
    task_id = create(api, {"model_name": "kling-v1-6", "prompt": "x"}).json()["data"]["task_id"]
    client = APIClient()
    if authorization:
        client.credentials(HTTP_AUTHORIZATION=authorization)
    for response in (
        create(client, {"model_name": "kling-v1-6", "prompt": "x"}),
        create(client, {"model_name": "kling-v1-6", "prompt": "x", "image": "https://x.test/a.png"}, "image2video"),
        client.get(f"/kling/v1/videos/text2video/{task_id}"),
        client.get("/kling/v1/videos/text2video"),
    ):
        assert response.status_code == 401
        body = response.json()
        assert (body["code"], body["message"], body["data"]) == (code, message, None) and body["request_id"]
        assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert list(VideoTask.objects.values_list("public_id", flat=True)) == [task_id]
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD - 5 * PRICE  # only the keyed task holds money


@pytest.mark.parametrize(
    ("action", "body", "code"),
    [
        ("text2video", {"model_name": "kling-v1-6", "prompt": "x", "duration": "7"}, 1201),
        ("text2video", {"model_name": "kling-v1-6", "prompt": "x", "mode": "ultra"}, 1201),
        ("text2video", {"model_name": "kling-v1-6", "image": "https://example.com/a.png"}, 1201),
        ("image2video", {"model_name": "kling-v1-6", "prompt": "no image"}, 1201),
        ("text2video", {"model_name": "kling-v1-6", "model": "kling-v1", "prompt": "x"}, 1201),
        ("text2video", {"model_name": "kling-v1-6", "prompt": "x", "n": 2}, 1201),
        ("text2video", {"model_name": "kling-v1-6", "prompt": "x", "callback_url": "https://x.test"}, 1201),
        ("text2video", {"model_name": "kling-v9", "prompt": "x"}, 1203),
    ],
)
def test_bad_input_is_kling_error(api, kling, action, body, code):
    response = create(api, body, action)
    assert response.status_code == (404 if code == 1203 else 400), response.content
    error = response.json()
    assert error["code"] == code and error["message"] and error["data"] is None
    assert not VideoTask.objects.exists()


def test_metadata_cannot_smuggle_a_model(api, kling, sim):
    response = create(api, {"model_name": "kling-v1", "prompt": "x", "metadata": {"model_name": "kling-v2-master"}})
    assert response.status_code == 400 and response.json()["code"] == 1201
    assert not sim.calls("POST")


def test_insufficient_balance_is_kling_arrears(kling, tenant):
    from accounts import services as money

    poor = money.issue_key(tenant, name="poor")[1]
    tenant.__class__.objects.filter(pk=tenant.pk).update(balance=10)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {poor}")
    response = create(client, {"model_name": "kling-v1-6", "prompt": "x"})
    assert response.status_code == 429 and response.json()["code"] == 1102


def test_model_not_allowed_is_1103(kling, tenant):
    from accounts import services as money

    api_key, plaintext = money.issue_key(tenant, name="limited")
    api_key.allowed_models = ["other"]
    api_key.save()
    api_key.plaintext = plaintext
    response = create(client_for(api_key), {"model_name": "kling-v1-6", "prompt": "x"})
    assert response.status_code == 403 and response.json()["code"] == 1103


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("poller")
def test_raw_http_client_completes(live_server, key, kling):
    """A plain HTTP client as Kling's docs describe it: create, poll until succeed, download."""
    headers = {"Authorization": f"Bearer {key.plaintext}", "Content-Type": "application/json"}
    base = f"{live_server.url}/kling"
    created = httpx.post(
        f"{base}/v1/videos/text2video", headers=headers, json={"model_name": "kling-v1-6", "prompt": "a cat"}
    )
    assert created.status_code == 200 and created.json()["code"] == 0
    task_id = created.json()["data"]["task_id"]
    for _ in range(100):
        data = httpx.get(f"{base}/v1/videos/text2video/{task_id}", headers=headers).json()["data"]
        if data["task_status"] in ("succeed", "failed"):
            break
        time.sleep(0.1)
    assert data["task_status"] == "succeed"
    video = httpx.get(data["task_result"]["videos"][0]["url"])  # no key: the link is signed
    assert video.status_code == 200 and video.content == sample_video_bytes(5)


def test_idempotency_key_replays_the_first_task(api, kling, sim, tenant):
    body = {"model_name": "kling-v1", "prompt": "a fox", "duration": "5"}
    first = api.post("/kling/v1/videos/text2video", body, format="json", HTTP_IDEMPOTENCY_KEY="fox-1")
    again = api.post("/kling/v1/videos/text2video", body, format="json", HTTP_IDEMPOTENCY_KEY="fox-1")
    assert first.json()["data"]["task_id"] == again.json()["data"]["task_id"]
    assert len(sim.calls("POST", "/v1/videos/text2video")) == 1
    assert tenant.ledger.filter(kind="hold").count() == 1
