"""Veo 3.1 on both of Google's backends: the Gemini API (API key, operations GET, no generateAudio/seed)
and Vertex AI (Bearer access token, regional project route, fetchPredictOperation, Cloud Storage
results). Reference images, last frames, extension, 4k and the 8-second rules; refused before the hold
where a model or backend cannot serve them; end to end through both dialects, billed exactly."""

import base64

import httpx
import pytest

from channels.adaptors import registry
from channels.adaptors.base import (
    COMPLETED,
    FAILED,
    CallContext,
    Plan,
    TaskRef,
    VendorAuthFailed,
    VendorRejected,
    VendorTaskMissing,
    VendorUnavailable,
)
from channels.adaptors.gemini import adaptor as gemini
from channels.adaptors.vertex import adaptor as vertex
from channels.canonical import CanonicalRequest, ImageInput, MediaInput, RequestInvalid
from channels.models import Channel, Price
from tests.helpers import USD, as_sent, drive, ledger_sum
from tests.simulators.gemini import GeminiSimulator, tiny_png
from tests.simulators.vertex import VertexSimulator
from videos.models import VideoTask

KEY = "AIza-test-key"
TOKEN = "ya29.test-token"
PNG = tiny_png()
PNG_B64 = base64.b64encode(PNG).decode()
DATA_URI = f"data:image/png;base64,{PNG_B64}"
GA, PREVIEW = "veo-3.1-generate-001", "veo-3.1-generate-preview"
FAST, LITE = "veo-3.1-fast-generate-001", "veo-3.1-lite-generate-001"
BUCKET = "gs://veo-out/gateway/"
PER_SECOND = 1_000
TIERS = {"1080p": "1.5", "4k": "3"}


def image(tag=None):
    return ImageInput(data=PNG, mime_type="image/png", tag=tag)


@pytest.fixture
def gsim():
    with GeminiSimulator(api_key=KEY) as simulator:
        yield simulator


@pytest.fixture
def vsim():
    with VertexSimulator(token=TOKEN) as simulator:
        yield simulator


def gctx(sim, key=KEY):
    return CallContext(base_url=sim.url, credentials=key, options={})


def vbase(sim, project="proj-1"):
    return f"{sim.url}/v1/projects/{project}/locations/us-central1"


def vctx(sim, token=TOKEN, options=None, base=None):
    options = {"storage_uri": BUCKET, "storage_base_url": sim.url} if options is None else options
    return CallContext(base_url=base or vbase(sim), credentials=token, options=options)


def run(adaptor, ctx, model=GA, **fields):
    request = CanonicalRequest(model=model, **{"prompt": "a fox", **fields})
    plan = adaptor.checked_plan(request, model)
    return plan, adaptor.submit(ctx, request, model, plan)


def body(sim):
    return sim.calls("POST")[-1].json()


def finish(adaptor, ctx, submission, model=GA):
    ref = TaskRef(submission.vendor_task_id, model, submission.state)
    for _ in range(3):
        result = adaptor.poll(ctx, ref)
    return result


# --- Gemini API ----------------------------------------------------------------------------------


def test_gemini_4k_reference_images_and_no_vertex_parameters(gsim):
    plan, _ = run(gemini, gctx(gsim), reference_images=[image("asset"), image()], width=3840, height=2160)
    assert plan == Plan(seconds=8, resolution="4k")
    sent = body(gsim)
    assert sent["parameters"] == {"aspectRatio": "16:9", "durationSeconds": 8, "resolution": "4k"}
    refs = sent["instances"][0]["referenceImages"]
    assert [ref["referenceType"] for ref in refs] == ["asset", "asset"]
    run(gemini, gctx(gsim), PREVIEW, generate_audio=True, resolution="4k")  # always on: may be asked for
    assert "generateAudio" not in body(gsim)["parameters"]


def test_gemini_last_frame(gsim):
    run(gemini, gctx(gsim), image=image(), last_frame=image(), seconds=6)
    assert body(gsim)["instances"][0]["lastFrame"] == {"bytesBase64Encoded": PNG_B64, "mimeType": "image/png"}


def test_gemini_extends_a_video_it_made(gsim):
    ctx = gctx(gsim)
    _, first = run(gemini, ctx)
    done = finish(gemini, ctx, first)
    assert done.status == COMPLETED
    plan, _ = run(gemini, ctx, first_clip=MediaInput(done.result_url), prompt="the fox runs on")
    assert plan == Plan(seconds=8, resolution="720p")
    assert body(gsim)["instances"][0]["video"] == {"uri": done.result_url}


def own(url, state=None):
    """A clip naming one of the client's own Veo videos, as the gateway hands it to the adaptor."""
    source = TaskRef("models/x/operations/op1", GA, state or {}, result_url=url or "")
    return MediaInput(url=url, video_id="video_source000001", source=source)


def test_gemini_extends_an_own_video_by_its_result_uri(gsim):
    ctx = gctx(gsim)
    _, first = run(gemini, ctx)
    done = finish(gemini, ctx, first)
    run(gemini, ctx, first_clip=own(done.result_url), prompt="the fox runs on")
    assert body(gsim)["instances"][0]["video"] == {"uri": done.result_url}
    with pytest.raises(RequestInvalid) as refused:  # a video Veo gave no URI for cannot be named
        run(gemini, ctx, first_clip=own(None))
    assert (refused.value.param, refused.value.code) == ("first_clip", "invalid_source")
    with pytest.raises(RequestInvalid) as refused:
        run(gemini, ctx, first_clip=MediaInput("https://cdn.example.com/fox.mp4"))
    assert "the id of one of your Veo videos" in refused.value.message


def test_gemini_capabilities():
    caps = gemini.capabilities(GA)
    assert caps["resolutions"] == ["720p", "1080p", "4k"] and "extend" in caps["modes"]
    inputs = caps["inputs"]
    assert inputs["reference_images"] == 3 and inputs["image_tags"] == ["asset"]
    assert inputs["first_clip"] is True and inputs["generate_audio"] == [True]
    assert ["first_clip", "image"] in inputs["excludes"] and ["image", "reference_images"] in inputs["excludes"]
    lite = gemini.capabilities(LITE)
    assert lite["resolutions"] == ["720p", "1080p"] and lite["modes"] == ["text", "image"]
    assert lite["inputs"]["first_clip"] is False and lite["inputs"]["reference_images"] == 0


GEMINI_REFUSALS = [
    # (model, fields, param)
    (GA, {"resolution": "4k", "seconds": 6}, "seconds"),
    (GA, {"width": 3840, "height": 2160, "seconds": 4}, "seconds"),
    (FAST, {"resolution": "4k"}, "resolution"),
    (LITE, {"width": 3840, "height": 2160}, "size"),
    (GA, {"reference_images": [image()] * 4}, "reference_images"),
    (GA, {"reference_images": [image("style")]}, "reference_images[0].tag"),
    (GA, {"reference_images": [image()], "seconds": 6}, "reference_images"),
    (GA, {"reference_images": [image()], "image": image()}, "reference_images"),
    (LITE, {"reference_images": [image()]}, "reference_images"),
    (GA, {"last_frame": image()}, "last_frame"),
    (LITE, {"image": image(), "last_frame": image()}, "last_frame"),
    (GA, {"seed": 7}, "seed"),
    (GA, {"generate_audio": False}, "generate_audio"),
    ("veo-2.0-generate-001", {"generate_audio": True}, "generate_audio"),
    (GA, {"fps": 30}, "fps"),
    (GA, {"extra": {"generateAudio": False}}, "metadata.generateAudio"),
    (GA, {"extra": {"seed": 1}}, "metadata.seed"),
    (GA, {"extra": {"storage_uri": BUCKET}}, "metadata.storageUri"),
    (GA, {"first_clip": MediaInput("https://cdn.example.com/fox.mp4")}, "first_clip"),
    (GA, {"first_clip": MediaInput("https://x/v1beta/files/abc"), "resolution": "1080p"}, "resolution"),
    (GA, {"first_clip": MediaInput("https://x/v1beta/files/abc"), "image": image()}, "image"),
    (LITE, {"first_clip": MediaInput("https://x/v1beta/files/abc")}, "first_clip"),
    (GA, {"reference_videos": [MediaInput("https://x/a.mp4")]}, "reference_videos"),
    (GA, {"audio": [MediaInput("https://x/a.mp3", "audio")]}, "audio"),
]


@pytest.mark.parametrize(("model", "fields", "param"), GEMINI_REFUSALS)
def test_gemini_refusals(gsim, model, fields, param):
    with pytest.raises(RequestInvalid) as refused:
        run(gemini, gctx(gsim), model, **fields)
    assert refused.value.param == param
    assert gsim.calls("POST") == []


@pytest.mark.parametrize(
    ("parameters", "instance", "message"),
    [
        ({"generateAudio": True}, {}, "generateAudio parameter is not supported in Gemini API"),
        ({"seed": 1}, {}, "seed parameter is not supported"),
        ({"resolution": "4k", "durationSeconds": 4}, {}, "not supported with durationSeconds 4"),
        ({}, {"video": {"uri": "https://elsewhere/v1beta/files/op999999"}}, "generated by Veo"),
        ({}, {"referenceImages": [{"image": {"bytesBase64Encoded": PNG_B64, "mimeType": "image/png"}}]}, "asset"),
    ],
)
def test_gemini_simulator_refuses_as_google_does(gsim, parameters, instance, message):
    sent = {"instances": [{"prompt": "p", **instance}], "parameters": {"durationSeconds": 8, **parameters}}
    response = httpx.post(
        f"{gsim.url}/v1beta/models/{GA}:predictLongRunning", json=sent, headers={"x-goog-api-key": KEY}
    )
    assert response.status_code == 400 and message in response.json()["error"]["message"]


# --- Vertex AI -----------------------------------------------------------------------------------


def test_vertex_route_auth_and_body(vsim):
    plan, submission = run(vertex, vctx(vsim), seed=7, generate_audio=False, resolution="1080p")
    assert plan == Plan(seconds=8, resolution="1080p")
    call = vsim.calls("POST")[-1]
    assert call.path == f"/v1/projects/proj-1/locations/us-central1/publishers/google/models/{GA}:predictLongRunning"
    assert call.headers["authorization"] == f"Bearer {TOKEN}" and "x-goog-api-key" not in call.headers
    assert call.json()["parameters"] == {
        "aspectRatio": "16:9",
        "durationSeconds": 8,
        "resolution": "1080p",
        "seed": 7,
        "generateAudio": False,
        "storageUri": BUCKET,
    }
    assert submission.vendor_task_id.startswith("projects/proj-1/locations/us-central1/publishers/google/models/")
    run(vertex, vctx(vsim))
    assert body(vsim)["parameters"]["generateAudio"] is True  # Veo 3's default, said explicitly


def test_vertex_polls_with_fetch_predict_operation_and_downloads_from_storage(vsim):
    ctx = vctx(vsim)
    _, submission = run(vertex, ctx)
    result = finish(vertex, ctx, submission)
    fetch = vsim.calls("POST")[-1]
    assert fetch.path.endswith(f"/models/{GA}:fetchPredictOperation")
    assert fetch.json() == {"operationName": submission.vendor_task_id}
    assert result.status == COMPLETED
    assert result.result_url == f"{vsim.url}/veo-out/gateway/op000001/sample_0.mp4"
    source = vertex.content(ctx, TaskRef(submission.vendor_task_id, GA, {}, result_url=result.result_url))
    assert httpx.get(source.url, headers=source.headers).content == vsim.video_bytes
    assert httpx.get(source.url).status_code == 401


def test_vertex_extends_a_video_in_its_bucket(vsim):
    ctx = vctx(vsim)
    _, first = run(vertex, ctx)
    finish(vertex, ctx, first)
    clip = "https://storage.googleapis.com/veo-out/gateway/op000001/sample_0.mp4"
    run(vertex, ctx, first_clip=MediaInput(clip))
    assert body(vsim)["instances"][0]["video"] == {
        "gcsUri": "gs://veo-out/gateway/op000001/sample_0.mp4",
        "mimeType": "video/mp4",
    }
    with pytest.raises(RequestInvalid) as refused:
        run(vertex, ctx, first_clip=MediaInput("https://cdn.example.com/fox.mp4"))
    assert refused.value.param == "first_clip"


def test_vertex_extends_an_own_video_by_the_gcs_uri_its_poll_kept(vsim):
    ctx = vctx(vsim)  # results served from the simulator, not storage.googleapis.com
    _, first = run(vertex, ctx)
    done = finish(vertex, ctx, first)
    assert done.state == {"gcs_uri": "gs://veo-out/gateway/op000001/sample_0.mp4"}
    run(vertex, ctx, first_clip=own(done.result_url, done.state))
    assert body(vsim)["instances"][0]["video"] == {"gcsUri": done.state["gcs_uri"], "mimeType": "video/mp4"}
    # a video finished before the URI was kept: read back from its Cloud Storage URL
    clip = own("https://storage.googleapis.com/veo-out/gateway/op000001/sample_0.mp4")
    run(vertex, ctx, first_clip=clip)
    assert body(vsim)["instances"][0]["video"]["gcsUri"] == "gs://veo-out/gateway/op000001/sample_0.mp4"
    for clip in (own(done.result_url), own(None)):  # neither kept nor readable
        with pytest.raises(RequestInvalid) as refused:
            run(vertex, ctx, first_clip=clip)
        assert (refused.value.param, refused.value.code) == ("first_clip", "invalid_source")
    with pytest.raises(RequestInvalid) as refused:
        run(vertex, ctx, first_clip=MediaInput("https://cdn.example.com/fox.mp4"))
    assert "the id of one of your Veo videos" in refused.value.message


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"resolution": "4k", "seconds": 4}, "seconds"),
        ({"extra": {"storageUri": "gs://mine/"}}, "metadata.storageUri"),
        ({"extra": {"generate_audio": False}}, "metadata.generateAudio"),
        ({"reference_images": [image("style")]}, "reference_images[0].tag"),
    ],
)
def test_vertex_refusals(vsim, fields, param):
    with pytest.raises(RequestInvalid) as refused:
        run(vertex, vctx(vsim), **fields)
    assert refused.value.param == param and vsim.calls("POST") == []


def test_vertex_channel_faults(vsim):
    with pytest.raises(VendorAuthFailed) as denied:
        run(vertex, vctx(vsim, token="ya29.expired"))
    assert (denied.value.code, denied.value.http_status) == ("UNAUTHENTICATED", 401)
    with pytest.raises(VendorUnavailable, match="storage_uri"):
        run(vertex, vctx(vsim, options={}))
    with pytest.raises(VendorUnavailable, match="base URL"):
        run(vertex, vctx(vsim, base=vsim.url))
    with pytest.raises(VendorRejected):  # another project: Vertex's 404 for the model
        run(vertex, vctx(vsim, base=vbase(vsim, "proj-2")))
    assert vsim.tasks == {}


def test_vertex_poll_outcomes(vsim):
    ctx = vctx(vsim)
    _, submission = run(vertex, ctx)
    ref = TaskRef(submission.vendor_task_id, GA, submission.state)
    vsim.script = ["filtered"]
    result = vertex.poll(ctx, ref)
    assert (result.status, result.moderation) == (FAILED, True)
    vsim.script = ["error"]
    assert vertex.poll(ctx, ref).status == FAILED
    with pytest.raises(VendorTaskMissing):
        vertex.poll(ctx, TaskRef(submission.vendor_task_id.replace("op000001", "op999999"), GA, {}))


def test_vertex_inline_video_is_not_relayed(vsim):
    ctx = vctx(vsim)
    _, submission = run(vertex, ctx)
    vsim.tasks["op000001"].body["parameters"].pop("storageUri")  # as if Vertex had kept it inline
    result = finish(vertex, ctx, submission)
    assert (result.status, result.error_code) == (FAILED, "no_video")


def test_vertex_credentials_capabilities_check_and_registry(vsim):
    assert registry.get("vertex") is vertex
    assert vertex.parse_credentials(" Bearer ya29.abc ") == "ya29.abc"
    for bad in ("", '{"type": "service_account"}', "two words"):
        with pytest.raises(ValueError):
            vertex.parse_credentials(bad)
    assert vertex.capabilities(GA)["inputs"]["generate_audio"] == [True, False]
    assert "accepted" in vertex.check(vctx(vsim))
    with pytest.raises(VendorAuthFailed):
        vertex.check(vctx(vsim, token="ya29.expired"))


# --- end to end ----------------------------------------------------------------------------------


@pytest.fixture
def channel(db, gsim, vsim, settings):
    settings.GATEWAY_ALLOW_PRIVATE_URLS = True  # the Gemini simulator serves the file URIs on loopback

    def make(backend):
        if backend == "gemini":
            channel = Channel(name="veo-gemini", vendor="gemini", base_url=gsim.url, served_models=[GA])
            channel.credentials = KEY
        else:
            channel = Channel(
                name="veo-vertex",
                vendor="vertex",
                base_url=vbase(vsim),
                served_models=[GA],
                options={"storage_uri": BUCKET, "storage_base_url": vsim.url},
            )
            channel.credentials = TOKEN
        channel.save()
        Price.objects.create(model=GA, per_second=PER_SECOND, resolution_multipliers=TIERS)
        return channel

    return make


def settled(api, tenant, task_id, before, charged):
    task = drive(VideoTask.objects.get(public_id=task_id), times=12)
    assert task.status == "completed", (task.error_code, task.error_message)
    assert task.amount_charged == task.amount_held == charged
    tenant.refresh_from_db()
    assert tenant.balance == before - charged and ledger_sum(tenant) == tenant.balance
    assert api.get(f"/v1/videos/{task_id}/content").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("backend", ["gemini", "vertex"])
def test_veo_31_end_to_end_through_both_dialects(api, tenant, channel, gsim, vsim, backend):
    channel(backend)
    sim = gsim if backend == "gemini" else vsim
    before = tenant.balance
    response = api.post(
        "/v1/videos",
        {"model": GA, "prompt": "a fox", "seconds": "8", "size": "3840x2160", "reference_images": [DATA_URI]},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert body(sim)["parameters"]["resolution"] == "4k"
    settled(api, tenant, response.json()["id"], before, 8 * PER_SECOND * 3)

    before = tenant.balance
    response = api.post(
        "/v1/video/generations",
        {"model": GA, "prompt": "a fox", "duration": 6, "image": DATA_URI, "metadata": {"last_frame": DATA_URI}},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert "lastFrame" in body(sim)["instances"][0]
    settled(api, tenant, response.json()["task_id"], before, 6 * PER_SECOND)


@pytest.mark.django_db
@pytest.mark.parametrize("backend", ["gemini", "vertex"])
def test_veo_31_failure_refunds(api, tenant, channel, gsim, vsim, backend):
    channel(backend)
    (gsim if backend == "gemini" else vsim).script = ["error"]
    response = api.post("/v1/video/generations", {"model": GA, "prompt": "a fox"}, format="json")
    assert response.status_code == 201, response.content
    task = drive(VideoTask.objects.get(public_id=response.json()["task_id"]))
    assert task.status == "failed"
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD and ledger_sum(tenant) == tenant.balance


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("backend", "body_fields", "param"),
    [
        ("gemini", {"generate_audio": False}, "generate_audio"),
        ("gemini", {"metadata": {"seed": 3}}, "seed"),
        ("gemini", {"size": "3840x2160", "seconds": "4"}, "seconds"),
        ("gemini", {"reference_images": [{"url": DATA_URI, "tag": "style"}]}, "reference_images[0].tag"),
        ("gemini", {"first_clip": "https://cdn.example.com/fox.mp4"}, "first_clip"),
        ("vertex", {"reference_images": [DATA_URI] * 4}, "reference_images"),
        ("vertex", {"reference_videos": ["https://cdn.example.com/fox.mp4"]}, "reference_videos"),
    ],
)
@pytest.mark.parametrize("route", ["/v1/videos", "/v1/video/generations"])
def test_veo_31_refusals_move_no_money(api, tenant, channel, gsim, vsim, route, backend, body_fields, param):
    channel(backend)
    fields = {"model": GA, "prompt": "a fox", **body_fields}
    if route == "/v1/video/generations" and "seconds" in fields:
        fields["duration"] = int(fields.pop("seconds"))
    response = api.post(route, fields, format="json")
    assert response.status_code == 400, response.content
    error = response.json()
    assert error.get("error", error)["param"] == as_sent(param, fields)
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD and ledger_sum(tenant) == tenant.balance
    assert not VideoTask.objects.exists() and gsim.calls("POST") == [] and vsim.calls("POST") == []
