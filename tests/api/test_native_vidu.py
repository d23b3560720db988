"""Vidu native routes (/vidu/ent/v2/...) against the Vidu simulator."""

import pytest
from rest_framework.test import APIClient

from channels.adaptors.samples import sample_video_bytes
from channels.models import Channel, Price
from tests.helpers import USD, drive, ledger_sum
from tests.simulators.vidu import ViduSimulator
from videos.models import VideoTask

pytestmark = pytest.mark.django_db

PRICE = 10_000
A, B = "https://x.test/a.png", "https://x.test/b.png"


@pytest.fixture
def sim():
    with ViduSimulator(api_key="vda_test") as simulator:
        yield simulator


@pytest.fixture
def vidu(sim):
    channel = Channel(name="vidu", vendor="vidu", base_url=sim.url, served_models=["viduq1", "vidu2.0", "viduq2"])
    channel.credentials = "vda_test"
    channel.save()
    for model in ("viduq1", "vidu2.0", "viduq2"):
        Price.objects.create(model=model, per_second=PRICE, resolution_multipliers={"1080p": "2"})
    return channel


@pytest.fixture
def token_api(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key.plaintext}")
    return client


def create(client, endpoint, body):
    return client.post(f"/vidu/ent/v2/{endpoint}", body, format="json")


def test_text2video_with_token_auth_completes(token_api, api, vidu, sim, tenant):
    body = {"model": "viduq1", "prompt": "a cat", "style": "anime", "payload": "mine", "bgm": True, "seed": 9}
    response = create(token_api, "text2video", body)
    assert response.status_code == 200, response.content
    created = response.json()
    assert created["task_id"].startswith("video_") and created["state"] == "created"
    assert (created["model"], created["prompt"], created["duration"], created["resolution"]) == (
        "viduq1", "a cat", 5, "1080p"
    )  # fmt: skip
    assert (created["style"], created["payload"], created["bgm"], created["seed"]) == ("anime", "mine", True, 9)
    assert created["images"] == [] and created["aspect_ratio"] == "16:9" and created["created_at"].endswith("Z")
    sent = sim.calls("POST")[-1].json()
    assert (sent["style"], sent["payload"], sent["bgm"]) == ("anime", "mine", True)
    task = VideoTask.objects.get(public_id=created["task_id"])
    assert task.route == "vidu" and task.amount_held == 5 * PRICE * 2 and task.vendor_task_id != task.public_id

    pending = token_api.get(f"/vidu/ent/v2/tasks/{task.public_id}/creations").json()
    assert pending["state"] == "queueing" and pending["creations"] == []
    drive(task)
    done = token_api.get(f"/vidu/ent/v2/tasks/{task.public_id}/creations").json()
    assert set(done) == {"id", "state", "err_code", "payload", "bgm", "off_peak", "creations"}
    assert (done["id"], done["state"], done["err_code"], done["payload"]) == (task.public_id, "success", "", "mine")
    [creation] = done["creations"]
    assert set(creation) == {"id", "url", "cover_url", "watermarked_url"}
    assert sim.url not in creation["url"] and "token=" in creation["url"]
    assert b"".join(APIClient().get(creation["url"]).streaming_content) == sample_video_bytes(5)
    assert api.get(f"/v1/videos/{task.public_id}").json()["status"] == "completed"  # Bearer works too
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD - 10 * PRICE and ledger_sum(tenant) == tenant.balance


@pytest.mark.parametrize(
    ("endpoint", "images", "mode"),
    [("img2video", [A], "image"), ("start-end2video", [A, B], "first_last"), ("reference2video", [A], "reference")],
)
def test_each_endpoint_reaches_the_same_upstream_endpoint(token_api, vidu, sim, endpoint, images, mode):
    response = create(token_api, endpoint, {"model": "vidu2.0", "prompt": "x", "images": images, "duration": 8})
    assert response.status_code == 200, response.content
    sent = sim.calls("POST")[-1]
    assert sent.path == f"/ent/v2/{endpoint}" and sent.json()["images"] == images
    assert VideoTask.objects.get().mode == mode and response.json()["images"] == images


def test_billing_matches_unified_route(api, vidu):
    native = create(api, "text2video", {"model": "viduq2", "prompt": "x", "duration": 8, "resolution": "1080p"})
    unified = api.post(
        "/v1/video/generations",
        {"model": "viduq2", "prompt": "x", "duration": 8, "metadata": {"resolution": "1080p"}},
        format="json",
    )
    a = VideoTask.objects.get(public_id=native.json()["task_id"])
    b = VideoTask.objects.get(public_id=unified.json()["id"])
    assert a.amount_held == b.amount_held == 8 * PRICE * 2


def test_failure_refunds(token_api, vidu, sim, tenant):
    sim.script = ["processing", "failed"]
    task_id = create(token_api, "text2video", {"model": "viduq1", "prompt": "x"}).json()["task_id"]
    drive(VideoTask.objects.get(public_id=task_id))
    done = token_api.get(f"/vidu/ent/v2/tasks/{task_id}/creations").json()
    assert done["state"] == "failed" and done["err_code"] == "CreationPolicyViolation" and done["creations"] == []
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD and ledger_sum(tenant) == tenant.balance


def test_other_tenant_gets_task_not_found(token_api, other_api, vidu):
    task_id = create(token_api, "text2video", {"model": "viduq1", "prompt": "x"}).json()["task_id"]
    response = other_api.get(f"/vidu/ent/v2/tasks/{task_id}/creations")
    assert response.status_code == 404
    body = response.json()
    assert (body["code"], body["reason"]) == (404, "TaskNotFound") and body["metadata"]["trace_id"]
    assert body["message"] == "No video with that id exists for this key."
    assert token_api.get(f"/vidu/ent/v2/tasks/{task_id}/creations").status_code == 200


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (None, "No API key: send 'Authorization: Bearer sk-...'."),
        ("Token sk-nope", "Incorrect API key provided."),
        ("Basic x", "Send the key as 'Authorization: Bearer sk-...'."),
    ],
)
def test_bad_key_is_401_unauthorized(token_api, vidu, tenant, authorization, message):
    task_id = create(token_api, "text2video", {"model": "viduq1", "prompt": "x"}).json()["task_id"]
    client = APIClient()
    if authorization:
        client.credentials(HTTP_AUTHORIZATION=authorization)
    for response in (
        create(client, "text2video", {"model": "viduq1", "prompt": "x"}),
        create(client, "img2video", {"model": "viduq1", "prompt": "x", "images": [A]}),
        client.get(f"/vidu/ent/v2/tasks/{task_id}/creations"),
    ):
        assert response.status_code == 401
        body = response.json()
        assert (body["code"], body["reason"], body["message"]) == (401, "Unauthorized", message)
        assert body["metadata"]["trace_id"]
        assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert list(VideoTask.objects.values_list("public_id", flat=True)) == [task_id]
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD - 5 * PRICE * 2  # only the keyed task holds money (1080p costs double)


@pytest.mark.parametrize(
    ("endpoint", "body", "reason"),
    [
        ("text2video", {"prompt": "x"}, "FieldLacking"),
        ("text2video", {"model": "viduq1"}, "FieldLacking"),
        ("text2video", {"model": "viduq1", "prompt": "x", "images": [A]}, "FieldUnwanted"),
        ("img2video", {"model": "viduq1", "images": [A, B]}, "FieldItemCountOutOfRange"),
        ("start-end2video", {"model": "viduq1", "images": [A]}, "FieldItemCountOutOfRange"),
        ("text2video", {"model": "viduq1", "prompt": "x", "duration": 8}, "FieldInvalid"),
        ("text2video", {"model": "vidu2.0", "prompt": "x", "duration": 8, "resolution": "1080p"}, "FieldInvalid"),
        ("text2video", {"model": "viduq1", "prompt": "x", "callback_url": "https://x.test"}, "FieldInvalid"),
        ("text2video", {"model": "nope", "prompt": "x"}, "ModelUnavailable"),
    ],
)
def test_bad_input_is_a_vidu_error(token_api, vidu, sim, endpoint, body, reason):
    response = create(token_api, endpoint, body)
    assert response.status_code == 400, response.content
    error = response.json()
    assert set(error) == {"code", "reason", "message", "metadata"}
    assert (error["code"], error["reason"]) == (400, reason)
    assert not VideoTask.objects.exists() and not sim.calls("POST")


def test_insufficient_balance_is_credit_insufficient(token_api, vidu, tenant):
    tenant.__class__.objects.filter(pk=tenant.pk).update(balance=1)
    response = create(token_api, "text2video", {"model": "viduq1", "prompt": "x"})
    assert response.status_code == 400 and response.json()["reason"] == "CreditInsufficient"


def test_a_model_only_another_vendor_serves_is_a_client_error_not_an_outage(token_api, vidu, sandbox, tenant):
    """Found by schemathesis: the Vidu route asked for a model only the sandbox serves said 503
    "every channel is disabled"; it is the client's mistake, refused before any money moves."""
    response = token_api.post("/vidu/ent/v2/text2video", {"model": "sandbox-video", "prompt": "x"}, format="json")
    assert response.status_code == 400, response.content
    assert "not served on this vendor's route" in response.json()["message"]
    assert not VideoTask.objects.exists()
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD
