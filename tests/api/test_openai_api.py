"""The OpenAI Videos dialect: /v1/videos, with the sandbox and the Sora simulator."""

import io
import json

import pytest
from rest_framework.test import APIClient

from channels.adaptors.samples import sample_video_bytes
from channels.models import Channel
from tests.helpers import USD, drive, ledger_sum
from videos.models import VideoTask

pytestmark = pytest.mark.django_db

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def create(api, **fields):
    return api.post("/v1/videos", fields, format="json")


def test_create_json_returns_video_object_and_holds(api, sandbox, tenant):
    response = create(api, model="sandbox-video", prompt="a cat", seconds="5")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"].startswith("video_")
    assert body["object"] == "video"
    assert body["model"] == "sandbox-video"
    assert body["status"] == "queued"
    assert body["seconds"] == "5"
    assert set(body) >= {
        "id",
        "object",
        "model",
        "status",
        "progress",
        "created_at",
        "completed_at",
        "expires_at",
        "size",
        "seconds",
        "prompt",
        "remixed_from_video_id",
        "error",
    }
    assert response["openai-poll-after-ms"] == "2000"
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD - 50_000
    assert ledger_sum(tenant) == tenant.balance


def test_multipart_with_uploaded_reference_and_metadata_string(api, sora, tenant):
    upload = io.BytesIO(PNG)
    upload.name = "cat.png"
    response = api.post(
        "/v1/videos",
        {
            "model": "sora-2",
            "prompt": "a cat",
            "seconds": "8",
            "size": "1280x720",
            "input_reference": upload,
            "metadata": json.dumps({"user_tag": "x"}),
        },
        format="multipart",
    )
    assert response.status_code == 200, response.content
    task = VideoTask.objects.get(public_id=response.json()["id"])
    assert task.mode == "image"
    assert task.amount_held == 8 * 100_000
    sent = sora.simulator.calls("POST", "/v1/videos")[-1]
    assert sent.headers["content-type"].startswith("multipart/form-data")
    assert b"user_tag" in sent.body and PNG in sent.body


def test_defaults_are_sora_4_seconds_720x1280(api, sora):
    response = create(api, prompt="a cat")
    body = response.json()
    assert response.status_code == 200, body
    assert (body["model"], body["seconds"], body["size"]) == ("sora-2", "4", "720x1280")
    sent = sora.simulator.calls("POST", "/v1/videos")[-1].json()
    assert sent == {"model": "sora-2", "prompt": "a cat", "seconds": "4", "size": "720x1280"}


def test_a_create_without_model_takes_the_operators_default(api, sandbox, sora, settings):
    settings.GATEWAY_DEFAULT_VIDEO_MODEL = "sandbox-video"
    response = create(api, prompt="a cat")
    assert response.status_code == 200, response.content
    assert response.json()["model"] == "sandbox-video" and sora.simulator.calls("POST") == []


@pytest.mark.parametrize(
    ("default", "code", "words"),
    [("", "missing_model", "no default video model"), ("sora-3", "model_not_found", "default model 'sora-3'")],
)
def test_no_usable_default_model_is_a_400_naming_model(api, sora, tenant, settings, default, code, words):
    settings.GATEWAY_DEFAULT_VIDEO_MODEL = default
    for path in ("/v1/videos", "/v1/videos/quote"):
        response = api.post(path, {"prompt": "a cat"}, format="json")
        assert response.status_code == 400, response.content
        error = response.json()["error"]
        assert (error["param"], error["code"], error["type"]) == ("model", code, "invalid_request_error")
        assert words in error["message"] and "GET /v1/models" in error["message"]
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD and ledger_sum(tenant) == tenant.balance
    assert not VideoTask.objects.exists() and sora.simulator.calls("POST") == []
    # naming a model still works without a default
    assert create(api, model="sora-2", prompt="a cat").status_code == 200


def test_image_url_reference_is_sent_as_image_url(api, sora):
    response = api.post(
        "/v1/videos", {"prompt": "a cat", "input_reference": {"image_url": "https://x.test/a.png"}}, format="json"
    )
    assert response.status_code == 200, response.content
    sent = sora.simulator.calls("POST", "/v1/videos")[-1].json()
    assert sent["input_reference"] == {"image_url": "https://x.test/a.png"}


def test_full_life_to_content_and_capture(api, sandbox, tenant):
    video_id = create(api, model="sandbox-video", prompt="a cat", seconds="5").json()["id"]
    task = drive(VideoTask.objects.get(public_id=video_id))
    assert task.status == "completed"
    body = api.get(f"/v1/videos/{video_id}").json()
    assert body["status"] == "completed" and body["progress"] == 100
    assert body["completed_at"] and body["expires_at"]
    assert "openai-poll-after-ms" not in api.get(f"/v1/videos/{video_id}")
    content = api.get(f"/v1/videos/{video_id}/content")
    assert content.status_code == 200
    assert content["Content-Type"] == "video/mp4"
    data = b"".join(content.streaming_content)
    assert data == sample_video_bytes(5)
    assert content["Content-Length"] == str(len(data))
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD - 50_000
    assert task.amount_charged == 50_000
    assert ledger_sum(tenant) == tenant.balance


def test_content_range_and_head(api, sandbox):
    video_id = create(api, model="sandbox-video", prompt="a cat").json()["id"]
    drive(VideoTask.objects.get(public_id=video_id))
    whole = sample_video_bytes(5)
    partial = api.get(f"/v1/videos/{video_id}/content", HTTP_RANGE="bytes=10-19")
    assert partial.status_code == 206
    assert b"".join(partial.streaming_content) == whole[10:20]
    assert partial["Content-Range"] == f"bytes 10-19/{len(whole)}"
    suffix = api.get(f"/v1/videos/{video_id}/content", HTTP_RANGE="bytes=-5")
    assert b"".join(suffix.streaming_content) == whole[-5:]
    head = api.head(f"/v1/videos/{video_id}/content")
    assert head.status_code == 200 and head["Content-Length"] == str(len(whole)) and head.content == b""
    for outside in (f"bytes={len(whole) + 5}-", "bytes=5-2"):
        bad = api.get(f"/v1/videos/{video_id}/content", HTTP_RANGE=outside)
        assert bad.status_code == 416 and bad["Content-Range"] == f"bytes */{len(whole)}"
        assert bad.json()["error"]["code"] == "range_not_satisfiable"


def test_content_before_completion_is_404_in_openai_shape(api, sandbox):
    video_id = create(api, model="sandbox-video", prompt="a cat").json()["id"]
    response = api.get(f"/v1/videos/{video_id}/content")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "video_not_ready"


def test_sora_content_relayed_from_vendor_when_not_stored(api, sora, settings):
    video_id = create(api, prompt="a cat").json()["id"]
    task = drive(VideoTask.objects.get(public_id=video_id))
    assert task.status == "completed"
    task.result_file = ""
    task.save(update_fields=["result_file"])
    response = api.get(f"/v1/videos/{video_id}/content")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == sora.simulator.video_bytes
    # the gateway fetched with the channel's key, from the vendor's id
    fetched = sora.simulator.calls("GET", "/content")[-1]
    assert fetched.path == f"/v1/videos/{task.vendor_task_id}/content"
    assert fetched.headers["authorization"] == "Bearer sk-upstream-test"


def test_completed_video_is_stored_locally(api, sandbox, settings):
    video_id = create(api, model="sandbox-video", prompt="a cat").json()["id"]
    task = drive(VideoTask.objects.get(public_id=video_id))
    assert task.result_file == f"videos/{video_id}.mp4"
    assert (settings.MEDIA_ROOT / task.result_file).read_bytes() == sample_video_bytes(5)


def test_list_cursor_pagination(api, sandbox, other_api):
    ids = [create(api, model="sandbox-video", prompt=f"p{i}").json()["id"] for i in range(5)]
    create(other_api, model="sandbox-video", prompt="not mine")
    first = api.get("/v1/videos?limit=2").json()
    assert [v["id"] for v in first["data"]] == ids[::-1][:2]
    assert first["has_more"] is True and first["first_id"] == ids[4] and first["last_id"] == ids[3]
    second = api.get(f"/v1/videos?limit=2&after={first['last_id']}").json()
    assert [v["id"] for v in second["data"]] == [ids[2], ids[1]]
    third = api.get(f"/v1/videos?limit=2&after={second['last_id']}").json()
    assert [v["id"] for v in third["data"]] == [ids[0]] and third["has_more"] is False
    ascending = api.get("/v1/videos?order=asc&limit=10").json()
    assert [v["id"] for v in ascending["data"]] == ids


def test_list_query_count_is_constant(api, sandbox, django_assert_max_num_queries):
    for i in range(4):
        create(api, model="sandbox-video", prompt=f"p{i}")
    with django_assert_max_num_queries(4):
        assert len(api.get("/v1/videos?limit=10").json()["data"]) == 4


def test_delete_finished_video(api, sandbox):
    video_id = create(api, model="sandbox-video", prompt="a cat").json()["id"]
    drive(VideoTask.objects.get(public_id=video_id))
    response = api.delete(f"/v1/videos/{video_id}")
    assert response.json() == {"id": video_id, "object": "video.deleted", "deleted": True}
    assert api.get(f"/v1/videos/{video_id}").status_code == 404
    assert VideoTask.objects.filter(public_id=video_id).exists()  # history and ledger keep it


def test_delete_active_video_cancels_then_deletes_it(api, sandbox, tenant):
    Channel.objects.filter(pk=sandbox.pk).update(options={"delay": 3600})
    video_id = create(api, model="sandbox-video", prompt="a cat").json()["id"]
    response = api.delete(f"/v1/videos/{video_id}")  # it used to be 409 video_in_progress
    assert response.json() == {"id": video_id, "object": "video.deleted", "deleted": True}
    assert api.get(f"/v1/videos/{video_id}").status_code == 404
    task = VideoTask.objects.get(public_id=video_id)
    assert task.status == "cancelled" and task.deleted_at is not None
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD and ledger_sum(tenant) == tenant.balance


NOT_FOUND = {
    "error": {
        "message": "No video with that id exists for this key.",
        "type": "not_found_error",
        "param": None,
        "code": "not_found",
    }
}


def test_other_tenant_gets_404_everywhere(api, other_api, sandbox):
    video_id = create(api, model="sandbox-video", prompt="a cat").json()["id"]
    drive(VideoTask.objects.get(public_id=video_id))
    for response in (
        other_api.get(f"/v1/videos/{video_id}"),
        other_api.delete(f"/v1/videos/{video_id}"),
        other_api.get(f"/v1/videos/{video_id}/content"),
        other_api.post(f"/v1/videos/{video_id}/remix", {"prompt": "x"}, format="json"),
    ):
        assert response.status_code == 404
        assert response.json() == NOT_FOUND
    assert other_api.head(f"/v1/videos/{video_id}").status_code == 404
    assert other_api.head(f"/v1/videos/{video_id}/content").status_code == 404
    assert other_api.get(f"/v1/video/generations/{video_id}").status_code == 404
    assert other_api.get(f"/v1/videos?after={video_id}").status_code == 400
    assert other_api.get("/v1/videos").json()["data"] == []
    assert api.get(f"/v1/videos/{video_id}").json()["status"] == "completed"  # not deleted, not remixed
    assert VideoTask.objects.count() == 1


@pytest.mark.parametrize(
    ("authorization", "code", "message"),
    [
        (None, "missing_api_key", "No API key: send 'Authorization: Bearer sk-...'."),
        ("Bearer sk-nope", "invalid_api_key", "Incorrect API key provided."),
        ("Basic abc", "invalid_api_key", "Send the key as 'Authorization: Bearer sk-...'."),
    ],
)
def test_bad_key_is_401_in_openai_shape(api, sandbox, tenant, authorization, code, message):
    video_id = create(api, model="sandbox-video", prompt="a cat").json()["id"]
    drive(VideoTask.objects.get(public_id=video_id))
    client = APIClient()
    if authorization:
        client.credentials(HTTP_AUTHORIZATION=authorization)
    for response in (
        create(client, model="sandbox-video", prompt="a dog"),
        client.get("/v1/videos"),
        client.get(f"/v1/videos/{video_id}"),
        client.delete(f"/v1/videos/{video_id}"),
        client.get(f"/v1/videos/{video_id}/content"),
        client.post(f"/v1/videos/{video_id}/remix", {"prompt": "x"}, format="json"),
    ):
        assert response.status_code == 401
        assert response.json() == {
            "error": {"message": message, "type": "authentication_error", "param": None, "code": code}
        }
        assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert list(VideoTask.objects.values_list("public_id", "deleted_at")) == [(video_id, None)]
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD - 5 * 10_000  # only the keyed video was paid for


@pytest.mark.parametrize(
    ("fields", "param", "code"),
    [
        ({"model": "sandbox-video"}, "prompt", "missing_prompt"),
        ({"model": "sandbox-video", "prompt": "x", "seconds": "abc"}, "seconds", "invalid_seconds"),
        ({"model": "sandbox-video", "prompt": "x", "seconds": "7"}, "seconds", "invalid_seconds"),
        ({"model": "sandbox-video", "prompt": "x", "size": "huge"}, "size", "invalid_size"),
        ({"model": "sandbox-video", "prompt": "x", "metadata": "{not json"}, "metadata", "invalid_metadata"),
        ({"model": "nope", "prompt": "x"}, "model", "model_not_found"),
        ({"model": "sora-2", "prompt": "x", "seconds": "5"}, "seconds", "invalid_seconds"),
        ({"model": "sora-2", "prompt": "x", "size": "1792x1024"}, "size", "invalid_size"),
        (
            {"model": "sandbox-video", "prompt": "x", "input_reference": "not an image"},
            "input_reference",
            "invalid_request",
        ),
    ],
)
def test_bad_input_is_400_in_openai_shape(api, sandbox, sora, tenant, fields, param, code):
    response = create(api, **fields)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["param"], error["code"], error["type"]) == (param, code, "invalid_request_error")
    assert error["message"]
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD and not VideoTask.objects.exists()


def test_malformed_json_and_non_object_bodies_are_400(api, sandbox):
    response = api.post("/v1/videos", "{oops", content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_body"
    response = api.post("/v1/videos", "[1, 2]", content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_body"


def test_remix_sends_vendor_id_and_locks_channel(api, sora, tenant):
    source_id = create(api, prompt="a cat", seconds="8").json()["id"]
    source = drive(VideoTask.objects.get(public_id=source_id))
    response = api.post(f"/v1/videos/{source_id}/remix", {"prompt": "a dog"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["remixed_from_video_id"] == source_id and body["seconds"] == "8"
    remix_call = sora.simulator.calls("POST", "/remix")[-1]
    assert remix_call.path == f"/v1/videos/{source.vendor_task_id}/remix"
    assert remix_call.json() == {"prompt": "a dog"}
    remix = VideoTask.objects.get(public_id=body["id"])
    assert remix.channel_id == source.channel_id and remix.amount_held == 8 * 100_000
