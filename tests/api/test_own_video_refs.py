"""A clip to continue (``first_clip``) or to edit (``video``) may name one of the caller's own videos
by its id: the gateway resolves it to the vendor's copy and sends the request to the channel that
made it. What cannot be resolved is refused before anything is held, in each dialect's own shape.

The sandbox declares both inputs; the vendors' own handling is tested with each adaptor."""

import pytest

from channels.canonical import EDIT, EXTEND
from channels.models import Channel, Price
from tests.helpers import USD, drive, ledger_sum, make_task, submit
from videos.models import VideoTask

pytestmark = pytest.mark.django_db


def openai(api, **body):
    return api.post("/v1/videos", {"model": "sandbox-video", "prompt": "go on", "seconds": "5", **body}, format="json")


def unified(api, **body):
    return api.post("/v1/video/generations", {"model": "sandbox-video", "prompt": "go on", **body}, format="json")


def assert_nothing_moved(tenant, tasks_before):
    tenant.refresh_from_db()
    assert ledger_sum(tenant) == tenant.balance
    assert VideoTask.objects.count() == tasks_before


@pytest.mark.parametrize("field", ["first_clip", "video"])
@pytest.mark.parametrize("form", ["id", "object"])
def test_an_own_video_is_resolved_to_the_vendors_copy_on_its_channel(api, source, tenant, field, form):
    value = source.public_id if form == "id" else {"video_id": source.public_id}
    balance = VideoTask.objects.get(pk=source.pk).tenant.balance
    response = openai(api, **{field: value})
    assert response.status_code == 200, response.content
    task = VideoTask.objects.get(public_id=response.json()["id"])
    assert task.mode == (EXTEND if field == "first_clip" else EDIT)
    assert task.channel_id == source.channel_id
    assert task.params[field] == {"video_id": source.public_id}
    tenant.refresh_from_db()
    assert tenant.balance == balance - 5 * 10_000  # held like any 5 s sandbox video
    assert drive(task).status == VideoTask.Status.COMPLETED


def test_the_unified_dialect_and_metadata_take_an_own_video(api, source):
    response = unified(api, metadata={"first_clip": source.public_id})
    assert response.status_code == 201, response.content
    assert VideoTask.objects.get(public_id=response.json()["task_id"]).mode == EXTEND


def test_another_tenants_video_is_not_found(api, other_api, source, other_tenant):
    before = VideoTask.objects.count()
    for response, shape in (
        (
            other_api.post(
                "/v1/videos",
                {"model": "sandbox-video", "prompt": "x", "first_clip": source.public_id},
                format="json",
            ),
            "openai",
        ),
        (
            other_api.post(
                "/v1/video/generations",
                {"model": "sandbox-video", "prompt": "x", "video": source.public_id},
                format="json",
            ),
            "unified",
        ),
    ):
        assert response.status_code == 404, response.content
        body = response.json()
        error = body.get("error", body)  # the OpenAI shape, or the unified one
        assert error["code"] == "video_not_found", shape
        assert error["param"] in ("first_clip", "video")
    assert_nothing_moved(other_tenant, before)
    other_tenant.refresh_from_db()
    assert other_tenant.balance == 10 * USD


def test_an_unknown_id_is_not_found(api, sandbox, tenant):
    response = openai(api, first_clip="video_doesnotexist0000000000")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "video_not_found"
    assert_nothing_moved(tenant, 0)
    assert tenant.balance == 10 * USD


def test_a_video_still_being_made_cannot_be_continued(api, sandbox, tenant, key):
    running = make_task(tenant, api_key=key, channel=sandbox, status=VideoTask.Status.IN_PROGRESS)
    response = openai(api, first_clip=running.public_id)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("video_not_ready", "first_clip")
    assert_nothing_moved(tenant, 1)


def test_the_source_channel_disabled_is_a_503_not_another_channel(api, source, tenant):
    Channel.objects.filter(pk=source.channel_id).update(status=Channel.Status.DISABLED)
    Channel.objects.create(name="spare", vendor="sandbox", served_models=["sandbox-video"], options={"delay": 4})
    before = VideoTask.objects.count()
    tenant.refresh_from_db()
    balance = tenant.balance
    response = openai(api, first_clip=source.public_id)
    assert response.status_code == 503, response.content
    assert response.json()["error"]["code"] == "no_channel_available"
    assert_nothing_moved(tenant, before)
    assert tenant.balance == balance


def test_a_model_the_source_channel_does_not_serve_is_refused(api, source, tenant):
    other = Channel.objects.create(name="other", vendor="sandbox", served_models=["sandbox-two"], options={"delay": 4})
    Price.objects.create(model="sandbox-two", per_second=10_000)
    before = VideoTask.objects.count()
    response = api.post(
        "/v1/videos", {"model": "sandbox-two", "prompt": "x", "first_clip": source.public_id}, format="json"
    )
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("incompatible_source", "first_clip")
    assert other.pk != source.channel_id
    assert_nothing_moved(tenant, before)


def test_a_model_that_cannot_continue_refuses_before_resolving_money(api, sora, source, tenant):
    # Served by another channel entirely: the source's channel does not serve sora-2.
    before = VideoTask.objects.count()
    response = api.post("/v1/videos", {"model": "sora-2", "prompt": "x", "first_clip": source.public_id}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "first_clip"
    assert_nothing_moved(tenant, before)


@pytest.mark.parametrize("value", ["video_short", "task_123456789", 42, {"video_id": 7}])
def test_what_is_neither_a_url_nor_an_id_is_a_400(api, sandbox, tenant, value):
    response = openai(api, video=value)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["param"] == "video"
    assert_nothing_moved(tenant, 0)


def test_idempotency_tells_two_sources_apart(api, sandbox, tenant):
    first, second = drive(submit(api)), drive(submit(api))
    headers = {"HTTP_IDEMPOTENCY_KEY": "same-key"}
    body = {"model": "sandbox-video", "prompt": "go on", "seconds": "5"}
    assert api.post("/v1/videos", {**body, "first_clip": first.public_id}, format="json", **headers).status_code == 200
    reused = api.post("/v1/videos", {**body, "first_clip": second.public_id}, format="json", **headers)
    assert reused.status_code in (409, 422), reused.content
