"""Operator pages (staff only) over tasks: all tasks, one task with its ledger, worker
health and the queue, the channel list with each channel's task figures, and any tenant's webhook
delivery log."""

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST
from django_q.models import OrmQ

from accounts.dashboard import PAGE_SIZE, record, staff_view
from accounts.models import WebhookEndpoint
from channels.adaptors import registry
from channels.models import Channel

from . import cancel, views
from .errors import GatewayError
from .forms import StaffTaskFilterForm
from .models import Heartbeat, VideoTask

SUCCESS_WINDOW = timedelta(days=7)
WORKER_ALIVE = timedelta(minutes=2)


# --- channels ------------------------------------------------------------------------


@staff_view
def channel_list(request):
    since = timezone.now() - SUCCESS_WINDOW
    recent = Q(tasks__finished_at__gte=since)
    channels = list(
        Channel.objects.annotate(
            in_flight=Count("tasks", filter=Q(tasks__status__in=VideoTask.ACTIVE)),
            # Cancelled tasks say nothing about a channel: its success rate counts completed and failed ones.
            finished=Count(
                "tasks",
                filter=recent & Q(tasks__status__in=(VideoTask.Status.COMPLETED, VideoTask.Status.FAILED)),
            ),
            completed=Count("tasks", filter=recent & Q(tasks__status=VideoTask.Status.COMPLETED)),
        )
    )
    labels = dict(registry.choices())
    for channel in channels:
        channel.vendor_label = labels.get(channel.vendor, channel.vendor)
        channel.success_rate = round(100 * channel.completed / channel.finished) if channel.finished else None
    return render(request, "videos/staff/channel_list.html", {"channels": channels, "nav": "channels"})


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
        messages.error(request, f"{task.public_id} was not cancelled: {exc.message}")
    else:
        record(request, "task.cancelled", task.public_id, tenant=task.tenant.name)
        messages.success(request, f"{task.public_id} cancelled; its hold was released.")
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
        "troubled_channels": Channel.objects.exclude(status=Channel.Status.ENABLED),
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
