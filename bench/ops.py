"""The benchmark's database work, done by Django inside the gateway's own environment.

``bench/run.py`` runs no Django itself (it measures several gateways, on SQLite and PostgreSQL, from
outside); what it must read or write in a gateway's database it asks of this script, run as
``python bench/ops.py COMMAND JSON`` with that gateway's environment. Each command prints one JSON
object on its last line of stdout.

    setup        migrate, apply a config file (manage.py apply), issue one key per tenant named
    stored-task  a completed task whose stored copy is a given file (hard-linked under MEDIA_ROOT)
    wait         wait until a set of tasks has ended; their times (vendor done, gateway done)
    seed         task rows by the million (bench/seed_tasks.py); what the list benchmark reads
"""

import io
import json
import os
import shutil
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def setup(config=None, tenants=()):
    from django.core.management import call_command

    from accounts.models import Tenant
    from accounts.services import issue_key

    call_command("migrate", interactive=False, verbosity=0)
    if config:
        call_command("apply", config, stdout=io.StringIO())
    keys = {name: issue_key(Tenant.objects.get(name=name), name="bench")[1] for name in tenants}
    return {"keys": keys}


def stored_task(tenant, file, model):
    """Like a video the gateway delivered: completed, charged nothing, its copy under MEDIA_ROOT."""
    from django.conf import settings
    from django.utils import timezone

    from accounts.models import Tenant
    from videos.models import VideoTask
    from videos.storage import relative_path

    now = timezone.now()
    task = VideoTask.objects.create(
        tenant=Tenant.objects.get(name=tenant),
        model=model,
        prompt="bench stored copy",
        seconds=4,
        status=VideoTask.Status.COMPLETED,
        progress=100,
        deadline_at=now + timedelta(hours=1),
        finished_at=now,
        expires_at=now + timedelta(days=1),
    )
    relative = relative_path(task)
    target = Path(settings.MEDIA_ROOT) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(file, target)  # the same bytes as the vendor's file, without a second GiB on disk
    except OSError:  # another filesystem
        shutil.copyfile(file, target)
    VideoTask.objects.filter(pk=task.pk).update(result_file=relative, result_bytes=target.stat().st_size)
    return {"id": task.public_id, "path": str(target)}


def wait(ids, seconds):
    """Wait (at most ``seconds``) until every task in ``ids`` has ended; each task's vendor id and
    the times the gateway learned the vendor was done and finished it (epoch seconds)."""
    from videos.models import VideoTask

    deadline = time.monotonic() + seconds
    tasks = VideoTask.objects.filter(public_id__in=ids)
    while time.monotonic() < deadline and tasks.filter(status__in=VideoTask.ACTIVE).exists():
        time.sleep(0.5)
    rows = tasks.values_list("public_id", "vendor_task_id", "status", "vendor_completed_at", "finished_at")

    def epoch(value):
        return value.timestamp() if value else None

    return {
        "tasks": [
            {"id": public_id, "vendor_id": vendor_id, "status": status, "learned": epoch(learned), "done": epoch(done)}
            for public_id, vendor_id, status, learned, done in rows
        ]
    }


def seed(rows, tenant_rows, depth, password, tenants=10):
    """Fill the table with bench/seed_tasks.py (PostgreSQL), then what the list benchmark needs: a key
    and a password for the big tenant's owner, a task of that tenant to read, and the id ``depth``
    rows down its newest-first list (the deep cursor)."""
    from accounts.services import issue_key
    from bench import seed_tasks
    from videos.models import VideoTask

    started = time.monotonic()
    seeded = seed_tasks.seed(tenant_count=tenants, rows=rows, big_tenant_rows=tenant_rows)
    seconds = time.monotonic() - started
    _settle_keys(seeded)
    seeded.owner.set_password(password)
    seeded.owner.save(update_fields=["password"])
    ids = VideoTask.objects.for_tenant(seeded.big).order_by("-created_at", "-id").values_list("public_id", flat=True)
    count = ids.count()
    return {
        "rows": VideoTask.objects.count(),
        "tenant_rows": count,
        "seconds": seconds,
        "key": issue_key(seeded.big, name="bench")[1],
        "username": seeded.owner.username,
        "read_id": ids[count // 2],
        "deep_after": ids[min(depth, count - 1)],
    }


def _settle_keys(seeded):
    """Each seeded key's ``spent`` as the ledger would have it: held by its tasks in flight plus
    charged for its finished ones. (Seeded at 0, a hold the poller releases would take it below
    zero, which its check constraint refuses.)"""
    from django.db.models import Case, F, OuterRef, Subquery, Sum, When
    from django.db.models.functions import Coalesce

    from accounts.models import ApiKey
    from videos.models import VideoTask

    owed = (
        VideoTask.objects.filter(api_key=OuterRef("pk"))
        .order_by()
        .values("api_key")
        .annotate(
            total=Sum(Case(When(status__in=VideoTask.ACTIVE, then=F("amount_held")), default=F("amount_charged")))
        )
        .values("total")
    )
    ApiKey.objects.filter(tenant__in=seeded.tenants).update(spent=Coalesce(Subquery(owed), 0))


COMMANDS = {"setup": setup, "stored-task": stored_task, "wait": wait, "seed": seed}


def main():
    import django

    django.setup()
    command, arguments = sys.argv[1], json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    result = COMMANDS[command](**arguments)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
