"""Status reads and lists are cheap: served from our database in as few queries as the answer needs
(authentication included), and never a write but the key's last use, at most once a minute."""

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import services as money
from accounts.models import ApiKey, RateCounter, Tenant
from accounts.prepared import Prepared
from tests.helpers import client_for, make_task
from videos.models import VideoTask

WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


def _openai(task):
    return "get", f"/v1/videos/{task.public_id}", None


def _unified(task):
    return "get", f"/v1/video/generations/{task.public_id}", None


def _kling(task):
    return "get", f"/kling/v1/videos/text2video/{task.public_id}", None


def _vidu(task):
    return "get", f"/vidu/ent/v2/tasks/{task.public_id}/creations", None


def _dashscope(task):
    return "get", f"/api/v1/tasks/{task.public_id}", None


def _jimeng(task):
    path = "/jimeng/?Action=CVSync2AsyncGetResult&Version=2022-08-31"
    return "post", path, {"req_key": task.model, "task_id": task.public_id}


READS = {
    VideoTask.Route.OPENAI: _openai,
    VideoTask.Route.UNIFIED: _unified,
    VideoTask.Route.KLING: _kling,
    VideoTask.Route.VIDU: _vidu,
    VideoTask.Route.DASHSCOPE: _dashscope,
    VideoTask.Route.JIMENG: _jimeng,
}
STATES = {
    "in_progress": {"status": "in_progress", "progress": 40},
    "completed": {"status": "completed", "progress": 100, "result_file": "videos/x.mp4", "result_bytes": 10},
    "failed": {"status": "failed", "error_code": "vendor_failed", "error_message": "The vendor failed."},
}


def task_for(tenant, key, route, state="in_progress", **fields):
    now = timezone.now()
    fields = {**STATES[state], **fields}
    if fields["status"] != "in_progress":
        fields.setdefault("finished_at", now)
    return make_task(
        tenant,
        api_key=key,
        route=route,
        params={"size": "1280x720"},
        seconds=4,
        submitted_at=now,
        started_at=now,
        **fields,
    )


def read(api, route, task):
    method, path, body = READS[route](task)
    return getattr(api, method)(path, body, format="json") if body else getattr(api, method)(path)


@pytest.fixture
def fresh_key(key):
    """The key, used a moment ago: its last use is not due to be written again."""
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now())
    return key


def writes(queries):
    return [query["sql"] for query in queries if query["sql"].lstrip().upper().startswith(WRITES)]


# --- status reads: two queries (the key with its tenant, the task), no write ---------------------


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("route", READS)
def test_status_read_is_two_queries_and_writes_nothing(api, tenant, fresh_key, route, state, django_assert_num_queries):
    task = task_for(tenant, fresh_key, route, state)
    with CaptureQueriesContext(connection) as queries, django_assert_num_queries(2):
        response = read(api, route, task)
    failed_jimeng = route == VideoTask.Route.JIMENG and state == "failed"  # Jimeng answers it with 500
    assert response.status_code == (500 if failed_jimeng else 200), response.content
    assert task.public_id in response.content.decode() or route == VideoTask.Route.JIMENG
    assert writes(queries.captured_queries) == []


@pytest.mark.parametrize("route", READS)
def test_unknown_task_is_two_queries_too(api, fresh_key, route, django_assert_num_queries):
    ghost = VideoTask(public_id="video_nosuchvideo000000000000", model="sandbox-video")
    with django_assert_num_queries(2):
        response = read(api, route, ghost)
    answers_200 = route in (VideoTask.Route.DASHSCOPE, VideoTask.Route.JIMENG)  # "unknown", "not_found"
    assert response.status_code == (200 if answers_200 else 404)


@pytest.mark.parametrize("route", READS)
def test_other_tenants_task_is_not_found(other_api, tenant, key, route):
    task = task_for(tenant, key, route, "completed")
    response = read(other_api, route, task)
    assert response.status_code in (200, 404)
    body = response.content.decode()
    assert task.public_id not in body or route == VideoTask.Route.DASHSCOPE  # DashScope echoes the id asked
    if route == VideoTask.Route.DASHSCOPE:
        assert response.json()["output"]["task_status"] == "UNKNOWN"


def test_remixed_video_names_its_source_without_another_query(api, tenant, fresh_key, django_assert_num_queries):
    source = task_for(tenant, fresh_key, VideoTask.Route.OPENAI, "completed")
    remix = task_for(tenant, fresh_key, VideoTask.Route.OPENAI, remixed_from=source)
    with django_assert_num_queries(2):
        body = api.get(f"/v1/videos/{remix.public_id}").json()
    assert body["remixed_from_video_id"] == source.public_id
    with django_assert_num_queries(2):
        listed = api.get("/v1/videos").json()["data"]
    assert [video["remixed_from_video_id"] for video in listed] == [source.public_id, None]


def test_reads_do_not_count_against_the_create_rate_limit(api, tenant, key):
    ApiKey.objects.filter(pk=key.pk).update(rpm_limit=1)
    Tenant.objects.filter(pk=tenant.pk).update(rpm_limit=1)
    task = task_for(tenant, key, VideoTask.Route.OPENAI)
    for _ in range(3):
        assert api.get(f"/v1/videos/{task.public_id}").status_code == 200
        assert api.get("/v1/videos").status_code == 200
    assert not RateCounter.objects.exists()


# --- the key's last use: written at most once a minute ----------------------------------------------


def key_writes(queries):
    return [sql for sql in writes(queries) if "accounts_apikey" in sql]


def test_last_use_is_written_once_a_minute(api, tenant, key):
    task = task_for(tenant, key, VideoTask.Route.OPENAI)
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        with CaptureQueriesContext(connection) as first:
            assert api.get(f"/v1/videos/{task.public_id}").status_code == 200
        assert len(key_writes(first.captured_queries)) == 1
        used = ApiKey.objects.get(pk=key.pk).last_used_at
        assert used == timezone.now()

        traveller.shift(59)
        with CaptureQueriesContext(connection) as within:
            for _ in range(3):
                assert api.get(f"/v1/videos/{task.public_id}").status_code == 200
        assert writes(within.captured_queries) == []
        assert ApiKey.objects.get(pk=key.pk).last_used_at == used

        traveller.shift(2)
        with CaptureQueriesContext(connection) as later:
            assert api.get(f"/v1/videos/{task.public_id}").status_code == 200
        assert len(key_writes(later.captured_queries)) == 1
        assert ApiKey.objects.get(pk=key.pk).last_used_at == timezone.now()


# --- nothing about a key is kept between requests ---------------------------------------------------


def test_revoking_a_key_takes_effect_on_the_next_request(api, tenant, key):
    task = task_for(tenant, key, VideoTask.Route.OPENAI)
    assert api.get(f"/v1/videos/{task.public_id}").status_code == 200
    money.revoke_key(key)
    response = api.get(f"/v1/videos/{task.public_id}")
    assert response.status_code == 401 and response.json()["error"]["code"] == "key_revoked"


def test_suspending_a_tenant_takes_effect_on_the_next_request(api, tenant, key):
    task = task_for(tenant, key, VideoTask.Route.UNIFIED)
    assert api.get(f"/v1/video/generations/{task.public_id}").status_code == 200
    Tenant.objects.filter(pk=tenant.pk).update(is_active=False)
    response = api.get(f"/v1/video/generations/{task.public_id}")
    assert response.status_code == 403 and response.json()["code"] == "tenant_suspended"


def test_a_changed_secret_is_refused(tenant, key):
    task = task_for(tenant, key, VideoTask.Route.OPENAI)
    key.plaintext = key.plaintext[:-4] + ("aaaa" if not key.plaintext.endswith("aaaa") else "bbbb")
    assert client_for(key).get(f"/v1/videos/{task.public_id}").status_code == 401


# --- lists: the key, the cursor row, one page --------------------------------------------------------


@pytest.mark.parametrize("count", [3, 12])
def test_openai_list_queries_do_not_grow_with_the_page(api, tenant, fresh_key, count, django_assert_num_queries):
    states = list(STATES)
    tasks = [task_for(tenant, fresh_key, VideoTask.Route.OPENAI, states[i % 3]) for i in range(count)]
    tasks.append(task_for(tenant, fresh_key, VideoTask.Route.OPENAI, "completed", remixed_from=tasks[0]))
    with CaptureQueriesContext(connection) as queries, django_assert_num_queries(2):
        first = api.get("/v1/videos?limit=100").json()
    assert len(first["data"]) == count + 1
    with django_assert_num_queries(3):  # the key, the cursor's row, the page
        after = api.get(f"/v1/videos?limit=100&after={tasks[-1].public_id}").json()
    assert len(after["data"]) == count
    assert writes(queries.captured_queries) == []
    # The list loads only the columns a video shows, and shows each as retrieving it does.
    for video in first["data"]:
        assert video == api.get(f"/v1/videos/{video['id']}").json()


def test_kling_list_is_two_queries(api, tenant, fresh_key, django_assert_num_queries):
    for _ in range(5):
        task_for(tenant, fresh_key, VideoTask.Route.KLING, mode="text")
    with django_assert_num_queries(2):
        body = api.get("/kling/v1/videos/text2video?pageSize=10").json()
    assert len(body["data"]) == 5


def page_through(api, order, limit):
    """Every page of the OpenAI list, following last_id; returns the ids and the pages."""
    ids, pages, after = [], [], None
    while True:
        query = f"/v1/videos?order={order}&limit={limit}" + (f"&after={after}" if after else "")
        page = api.get(query).json()
        pages.append(page)
        ids += [video["id"] for video in page["data"]]
        assert page["first_id"] == (page["data"][0]["id"] if page["data"] else None)
        assert page["last_id"] == (page["data"][-1]["id"] if page["data"] else None)
        if not page["has_more"]:
            return ids, pages
        after = page["last_id"]
        assert len(pages) < 20


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 100])
@pytest.mark.parametrize("order", ["desc", "asc"])
def test_cursor_pages_cover_every_video_once_in_order_with_ties(api, tenant, other_tenant, key, order, limit):
    moment = timezone.now() - timedelta(hours=1)
    created = [moment, moment, moment + timedelta(seconds=1), moment, moment + timedelta(seconds=2), moment]
    tasks = [task_for(tenant, key, VideoTask.Route.OPENAI, created_at=at) for at in created]
    task_for(tenant, key, VideoTask.Route.OPENAI, created_at=moment, deleted_at=timezone.now())
    task_for(other_tenant, None, VideoTask.Route.OPENAI, created_at=moment)
    expected = sorted(tasks, key=lambda task: (task.created_at, task.pk), reverse=order == "desc")
    ids, pages = page_through(api, order, limit)
    assert ids == [task.public_id for task in expected]
    assert all(len(page["data"]) == limit for page in pages[:-1])
    assert pages[-1]["has_more"] is False


def test_cursor_in_a_run_of_ties_resumes_right_after_it(api, tenant, key):
    moment = timezone.now() - timedelta(minutes=5)
    tasks = [task_for(tenant, key, VideoTask.Route.OPENAI, created_at=moment) for _ in range(4)]
    middle = tasks[2]  # desc order by id: tasks[3], tasks[2] | tasks[1], tasks[0]
    page = api.get(f"/v1/videos?after={middle.public_id}").json()
    assert [video["id"] for video in page["data"]] == [tasks[1].public_id, tasks[0].public_id]
    page = api.get(f"/v1/videos?order=asc&after={middle.public_id}").json()
    assert [video["id"] for video in page["data"]] == [tasks[3].public_id]


def test_unknown_or_foreign_cursor_is_invalid_after(api, other_tenant):
    foreign = task_for(other_tenant, None, VideoTask.Route.OPENAI)
    for after in ("video_nosuchvideo000000000000", foreign.public_id):
        response = api.get(f"/v1/videos?after={after}")
        assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_after"


@pytest.mark.parametrize("order, operator", [("desc", "<"), ("asc", ">")])
def test_cursor_page_is_one_row_value_comparison(api, tenant, key, order, operator):
    """(created_at, id) < (X, Y): one range of the index (tenant, -created_at, -id), not an OR of two."""
    tasks = [task_for(tenant, key, VideoTask.Route.OPENAI) for _ in range(3)]
    with CaptureQueriesContext(connection) as queries:
        api.get(f"/v1/videos?order={order}&after={tasks[1].public_id}")
    page = queries.captured_queries[-1]["sql"]
    assert f'("videos_videotask"."created_at", "videos_videotask"."id") {operator} (' in page
    assert " OR " not in page


# --- prepared reads give what the ORM gives -----------------------------------------------------------


def fields_of(instance):
    return {field.attname: getattr(instance, field.attname) for field in type(instance)._meta.concrete_fields}


def test_key_lookup_loads_the_key_and_tenant_as_the_orm_does(key, tenant):
    ApiKey.objects.filter(pk=key.pk).update(
        allowed_models=["sora-2"], allowed_ips=["10.0.0.0/8"], last_used_at=timezone.now(), spend_limit=5
    )
    found = money.find_key(key.plaintext)
    expected = ApiKey.objects.select_related("tenant").get(pk=key.pk)
    assert fields_of(found) == fields_of(expected)
    assert fields_of(found.tenant) == fields_of(expected.tenant)
    assert found._state.adding is False and found._state.db == "default"


def test_prepared_read_matches_the_queryset(tenant, key, sandbox):
    source = task_for(tenant, key, VideoTask.Route.OPENAI, "completed")
    task = task_for(
        tenant,
        key,
        VideoTask.Route.OPENAI,
        "failed",
        channel=sandbox,
        remixed_from=source,
        vendor_state={"job": "j-1", "nested": {"list": [1, 2]}},
        seconds_produced=4.5,
        expires_at=timezone.now() + timedelta(days=7),
    )

    def build(tenant_id, public_id):
        return (
            VideoTask.objects.for_tenant(tenant_id)
            .with_remix_source()
            .select_related("channel")
            .filter(public_id=public_id)
        )

    reader = Prepared(build, -1, "<public_id>")
    found = reader.get(tenant.pk, task.public_id)
    expected = build(tenant.pk, task.public_id).get()
    assert fields_of(found) == fields_of(expected)
    assert found.remixed_from_public_id == source.public_id
    assert found.channel == sandbox and fields_of(found.channel) == fields_of(sandbox)
    assert reader.get(tenant.pk, "video_nosuchvideo000000000000") is None
    assert reader.get(tenant.pk + 1000, task.public_id) is None  # another tenant's id: nothing


def test_a_stand_in_must_be_one_parameter():
    reader = Prepared(lambda lookup: ApiKey.objects.filter(lookup=lookup, name=lookup), "<lookup>")
    with pytest.raises(ValueError, match="2 of the query's parameters"):
        reader.get("abc")


def test_jimeng_wrong_req_key_is_not_found(api, tenant, fresh_key):
    task = task_for(tenant, fresh_key, VideoTask.Route.JIMENG)
    path = "/jimeng/?Action=CVSync2AsyncGetResult&Version=2022-08-31"
    body = api.post(path, {"req_key": "other", "task_id": task.public_id}, format="json").json()
    assert body["data"]["status"] == "not_found"
