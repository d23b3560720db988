"""No 5xx from any client input (fuzzing findings): lone surrogates, deep JSON, huge bodies and fields,
invalid UTF-8, size limits, ``n``, unknown paths and methods; each answered 4xx in the route's own
dialect shape, naming the field or the limit. Rows stored with a surrogate still render."""

import base64
import json

import pytest
from django.db import connection
from rest_framework.test import APIClient

from tests.helpers import make_task, signed_in
from videos.models import VideoTask

pytestmark = pytest.mark.django_db

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
JIMENG = "/jimeng/?Action=CVSync2AsyncSubmitTask&Version=2022-08-31"
DASHSCOPE = "/api/v1/services/aigc/video-generation/video-synthesis"


def _openai(body):
    return body["error"]["message"]


def _unified(body):
    assert isinstance(body["code"], str) and "type" in body
    return body["message"]


def _kling(body):
    assert isinstance(body["code"], int) and body["code"] != 0 and body["data"] is None and body["request_id"]
    return body["message"]


def _jimeng(body):
    assert body["code"] != 10000 and body["request_id"] and "time_elapsed" in body
    return body["message"]


def _dashscope(body):
    assert isinstance(body["code"], str) and body["request_id"]
    return body["message"]


def _vidu(body):
    assert isinstance(body["code"], int) and body["reason"] and body["metadata"]["trace_id"]
    return body["message"]


# name -> (path, body of a valid create given a prompt, dialect's message getter, accepts forms)
ROUTES = {
    "openai": ("/v1/videos", lambda p: {"model": "sandbox-video", "prompt": p}, _openai, True),
    "unified": ("/v1/video/generations", lambda p: {"model": "sandbox-video", "prompt": p}, _unified, True),
    "kling": ("/kling/v1/videos/text2video", lambda p: {"model_name": "kling-v1", "prompt": p}, _kling, True),
    "jimeng": (JIMENG, lambda p: {"req_key": "jimeng_t2v_v30", "prompt": p}, _jimeng, True),
    "dashscope": (DASHSCOPE, lambda p: {"model": "wan2.2-t2v-plus", "input": {"prompt": p}}, _dashscope, False),
    "vidu": ("/vidu/ent/v2/text2video", lambda p: {"model": "viduq1", "prompt": p}, _vidu, True),
}
# Statuses each dialect answers a refused body with: Kling's and Jimeng's wires have no 413.
TOO_LARGE = {"kling": 400, "jimeng": 400}


@pytest.fixture
def api(key):
    client = APIClient(HTTP_X_DASHSCOPE_ASYNC="enable")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.plaintext}")
    return client


def post_raw(api, route, raw, content_type="application/json"):
    return api.generic("POST", ROUTES[route][0], raw, content_type=content_type)


def post_json(api, route, body):
    """``json.dumps`` escapes a lone surrogate as ``\\ud800``, exactly as a fuzzer sends it."""
    return post_raw(api, route, json.dumps(body).encode())


def refused(response, route, status, *words):
    assert response.status_code == status, (response.status_code, response.content[:300])
    message = ROUTES[route][2](response.json())
    for word in words:
        assert word in message, message
    return message


@pytest.mark.parametrize("route", ROUTES)
def test_lone_surrogate_in_prompt_is_400_naming_it(api, sandbox, route):
    response = post_json(api, route, ROUTES[route][1]("a cat \ud800"))
    refused(response, route, 400, "prompt", "surrogate")
    assert not VideoTask.objects.exists()


@pytest.mark.parametrize("route", ["openai", "unified", "kling"])
def test_lone_surrogate_in_metadata_is_400_naming_it(api, sandbox, route):
    body = ROUTES[route][1]("a cat") | {"metadata": {"style": ["ok", "\udfff"]}}
    refused(post_json(api, route, body), route, 400, "metadata.style[1]")


@pytest.mark.parametrize(
    ("route", "body", "field"),
    [
        (
            "kling",
            {"model_name": "kling-v1", "prompt": "a cat", "camera_control": {"type": "\ud800"}},
            "camera_control",
        ),
        ("jimeng", {"req_key": "jimeng_t2v_v30", "prompt": "a cat", "style": "\ud800"}, "style"),
        ("dashscope", {"model": "wan2.2-t2v-plus", "input": {"prompt": "a"}, "parameters": {"x": "\ud800"}}, "x"),
        ("vidu", {"model": "viduq1", "prompt": "a cat", "style": "\ud800"}, "style"),
        ("dashscope", {"model": "wan2.2-t2v-plus", "input": {"prompt": "a", "\ud800": 1}}, "input"),
        ("unified", {"model": "sandbox-\ud800", "prompt": "a cat"}, "model"),
    ],
)
def test_lone_surrogate_in_vendor_fields_is_400(api, sandbox, route, body, field):
    refused(post_json(api, route, body), route, 400, field)


def test_lone_surrogate_in_multipart_metadata_is_400(api, sandbox):
    form = {"model": "sandbox-video", "prompt": "a cat", "metadata": '{"style": "\\ud800"}'}
    refused(api.post("/v1/videos", form, format="multipart"), "openai", 400, "metadata.style")


def test_stored_surrogate_row_still_renders(api, tenant, key, users, settings):
    if connection.vendor == "postgresql":
        pytest.skip("PostgreSQL's jsonb refuses a lone surrogate: such a row cannot be stored there")
    task = make_task(tenant, api_key=key, prompt="a cat", params={"style": "\ud800", "\udc00": ["x\ud800"]})
    listed = api.get("/v1/videos")
    assert listed.status_code == 200 and listed.json()["data"][0]["id"] == task.public_id
    assert api.get(f"/v1/videos/{task.public_id}").status_code == 200
    assert signed_in(users["owner"]).get(f"/tasks/{task.public_id}/").status_code == 200
    users["owner"].is_staff = True
    users["owner"].save()
    assert signed_in(users["owner"]).get(f"/staff/tasks/{task.public_id}/").status_code == 200


@pytest.mark.parametrize("route", ROUTES)
def test_deeply_nested_json_is_400(api, sandbox, route):
    raw = b'{"prompt": "a cat", "deep": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    refused(post_raw(api, route, raw), route, 400)


@pytest.mark.parametrize("route", ["openai", "unified", "kling"])
def test_moderately_nested_metadata_is_400(api, sandbox, route):
    deep = "x"
    for _ in range(200):
        deep = [deep]
    refused(post_json(api, route, ROUTES[route][1]("a cat") | {"metadata": {"deep": deep}}), route, 400, "nested")


@pytest.mark.parametrize("route", ROUTES)
def test_body_over_the_limit_is_413_naming_it(api, sandbox, settings, route):
    settings.GATEWAY_MAX_BODY_BYTES = settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100_000
    raw = json.dumps(ROUTES[route][1]("a" * 200_000)).encode()
    refused(post_raw(api, route, raw), route, TOO_LARGE.get(route, 413), "100000 bytes")


@pytest.mark.parametrize("route", [name for name, spec in ROUTES.items() if spec[3]])
def test_form_over_the_memory_limit_is_413(api, sandbox, settings, route):
    """Django's own check (RequestDataTooBig) when a form's fields exceed DATA_UPLOAD_MAX_MEMORY_SIZE."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    response = api.post(ROUTES[route][0], {"model": "m", "prompt": "a" * 20_000}, format="multipart")
    refused(response, route, TOO_LARGE.get(route, 413), "limit")


@pytest.mark.parametrize("route", [name for name, spec in ROUTES.items() if spec[3]])
@pytest.mark.parametrize("fmt", ["multipart", "form"])
def test_too_many_form_fields_is_400(api, sandbox, route, fmt):
    form = {f"f{index}": "x" for index in range(1_001)} | {"model": "sandbox-video", "prompt": "a cat"}
    if fmt == "form":
        from urllib.parse import urlencode

        response = post_raw(api, route, urlencode(form).encode(), "application/x-www-form-urlencoded")
    else:
        response = api.post(ROUTES[route][0], form, format="multipart")
    refused(response, route, 400, "too many")


@pytest.mark.parametrize("path", [DASHSCOPE, "/alibailian" + DASHSCOPE])
def test_invalid_utf8_on_dashscope_is_400(api, sandbox, path):
    response = api.generic("POST", path, b'{"model": "wan", "input": {"prompt": "\xff\xfe"}}', "application/json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "InvalidParameter" and "UTF-8" in response.json()["message"]


@pytest.mark.parametrize("route", ROUTES)
def test_prompt_over_the_limit_is_400_naming_it(api, sandbox, route):
    refused(post_json(api, route, ROUTES[route][1]("a" * 10_001)), route, 400, "prompt", "10000")
    assert not VideoTask.objects.exists()


def test_prompt_limit_is_a_setting(api, sandbox, settings):
    settings.GATEWAY_MAX_PROMPT_CHARS = 5
    refused(post_json(api, "unified", ROUTES["unified"][1]("a lighthouse")), "unified", 400, "5")
    body = ROUTES["unified"][1]("a cat") | {"metadata": {"negative_prompt": "blurry images"}}
    refused(post_json(api, "unified", body), "unified", 400, "negative_prompt")


def test_upload_over_the_image_limit_is_413(api, sandbox, settings):
    settings.GATEWAY_MAX_IMAGE_BYTES = 1_000
    upload = PNG + b"\0" * 2_000
    from django.core.files.uploadedfile import SimpleUploadedFile

    form = {"model": "sandbox-video", "prompt": "a cat", "input_reference": SimpleUploadedFile("a.png", upload)}
    refused(api.post("/v1/videos", form, format="multipart"), "openai", 413, "input_reference", "1000 bytes")


@pytest.mark.parametrize(
    ("route", "field", "make"),
    [
        ("openai", "input_reference", lambda data: {"input_reference": data}),
        ("unified", "image", lambda data: {"image": data}),
        ("kling", "image", lambda data: {"image": data}),
        ("jimeng", "binary_data_base64", lambda data: {"binary_data_base64": [data]}),
        ("dashscope", "image", lambda data: {"input": {"prompt": "a cat", "img_url": data}}),
        ("vidu", "image", lambda data: {"images": [data]}),
    ],
)
@pytest.mark.parametrize("data_uri", [True, False])
def test_base64_image_over_the_limit_is_refused(api, sandbox, settings, route, field, make, data_uri):
    settings.GATEWAY_MAX_IMAGE_BYTES = 1_000
    encoded = base64.b64encode(PNG + b"\0" * 2_000).decode()
    image = f"data:image/png;base64,{encoded}" if data_uri else encoded
    body = ROUTES[route][1]("a cat") | make(image)
    path = "/vidu/ent/v2/img2video" if route == "vidu" else ROUTES[route][0]
    response = api.generic("POST", path, json.dumps(body).encode(), content_type="application/json")
    refused(response, route, TOO_LARGE.get(route, 413), "1000 bytes")


@pytest.mark.parametrize("n", [2, 0, "3"])
def test_n_other_than_one_is_refused_on_v1_videos(api, sandbox, n):
    body = {"model": "sandbox-video", "prompt": "a cat", "n": n}
    response = api.post("/v1/videos", body, format="json")
    assert response.status_code == 400 and response.json()["error"]["param"] == "n"
    assert api.post("/v1/videos", body | {"n": 1}, format="json").status_code == 200


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/v1/nothing", "openai"),
        ("/v1/videos/abc/nothing/else", "openai"),
        ("/v1/video/nothing", "unified"),
        ("/kling/v1/images/generations", "kling"),
        ("/jimeng/other", "jimeng"),
        ("/api/v1/nothing", "dashscope"),
        ("/alibailian/api/v1/nothing", "dashscope"),
        ("/vidu/ent/v2/nothing", "vidu"),
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_unknown_paths_are_404_in_the_dialect_shape(path, route, method):
    response = APIClient().generic(method, path)
    assert response.status_code == (400 if route == "jimeng" else 404)  # Jimeng answers 400 + business code
    assert response["Content-Type"].startswith("application/json")
    assert ROUTES[route][2](response.json())


@pytest.mark.parametrize(
    ("method", "path", "route", "status"),
    [
        ("PUT", "/v1/videos", "openai", 405),
        ("PATCH", "/v1/video/generations", "unified", 405),
        ("DELETE", "/kling/v1/videos/text2video", "kling", 404),  # Kling's code 1202 is HTTP 404
        ("PUT", JIMENG, "jimeng", 400),
        ("DELETE", DASHSCOPE, "dashscope", 405),
        ("GET", "/vidu/ent/v2/text2video", "vidu", 405),
    ],
)
def test_wrong_methods_are_in_the_dialect_shape(api, method, path, route, status):
    response = api.generic(method, path)
    assert response.status_code == status, response.content
    assert ROUTES[route][2](response.json())


@pytest.mark.parametrize("route", ["openai", "unified"])
@pytest.mark.parametrize("image", ["data:image/png;base64,AAAA", "data:image/jpeg;base64,aGVsbG8gd29ybGQ="])
def test_a_data_uri_that_is_no_image_is_refused_whatever_it_declares(api, sandbox, tenant, route, image):
    field = "input_reference" if route == "openai" else "image"
    body = ROUTES[route][1]("a cat") | {field: image}
    refused(post_json(api, route, body), route, 400, field, "PNG, JPEG")
    assert not VideoTask.objects.exists()
