"""Vidu native reference2video with ``subjects`` and the Q3 models (/vidu/ent/v2/...), against the
Vidu simulator, billed exactly."""

import pytest
from rest_framework.test import APIClient

from channels.models import Channel, Price
from tests.helpers import USD, drive, ledger_sum
from tests.simulators.vidu import ViduSimulator
from videos.models import VideoTask

pytestmark = pytest.mark.django_db

PRICE = 10_000
A, B, C = "https://x.test/a.png", "https://x.test/b.png", "https://x.test/c.png"
MODELS = ["viduq3", "viduq3-turbo", "viduq3-pro", "vidu1.5"]


@pytest.fixture
def sim():
    with ViduSimulator(api_key="vda_test") as simulator:
        yield simulator


@pytest.fixture
def vidu(sim):
    channel = Channel(name="vidu", vendor="vidu", base_url=sim.url, served_models=MODELS)
    channel.credentials = "vda_test"
    channel.save()
    for model in MODELS:
        Price.objects.create(model=model, per_second=PRICE, resolution_multipliers={"1080p": "2"})
    return channel


@pytest.fixture
def token_api(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key.plaintext}")
    return client


def create(client, endpoint, body):
    return client.post(f"/vidu/ent/v2/{endpoint}", body, format="json")


def test_subjects_complete_and_are_billed_exactly(token_api, vidu, sim, tenant):
    subjects = [
        {"id": "cat", "images": [A, C], "voice_id": "voice-1"},
        {"id": "dog", "images": [B]},
    ]
    body = {"model": "viduq3", "prompt": "@cat and @dog", "subjects": subjects, "duration": 6, "audio": False}
    response = create(token_api, "reference2video", body)
    assert response.status_code == 200, response.content
    created = response.json()
    assert created["subjects"] == subjects and "images" not in created and created["audio"] is False
    upstream = sim.calls("POST")[-1]
    assert upstream.path == "/ent/v2/reference2video"
    assert upstream.json()["subjects"] == subjects and upstream.json()["audio"] is False
    assert "images" not in upstream.json() and "subject_voices" not in upstream.json()
    task = VideoTask.objects.get(public_id=created["task_id"])
    assert task.mode == "reference" and task.amount_held == 6 * PRICE
    drive(task)
    assert token_api.get(f"/vidu/ent/v2/tasks/{task.public_id}/creations").json()["state"] == "success"
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD - 6 * PRICE and ledger_sum(tenant) == tenant.balance


def test_q3_turbo_flat_images_and_q3_pro_text(token_api, vidu, sim, tenant):
    response = create(token_api, "reference2video", {"model": "viduq3-turbo", "prompt": "x", "images": [A, B]})
    assert response.status_code == 200, response.content
    assert sim.calls("POST")[-1].json()["images"] == [A, B] and response.json()["images"] == [A, B]
    body = {"model": "viduq3-pro", "prompt": "x", "duration": 16, "resolution": "1080p", "audio": True}
    response = create(token_api, "text2video", body)
    assert response.status_code == 200, response.content
    assert sim.calls("POST")[-1].json()["audio"] is True
    for task in VideoTask.objects.all():
        drive(task)
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD - 5 * PRICE - 16 * PRICE * 2 and ledger_sum(tenant) == tenant.balance


@pytest.mark.parametrize(
    ("endpoint", "body", "reason"),
    [
        ("reference2video", {"subjects": [{"id": "a", "images": [A]}], "images": [A]}, "FieldUnwanted"),
        ("text2video", {"subjects": [{"id": "a", "images": [A]}]}, "FieldUnwanted"),
        ("reference2video", {"subjects": []}, "FieldItemCountOutOfRange"),
        (
            "reference2video",
            {"subjects": [{"id": str(i), "images": [A]} for i in range(8)]},
            "FieldItemCountOutOfRange",
        ),
        ("reference2video", {"subjects": [{"id": "a", "images": [A, B, C, A]}]}, "FieldItemCountOutOfRange"),
        ("reference2video", {"subjects": [{"id": "a", "images": []}]}, "FieldItemCountOutOfRange"),
        (
            "reference2video",
            {"subjects": [{"id": str(i), "images": [A, B]} for i in range(4)]},
            "FieldItemCountOutOfRange",
        ),
        ("reference2video", {"subjects": [{"images": [A]}]}, "FieldLacking"),
        ("reference2video", {"subjects": [{"id": "a", "images": [A]}, {"id": "a", "images": [B]}]}, "FieldInvalid"),
        ("reference2video", {"subjects": [{"id": "a", "images": [A], "voice_id": 7}]}, "FieldInvalid"),
        ("reference2video", {"model": "vidu1.5", "subjects": [{"id": "a", "images": [A]}]}, "FieldInvalid"),
        ("reference2video", {"model": "viduq3-pro", "images": [A]}, "FieldInvalid"),
        ("text2video", {"model": "viduq3"}, "FieldInvalid"),
        ("reference2video", {"images": [A], "duration": 2}, "FieldInvalid"),
        ("reference2video", {"model": "vidu1.5", "images": [A], "duration": 4, "audio": True}, "FieldInvalid"),
    ],
)
def test_bad_subjects_are_refused_before_any_money_moves(token_api, vidu, sim, tenant, endpoint, body, reason):
    rows = tenant.ledger.count()
    response = create(token_api, endpoint, {"model": "viduq3", "prompt": "x", **body})
    assert response.status_code == 400, response.content
    error = response.json()
    assert (error["code"], error["reason"]) == (400, reason), error
    assert not VideoTask.objects.exists() and not sim.calls("POST")
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD and tenant.ledger.count() == rows
