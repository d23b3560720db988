"""Vidu Q3 (viduq3-pro, viduq3-turbo, viduq3) and reference2video with subjects: the adaptor against
the Vidu simulator, then end to end through /v1/videos and /v1/video/generations with exact billing."""

import httpx
import pytest

from channels.adaptors.base import CallContext
from channels.adaptors.vidu import adaptor
from channels.canonical import CanonicalRequest, ImageInput, MediaInput, RequestInvalid
from channels.models import Channel, Price
from tests.helpers import USD, as_sent, drive, ledger_sum
from tests.simulators.vidu import ViduSimulator
from videos.models import VideoTask

PRICE = 10_000
A, B, C = "https://x.test/a.png", "https://x.test/b.png", "https://x.test/c.png"


@pytest.fixture
def sim():
    with ViduSimulator(api_key="vda_test") as simulator:
        yield simulator


@pytest.fixture
def ctx(sim):
    return CallContext(base_url=sim.url, credentials="vda_test")


def run(ctx, request, model):
    plan = adaptor.checked_plan(request, model)
    return plan, adaptor.submit(ctx, request, model, plan)


def sent(sim):
    return sim.calls("POST")[-1]


def refs(*urls, tag=None):
    return [ImageInput(url=url, tag=tag) for url in urls]


# --- capabilities ------------------------------------------------------------------------


def test_capabilities_of_the_q3_models():
    pro = adaptor.capabilities("viduq3-pro")
    assert pro["modes"] == ["text", "image", "first_last"] and pro["durations"] == list(range(1, 17))
    assert pro["resolutions"] == ["540p", "720p", "1080p"] and pro["audio"] is True
    assert pro["inputs"]["generate_audio"] == [True, False] and pro["inputs"]["reference_images"] == 0
    turbo = adaptor.capabilities("viduq3-turbo")
    assert turbo["modes"] == ["text", "image", "first_last", "reference"]
    assert turbo["inputs"]["reference_images"] == 7 and turbo["inputs"]["image_tags"] == ["*"]
    q3 = adaptor.capabilities("viduq3")
    assert q3["modes"] == ["reference"] and q3["durations"] == list(range(3, 17)) and q3["audio"] is True
    assert adaptor.capabilities("viduq2")["inputs"]["generate_audio"] == []
    assert adaptor.capabilities("vidu2.0")["inputs"]["reference_images"] == 7  # as subjects; 3 flat
    assert adaptor.capabilities("vidu1.5")["inputs"]["image_tags"] == []  # no subjects
    assert adaptor.capabilities("viduq2-turbo")["inputs"]["reference_images"] == 0


# --- translation -------------------------------------------------------------------------


def test_q3_pro_text_to_video_with_audio_off(sim, ctx):
    request = CanonicalRequest(model="v", prompt="a cat", seconds=16, width=1440, height=1080, generate_audio=False)
    plan, _ = run(ctx, request, "viduq3-pro")
    assert (plan.seconds, plan.resolution) == (16, "1080p")
    assert sent(sim).path == "/ent/v2/text2video"
    assert sent(sim).json() == {
        "model": "viduq3-pro",
        "prompt": "a cat",
        "audio": False,
        "duration": 16,
        "resolution": "1080p",
        "aspect_ratio": "4:3",
    }


def test_audio_is_left_to_vidu_when_not_asked(sim, ctx):
    run(ctx, CanonicalRequest(model="v", prompt="x", seconds=1, resolution="540p"), "viduq3-turbo")
    assert "audio" not in sent(sim).json() and sent(sim).json()["duration"] == 1


@pytest.mark.parametrize("model", ["viduq3-pro", "viduq3-turbo"])
def test_q3_image_and_first_last_frames(sim, ctx, model):
    run(ctx, CanonicalRequest(model="v", image=ImageInput(url=A), generate_audio=True), model)
    assert sent(sim).path == "/ent/v2/img2video" and sent(sim).json()["images"] == [A]
    assert sent(sim).json()["audio"] is True
    run(ctx, CanonicalRequest(model="v", image=ImageInput(url=A), last_frame=ImageInput(url=B), seconds=12), model)
    assert sent(sim).path == "/ent/v2/start-end2video" and sent(sim).json()["images"] == [A, B]


def test_metadata_audio_is_the_audio_switch(sim, ctx):
    run(ctx, CanonicalRequest(model="v", prompt="x", extra={"audio": False, "audio_type": "all"}), "viduq3-pro")
    assert sent(sim).json()["audio"] is False and sent(sim).json()["audio_type"] == "all"


@pytest.mark.parametrize("model", ["viduq3", "viduq3-turbo"])
def test_untagged_reference_images_go_as_the_flat_list(sim, ctx, model):
    request = CanonicalRequest(model="v", prompt="these", reference_images=refs(A, B), aspect_ratio="3:4", seconds=3)
    plan, _ = run(ctx, request, model)
    body = sent(sim).json()
    assert sent(sim).path == "/ent/v2/reference2video" and plan.seconds == 3
    assert body["images"] == [A, B] and "subjects" not in body and body["aspect_ratio"] == "3:4"


def test_tagged_reference_images_become_subjects_with_voices(sim, ctx):
    images = [
        ImageInput(url=A, tag="cat"),
        ImageInput(url=B, tag="dog"),
        ImageInput(url=C, tag="cat"),
        ImageInput(data=b"\x89PNG\r\n\x1a\n" + b"\0" * 8, mime_type="image/png", tag="dog"),
    ]
    request = CanonicalRequest(
        model="v",
        prompt="@cat and @dog eat hot pot",
        reference_images=images,
        seconds=10,
        extra={"subject_voices": {"dog": "voice-7"}, "voice_id": "narrator"},
    )
    plan, submission = run(ctx, request, "viduq3")
    body = sent(sim).json()
    assert "images" not in body and body["voice_id"] == "narrator" and "subject_voices" not in body
    assert body["subjects"] == [
        {"id": "cat", "images": [A, C]},
        {"id": "dog", "images": [B, images[3].data_uri], "voice_id": "voice-7"},
    ]
    assert (plan.seconds, plan.resolution) == (10, "720p") and submission.vendor_task_id in sim.tasks


def test_seven_subjects_of_one_image(sim, ctx):
    images = [ImageInput(url=f"https://x.test/{i}.png", tag=str(i)) for i in range(1, 8)]
    run(ctx, CanonicalRequest(model="v", prompt="@1 to @7", reference_images=images), "viduq2")
    assert [subject["id"] for subject in sent(sim).json()["subjects"]] == [str(i) for i in range(1, 8)]


def test_older_models_keep_the_flat_list(sim, ctx):
    run(ctx, CanonicalRequest(model="v", prompt="x", reference_images=refs(A, B, C), seconds=4), "vidu2.0")
    assert sent(sim).json()["images"] == [A, B, C]
    run(ctx, CanonicalRequest(model="v", prompt="x", reference_images=refs(A, B, C), seconds=4), "vidu1.5")
    assert sent(sim).json()["images"] == [A, B, C]


# --- refusals (before any vendor call) ---------------------------------------------------


@pytest.mark.parametrize(
    ("model", "fields", "param", "words"),
    [
        ("viduq3", {}, "reference_images", "reference images only"),
        ("viduq3", {"image": ImageInput(url=A)}, "reference_images", "reference images only"),
        ("viduq3-pro", {"reference_images": refs(A)}, "reference_images", "cannot do reference2video"),
        ("viduq3-turbo", {"reference_images": refs(A), "seconds": 2}, "seconds", "3 to 16"),
        ("viduq3", {"reference_images": refs(A), "seconds": 17}, "seconds", "3 to 16"),
        ("viduq3-pro", {"seconds": 17}, "seconds", "1, 2"),
        ("viduq3-pro", {"resolution": "360p"}, "resolution", "540p, 720p, 1080p"),
        ("viduq3-pro", {"aspect_ratio": "21:9"}, "aspect_ratio", "4:3"),
        ("viduq2", {"generate_audio": True}, "generate_audio", "does not take"),
        ("viduq2", {"extra": {"audio": True}}, "metadata.audio", "viduq3-pro"),
        ("viduq3-pro", {"extra": {"audio": "yes"}}, "metadata.audio", "true or false"),
        ("viduq3-pro", {"generate_audio": True, "extra": {"audio": False}}, "metadata.audio", "contradicts"),
        ("viduq3", {"reference_images": [*refs(A, tag="cat"), *refs(B)]}, "reference_images[1].tag", "not a mix"),
        ("viduq3", {"reference_images": refs(A, B, C, A, tag="cat")}, "reference_images[3]", "3 images per"),
        ("viduq3", {"reference_images": refs(*[A] * 8, tag="x")}, "reference_images", "1 to 7"),
        ("viduq3", {"reference_images": refs(*[A] * 8)}, "reference_images", "1 to 7"),
        ("vidu2.0", {"reference_images": refs(A, B, C, A), "seconds": 4}, "reference_images", "at most 3"),
        ("vidu1.5", {"reference_images": refs(A, tag="cat"), "seconds": 4}, "reference_images[0].tag", "none"),
        (
            "viduq3",
            {"reference_images": refs(A, tag="cat"), "extra": {"subject_voices": {"dog": "v"}}},
            "metadata.subject_voices",
            "'dog'",
        ),
        (
            "viduq3",
            {"reference_images": refs(A, tag="cat"), "extra": {"subject_voices": ["v"]}},
            "metadata.subject_voices",
            "map subject ids",
        ),
        ("viduq3", {"reference_images": refs(A), "extra": {"subject_voices": {}}}, "metadata.subject_voices", "tagged"),
        ("viduq3", {"reference_images": refs(A), "extra": {"subjects": []}}, "metadata.subjects", "metadata"),
        ("viduq3-pro", {"image": ImageInput(url=A), "extra": {"images": [B]}}, "metadata.images", "metadata"),
        ("viduq3", {"reference_videos": [MediaInput(url=A)]}, "reference_videos", "no reference videos"),
        ("viduq3", {"audio": [MediaInput(url=A, kind="audio")]}, "audio", "no audio clips"),
    ],
)
def test_refusals(sim, model, fields, param, words):
    with pytest.raises(RequestInvalid) as exc:
        adaptor.checked_plan(CanonicalRequest(model="v", prompt="x", **fields), model)
    assert exc.value.param == param
    assert words in exc.value.message
    assert sim.requests == []


# --- the simulator checks what Vidu checks -------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "body", "reason"),
    [
        ("text2video", {"model": "viduq3", "prompt": "x"}, "FieldInvalid"),
        ("reference2video", {"model": "viduq3-pro", "prompt": "x", "images": [A]}, "FieldInvalid"),
        ("reference2video", {"model": "viduq3-turbo", "prompt": "x", "images": [A], "duration": 2}, "FieldInvalid"),
        ("text2video", {"model": "viduq3-pro", "prompt": "x", "duration": 17}, "FieldInvalid"),
        ("text2video", {"model": "viduq3-pro", "prompt": "x", "audio": "yes"}, "FieldInvalid"),
        ("text2video", {"model": "viduq3-pro", "prompt": "x", "subjects": []}, "FieldUnwanted"),
        (
            "reference2video",
            {"model": "viduq3", "prompt": "x", "images": [A], "subjects": [{"id": "a", "images": [A]}]},
            "FieldUnwanted",
        ),
        (
            "reference2video",
            {"model": "vidu1.5", "prompt": "x", "subjects": [{"id": "a", "images": [A]}]},
            "FieldUnwanted",
        ),
        (
            "reference2video",
            {"model": "viduq3", "prompt": "x", "subjects": [{"id": "a", "images": [A] * 4}]},
            "FieldItemCountOutOfRange",
        ),
        (
            "reference2video",
            {"model": "viduq3", "prompt": "x", "subjects": [{"id": str(i), "images": [A, B]} for i in range(4)]},
            "FieldItemCountOutOfRange",
        ),
        ("reference2video", {"model": "viduq3", "prompt": "x", "subjects": [{"images": [A]}]}, "FieldLacking"),
        (
            "reference2video",
            {"model": "viduq3", "prompt": "x", "subjects": [{"id": "a", "images": [A]}, {"id": "a", "images": [B]}]},
            "FieldInvalid",
        ),
        (
            "reference2video",
            {"model": "viduq3", "prompt": "x", "subjects": [{"id": "a", "images": ["x"]}]},
            "ImageFormatInvalid",
        ),
    ],
)
def test_simulator_refuses_what_vidu_refuses(sim, endpoint, body, reason):
    response = httpx.post(f"{sim.url}/ent/v2/{endpoint}", json=body, headers={"Authorization": "Token vda_test"})
    assert response.status_code == 400
    assert response.json()["reason"] == reason


# --- end to end, billed -----------------------------------------------------------------------


@pytest.fixture
def q3(sim, db):
    models = ["viduq3-pro", "viduq3-turbo", "viduq3", "viduq2"]
    channel = Channel(name="vidu", vendor="vidu", base_url=sim.url, served_models=models)
    channel.credentials = "vda_test"
    channel.save()
    for model in models:
        Price.objects.create(model=model, per_second=PRICE, resolution_multipliers={"1080p": "2", "540p": "0.5"})
    return channel


def settle(tenant):
    tenant.refresh_from_db()
    assert ledger_sum(tenant) == tenant.balance
    return tenant.balance


@pytest.mark.django_db
def test_q3_pro_through_v1_videos_is_billed_exactly(api, q3, sim, tenant):
    body = {"model": "viduq3-pro", "prompt": "a cat", "seconds": "16", "size": "1920x1080", "audio": False}
    response = api.post("/v1/videos", body, format="json")
    assert response.status_code == 200, response.content
    task = VideoTask.objects.get(public_id=response.json()["id"])
    assert task.amount_held == 16 * PRICE * 2
    assert sent(sim).json()["audio"] is False and sent(sim).json()["duration"] == 16
    assert drive(task).status == VideoTask.Status.COMPLETED
    assert settle(tenant) == 10 * USD - 16 * PRICE * 2


@pytest.mark.django_db
def test_q3_subjects_through_the_unified_route_are_billed_exactly(api, q3, sim, tenant):
    body = {
        "model": "viduq3",
        "prompt": "@cat and @dog eat hot pot",
        "duration": 8,
        "images": [{"url": A, "tag": "cat"}, {"url": B, "tag": "dog"}, {"url": C, "tag": "cat"}],
        "metadata": {"resolution": "540p", "subject_voices": {"cat": "voice-1"}, "audio_type": "all"},
    }
    response = api.post("/v1/video/generations", body, format="json")
    assert response.status_code == 201, response.content
    task = VideoTask.objects.get(public_id=response.json()["id"])
    assert task.mode == "reference" and task.amount_held == 8 * PRICE // 2
    assert sent(sim).json()["subjects"] == [
        {"id": "cat", "images": [A, C], "voice_id": "voice-1"},
        {"id": "dog", "images": [B]},
    ]
    assert drive(task).status == VideoTask.Status.COMPLETED
    assert settle(tenant) == 10 * USD - 8 * PRICE // 2


@pytest.mark.django_db
def test_q3_turbo_reference_failure_refunds_exactly(api, q3, sim, tenant):
    sim.script = ["processing", "failed"]
    body = {"model": "viduq3-turbo", "prompt": "x", "duration": 3, "images": [A, B]}
    response = api.post("/v1/video/generations", body, format="json")
    assert response.status_code == 201, response.content
    task = VideoTask.objects.get(public_id=response.json()["id"])
    assert sent(sim).json()["images"] == [A, B] and task.amount_held == 3 * PRICE
    assert drive(task).status == VideoTask.Status.FAILED
    assert settle(tenant) == 10 * USD


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("route", "body", "param"),
    [
        ("/v1/videos", {"model": "viduq3", "prompt": "x"}, "reference_images"),
        ("/v1/videos", {"model": "viduq2", "prompt": "x", "audio": True}, "generate_audio"),
        ("/v1/videos", {"model": "viduq3-pro", "prompt": "x", "reference_images": [A]}, "reference_images"),
        ("/v1/video/generations", {"model": "viduq3-turbo", "prompt": "x", "duration": 2, "images": [A]}, "seconds"),
        (
            "/v1/video/generations",
            {"model": "viduq3", "prompt": "x", "images": [{"url": A, "tag": "cat"}, B]},
            "reference_images[1].tag",
        ),
        (
            "/v1/video/generations",
            {"model": "viduq3", "prompt": "x", "images": [{"url": A, "tag": "cat"}] * 4},
            "reference_images[3]",
        ),
    ],
)
def test_refused_requests_move_no_money(api, q3, sim, tenant, route, body, param):
    rows = tenant.ledger.count()
    response = api.post(route, body, format="json")
    assert response.status_code == 400, response.content
    error = response.json().get("error", response.json())
    assert error["param"] == as_sent(param, body)
    assert not VideoTask.objects.exists() and not sim.calls("POST")
    assert settle(tenant) == 10 * USD and tenant.ledger.count() == rows
