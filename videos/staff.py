"""Operator pages (staff only) over tasks: all tasks, one task with its ledger, worker
health and the queue, and the channel list with each channel's task figures."""

from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django_q.models import OrmQ

from accounts.dashboard import paginate, staff_view
from channels.adaptors import registry
from channels.models import Channel

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
            finished=Count("tasks", filter=recent & Q(tasks__status__in=VideoTask.TERMINAL)),
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
    page = paginate(request, tasks)
    return render(request, "videos/staff/task_list.html", {"form": form, "page": page, "nav": "staff-tasks"})


@staff_view
def task_detail(request, public_id):
    task = get_object_or_404(
        VideoTask.objects.select_related("tenant", "channel", "api_key", "remixed_from"), public_id=public_id
    )
    ledger = task.ledger.order_by("created_at", "id")
    return render(request, "videos/staff/task_detail.html", {"task": task, "ledger": ledger, "nav": "staff-tasks"})


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
