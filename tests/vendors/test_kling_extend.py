"""Kling video-extend (a client's own Kling video continued by 4-5 s, ``first_clip`` given as its
id) and omni-video editing a canonical ``video`` (docs/vendors/kling.md), against the Kling
simulator, end to end through ``POST /v1/videos`` and ``POST /v1/video/generations``."""

import time

import httpx
import pytest

from channels.adaptors.base import COMPLETED, CallContext, Lookup, TaskRef
from channels.adaptors.kling import adaptor
from channels.canonical import EDIT, EXTEND, CanonicalRequest, ImageInput, MediaInput, RequestInvalid
from channels.models import Channel, Price
from tests.helpers import USD, drive, ledger_sum, task_of
from tests.helpers import post_openai as openai
from tests.helpers import post_unified as unified
from tests.simulators.kling import KlingSimulator
from videos.models import VideoTask

PRICE = 10_000  # units per second; 1080p (mode pro) costs double
PER_CREDIT = 100_000  # units per Kling credit
CLIP = "https://example.com/clip.mp4"
FIRST = "https://example.com/first.jpg"
API_KEY = "kling-single-api-key-0123456789"
MODELS = ("kling-v1", "kling-v1-5", "kling-v1-6", "kling-v2-6", "kling-video-o1", "kling-v3-omni")
EXTEND_PATH = "/v1/videos/video-extend"


@pytest.fixture
def sim():
    with KlingSimulator(access_key="ak_test", secret_key="sk_test", api_key=API_KEY) as simulator:
        yield simulator


@pytest.fixture
def ctx(sim):
    return CallContext(base_url=sim.url, credentials="ak_test|sk_test")


@pytest.fixture
def kling(db, sim):
    channel = Channel(name="kling", vendor="kling", base_url=sim.url, served_models=list(MODELS))
    channel.credentials = "ak_test|sk_test"
    channel.save()
    for model in MODELS:
        Price.objects.create(model=model, per_second=PRICE, resolution_multipliers={"1080p": "2"})
    return channel


def made(api, **body):
    """A finished Kling video of the tenant's, made through /v1/videos."""
    task = drive(task_of(openai(api, **{"model": "kling-v1", "prompt": "a cat", "seconds": "5", **body})))
    assert task.status == VideoTask.Status.COMPLETED, (task.error_code, task.error_message)
    return task


def extends(sim):
    return sim.calls("POST", EXTEND_PATH)


def assert_balance(tenant, spent):
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD - spent and ledger_sum(tenant) == tenant.balance


def assert_refused(response, status, param, tenant, spent, sim):
    """Refused naming ``param``, nothing more held or captured, and no extension asked of Kling."""
    assert response.status_code == status, response.content
    body = response.json()
    assert body.get("error", body)["param"] == param, body
    assert_balance(tenant, spent)
    assert not extends(sim)


# --- extension through both dialects -----------------------------------------------------------


def test_extend_own_video_through_openai(api, kling, sim, tenant):
    source = made(api)
    assert source.vendor_state["vendor_video_id"] == f"video-{source.vendor_task_id}"
    task = task_of(openai(api, model="kling-v1", prompt="and then it jumps", first_clip=source.public_id))
    [create] = extends(sim)
    assert create.json() == {"video_id": f"video-{source.vendor_task_id}", "prompt": "and then it jumps"}
    assert create.headers["authorization"].startswith("Bearer ey")  # a JWT the simulator verified
    assert (task.mode, task.channel, task.seconds, task.resolution) == (EXTEND, kling, 5, "720p")
    assert task.params["first_clip"] == {"video_id": source.public_id}
    assert task.vendor_state == {"action": "video-extend"}
    assert task.amount_held == 5 * PRICE
    task = drive(task)
    assert task.status == VideoTask.Status.COMPLETED, (task.error_code, task.error_message)
    polled = [request.path for request in sim.calls("GET") if "/files/" not in request.path]
    assert polled[-1] == f"{EXTEND_PATH}/{task.vendor_task_id}"  # queried on its family
    # Kling's answer is the whole video (5.1 s + 4.5 s); the extension is billed its 5 s
    assert task.seconds_produced is None and task.amount_charged == task.amount_held == 5 * PRICE
    assert task.vendor_state["vendor_video_id"] == f"video-{task.vendor_task_id}"
    assert_balance(tenant, 10 * PRICE)


def test_extend_through_unified_follows_a_pro_source_and_extends_again(api, kling, sim, tenant):
    source = made(api, size="1920x1080")
    assert source.vendor_state["mode"] == "pro" and source.amount_charged == 5 * PRICE * 2
    first = task_of(unified(api, model="kling-v1", prompt="on", first_clip={"video_id": source.public_id}))
    assert first.resolution == "1080p" and first.amount_held == 5 * PRICE * 2
    assert first.vendor_state == {"action": "video-extend", "mode": "pro"}
    first = drive(first)
    assert first.status == VideoTask.Status.COMPLETED
    # an extension is extended again, by its own (whole) video's id, in the same mode
    second = drive(task_of(unified(api, model="kling-v1", prompt="further", metadata={"first_clip": first.public_id})))
    assert second.status == VideoTask.Status.COMPLETED
    assert extends(sim)[-1].json() == {"video_id": f"video-{first.vendor_task_id}", "prompt": "further"}
    assert sim.tasks[second.vendor_task_id].extra["mode"] == "pro"
    for task in (first, second):
        assert task.amount_held == task.amount_charged == 5 * PRICE * 2
    assert_balance(tenant, 15 * PRICE * 2)


def test_extend_with_the_single_api_key_and_a_per_credit_price(api, kling, sim, tenant):
    kling.credentials = API_KEY
    kling.save()
    source = made(api)
    Price.objects.filter(model="kling-v1").update(per_credit=PER_CREDIT)
    task = task_of(openai(api, model="kling-v1", prompt="on", first_clip=source.public_id, seconds="5"))
    assert extends(sim)[-1].headers["authorization"] == f"Bearer {API_KEY}"
    assert task.amount_held == 2 * PER_CREDIT  # 2 credits: one extension, as 5 s in std
    task = drive(task)
    assert task.vendor_state["vendor_credits"] == "2" and task.amount_charged == 2 * PER_CREDIT
    assert_balance(tenant, 5 * PRICE + 2 * PER_CREDIT)


def test_a_hung_extend_is_found_by_its_parent_video_and_charged_once(api, kling, sim, tenant, settings):
    source = made(api)
    settings.GATEWAY_UPSTREAM_TIMEOUT = settings.GATEWAY_SUBMIT_TIMEOUT = 1
    sim.hang_next(3, path_contains=EXTEND_PATH)  # Kling makes the job, answers too late
    task = task_of(openai(api, model="kling-v1", prompt="on", first_clip=source.public_id))
    assert task.vendor_task_id == "" and task.reconcile_until is not None
    assert task.vendor_state["lookup"]["video_id"] == f"video-{source.vendor_task_id}"
    task = drive(task)
    assert task.status == VideoTask.Status.COMPLETED, (task.error_code, task.error_message)
    assert len(extends(sim)) == 1 and task.vendor_task_id in sim.tasks
    assert task.vendor_state["action"] == "video-extend"
    assert task.ledger.filter(kind="capture").count() == 1 and task.amount_charged == 5 * PRICE
    assert_balance(tenant, 10 * PRICE)


# --- refusals: before any hold, and no extension asked of Kling ----------------------------------


def test_a_url_cannot_be_extended(api, kling, sim, tenant):
    response = openai(api, model="kling-v1", prompt="on", first_clip=CLIP)
    assert_refused(response, 400, "first_clip", tenant, 0, sim)
    assert "Kling extends only its own videos: give the id of one of your videos" in response.json()["error"]["message"]
    assert_refused(
        unified(api, model="kling-v1", prompt="on", first_clip={"url": CLIP}), 400, "first_clip", tenant, 0, sim
    )
    assert not sim.calls("POST")


def test_a_video_not_completed_cannot_be_extended(api, kling, sim, tenant):
    source = task_of(openai(api, model="kling-v1", prompt="a cat", seconds="5"))  # still queued
    response = openai(api, model="kling-v1", prompt="on", first_clip=source.public_id)
    assert_refused(response, 400, "first_clip", tenant, source.amount_held, sim)
    assert response.json()["error"]["code"] == "video_not_ready"


def test_another_tenants_video_is_not_found(api, other_api, kling, sim, tenant, other_tenant):
    source = made(api)
    response = openai(other_api, model="kling-v1", prompt="on", first_clip=source.public_id)
    assert_refused(response, 404, "first_clip", other_tenant, 0, sim)
    assert_balance(tenant, 5 * PRICE)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "kling-v2-6"}, "first_clip"),  # the model follows the source's
        ({"seconds": "10"}, "seconds"),
        ({"size": "1920x1080"}, "size"),  # the mode follows the source's (std)
        ({"metadata": {"mode": "pro"}}, "metadata.mode"),
        ({"input_reference": FIRST}, "input_reference"),  # named as sent
        ({"metadata": {"watermark_info": {"enabled": True}}}, "metadata.watermark_info"),
        ({"metadata": {"camera_control": {"type": "simple"}}}, "metadata.camera_control"),
        ({"metadata": {"cfg_scale": 2}}, "metadata.cfg_scale"),
    ],
)
def test_extend_refusals_move_no_money(api, kling, sim, tenant, body, param):
    source = made(api)
    response = openai(api, **{"model": "kling-v1", "prompt": "on", "first_clip": source.public_id, **body})
    assert_refused(response, 400, param, tenant, 5 * PRICE, sim)


def test_omni_and_v1_5_videos_cannot_be_extended(api, kling, sim, tenant):
    omni = made(api, model="kling-video-o1")
    old = made(api, model="kling-v1-5", input_reference=FIRST)
    spent = omni.amount_charged + old.amount_charged
    for source in (omni, old):
        response = unified(api, model=source.model, prompt="on", first_clip=source.public_id)
        assert_refused(response, 400, "first_clip", tenant, spent, sim)
        assert response.json()["code"] == "unsupported_input"


def test_cfg_scale_goes_with_an_extension(api, kling, sim, tenant):
    source = made(api, model="kling-v2-6")
    task = task_of(
        openai(
            api,
            model="kling-v2-6",
            prompt="on",
            first_clip=source.public_id,
            metadata={"negative_prompt": "blur", "cfg_scale": 0.7, "external_task_id": "mine-1"},
        )
    )
    assert extends(sim)[-1].json() == {
        "video_id": f"video-{source.vendor_task_id}",
        "prompt": "on",
        "negative_prompt": "blur",
        "cfg_scale": 0.7,
    }
    assert drive(task).amount_charged == 5 * PRICE


# --- the adaptor ------------------------------------------------------------------------------------


def test_capabilities_declare_extension_and_editing():
    for model in ("kling-v1", "kling-v1-6", "kling-v2-1", "kling-v2-6", "kling-v3"):
        caps = adaptor.capabilities(model)
        assert caps["inputs"]["first_clip"] is True and EXTEND in caps["modes"], model
        assert ["first_clip", "image"] in caps["inputs"]["excludes"]
        assert ["first_clip", "reference_images"] in caps["inputs"]["excludes"]
        assert caps["inputs"]["video"] is False
    for model in ("kling-v1-5", "kling-video-o1", "kling-v3-omni"):
        assert adaptor.capabilities(model)["inputs"]["first_clip"] is False, model
    for model in ("kling-video-o1", "kling-v3-omni"):
        caps = adaptor.capabilities(model)
        assert caps["inputs"]["video"] is True and EDIT in caps["modes"]
        assert ["video", "reference_videos"] in caps["inputs"]["excludes"]


def finished(ctx, sim, request, model):
    plan = adaptor.checked_plan(request, model)
    submission = adaptor.submit(ctx, request, model, plan)
    ref = TaskRef(submission.vendor_task_id, model, submission.state)
    while (result := adaptor.poll(ctx, ref)).status != COMPLETED:
        pass
    return (
        plan,
        submission,
        result,
        TaskRef(ref.vendor_task_id, model, {**ref.state, **result.state}, result.result_url),
    )


def extension(source, **fields):
    clip = MediaInput(video_id="video_source01", source=source)
    return CanonicalRequest(model="k", prompt="on", first_clip=clip, **fields)


def test_poll_poll_many_and_find_on_the_extend_family(sim, ctx):
    _, _, _, source = finished(ctx, sim, CanonicalRequest(model="k", prompt="x", resolution="1080p"), "kling-v1")
    since = time.time()
    plan, submission, result, _ = finished(ctx, sim, extension(source), "kling-v1")
    assert (plan.seconds, plan.resolution, plan.derived["vendor_credits"]) == (5, "1080p", "3.5")
    assert submission.state == {"action": "video-extend", "mode": "pro"}
    assert result.seconds is None and result.state["vendor_credits"] == "3.5"
    assert sim.calls("GET")[-1].path == f"{EXTEND_PATH}/{submission.vendor_task_id}"

    ref = TaskRef(submission.vendor_task_id, "kling-v1", submission.state)
    answers = adaptor.poll_many(ctx, [ref], since)
    assert answers[submission.vendor_task_id].status == COMPLETED
    assert sim.calls("GET")[-1].path == EXTEND_PATH

    lookup = Lookup("video_x", "kling-v1", since, adaptor.lookup_state(extension(source), "kling-v1", plan))
    assert lookup.state == {"action": "video-extend", "mode": "pro", "video_id": source.state["vendor_video_id"]}
    [job] = adaptor.find(ctx, lookup)
    assert (job.vendor_task_id, job.state) == (submission.vendor_task_id, {"action": "video-extend", "mode": "pro"})
    other = Lookup("video_x", "kling-v1", since, {**lookup.state, "video_id": "video-1"})
    assert adaptor.find(ctx, other) == []  # an extension of another video is not this one
    assert adaptor.find(ctx, Lookup("video_x", "kling-v1", time.time() + 3600, lookup.state)) == []  # too old


def test_extension_plan_refusals(sim, ctx):
    _, _, _, source = finished(ctx, sim, CanonicalRequest(model="k", prompt="x"), "kling-v1")
    cases = [
        (extension(source, generate_audio=False), "kling-v2-6", "first_clip"),  # made by kling-v1
        (
            extension(TaskRef("1", "kling-v1", {"action": "omni-video", "vendor_video_id": "v"})),
            "kling-v1",
            "first_clip",
        ),
        (extension(TaskRef("1", "kling-v1", {"action": "text2video"})), "kling-v1", "first_clip"),  # no video id
        (extension(source, extra={"sound": "on"}), "kling-v1", "metadata.sound"),
        (CanonicalRequest(model="k", first_clip=MediaInput(url=CLIP)), "kling-v1", "first_clip"),
        (extension(source, image=ImageInput(url=FIRST)), "kling-v1", "image"),
    ]
    for request, model, param in cases:
        with pytest.raises(RequestInvalid) as exc:
            adaptor.checked_plan(request, model)
        assert exc.value.param == param, (request, exc.value.message)
    sound_source = TaskRef("1", "kling-v2-6", {"action": "text2video", "vendor_video_id": "v"})
    with pytest.raises(RequestInvalid) as exc:
        adaptor.checked_plan(extension(sound_source, generate_audio=True), "kling-v2-6")
    assert exc.value.param == "generate_audio"


# --- the simulator checks what Kling checks ---------------------------------------------------------


def test_simulator_takes_only_its_own_video_ids(sim, ctx):
    _, submission, _, source = finished(ctx, sim, CanonicalRequest(model="k", prompt="x"), "kling-v1")
    queued = adaptor.submit(
        ctx,
        CanonicalRequest(model="k", prompt="y"),
        "kling-v1",
        adaptor.plan(CanonicalRequest(model="k", prompt="y"), "kling-v1"),
    )
    headers = {"Authorization": f"Bearer {API_KEY}"}

    def create(body, auth=headers):
        response = httpx.post(f"{sim.url}{EXTEND_PATH}", json=body, headers=auth)
        return response.status_code, response.json()["code"]

    assert create({"video_id": submission.vendor_task_id}) == (400, 1201)  # a task id, not a video id
    assert create({"video_id": "video-404"}) == (404, 1203)
    assert create({"video_id": f"video-{queued.vendor_task_id}"}) == (404, 1203)  # not made yet
    assert create({}) == (400, 1201)
    video_id = source.state["vendor_video_id"]
    assert create({"video_id": video_id, "model_name": "kling-v1"}) == (400, 1201)  # follows the source
    assert create({"video_id": video_id, "duration": "5"}) == (400, 1201)
    assert create({"video_id": video_id, "cfg_scale": 3}) == (400, 1201)
    assert create({"video_id": video_id}, auth={}) == (401, 1001)
    assert create({"video_id": video_id}, auth={"Authorization": "Bearer wrong"}) == (401, 1002)
    assert create({"video_id": video_id, "prompt": "on"}) == (200, 0)
    response = httpx.get(f"{sim.url}{EXTEND_PATH}", headers=headers).json()
    [job] = response["data"]
    assert job["task_info"]["parent_video"] == {
        "id": video_id,
        "url": f"{sim.url}/files/{submission.vendor_task_id}.mp4",
        "duration": "5.1",
    }


def test_simulator_refuses_extending_omni_and_v1_5_videos(sim, ctx):
    omni = CanonicalRequest(model="k", prompt="x")
    _, _, _, source = finished(ctx, sim, omni, "kling-video-o1")
    headers = {"Authorization": f"Bearer {API_KEY}"}
    response = httpx.post(
        f"{sim.url}{EXTEND_PATH}", json={"video_id": source.state["vendor_video_id"]}, headers=headers
    )
    assert (response.status_code, response.json()["code"]) == (400, 1201)
    _, _, _, old = finished(ctx, sim, CanonicalRequest(model="k", image=ImageInput(url=FIRST)), "kling-v1-5")
    response = httpx.post(f"{sim.url}{EXTEND_PATH}", json={"video_id": old.state["vendor_video_id"]}, headers=headers)
    assert (response.status_code, response.json()["code"]) == (400, 1201)
    assert "kling-v1-5" in response.json()["message"]


# --- omni edits a canonical video ------------------------------------------------------------------


def test_omni_edits_a_video_by_url_and_by_own_id(api, kling, sim, tenant):
    edit = task_of(openai(api, model="kling-v3-omni", prompt="make it snow", video=CLIP))
    body = sim.calls("POST", "omni-video")[-1].json()
    assert body["video_list"] == [{"video_url": CLIP, "refer_type": "base", "keep_original_sound": "no"}]
    assert "duration" not in body and "aspect_ratio" not in body and "sound" not in body
    assert (edit.mode, edit.seconds, edit.amount_held) == (EDIT, 10, 10 * PRICE)
    edit = drive(edit)
    assert edit.amount_charged == 81 * PRICE // 10  # the base video's 8.1 s
    # one of the tenant's own videos, by id: Kling fetches it from its own URL
    source = made(api, model="kling-video-o1")
    again = task_of(
        unified(
            api,
            model="kling-video-o1",
            prompt="at night",
            video=source.public_id,
            metadata={"keep_original_sound": "yes"},
        )
    )
    item = sim.calls("POST", "omni-video")[-1].json()["video_list"][0]
    assert item == {"video_url": source.result_url, "refer_type": "base", "keep_original_sound": "yes"}
    assert again.params["video"] == {"video_id": source.public_id} and again.channel == kling
    again = drive(again)
    assert again.status == VideoTask.Status.COMPLETED
    assert_balance(tenant, edit.amount_charged + source.amount_charged + again.amount_charged)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "kling-v1"}, "video"),  # only omni models edit
        ({"seconds": "5"}, "seconds"),  # the output is as long as the video
        ({"input_reference": FIRST}, "input_reference"),  # named as sent
        ({"reference_videos": [CLIP]}, "reference_videos"),
        ({"generate_audio": True}, "generate_audio"),
        ({"video": {"url": CLIP, "tag": "feature"}}, "video.tag"),
    ],
)
def test_omni_edit_refusals_move_no_money(api, kling, sim, tenant, body, param):
    response = openai(api, **{"model": "kling-v3-omni", "prompt": "x", "video": CLIP, **body})
    assert_refused(response, 400, param, tenant, 0, sim)
    assert not sim.calls("POST")
