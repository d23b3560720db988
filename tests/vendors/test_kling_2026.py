"""Kling as it is at the end of 2026 (docs/vendors/kling.md): the single API key, kling-v2-6 and
kling-v3 with ``sound``, the omni-video and multi-image2video families, and credits
(``final_unit_deduction``) with per-credit prices. Against the Kling simulator, end to end through
``POST /v1/videos`` and ``POST /v1/video/generations``."""

import httpx
import pytest

from accounts.models import LedgerEntry
from channels import services as routing
from channels.adaptors.base import COMPLETED, CallContext, Plan, TaskRef, VendorAuthFailed
from channels.adaptors.kling import adaptor, jwt_token
from channels.canonical import CanonicalRequest, ImageInput, MediaInput, RequestInvalid
from channels.models import Channel, Price
from tests.helpers import USD, drive, ledger_sum, task_of
from tests.helpers import post_openai as openai
from tests.helpers import post_unified as unified
from tests.simulators.kling import KlingSimulator
from videos.models import VideoTask

PRICE = 10_000  # units per second; 1080p (mode pro) costs double
PER_CREDIT = 100_000  # units per Kling credit
FIRST = "https://example.com/first.jpg"
LAST = "https://example.com/last.png"
REF = "https://example.com/ref-{}.png"
CLIP = "https://example.com/clip.mp4"
API_KEY = "kling-single-api-key-0123456789"
MODELS = ("kling-v1", "kling-v1-6", "kling-v2-6", "kling-v3", "kling-video-o1", "kling-v3-omni")


@pytest.fixture
def sim():
    with KlingSimulator(access_key="ak_test", secret_key="sk_test", api_key=API_KEY) as simulator:
        yield simulator


@pytest.fixture
def ctx(sim):
    return CallContext(base_url=sim.url, credentials="ak_test|sk_test")


def make_channel(sim, credentials="ak_test|sk_test", models=MODELS):
    channel = Channel(name=f"kling-{len(credentials)}", vendor="kling", base_url=sim.url, served_models=list(models))
    channel.credentials = credentials
    channel.save()
    for model in models:
        Price.objects.get_or_create(
            model=model, defaults={"per_second": PRICE, "resolution_multipliers": {"1080p": "2"}}
        )
    return channel


@pytest.fixture
def kling(db, sim):
    return make_channel(sim)


def run(ctx, request, model):
    plan = adaptor.checked_plan(request, model)
    return plan, adaptor.submit(ctx, request, model, plan)


def sent(sim):
    return sim.calls("POST")[-1]


def assert_refused(response, param, tenant):
    """A 400 naming ``param`` (in either dialect's shape), and no money moved."""
    assert response.status_code == 400, response.content
    body = response.json()
    error = body.get("error", body)
    assert error["param"] == param, error
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD and ledger_sum(tenant) == tenant.balance
    assert LedgerEntry.objects.filter(tenant=tenant).count() == 1  # the opening top-up only


def assert_completed_and_billed(task, tenant, amount):
    task = drive(task)
    assert task.status == VideoTask.Status.COMPLETED, (task.error_code, task.error_message)
    assert task.amount_held == task.amount_charged == amount
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD - amount and ledger_sum(tenant) == tenant.balance
    return task


def refused(request, model):
    with pytest.raises(RequestInvalid) as exc:
        adaptor.checked_plan(request, model)
    return exc.value


# --- 1. the single API key ----------------------------------------------------------------------


def _query_with(sim, authorization):
    response = httpx.get(f"{sim.url}/v1/videos/text2video/1", headers={"Authorization": authorization})
    return response.status_code, response.json()["code"]


def test_simulator_takes_the_api_key_and_still_verifies_jwts(sim):
    assert _query_with(sim, f"Bearer {API_KEY}") == (404, 1203)  # authenticated; no such task
    assert _query_with(sim, f"Bearer {jwt_token('ak_test', 'sk_test')}") == (404, 1203)
    assert _query_with(sim, f"Bearer {API_KEY}x") == (401, 1002)
    assert _query_with(sim, f"Bearer {jwt_token('ak_test', 'wrong')}") == (401, 1002)
    response = httpx.get(f"{sim.url}/v1/videos/text2video/1", headers={"Authorization": "Bearer nope"})
    assert set(response.json()) == {"code", "message", "request_id"}  # Kling's error shape


def test_api_key_is_sent_as_a_plain_bearer(sim):
    ctx = CallContext(base_url=sim.url, credentials=API_KEY)
    _, submission = run(ctx, CanonicalRequest(model="k", prompt="a cat"), "kling-v1")
    assert sent(sim).headers["authorization"] == f"Bearer {API_KEY}"
    assert submission.vendor_task_id in sim.tasks
    assert "Kling accepted" in adaptor.check(ctx)


def test_wrong_api_key_is_auth_failure(sim):
    with pytest.raises(VendorAuthFailed) as exc:
        run(
            CallContext(base_url=sim.url, credentials="not-the-key"),
            CanonicalRequest(model="k", prompt="x"),
            "kling-v1",
        )
    assert (exc.value.code, exc.value.http_status) == ("1002", 401)
    assert sim.tasks == {}


@pytest.mark.parametrize("credentials", ["ak_test|sk_test", API_KEY])
def test_both_auth_modes_complete_end_to_end(api, sim, tenant, credentials):
    make_channel(sim, credentials, models=("kling-v1",))
    task = task_of(openai(api, model="kling-v1", prompt="a cat", seconds="5"))
    header = sent(sim).headers["authorization"]
    assert (header == f"Bearer {API_KEY}") == (credentials == API_KEY)
    assert_completed_and_billed(task, tenant, 5 * PRICE)
    for request in sim.calls("GET"):
        assert "/files/" in request.path or request.headers["authorization"] == header or credentials != API_KEY


# --- 2. kling-v2-6 and kling-v3 with sound ------------------------------------------------------


def test_sound_is_declared_for_the_new_models_only():
    for model in ("kling-v2-6", "kling-v3", "kling-v3-omni"):
        assert adaptor.capabilities(model)["inputs"]["generate_audio"] == [True, False]
    for model in ("kling-v1", "kling-v1-6", "kling-v2-5-turbo", "kling-video-o1"):
        assert adaptor.capabilities(model)["inputs"]["generate_audio"] == []
    assert adaptor.capabilities("kling-v3")["durations"] == list(range(3, 16))
    assert adaptor.capabilities("kling-v2-6")["durations"] == [5, 10]
    assert {"kling-v3", "kling-v3-omni", "kling-video-o1"} <= set(adaptor.known_models)


def test_generate_audio_becomes_sound(sim, ctx):
    request = CanonicalRequest(model="k", prompt="rain", seconds=15, generate_audio=True, resolution="1080p")
    plan, _ = run(ctx, request, "kling-v3")
    assert sent(sim).json() == {
        "model_name": "kling-v3",
        "mode": "pro",
        "duration": "15",
        "prompt": "rain",
        "sound": "on",
    }
    assert (plan.seconds, plan.resolution) == (15, "1080p")
    run(ctx, CanonicalRequest(model="k", prompt="rain", seconds=3, generate_audio=False), "kling-v3")
    assert (sent(sim).json()["sound"], sent(sim).json()["duration"]) == ("off", "3")
    run(
        ctx, CanonicalRequest(model="k", prompt="rain", image=ImageInput(url=FIRST), generate_audio=False), "kling-v2-6"
    )
    assert sent(sim).path == "/v1/videos/image2video" and sent(sim).json()["sound"] == "off"
    run(ctx, CanonicalRequest(model="k", prompt="rain"), "kling-v2-6")
    assert "sound" not in sent(sim).json()  # the model's default (off)


@pytest.mark.parametrize(
    ("fields", "model", "param"),
    [
        ({"generate_audio": True}, "kling-v1", "generate_audio"),
        ({"generate_audio": False}, "kling-v2-5-turbo", "generate_audio"),
        ({"extra": {"sound": "on"}}, "kling-v1-6", "metadata.sound"),
        ({"generate_audio": True}, "kling-v2-6", "generate_audio"),  # sound in mode pro only
        ({"extra": {"sound": "loud"}}, "kling-v3", "metadata.sound"),
        ({"generate_audio": True, "extra": {"sound": "off"}}, "kling-v3", "metadata.sound"),
        ({"seconds": 16}, "kling-v3", "seconds"),
        ({"seconds": 3}, "kling-v2-6", "seconds"),
        ({"extra": {"cfg_scale": 0.5}}, "kling-v3", "metadata.cfg_scale"),
    ],
)
def test_sound_and_duration_refusals(fields, model, param):
    assert refused(CanonicalRequest(model="k", prompt="x", **fields), model).param == param


def test_simulator_refuses_sound_where_kling_does(sim, ctx):
    for body in (
        {"model_name": "kling-v1", "prompt": "x", "sound": "on"},
        {"model_name": "kling-v2-6", "prompt": "x", "sound": "on", "mode": "std"},
        {"model_name": "kling-v3", "prompt": "x", "duration": "16"},
        {"model_name": "kling-v2-6", "prompt": "x", "duration": "3"},
    ):
        headers = {"Authorization": f"Bearer {API_KEY}"}
        response = httpx.post(f"{sim.url}/v1/videos/text2video", json=body, headers=headers)
        assert (response.status_code, response.json()["code"]) == (400, 1201), body


def test_kling_v3_with_sound_through_both_dialects(api, kling, sim, tenant):
    first = task_of(openai(api, model="kling-v3", prompt="rain", seconds="12", generate_audio=True, size="1920x1080"))
    assert sent(sim).json()["sound"] == "on" and sent(sim).json()["duration"] == "12"
    second = task_of(unified(api, model="kling-v2-6", prompt="rain", duration=10, audio=False))
    assert sent(sim).json()["sound"] == "off" and sent(sim).json()["duration"] == "10"
    first, second = drive(first), drive(second)
    assert first.amount_charged == first.amount_held == 12 * PRICE * 2
    assert second.amount_charged == second.amount_held == 10 * PRICE
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD - 34 * PRICE and ledger_sum(tenant) == tenant.balance


@pytest.mark.parametrize(
    ("send", "body", "param"),
    [
        (openai, {"model": "kling-v1", "prompt": "x", "generate_audio": True}, "generate_audio"),
        (unified, {"model": "kling-v2-6", "prompt": "x", "audio": True}, "generate_audio"),
        (openai, {"model": "kling-v3", "prompt": "x", "seconds": "20"}, "seconds"),
    ],
)
def test_sound_refusals_move_no_money(api, kling, tenant, send, body, param):
    assert_refused(send(api, **body), param, tenant)


# --- 3. omni-video --------------------------------------------------------------------------------


def test_omni_maps_frames_references_and_video(sim, ctx):
    request = CanonicalRequest(
        model="k",
        prompt="<<<image_1>>> walks",
        image=ImageInput(url=FIRST),
        last_frame=ImageInput(url=LAST),
        reference_images=(ImageInput(url=REF.format(1)),),
        reference_videos=(MediaInput(url=CLIP),),
        seconds=10,
    )
    plan, submission = run(ctx, request, "kling-v3-omni")
    assert sent(sim).path == "/v1/videos/omni-video"
    assert sent(sim).json() == {
        "model_name": "kling-v3-omni",
        "mode": "std",
        "duration": "10",
        "prompt": "<<<image_1>>> walks",
        "image_list": [
            {"image_url": FIRST, "type": "first_frame"},
            {"image_url": LAST, "type": "end_frame"},
            {"image_url": REF.format(1)},
        ],
        "video_list": [{"video_url": CLIP, "refer_type": "feature", "keep_original_sound": "no"}],
    }
    assert submission.state == {"action": "omni-video"}
    assert (plan.seconds, plan.resolution) == (10, "720p")


def test_omni_text_and_references_send_an_aspect_ratio(sim, ctx):
    refs = tuple(ImageInput(url=REF.format(i)) for i in range(7))
    run(ctx, CanonicalRequest(model="k", prompt="x", reference_images=refs, width=720, height=1280), "kling-video-o1")
    body = sent(sim).json()
    assert body["aspect_ratio"] == "9:16" and body["image_list"] == [{"image_url": r.url} for r in refs]
    run(ctx, CanonicalRequest(model="k", prompt="x", seconds=15, generate_audio=True), "kling-v3-omni")
    assert sent(sim).json()["aspect_ratio"] == "16:9" and sent(sim).json()["sound"] == "on"


def test_omni_base_video_edits_without_duration(sim, ctx):
    video = MediaInput(url=CLIP, tag="base")
    request = CanonicalRequest(
        model="k", prompt="make it snow", reference_videos=(video,), extra={"keep_original_sound": "yes"}
    )
    plan, _ = run(ctx, request, "kling-video-o1")
    body = sent(sim).json()
    assert "duration" not in body and "aspect_ratio" not in body
    assert body["video_list"] == [{"video_url": CLIP, "refer_type": "base", "keep_original_sound": "yes"}]
    assert plan.seconds == 10  # held for the longest video Kling edits; captured on the seconds produced


@pytest.mark.parametrize(
    ("fields", "model", "param"),
    [
        ({"last_frame": ImageInput(url=LAST)}, "kling-v3-omni", "image"),  # an end frame alone
        (
            {"reference_images": tuple(ImageInput(url=REF.format(i)) for i in range(8))},
            "kling-v3-omni",
            "reference_images",
        ),
        (
            {
                "image": ImageInput(url=FIRST),
                "reference_images": tuple(ImageInput(url=REF.format(i)) for i in range(4)),
                "reference_videos": (MediaInput(url=CLIP),),
            },
            "kling-video-o1",
            "reference_images",
        ),
        (
            {
                "reference_images": (ImageInput(url=FIRST),),
                "extra": {"element_list": [{"element_id": i} for i in range(7)]},
            },
            "kling-v3-omni",
            "reference_images",
        ),
        ({"reference_videos": (MediaInput(url=CLIP),), "generate_audio": True}, "kling-v3-omni", "generate_audio"),
        ({"reference_videos": (MediaInput(url=CLIP),), "seconds": 12}, "kling-v3-omni", "seconds"),
        ({"reference_videos": (MediaInput(url=CLIP, tag="base"),), "seconds": 5}, "kling-v3-omni", "seconds"),
        (
            {"reference_videos": (MediaInput(url=CLIP, tag="base"),), "image": ImageInput(url=FIRST)},
            "kling-v3-omni",
            "image",
        ),
        ({"reference_videos": (MediaInput(url=CLIP, tag="motion"),)}, "kling-v3-omni", "reference_videos[0].tag"),
        ({"reference_videos": (MediaInput(url=CLIP), MediaInput(url=CLIP))}, "kling-v3-omni", "reference_videos"),
        ({"reference_images": (ImageInput(url=FIRST, tag="style"),)}, "kling-v3-omni", "reference_images[0].tag"),
        ({"generate_audio": True}, "kling-video-o1", "generate_audio"),
        ({"seconds": 11}, "kling-video-o1", "seconds"),
        ({"seconds": 2}, "kling-v3-omni", "seconds"),
        ({"prompt": ""}, "kling-v3-omni", "prompt"),
        ({"extra": {"image_list": []}}, "kling-v3-omni", "metadata.image_list"),
        ({"extra": {"keep_original_sound": "yes"}}, "kling-v3-omni", "metadata.keep_original_sound"),
        ({"extra": {"camera_control": {"type": "simple"}}}, "kling-v3-omni", "metadata.camera_control"),
        ({"reference_videos": (MediaInput(url=CLIP),)}, "kling-v3", "reference_videos"),
    ],
)
def test_omni_refusals(fields, model, param):
    assert refused(CanonicalRequest(model="k", **{"prompt": "x", **fields}), model).param == param


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"image_list": [{"image_url": LAST, "type": "end_frame"}]}, "first_frame"),
        ({"image_list": [{"image_url": REF.format(i)} for i in range(8)], "aspect_ratio": "1:1"}, "at most 7"),
        (
            {
                "image_list": [{"image_url": REF.format(i)} for i in range(5)],
                "video_list": [{"video_url": CLIP, "refer_type": "feature"}],
                "aspect_ratio": "1:1",
            },
            "at most 4",
        ),
        ({"video_list": [{"video_url": CLIP, "refer_type": "feature"}], "sound": "on", "aspect_ratio": "1:1"}, "sound"),
        (
            {"video_list": [{"video_url": CLIP, "refer_type": "feature"}], "duration": "12", "aspect_ratio": "1:1"},
            "duration",
        ),
        ({"duration": "5"}, "aspect_ratio"),
        ({"image_list": [{"image_url": FIRST, "type": "first_frame"}], "aspect_ratio": "1:1"}, "aspect_ratio"),
    ],
)
def test_simulator_checks_omni_rules(sim, body, words):
    headers = {"Authorization": f"Bearer {API_KEY}"}
    body = {"model_name": "kling-v3-omni", "prompt": "x", **body}
    response = httpx.post(f"{sim.url}/v1/videos/omni-video", json=body, headers=headers)
    assert (response.status_code, response.json()["code"]) == (400, 1201)
    assert words in response.json()["message"]


def test_omni_through_both_dialects(api, kling, sim, tenant):
    first = task_of(
        openai(
            api,
            model="kling-v3-omni",
            prompt="<<<image_1>>> in the style of <<<video_1>>>",
            seconds="8",
            reference_images=[REF.format(1), REF.format(2)],
            reference_videos=[{"url": CLIP, "tag": "feature"}],
        )
    )
    assert sent(sim).path == "/v1/videos/omni-video"
    assert first.vendor_state == {"action": "omni-video"}
    second = task_of(
        unified(
            api,
            model="kling-video-o1",
            prompt="edit",
            reference_videos=[{"url": CLIP, "tag": "base"}],
            size="1920x1080",
        )
    )
    assert sent(sim).json()["video_list"][0]["refer_type"] == "base"
    first, second = drive(first), drive(second)
    assert first.status == second.status == VideoTask.Status.COMPLETED
    polled = [request.path for request in sim.calls("GET") if "/files/" not in request.path]
    assert polled and all(path.startswith("/v1/videos/omni-video") for path in polled)
    assert first.amount_charged == first.amount_held == 8 * PRICE
    # edit mode: held for 10 s at 1080p, captured on the 8.1 s the base video gave
    assert second.amount_held == 10 * PRICE * 2 and second.amount_charged == 81 * PRICE * 2 // 10
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD - first.amount_charged - second.amount_charged == ledger_sum(tenant)


@pytest.mark.parametrize(
    ("send", "body", "param"),
    [
        (openai, {"model": "kling-v3-omni", "prompt": "x", "metadata": {"last_frame_url": LAST}}, "image"),
        (
            unified,
            {"model": "kling-v3-omni", "prompt": "x", "reference_videos": [CLIP], "generate_audio": True},
            "generate_audio",
        ),
        (
            openai,
            {"model": "kling-video-o1", "prompt": "x", "reference_videos": [{"url": CLIP, "tag": "x"}]},
            "reference_videos[0].tag",
        ),
        (unified, {"model": "kling-v3", "prompt": "x", "reference_videos": [CLIP]}, "reference_videos"),
    ],
)
def test_omni_refusals_move_no_money(api, kling, tenant, send, body, param):
    assert_refused(send(api, **body), param, tenant)


# --- 4. multi-image2video -------------------------------------------------------------------------


def test_multi_image_body_and_family(sim, ctx):
    refs = tuple(ImageInput(url=REF.format(i)) for i in range(4))
    _, submission = run(ctx, CanonicalRequest(model="k", prompt="these four", reference_images=refs), "kling-v1-6")
    assert sent(sim).path == "/v1/videos/multi-image2video"
    assert sent(sim).json() == {
        "model_name": "kling-v1-6",
        "mode": "std",
        "duration": "5",
        "prompt": "these four",
        "image_list": [{"image": ref.url} for ref in refs],
    }
    assert submission.state == {"action": "multi-image2video"}
    result = adaptor.poll(ctx, TaskRef(submission.vendor_task_id, "kling-v1-6", submission.state))
    assert result.status in ("queued", "in_progress")
    assert sim.calls("GET")[-1].path == f"/v1/videos/multi-image2video/{submission.vendor_task_id}"
    assert adaptor.capabilities("kling-v1-6")["inputs"]["reference_images"] == 4


@pytest.mark.parametrize(
    ("fields", "model", "param"),
    [
        (
            {"reference_images": tuple(ImageInput(url=REF.format(i)) for i in range(5))},
            "kling-v1-6",
            "reference_images",
        ),
        (
            {"reference_images": (ImageInput(url=REF.format(1)),), "image": ImageInput(url=FIRST)},
            "kling-v1-6",
            "reference_images",
        ),
        ({"reference_images": (ImageInput(url=REF.format(1)),), "prompt": ""}, "kling-v1-6", "prompt"),
        ({"reference_images": (ImageInput(url=REF.format(1)),)}, "kling-v2-6", "reference_images"),
        (
            {"reference_images": (ImageInput(data=b"GIF89a", mime_type="image/gif"),)},
            "kling-v1-6",
            "reference_images[0]",
        ),
    ],
)
def test_multi_image_refusals(fields, model, param):
    assert refused(CanonicalRequest(model="k", **{"prompt": "x", **fields}), model).param == param


def test_simulator_checks_multi_image(sim):
    headers = {"Authorization": f"Bearer {API_KEY}"}
    for body in (
        {"model_name": "kling-v1-6", "prompt": "x", "image_list": [{"image": FIRST}] * 5},
        {"model_name": "kling-v1-6", "prompt": "x", "image_list": []},
        {"model_name": "kling-v2-6", "prompt": "x", "image_list": [{"image": FIRST}]},
        {"model_name": "kling-v1-6", "image_list": [{"image": FIRST}]},
    ):
        response = httpx.post(f"{sim.url}/v1/videos/multi-image2video", json=body, headers=headers)
        assert (response.status_code, response.json()["code"]) == (400, 1201), body


def test_multi_image_through_both_dialects(api, kling, sim, tenant):
    first = task_of(
        openai(api, model="kling-v1-6", prompt="x", seconds="10", reference_images=[REF.format(1), REF.format(2)])
    )
    assert sent(sim).path == "/v1/videos/multi-image2video"
    second = task_of(unified(api, model="kling-v1-6", prompt="x", reference_images=[{"url": REF.format(1)}]))
    assert len(sent(sim).json()["image_list"]) == 1
    first, second = drive(first), drive(second)
    assert first.amount_charged == first.amount_held == 10 * PRICE
    assert second.amount_charged == second.amount_held == 5 * PRICE
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD - 15 * PRICE == ledger_sum(tenant)


def test_multi_image_refusal_moves_no_money(api, kling, tenant):
    body = {"model": "kling-v1-6", "prompt": "x", "reference_images": [REF.format(i) for i in range(5)]}
    assert_refused(openai(api, **body), "reference_images", tenant)


# --- 5. credits -----------------------------------------------------------------------------------


def test_poll_records_the_credits_and_the_video_id(sim, ctx):
    request = CanonicalRequest(model="k", prompt="x", seconds=10, resolution="1080p")
    plan, submission = run(ctx, request, "kling-v1")
    assert plan.derived["vendor_credits"] == "7"  # 3.5 per 5 s in pro
    ref = TaskRef(submission.vendor_task_id, "kling-v1", submission.state)
    while (result := adaptor.poll(ctx, ref)).status != COMPLETED:
        pass
    assert result.state == {"vendor_credits": "7", "vendor_video_id": f"video-{submission.vendor_task_id}"}
    sim.credits = "nan"
    [other] = [t for t in sim.tasks.values()]
    other.polls = 0
    assert "vendor_credits" not in adaptor._result(sim.task_data(other, "succeed"), other.id).state


def test_price_per_credit(db):
    price = Price.objects.create(model="kling-v1", per_second=PRICE, per_credit=PER_CREDIT, per_video=5)
    plan = Plan(seconds=10, resolution="1080p", derived={"vendor_credits": "7"})
    held = routing.quote("kling-v1", plan)
    assert held == 7 * PER_CREDIT + 5
    assert routing.settle_amount("kling-v1", 10, "1080p", held, credits="3.5") == 350_005
    assert routing.settle_amount("kling-v1", 10, "1080p", held, credits="70") == held  # never above the hold
    assert routing.settle_amount("kling-v1", 10, "1080p", held) == held  # the vendor said nothing
    with pytest.raises(routing.ModelNotPriced):
        routing.quote("kling-v1", Plan(seconds=10))  # a channel that cannot estimate credits
    price.per_credit = None
    price.save()
    assert routing.quote("kling-v1", plan) == 10 * PRICE + 5


def test_per_credit_price_holds_the_expected_credits(api, kling, sim, tenant):
    Price.objects.filter(model="kling-v3").update(per_credit=PER_CREDIT)
    task = task_of(openai(api, model="kling-v3", prompt="x", seconds="15", size="1280x720"))
    assert task.amount_held == 6 * PER_CREDIT  # 2 credits per 5 s in std
    task = drive(task)
    assert task.status == VideoTask.Status.COMPLETED
    assert task.vendor_state["vendor_credits"] == "6"
    assert task.amount_charged == 6 * PER_CREDIT
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD - 6 * PER_CREDIT == ledger_sum(tenant)


def test_per_credit_price_captures_the_credits_charged(api, kling, sim, tenant):
    Price.objects.filter(model="kling-v3").update(per_credit=PER_CREDIT)
    sim.credits = "2.5"
    task = drive(task_of(unified(api, model="kling-v3", prompt="x", duration=15)))
    assert task.amount_held == 6 * PER_CREDIT and task.amount_charged == 250_000
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD - 250_000 == ledger_sum(tenant)


# --- the operator's pages and apply -------------------------------------------------------------


@pytest.fixture
def staff_client(db):
    from django.contrib.auth import get_user_model

    from tests.helpers import signed_in

    user = get_user_model().objects.create_user("operator", password="pw-operator-123", is_staff=True)
    return signed_in(user)


def channel_form(**fields):
    data = {"name": "k", "base_url": "", "served_models": "kling-v3", "model_mapping": "", "priority": "0"}
    return {**data, "weight": "1", "options": "", **fields}


def test_channel_form_offers_both_kinds_of_credentials(staff_client):
    page = staff_client.get("/staff/channels/new?vendor=kling").content.decode()
    assert 'name="credential_access_key"' in page and 'name="credential_api_key"' not in page
    assert "?vendor=kling&amp;credentials=api_key" in page and "sent as it is" in page
    page = staff_client.get("/staff/channels/new?vendor=kling&credentials=api_key").content.decode()
    assert 'name="credential_api_key"' in page and 'name="credential_access_key"' not in page
    assert 'name="credential_choice" value="api_key"' in page

    data = channel_form(credential_choice="api_key", credential_api_key=API_KEY)
    assert staff_client.post("/staff/channels/new?vendor=kling", data).status_code == 302
    channel = Channel.objects.get(name="k")
    assert channel.credentials == API_KEY
    page = staff_client.get(f"/staff/channels/{channel.pk}/").content.decode()
    assert 'name="credential_api_key"' in page and API_KEY not in page  # the saved kind, never the key
    data = channel_form(credential_choice="ak_sk", credential_access_key="ak", credential_secret_key="sk")
    assert staff_client.post(f"/staff/channels/{channel.pk}/", data).status_code == 302
    channel.refresh_from_db()
    assert channel.credentials == "ak|sk"

    response = staff_client.post(
        "/staff/channels/new?vendor=kling",
        channel_form(name="k2", credential_choice="api_key", credential_api_key="a b"),
    )
    assert response.status_code == 200 and b"either AK|SK" in response.content
    assert not Channel.objects.filter(name="k2").exists()


def test_price_form_and_apply_take_a_price_per_credit(staff_client):
    data = {
        "model": "kling-v3",
        "per_second": "0.01",
        "per_video": "0",
        "resolution_multipliers": "",
        "per_credit": "0.14",
    }
    assert staff_client.post("/staff/prices/new", data).status_code == 302
    price = Price.objects.get(model="kling-v3")
    assert (price.per_credit, price.per_second) == (140_000, 10_000)
    assert "per vendor credit" in staff_client.get("/staff/prices/").content.decode()
    data["per_credit"] = ""
    assert staff_client.post(f"/staff/prices/{price.pk}/", data).status_code == 302
    price.refresh_from_db()
    assert price.per_credit is None

    from channels.apply import ApplyError, apply_config

    apply_config({"prices": [{"model": "kling-v3", "per_credit": 150_000}]})
    assert Price.objects.get(model="kling-v3").per_credit == 150_000
    apply_config({"prices": [{"model": "kling-v3", "per_second": 1}]})
    assert Price.objects.get(model="kling-v3").per_credit is None
    with pytest.raises(ApplyError, match="per_credit"):
        apply_config({"prices": [{"model": "kling-v3", "per_credit": -1}]})
