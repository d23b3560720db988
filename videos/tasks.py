"""django-q2 entry points. Paths here are stored in Schedule rows and queued jobs: keep them stable."""

from django_q.models import Schedule

from . import callbacks, delivery, services, storage, webhooks

TICK_SCHEDULE = "videos.poll-tick"


def poll_tick():
    """Scheduled every minute; sweeps the copies dead workers left, then polls due tasks for
    GATEWAY_TICK_SECONDS, many at once (videos/polling.py). A ``manage.py poll`` running beside the
    cluster shares the work through the same claims."""
    storage.sweep_partial()
    return services.run_tick()


def deliver_result(task_id, lease=None):
    """Queued by the poller when a vendor reports a video done: store and verify it, then charge
    (or fail and release). See videos/delivery.py."""
    return delivery.deliver(task_id, lease)


def poll_on_callback(task_id, lease):
    """Queued when a vendor calls back about a task (videos/callbacks.py): poll it now, under the
    lease the callback took."""
    return callbacks.poll_now(task_id, lease)


def deliver_webhook(event_id, lease):
    """Queued by the poll tick's webhook sweep: one attempt at delivering one event to its
    endpoint, under the lease the sweep took (videos/webhooks.py)."""
    webhooks.deliver(event_id, lease)


# The name of deliver_result before delivery decided the charge: jobs queued by an older gateway
# name it.
store_result = deliver_result


def ensure_schedules(using="default", **kwargs):
    """Create (or repair) the poll schedule. Runs after every ``migrate`` (post_migrate), so a
    worker started with plain ``manage.py qcluster`` polls too, not only one started by ``serve``."""
    Schedule.objects.using(using).update_or_create(
        name=TICK_SCHEDULE,
        defaults={
            "func": "videos.tasks.poll_tick",
            "schedule_type": Schedule.MINUTES,
            "minutes": 1,
            "repeats": -1,
        },
    )
