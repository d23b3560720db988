"""``POST /v1/videos/edits`` and ``/v1/videos/extensions`` (the routes of the official ``openai`` SDK's
``videos.edit`` and ``videos.extend``) on one of the caller's own videos, through a live gateway. The
request goes to the channel that made the source, with the source's model; what cannot be done is
refused before anything is held, in OpenAI's error shape.

The SDK (3.57) cannot send ``video={"id": ...}`` through ``videos.edit``/``videos.extend`` (it raises
before sending: it expects a file there), and vendors fetch clips by URL, so an uploaded video is
refused; SDK users call the route with ``client.post`` (README), as here."""

import openai
import pytest
from openai import OpenAI
from openai.types import Video

from channels.canonical import EDIT, EXTEND
from tests.helpers import USD, drive, ledger_sum, task_of
from videos.models import VideoTask

pytestmark = pytest.mark.django_db(transaction=True)

PRICE = 10_000  # units per second of sandbox-video and kling-v1


@pytest.fixture
def sdk(live_server, key):
    return OpenAI(base_url=f"{live_server.url}/v1", api_key=key.plaintext, max_retries=0)


def extend(sdk, **body):
    return sdk.post("/videos/extensions", body=body, cast_to=Video)


def edit(sdk, **body):
    return sdk.post("/videos/edits", body=body, cast_to=Video)


def assert_spent(tenant, units):
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD - units and ledger_sum(tenant) == tenant.balance


def test_sdk_extend_continues_the_video_on_its_channel_and_bills_it(sdk, source, tenant):
    spent = source.amount_charged
    video = extend(sdk, video={"id": source.public_id}, prompt="and then it rains", seconds="8")
    assert video.status == "queued" and video.model == "sandbox-video" and video.seconds == "8"
    task = VideoTask.objects.get(public_id=video.id)
    assert task.mode == EXTEND and task.params["first_clip"] == {"video_id": source.public_id}
    assert task.channel_id == source.channel_id
    task = drive(task)
    assert task.status == VideoTask.Status.COMPLETED
    assert_spent(tenant, spent + 8 * PRICE)


def test_sdk_edit_makes_a_new_video_from_the_source(sdk, source, tenant):
    video = edit(sdk, video={"id": source.public_id}, prompt="make it night")
    task = VideoTask.objects.get(public_id=video.id)
    assert task.mode == EDIT and task.params["video"] == {"video_id": source.public_id}
    assert task.model == source.model and task.prompt == "make it night"


def test_multipart_video_id_as_the_sdk_would_send_it(api, source):
    form = {"video[id]": source.public_id, "prompt": "on", "seconds": "5", "metadata": '{"negative_prompt": "x"}'}
    task = task_of(api.post("/v1/videos/extensions", form, format="multipart"))
    assert task.mode == EXTEND and task.params["first_clip"] == {"video_id": source.public_id}
    assert task.params["negative_prompt"] == "x"


def test_json_bodies_and_extra_fields_work_too(api, source):
    response = api.post(
        "/v1/videos/extensions",
        {"video": {"id": source.public_id}, "prompt": "on", "seconds": "5", "metadata": {"negative_prompt": "blur"}},
        format="json",
    )
    task = task_of(response)
    assert task.mode == EXTEND and task.params["negative_prompt"] == "blur"
    task = task_of(api.post("/v1/videos/edits", {"video": source.public_id, "prompt": "night"}, format="json"))
    assert task.mode == EDIT


def test_refusals_come_before_the_hold_in_openais_shape(sdk, api, other_api, source, tenant):
    spent = source.amount_charged
    with pytest.raises(openai.NotFoundError) as missing:
        extend(sdk, video={"id": "video_doesnotexist000"}, prompt="on", seconds="4")
    assert missing.value.code == "video_not_found" and missing.value.param == "video"
    with pytest.raises(openai.BadRequestError) as upload:
        sdk.videos.edit(video=("clip.mp4", b"\x00\x00\x00\x18ftypmp42", "video/mp4"), prompt="night")
    assert upload.value.code == "unsupported_parameter"
    with pytest.raises(openai.BadRequestError) as unknown:
        edit(sdk, video={"id": source.public_id}, prompt="night", strength=0.5)
    assert unknown.value.code == "unknown_parameter" and unknown.value.param == "strength"
    response = api.post("/v1/videos/edits", {"prompt": "night"}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "missing_video"
    # Another tenant's video does not exist for this key.
    response = other_api.post("/v1/videos/edits", {"video": source.public_id, "prompt": "x"}, format="json")
    assert response.status_code == 404 and response.json()["error"]["code"] == "video_not_found"
    assert VideoTask.objects.count() == 1
    assert_spent(tenant, spent)


def test_a_model_that_cannot_extend_refuses(api, source, tenant, sora):
    spent = source.amount_charged
    response = api.post(
        "/v1/videos/extensions", {"video": source.public_id, "prompt": "on", "model": "sora-2"}, format="json"
    )
    assert response.status_code == 400, response.content
    assert VideoTask.objects.count() == 1
    assert_spent(tenant, spent)


def test_sdk_extend_of_a_kling_video_is_klings_video_extend(sdk, api, kling, tenant):
    source = drive(task_of(api.post("/v1/videos", {"model": "kling-v1", "prompt": "a cat"}, format="json")))
    assert source.status == VideoTask.Status.COMPLETED
    video = extend(sdk, video={"id": source.public_id}, prompt="it jumps", seconds="5")
    sent = kling.simulator.calls("POST", "/v1/videos/video-extend")[-1].json()
    assert sent["video_id"] == source.vendor_state["vendor_video_id"] and sent["prompt"] == "it jumps"
    task = drive(VideoTask.objects.get(public_id=video.id))
    assert task.status == VideoTask.Status.COMPLETED
    assert_spent(tenant, source.amount_charged + 5 * PRICE)
    # Kling adds about 5 s: another length is refused, naming seconds.
    with pytest.raises(openai.BadRequestError) as bad:
        extend(sdk, video={"id": source.public_id}, prompt="it jumps", seconds="8")
    assert bad.value.param == "seconds"
