"""django-q2 entry points. Paths here are stored in Schedule rows: keep them stable."""

from django_q.models import Schedule

from . import services, storage

TICK_SCHEDULE = "videos.poll-tick"


def poll_tick():
    """Scheduled every minute; polls due tasks for GATEWAY_TICK_SECONDS."""
    return services.run_tick()


def store_result(task_id):
    return storage.store_result(task_id)


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
