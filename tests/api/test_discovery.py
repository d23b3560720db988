"""Discovery and fidelity: /v1/models lists what a key can be served (with capabilities and prices),
POST /v1/videos/quote answers the hold without creating anything, and a finished video reports its
real duration and picture size (read from the stored MP4 when the vendor does not say)."""

import openai
import pytest
from django.test import override_settings
from openai import OpenAI

from accounts import services as money
from channels.adaptors import registry
from channels.adaptors.samples import DURATIONS, MEDIA_DIR
from channels.models import Channel, Price
from tests.helpers import USD, client_for, drive, ledger_sum
from tests.simulators.jimeng import JimengSimulator
from videos import mp4
from videos.models import VideoTask

pytestmark = pytest.mark.django_db

QUOTE = "/v1/videos/quote"


def narrow_client(tenant, models):
    api_key, plaintext = money.issue_key(tenant, name="narrow", allowed_models=models)
    api_key.plaintext = plaintext
    return client_for(api_key)


def model_ids(api):
    response = api.get("/v1/models")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["object"] == "list"
    return {entry["id"]: entry for entry in body["data"]}


@pytest.fixture
def unpriced(db):
    return Channel.objects.create(name="free", vendor="sandbox", served_models=["sandbox-unpriced"])


# --- /v1/models --------------------------------------------------------------------------------


def test_models_hide_unpriced_unless_allowed(api, sandbox, unpriced):
    assert set(model_ids(api)) == {"sandbox-video", "sandbox-fail"}
    with override_settings(GATEWAY_ALLOW_UNPRICED=True):
        listed = model_ids(api)
    assert set(listed) == {"sandbox-video", "sandbox-fail", "sandbox-unpriced"}
    assert listed["sandbox-unpriced"]["pricing"] is None


def test_models_hide_disabled_channels(api, sandbox):
    Channel.objects.filter(pk=sandbox.pk).update(status=Channel.Status.DISABLED)
    assert model_ids(api) == {}


def test_models_respect_the_key_allowlist(tenant, sandbox, sora):
    assert set(model_ids(narrow_client(tenant, ["sora-2"]))) == {"sora-2"}


def test_models_show_capabilities_and_prices(api, sora):
    listed = model_ids(api)
    pro = listed["sora-2-pro"]
    assert pro["object"] == "model" and pro["owned_by"] == "openai" and isinstance(pro["created"], int)
    assert pro["pricing"] == {
        "per_second": 300_000,
        "per_video": 0,
        "resolution_multipliers": {"1080p": "1.5"},
        "units_per_usd": USD,
    }
    caps = pro["capabilities"]
    assert caps["modes"] == ["text", "image"] and caps["durations"] == [4, 8, 12] and caps["audio"] is True
    assert "1792x1024" in caps["sizes"] and caps["resolutions"] == ["720p", "1080p"]
    assert "1792x1024" not in listed["sora-2"]["capabilities"]["sizes"]


def test_models_capabilities_follow_the_upstream_model(api, tenant):
    channel = Channel(
        name="wan",
        vendor="dashscope",
        served_models=["video-fast"],
        model_mapping={"video-fast": "wan2.2-kf2v-flash"},
    )
    channel.credentials = "sk-x"
    channel.save()
    Price.objects.create(model="video-fast", per_video=5)
    caps = model_ids(api)["video-fast"]["capabilities"]
    assert caps["modes"] == ["first_last"] and caps["durations"] == [5] and caps["audio"] is False


def test_every_adaptor_declares_what_it_plans():
    """Every known model of every adaptor has a capability sheet."""
    for adaptor in registry.all_adaptors():
        for model in adaptor.known_models:
            caps = adaptor.capabilities(model)
            assert caps["modes"] and caps["durations"] and caps["resolutions"], (adaptor.vendor, model)
            assert set(caps["modes"]) <= {"text", "image", "first_last", "reference", "extend", "edit"}


def test_models_bad_key_gets_401():
    response = client_for(None).get("/v1/models", HTTP_AUTHORIZATION="Bearer sk-nope")
    assert response.status_code == 401 and "error" in response.json()


@pytest.mark.django_db(transaction=True)
def test_openai_sdk_lists_models(live_server, key, sandbox, unpriced):
    client = OpenAI(base_url=f"{live_server.url}/v1", api_key=key.plaintext, max_retries=0)
    models = list(client.models.list())
    assert sorted(model.id for model in models) == ["sandbox-fail", "sandbox-video"]
    assert models[0].object == "model" and models[0].owned_by == "sandbox"
    assert models[0].model_extra["capabilities"]["durations"] == sorted(DURATIONS)
    one = client.models.retrieve("sandbox-video")
    assert one.id == "sandbox-video" and one.owned_by == "sandbox"
    assert one.model_extra == next(m for m in models if m.id == "sandbox-video").model_extra
    with pytest.raises(openai.NotFoundError) as missing:
        client.models.retrieve("sandbox-unpriced")  # served, but not priced: not usable, as in the list
    assert missing.value.code == "model_not_found"


def test_one_model_respects_the_key_allowlist(tenant, sandbox, sora):
    narrow = narrow_client(tenant, ["sora-2"])
    assert narrow.get("/v1/models/sora-2").json()["id"] == "sora-2"
    response = narrow.get("/v1/models/sandbox-video")
    assert response.status_code == 404 and response.json()["error"]["code"] == "model_not_found"


# --- POST /v1/videos/quote -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"model": "sora-2", "prompt": "x", "seconds": "4"},
        {"model": "sora-2", "prompt": "x", "seconds": "12", "size": "1280x720"},
        {"model": "sora-2-pro", "prompt": "x", "seconds": "8", "size": "1792x1024"},
        {"model": "sora-2-pro", "prompt": "x", "seconds": "4", "size": "720x1280"},
    ],
)
def test_quote_is_what_a_create_holds(api, tenant, sora, body):
    balance = tenant.balance
    sent = len(sora.simulator.calls("POST"))
    quoted = api.post(QUOTE, body, format="json")
    assert quoted.status_code == 200, quoted.content
    quote = quoted.json()
    assert VideoTask.objects.count() == 0
    assert len(sora.simulator.calls("POST")) == sent
    tenant.refresh_from_db()
    assert tenant.balance == balance and ledger_sum(tenant) == balance
    assert "openai" not in str(quote) and "sora-main" not in str(quote)

    created = api.post("/v1/videos", body, format="json")
    assert created.status_code == 200, created.content
    task = VideoTask.objects.get(public_id=created.json()["id"])
    assert quote["object"] == "video.quote" and quote["model"] == body["model"]
    assert quote["amount"] == task.amount_held > 0
    assert quote["amount_usd"] == f"{task.amount_held / USD:.6f}"
    assert quote["seconds"] == str(task.seconds) and quote["resolution"] == task.resolution
    assert quote["size"] == task.size


def test_quote_takes_multipart(api, sandbox):
    response = api.post(QUOTE, {"model": "sandbox-video", "prompt": "x", "seconds": "8"}, format="multipart")
    assert response.status_code == 200, response.content
    assert response.json()["amount"] == 80_000 and response.json()["amount_usd"] == "0.080000"
    assert VideoTask.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "status", "code", "param"),
    [
        ({"model": "sandbox-video", "prompt": "x", "seconds": "7"}, 400, "invalid_seconds", "seconds"),
        ({"model": "sandbox-video"}, 400, None, "prompt"),
        ({"model": "nope", "prompt": "x"}, 400, "model_not_found", "model"),
        ({"model": "sandbox-unpriced", "prompt": "x"}, 400, "model_not_priced", "model"),
    ],
)
def test_quote_refuses_bad_input_in_openai_shape(api, sandbox, unpriced, body, status, code, param):
    response = api.post(QUOTE, body, format="json")
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["param"] == param
    if code:
        assert error["code"] == code
    assert VideoTask.objects.count() == 0


def test_quote_respects_the_key_allowlist_and_auth(tenant, sandbox):
    response = narrow_client(tenant, ["sandbox-fail"]).post(
        QUOTE, {"model": "sandbox-video", "prompt": "x"}, format="json"
    )
    assert response.status_code == 403 and response.json()["error"]["code"] == "model_not_allowed"
    anonymous = client_for(None).post(
        QUOTE, {"model": "sandbox-video", "prompt": "x"}, format="json", HTTP_AUTHORIZATION="Bearer sk-nope"
    )
    assert anonymous.status_code == 401


def test_quote_is_not_taken_for_a_video_id(api, sandbox):
    assert api.get(QUOTE).status_code == 405


# --- what a finished video is --------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(MEDIA_DIR.glob("*.mp4")), ids=lambda path: path.name)
def test_mp4_reader_on_the_bundled_samples(path):
    measured = mp4.measure(path)
    assert (measured.width, measured.height) == (320, 180)
    assert measured.seconds == int(path.stem.split("-")[1].rstrip("s"))


def test_mp4_reader_refuses_what_is_not_an_mp4(tmp_path):
    page = tmp_path / "page.mp4"
    page.write_bytes(b"<html>nope</html>")
    with pytest.raises(mp4.NotMP4):
        mp4.measure(page)
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes((MEDIA_DIR / "sample-5s.mp4").read_bytes()[:200])
    with pytest.raises(mp4.NotMP4):
        mp4.measure(truncated)


@pytest.fixture
def jimeng_channel(db):
    with JimengSimulator(access_key="AKLTsimulator", secret_key="c2ltdWxhdG9yLXNlY3JldA==") as simulator:
        channel = Channel(name="jimeng", vendor="jimeng", base_url=simulator.url, served_models=["jimeng_t2v_v30"])
        channel.credentials = "AKLTsimulator|c2ltdWxhdG9yLXNlY3JldA=="
        channel.save()
        Price.objects.create(model="jimeng_t2v_v30", per_second=10_000)
        yield channel


def test_unified_get_of_a_jimeng_video_reports_the_mp4(api, jimeng_channel):
    created = api.post(
        "/v1/video/generations", {"model": "jimeng_t2v_v30", "prompt": "a lighthouse", "duration": 5}, format="json"
    )
    assert created.status_code == 201, created.content
    task = drive(VideoTask.objects.get(public_id=created.json()["task_id"]))
    assert task.status == VideoTask.Status.COMPLETED and task.result_file
    assert task.params["produced"] == {"seconds": 5.0, "width": 320, "height": 180}
    answer = api.get(f"/v1/video/generations/{task.public_id}").json()
    assert answer["status"] == "completed"
    metadata = answer["metadata"]
    assert metadata["width"] == 320 and metadata["height"] == 180 and metadata["duration"] > 0
    video = api.get(f"/v1/videos/{task.public_id}").json()
    assert video["size"] == "320x180"


def test_planned_size_stays_when_the_vendor_was_told_one(api, sora):
    created = api.post("/v1/videos", {"model": "sora-2", "prompt": "x", "size": "1280x720"}, format="json")
    task = drive(VideoTask.objects.get(public_id=created.json()["id"]))
    assert task.status == VideoTask.Status.COMPLETED
    assert task.params["produced"]["width"] == 320  # the simulator's sample
    metadata = api.get(f"/v1/video/generations/{task.public_id}").json()["metadata"]
    assert (metadata["width"], metadata["height"]) == (1280, 720) and metadata["duration"] > 0
