"""Usage page: exact numbers for known data, SVG charts, medians, the ledger and CSV exports."""

import csv
import io
import re
from datetime import datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone
from django.utils.formats import date_format

from accounts import services
from accounts.models import LedgerEntry
from tests.helpers import USD, drive, make_task, signed_in, submit
from videos import usage
from videos.charts import nice_ticks

pytestmark = pytest.mark.django_db


def bars(svg):
    """(series, value) of every bar in an SVG chart."""
    return re.findall(r'<rect class="bar"[^>]* data-series="([^"]*)" data-value="([^"]*)"', svg)


def charts(html):
    return re.findall(r'<svg class="chart".*?</svg>', html, re.S)


def read_csv(response):
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def at(days_ago, hour=12, minute=0, second=0):
    day = timezone.localdate() - timedelta(days=days_ago)
    return timezone.make_aware(datetime(day.year, day.month, day.day, hour, minute, second))


@pytest.fixture
def three_tasks(api, sandbox):
    """Two completed sandbox tasks of 5 s at 10,000 units/s and one failed one."""
    done = [drive(submit(api, prompt=f"clip {n}")) for n in range(2)]
    failed = drive(submit(api, model="sandbox-fail"))
    assert [t.status for t in done] == ["completed", "completed"] and failed.status == "failed"
    return done, failed


def test_numbers_are_exact_for_known_data(owner, tenant, three_tasks):
    html = owner.get("/usage/").content.decode()
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD - 100_000
    assert ">$9.90<" in html  # balance: always with cents
    assert ">$0.10<" in html  # spend: 2 x 5 s x 10,000 units
    assert ">10 s<" in html  # seconds generated
    assert ">3 · 67%<" in html  # tasks, success rate (2 of 3 finished)
    row = re.search(r"<tr><td>sandbox-video</td>(.*?)</tr>", html, re.S).group(1)
    cells = re.findall(r'<td class="num">(.*?)</td>', row)
    assert cells[:3] == ["2", "2", "0"] and cells[3] == "100%" and cells[-2:] == ["10", "$0.10"]
    failed_row = re.search(r"<tr><td>sandbox-fail</td>(.*?)</tr>", html, re.S).group(1)
    assert re.findall(r'<td class="num">(.*?)</td>', failed_row)[:4] == ["1", "0", "1", "0%"]


def test_charts_are_svg_with_the_expected_bars(owner, three_tasks, key):
    html = owner.get("/usage/").content.decode()
    spend_day, seconds_day, spend_model, spend_key = charts(html)
    for svg in (spend_day, seconds_day, spend_model, spend_key):
        assert 'role="img"' in svg and 'aria-label="' in svg and "<title>" in svg
        assert "<line" in svg and "<text" in svg  # axes and labels
    assert bars(spend_day) == [("sandbox-video", "100000")]
    assert bars(seconds_day) == [("sandbox-video", "10.0")]
    assert 'class="legend-item"' in spend_day and ">sandbox-fail</text>" in spend_day  # legend lists every model
    today = date_format(timezone.localdate(), "DATE_FORMAT")  # the locale's date format
    assert f"<title>{today} · sandbox-video: $0.10</title>" in spend_day
    assert bars(spend_model) == [("sandbox-video", "100000")]  # the failed model spent nothing: no bar
    assert ">sandbox-fail</text>" in spend_model
    assert bars(spend_key) == [(f"test (sk-{key.lookup[:4]}...{key.last4})", "100000")]
    assert key.plaintext not in html


def test_per_day_bars_stack_by_model(owner, tenant, key):
    make_task(tenant, api_key=key, model="a", status="completed", seconds=5, amount_held=300, amount_charged=300)
    make_task(tenant, api_key=key, model="b", status="completed", seconds=4, amount_held=200, amount_charged=200)
    make_task(tenant, api_key=key, model="a", status="completed", amount_held=50, amount_charged=50, created_at=at(3))
    svg = charts(owner.get("/usage/?period=7").content.decode())[0]
    assert bars(svg) == [("a", "50"), ("a", "300"), ("b", "200")]
    assert svg.count('<rect class="bar"') == 3


def test_median_time_to_finish_per_model(owner, tenant):
    for model, durations in {"a": [10, 20, 60], "b": [10, 30, 40, 100]}.items():
        for seconds in durations:
            finished = at(1) + timedelta(seconds=seconds)
            make_task(tenant, model=model, status="completed", created_at=at(1), finished_at=finished)
    make_task(tenant, model="a", status="failed", created_at=at(1), finished_at=at(1, 12, 0, 5))  # not a video
    make_task(tenant, model="c", status="in_progress", created_at=at(1))
    period = usage.Period.last_days(7)
    assert usage.median_time_to_finish(tenant, period) == {"a": timedelta(seconds=20), "b": timedelta(seconds=35)}
    html = owner.get("/usage/?period=7").content.decode()
    assert re.search(r"<tr><td>a</td>.*?>20 s<", html, re.S)
    assert re.search(r"<tr><td>b</td>.*?>35 s<", html, re.S)
    assert re.search(r"<tr><td>a</td>.*?>75%<", html, re.S)  # 3 of 4 finished
    assert re.search(r"<tr><td>c</td>(?:(?!</tr>).)*—", html, re.S)  # nothing finished yet


def test_period_chooser(owner, tenant):
    recent = make_task(tenant, model="recent", created_at=at(2))
    older = make_task(tenant, model="older", created_at=at(20))
    oldest = make_task(tenant, model="oldest", created_at=at(60))

    def models(query):
        html = owner.get(f"/usage/?{query}").content.decode()
        return set(re.findall(r"<tr><td>(\w+)</td>", html))

    assert models("period=7") == {recent.model}
    assert models("") == {recent.model, older.model}  # 30 days by default
    assert models("period=90") == {recent.model, older.model, oldest.model}
    since, until = at(61).date().isoformat(), at(10).date().isoformat()
    assert models(f"period=custom&since={since}&until={until}") == {older.model, oldest.model}
    html = owner.get(f"/usage/?period=custom&since={until}&until={since}").content.decode()
    assert "The end date is before the start date." in html and "showing the last 30 days instead" in html
    assert "Choose both a start and an end date" in owner.get("/usage/?period=custom").content.decode()
    empty = owner.get("/usage/?period=custom&since=2001-01-01&until=2001-01-31").content.decode()
    assert "No tasks in this period" in empty


def test_ledger_table_and_pagination(owner, tenant, other_tenant):
    for n in range(30):
        services.topup(tenant, 1_000 + n, note=f"top-up {n}")
    services.topup(other_tenant, 777, note="not yours")
    html = owner.get("/usage/").content.decode()
    ledger = html.split('id="ledger"')[1]
    assert ledger.count("<tr><td><time") == 25
    assert "top-up 29" in ledger and "Page 1 of 2" in ledger and "not yours" not in ledger
    assert 'href="?period=30&amp;page=2#ledger"' in ledger
    second = owner.get("/usage/?period=30&page=2").content.decode().split('id="ledger"')[1]
    assert second.count("<tr><td><time") == 6  # 5 top-ups and the fixture's opening balance
    assert ">Top-up<" in second and ">$10.00<" in second


def test_ledger_shows_holds_captures_and_releases(owner, three_tasks):
    html = owner.get("/usage/").content.decode()
    for kind in ("Hold", "Capture", "Release", "Top-up"):
        assert f">{kind}<" in html
    assert ">-$0.05<" in html


def test_a_capture_says_what_was_charged_not_only_what_came_back(owner, three_tasks):
    """Issue 13, defect 8: a capture gives back the hold less the charge, "$0.00" for a task charged
    in full; its note says what was charged so it does not read as a free video."""
    done, _ = three_tasks
    html = owner.get("/usage/").content.decode()
    ledger = html.split('id="ledger"')[1]
    [row] = [row for row in ledger.split("<tr>") if ">Capture<" in row and done[0].public_id in row]
    assert "Charged $0.05 of the $0.05 held; $0.00 back to the balance." in row
    assert '<td class="num">$0.00</td>' in row
    assert "charged $0.05 of $0.05 held" not in ledger  # the stored English note is not shown


def test_tasks_csv_rows_are_exact(owner, tenant, key, other_tenant):
    task = make_task(
        tenant,
        api_key=key,
        model="sora-2",
        prompt="=HYPERLINK(1)",
        status="completed",
        seconds=8,
        seconds_produced=8.0,
        resolution="720p",
        amount_held=800_000,
        amount_charged=800_000,
        created_at=at(1, 9),
        finished_at=at(1, 9, 2),
    )
    failed = make_task(tenant, status="failed", error_code="vendor_failed", created_at=at(0, 1))
    make_task(tenant, api_key=key, created_at=at(40))  # outside the period
    make_task(other_tenant, created_at=at(1))  # another tenant
    response = owner.get("/usage/tasks.csv?period=7")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="acme-tasks-')
    assert read_csv(response) == [
        usage.TASK_COLUMNS,
        [
            task.public_id,
            at(1, 9).isoformat(),
            at(1, 9, 2).isoformat(),
            "completed",
            "sora-2",
            "test",
            key.masked,
            "8",
            "8.0",
            "720p",
            "800000",
            "800000",
            "",
            "'=HYPERLINK(1)",
        ],
        [failed.public_id, at(0, 1).isoformat(), "", "failed", "sandbox-video", "", "", "0", "", ""]
        + ["0", "0", "vendor_failed", ""],
    ]


def test_ledger_csv_rows_are_exact(owner, tenant, other_tenant, users):
    opening = LedgerEntry.objects.get(tenant=tenant)  # the fixture's opening top-up, today
    debit = services.adjust(tenant, -250_000, note="refund correction", user=users["owner"])
    services.topup(other_tenant, 5, note="not yours")
    response = owner.get("/usage/ledger.csv?period=7")
    assert read_csv(response) == [
        usage.LEDGER_COLUMNS,
        [opening.created_at.isoformat(), "topup", str(10 * USD), str(10 * USD), "", "", "test"],
        [debit.created_at.isoformat(), "adjustment", "-250000", str(10 * USD - 250_000), "", "", "refund correction"],
    ]
    old = owner.get("/usage/ledger.csv?period=custom&since=2001-01-01&until=2001-01-02")
    assert read_csv(old) == [usage.LEDGER_COLUMNS]


def test_ledger_csv_names_task_and_key(owner, three_tasks, key):
    rows = read_csv(owner.get("/usage/ledger.csv"))[1:]
    done, failed = three_tasks
    holds = [row for row in rows if row[1] == "hold"]
    assert [row[4] for row in holds] == [done[0].public_id, done[1].public_id, failed.public_id]
    assert {row[5] for row in holds} == {key.masked}
    assert sum(int(row[2]) for row in rows) == 10 * USD - 100_000


def test_other_tenant_sees_none_of_it(users, three_tasks, key):
    outsider = signed_in(users["outsider"])
    html = outsider.get("/usage/").content.decode()
    assert "No tasks in this period" in html and "sandbox-video" not in html and key.masked not in html
    tasks = read_csv(outsider.get("/usage/tasks.csv"))
    ledger = read_csv(outsider.get("/usage/ledger.csv"))
    assert len(tasks) == 1
    assert [row[1] for row in ledger[1:]] == ["topup"]


def test_read_only_member_sees_usage(users, three_tasks):
    reader = signed_in(users["reader"])
    assert reader.get("/usage/").status_code == 200
    assert len(read_csv(reader.get("/usage/tasks.csv"))) == 4


def test_usage_needs_a_session(key):
    for url in ("/usage/", "/usage/tasks.csv", "/usage/ledger.csv"):
        response = Client(HTTP_AUTHORIZATION=f"Bearer {key.plaintext}").get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_usage_queries_are_bounded(owner, tenant, key, django_assert_max_num_queries):
    for n in range(40):
        model = f"model-{n % 4}"
        status = "completed" if n % 3 else "failed"
        make_task(tenant, api_key=key, model=model, status=status, created_at=at(n % 9), finished_at=at(n % 9, 13))
        services.topup(tenant, 1 + n)
    with django_assert_max_num_queries(9):
        assert owner.get("/usage/?period=30").status_code == 200
    with django_assert_max_num_queries(4):
        assert len(read_csv(owner.get("/usage/tasks.csv"))) == 41


def test_nice_ticks():
    assert nice_ticks(0) == [0, 1]
    assert nice_ticks(100_000) == [0, 25_000, 50_000, 75_000, 100_000]
    assert nice_ticks(7) == [0, 2, 4, 6, 8]


def test_period_chooser_shows_the_period_in_use(owner):
    html = owner.get("/usage/?page=1").content.decode()
    assert '<option value="30" selected>Last 30 days</option>' in html
    assert '<option value="7" selected>' in owner.get("/usage/?period=7").content.decode()
    invalid = owner.get("/usage/?period=365").content.decode()
    assert "showing the last 30 days instead" in invalid and "Select a valid choice" in invalid
