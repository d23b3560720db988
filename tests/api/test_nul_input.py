"""A NUL character (``\\u0000``) anywhere a client can put one: bodies, forms, path ids, query
parameters, in every dialect, and on the dashboard pages. PostgreSQL refuses NUL in text, so any that
reached a query or an insert was a 500 there; each is a 400 before anything is stored or held."""

import json

import pytest

from tests.api.test_hostile_input import ROUTES, post_json, refused
from tests.helpers import USD, client_for, ledger_sum, signed_in
from videos.models import VideoTask

pytestmark = pytest.mark.django_db

NUL = "a\u0000b"


def nothing_moved(tenant):
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD and ledger_sum(tenant) == tenant.balance
    assert not VideoTask.objects.exists()


@pytest.fixture
def api(key):
    """The tenant's key on every route (DashScope's asks for its async header)."""
    return client_for(key, HTTP_X_DASHSCOPE_ASYNC="enable")


@pytest.mark.parametrize("route", ROUTES)
def test_nul_in_the_prompt_is_400_naming_it(api, sandbox, tenant, route):
    refused(post_json(api, route, ROUTES[route][1](NUL)), route, 400, "prompt", "NUL")
    nothing_moved(tenant)


@pytest.mark.parametrize(
    ("route", "body", "field"),
    [
        ("openai", {"model": "sandbox-video", "prompt": "a", "metadata": {"k": NUL}}, "metadata.k"),
        ("openai", {"model": "sandbox-video", "prompt": "a", "negative_prompt": NUL}, "negative_prompt"),
        ("openai", {"model": NUL, "prompt": "a"}, "model"),
        ("unified", {"model": "sandbox-video", "prompt": "a", "metadata": {NUL: 1}}, "metadata"),
        ("unified", {"model": "sandbox-video", "prompt": "a", NUL: 1}, "b"),
        ("kling", {"model_name": "kling-v1", "prompt": "a", "external_task_id": NUL}, "external_task_id"),
        ("dashscope", {"model": "wan2.2-t2v-plus", "input": {"prompt": "a"}, "parameters": {"x": NUL}}, "x"),
        ("vidu", {"model": NUL, "prompt": "a"}, "model"),
    ],
)
def test_nul_in_any_field_is_400(api, sandbox, tenant, route, body, field):
    refused(post_json(api, route, body), route, 400, field)
    nothing_moved(tenant)


def test_nul_in_a_form_is_400(api, sandbox, tenant):
    form = {"model": "sandbox-video", "prompt": NUL}
    refused(api.post("/v1/videos", form, format="multipart"), "openai", 400, "prompt", "NUL")
    form = {"model": "sandbox-video", "prompt": "a", "metadata": json.dumps({"k": NUL})}
    refused(api.post("/v1/videos", form, format="multipart"), "openai", 400, "metadata.k")
    nothing_moved(tenant)


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/v1/videos/video_a%00b", "openai"),
        ("/v1/videos/video_a%00b/content", "openai"),
        ("/v1/videos?after=video_a%00b", "openai"),
        ("/v1/video/generations/video_a%00b", "unified"),
        ("/kling/v1/videos/text2video/a%00b", "kling"),
        ("/api/v1/tasks/a%00b", "dashscope"),
        ("/vidu/ent/v2/tasks/a%00b/creations", "vidu"),
    ],
)
def test_nul_in_a_path_id_or_query_is_400_in_the_dialects_shape(api, sandbox, path, route):
    refused(api.get(path), route, 400, "NUL")


def test_nul_on_a_page_is_a_400_page(users, sandbox):
    page = signed_in(users["owner"])
    assert page.get("/tasks/?model=a%00b").status_code == 400
    assert page.get("/tasks/video_a%00b/").status_code == 400
    assert page.get("/keys/").status_code == 200  # the guard leaves ordinary pages alone
