"""The operator's figures across tenants, each grouped in the database (one query per table):
per day, per channel, top tenants and top models.

Tasks count on the day they were created (UTC), as on the usage page; spend is what tasks were
charged; the success rate counts completed and failed tasks (not cancelled ones); latency is the
time from the request to a completed video.
"""

from datetime import timedelta

from django.db.models import Count, F, Q, Sum, Window
from django.db.models.functions import Coalesce, RowNumber, TruncDate

from .models import VideoTask
from .usage import COMPLETED, FAILED, TIME_TO_FINISH, Period

DAILY_DAYS = 14
TOP_DAYS = 30
TOP_ROWS = 10


def success_rate(completed, failed):
    finished = completed + failed
    return round(100 * completed / finished) if finished else None


def created_in(period):
    return VideoTask.objects.filter(created_at__gte=period.start, created_at__lt=period.end)


def daily(period):
    """One row per day of ``period`` (days without tasks too): day, tasks, completed, failed,
    success_rate, spend."""
    rows = {
        row["day"]: row
        for row in created_in(period)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(
            tasks=Count("id"),
            completed=Count("id", filter=COMPLETED),
            failed=Count("id", filter=FAILED),
            spend=Coalesce(Sum("amount_charged"), 0),
        )
        .order_by("day")
    }
    empty = {"tasks": 0, "completed": 0, "failed": 0, "spend": 0}
    days = []
    for day in period.days:
        row = {**empty, **rows.get(day, {}), "day": day}
        row["success_rate"] = success_rate(row["completed"], row["failed"])
        days.append(row)
    return days


def median_time_to_finish(tasks, field):
    """{value of ``field``: timedelta}, the median time to finish of the completed ``tasks`` per
    ``field`` (e.g. "channel_id"), in one query: each group's middle one or two rows by duration,
    picked with window functions (as videos.usage does per model)."""
    middle = (
        tasks.filter(COMPLETED, finished_at__isnull=False)
        .annotate(
            duration=TIME_TO_FINISH,
            position=Window(RowNumber(), partition_by=[F(field)], order_by=TIME_TO_FINISH.asc()),
            count=Window(Count("id"), partition_by=[F(field)]),
        )
        .filter(position__gte=(F("count") + 1) / 2, position__lte=(F("count") + 2) / 2)
        .values_list(field, "duration")
    )
    picked = {}
    for key, duration in middle:
        picked.setdefault(key, []).append(duration)
    return {key: sum(values, timedelta()) / len(values) for key, values in picked.items()}


def by_channel(period):
    """Per channel that had tasks in ``period`` or has some in flight now: requests, failures,
    success rate, latency p50 and in flight, busiest first."""
    in_period = Q(created_at__gte=period.start, created_at__lt=period.end)
    rows = list(
        VideoTask.objects.filter(channel__isnull=False)
        .filter(in_period | Q(status__in=VideoTask.ACTIVE))
        .values("channel_id", "channel__name", "channel__status")
        .annotate(
            requests=Count("id", filter=in_period),
            completed=Count("id", filter=in_period & COMPLETED),
            failures=Count("id", filter=in_period & FAILED),
            in_flight=Count("id", filter=Q(status__in=VideoTask.ACTIVE)),
        )
        .order_by("-requests", "channel__name")
    )
    medians = median_time_to_finish(created_in(period), "channel_id")
    for row in rows:
        row["success_rate"] = success_rate(row["completed"], row["failures"])
        row["p50"] = medians.get(row["channel_id"])
    return rows


def top_tenants(period, limit=TOP_ROWS):
    return list(
        created_in(period)
        .values("tenant__name")
        .annotate(spend=Coalesce(Sum("amount_charged"), 0), tasks=Count("id"))
        .order_by("-spend", "-tasks", "tenant__name")[:limit]
    )


def top_models(period, limit=TOP_ROWS):
    return list(
        created_in(period)
        .values("model")
        .annotate(spend=Coalesce(Sum("amount_charged"), 0), tasks=Count("id"))
        .order_by("-spend", "-tasks", "model")[:limit]
    )


def figures(today=None):
    """Everything the overview page shows."""
    recent = Period.last_days(DAILY_DAYS, today)
    month = Period.last_days(TOP_DAYS, today)
    days = daily(recent)
    totals = {name: sum(row[name] for row in days) for name in ("tasks", "completed", "failed", "spend")}
    totals["success_rate"] = success_rate(totals["completed"], totals["failed"])
    return {
        "recent": recent,
        "month": month,
        "days": days,
        "totals": totals,
        "channels": by_channel(recent),
        "tenants": top_tenants(month),
        "models": top_models(month),
    }
