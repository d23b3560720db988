"""Continuing or editing one of the client's own videos by its id (``first_clip`` / ``video``:
``"video_..."``) on the vendors that work on their own results: Grok (edit and extension), Veo on the
Gemini API and on Vertex AI (extension), Wan 2.7 (i2v's first clip, videoedit's video). End to end
through ``/v1/videos`` and ``/v1/video/generations`` against the simulators: the vendor is given its
own copy of the video, and billing is exact. What cannot be served is refused before anything is held
and before any vendor call."""

from contextlib import ExitStack

import pytest

from channels.models import Channel, Price
from tests.helpers import USD, as_sent, drive, ledger_sum
from tests.simulators.dashscope import DashScopeSimulator
from tests.simulators.gemini import GeminiSimulator
from tests.simulators.vertex import VertexSimulator
from tests.simulators.xai import XAISimulator
from videos.models import VideoTask

pytestmark = pytest.mark.django_db

V1, V15 = "grok-imagine-video", "grok-imagine-video-1.5"
GA = "veo-3.1-generate-001"
T2V, I2V, EDIT = "wan2.7-t2v", "wan2.7-i2v", "wan2.7-videoedit"
PICTURE = "https://img.example.com/first.png"
BUCKET = "gs://veo-out/gateway/"
GROK_720P = 70_000  # $0.05/s at 480p, x1.4 at 720p
VEO = 1_000  # per second at 720p
WAN = 10_000  # per second at 720p, x2 at 1080p


@pytest.fixture
def vendor(settings):
    """``vendor(name)``: a channel of that vendor on its simulator, with prices; returns the simulator."""
    settings.GATEWAY_ALLOW_PRIVATE_URLS = True  # the simulators serve their results on loopback
    with ExitStack() as stack:

        def make(name):
            if name == "xai":
                sim = stack.enter_context(XAISimulator(api_key="xai-key"))
                channel = Channel(name="grok", vendor="xai", base_url=sim.url, served_models=[V1, V15])
                channel.credentials = "xai-key"
                for model in (V1, V15):
                    Price.objects.create(model=model, per_second=50_000, resolution_multipliers={"720p": "1.4"})
            elif name == "gemini":
                sim = stack.enter_context(GeminiSimulator(api_key="AIza-key"))
                channel = Channel(name="veo", vendor="gemini", base_url=sim.url, served_models=[GA])
                channel.credentials = "AIza-key"
            elif name == "vertex":
                sim = stack.enter_context(VertexSimulator(token="ya29.token"))
                channel = Channel(
                    name="veo-vertex",
                    vendor="vertex",
                    base_url=f"{sim.url}/v1/projects/proj-1/locations/us-central1",
                    served_models=[GA],
                    options={"storage_uri": BUCKET, "storage_base_url": sim.url},
                )
                channel.credentials = "ya29.token"
            else:
                sim = stack.enter_context(DashScopeSimulator(api_key="sk-ds"))
                channel = Channel(
                    name="wan", vendor="dashscope", base_url=f"{sim.url}/api/v1", served_models=[T2V, I2V, EDIT]
                )
                channel.credentials = "sk-ds"
                for model in (T2V, I2V, EDIT):
                    Price.objects.create(model=model, per_second=WAN, resolution_multipliers={"1080p": "2"})
            if name in ("gemini", "vertex"):
                Price.objects.create(model=GA, per_second=VEO)
            channel.save()
            return sim

        yield make


def openai(api, **body):
    response = api.post("/v1/videos", body, format="json")
    return response, response.json().get("id")


def unified(api, **body):
    response = api.post("/v1/video/generations", body, format="json")
    return response, response.json().get("task_id")


def made(api, tenant, **body):
    """A finished video of the tenant's, made through /v1/videos."""
    response, task_id = openai(api, **body)
    assert response.status_code == 200, response.content
    task = drive(VideoTask.objects.get(public_id=task_id), times=12)
    assert task.status == VideoTask.Status.COMPLETED, (task.error_code, task.error_message)
    tenant.refresh_from_db()
    return task


def settled(tenant, task_id, held, charged):
    """Drive the task to completion and check the hold, the capture and the balance, exactly."""
    tenant.refresh_from_db()
    before = tenant.balance + held  # the hold is already out of the balance
    task = VideoTask.objects.get(public_id=task_id)
    assert task.amount_held == held
    task = drive(task, times=12)
    assert task.status == VideoTask.Status.COMPLETED, (task.error_code, task.error_message)
    assert task.amount_charged == charged
    tenant.refresh_from_db()
    assert tenant.balance == before - charged and ledger_sum(tenant) == tenant.balance
    return task


# --- Grok: edit and extend an own video --------------------------------------------------------


def test_grok_edits_and_extends_an_own_video(api, tenant, vendor):
    sim = vendor("xai")
    source = made(api, tenant, model=V1, prompt="a fox", seconds="6", size="1280x720")
    assert source.vendor_state["duration"] == 6.0

    response, task_id = openai(api, model=V1, prompt="make it snow", video=source.public_id)
    assert response.status_code == 200, response.content
    call = sim.calls("POST")[-1]
    assert call.path == "/v1/videos/edits"
    assert call.json() == {"model": V1, "prompt": "make it snow", "video": {"url": source.result_url}}
    # held as 9 s at 720p, captured on the 6 s xAI made (an edit keeps its input's length)
    edit = settled(tenant, task_id, 9 * GROK_720P, 6 * GROK_720P)
    assert edit.mode == "edit" and edit.channel_id == source.channel_id and edit.seconds_produced == 6.0

    response, task_id = unified(api, model=V1, prompt="and on", duration=4, first_clip={"video_id": edit.public_id})
    assert response.status_code == 201, response.content
    call = sim.calls("POST")[-1]
    assert call.path == "/v1/videos/extensions"
    assert call.json() == {"model": V1, "prompt": "and on", "duration": 4, "video": {"url": edit.result_url}}
    assert settled(tenant, task_id, 4 * GROK_720P, 4 * GROK_720P).mode == "extend"


def test_an_own_grok_video_too_long_to_edit_is_refused_before_the_hold(api, tenant, vendor):
    sim = vendor("xai")
    source = made(api, tenant, model=V1, prompt="a fox", seconds="10")
    balance, calls = tenant.balance, len(sim.calls("POST"))
    for create in (openai, unified):
        response, _ = create(api, model=V1, prompt="make it snow", video=source.public_id)
        assert response.status_code == 400, response.content
        error = response.json().get("error", response.json())
        assert (error["param"], error["code"]) == ("video", "invalid_source") and "8.7" in error["message"]
    tenant.refresh_from_db()
    assert tenant.balance == balance and ledger_sum(tenant) == tenant.balance
    assert VideoTask.objects.count() == 1 and len(sim.calls("POST")) == calls


# --- Veo: extend an own video on the Gemini API and on Vertex AI ---------------------------------


@pytest.mark.parametrize("backend", ["gemini", "vertex"])
def test_veo_extends_an_own_video(api, tenant, vendor, backend):
    sim = vendor(backend)
    source = made(api, tenant, model=GA, prompt="a fox", seconds="8")

    response, task_id = unified(api, model=GA, prompt="the fox runs on", duration=8, first_clip=source.public_id)
    assert response.status_code == 201, response.content
    sent = sim.calls("POST", "predictLongRunning")[-1].json()["instances"][0]["video"]
    if backend == "gemini":  # the Files API URI the operation gave, which the task keeps as its result
        assert sent == {"uri": source.result_url}
    else:  # where Veo wrote it, as its poll kept it
        assert sent == {"gcsUri": "gs://veo-out/gateway/op000001/sample_0.mp4", "mimeType": "video/mp4"}
        assert source.vendor_state["gcs_uri"] == sent["gcsUri"]
    assert settled(tenant, task_id, 8 * VEO, 8 * VEO).mode == "extend"

    response, task_id = openai(api, model=GA, prompt="and on", seconds="8", first_clip={"video_id": source.public_id})
    assert response.status_code == 200, response.content
    settled(tenant, task_id, 8 * VEO, 8 * VEO)


@pytest.mark.parametrize("backend", ["gemini", "vertex"])
def test_veo_refuses_another_url_and_says_an_id_would_do(api, tenant, vendor, backend):
    sim = vendor(backend)
    response, _ = openai(api, model=GA, prompt="on", seconds="8", first_clip="https://cdn.example.com/fox.mp4")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["param"] == "first_clip" and "the id of one of your Veo videos" in error["message"]
    assert not VideoTask.objects.exists() and sim.calls("POST") == []


# --- Wan 2.7: continue (i2v) and edit (videoedit) an own video ----------------------------------


def test_wan_continues_and_edits_an_own_video(api, tenant, vendor):
    sim = vendor("dashscope")
    source = made(api, tenant, model=T2V, prompt="a fox", seconds="5", size="1280x720")

    response, task_id = openai(api, model=I2V, prompt="on", seconds="5", size="1280x720", first_clip=source.public_id)
    assert response.status_code == 200, response.content
    sent = sim.calls("POST", "/services/")[-1].json()
    assert sent["input"]["media"] == [{"type": "first_clip", "url": source.result_url}]
    assert settled(tenant, task_id, 5 * WAN, 5 * WAN).mode == "extend"

    response, task_id = unified(
        api, model=EDIT, prompt="snow", duration=3, video=source.public_id, metadata={"resolution": "720p"}
    )
    assert response.status_code == 201, response.content
    sent = sim.calls("POST", "/services/")[-1].json()
    assert sent["input"]["media"] == [{"type": "video", "url": source.result_url}]
    assert sent["parameters"] == {"duration": 3, "resolution": "720P"}
    assert settled(tenant, task_id, 3 * WAN, 3 * WAN).mode == "edit"


# --- refusals: nothing held, no vendor call --------------------------------------------------------

# vendor -> the source made through /v1/videos, and a request continuing or editing it by id
CASES = {
    "xai": ({"model": V1, "prompt": "a fox", "seconds": "4"}, {"model": V1, "prompt": "snow"}, "video"),
    "gemini": ({"model": GA, "prompt": "a fox", "seconds": "8"}, {"model": GA, "prompt": "on"}, "first_clip"),
    "vertex": ({"model": GA, "prompt": "a fox", "seconds": "8"}, {"model": GA, "prompt": "on"}, "first_clip"),
    "dashscope": ({"model": T2V, "prompt": "a fox", "seconds": "5"}, {"model": EDIT, "prompt": "snow"}, "video"),
}


def assert_nothing_moved(tenant, balance, tasks, sim, calls):
    tenant.refresh_from_db()
    assert tenant.balance == balance and ledger_sum(tenant) == tenant.balance
    assert VideoTask.objects.count() == tasks and len(sim.calls("POST")) == calls


@pytest.mark.parametrize("name", CASES)
def test_another_tenants_video_is_not_found(api, other_api, tenant, other_tenant, vendor, name):
    sim = vendor(name)
    make, follow, field = CASES[name]
    theirs = made(other_api, other_tenant, **make)
    tasks, calls = VideoTask.objects.count(), len(sim.calls("POST"))
    for create in (openai, unified):
        response, _ = create(api, **follow, **{field: theirs.public_id})
        assert response.status_code == 404, response.content
        error = response.json().get("error", response.json())
        assert (error["code"], error["param"]) == ("video_not_found", field)
    assert_nothing_moved(tenant, 10 * USD, tasks, sim, calls)
    other_balance = other_tenant.balance
    assert_nothing_moved(other_tenant, other_balance, tasks, sim, calls)


@pytest.mark.parametrize("name", CASES)
def test_a_source_not_completed_is_refused(api, tenant, vendor, name):
    sim = vendor(name)
    make, follow, field = CASES[name]
    response, source_id = openai(api, **make)
    assert response.status_code == 200, response.content
    tenant.refresh_from_db()
    balance, tasks, calls = tenant.balance, VideoTask.objects.count(), len(sim.calls("POST"))
    for create in (openai, unified):
        response, _ = create(api, **follow, **{field: source_id})
        assert response.status_code == 400, response.content
        error = response.json().get("error", response.json())
        assert (error["code"], error["param"]) == ("video_not_ready", field)
    assert_nothing_moved(tenant, balance, tasks, sim, calls)


@pytest.mark.parametrize(
    ("name", "follow", "param"),
    [
        ("xai", {"model": V15, "prompt": "snow", "video": None}, "video"),  # 1.5 does not edit
        ("xai", {"model": V1, "prompt": "snow", "video": None, "input_reference": PICTURE}, "image"),
        ("xai", {"model": V1, "prompt": "snow", "video": None, "seconds": "5"}, "seconds"),
        ("gemini", {"model": GA, "prompt": "snow", "video": None}, "video"),  # Veo continues, does not edit
        ("vertex", {"model": GA, "prompt": "on", "first_clip": None, "input_reference": PICTURE}, "image"),
        ("dashscope", {"model": I2V, "prompt": "snow", "video": None}, "video"),  # i2v does not edit
        ("dashscope", {"model": EDIT, "prompt": "snow", "video": None, "input_reference": PICTURE}, "image"),
        ("dashscope", {"model": T2V, "prompt": "on", "first_clip": None}, "first_clip"),
    ],
)
def test_what_a_model_cannot_do_with_an_own_video_is_refused(api, tenant, vendor, name, follow, param):
    sim = vendor(name)
    source = made(api, tenant, **CASES[name][0])
    body = {key: source.public_id if value is None else value for key, value in follow.items()}
    balance, tasks, calls = tenant.balance, VideoTask.objects.count(), len(sim.calls("POST"))
    renamed = {"seconds": "duration", "input_reference": "image"}  # the unified dialect's names
    unified_body = {renamed.get(key, key): int(v) if key == "seconds" else v for key, v in body.items()}
    for create, fields in ((openai, body), (unified, unified_body)):
        response, _ = create(api, **fields)
        assert response.status_code == 400, response.content
        assert response.json().get("error", response.json())["param"] == as_sent(param, fields)
    assert_nothing_moved(tenant, balance, tasks, sim, calls)
