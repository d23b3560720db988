"""One media vocabulary: reference images (with a role or subject tag), reference videos, audio clips,
a clip to continue and generate_audio, in the unified and OpenAI dialects. What a model cannot take
is refused before the hold, naming the field; what it takes is kept on the task as asked.

The sandbox declares the whole vocabulary (with limits like a vendor's); the OpenAI-compatible
upstream declares none of it, so it stands for every model that cannot serve an input."""

import pytest

from channels.adaptors.base import check_inputs, declare_capabilities, media_inputs
from channels.canonical import EXTEND, REFERENCE, CanonicalRequest, ImageInput, MediaInput, RequestInvalid
from tests.helpers import USD, ledger_sum
from videos.models import VideoTask

pytestmark = pytest.mark.django_db

CLIP = "https://media.example.com/clip.mp4"
SONG = "https://media.example.com/voice.mp3"
PICTURE = "https://media.example.com/face.png"


def create(api, **body):
    return api.post("/v1/videos", {"model": "sandbox-video", "prompt": "a cat", "seconds": "5", **body}, format="json")


def unified(api, **body):
    return api.post("/v1/video/generations", {"model": "sandbox-video", "prompt": "a cat", **body}, format="json")


def assert_refused(response, param, tenant):
    assert response.status_code == 400, response.content
    body = response.json()
    assert body.get("error", body)["param"] == param, body  # the OpenAI shape, or the unified one
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD and ledger_sum(tenant) == tenant.balance
    assert not VideoTask.objects.exists()


def test_the_openai_dialect_takes_every_input_and_keeps_it_on_the_task(api, sandbox, tenant):
    response = create(
        api,
        reference_images=[{"url": PICTURE, "tag": "style"}],
        reference_videos=[CLIP],
        audio_url=SONG,
        generate_audio=False,
    )
    assert response.status_code == 200, response.content
    task = VideoTask.objects.get()
    assert task.mode == REFERENCE
    assert task.params["reference_images"] == [{"url": PICTURE, "tag": "style"}]
    assert task.params["reference_videos"] == [CLIP]
    assert task.params["audio"] == [SONG]
    assert task.params["generate_audio"] is False


def test_the_unified_dialect_lifts_the_vocabulary_from_metadata_too(api, sandbox):
    response = unified(api, metadata={"first_clip": {"url": CLIP}, "driving_audio": SONG, "generate_audio": "true"})
    assert response.status_code == 201, response.content
    task = VideoTask.objects.get()
    assert task.mode == EXTEND
    assert task.params["first_clip"] == CLIP and task.params["audio"] == [SONG]
    assert task.params["generate_audio"] is True


def test_a_boolean_audio_asks_for_generated_audio(api, sandbox):
    assert unified(api, audio=False).status_code == 201
    assert VideoTask.objects.get().params["generate_audio"] is False


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"reference_videos": [CLIP]}, "reference_videos"),
        ({"audio_url": SONG}, "audio_url"),  # named as the client sent it
        ({"first_clip": CLIP}, "first_clip"),
        ({"generate_audio": True}, "generate_audio"),
        ({"reference_images": [{"url": PICTURE, "tag": "style"}]}, "reference_images[0].tag"),
    ],
)
def test_a_model_that_cannot_take_an_input_refuses_it_before_the_hold(api, sora, tenant, body, param):
    response = api.post("/v1/videos", {"model": "sora-2", "prompt": "a cat", **body}, format="json")
    assert_refused(response, param, tenant)
    assert not sora.simulator.calls("POST")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"reference_videos": [CLIP, CLIP, CLIP]}, "reference_videos"),  # the sandbox takes 2
        ({"audio_urls": [SONG, SONG]}, "audio"),  # and one audio clip
        ({"first_clip": CLIP, "image": PICTURE}, "image"),  # a continuation has no first frame
        ({"reference_images": [{"url": PICTURE, "tag": "villain"}]}, "reference_images[0].tag"),
    ],
)
def test_limits_and_exclusions_are_refused_naming_the_field(api, sandbox, tenant, body, param):
    metadata = {key: body.pop(key) for key in list(body) if key in ("audio_urls",)}
    assert_refused(unified(api, **body, metadata=metadata), param, tenant)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"reference_videos": ["ftp://example.com/a.mp4"]}, "reference_videos[0]"),
        ({"first_clip": "not a url"}, "first_clip"),
        ({"audio_url": {"url": 42}}, "audio_url[0]"),
        ({"generate_audio": "maybe"}, "generate_audio"),
        ({"reference_videos": [{"url": CLIP, "tag": ""}]}, "reference_videos[0]"),
        ({"first_clip": [CLIP, CLIP]}, "first_clip"),
    ],
)
def test_malformed_media_is_a_400_naming_the_field(api, sandbox, tenant, body, param):
    assert_refused(create(api, **body), param, tenant)


def test_models_lists_what_each_model_takes(api, sandbox, sora):
    entries = {entry["id"]: entry for entry in api.get("/v1/models").json()["data"]}
    sandbox_inputs = entries["sandbox-video"]["capabilities"]["inputs"]
    assert sandbox_inputs["reference_videos"] == 2 and sandbox_inputs["audio"] == 1
    assert sandbox_inputs["first_clip"] is True and sandbox_inputs["generate_audio"] == [True, False]
    assert ["first_clip", "image"] in sandbox_inputs["excludes"]
    sora_inputs = entries["sora-2"]["capabilities"]["inputs"]
    assert sora_inputs["reference_videos"] == 0 and sora_inputs["first_clip"] is False


def test_check_inputs_refuses_everything_when_the_adaptor_cannot_say():
    request = CanonicalRequest(model="m", reference_videos=[MediaInput(CLIP)])
    with pytest.raises(RequestInvalid) as refused:
        check_inputs(request, "m", {})
    assert refused.value.param == "reference_videos" and refused.value.code == "unsupported_input"


def test_check_inputs_accepts_what_is_declared():
    caps = declare_capabilities(
        ("reference",),
        (5,),
        ("720p",),
        inputs=media_inputs(reference_images=3, image_tags=("asset",), reference_videos=1, audio=3),
    )
    request = CanonicalRequest(
        model="m",
        reference_images=[ImageInput(url=PICTURE, tag="asset")],
        reference_videos=[MediaInput(CLIP)],
        audio=[MediaInput(SONG, kind="audio")] * 3,
    )
    check_inputs(request, "m", caps)  # no exception
