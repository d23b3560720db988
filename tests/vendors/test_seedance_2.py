"""Seedance 2.0 on Ark: reference images, videos and audios, generate_audio, automatic duration, the
fast model's tiers; refused before the hold when a model cannot serve them, end to end through both
dialects against the simulator, billed exactly."""

import pytest

from channels.adaptors.base import CallContext, Plan, TaskRef, VendorRejected
from channels.adaptors.seedance import AUTO_SECONDS, adaptor
from channels.canonical import CanonicalRequest, ImageInput, MediaInput, RequestInvalid
from channels.models import Channel, Price
from tests.helpers import USD, as_sent, drive, ledger_sum
from tests.simulators.seedance import SeedanceSimulator
from videos import services
from videos.models import VideoTask

KEY = "ark-simulator-key"
FULL = "doubao-seedance-2-0-260128"
FAST = "doubao-seedance-2-0-fast-260128"
MINI = "doubao-seedance-2-0-mini-260615"
PRO = "doubao-seedance-1-0-pro-250528"
IMG = "https://example.com/cat.jpg"
LAST = "https://example.com/cat-end.jpg"
CLIP = "https://media.example.com/dance.mp4"
SONG = "https://media.example.com/song.mp3"
PER_SECOND = 1_000
TIERS = {"480p": "0.5", "1080p": "2"}


@pytest.fixture
def sim():
    with SeedanceSimulator(KEY) as simulator:
        yield simulator


@pytest.fixture
def ctx(sim):
    return CallContext(base_url=sim.url, credentials=KEY, options={})


def request(**fields):
    return CanonicalRequest(model="m", **{"prompt": "Image 1 dances like Video 1 to Audio 1", **fields})


def run(ctx, canonical, model=FULL):
    plan = adaptor.checked_plan(canonical, model)
    return plan, adaptor.submit(ctx, canonical, model, plan)


def sent(sim):
    return sim.calls("POST")[-1].json()


def clips(url, n, kind="video"):
    return [MediaInput(f"{url}?n={i}", kind) for i in range(n)]


# --- translation -------------------------------------------------------------------------------


def test_references_of_every_kind_go_in_content_with_their_roles(sim, ctx):
    canonical = request(
        reference_images=[ImageInput(url=IMG)],
        reference_videos=[MediaInput(CLIP)],
        audio=[MediaInput(SONG, "audio")],
        seconds=11,
        resolution="1080p",
        aspect_ratio="16:9",
    )
    plan, submission = run(ctx, canonical)
    assert plan == Plan(seconds=11, resolution="1080p")
    assert sent(sim) == {
        "model": FULL,
        "content": [
            {"type": "text", "text": "Image 1 dances like Video 1 to Audio 1"},
            {"type": "image_url", "image_url": {"url": IMG}, "role": "reference_image"},
            {"type": "video_url", "video_url": {"url": CLIP}, "role": "reference_video"},
            {"type": "audio_url", "audio_url": {"url": SONG}, "role": "reference_audio"},
        ],
        "duration": 11,
        "resolution": "1080p",
        "generate_audio": True,
        "ratio": "16:9",
    }
    assert submission.vendor_task_id.startswith("cgt-")


def test_generate_audio_is_sent_as_asked_and_on_by_default(sim, ctx):
    run(ctx, request(prompt="a cat"))
    assert sent(sim)["generate_audio"] is True
    run(ctx, request(prompt="a cat", generate_audio=False), FAST)
    assert sent(sim)["generate_audio"] is False
    run(ctx, request(prompt="a cat"), PRO)
    assert "generate_audio" not in sent(sim)  # 1.x: never a parameter


def test_frames_and_the_full_limits_are_taken(sim, ctx):
    run(ctx, request(image=ImageInput(url=IMG), last_frame=ImageInput(url=LAST)), FAST)
    assert [item.get("role") for item in sent(sim)["content"]] == [None, "first_frame", "last_frame"]
    many = request(
        reference_images=[ImageInput(url=f"{IMG}?{i}") for i in range(9)],
        reference_videos=clips(CLIP, 3),
        audio=clips(SONG, 3, "audio"),
    )
    run(ctx, many, MINI)
    roles = [item.get("role") for item in sent(sim)["content"]]
    assert roles.count("reference_image") == 9 and roles.count("reference_video") == 3
    assert roles.count("reference_audio") == 3


def test_automatic_duration_holds_the_longest_and_reports_the_produced(sim, ctx):
    plan, submission = run(ctx, request(prompt="a cat", seconds=AUTO_SECONDS))
    assert plan == Plan(seconds=15, resolution="720p")
    assert sent(sim)["duration"] == -1
    sim.script = ["succeeded"]
    result = adaptor.poll(ctx, TaskRef(submission.vendor_task_id, FULL, {}))
    assert result.seconds == 11.0  # Ark's task object says how long the video turned out


def test_capabilities_declare_the_media_inputs():
    caps = adaptor.capabilities(FULL)
    inputs = caps["inputs"]
    assert (inputs["reference_images"], inputs["reference_videos"], inputs["audio"]) == (9, 3, 3)
    assert inputs["generate_audio"] == [True, False] and inputs["first_clip"] is False
    assert ["image", "reference_videos"] in inputs["excludes"] and ["last_frame", "audio"] in inputs["excludes"]
    assert caps["durations"] == list(range(4, 16)) and caps["resolutions"] == ["480p", "720p", "1080p"]
    assert adaptor.capabilities(FAST)["resolutions"] == ["480p", "720p"]
    assert caps["audio"] is True
    old = adaptor.capabilities(PRO)["inputs"]
    assert old["reference_videos"] == 0 and old["generate_audio"] == [] and old["reference_images"] == 0
    assert adaptor.capabilities("doubao-seedance-1-0-lite-i2v-250428")["inputs"]["reference_images"] == 4


# --- refusals before any vendor call --------------------------------------------------------------

REFUSALS = [
    # (fields, model, param)
    ({"reference_images": [ImageInput(url=IMG)] * 10}, FULL, "reference_images"),
    ({"reference_videos": clips(CLIP, 4)}, FULL, "reference_videos"),
    ({"reference_images": [ImageInput(url=IMG)], "audio": clips(SONG, 4, "audio")}, FULL, "audio"),
    ({"audio": [MediaInput(SONG, "audio")]}, FULL, "audio"),  # audio needs a reference image or video
    ({"image": ImageInput(url=IMG), "reference_videos": [MediaInput(CLIP)]}, FULL, "reference_videos"),
    ({"image": ImageInput(url=IMG), "audio": [MediaInput(SONG, "audio")]}, FULL, "audio"),
    ({"image": ImageInput(url=IMG), "reference_images": [ImageInput(url=IMG)]}, FULL, "reference_images"),
    ({"reference_videos": [MediaInput(CLIP, tag="dancer")]}, FULL, "reference_videos[0].tag"),
    ({"reference_images": [ImageInput(url=IMG, tag="style")]}, FULL, "reference_images[0].tag"),
    ({"seconds": 3}, FULL, "seconds"),
    ({"seconds": 16}, FULL, "seconds"),
    ({"resolution": "1080p"}, FAST, "resolution"),
    ({"resolution": "1080p"}, MINI, "resolution"),
    ({"resolution": "4k"}, FULL, "resolution"),  # 4K is unverified: not offered
    ({"seconds": AUTO_SECONDS}, PRO, "seconds"),  # 1.x has no automatic duration
    ({"reference_videos": [MediaInput(CLIP)]}, PRO, "reference_videos"),
    ({"generate_audio": False}, PRO, "generate_audio"),
    ({"first_clip": MediaInput(CLIP)}, FULL, "first_clip"),
    ({"extra": {"generate_audio": False}}, FULL, "metadata.generate_audio"),
]


@pytest.mark.parametrize(("fields", "model", "param"), REFUSALS)
def test_plan_refuses(sim, fields, model, param):
    with pytest.raises(RequestInvalid) as refused:
        adaptor.checked_plan(request(**fields), model)
    assert refused.value.param == param
    assert sim.calls("POST") == []


# --- what Ark checks itself -----------------------------------------------------------------------


def test_clips_too_long_in_total_are_refused_by_ark(sim, ctx):
    sim.clip_seconds = {f"{CLIP}?n=0": 10, f"{CLIP}?n=1": 6}
    with pytest.raises(VendorRejected) as refused:
        run(ctx, request(reference_videos=clips(CLIP, 2)))
    assert (refused.value.code, refused.value.http_status) == ("InvalidParameter", 400)
    assert "15 s" in refused.value.message and sim.tasks == {}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ([{"type": "audio_url", "audio_url": {"url": SONG}, "role": "reference_audio"}], "needs at least one"),
        (
            [
                {"type": "image_url", "image_url": {"url": IMG}, "role": "first_frame"},
                {"type": "video_url", "video_url": {"url": CLIP}, "role": "reference_video"},
            ],
            "cannot be combined",
        ),
        ([{"type": "video_url", "video_url": {"url": CLIP}, "role": "first_frame"}], "reference_video"),
        ([{"type": "video_url", "video_url": {"url": CLIP}, "role": "reference_video"}] * 4, "at most"),
    ],
)
def test_simulator_checks_the_rules_as_ark_does(sim, ctx, content, message):
    plan = Plan(seconds=5, resolution="720p", derived={"content": [{"type": "text", "text": "p"}, *content]})
    with pytest.raises(VendorRejected) as refused:
        adaptor.submit(ctx, request(), FULL, plan)
    assert message in refused.value.message


def test_simulator_refuses_clips_on_older_models(sim, ctx):
    content = [{"type": "text", "text": "p"}, {"type": "video_url", "video_url": {"url": CLIP}, "role": "x"}]
    with pytest.raises(VendorRejected):
        adaptor.submit(ctx, request(), PRO, Plan(seconds=5, resolution="720p", derived={"content": content}))


# --- end to end -------------------------------------------------------------------------------------


@pytest.fixture
def channel(db, sim):
    channel = Channel(name="ark-sim", vendor="seedance", base_url=sim.url, served_models=[FULL, FAST, MINI])
    channel.credentials = KEY
    channel.save()
    for model in (FULL, FAST, MINI):
        Price.objects.create(model=model, per_second=PER_SECOND, resolution_multipliers=TIERS)
    return channel


def settled(api, tenant, task_id, before, charged):
    task = drive(VideoTask.objects.get(public_id=task_id), times=12)
    assert task.status == "completed", (task.error_code, task.error_message)
    assert task.amount_charged == charged
    tenant.refresh_from_db()
    assert tenant.balance == before - charged and ledger_sum(tenant) == tenant.balance
    assert api.get(f"/v1/videos/{task_id}/content").status_code == 200
    return task


@pytest.mark.django_db
def test_references_end_to_end_through_both_dialects(api, tenant, channel, sim):
    before = tenant.balance
    response = api.post(
        "/v1/videos",
        {
            "model": FULL,
            "prompt": "Image 1 dances like Video 1",
            "seconds": "10",
            "size": "1920x1080",
            "reference_images": [IMG],
            "reference_videos": [CLIP],
            "audio_url": SONG,
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    content = sent(sim)["content"]
    assert [item["type"] for item in content] == ["text", "image_url", "video_url", "audio_url"]
    assert sent(sim)["generate_audio"] is True
    settled(api, tenant, response.json()["id"], before, 10 * PER_SECOND * 2)  # 1080p: twice the price

    before = tenant.balance
    response = api.post(
        "/v1/video/generations",
        {
            "model": FAST,
            "prompt": "a cat",
            "duration": 6,
            "size": "480p",
            "image": IMG,
            "metadata": {"last_frame_url": LAST, "generate_audio": False},
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert sent(sim)["generate_audio"] is False and sent(sim)["resolution"] == "480p"
    settled(api, tenant, response.json()["task_id"], before, 6 * PER_SECOND // 2)


@pytest.mark.django_db
def test_automatic_duration_is_charged_for_the_seconds_produced(tenant, key, channel, sim):
    before = tenant.balance
    canonical = CanonicalRequest(model=FULL, prompt="a cat", seconds=AUTO_SECONDS)
    task = services.create_task(api_key=key, request=canonical, route="openai")
    assert (task.seconds, task.amount_held) == (15, 15 * PER_SECOND)
    assert sent(sim)["duration"] == -1
    task = drive(task, times=12)
    assert task.status == "completed" and task.seconds_produced == 11
    assert task.amount_charged == 11 * PER_SECOND  # the hold was 15 s; the rest went back
    tenant.refresh_from_db()
    assert tenant.balance == before - 11 * PER_SECOND and ledger_sum(tenant) == tenant.balance


@pytest.mark.django_db
def test_a_failed_task_refunds_exactly(api, tenant, channel, sim):
    sim.script = ["failed"]
    response = api.post(
        "/v1/video/generations",
        {"model": FULL, "prompt": "p", "reference_videos": [CLIP], "audio_url": SONG},
        format="json",
    )
    assert response.status_code == 201, response.content
    task = drive(VideoTask.objects.get(public_id=response.json()["task_id"]))
    assert task.status == "failed"
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD and ledger_sum(tenant) == tenant.balance


@pytest.mark.django_db
def test_ark_refusing_the_clip_lengths_moves_no_money(api, tenant, channel, sim):
    sim.clip_seconds = {CLIP: 16}
    response = api.post(
        "/v1/video/generations", {"model": FULL, "prompt": "p", "reference_videos": [CLIP]}, format="json"
    )
    assert response.status_code == 400, response.content
    assert "15 s" in response.json()["message"]
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD and ledger_sum(tenant) == tenant.balance


API_REFUSALS = [
    ({"model": FULL, "reference_videos": [CLIP] * 4}, "reference_videos"),
    ({"model": FULL, "audio": [SONG] * 4, "reference_images": [IMG]}, "audio"),
    ({"model": FULL, "audio_url": SONG}, "audio"),
    ({"model": FULL, "image": IMG, "reference_videos": [CLIP]}, "reference_videos"),
    ({"model": FULL, "reference_images": [IMG] * 10}, "reference_images"),
    ({"model": FULL, "duration": 16}, "seconds"),
    ({"model": FAST, "size": "1920x1080"}, "size"),
    ({"model": FULL, "size": "3840x2160"}, "size"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("body", "param"), API_REFUSALS)
@pytest.mark.parametrize("route", ["/v1/videos", "/v1/video/generations"])
def test_refusals_through_the_api_move_no_money(api, tenant, channel, sim, route, body, param):
    body = {"prompt": "p", **body}
    if route == "/v1/videos":  # OpenAI's names for the duration and the first frame
        names = {"duration": "seconds", "image": "input_reference"}
        body = {names.get(name, name): value for name, value in body.items()}
    response = api.post(route, body, format="json")
    assert response.status_code == 400, response.content
    error = response.json()
    assert error.get("error", error)["param"] == as_sent(param, body)
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD and ledger_sum(tenant) == tenant.balance
    assert not VideoTask.objects.exists() and sim.calls("POST") == []
