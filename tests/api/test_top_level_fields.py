"""The top level of a create body in the unified and OpenAI dialects: every field the gateway reads
works in both (new-api clients send ``duration``, ``image``, ``images`` and ``mode`` to /v1/videos, and
``seconds`` to /v1/video/generations), two names of one field must agree, and a field the gateway
does not know is refused with a 400 naming it, before anything is held: a dropped field would be a
video the client did not ask for, billed."""

import pytest

from channels.models import Price
from tests.helpers import USD, ledger_sum, post_openai, post_unified, task_of
from videos.models import VideoTask

pytestmark = pytest.mark.django_db

PICTURE = "https://media.example.com/first.png"
OTHER = "https://media.example.com/other.png"
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def error_of(response):
    """(code, param) of a 400 in either dialect's shape."""
    assert response.status_code == 400, response.content
    body = response.json()
    body = body.get("error", body)
    return body["code"], body["param"]


def nothing_moved(tenant):
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD and ledger_sum(tenant) == tenant.balance
    assert not VideoTask.objects.exists()


@pytest.mark.parametrize("post", [post_openai, post_unified])
@pytest.mark.parametrize("field", ["durations", "quality", "callback", "watermark"])
def test_an_unknown_field_is_refused_naming_it_before_the_hold(api, sandbox, tenant, post, field):
    response = post(api, model="sandbox-video", prompt="a cat", **{field: "x"})
    assert error_of(response) == ("unknown_parameter", field)
    message = response.json().get("error", response.json())["message"]
    assert field in message and "metadata" in message
    nothing_moved(tenant)


def test_the_openai_error_shape_is_openais(api, sandbox):
    body = post_openai(api, model="sandbox-video", prompt="a cat", durations=5).json()
    assert body == {
        "error": {
            "message": "Unrecognized request argument supplied: durations. Vendor-specific fields go in 'metadata'.",
            "type": "invalid_request_error",
            "param": "durations",
            "code": "unknown_parameter",
        }
    }


def test_an_unknown_form_field_or_file_is_refused_too(api, sandbox, tenant):
    form = {"model": "sandbox-video", "prompt": "a cat", "watermark": "false"}
    assert error_of(api.post("/v1/videos", form, format="multipart")) == ("unknown_parameter", "watermark")
    upload = {"model": "sandbox-video", "prompt": "a cat", "image": _upload()}
    assert error_of(api.post("/v1/videos", upload, format="multipart")) == ("unknown_parameter", "image")
    nothing_moved(tenant)


def _upload():
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("first.png", PNG, content_type="image/png")


@pytest.mark.parametrize("post", [post_openai, post_unified])
@pytest.mark.parametrize("name", ["seconds", "duration"])
def test_seconds_and_duration_both_work_in_both_dialects(api, sandbox, post, name):
    task = task_of(post(api, model="sandbox-video", prompt="a cat", **{name: 8}))
    assert task.seconds == 8


@pytest.mark.parametrize("post", [post_openai, post_unified])
def test_two_names_of_one_field_must_agree(api, sandbox, tenant, post):
    code, param = error_of(post(api, model="sandbox-video", prompt="a cat", seconds="8", duration=5))
    assert code == "conflicting_parameters" and param in ("seconds", "duration")
    nothing_moved(tenant)
    assert task_of(post(api, model="sandbox-video", prompt="a cat", seconds="8", duration=8)).seconds == 8


def test_new_api_image_fields_reach_the_task_on_v1_videos(api, sandbox):
    task = task_of(post_openai(api, model="sandbox-video", prompt="a cat", image=PICTURE, seconds="5"))
    assert task.params["image"] == PICTURE and task.mode == "image"
    task = task_of(post_openai(api, model="sandbox-video", prompt="a cat", images=[PICTURE, OTHER]))
    assert task.params["reference_images"] == [PICTURE, OTHER]
    task = task_of(post_openai(api, model="sandbox-video", prompt="a cat", image=PICTURE, image_tail=OTHER))
    assert (task.params["image"], task.params["last_frame"]) == (PICTURE, OTHER)


def test_input_reference_and_image_cannot_both_give_the_first_frame(api, sandbox, tenant):
    response = post_openai(api, model="sandbox-video", prompt="a cat", image=PICTURE, input_reference=OTHER)
    assert error_of(response) == ("conflicting_parameters", "image")
    form = {"model": "sandbox-video", "prompt": "a cat", "input_reference": _upload(), "image": PICTURE}
    assert error_of(api.post("/v1/videos", form, format="multipart")) == ("conflicting_parameters", "image")
    nothing_moved(tenant)


def test_the_unified_route_takes_new_apis_input_reference_as_the_first_frame(api, sandbox):
    task = task_of(post_unified(api, model="sandbox-video", prompt="a cat", input_reference=PICTURE))
    assert task.params["image"] == PICTURE
    response = post_unified(api, model="sandbox-video", prompt="a cat", input_reference=PICTURE, image=OTHER)
    assert error_of(response) == ("conflicting_parameters", "input_reference")


def test_images_must_be_a_list(api, sandbox, tenant):
    assert error_of(post_unified(api, model="sandbox-video", prompt="a cat", images=PICTURE)) == (
        "invalid_request",
        "images",
    )
    nothing_moved(tenant)


def test_user_and_response_format_are_accepted(api, sandbox):
    body = {"model": "sandbox-video", "prompt": "a cat", "user": "end-user-7", "response_format": "url"}
    assert post_unified(api, **body).status_code == 201
    assert post_openai(api, **body).status_code == 200


@pytest.mark.parametrize("post", [post_openai, post_unified])
def test_a_top_level_mode_reaches_the_vendor_and_the_price(api, kling, post):
    Price.objects.filter(model="kling-v1").update(resolution_multipliers={"1080p": "2"})
    task = task_of(post(api, model="kling-v1", prompt="a cat", mode="pro", duration=5))
    assert kling.simulator.calls("POST")[-1].json()["mode"] == "pro"
    assert task.amount_held == 5 * 10_000 * 2  # pro is 1080p


def test_a_top_level_mode_must_agree_with_metadata(api, kling, tenant):
    response = post_openai(api, model="kling-v1", prompt="a cat", mode="pro", metadata={"mode": "std"})
    assert error_of(response) == ("conflicting_parameters", "metadata.mode")
    nothing_moved(tenant)


def test_a_remix_takes_only_a_prompt(api, source, tenant):
    before = VideoTask.objects.count()
    for field, value in (("seconds", "8"), ("model", "sandbox-fail"), ("bogus", 1)):
        response = api.post(f"/v1/videos/{source.public_id}/remix", {"prompt": "x", field: value}, format="json")
        assert error_of(response) == ("unknown_parameter", field)
        assert "only 'prompt'" in response.json()["error"]["message"]
    assert VideoTask.objects.count() == before
