"""Operator pages (staff only) over tasks: all tasks, one task with its ledger, worker
health and the queue, the channel list with each channel's task figures, and any tenant's webhook
delivery log."""

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.db.models import Count, Exists, OuterRef, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_q.models import OrmQ

from accounts.dashboard import PAGE_SIZE, record, staff_view
from accounts.models import WebhookEndpoint
from accounts.templatetags.money import usd
from channels.adaptors import registry
from channels.models import Channel

from . import cancel, charts, overview, views
from .errors import GatewayError
from .forms import StaffTaskFilterForm
from .models import Heartbeat, VideoTask

SUCCESS_WINDOW = timedelta(days=7)
WORKER_ALIVE = timedelta(minutes=2)


# --- channels ------------------------------------------------------------------------


@staff_view
def channel_list(request):
    """The channels in use (or, with ?archived=1, the archived ones) with their last test, task
    figures of the last 7 days and a median time to finish, in a fixed number of queries."""
    archived = request.GET.get("archived") == "1"
    since = timezone.now() - SUCCESS_WINDOW
    recent = Q(tasks__finished_at__gte=since)
    channels = list(
        Channel.objects.filter(archived_at__isnull=not archived).annotate(
            in_flight=Count("tasks", filter=Q(tasks__status__in=VideoTask.ACTIVE)),
            # Cancelled tasks say nothing about a channel: its success rate counts completed and failed ones.
            finished=Count(
                "tasks",
                filter=recent & Q(tasks__status__in=(VideoTask.Status.COMPLETED, VideoTask.Status.FAILED)),
            ),
            completed=Count("tasks", filter=recent & Q(tasks__status=VideoTask.Status.COMPLETED)),
            has_tasks=Exists(VideoTask.objects.filter(channel=OuterRef("pk"))),
        )
    )
    medians = overview.median_time_to_finish(VideoTask.objects.filter(finished_at__gte=since), "channel_id")
    labels = dict(registry.choices())
    for channel in channels:
        channel.vendor_label = labels.get(channel.vendor, channel.vendor)
        channel.success_rate = round(100 * channel.completed / channel.finished) if channel.finished else None
        channel.p50 = medians.get(channel.pk)
    context = {
        "channels": channels,
        "archived": archived,
        "archived_count": None if archived else Channel.objects.filter(archived_at__isnull=False).count(),
        "nav": "channels",
    }
    return render(request, "videos/staff/channel_list.html", context)


# --- overview ------------------------------------------------------------------------


def _overview_charts(figures):
    days = [row["day"] for row in figures["days"]]
    # The active language's own formats (zh-hans: "11月30日"), never an English day-month order.
    full = [formats.date_format(day, "DATE_FORMAT") for day in days]
    short = [formats.date_format(day, "MONTH_DAY_FORMAT") for day in days]
    period = figures["recent"]
    span = f"{formats.date_format(period.first, 'DATE_FORMAT')} – {formats.date_format(period.last, 'DATE_FORMAT')}"
    spend = [row["spend"] for row in figures["days"]]
    completed = [row["completed"] for row in figures["days"]]
    failed = [row["failed"] for row in figures["days"]]
    other = [row["tasks"] - row["completed"] - row["failed"] for row in figures["days"]]
    return {
        "spend": charts.stacked_bars(
            _("Spend per day, %(span)s") % {"span": span},
            full,
            [(_("Spend"), spend)],
            usd,
            tick_labels=short,
        ),
        "tasks": charts.stacked_bars(
            _("Tasks per day by outcome, %(span)s") % {"span": span},
            full,
            [(_("Completed"), completed), (_("Failed"), failed), (_("Other"), other)],
            lambda value: f"{value:g}",
            tick_labels=short,
        ),
    }


@staff_view
def overview_page(request):
    """Spend, tasks and success per day across tenants, channels, top tenants and models."""
    figures = overview.figures()
    context = {**figures, "charts": _overview_charts(figures), "nav": "overview"}
    return render(request, "videos/staff/overview.html", context)


# --- tasks ---------------------------------------------------------------------------


@staff_view
def task_list(request):
    form = StaffTaskFilterForm(request.GET)
    tasks = form.filter(VideoTask.objects.select_related("tenant", "channel", "api_key"))
    if not form.cleaned_data.get("tenant"):
        tasks = tasks.filter(id__gt=0)  # true of every task: lets the planner use task_recent (VideoTask.Meta)
    page = views.cursor_page(request, tasks, PAGE_SIZE)  # a million rows: by cursor, never counted
    filtered = any(request.GET.get(name) for name in form.fields)
    context = {"form": form, "page": page, "filtered": filtered, "nav": "staff-tasks"}
    return render(request, "videos/staff/task_list.html", context)


@staff_view
def task_detail(request, public_id):
    task = get_object_or_404(
        VideoTask.objects.select_related("tenant", "channel", "api_key", "remixed_from"), public_id=public_id
    )
    ledger = task.ledger.order_by("created_at", "id")
    context = {"task": task, "ledger": ledger, "can_cancel": cancel.can_cancel(task), "nav": "staff-tasks"}
    return render(request, "videos/staff/task_detail.html", context)


@staff_view
@require_POST
def task_cancel(request, public_id):
    """Cancel any tenant's task, as its members could (audited)."""
    task = get_object_or_404(VideoTask, public_id=public_id)
    try:
        cancel.cancel_task(task)
    except GatewayError as exc:
        messages.error(
            request, _("%(task)s was not cancelled: %(reason)s") % {"task": task.public_id, "reason": exc.message}
        )
    else:
        record(request, "task.cancelled", task.public_id, tenant=task.tenant.name)
        messages.success(request, _("%(task)s cancelled; its hold was released.") % {"task": task.public_id})
    return redirect("staff-task", public_id=task.public_id)


# --- health ----------------------------------------------------------------


@staff_view
def health(request):
    now = timezone.now()
    heartbeat = Heartbeat.objects.filter(name="poller").first()
    age = now - heartbeat.at if heartbeat else None
    active = VideoTask.objects.active()
    overdue = active.filter(deadline_at__lt=now)
    context = {
        "heartbeat": heartbeat,
        "worker_alive": age is not None and age < WORKER_ALIVE,
        "queue_depth": OrmQ.objects.count() if "orm" in settings.Q_CLUSTER else None,
        "in_flight": active.values("channel__name").annotate(tasks=Count("id")).order_by("-tasks", "channel__name"),
        "active_count": active.count(),
        "overdue_count": overdue.count(),
        "overdue": overdue.select_related("tenant", "channel").order_by("deadline_at")[:20],
        "failures": VideoTask.objects.filter(status=VideoTask.Status.FAILED)
        .select_related("tenant", "channel")
        .order_by("-finished_at", "-id")[:10],
        "troubled_channels": Channel.objects.current().exclude(status=Channel.Status.ENABLED),
        "nav": "health",
    }
    return render(request, "videos/staff/health.html", context)


# --- webhook deliveries of any tenant ------------------------------------------------------

STAFF_WEBHOOK_URLS = {"task": "staff-task", "resend": "staff-webhook-resend", "test": "staff-webhook-test"}


def _endpoint(name, public_id):
    return get_object_or_404(WebhookEndpoint.objects.select_related("tenant"), public_id=public_id, tenant__name=name)


@staff_view
def webhook_deliveries(request, name, public_id):
    return views.deliveries_page(
        request,
        _endpoint(name, public_id),
        nav="tenants",
        back=reverse("staff-tenant", args=[name]),
        urls=STAFF_WEBHOOK_URLS,
        prefix=[name],
        can_write=True,
    )


@staff_view
@require_POST
def webhook_resend(request, name, public_id, event_id):
    views.resend_event(request, _endpoint(name, public_id), event_id)
    return redirect("staff-webhook-deliveries", name=name, public_id=public_id)


@staff_view
@require_POST
def webhook_test(request, name, public_id):
    views.send_test(request, _endpoint(name, public_id))
    return redirect("staff-webhook-deliveries", name=name, public_id=public_id)
