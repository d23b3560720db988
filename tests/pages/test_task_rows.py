"""What each row of the task list shows, now that its text is made in the view (videos.views.rows)
rather than by the template's url tag and filters: the same text, escaped the same way."""

import re
import unicodedata
from datetime import UTC, datetime

import pytest

from tests.helpers import make_task

pytestmark = pytest.mark.django_db


def row_of(html, task):
    """The <tr> of ``task`` in a page or fragment."""
    return re.search(rf'<tr id="task-{task.public_id}">.*?</tr>', html, re.S)[0]


def test_a_row_shows_the_task_as_the_filters_did(owner, tenant, key):
    at = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)
    task = make_task(
        tenant, api_key=key, prompt="short", status="completed", seconds=8, amount_held=90, amount_charged=70
    )
    task.created_at = at
    task.save(update_fields=["created_at"])
    row = row_of(owner.get("/tasks/").content.decode(), task)
    assert (
        f'<a class="mono id" href="/tasks/{task.public_id}/">{task.public_id}</a><div class="muted">short</div>' in row
    )
    assert f'<td class="hide-narrow">test<div class="muted mono nowrap">{key.masked}</div></td>' in row
    assert '<span class="badge badge-completed">Completed</span>' in row and "data-live" not in row
    assert '<td class="num hide-narrow">8</td>' in row and '<td class="num">$0.00007</td>' in row
    assert '<time datetime="2026-03-04T05:06:07.891011+00:00">2026-03-04 05:06</time>' in row
    # A completed task's thumbnail: its video, loaded by app.js once in view, a frame 0.1 s in.
    assert f'<video class="thumb" data-src="/tasks/{task.public_id}/video#t=0.1" preload="none" muted' in row


def test_running_failed_and_keyless_rows(owner, tenant):
    running = make_task(tenant, status="in_progress", progress=42, amount_held=1_500_000)
    queued = make_task(tenant, status="queued", amount_held=250_000)
    failed = make_task(tenant, status="failed", amount_held=90)
    html = owner.get("/tasks/").content.decode()
    live = row_of(html, running)
    assert '<div data-live><span class="badge badge-in_progress">In progress · 42%</span>' in live
    assert 'aria-valuenow="42"><div class="progress-bar"></div>' in live
    assert '<span class="muted" title="Held until the task finishes">$1.50 held</span>' in live
    assert '<td class="hide-narrow"><span class="muted">—</span></td>' in live
    assert '<div class="muted">' not in live  # no key, no prompt
    assert "<video" not in live  # no thumbnail until completed
    assert '<span class="badge badge-queued">Queued · 0%</span>' in row_of(html, queued)
    assert '<span class="badge badge-failed">Failed</span>' in row_of(html, failed)
    assert '<span class="muted" title="The hold was released">$0.00</span>' in row_of(html, failed)


def test_prompts_are_cut_normalised_and_escaped_as_truncatechars_did(owner, tenant):
    long = make_task(tenant, prompt="x" * 69 + "yz and more")
    exact = make_task(tenant, prompt="e" * 70)
    decomposed = make_task(tenant, prompt=unicodedata.normalize("NFD", "Café crème"))
    combining = make_task(tenant, prompt="e\u0301" * 71)  # combining marks are not counted
    markup = make_task(tenant, prompt='<script>alert("x")</script> & more')
    html = owner.get("/tasks/rows/").content.decode()
    assert f'<div class="muted">{"x" * 69}…</div>' in row_of(html, long)
    assert f'<div class="muted">{"e" * 70}</div>' in row_of(html, exact)
    assert '<div class="muted">Café crème</div>' in row_of(html, decomposed)  # NFC, as the filter returns it
    assert f'<div class="muted">{"é" * 69}…</div>' in row_of(html, combining)
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more" in row_of(html, markup)
    assert "<script>" not in html


def test_the_rows_fragment_and_the_page_show_the_same_rows(owner, tenant, key):
    for n in range(30):
        make_task(tenant, api_key=key if n % 2 else None, prompt=f"task {n}", status=("queued", "completed")[n % 2])
    page = owner.get("/tasks/").content.decode()
    fragment = owner.get("/tasks/rows/").content.decode()
    body = re.search(r"<tbody[^>]*>(.*)</tbody>", page, re.S)[1]
    assert body.strip() == fragment.strip() and body.count("<tr id=") == 25
