"""Task and webhook metrics, and the gauges read from the database at scrape time.

Counters and histograms are written by the process that saw the event (a web worker, a django-q2
worker); under ``serve`` they go to files in PROMETHEUS_MULTIPROC_DIR and /metrics adds them up.
What describes the database (tasks in flight, poll lag, ledger totals) is computed from it when
/metrics is scraped (DatabaseCollector), so it is right whichever machine answers.
"""

import shutil
from pathlib import Path

from django.conf import settings
from django.db.models import Count, Min, Sum
from django.utils import timezone
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

from accounts.models import LedgerEntry

from .models import VideoTask

TASKS_FINISHED = Counter(
    "gateway_tasks_finished",
    "Tasks that reached a terminal status, by vendor, model and outcome (completed, failed, cancelled).",
    ["vendor", "model", "outcome"],
)
TASK_SECONDS = Histogram(
    "gateway_task_duration_seconds",
    "Time from a task's creation to its terminal status.",
    ["vendor", "model", "outcome"],
    buckets=(5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 21600),
)
WEBHOOK_DELIVERIES = Counter(
    "gateway_webhook_deliveries",
    "Webhook delivery attempts, by outcome: delivered, failed (retried later), gave_up (the event's last).",
    ["outcome"],
)


def task_finished(task):
    """Count a terminal transition (``task`` refreshed after it)."""
    vendor = task.channel.vendor if task.channel_id else "none"
    labels = (vendor, task.model, task.status)
    TASKS_FINISHED.labels(*labels).inc()
    if task.finished_at and task.created_at:
        TASK_SECONDS.labels(*labels).observe(max(0.0, (task.finished_at - task.created_at).total_seconds()))


def webhook_attempt(outcome):
    WEBHOOK_DELIVERIES.labels(outcome).inc()


class DatabaseCollector:
    """Gauges computed from the database at scrape time (three queries)."""

    def collect(self):
        now = timezone.now()
        in_flight = GaugeMetricFamily(
            "gateway_tasks_in_flight", "Active (queued or in progress) tasks per channel.", labels=["channel"]
        )
        rows = VideoTask.objects.active().values("channel__name").annotate(tasks=Count("id")).order_by()
        for row in rows:
            in_flight.add_metric([row["channel__name"] or "none"], row["tasks"])
        yield in_flight

        oldest = VideoTask.objects.active().filter(next_poll_at__lte=now).aggregate(at=Min("next_poll_at"))["at"]
        yield GaugeMetricFamily(
            "gateway_poll_lag_seconds",
            "How long the oldest due task has been waiting for its poll (0: none is due).",
            value=(now - oldest).total_seconds() if oldest else 0.0,
        )

        ledger = GaugeMetricFamily(
            "gateway_ledger_units",
            "Signed sum of all ledger entries' amounts, by kind, in units (1,000,000 = 1 USD).",
            labels=["kind"],
        )
        totals = dict(LedgerEntry.objects.values("kind").annotate(units=Sum("amount")).values_list("kind", "units"))
        for kind in LedgerEntry.Kind.values:
            ledger.add_metric([kind], totals.get(kind) or 0)
        yield ledger


def fresh_multiproc_dir():
    """An empty PROMETHEUS_MULTIPROC_DIR under GATEWAY_VAR_DIR for ``serve`` to hand its children
    (the web and worker processes write their counters there; /metrics adds them up). Emptied at
    each start: counters restart from zero with the processes, as Prometheus expects."""
    path = Path(settings.VAR_DIR) / "prometheus"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path
