"""Idempotency-Key: a retried create returns the first task; nothing is held or submitted twice."""

import threading

import pytest
from django.db import connection

from tests.helpers import USD, client_for
from videos.models import VideoTask

pytestmark = pytest.mark.django_db


def create(api, key, **fields):
    body = {"model": "sandbox-video", "prompt": "a cat", **fields}
    return api.post("/v1/videos", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_same_key_same_request_returns_the_first_task(api, sandbox, tenant):
    first = create(api, "retry-1")
    second = create(api, "retry-1")
    assert first.status_code == second.status_code == 200
    assert first.json()["id"] == second.json()["id"]
    assert VideoTask.objects.count() == 1
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD - 50_000
    assert create(api, "retry-2").json()["id"] != first.json()["id"]


def test_same_key_different_request_is_409(api, sandbox):
    create(api, "k")
    response = create(api, "k", prompt="a dog")
    assert response.status_code == 409 and response.json()["error"]["code"] == "idempotency_key_reused"


def test_keys_are_per_api_key(api, other_api, sandbox):
    assert create(api, "shared").json()["id"] != create(other_api, "shared").json()["id"]


def test_failed_submit_frees_the_key_for_a_retry(api, sora):
    sora.simulator.fail_next(503, {"error": {"message": "down"}}, path_contains="/v1/videos")
    body = {"prompt": "x"}
    assert api.post("/v1/videos", body, format="json", HTTP_IDEMPOTENCY_KEY="again").status_code == 503
    retry = api.post("/v1/videos", body, format="json", HTTP_IDEMPOTENCY_KEY="again")
    assert retry.status_code == 200 and retry.json()["status"] == "queued"


def test_unified_route_honours_the_key(api, sandbox):
    body = {"model": "sandbox-video", "prompt": "x"}
    first = api.post("/v1/video/generations", body, format="json", HTTP_IDEMPOTENCY_KEY="u1").json()
    again = api.post("/v1/video/generations", body, format="json", HTTP_IDEMPOTENCY_KEY="u1").json()
    assert first["task_id"] == again["task_id"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_retries_with_one_key_make_one_task(sandbox, key, tenant):
    if connection.vendor != "postgresql":
        pytest.skip("parallel inserts are proven on PostgreSQL (set DATABASE_URL)")
    ids, in_progress, barrier = [], [], threading.Barrier(10)

    def one():
        client = client_for(key)
        barrier.wait()
        response = create(client, "race")
        if response.status_code == 409:  # came while the first was still being submitted: never shown as queued
            assert response.json()["error"]["code"] == "idempotency_request_in_progress"
            assert int(response["Retry-After"]) >= 1
            in_progress.append(response)
        else:
            ids.append(response.json()["id"])
        connection.close()

    threads = [threading.Thread(target=one) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ids) + len(in_progress) == 10 and len(set(ids)) == 1
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD - 50_000
    assert tenant.ledger.filter(kind="hold").count() == 1
