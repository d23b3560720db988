"""The unified (new-api) dialect: /v1/video/generations."""

import base64

import pytest
from rest_framework.test import APIClient

from channels.adaptors.samples import sample_video_bytes
from tests.helpers import USD, drive
from videos.models import VideoTask

pytestmark = pytest.mark.django_db

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def post(api, **body):
    return api.post("/v1/video/generations", body, format="json")


def test_create_and_query(api, sandbox):
    response = post(
        api,
        model="sandbox-video",
        prompt="a cat",
        duration=5,
        width=1280,
        height=720,
        fps=24,
        seed=42,
        metadata={"style": "anime"},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"id", "object", "model", "created_at", "task_id", "status"}
    assert body["object"] == "video" and body["id"] == body["task_id"] and body["status"] == "queued"
    task = VideoTask.objects.get(public_id=body["id"])
    assert task.route == "unified" and task.params["extra"] == {"style": "anime"}
    assert task.resolution == "720p"

    query = api.get(f"/v1/video/generations/{body['task_id']}").json()
    assert query["status"] == "queued" and query["url"] is None and query["error"] is None
    drive(task)
    query = api.get(f"/v1/video/generations/{body['task_id']}").json()
    assert query["status"] == "completed" and query["progress"] == 100 and query["format"] == "mp4"
    assert f"/v1/videos/{body['task_id']}/content?token=" in query["url"]
    # the link downloads without a key (native SDKs fetch video_url bare) ...
    anonymous = APIClient()
    download = anonymous.get(query["url"])
    assert download.status_code == 200 and b"".join(download.streaming_content) == sample_video_bytes(5)
    # ... but only for that video, and not once tampered with
    other = post(api, model="sandbox-video", prompt="b").json()["task_id"]
    token = query["url"].split("token=")[1]
    assert anonymous.get(f"/v1/videos/{other}/content?token={token}").status_code == 403
    assert anonymous.get(query["url"][:-2] + "xx").status_code == 403
    assert query["metadata"] == {"duration": 5, "fps": 24, "width": 1280, "height": 720, "seed": 42}
    # the same task through the OpenAI dialect
    assert api.get(f"/v1/videos/{body['task_id']}").json()["status"] == "completed"


def test_image_as_base64_and_size(api, sandbox):
    image = base64.b64encode(PNG).decode()
    response = post(api, model="sandbox-video", prompt="a cat", image=image, size="1920x1080")
    assert response.status_code == 201, response.content
    task = VideoTask.objects.get()
    assert task.mode == "image" and task.params["image"] == f"<image/png, {len(PNG)} bytes>"
    assert task.params["size"] == "1920x1080" and task.resolution == "1080p"


def test_metadata_lifts_generic_fields(api, sandbox):
    response = post(
        api,
        model="sandbox-video",
        prompt="a cat",
        metadata={
            "duration": 10,
            "negative_prompt": "blur",
            "image_tail": "https://x.test/b.png",
            "image": "https://x.test/a.png",
            "camera": "pan",
        },
    )
    assert response.status_code == 201, response.content
    task = VideoTask.objects.get()
    assert task.seconds == 10 and task.mode == "first_last"
    assert task.params["negative_prompt"] == "blur" and task.params["extra"] == {"camera": "pan"}


def test_failed_task_reports_error(api, sandbox):
    task_id = post(api, model="sandbox-fail", prompt="x").json()["task_id"]
    drive(VideoTask.objects.get(public_id=task_id))
    body = api.get(f"/v1/video/generations/{task_id}").json()
    assert body["status"] == "failed"
    assert body["error"]["code"] == "vendor_failed" and body["error"]["message"]


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"prompt": "x"}, "model", "missing_model"),
        ({"model": "sandbox-video"}, "prompt", "missing_prompt"),
        ({"model": "sandbox-video", "prompt": "x", "n": 2}, "n", "invalid_n"),
        ({"model": "sandbox-video", "prompt": "x", "duration": "five"}, "duration", "invalid_seconds"),
        ({"model": "sandbox-video", "prompt": "x", "width": 1280}, "height", "invalid_request"),
        ({"model": "sandbox-video", "prompt": "x", "metadata": [1]}, "metadata", "invalid_metadata"),
        (
            {"model": "sandbox-video", "prompt": "x", "duration": 5, "metadata": {"duration": 10}},
            "metadata.duration",
            "conflicting_parameters",
        ),
        ({"model": "sandbox-video", "prompt": "x", "image": "%%%"}, "image", "invalid_request"),
    ],
)
def test_bad_input_is_400_in_unified_shape(api, sandbox, body, param, code):
    response = post(api, **body)
    assert response.status_code == 400, response.content
    error = response.json()
    assert set(error) == {"code", "message", "param", "type"}
    assert (error["param"], error["code"], error["type"]) == (param, code, "invalid_request_error")
    assert not VideoTask.objects.exists()


NOT_FOUND = {
    "code": "not_found",
    "message": "No video with that id exists for this key.",
    "param": None,
    "type": "not_found_error",
}


def test_unknown_task_is_404_in_unified_shape(api, sandbox):
    response = api.get("/v1/video/generations/video_doesnotexist")
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


def test_other_tenant_task_is_404_in_unified_shape(api, other_api, sandbox):
    task_id = post(api, model="sandbox-video", prompt="a cat").json()["task_id"]
    drive(VideoTask.objects.get(public_id=task_id))
    response = other_api.get(f"/v1/video/generations/{task_id}")
    assert response.status_code == 404
    assert response.json() == NOT_FOUND
    assert api.get(f"/v1/video/generations/{task_id}").json()["status"] == "completed"  # still its owner's


@pytest.mark.parametrize(
    ("authorization", "code", "message"),
    [
        (None, "missing_api_key", "No API key: send 'Authorization: Bearer sk-...'."),
        ("Bearer sk-nope", "invalid_api_key", "Incorrect API key provided."),
        ("Basic abc", "invalid_api_key", "Send the key as 'Authorization: Bearer sk-...'."),
    ],
)
def test_bad_key_is_401_in_unified_shape(api, sandbox, tenant, authorization, code, message):
    task_id = post(api, model="sandbox-video", prompt="a cat").json()["task_id"]
    client = APIClient()
    if authorization:
        client.credentials(HTTP_AUTHORIZATION=authorization)
    created = post(client, model="sandbox-video", prompt="a dog")
    queried = client.get(f"/v1/video/generations/{task_id}")
    for response in (created, queried):
        assert response.status_code == 401
        assert response.json() == {"code": code, "message": message, "param": None, "type": "authentication_error"}
        assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert list(VideoTask.objects.values_list("public_id", flat=True)) == [task_id]
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD - 5 * 10_000  # only the keyed task holds money
