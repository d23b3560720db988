"""Task lists that stay fast at a million rows: pages by cursor (no COUNT, no OFFSET), filter
choices without a DISTINCT over the tasks, a bounded number of queries per view.

The timings themselves are measured by bench/ against a seeded PostgreSQL (bench/seed_tasks.py);
here: every task is listed exactly once and in order, filters hold across pages, a cursor cannot
be turned into an error or into another tenant's rows.
"""

import re
from base64 import urlsafe_b64encode
from datetime import timedelta
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.dashboard import decode_cursor, encode_cursor
from tests.helpers import make_task
from videos import staff as staff_views
from videos import views
from videos.models import VideoTask

pytestmark = pytest.mark.django_db

PAGE = 5  # rows per page in these tests (views.PAGE_SIZE and staff.PAGE_SIZE are patched to it)


@pytest.fixture(autouse=True)
def _small_pages(monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", PAGE)
    monkeypatch.setattr(staff_views, "PAGE_SIZE", PAGE)


def row_ids(html):
    return re.findall(r'href="/(?:staff/)?tasks/(video_\w+)/"', html)


def link(html, rel):
    """The query string of the Older (rel="next") or Newer (rel="prev") link, or None."""
    found = re.search(rf'href="(\?[^"]*)" rel="{rel}"', html)
    return unescape(found[1]) if found else None


def walk(client, path, query="", rel="next"):
    """Every page from ``path?query`` on, following the Older (or Newer) links: [(row ids, html)]."""
    pages, url = [], f"{path}?{query}"
    while url is not None:
        response = client.get(url)
        assert response.status_code == 200
        html = response.content.decode()
        pages.append((row_ids(html), html))
        assert len(pages) < 100, "the links go round in circles"
        following = link(html, rel)
        url = None if following is None else path + following
    return pages


def newest_first(tasks):
    return [task.public_id for task in sorted(tasks, key=lambda task: (task.created_at, task.pk), reverse=True)]


def tasks_with_ties(tenant, count, **fields):
    """``count`` tasks, three to a created_at (so ties fall across page boundaries), newest last."""
    start = timezone.now() - timedelta(hours=1)
    return [make_task(tenant, created_at=start + timedelta(seconds=n // 3), **fields) for n in range(count)]


def sql_of(captured):
    return [query["sql"].upper() for query in captured.captured_queries]


# --- Walking the pages ---------------------------------------------------------------------------


def test_older_links_walk_every_task_once_in_order_through_ties(owner, tenant):
    tasks = tasks_with_ties(tenant, 23)
    pages = walk(owner, "/tasks/")
    assert [len(ids) for ids, _ in pages] == [5, 5, 5, 5, 3]
    assert [task_id for ids, _ in pages for task_id in ids] == newest_first(tasks)
    first, last = pages[0][1], pages[-1][1]
    assert link(first, "prev") is None and "⇤ Newest</a>" not in first
    assert link(last, "next") is None and link(last, "prev") is not None and "⇤ Newest</a>" in last


def test_newer_links_walk_back_the_same_pages(owner, tenant):
    tasks_with_ties(tenant, 23)
    forward = [ids for ids, _ in walk(owner, "/tasks/")]
    last_query = link(walk(owner, "/tasks/")[-2][1], "next")
    backward = [ids for ids, _ in walk(owner, "/tasks/", last_query.lstrip("?"), rel="prev")]
    assert backward == forward[::-1]


def test_a_new_task_does_not_shift_the_page_being_read(owner, tenant):
    tasks_with_ties(tenant, 12)
    first = owner.get("/tasks/").content.decode()
    older = link(first, "next")
    before = row_ids(owner.get(f"/tasks/{older}").content.decode())
    make_task(tenant, prompt="just in")
    assert row_ids(owner.get(f"/tasks/{older}").content.decode()) == before  # no repeats, no gaps
    # Back up: the page that was first, then (past the top) the newest page whole, the new task first.
    newer = link(owner.get(f"/tasks/{older}").content.decode(), "prev")
    above = owner.get(f"/tasks/{newer}").content.decode()
    assert row_ids(above) == row_ids(first)
    top = owner.get(f"/tasks/{link(above, 'prev')}").content.decode()
    assert row_ids(top) == [VideoTask.objects.get(prompt="just in").public_id, *row_ids(first)[: PAGE - 1]]
    assert link(top, "prev") is None


def test_filters_hold_across_pages(owner, tenant, key):
    start = timezone.now() - timedelta(days=2)
    failed = []
    for n in range(30):
        status = "failed" if n % 3 == 0 else "completed"
        task = make_task(
            tenant, api_key=key, status=status, model="sora-2", prompt=f"sea {n}", created_at=start + timedelta(hours=n)
        )
        if status == "failed":
            failed.append(task)
    make_task(tenant, status="failed", model="veo-3", prompt="sea other model")
    query = f"status=failed&model=sora-2&key={key.lookup}&q=sea&since={start.date() - timedelta(days=1)}"
    pages = walk(owner, "/tasks/", query)
    assert [task_id for ids, _ in pages for task_id in ids] == newest_first(failed)
    older = link(pages[0][1], "next")
    for name in ("status=failed", "model=sora-2", f"key={key.lookup}", "q=sea"):
        assert name in older
    # The form keeps the filters chosen; a new filter starts again from the newest task.
    assert 'value="sea"' in pages[1][1] and "before" not in pages[1][1].split('class="filters"')[1].split("</form>")[0]


def test_the_live_refresh_shows_the_page_it_refreshes(owner, tenant):
    tasks_with_ties(tenant, 12, status="in_progress", progress=10)
    second = owner.get(f"/tasks/{link(owner.get('/tasks/').content.decode(), 'next')}").content.decode()
    refresh_url = unescape(re.search(r'data-refresh-url="([^"]*)"', second)[1])
    assert "before=" in refresh_url
    rows = owner.get(refresh_url).content.decode()
    assert "<html" not in rows and "data-live" in rows
    assert row_ids(rows) == row_ids(second) and len(row_ids(rows)) == PAGE


def test_staff_list_pages_by_cursor_across_tenants(staff_client, tenant, other_tenant):
    ours, theirs = tasks_with_ties(tenant, 7), tasks_with_ties(other_tenant, 6)
    pages = walk(staff_client, "/staff/tasks/")
    assert [task_id for ids, _ in pages for task_id in ids] == newest_first(ours + theirs)
    only_theirs = walk(staff_client, "/staff/tasks/", "tenant=globex")
    assert [task_id for ids, _ in only_theirs for task_id in ids] == newest_first(theirs)
    assert "tenant=globex" in link(only_theirs[0][1], "next")


# --- Cursors from elsewhere ----------------------------------------------------------------------


def test_cursor_round_trip():
    at = timezone.now()
    assert decode_cursor(encode_cursor(at, 42)) == (at, 42)
    old = at.replace(year=1969, microsecond=1)
    assert decode_cursor(encode_cursor(old, 7)) == (old, 7)


def b64(text):
    return urlsafe_b64encode(text.encode()).decode().rstrip("=")


MALFORMED = [
    "garbage",
    "!!!!",
    "%00",
    "ü",
    "A" * 500,
    b64("1.2.3"),
    b64("12.0"),  # id 0
    b64("12.-5"),
    b64("999999999999999999.1"),  # past datetime.max
    b64("-999999999999999999.1"),  # before datetime.min
    b64(f"12.{2**63}"),  # past a bigint
    b64("12"),
    b64("1e5.1"),
]


def test_a_malformed_cursor_shows_the_newest_page(owner, staff_client, tenant):
    tasks = tasks_with_ties(tenant, 8)
    newest = newest_first(tasks)[:PAGE]
    for cursor in MALFORMED:
        for direction in ("before", "after"):
            for client, path in ((owner, "/tasks/"), (owner, "/tasks/rows/"), (staff_client, "/staff/tasks/")):
                response = client.get(path, {direction: cursor, "status": "queued"})
                assert response.status_code == 200, (cursor, direction, path)
                assert row_ids(response.content.decode()) == newest, (cursor, direction, path)
    # A NUL character is refused on every page before any view reads it (config.middleware.NulGuardMiddleware).
    assert owner.get("/tasks/", {"before": "\x00"}).status_code == 400


def test_a_cursor_past_either_end_shows_the_newest_page(owner, tenant):
    tasks = tasks_with_ties(tenant, 8)
    year_1, year_5138 = b64("-62135596800000000.1"), b64("99999999999999999.1")
    for query in ({"before": year_1}, {"after": year_5138}, {"before": year_5138}):
        assert row_ids(owner.get("/tasks/", query).content.decode()) == newest_first(tasks)[:PAGE], query
    # Newer than the first task ever: the oldest page, with a way back up.
    oldest = owner.get("/tasks/", {"after": year_1}).content.decode()
    assert row_ids(oldest) == newest_first(tasks)[-PAGE:] and link(oldest, "prev")


def test_old_page_numbers_show_the_newest_page(owner, tenant):
    newest = newest_first(tasks_with_ties(tenant, 8))[:PAGE]
    for page in ("1", "2", "99", "-1", "abc"):
        response = owner.get(f"/tasks/?page={page}")
        assert response.status_code == 200 and row_ids(response.content.decode()) == newest
        assert "page=" not in (link(response.content.decode(), "next") or "")


def test_other_tenants_tasks_never_appear(owner, tenant, other_tenant):
    ours, theirs = tasks_with_ties(tenant, 9), tasks_with_ties(other_tenant, 9)  # the same created_at values
    listed = [task_id for ids, _ in walk(owner, "/tasks/") for task_id in ids]
    assert listed == newest_first(ours)
    # A cursor at one of their tasks only positions the list among ours.
    foreign = theirs[4]
    html = owner.get("/tasks/", {"before": encode_cursor(foreign.created_at, foreign.pk)}).content.decode()
    expected = [task.public_id for task in ours if (task.created_at, task.pk) < (foreign.created_at, foreign.pk)]
    assert row_ids(html) == newest_first(VideoTask.objects.filter(public_id__in=expected))[:PAGE]
    for task in theirs:
        assert task.public_id not in html
    rows = owner.get("/tasks/rows/", {"after": encode_cursor(foreign.created_at, foreign.pk)}).content.decode()
    assert not set(row_ids(rows)) & {task.public_id for task in theirs}


def test_deleted_tasks_are_skipped_across_pages(owner, tenant):
    tasks = tasks_with_ties(tenant, 12)
    VideoTask.objects.filter(pk__in=[tasks[3].pk, tasks[7].pk]).update(deleted_at=timezone.now())
    listed = [task_id for ids, _ in walk(owner, "/tasks/") for task_id in ids]
    assert listed == [
        task_id for task_id in newest_first(tasks) if task_id not in (tasks[3].public_id, tasks[7].public_id)
    ]


# --- The model filter's choices ------------------------------------------------------------------


def test_model_choices_are_the_served_models_and_the_chosen_one(owner, tenant, sandbox):
    retired = make_task(tenant, model="kling-v1", created_at=timezone.now() - timedelta(days=300))
    current = make_task(tenant, model="sandbox-video")
    html = owner.get("/tasks/").content.decode()
    assert '<option value="sandbox-video">' in html and '<option value="sandbox-fail">' in html
    assert 'value="kling-v1"' not in html  # no channel serves it any more
    chosen = owner.get("/tasks/?model=kling-v1").content.decode()
    assert row_ids(chosen) == [retired.public_id] and current.public_id not in chosen
    assert '<option value="kling-v1" selected>' in chosen


# --- Bounded queries, none of them a COUNT or a DISTINCT ------------------------------------------

LIST_URLS = [
    "/tasks/",
    "/tasks/?status=in_progress&model=sandbox-video&q=task&since=2020-01-01&until=2999-12-31",
    "/tasks/rows/",
    "/tasks/rows/?status=in_progress",
]


@pytest.mark.parametrize("url", LIST_URLS)
def test_list_and_refresh_queries_are_few_without_count_or_distinct(
    owner, tenant, key, sandbox, url, django_assert_max_num_queries
):
    tasks = tasks_with_ties(tenant, 40, api_key=key, status="in_progress", prompt="task")
    for with_cursor in (False, True):
        target = url
        if with_cursor:  # a deep page costs what the first does
            separator = "&" if "?" in url else "?"
            target = f"{url}{separator}before={encode_cursor(tasks[20].created_at, tasks[20].pk)}"
        with django_assert_max_num_queries(6) as captured:
            response = owner.get(target)
        assert response.status_code == 200 and len(row_ids(response.content.decode())) == PAGE
        for sql in sql_of(captured):
            assert "COUNT(" not in sql and "DISTINCT" not in sql and "OFFSET" not in sql, sql


def test_staff_list_queries_are_few_without_count_or_distinct(
    staff_client, tenant, other_tenant, sandbox, django_assert_max_num_queries
):
    tasks = tasks_with_ties(tenant, 20, channel=sandbox) + tasks_with_ties(other_tenant, 20, channel=sandbox)
    cursor = encode_cursor(tasks[10].created_at, tasks[10].pk)
    for query in ("", "status=queued&tenant=acme&channel=sandbox&model=sandbox-video", f"before={cursor}"):
        with django_assert_max_num_queries(6) as captured:
            response = staff_client.get(f"/staff/tasks/?{query}")
        assert response.status_code == 200 and len(row_ids(response.content.decode())) == PAGE
        for sql in sql_of(captured):
            assert "COUNT(" not in sql and "DISTINCT" not in sql and "OFFSET" not in sql, sql


# --- Which index answers (PostgreSQL) ------------------------------------------------------------


def plan(sql):
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


def task_query(client, url):
    """The SQL of the task rows a page reads (as sent, parameters in)."""
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return next(query["sql"] for query in captured.captured_queries if 'FROM "videos_videotask"' in query["sql"])


@pytest.mark.postgres
def test_the_staff_index_serves_only_the_staff_list(owner, staff_client, tenant, key):
    if connection.vendor != "postgresql":
        pytest.skip("query plans are checked on PostgreSQL (set DATABASE_URL)")
    tasks = tasks_with_ties(tenant, 12, api_key=key)
    cursor = encode_cursor(tasks[6].created_at, tasks[6].pk)
    with connection.cursor() as setting:  # a plan that needs no sort, whatever the table's size
        setting.execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_sort = off")
    for url in ("/staff/tasks/", f"/staff/tasks/?before={cursor}", "/staff/tasks/?since=2020-01-01"):
        assert "task_recent" in plan(task_query(staff_client, url)), url
    # A tenant's lists (and the tenant filter of the staff list) must not walk everyone's tasks.
    for client, url in (
        (owner, "/tasks/"),
        (owner, f"/tasks/?before={cursor}"),
        (owner, "/tasks/rows/?since=2020-01-01"),
        (staff_client, "/staff/tasks/?tenant=acme"),
    ):
        assert "task_recent" not in plan(task_query(client, url)).replace("task_tenant_recent", ""), url
