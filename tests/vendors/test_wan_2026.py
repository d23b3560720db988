"""Wan as DashScope serves it at the end of 2026: wan2.6 on the legacy body (multi-shot, sound,
r2v's reference_urls), wan2.7 on ``input.media``, and the regional and workspace base URLs. Through
``/v1/videos``, ``/v1/video/generations`` and the native route, against the DashScope simulator,
with exact billing; every capability rule refused before any money moves."""

import base64

import pytest

from channels.adaptors.base import CallContext, TaskRef, check_inputs
from channels.adaptors.dashscope import KNOWN_BASE_URLS, adaptor, api_root
from channels.canonical import CanonicalRequest, ImageInput, MediaInput, RequestInvalid
from channels.models import Channel, Price
from tests.helpers import USD, as_sent, drive, ledger_sum
from tests.simulators.dashscope import DashScopeSimulator
from videos.models import VideoTask

pytestmark = pytest.mark.django_db

KEY = "sk-dashscope-test"
PRICE = 10_000  # per second at 720p; 1080p costs twice that
WAN26 = ("wan2.6-t2v", "wan2.6-i2v", "wan2.6-i2v-flash", "wan2.6-r2v")
WAN27 = ("wan2.7-t2v", "wan2.7-i2v", "wan2.7-r2v", "wan2.7-videoedit")
LEGACY = ("wan2.2-t2v-plus", "wan2.5-t2v-preview", "wan2.5-i2v-preview")
IMG = "https://cdn.test/a.png"
IMG2 = "https://cdn.test/b.jpg"
CLIP = "https://cdn.test/subject.mp4"
CLIP2 = "https://cdn.test/other.mov"
SONG = "https://cdn.test/song.mp3"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
PNG_URI = "data:image/png;base64," + base64.b64encode(PNG).decode()
CREATE = "/api/v1/services/aigc/video-generation/video-synthesis"


@pytest.fixture
def sim():
    with DashScopeSimulator(api_key=KEY) as simulator:
        yield simulator


@pytest.fixture
def wan(sim):
    channel = Channel(
        name="bailian", vendor="dashscope", base_url=f"{sim.url}/api/v1", served_models=[*WAN26, *WAN27, *LEGACY]
    )
    channel.credentials = KEY
    channel.save()
    for model in (*WAN26, *WAN27, *LEGACY):
        Price.objects.create(model=model, per_second=PRICE, resolution_multipliers={"1080p": "2"})
    return channel


def create(api, route, body):
    if route == "openai":
        response = api.post("/v1/videos", body, format="json")
        assert response.status_code == 200, response.content
        return VideoTask.objects.get(public_id=response.json()["id"])
    if route == "unified":
        response = api.post("/v1/video/generations", body, format="json")
        assert response.status_code == 201, response.content
        return VideoTask.objects.get(public_id=response.json()["id"])
    response = api.post(CREATE, body, format="json", HTTP_X_DASHSCOPE_ASYNC="enable")
    assert response.status_code == 200, response.content
    return VideoTask.objects.get(public_id=response.json()["output"]["task_id"])


def sent(sim):
    return sim.calls("POST", "/services/")[-1].json()


# --- end to end: what is sent, what is billed -----------------------------------------------------

CASES = [
    (  # wan2.6 t2v: 15 s, multi-shot, silent
        "openai",
        {"model": "wan2.6-t2v", "prompt": "p", "seconds": "15", "size": "1280x720", "generate_audio": False,
         "metadata": {"shot_type": "multi"}},
        {"prompt": "p"},
        {"duration": 15, "size": "1280*720", "audio": False, "shot_type": "multi"},
        15 * PRICE,
    ),
    (  # wan2.6 i2v: any 2–15 s, its soundtrack from audio_url
        "unified",
        {"model": "wan2.6-i2v", "prompt": "p", "duration": 7, "image": IMG, "audio_url": SONG,
         "metadata": {"resolution": "1080p"}},
        {"prompt": "p", "img_url": IMG, "audio_url": SONG},
        {"duration": 7, "resolution": "1080P"},
        7 * PRICE * 2,
    ),
    (  # wan2.6 i2v-flash: a base64 image goes as a data URI; the audio switch by its DashScope name
        "unified",
        {"model": "wan2.6-i2v-flash", "prompt": "p", "image": PNG_URI, "metadata": {"audio": True}},
        {"prompt": "p", "img_url": PNG_URI},
        {"duration": 5, "resolution": "720P", "audio": True},
        5 * PRICE,
    ),
    (  # wan2.6 r2v: videos then images in reference_urls, size at 1080p by default
        "unified",
        {"model": "wan2.6-r2v", "prompt": "character1 waves", "duration": 10, "images": [IMG],
         "reference_videos": [CLIP], "metadata": {"shot_type": "single"}},
        {"prompt": "character1 waves", "reference_urls": [CLIP, IMG]},
        {"duration": 10, "size": "1920*1080", "shot_type": "single"},
        10 * PRICE * 2,
    ),
    (
        "openai",
        {"model": "wan2.6-r2v", "prompt": "p", "seconds": "3", "size": "720x1280",
         "reference_videos": [CLIP, CLIP2], "reference_images": [IMG, IMG2]},
        {"prompt": "p", "reference_urls": [CLIP, CLIP2, IMG, IMG2]},
        {"duration": 3, "size": "720*1280"},
        3 * PRICE,
    ),
    (  # wan2.7 t2v: resolution + ratio, 2–15 s
        "unified",
        {"model": "wan2.7-t2v", "prompt": "p", "duration": 12, "audio_url": SONG,
         "metadata": {"resolution": "720p", "aspect_ratio": "9:16", "prompt_extend": False}},
        {"prompt": "p", "audio_url": SONG},
        {"duration": 12, "resolution": "720P", "ratio": "9:16", "prompt_extend": False},
        12 * PRICE,
    ),
    (  # wan2.7 i2v: first + last frame + driving audio as media items
        "openai",
        {"model": "wan2.7-i2v", "prompt": "p", "seconds": "2", "input_reference": IMG, "audio_url": SONG,
         "metadata": {"last_frame": IMG2}},
        {"prompt": "p", "media": [{"type": "first_frame", "url": IMG}, {"type": "last_frame", "url": IMG2},
                                  {"type": "driving_audio", "url": SONG}]},
        {"duration": 2, "resolution": "1080P"},
        2 * PRICE * 2,
    ),
    (  # wan2.7 i2v: continue a clip (extend)
        "unified",
        {"model": "wan2.7-i2v", "prompt": "p", "duration": 15, "first_clip": CLIP, "generate_audio": True},
        {"prompt": "p", "media": [{"type": "first_clip", "url": CLIP}]},
        {"duration": 15, "resolution": "1080P"},
        15 * PRICE * 2,
    ),
    (
        "unified",
        {"model": "wan2.7-r2v", "prompt": "Image 1 meets Video 1", "duration": 10, "images": [IMG, IMG2],
         "reference_videos": [CLIP], "metadata": {"aspect_ratio": "16:9"}},
        {"prompt": "Image 1 meets Video 1", "media": [
            {"type": "reference_image", "url": IMG}, {"type": "reference_image", "url": IMG2},
            {"type": "reference_video", "url": CLIP}]},
        {"duration": 10, "resolution": "1080P", "ratio": "16:9"},
        10 * PRICE * 2,
    ),
    (  # wan2.7 videoedit: the clip to edit is the one reference video
        "openai",
        {"model": "wan2.7-videoedit", "prompt": "make it snow", "seconds": "4", "reference_videos": [CLIP],
         "reference_images": [IMG], "metadata": {"resolution": "720p", "audio_setting": "origin"}},
        {"prompt": "make it snow", "media": [{"type": "video", "url": CLIP}, {"type": "reference_image", "url": IMG}]},
        {"duration": 4, "resolution": "720P", "audio_setting": "origin"},
        4 * PRICE,
    ),
    (  # wan2.7 videoedit: the clip to edit as canonical `video`
        "openai",
        {"model": "wan2.7-videoedit", "prompt": "make it snow", "seconds": "6", "video": CLIP},
        {"prompt": "make it snow", "media": [{"type": "video", "url": CLIP}]},
        {"duration": 6, "resolution": "1080P"},
        6 * PRICE * 2,
    ),
    (
        "unified",
        {"model": "wan2.7-videoedit", "prompt": "make it snow", "duration": 3, "video_url": CLIP, "images": [IMG],
         "metadata": {"resolution": "720p", "aspect_ratio": "9:16"}},
        {"prompt": "make it snow", "media": [{"type": "video", "url": CLIP}, {"type": "reference_image", "url": IMG}]},
        {"duration": 3, "resolution": "720P", "ratio": "9:16"},
        3 * PRICE,
    ),
]  # fmt: skip


@pytest.mark.parametrize(("route", "body", "inputs", "parameters", "cost"), CASES)
def test_completes_and_bills_exactly(api, wan, sim, tenant, route, body, inputs, parameters, cost):
    task = create(api, route, body)
    assert sent(sim) == {"model": body["model"], "input": inputs, "parameters": parameters}
    assert task.amount_held == cost
    task = drive(task)
    assert task.status == VideoTask.Status.COMPLETED and task.amount_charged == cost
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD - cost and ledger_sum(tenant) == tenant.balance


def test_failed_wan27_task_refunds_exactly(api, wan, sim, tenant):
    sim.script = ["RUNNING", "FAILED"]
    task = create(api, "unified", {"model": "wan2.7-r2v", "prompt": "p", "reference_videos": [CLIP]})
    assert task.amount_held == 5 * PRICE * 2
    task = drive(task)
    assert task.status == VideoTask.Status.FAILED
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD and ledger_sum(tenant) == tenant.balance


# --- the native route --------------------------------------------------------------------------

NATIVE = [
    (
        {"model": "wan2.6-r2v", "input": {"prompt": "character1", "reference_urls": [CLIP, IMG]},
         "parameters": {"size": "1280*720", "duration": 10, "shot_type": "multi", "audio": True}},
        {"prompt": "character1", "reference_urls": [CLIP, IMG]},
        {"duration": 10, "size": "1280*720", "audio": True, "shot_type": "multi"},
        10 * PRICE,
    ),
    (  # the older r2v form: reference videos only
        {"model": "wan2.6-r2v", "input": {"prompt": "p", "reference_video_urls": [CLIP, CLIP2]}},
        {"prompt": "p", "reference_urls": [CLIP, CLIP2]},
        {"duration": 5, "size": "1920*1080"},
        5 * PRICE * 2,
    ),
    (
        {"model": "wan2.6-t2v", "input": {"prompt": "p", "audio_url": SONG}, "parameters": {"duration": 10}},
        {"prompt": "p", "audio_url": SONG},
        {"duration": 10, "size": "1920*1080"},
        10 * PRICE * 2,
    ),
    (
        {"model": "wan2.7-i2v", "input": {"prompt": "p", "media": [
            {"type": "first_frame", "url": IMG}, {"type": "driving_audio", "url": SONG}]},
         "parameters": {"resolution": "720P", "duration": 8, "watermark": False}},
        {"prompt": "p", "media": [{"type": "first_frame", "url": IMG}, {"type": "driving_audio", "url": SONG}]},
        {"duration": 8, "resolution": "720P", "watermark": False},
        8 * PRICE,
    ),
    (
        {"model": "wan2.7-videoedit", "input": {"prompt": "p", "media": [
            {"type": "video", "url": CLIP}, {"type": "reference_image", "url": IMG}]},
         "parameters": {"ratio": "1:1", "duration": 6}},
        {"prompt": "p", "media": [{"type": "video", "url": CLIP}, {"type": "reference_image", "url": IMG}]},
        {"duration": 6, "resolution": "1080P", "ratio": "1:1"},
        6 * PRICE * 2,
    ),
]  # fmt: skip


@pytest.mark.parametrize(("body", "inputs", "parameters", "cost"), NATIVE)
def test_native_route_completes_and_bills_exactly(api, wan, sim, tenant, body, inputs, parameters, cost):
    task = create(api, "native", body)
    assert sent(sim) == {"model": body["model"], "input": inputs, "parameters": parameters}
    task = drive(task)
    assert task.status == VideoTask.Status.COMPLETED and task.amount_charged == cost
    done = api.get(f"/api/v1/tasks/{task.public_id}").json()
    assert done["output"]["task_status"] == "SUCCEEDED"
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD - cost and ledger_sum(tenant) == tenant.balance


@pytest.mark.parametrize(
    "inputs",
    [
        {"prompt": "p", "reference_urls": [IMG, CLIP]},  # videos first, or character numbers would change
        {"prompt": "p", "reference_urls": ["https://cdn.test/what"]},
        {"prompt": "p", "reference_urls": [CLIP], "reference_video_urls": [CLIP]},
        {"prompt": "p", "media": [{"type": "reference_voice", "url": SONG}]},
        {"prompt": "p", "media": [{"type": "first_frame", "url": IMG}, {"type": "first_frame", "url": IMG2}]},
        {"prompt": "p", "media": [{"type": "first_frame", "url": IMG}], "img_url": IMG},
        {"prompt": "p", "media": [{"type": "first_frame"}]},
    ],
)
def test_native_media_refused(api, wan, sim, tenant, inputs):
    response = api.post(
        CREATE, {"model": "wan2.7-i2v", "input": inputs}, format="json", HTTP_X_DASHSCOPE_ASYNC="enable"
    )
    assert response.status_code == 400 and response.json()["code"] == "InvalidParameter", response.content
    assert not VideoTask.objects.exists() and not sim.calls("POST")
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD and tenant.ledger.count() == 1


# --- refusals: 400 naming the field, before any money moves ---------------------------------------

REFUSED = [
    ({"model": "wan2.6-t2v", "duration": 7}, "seconds"),
    ({"model": "wan2.6-t2v", "size": "832x480"}, "size"),
    ({"model": "wan2.6-t2v", "metadata": {"shot_type": "triple"}}, "metadata.shot_type"),
    ({"model": "wan2.2-t2v-plus", "metadata": {"shot_type": "multi"}}, "metadata.shot_type"),
    ({"model": "wan2.2-t2v-plus", "audio_url": SONG}, "audio"),
    ({"model": "wan2.2-t2v-plus", "generate_audio": True}, "generate_audio"),
    ({"model": "wan2.2-t2v-plus", "metadata": {"audio": True}}, "metadata.audio"),
    ({"model": "wan2.5-t2v-preview", "generate_audio": False, "metadata": {"audio": True}}, "metadata.audio"),
    ({"model": "wan2.5-t2v-preview", "metadata": {"audio": "loud"}}, "metadata.audio"),
    ({"model": "wan2.6-i2v"}, "image"),
    ({"model": "wan2.6-i2v", "duration": 16, "image": IMG}, "seconds"),
    ({"model": "wan2.6-i2v", "image": IMG, "audio_url": [SONG, SONG]}, "audio"),
    ({"model": "wan2.6-i2v", "image": IMG, "metadata": {"last_frame": IMG2}}, "last_frame"),
    ({"model": "wan2.6-i2v", "image": IMG, "first_clip": CLIP}, "first_clip"),
    ({"model": "wan2.6-r2v"}, "reference_images"),
    ({"model": "wan2.6-r2v", "reference_videos": [CLIP] * 4}, "reference_videos"),
    ({"model": "wan2.6-r2v", "images": [IMG] * 6}, "reference_images"),
    ({"model": "wan2.6-r2v", "images": [IMG] * 3, "reference_videos": [CLIP] * 3}, "reference_videos"),
    ({"model": "wan2.6-r2v", "images": [PNG_URI]}, "reference_images[0]"),
    ({"model": "wan2.6-r2v", "reference_videos": [CLIP], "audio_url": SONG}, "audio"),
    ({"model": "wan2.6-r2v", "reference_videos": [CLIP], "duration": 15}, "seconds"),
    ({"model": "wan2.6-r2v", "reference_videos": [CLIP], "image": IMG}, "image"),
    ({"model": "wan2.6-r2v", "images": [{"url": IMG, "tag": "style"}]}, "reference_images[0].tag"),
    ({"model": "wan2.7-t2v", "duration": 1}, "seconds"),
    ({"model": "wan2.7-t2v", "duration": 16}, "seconds"),
    ({"model": "wan2.7-t2v", "metadata": {"resolution": "480p"}}, "resolution"),
    ({"model": "wan2.7-t2v", "metadata": {"aspect_ratio": "21:9"}}, "aspect_ratio"),
    ({"model": "wan2.7-t2v", "metadata": {"ratio": "1:1"}}, "metadata.ratio"),
    ({"model": "wan2.7-t2v", "metadata": {"shot_type": "multi"}}, "metadata.shot_type"),
    ({"model": "wan2.7-t2v", "metadata": {"audio": False}}, "metadata.audio"),
    ({"model": "wan2.7-t2v", "generate_audio": False}, "generate_audio"),
    ({"model": "wan2.7-t2v", "reference_videos": [CLIP]}, "reference_videos"),
    ({"model": "wan2.7-t2v", "image": IMG}, "image"),
    ({"model": "wan2.7-i2v"}, "image"),
    ({"model": "wan2.7-i2v", "image": PNG_URI}, "image"),
    ({"model": "wan2.7-i2v", "image": IMG, "metadata": {"last_frame": PNG_URI}}, "last_frame"),
    ({"model": "wan2.7-i2v", "image": IMG, "first_clip": CLIP}, "image"),
    ({"model": "wan2.7-i2v", "first_clip": CLIP, "audio_url": SONG}, "audio"),
    ({"model": "wan2.7-i2v", "image": IMG, "images": [IMG2]}, "reference_images"),
    ({"model": "wan2.7-r2v"}, "reference_images"),
    ({"model": "wan2.7-r2v", "images": [IMG] * 4, "reference_videos": [CLIP] * 2}, "reference_videos"),
    ({"model": "wan2.7-r2v", "reference_videos": [CLIP], "duration": 12}, "seconds"),
    ({"model": "wan2.7-r2v", "reference_videos": [CLIP], "first_clip": CLIP}, "first_clip"),
    ({"model": "wan2.7-videoedit"}, "video"),
    ({"model": "wan2.7-videoedit", "images": [IMG]}, "video"),
    ({"model": "wan2.7-videoedit", "video": CLIP, "reference_videos": [CLIP2]}, "reference_videos"),
    ({"model": "wan2.7-videoedit", "video": CLIP, "image": IMG}, "image"),
    ({"model": "wan2.7-videoedit", "video": CLIP, "images": [IMG] * 5}, "reference_images"),
    ({"model": "wan2.7-videoedit", "video": CLIP, "duration": 11}, "seconds"),
    ({"model": "wan2.7-t2v", "video": CLIP}, "video"),
    ({"model": "wan2.7-i2v", "image": IMG, "video": CLIP}, "video"),
    ({"model": "wan2.6-r2v", "reference_videos": [CLIP], "video": CLIP2}, "video"),
    ({"model": "wan2.7-videoedit", "reference_videos": [CLIP, CLIP2]}, "reference_videos"),
    ({"model": "wan2.7-videoedit", "reference_videos": [CLIP], "images": [IMG] * 5}, "reference_images"),
    ({"model": "wan2.7-videoedit", "reference_videos": [CLIP], "audio_url": SONG}, "audio"),
]


@pytest.mark.parametrize(("fields", "param"), REFUSED)
def test_refused_before_any_money_moves(api, wan, sim, tenant, fields, param):
    response = api.post("/v1/video/generations", {"prompt": "p", **fields}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["param"] == as_sent(param, fields), response.json()
    assert not VideoTask.objects.exists() and not sim.calls("POST")
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD and tenant.ledger.count() == 1


def test_openai_route_refuses_too(api, wan, sim, tenant):
    body = {"model": "wan2.7-i2v", "prompt": "p", "input_reference": PNG_URI}
    response = api.post("/v1/videos", body, format="json")
    assert response.status_code == 400 and response.json()["error"]["param"] == "input_reference"
    assert "URL" in response.json()["error"]["message"]
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD and tenant.ledger.count() == 1


# --- capabilities, as GET /v1/models reports them -----------------------------------------------


def test_capabilities_declare_the_media_each_model_takes():
    r2v = adaptor.capabilities("wan2.6-r2v")
    assert r2v["modes"] == ["reference"] and r2v["resolutions"] == ["720p", "1080p"]
    assert r2v["durations"] == list(range(2, 11)) and "832x480" not in r2v["sizes"]
    assert r2v["inputs"]["reference_images"] == 5 and r2v["inputs"]["reference_videos"] == 3
    assert r2v["inputs"]["audio"] == 0 and r2v["inputs"]["generate_audio"] == [True, False]
    t2v = adaptor.capabilities("wan2.6-t2v")
    assert t2v["durations"] == [5, 10, 15] and t2v["audio"] is True and t2v["inputs"]["audio"] == 1
    assert adaptor.capabilities("wan2.6-i2v-flash")["durations"] == list(range(2, 16))
    i2v = adaptor.capabilities("wan2.7-i2v")
    assert i2v["modes"] == ["image", "first_last", "extend"] and i2v["sizes"] == []
    assert i2v["inputs"]["first_clip"] is True and i2v["inputs"]["generate_audio"] == [True]
    assert ["first_clip", "image"] in i2v["inputs"]["excludes"]
    assert adaptor.capabilities("wan2.7-t2v")["aspect_ratios"] == ["16:9", "9:16", "1:1", "4:3", "3:4"]
    edit = adaptor.capabilities("wan2.7-videoedit")
    assert edit["inputs"]["reference_videos"] == 1 and edit["inputs"]["reference_images"] == 4
    assert edit["modes"] == ["edit"] and edit["inputs"]["video"] is True
    assert edit["inputs"]["excludes"] == [["video", "reference_videos"]]
    assert adaptor.capabilities("wan2.7-i2v")["inputs"]["video"] is False
    assert adaptor.capabilities("wan2.5-i2v-preview")["inputs"]["audio"] == 1
    assert adaptor.capabilities("wan2.2-i2v-plus")["inputs"]["audio"] == 0
    assert adaptor.capabilities("wan2.7-i2v-2026-04-25") == i2v  # a dated snapshot
    for model in (*WAN26, *WAN27):
        assert model in adaptor.known_models


def test_models_endpoint_reports_them(api, wan):
    listed = {entry["id"]: entry for entry in api.get("/v1/models").json()["data"]}
    for model in (*WAN26, *WAN27):
        assert listed[model]["owned_by"] == "dashscope"
        assert listed[model]["capabilities"] == adaptor.capabilities(model)
    assert listed["wan2.7-r2v"]["capabilities"]["inputs"]["reference_videos"] == 5


def test_plan_alone_enforces_what_check_inputs_would():
    """plan() refuses on its own too (the gateway calls check_inputs() first, tests may not)."""
    request = CanonicalRequest(model="m", image=ImageInput(url=IMG), first_clip=MediaInput(url=CLIP))
    with pytest.raises(RequestInvalid) as info:
        adaptor.plan(request, "wan2.7-i2v")
    assert info.value.param == "image"
    with pytest.raises(RequestInvalid) as info:
        adaptor.plan(CanonicalRequest(model="m", generate_audio=True), "wan2.2-t2v-plus")
    assert info.value.param == "generate_audio"
    request = CanonicalRequest(
        model="m", reference_videos=[MediaInput(url=CLIP)], audio=[MediaInput(url=SONG, kind="audio")]
    )
    with pytest.raises(RequestInvalid):
        check_inputs(request, "wan2.6-r2v", adaptor.capabilities("wan2.6-r2v"))
    both = CanonicalRequest(model="m", video=MediaInput(url=CLIP), reference_videos=[MediaInput(url=CLIP2)])
    with pytest.raises(RequestInvalid) as info:
        adaptor.plan(both, "wan2.7-videoedit")
    assert info.value.param == "reference_videos"


def test_an_own_video_without_a_url_at_dashscope_is_refused():
    """One of the client's videos is given to DashScope by its result URL; without one it cannot be."""
    source = TaskRef("task-1", "wan2.7-t2v", {"kind": "t2v"})
    clip = MediaInput(video_id="video_source000001", source=source)
    for model, fields in (("wan2.7-i2v", {"first_clip": clip}), ("wan2.7-videoedit", {"video": clip})):
        with pytest.raises(RequestInvalid) as info:
            adaptor.checked_plan(CanonicalRequest(model=model, prompt="p", **fields), model)
        assert (info.value.param, info.value.code) == (next(iter(fields)), "invalid_source")


# --- regional and workspace base URLs -------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "root"),
    [
        ("https://dashscope.aliyuncs.com/api/v1", "https://dashscope.aliyuncs.com/api/v1"),
        ("https://dashscope-intl.aliyuncs.com", "https://dashscope-intl.aliyuncs.com/api/v1"),
        ("https://dashscope-us.aliyuncs.com/api/v1/", "https://dashscope-us.aliyuncs.com/api/v1"),
        ("https://ws-abc123.cn-beijing.maas.aliyuncs.com", "https://ws-abc123.cn-beijing.maas.aliyuncs.com/api/v1"),
        (
            "https://ws-abc123.ap-southeast-1.maas.aliyuncs.com/api/v1",
            "https://ws-abc123.ap-southeast-1.maas.aliyuncs.com/api/v1",
        ),
        ("https://ws-1.eu-central-1.maas.aliyuncs.com/", "https://ws-1.eu-central-1.maas.aliyuncs.com/api/v1"),
        (f"https://dashscope.aliyuncs.com{CREATE}", "https://dashscope.aliyuncs.com/api/v1"),
        ("https://dashscope-intl.aliyuncs.com/compatible-mode/v1", "https://dashscope-intl.aliyuncs.com/api/v1"),
        ("https://proxy.example/wan/api/v1", "https://proxy.example/wan/api/v1"),
        ("https://proxy.example/wan", "https://proxy.example/wan/api/v1"),
    ],
)
def test_api_root_of_each_base_url_style(base, root):
    assert api_root(base) == root


def test_known_base_urls_cover_the_regions_and_workspaces():
    urls = [url for url, _ in KNOWN_BASE_URLS]
    assert adaptor.known_base_urls == KNOWN_BASE_URLS and urls[0] == adaptor.default_base_url
    assert "https://dashscope-intl.aliyuncs.com/api/v1" in urls and "https://dashscope-us.aliyuncs.com/api/v1" in urls
    assert all(api_root(url) == url for url in urls)


@pytest.mark.parametrize("suffix", ["", "/", "/api/v1", "/api/v1/", CREATE])
@pytest.mark.parametrize("prefix", ["", "/ws-abc123"])
def test_create_query_and_cancel_paths_on_each_base_url(prefix, suffix):
    with DashScopeSimulator(api_key=KEY, prefix=prefix) as simulator:
        ctx = CallContext(base_url=simulator.url + prefix + suffix, credentials=KEY, options={})
        request = CanonicalRequest(model="wan2.7-t2v", prompt="p")
        plan = adaptor.plan(request, "wan2.7-t2v")
        submission = adaptor.submit(ctx, request, "wan2.7-t2v", plan)
        assert simulator.calls("POST")[-1].path == f"{prefix}{CREATE}"
        ref = TaskRef(vendor_task_id=submission.vendor_task_id, upstream_model="wan2.7-t2v", state=submission.state)
        assert adaptor.poll(ctx, ref).vendor_status == "PENDING"
        assert simulator.calls("GET")[-1].path == f"{prefix}/api/v1/tasks/{submission.vendor_task_id}"
        adaptor.cancel(ctx, ref)
        assert simulator.calls("POST")[-1].path == f"{prefix}/api/v1/tasks/{submission.vendor_task_id}/cancel"
        assert "accepted" in adaptor.check(ctx)


def test_channel_on_a_workspace_style_base_completes(api, tenant, wan):
    with DashScopeSimulator(api_key=KEY, prefix="/ws-abc123") as simulator:
        Channel.objects.filter(pk=wan.pk).update(base_url=f"{simulator.url}/ws-abc123")
        task = create(api, "unified", {"model": "wan2.7-t2v", "prompt": "p", "duration": 3})
        assert simulator.calls("POST")[-1].path == f"/ws-abc123{CREATE}"
        task = drive(task)
        assert task.status == VideoTask.Status.COMPLETED and task.amount_charged == 3 * PRICE * 2
        tenant.refresh_from_db()
        assert tenant.balance == 10 * USD - 3 * PRICE * 2


# --- the simulator checks what DashScope checks ---------------------------------------------------


@pytest.mark.parametrize(
    ("model", "inputs", "parameters"),
    [
        ("wan2.7-i2v", {"img_url": IMG}, {}),  # the legacy field on a wan2.7 model
        ("wan2.7-i2v", {"media": [{"type": "reference_image", "url": IMG}]}, {}),
        ("wan2.7-i2v", {"media": [{"type": "first_frame", "url": PNG_URI}]}, {}),
        ("wan2.7-i2v", {"media": [{"type": "first_frame", "url": IMG}, {"type": "first_clip", "url": CLIP}]}, {}),
        ("wan2.7-i2v", {"media": [{"type": "first_frame", "url": IMG}]}, {"duration": 16}),
        ("wan2.7-i2v", {"media": [{"type": "first_frame", "url": IMG}]}, {"audio": True}),
        ("wan2.7-r2v", {"media": [{"type": "reference_video", "url": CLIP}] * 6}, {}),
        ("wan2.7-videoedit", {"media": [{"type": "reference_image", "url": IMG}]}, {}),
        ("wan2.7-t2v", {}, {"resolution": "480P"}),
        ("wan2.7-t2v", {}, {"size": "1280*720"}),
        ("wan2.6-r2v", {"reference_urls": [CLIP] * 4}, {}),
        ("wan2.6-r2v", {"reference_urls": [CLIP]}, {"duration": 15}),
        ("wan2.6-t2v", {}, {"duration": 7}),
        ("wan2.6-t2v", {}, {"shot_type": "triple"}),
        ("wan2.6-i2v", {"img_url": IMG, "media": [{"type": "first_frame", "url": IMG}]}, {}),
        ("wan2.2-t2v-plus", {}, {"shot_type": "multi"}),
    ],
)
def test_simulator_refuses_what_dashscope_refuses(sim, model, inputs, parameters):
    import httpx

    response = httpx.post(
        sim.url + CREATE,
        headers={"Authorization": f"Bearer {KEY}", "X-DashScope-Async": "enable"},
        json={"model": model, "input": {"prompt": "p", **inputs}, "parameters": parameters},
    )
    assert response.status_code == 400 and response.json()["code"] == "InvalidParameter", response.text
    assert sim.tasks == {}
