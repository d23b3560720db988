"""The operator overview: figures across tenants per day, per channel, top tenants and models,
checked against known tasks; staff only; a fixed number of queries."""

import re
from datetime import datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.templatetags.money import usd
from channels.models import Channel
from tests.helpers import make_task, signed_in
from videos import overview

pytestmark = pytest.mark.django_db


def at(days_ago, seconds=0):
    day = timezone.localdate() - timedelta(days=days_ago)
    return timezone.make_aware(datetime(day.year, day.month, day.day, 1)) + timedelta(seconds=seconds)


def done(tenant, channel, days_ago, seconds, charged, model="sandbox-video"):
    created = at(days_ago)
    return make_task(
        tenant,
        channel=channel,
        model=model,
        status="completed",
        created_at=created,
        finished_at=created + timedelta(seconds=seconds),
        amount_held=charged,
        amount_charged=charged,
    )


@pytest.fixture
def history(tenant, other_tenant, sandbox):
    sora = Channel.objects.create(name="sora", vendor="openai", served_models=["sora-2"])
    # Today: acme 2 completed (20 s, 40 s), 1 failed, 1 cancelled on sandbox; globex 1 completed, 1 running on sora.
    done(tenant, sandbox, 0, 20, 300_000)
    done(tenant, sandbox, 0, 40, 200_000)
    make_task(tenant, channel=sandbox, status="failed", created_at=at(0), finished_at=at(0, 5))
    make_task(tenant, channel=sandbox, status="cancelled", created_at=at(0), finished_at=at(0, 5))
    done(other_tenant, sora, 0, 30, 50_000, model="sora-2")
    make_task(other_tenant, channel=sora, model="sora-2", status="in_progress", created_at=at(0))
    # Three days ago: acme 1 completed on sora (60 s). Twenty days ago (in the top lists only) and
    # forty days ago (in nothing).
    done(tenant, sora, 3, 60, 100_000, model="sora-2")
    done(tenant, sora, 20, 60, 1_000_000, model="sora-2")
    done(other_tenant, sora, 40, 60, 9_000_000, model="sora-2")
    return sandbox, sora


def test_figures_for_known_tasks(history):
    sandbox, sora = history
    figures = overview.figures()
    days = {row["day"]: row for row in figures["days"]}
    assert len(figures["days"]) == 14 and figures["days"][-1]["day"] == timezone.localdate()
    today = days[timezone.localdate()]
    assert (today["tasks"], today["completed"], today["failed"], today["spend"]) == (6, 3, 1, 550_000)
    assert today["success_rate"] == 75
    before = days[timezone.localdate() - timedelta(days=3)]
    assert (before["tasks"], before["spend"], before["success_rate"]) == (1, 100_000, 100)
    quiet = days[timezone.localdate() - timedelta(days=1)]
    assert (quiet["tasks"], quiet["spend"], quiet["success_rate"]) == (0, 0, None)
    assert figures["totals"] == {"tasks": 7, "completed": 4, "failed": 1, "spend": 650_000, "success_rate": 80}

    channels = {row["channel__name"]: row for row in figures["channels"]}
    assert [row["channel__name"] for row in figures["channels"]] == ["sandbox", "sora"]
    assert {k: channels["sandbox"][k] for k in ("requests", "failures", "success_rate", "in_flight")} == {
        "requests": 4,
        "failures": 1,
        "success_rate": 67,
        "in_flight": 0,
    }
    assert channels["sandbox"]["p50"] == timedelta(seconds=30)
    assert (channels["sora"]["requests"], channels["sora"]["in_flight"]) == (3, 1)
    assert channels["sora"]["p50"] == timedelta(seconds=45)

    assert [(row["tenant__name"], row["tasks"], row["spend"]) for row in figures["tenants"]] == [
        ("acme", 6, 1_600_000),
        ("globex", 2, 50_000),
    ]
    assert [(row["model"], row["tasks"], row["spend"]) for row in figures["models"]] == [
        ("sora-2", 4, 1_150_000),
        ("sandbox-video", 4, 500_000),
    ]


def test_page_shows_the_figures_in_few_queries(staff_client, history, django_assert_max_num_queries):
    with django_assert_max_num_queries(8):  # session, user and one query per table: never per task
        response = staff_client.get("/staff/overview/")
    page = response.content.decode()
    assert re.search(rf'id="total-spend">{re.escape(usd(650_000))}<', page)
    assert 'id="total-tasks">7<' in page and 'id="total-success">80%<' in page
    channels = page[page.index('id="channels"') :]
    assert re.search(r">sandbox</a></td>\s*<td class=\"num\">4</td><td class=\"num\">1</td>", channels)
    assert "30 s" in channels and "45 s" in channels
    tenants = page[page.index('id="top-tenants"') :]
    assert tenants.index(">acme<") < tenants.index(">globex<") and usd(1_600_000) in tenants
    models = page[page.index('id="top-models"') :]
    assert models.index(">sora-2<") < models.index(">sandbox-video<")
    svg = re.findall(r'<svg class="chart".*?</svg>', page, re.S)
    assert len(svg) == 2
    assert 'data-value="550000"' in svg[0] and 'data-value="100000"' in svg[0]
    assert 'data-series="Completed" data-value="3"' in svg[1]


def test_empty_overview_renders(staff_client):
    page = staff_client.get("/staff/overview/").content.decode()
    assert "No channel served a task" in page and 'id="total-tasks">0<' in page


def test_overview_is_staff_only(users):
    for who in ("owner", "reader", "outsider"):
        assert signed_in(users[who]).get("/staff/overview/").status_code == 404
    response = Client().get("/staff/overview/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


# --- charts (videos/charts.py): readable on phones, labels inside the picture ---------------------


def test_every_chart_has_a_narrow_drawing_with_readable_text():
    from videos import charts

    days = [f"day {n}" for n in range(30)]
    html = charts.stacked_bars("Spend", days, [("a", list(range(30)))], str)
    wide, narrow = re.findall(r"<svg .*?</svg>", html, re.S)
    assert wide.startswith('<svg class="chart" ') and narrow.startswith('<svg class="chart chart-narrow" ')
    width = float(re.search(r'viewBox="0 0 ([\d.]+)', narrow)[1])
    size = float(re.search(r'font-size="([\d.]+)"', narrow)[1])
    # Drawn 1:1 on a 390 px phone (about 330 px of card): at least 10 px text.
    assert size * 330 / width >= 10


def test_bar_labels_fit_left_of_their_bars():
    from videos import charts

    name = "nightly batch renders for the spring catalogue (sk-abcd...wxyz)"
    html = charts.horizontal_bars("Spend per key", [(name, 1_234_560), ("short", 5)], lambda v: f"${v / 1e6:.2f}")
    for svg in re.findall(r"<svg .*?</svg>", html, re.S):
        size = float(re.search(r'font-size="([\d.]+)"', svg)[1])
        width = float(re.search(r'viewBox="0 0 ([\d.]+)', svg)[1])
        for x, anchor, text in re.findall(
            r'<text class="bar-label" x="([\d.]+)"( text-anchor="end")?[^>]*>(.*?)<', svg
        ):
            drawn = charts.text_width(text, size)
            left = float(x) - drawn if anchor else float(x)
            assert left >= 0 and left + drawn <= width, (text, x)
        for x, text in re.findall(r'<text x="([\d.]+)" y="[\d.]+" fill="[^"]+">(\$[\d.]+)<', svg):
            assert float(x) + charts.text_width(text, size) <= width, text
