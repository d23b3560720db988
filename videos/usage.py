"""Usage over a period for one tenant: grouped in the database, a few queries per page.

Tasks are counted by the day they were created (UTC); spend is what completed tasks were
charged; seconds are what completed tasks produced (else what they were billed for).
"""

import csv
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Case, Count, DurationField, ExpressionWrapper, F, FloatField, Q, Sum, Value, When, Window
from django.db.models.functions import Cast, Coalesce, RowNumber, TruncDate
from django.utils import timezone

from accounts.models import LedgerEntry

from .models import VideoTask

PRESETS = (7, 30, 90)
DEFAULT_DAYS = 30
MAX_DAYS = 366

COMPLETED = Q(status=VideoTask.Status.COMPLETED)
FAILED = Q(status=VideoTask.Status.FAILED)
SECONDS_PRODUCED = Case(
    When(COMPLETED, then=Coalesce("seconds_produced", Cast("seconds", FloatField()))),
    default=Value(0.0),
    output_field=FloatField(),
)
TIME_TO_FINISH = ExpressionWrapper(F("finished_at") - F("created_at"), output_field=DurationField())


@dataclass(frozen=True)
class Period:
    first: date
    last: date  # inclusive
    preset: str  # "7", "30", "90" or "custom"

    @classmethod
    def last_days(cls, days, today=None):
        today = today or timezone.localdate()
        return cls(today - timedelta(days=days - 1), today, str(days))

    @property
    def start(self):
        return timezone.make_aware(datetime.combine(self.first, time.min))

    @property
    def end(self):
        return timezone.make_aware(datetime.combine(self.last + timedelta(days=1), time.min))

    @property
    def days(self):
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    @property
    def query(self):
        """The query string that selects this period again (for links and CSV exports)."""
        if self.preset == "custom":
            return f"period=custom&since={self.first.isoformat()}&until={self.last.isoformat()}"
        return f"period={self.preset}"


def tasks_in(tenant, period):
    return VideoTask.objects.for_tenant(tenant).filter(created_at__gte=period.start, created_at__lt=period.end)


def ledger_in(tenant, period):
    return LedgerEntry.objects.filter(tenant=tenant, created_at__gte=period.start, created_at__lt=period.end)


def daily_by_model(tenant, period):
    """Rows of {day, model, spend, seconds}, one per day and model that had tasks."""
    return list(
        tasks_in(tenant, period)
        .annotate(day=TruncDate("created_at"))
        .values("day", "model")
        .annotate(spend=Coalesce(Sum("amount_charged"), 0), seconds=Coalesce(Sum(SECONDS_PRODUCED), 0.0))
        .order_by("day", "model")
    )


def by_model(tenant, period):
    """Per model: tasks, completed, failed, success rate (of finished tasks), spend, seconds, median."""
    rows = list(
        tasks_in(tenant, period)
        .values("model")
        .annotate(
            tasks=Count("id"),
            completed=Count("id", filter=COMPLETED),
            failed=Count("id", filter=FAILED),
            spend=Coalesce(Sum("amount_charged"), 0),
            seconds=Coalesce(Sum(SECONDS_PRODUCED), 0.0),
        )
        .order_by("-spend", "model")
    )
    medians = median_time_to_finish(tenant, period)
    for row in rows:
        finished = row["completed"] + row["failed"]
        row["success_rate"] = round(100 * row["completed"] / finished) if finished else None
        row["median"] = medians.get(row["model"])
    return rows


def median_time_to_finish(tenant, period):
    """{model: timedelta} over completed tasks, in one query: each model's middle one or two
    rows by duration, picked with window functions (SQLite and PostgreSQL alike)."""
    middle = (
        tasks_in(tenant, period)
        .filter(COMPLETED, finished_at__isnull=False)
        .annotate(
            duration=TIME_TO_FINISH,
            position=Window(RowNumber(), partition_by=[F("model")], order_by=TIME_TO_FINISH.asc()),
            count=Window(Count("id"), partition_by=[F("model")]),
        )
        .filter(position__gte=(F("count") + 1) / 2, position__lte=(F("count") + 2) / 2)
        .values_list("model", "duration")
    )
    picked = {}
    for model, duration in middle:
        picked.setdefault(model, []).append(duration)
    return {model: sum(values, timedelta()) / len(values) for model, values in picked.items()}


def by_key(tenant, period):
    """Per key (or no key, for tasks started elsewhere): tasks, spend, seconds."""
    return list(
        tasks_in(tenant, period)
        .values("api_key__name", "api_key__lookup", "api_key__last4")
        .annotate(
            tasks=Count("id"), spend=Coalesce(Sum("amount_charged"), 0), seconds=Coalesce(Sum(SECONDS_PRODUCED), 0.0)
        )
        .order_by("-spend", "api_key__name")
    )


def key_label(row):
    if not row["api_key__lookup"]:
        return "No key"
    return f"{row['api_key__name']} (sk-{row['api_key__lookup'][:4]}...{row['api_key__last4']})"


def totals(model_rows):
    """Period totals from the per-model rows (a handful of rows, already grouped)."""
    completed = sum(row["completed"] for row in model_rows)
    finished = completed + sum(row["failed"] for row in model_rows)
    return {
        "tasks": sum(row["tasks"] for row in model_rows),
        "completed": completed,
        "spend": sum(row["spend"] for row in model_rows),
        "seconds": sum(row["seconds"] for row in model_rows),
        "success_rate": round(100 * completed / finished) if finished else None,
    }


# --- CSV exports ---------------------------------------------------------------------------

TASK_COLUMNS = [
    "id",
    "created_at",
    "finished_at",
    "status",
    "model",
    "key_name",
    "key",
    "seconds",
    "seconds_produced",
    "resolution",
    "held_units",
    "charged_units",
    "error_code",
    "prompt",
]
LEDGER_COLUMNS = ["created_at", "kind", "amount_units", "balance_after_units", "task", "key", "note"]


class _Echo:
    def write(self, value):
        return value


# What makes a spreadsheet read a cell as a formula (OWASP "CSV Injection"): = + - @, a TAB or a
# CR (or LF) before one of them, and the full-width forms some spreadsheets also accept.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def _text(value):
    """Free text for a spreadsheet: a cell starting with a formula trigger gets a leading ' so
    it is shown as text, never evaluated."""
    value = value or ""
    return f"'{value}" if value.startswith(FORMULA_TRIGGERS) else value


def _when(value):
    return value.isoformat() if value else ""


def csv_rows(header, rows):
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow(row)


def task_csv(tenant, period):
    tasks = tasks_in(tenant, period).select_related("api_key").order_by("created_at", "id")
    rows = (
        [
            task.public_id,
            _when(task.created_at),
            _when(task.finished_at),
            task.status,
            task.model,
            _text(task.api_key.name) if task.api_key else "",
            task.api_key.masked if task.api_key else "",
            task.seconds,
            "" if task.seconds_produced is None else task.seconds_produced,
            task.resolution,
            task.amount_held,
            task.amount_charged,
            task.error_code,
            _text(task.prompt),
        ]
        for task in tasks.iterator(chunk_size=500)
    )
    return csv_rows(TASK_COLUMNS, rows)


def ledger_csv(tenant, period):
    entries = ledger_in(tenant, period).select_related("task", "api_key").order_by("created_at", "id")
    rows = (
        [
            _when(entry.created_at),
            entry.kind,
            entry.amount,
            entry.balance_after,
            entry.task.public_id if entry.task else "",
            entry.api_key.masked if entry.api_key else "",
            _text(entry.note),
        ]
        for entry in entries.iterator(chunk_size=500)
    )
    return csv_rows(LEDGER_COLUMNS, rows)
