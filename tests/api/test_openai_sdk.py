"""The official ``openai`` SDK against a live gateway, with the poller running beside it."""

import openai
import pytest
from openai import OpenAI
from openai.types import Video

from channels.adaptors.samples import sample_video_bytes
from channels.models import Channel
from tests.helpers import USD, ledger_sum
from videos.models import VideoTask

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fast_sandbox(sandbox):
    Channel.objects.filter(pk=sandbox.pk).update(options={"delay": 1})
    return sandbox


@pytest.fixture
def sdk(live_server, key):
    return OpenAI(base_url=f"{live_server.url}/v1", api_key=key.plaintext, max_retries=0)


def test_create_and_poll_download_and_bill(sdk, fast_sandbox, poller, tenant, tmp_path):
    video = sdk.videos.create_and_poll(model="sandbox-video", prompt="a lighthouse", seconds="5", poll_interval_ms=200)
    assert video.status == "completed" and video.progress == 100 and video.id.startswith("video_")
    content = sdk.videos.download_content(video.id)
    path = tmp_path / "out.mp4"
    content.write_to_file(path)
    data = path.read_bytes()
    assert data == sample_video_bytes(5) and data[4:8] == b"ftyp"
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD - 50_000 and ledger_sum(tenant) == tenant.balance

    assert sdk.videos.retrieve(video.id).seconds == "5"
    listed = [v.id for v in sdk.videos.list(limit=1)]  # auto-pagination walks every page
    assert listed == [video.id]
    deleted = sdk.videos.delete(video.id)
    assert deleted.deleted is True
    with pytest.raises(openai.NotFoundError):
        sdk.videos.retrieve(video.id)


def test_failed_video_leaves_balance_unchanged(sdk, fast_sandbox, poller, tenant):
    video = sdk.videos.create_and_poll(model="sandbox-fail", prompt="x", poll_interval_ms=200)
    assert video.status == "failed" and video.error.code == "vendor_failed"
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD and ledger_sum(tenant) == tenant.balance


def test_upload_reference_through_sdk(sdk, sora):
    png = bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )
    video = sdk.videos.create(
        model="sora-2", prompt="a cat", seconds="8", size="1280x720", input_reference=("cat.png", png, "image/png")
    )
    assert video.status == "queued" and video.seconds == "8" and video.size == "1280x720"
    sent = sora.simulator.calls("POST", "/v1/videos")[-1]
    assert png in sent.body


def test_sdk_errors_map_to_sdk_exceptions(sdk, live_server, fast_sandbox):
    with pytest.raises(openai.BadRequestError) as bad:
        sdk.videos.create(model="sandbox-video", prompt="x", seconds="7")
    assert bad.value.code == "invalid_seconds" and bad.value.param == "seconds"
    anonymous = OpenAI(base_url=f"{live_server.url}/v1", api_key="sk-nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        anonymous.videos.list()
    with pytest.raises(openai.NotFoundError):
        sdk.videos.retrieve("video_missing")


def test_poll_after_header_is_sent_while_running(sdk, fast_sandbox):
    raw = sdk.videos.with_raw_response.create(model="sandbox-video", prompt="x")
    assert raw.headers["openai-poll-after-ms"] == "2000"
    assert sdk.videos.retrieve(raw.parse().id).status == "queued"  # nothing polls in this test


def test_delete_cancels_an_active_video_and_cancel_is_a_post(sdk, sandbox, tenant):
    Channel.objects.filter(pk=sandbox.pk).update(options={"delay": 3600})  # stays running: nothing polls
    video = sdk.videos.create(model="sandbox-video", prompt="x", seconds="5")
    deleted = sdk.videos.delete(video.id)  # an active video: cancelled at the vendor, then deleted
    assert (deleted.id, deleted.deleted) == (video.id, True)
    task = VideoTask.objects.get(public_id=video.id)
    assert task.status == "cancelled" and task.deleted_at is not None
    with pytest.raises(openai.NotFoundError):
        sdk.videos.retrieve(video.id)
    assert not hasattr(sdk.videos, "cancel")  # the SDK has no cancel method: POST the route
    other = sdk.videos.create(model="sandbox-video", prompt="y", seconds="5")
    cancelled = sdk.post(f"/videos/{other.id}/cancel", cast_to=Video)
    assert (cancelled.id, cancelled.status, cancelled.error.code) == (other.id, "failed", "cancelled")
    assert sdk.videos.retrieve(other.id).status == "failed"
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD and ledger_sum(tenant) == tenant.balance


def test_cancel_where_the_vendor_cannot_is_a_conflict(sdk, sora, tenant):
    video = sdk.videos.create(model="sora-2", prompt="a cat", seconds="4")
    for attempt in (lambda: sdk.videos.delete(video.id), lambda: sdk.post(f"/videos/{video.id}/cancel", cast_to=Video)):
        with pytest.raises(openai.ConflictError) as refused:
            attempt()
        assert refused.value.code == "cancel_not_supported"
        assert refused.value.response.headers["x-should-retry"] == "false"  # the SDK would retry a 409
    assert sdk.videos.retrieve(video.id).status == "queued"
