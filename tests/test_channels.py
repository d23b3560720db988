"""Channel selection, failover, auto-disable, model mapping, credentials at rest."""

import random

import pytest

from accounts import crypto
from channels import services as channel_services
from channels.models import Channel, Price
from tests.helpers import USD, drive, ledger_sum
from tests.simulators.openai import OpenAISimulator
from videos.models import VideoTask

pytestmark = pytest.mark.django_db


def sora_channel(name, url, key="sk-upstream-test", priority=0, weight=1, models=("sora-2",), mapping=None):
    channel = Channel(
        name=name,
        vendor="openai",
        base_url=url,
        served_models=list(models),
        priority=priority,
        weight=weight,
        model_mapping=mapping or {},
    )
    channel.credentials = key
    channel.save()
    return channel


@pytest.fixture
def second_sim():
    with OpenAISimulator(api_key="sk-second") as simulator:
        yield simulator


def test_credentials_are_encrypted_at_rest(sora):
    row = Channel.objects.get(pk=sora.pk)
    assert "sk-upstream-test" not in row.credentials_encrypted
    assert row.credentials == "sk-upstream-test"
    with pytest.raises(crypto.CredentialsUnreadable):
        crypto.decrypt("not-a-token")


def test_priority_then_weight(db):
    high = sora_channel("high", "http://127.0.0.1:1", priority=10)
    heavy = sora_channel("heavy", "http://127.0.0.1:2", weight=9)
    light = sora_channel("light", "http://127.0.0.1:3", weight=1)
    sora_channel("other-model", "http://127.0.0.1:4", models=("sora-2-pro",))
    disabled = sora_channel("off", "http://127.0.0.1:5", priority=99)
    disabled.status = Channel.Status.DISABLED
    disabled.save()
    rng = random.Random(7)
    firsts_after_high = [channel_services.candidates("sora-2", rng)[1].name for _ in range(400)]
    for _ in range(5):
        assert channel_services.candidates("sora-2", rng)[0] == high
    assert {c.name for c in channel_services.candidates("sora-2", rng)} == {"high", "heavy", "light"}
    share = firsts_after_high.count("heavy") / len(firsts_after_high)
    assert 0.8 < share < 0.97  # weight 9 vs 1
    assert heavy.pk and light.pk


@pytest.mark.parametrize("failure", [(500, {"error": {"message": "down"}}), (429, {"error": {"message": "slow"}})])
def test_failover_to_next_channel(api, sora, second_sim, tenant, failure):
    sora.priority = 10
    sora.save()
    backup = sora_channel("backup", second_sim.url, key="sk-second")
    sora.simulator.fail_next(*failure, path_contains="/v1/videos")
    response = api.post("/v1/videos", {"prompt": "x"}, format="json")
    assert response.status_code == 200, response.content
    task = VideoTask.objects.get()
    assert task.channel == backup
    sora.refresh_from_db()
    assert sora.status == Channel.Status.ENABLED and sora.last_error and sora.last_error_at
    assert len(second_sim.calls("POST")) == 1


def test_connection_refused_fails_over(api, second_sim, db):
    Price.objects.create(model="sora-2", per_second=100_000)
    sora_channel("dead", "http://127.0.0.1:9", priority=5)
    live = sora_channel("live", second_sim.url, key="sk-second")
    response = api.post("/v1/videos", {"prompt": "x"}, format="json")
    assert response.status_code == 200, response.content
    assert VideoTask.objects.get().channel == live


def test_rejected_credentials_disable_the_channel_and_try_next(api, sora, second_sim):
    bad = sora_channel("bad-key", sora.simulator.url, key="sk-wrong", priority=10)
    backup = sora_channel("backup", second_sim.url, key="sk-second", priority=5)
    response = api.post("/v1/videos", {"prompt": "x"}, format="json")
    assert response.status_code == 200, response.content
    bad.refresh_from_db()
    assert bad.status == Channel.Status.AUTO_DISABLED and "Credentials rejected" in bad.last_error
    assert VideoTask.objects.get().channel == backup


def test_all_channels_down_is_503_and_refunds(api, sora, tenant):
    sora.simulator.fail_next(503, {"error": {"message": "maintenance"}}, path_contains="/v1/videos")
    response = api.post("/v1/videos", {"prompt": "x"}, format="json")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "vendor_unavailable"
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD and ledger_sum(tenant) == tenant.balance
    assert VideoTask.objects.get().status == "failed"


def test_tenant_mistakes_never_count_against_a_channel(api, sora, db):
    assert api.post("/v1/videos", {"prompt": "x", "seconds": "5"}, format="json").status_code == 400
    assert api.post("/v1/videos", {"prompt": "moderate me"}, format="json").status_code == 400
    sora.refresh_from_db()
    assert sora.status == Channel.Status.ENABLED and sora.last_error == ""


def test_disabled_model_is_503_unknown_model_is_400(api, sora):
    sora.status = Channel.Status.AUTO_DISABLED
    sora.save()
    response = api.post("/v1/videos", {"prompt": "x"}, format="json")
    assert response.status_code == 503 and response.json()["error"]["code"] == "no_channel_available"
    response = api.post("/v1/videos", {"prompt": "x", "model": "kling-v9"}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "model_not_found"


def test_model_mapping_sends_upstream_name_bills_requested(api, openai_sim, tenant):
    sora_channel("mapped", openai_sim.url, models=("house-video",), mapping={"house-video": "sora-2-pro"})
    Price.objects.create(model="house-video", per_second=1_000)
    response = api.post("/v1/videos", {"prompt": "x", "model": "house-video", "seconds": "4"}, format="json")
    assert response.status_code == 200, response.content
    assert openai_sim.calls("POST")[-1].json()["model"] == "sora-2-pro"
    task = VideoTask.objects.get()
    assert (task.model, task.upstream_model, task.amount_held) == ("house-video", "sora-2-pro", 4_000)
    assert response.json()["model"] == "house-video"


def test_unpriced_model_is_refused_unless_allowed(api, openai_sim, settings, tenant):
    sora_channel("free", openai_sim.url)
    response = api.post("/v1/videos", {"prompt": "x"}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "model_not_priced"
    assert openai_sim.calls("POST") == []
    settings.GATEWAY_ALLOW_UNPRICED = True
    assert api.post("/v1/videos", {"prompt": "x"}, format="json").status_code == 200
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD


def test_metadata_cannot_change_the_billed_model(api, sora):
    response = api.post("/v1/videos", {"prompt": "x", "metadata": {"model": "sora-2-pro"}}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "metadata_override_refused"
    assert sora.simulator.calls("POST") == []


def test_vendor_messages_never_carry_the_credentials(api, sora, tenant):
    echo = {"error": {"message": "key sk-upstream-test is over its quota"}}
    sora.simulator.fail_next(503, echo, path_contains="/v1/videos")
    response = api.post("/v1/videos", {"prompt": "x"}, format="json")
    assert response.status_code == 503
    assert "sk-upstream-test" not in response.content.decode()
    assert "[credential]" in response.json()["error"]["message"]
    failed = VideoTask.objects.get()
    sora.refresh_from_db()
    assert "sk-upstream-test" not in failed.error_message + sora.last_error

    video_id = api.post("/v1/videos", {"prompt": "y"}, format="json").json()["id"]
    sora.simulator.fail_next(500, echo, path_contains="/v1/videos/video_up")
    drive(VideoTask.objects.get(public_id=video_id), times=1)
    sora.refresh_from_db()
    assert "Polling failed" in sora.last_error and "[credential]" in sora.last_error
    assert "sk-upstream-test" not in sora.last_error
