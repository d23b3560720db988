"""Jimeng native route (/jimeng/?Action=...) against the Jimeng simulator."""

import base64
import re
import time

import httpx
import pytest
from rest_framework.test import APIClient

from channels.adaptors.samples import sample_video_bytes
from channels.models import Channel, Price
from tests.helpers import USD, drive, ledger_sum
from tests.simulators.jimeng import JimengSimulator
from videos.models import VideoTask

pytestmark = pytest.mark.django_db

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
PRICE = 10_000
SUBMIT = "/jimeng/?Action=CVSync2AsyncSubmitTask&Version=2022-08-31"
RESULT = "/jimeng/?Action=CVSync2AsyncGetResult&Version=2022-08-31"
ENVELOPE = {"code", "data", "message", "request_id", "status", "time_elapsed"}


@pytest.fixture
def sim():
    with JimengSimulator(access_key="AKLTsimulator", secret_key="c2ltdWxhdG9yLXNlY3JldA==") as simulator:
        yield simulator


@pytest.fixture
def jimeng(sim):
    models = ["jimeng_t2v_v30", "jimeng_i2v_first_v30", "jimeng_ti2v_v30_pro"]
    channel = Channel(name="jimeng", vendor="jimeng", base_url=sim.url, served_models=models)
    channel.credentials = "AKLTsimulator|c2ltdWxhdG9yLXNlY3JldA=="
    channel.save()
    for model in models:
        Price.objects.create(model=model, per_second=PRICE, resolution_multipliers={"1080p": "2"})
    return channel


def submit(client, body):
    return client.post(SUBMIT, body, format="json")


def result(client, task_id, req_key="jimeng_t2v_v30"):
    return client.post(RESULT, {"req_key": req_key, "task_id": task_id}, format="json")


def test_submit_and_get_result_in_volcengine_shape(api, jimeng, sim, tenant):
    body = {"req_key": "jimeng_t2v_v30", "prompt": "a cat", "frames": 241, "aspect_ratio": "9:16", "seed": 3}
    response = submit(api, body)
    assert response.status_code == 200, response.content
    created = response.json()
    assert set(created) == ENVELOPE
    assert (created["code"], created["status"], created["message"]) == (10000, 10000, "Success")
    assert re.match(r"^\d{14}[0-9A-F]{20}$", created["request_id"]) and created["time_elapsed"].endswith("ms")
    task_id = created["data"]["task_id"]
    assert created["data"] == {"task_id": task_id} and task_id.startswith("video_")
    sent = sim.calls("POST")[-1].json()
    assert sent == {"req_key": "jimeng_t2v_v30", "seed": 3, "frames": 241, "prompt": "a cat", "aspect_ratio": "9:16"}
    task = VideoTask.objects.get(public_id=task_id)
    assert task.route == "jimeng" and task.seconds == 10 and task.amount_held == 10 * PRICE
    assert task.vendor_task_id != task_id

    queued = result(api, task_id).json()
    assert set(queued) == ENVELOPE and queued["data"] == {"status": "in_queue", "video_url": ""}
    drive(task)
    done = result(api, task_id)
    assert done.status_code == 200
    data = done.json()["data"]
    assert data["status"] == "done" and sim.url not in data["video_url"] and "token=" in data["video_url"]
    download = APIClient().get(data["video_url"])
    assert b"".join(download.streaming_content) == sample_video_bytes(5)
    assert api.get(f"/v1/videos/{task_id}").json()["status"] == "completed"
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD - 10 * PRICE and ledger_sum(tenant) == tenant.balance


def test_images_as_base64_and_urls(api, jimeng, sim):
    blob = base64.b64encode(PNG).decode()
    response = submit(api, {"req_key": "jimeng_i2v_first_v30", "binary_data_base64": [blob], "prompt": "move"})
    assert response.status_code == 200, response.content
    assert sim.calls("POST")[-1].json()["binary_data_base64"] == [blob]
    response = submit(api, {"req_key": "jimeng_ti2v_v30_pro", "image_urls": ["https://x.test/a.png"]})
    assert response.status_code == 200, response.content
    assert sim.calls("POST")[-1].json()["image_urls"] == ["https://x.test/a.png"]
    task = VideoTask.objects.get(public_id=response.json()["data"]["task_id"])
    assert task.mode == "image" and task.resolution == "1080p"


def test_billing_matches_unified_route(api, jimeng):
    native = submit(api, {"req_key": "jimeng_ti2v_v30_pro", "prompt": "x", "frames": 121})
    unified = api.post("/v1/video/generations", {"model": "jimeng_ti2v_v30_pro", "prompt": "x"}, format="json")
    a = VideoTask.objects.get(public_id=native.json()["data"]["task_id"])
    b = VideoTask.objects.get(public_id=unified.json()["id"])
    assert a.amount_held == b.amount_held == 5 * PRICE * 2
    drive(a)
    drive(b)
    a.refresh_from_db()
    b.refresh_from_db()
    assert a.amount_charged == b.amount_charged == a.amount_held


def test_failure_is_done_with_an_error_code_and_refunds(api, jimeng, sim, tenant):
    sim.script = ["generating", "fail:50511"]
    task_id = submit(api, {"req_key": "jimeng_t2v_v30", "prompt": "x"}).json()["data"]["task_id"]
    drive(VideoTask.objects.get(public_id=task_id))
    response = result(api, task_id)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == body["status"] == 50511 and body["data"] == {"status": "done", "video_url": ""}
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD and ledger_sum(tenant) == tenant.balance


def test_unknown_other_tenant_and_wrong_req_key_are_not_found(api, other_api, jimeng):
    task_id = submit(api, {"req_key": "jimeng_t2v_v30", "prompt": "x"}).json()["data"]["task_id"]
    for client, wanted, req_key in (
        (other_api, task_id, "jimeng_t2v_v30"),
        (api, "video_nope", "jimeng_t2v_v30"),
        (api, task_id, "jimeng_ti2v_v30_pro"),  # Jimeng wants the submit's req_key
    ):
        response = result(client, wanted, req_key)
        assert response.status_code == 200
        assert response.json()["code"] == 10000
        assert response.json()["data"] == {"status": "not_found", "video_url": ""}


@pytest.mark.parametrize(
    "query",
    ["", "?Version=2022-08-31", "?Action=CVSync2AsyncNope&Version=2022-08-31", "?Action=CVSync2AsyncGetResult"],
)
def test_missing_or_unknown_action_is_400(api, jimeng, query):
    response = api.post(f"/jimeng/{query}", {"req_key": "jimeng_t2v_v30", "prompt": "x"}, format="json")
    assert response.status_code == 400
    error = response.json()["ResponseMetadata"]["Error"]
    assert error["Code"] == "InvalidActionOrVersion" and error["Message"]
    assert not VideoTask.objects.exists()


@pytest.mark.parametrize(
    ("authorization", "code", "message"),
    [
        (None, "MissingAuthenticationToken", "No API key: send 'Authorization: Bearer sk-...'."),
        ("Bearer sk-nope", "InvalidAccessKey", "Incorrect API key provided."),
        ("Basic abc", "InvalidAccessKey", "Send the key as 'Authorization: Bearer sk-...'."),
    ],
)
def test_bad_key_is_401_in_volcengine_shape(api, jimeng, tenant, authorization, code, message):
    task_id = submit(api, {"req_key": "jimeng_t2v_v30", "prompt": "x"}).json()["data"]["task_id"]
    client = APIClient()
    if authorization:
        client.credentials(HTTP_AUTHORIZATION=authorization)
    for action, response in (
        ("CVSync2AsyncSubmitTask", submit(client, {"req_key": "jimeng_t2v_v30", "prompt": "x"})),
        ("CVSync2AsyncGetResult", result(client, task_id)),
    ):
        assert response.status_code == 401
        metadata = response.json()["ResponseMetadata"]
        assert metadata["Error"] == {"Code": code, "Message": message}
        assert (metadata["Action"], metadata["Version"], metadata["Service"], metadata["Region"]) == (
            action, "2022-08-31", "cv", "cn-north-1"
        )  # fmt: skip
        assert metadata["RequestId"]
        assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert list(VideoTask.objects.values_list("public_id", flat=True)) == [task_id]
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD - 5 * PRICE  # only the keyed task holds money


@pytest.mark.parametrize(
    ("body", "code", "status"),
    [
        ({"prompt": "x"}, 50205, 400),
        ({"req_key": "jimeng_t2v_v30", "prompt": "x", "frames": 100}, 50205, 400),
        ({"req_key": "jimeng_t2v_v30", "prompt": "x", "frames": 73}, 50205, 400),
        ({"req_key": "jimeng_t2v_v30"}, 50205, 400),
        ({"req_key": "jimeng_t2v_v30", "prompt": "x", "image_urls": ["https://x.test/a.png"] * 3}, 50205, 400),
        ({"req_key": "jimeng_t2v_v30", "prompt": "x", "model": "jimeng_ti2v_v30_pro"}, 50205, 400),
        ({"req_key": "jimeng_unknown", "prompt": "x"}, 50205, 400),
    ],
)
def test_bad_input_is_a_jimeng_business_error(api, jimeng, sim, body, code, status):
    response = submit(api, body)
    assert response.status_code == status, response.content
    error = response.json()
    assert set(error) == ENVELOPE and error["code"] == error["status"] == code and error["data"] is None
    assert not VideoTask.objects.exists() and not sim.calls("POST")


def test_insufficient_balance(api, jimeng, tenant):
    tenant.__class__.objects.filter(pk=tenant.pk).update(balance=1)
    response = submit(api, {"req_key": "jimeng_t2v_v30", "prompt": "x"})
    assert response.status_code == 403 and response.json()["code"] == 50403


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("poller")
def test_jimeng_client_completes(live_server, key, jimeng):
    """A client of new-api's Jimeng route: submit, then GetResult until done, then download."""
    headers = {"Authorization": f"Bearer {key.plaintext}"}
    created = httpx.post(live_server.url + SUBMIT, headers=headers, json={"req_key": "jimeng_t2v_v30", "prompt": "x"})
    assert created.json()["code"] == 10000
    task_id = created.json()["data"]["task_id"]
    for _ in range(100):
        answer = httpx.post(
            live_server.url + RESULT, headers=headers, json={"req_key": "jimeng_t2v_v30", "task_id": task_id}
        )
        if answer.json()["data"]["status"] == "done":
            break
        time.sleep(0.1)
    assert answer.json()["code"] == 10000
    assert httpx.get(answer.json()["data"]["video_url"]).content == sample_video_bytes(5)
