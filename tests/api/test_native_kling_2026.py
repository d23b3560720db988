"""Kling native routes of 2026 (/kling/v1/videos/{omni-video,multi-image2video,video-extend}) against
the Kling simulator: Kling's bodies in, Kling's envelope out, each task queried and listed on the
family that made it."""

import pytest
from rest_framework.test import APIClient

from channels.canonical import EDIT, EXTEND, REFERENCE
from channels.models import Channel, Price
from tests.helpers import USD, drive, ledger_sum
from tests.simulators.kling import KlingSimulator
from videos.models import VideoTask

pytestmark = pytest.mark.django_db

PRICE = 10_000  # per second; 1080p (mode pro) costs double
FIRST = "https://example.com/first.png"
LAST = "https://example.com/last.png"
REF = "https://example.com/ref-{}.png"
CLIP = "https://example.com/clip.mp4"
MODELS = ("kling-v1", "kling-v1-6", "kling-video-o1", "kling-v3-omni")
FAMILIES = ("text2video", "image2video", "omni-video", "multi-image2video", "video-extend")


@pytest.fixture
def sim():
    with KlingSimulator(access_key="ak_test", secret_key="sk_test") as simulator:
        yield simulator


@pytest.fixture
def kling(sim):
    channel = Channel(name="kling-main", vendor="kling", base_url=sim.url, served_models=list(MODELS))
    channel.credentials = "ak_test|sk_test"
    channel.save()
    for model in MODELS:
        Price.objects.create(model=model, per_second=PRICE, resolution_multipliers={"1080p": "2"})
    return channel


def create(api, family, body):
    return api.post(f"/kling/v1/videos/{family}", body, format="json")


def created(api, family, body):
    response = create(api, family, body)
    assert response.status_code == 200, response.content
    envelope = response.json()
    assert (envelope["code"], envelope["message"]) == (0, "SUCCEED") and envelope["data"]["task_status"] == "submitted"
    return VideoTask.objects.get(public_id=envelope["data"]["task_id"])


def sent(sim, family):
    return sim.calls("POST", f"/v1/videos/{family}")[-1].json()


def assert_only_on(api, task, family):
    """Queried and listed on ``family`` only, as at Kling."""
    for other in FAMILIES:
        response = api.get(f"/kling/v1/videos/{other}/{task.public_id}")
        listed = [item["task_id"] for item in api.get(f"/kling/v1/videos/{other}").json()["data"]]
        if other == family:
            assert response.status_code == 200 and response.json()["data"]["task_id"] == task.public_id
            assert task.public_id in listed
        else:
            assert (response.status_code, response.json()["code"]) == (404, 1203), other
            assert task.public_id not in listed, other


def assert_refused(response, status, code, tenant, spent=0):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code and body["data"] is None and body["message"]
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD - spent and ledger_sum(tenant) == tenant.balance


# --- omni-video ------------------------------------------------------------------------------------


def test_omni_video_in_kling_shape(api, kling, sim, tenant):
    task = created(
        api,
        "omni-video",
        {
            "model_name": "kling-v3-omni",
            "prompt": "<<<image_2>>> walks in",
            "image_list": [{"image_url": FIRST, "type": "first_frame"}, {"image_url": REF.format(1)}],
            "duration": "8",
            "mode": "pro",
            "sound": "on",
            "element_list": [{"element_id": 7}],
            "external_task_id": "mine-1",
        },
    )
    assert sent(sim, "omni-video") == {
        "model_name": "kling-v3-omni",
        "mode": "pro",
        "duration": "8",
        "prompt": "<<<image_2>>> walks in",
        "sound": "on",
        "image_list": [{"image_url": FIRST, "type": "first_frame"}, {"image_url": REF.format(1)}],
        "element_list": [{"element_id": 7}],
        "external_task_id": task.public_id,
    }
    assert (task.mode, task.seconds, task.resolution, task.amount_held) == (REFERENCE, 8, "1080p", 8 * PRICE * 2)
    assert_only_on(api, task, "omni-video")
    drive(task)
    data = api.get(f"/kling/v1/videos/omni-video/{task.public_id}").json()["data"]
    assert data["task_status"] == "succeed" and data["task_info"] == {"external_task_id": "mine-1"}
    [video] = data["task_result"]["videos"]
    assert video["id"] == task.public_id and video["duration"] == "8.1"
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD - 8 * PRICE * 2 == ledger_sum(tenant)


def test_omni_frames_and_the_default_model(api, kling, sim):
    task = created(
        api,
        "omni-video",
        {
            "prompt": "x",
            "image_list": [{"image_url": LAST, "type": "end_frame"}, {"image_url": FIRST, "type": "first_frame"}],
        },
    )
    assert task.model == "kling-video-o1"  # Kling's default on this route
    body = sent(sim, "omni-video")
    assert body["image_list"] == [{"image_url": FIRST, "type": "first_frame"}, {"image_url": LAST, "type": "end_frame"}]
    assert "aspect_ratio" not in body


def test_omni_video_list_edits_a_base_video_and_follows_a_feature_one(api, kling, sim, tenant):
    edit = created(
        api,
        "omni-video",
        {
            "model_name": "kling-video-o1",
            "prompt": "make it snow",
            "video_list": [{"video_url": CLIP, "refer_type": "base", "keep_original_sound": "yes"}],
        },
    )
    body = sent(sim, "omni-video")
    assert body["video_list"] == [{"video_url": CLIP, "refer_type": "base", "keep_original_sound": "yes"}]
    assert "duration" not in body and "aspect_ratio" not in body
    assert (edit.mode, edit.seconds, edit.amount_held) == (EDIT, 10, 10 * PRICE)
    follow = created(
        api, "omni-video", {"prompt": "like <<<video_1>>>", "aspect_ratio": "9:16", "video_list": [{"video_url": CLIP}]}
    )
    assert sent(sim, "omni-video")["video_list"][0]["refer_type"] == "feature"  # the default
    assert sent(sim, "omni-video")["aspect_ratio"] == "9:16"
    edit, follow = drive(edit), drive(follow)
    assert edit.amount_charged == 81 * PRICE // 10 and follow.amount_charged == 5 * PRICE
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD - edit.amount_charged - follow.amount_charged == ledger_sum(tenant)


@pytest.mark.parametrize(
    "body",
    [
        {"prompt": "x", "image_list": FIRST},
        {"prompt": "x", "image_list": [{"image_url": FIRST, "type": "middle"}]},
        {"prompt": "x", "image_list": [{"type": "first_frame"}]},
        {"prompt": "x", "image_list": [{"image_url": FIRST, "type": "first_frame"}] * 2},
        {"prompt": "x", "video_list": [{"video_url": CLIP}, {"video_url": CLIP}]},
        {"prompt": "x", "video_list": [{"video_url": CLIP, "refer_type": "style"}]},
        {"prompt": "x", "video_list": [{"refer_type": "base"}]},
        {"prompt": "x", "video_list": [{"video_url": CLIP, "refer_type": "base"}], "duration": "5"},
        {"prompt": "x", "model_name": "kling-v1"},  # not an omni model
        {"prompt": "x", "image_list": [{"image_url": REF.format(i)} for i in range(8)]},
    ],
)
def test_bad_omni_bodies_are_kling_errors(api, kling, sim, tenant, body):
    assert_refused(create(api, "omni-video", body), 400, 1201, tenant)
    assert not VideoTask.objects.exists() and not sim.calls("POST")


# --- multi-image2video -----------------------------------------------------------------------------


def test_multi_image2video_in_kling_shape(api, kling, sim, tenant):
    task = created(
        api,
        "multi-image2video",
        {"prompt": "these two", "image_list": [{"image": REF.format(1)}, {"image": REF.format(2)}], "duration": "10"},
    )
    assert task.model == "kling-v1-6"  # the route's default model
    assert sent(sim, "multi-image2video") == {
        "model_name": "kling-v1-6",
        "mode": "std",
        "duration": "10",
        "prompt": "these two",
        "image_list": [{"image": REF.format(1)}, {"image": REF.format(2)}],
        "external_task_id": task.public_id,
    }
    assert (task.mode, task.amount_held) == (REFERENCE, 10 * PRICE)
    assert_only_on(api, task, "multi-image2video")
    task = drive(task)
    assert task.amount_charged == 10 * PRICE
    polled = [request.path for request in sim.calls("GET") if "/files/" not in request.path]
    assert polled and all(path.startswith("/v1/videos/multi-image2video") for path in polled)
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD - 10 * PRICE == ledger_sum(tenant)


@pytest.mark.parametrize(
    "body",
    [
        {"prompt": "x", "image_list": [{"image": REF.format(i)} for i in range(5)]},
        {"prompt": "x", "image_list": [{"image_url": REF.format(1)}]},
        {"prompt": "x"},
        {"image_list": [{"image": REF.format(1)}]},
        {"prompt": "x", "image_list": [{"image": REF.format(1)}], "model_name": "kling-v1"},
    ],
)
def test_bad_multi_image_bodies_are_kling_errors(api, kling, sim, tenant, body):
    assert_refused(create(api, "multi-image2video", body), 400, 1201, tenant)
    assert not VideoTask.objects.exists() and not sim.calls("POST")


# --- video-extend ----------------------------------------------------------------------------------


def test_video_extend_takes_the_id_this_route_showed(api, kling, sim, tenant):
    source = drive(created(api, "text2video", {"model_name": "kling-v1-6", "prompt": "a cat", "mode": "pro"}))
    [video] = api.get(f"/kling/v1/videos/text2video/{source.public_id}").json()["data"]["task_result"]["videos"]
    task = created(api, "video-extend", {"video_id": video["id"], "prompt": "it jumps", "cfg_scale": 0.3})
    assert sent(sim, "video-extend") == {
        "video_id": f"video-{source.vendor_task_id}",  # Kling's own id of the video
        "prompt": "it jumps",
        "cfg_scale": 0.3,
    }
    assert (task.model, task.mode, task.seconds, task.resolution) == ("kling-v1-6", EXTEND, 5, "1080p")
    assert task.amount_held == 5 * PRICE * 2
    assert_only_on(api, task, "video-extend")
    task = drive(task)
    data = api.get(f"/kling/v1/videos/video-extend/{task.public_id}").json()["data"]
    assert data["task_status"] == "succeed" and data["task_result"]["videos"][0]["id"] == task.public_id
    # and once more, on the extension's id
    again = drive(created(api, "video-extend", {"video_id": task.public_id}))
    assert sent(sim, "video-extend") == {"video_id": f"video-{task.vendor_task_id}"}
    for extension in (task, again):
        assert extension.status == "completed" and extension.amount_charged == 5 * PRICE * 2
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD - 15 * PRICE * 2 == ledger_sum(tenant)


def test_video_extend_of_a_video_made_on_another_route(api, kling, sim):
    response = api.post("/v1/videos", {"model": "kling-v1", "prompt": "a cat", "seconds": "5"}, format="json")
    source = drive(VideoTask.objects.get(public_id=response.json()["id"]))
    task = created(api, "video-extend", {"video_id": source.public_id})
    assert task.model == "kling-v1" and sent(sim, "video-extend") == {"video_id": f"video-{source.vendor_task_id}"}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 400, 1201),
        ({"video_id": "video-831922345719271434"}, 400, 1201),  # Kling's own id is not ours
        ({"video_id": "video_doesnotexist0"}, 404, 1203),
        ({"model_name": "kling-v1", "video_id": "video_doesnotexist0"}, 404, 1203),
        ({"video_id": "{source}", "duration": "10"}, 400, 1201),
        ({"video_id": "{source}", "mode": "pro"}, 400, 1201),  # the source's mode is std
        ({"video_id": "{source}", "model_name": "kling-v1-6"}, 400, 1201),  # made by kling-v1
        ({"video_id": "{source}", "callback_url": "https://x.test"}, 400, 1201),
    ],
)
def test_video_extend_refusals_move_no_money(api, kling, sim, tenant, body, status, code):
    source = drive(created(api, "text2video", {"model_name": "kling-v1", "prompt": "a cat"}))
    body = {key: source.public_id if value == "{source}" else value for key, value in body.items()}
    assert_refused(create(api, "video-extend", body), status, code, tenant, spent=5 * PRICE)
    assert VideoTask.objects.count() == 1 and not sim.calls("POST", "/v1/videos/video-extend")


def test_video_extend_of_an_unfinished_or_foreign_video_is_refused(api, other_api, kling, sim, tenant, other_tenant):
    pending = created(api, "text2video", {"model_name": "kling-v1", "prompt": "a cat"})
    assert_refused(create(api, "video-extend", {"video_id": pending.public_id}), 400, 1201, tenant, 5 * PRICE)
    drive(pending)
    assert_refused(create(other_api, "video-extend", {"video_id": pending.public_id}), 404, 1203, other_tenant)
    assert not sim.calls("POST", "/v1/videos/video-extend") and VideoTask.objects.count() == 1


def test_new_routes_need_a_key_and_hide_other_tenants_tasks(api, other_api, kling, tenant):
    task = created(api, "multi-image2video", {"prompt": "x", "image_list": [{"image": REF.format(1)}]})
    for family in ("omni-video", "multi-image2video", "video-extend"):
        for response in (
            APIClient().post(f"/kling/v1/videos/{family}", {}, format="json"),
            APIClient().get(f"/kling/v1/videos/{family}"),
        ):
            assert (response.status_code, response.json()["code"]) == (401, 1001)
        assert other_api.get(f"/kling/v1/videos/{family}").json()["data"] == []
    response = other_api.get(f"/kling/v1/videos/multi-image2video/{task.public_id}")
    assert (response.status_code, response.json()["code"]) == (404, 1203)


def test_refusals_name_klings_own_fields(api, kling, tenant):
    """The canonical request says seconds; a Kling client sent duration, and reads that back."""
    message = create(api, "text2video", {"model_name": "kling-v1", "prompt": "a cat", "duration": "7"}).json()
    assert "'duration'" in message["message"] and "'seconds'" not in message["message"], message
