"""A suspended tenant (issue 13): every API call of its keys is refused with 403 ``tenant_suspended``
in the dialect's own error shape, before anything is parsed, held or created; reads of its existing
tasks and their content too (accounts/auth.py says why). Resuming restores the keys as they were."""

import pytest

from accounts.models import Tenant
from tests.helpers import make_task, submit
from videos.models import VideoTask

pytestmark = pytest.mark.django_db

JIMENG = "/jimeng/?Action=CVSync2AsyncSubmitTask&Version=2022-08-31"
JIMENG_RESULT = "/jimeng/?Action=CVSync2AsyncGetResult&Version=2022-08-31"


def _openai(body):
    assert body["error"]["code"] == "tenant_suspended" and body["error"]["type"] == "permission_error"
    return body["error"]["message"]


def _unified(body):
    assert body["code"] == "tenant_suspended" and body["type"] == "permission_error"
    return body["message"]


def _kling(body):
    assert body["code"] == 1103 and body["data"] is None and body["request_id"]
    return body["message"]


def _jimeng(body):
    assert body["code"] == 50400 and body["data"] is None
    return body["message"]


def _dashscope(body):
    assert body["code"] == "AccessDenied" and body["request_id"]
    return body["message"]


def _vidu(body):
    assert body["code"] == 403 and body["reason"] == "Forbidden"
    return body["message"]


# (dialect, create request, how its error reads)
CREATES = [
    ("openai", ("/v1/videos", {"model": "sandbox-video", "prompt": "a cat", "seconds": "4"}), _openai),
    ("unified", ("/v1/video/generations", {"model": "sandbox-video", "prompt": "a cat", "duration": 4}), _unified),
    ("kling", ("/kling/v1/videos/text2video", {"model_name": "kling-v2-6", "prompt": "a cat"}), _kling),
    ("jimeng", (JIMENG, {"req_key": "jimeng_t2v_v30", "prompt": "a cat"}), _jimeng),
    (
        "dashscope",
        (
            "/api/v1/services/aigc/video-generation/video-synthesis",
            {"model": "wan2.5-t2v-preview", "input": {"prompt": "a cat"}},
        ),
        _dashscope,
    ),
    ("vidu", ("/vidu/ent/v2/text2video", {"model": "viduq2", "prompt": "a cat"}), _vidu),
]


def _reads(task):
    """A status read of ``task`` per dialect: (method, path, body, how its error reads)."""
    task_id = task.public_id
    return [
        ("get", f"/v1/videos/{task_id}", None, _openai),
        ("get", f"/v1/videos/{task_id}/content", None, _openai),
        ("get", "/v1/videos", None, _openai),
        ("get", "/v1/models", None, _openai),
        ("get", f"/v1/video/generations/{task_id}", None, _unified),
        ("get", f"/kling/v1/videos/text2video/{task_id}", None, _kling),
        ("post", JIMENG_RESULT, {"req_key": task.model, "task_id": task_id}, _jimeng),
        ("get", f"/api/v1/tasks/{task_id}", None, _dashscope),
        ("get", f"/vidu/ent/v2/tasks/{task_id}/creations", None, _vidu),
    ]


def suspend(tenant):
    Tenant.objects.filter(pk=tenant.pk).update(is_active=False)


@pytest.mark.parametrize(("dialect", "request_", "reads"), CREATES, ids=[create[0] for create in CREATES])
def test_a_create_is_refused_before_any_hold(api, tenant, sandbox, dialect, request_, reads):
    suspend(tenant)
    path, body = request_
    response = api.post(path, body, format="json", HTTP_X_DASHSCOPE_ASYNC="enable")
    assert response.status_code == 403, response.content
    assert "suspended" in reads(response.json())
    assert "WWW-Authenticate" not in response  # the key is right: not an authentication failure
    tenant.refresh_from_db()
    assert tenant.balance == 10_000_000 and tenant.ledger.count() == 1  # the opening top-up only: no hold
    assert not VideoTask.objects.exists()


def test_every_read_of_an_existing_task_is_refused(api, tenant, key):
    completed = {"status": "completed", "progress": 100, "result_file": "videos/x.mp4", "result_bytes": 10}
    reads = {}
    for route in VideoTask.Route.values:
        task = make_task(tenant, api_key=key, route=route, seconds=4, params={"size": "1280x720"}, **completed)
        reads[route] = task
    suspend(tenant)
    for route, task in reads.items():
        for method, path, body, shape in _reads(task):
            if route != VideoTask.Route.OPENAI and path.startswith("/v1/videos"):
                continue
            response = getattr(api, method)(path, body, format="json") if body else getattr(api, method)(path)
            assert response.status_code == 403, (route, path, response.content)
            assert "suspended" in shape(response.json()), (route, path)


def test_resuming_restores_the_keys(api, tenant, sandbox):
    suspend(tenant)
    assert api.post("/v1/videos", {"model": "sandbox-video", "prompt": "x"}, format="json").status_code == 403
    Tenant.objects.filter(pk=tenant.pk).update(is_active=True)
    task = submit(api)  # the same key, nothing to re-issue
    assert task.tenant_id == tenant.pk and task.amount_held > 0


def test_another_tenants_keys_are_not_affected(api, other_api, tenant, sandbox):
    suspend(tenant)
    assert api.get("/v1/videos").status_code == 403
    assert other_api.get("/v1/videos").status_code == 200
