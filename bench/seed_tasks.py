"""Fill a PostgreSQL database with a million video tasks, fast, for the list benchmarks.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_lists .venv/bin/python bench/seed_tasks.py \
        [--tenants 10] [--rows 1000000] [--big 100000] [--prefix seed]

From code (Django set up, PostgreSQL): ``seed(tenant_count=10, rows=1_000_000, big_tenant_rows=100_000)``
returns a ``Seeded`` with the tenants, the big tenant and its owner (a user to sign in as), a staff
user, the keys and the model names.

The rows are written by one ``INSERT ... SELECT generate_series``, not by the ORM (about a minute
for a million rows on a 2-core machine, much of it spent maintaining the indexes), then the
tables are analyzed so the planner knows them. The spread is meant to look like a year of traffic:

- ``big_tenant_rows`` tasks belong to the first tenant, the rest are shared evenly by the others;
- ``created_at`` over the last ``days`` days, denser towards now; tasks of the last 15 minutes are
  queued or in progress (with a next poll), older ones completed (86 %), failed (9 %) or cancelled;
- models: six served ones with a skewed share (sora-2 the most, vidu-q1 5 %), plus ``kling-v1``,
  which no channel serves any more, on a third of the tasks older than 250 days;
- keys: three per tenant taking 70 %, 25 % and 4 % of its tasks; 1 % have no key (dashboard route);
- 1 % of the finished tasks are deleted (``deleted_at`` set: gone from the tenant's pages);
- each key's ``spent`` is what its tasks hold and were charged; balances stay 0 (no ledger rows).

The tasks in flight (due for a poll 10 s after seeding) point at the seeded sandbox channel, which
is disabled (no new task goes to it); a worker running against the database polls them like any other.

The seeded tenants, keys, users and channel carry ``prefix`` in their names; seeding the same
prefix twice is refused (use a fresh database, or another prefix).
"""

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SERVED_MODELS = ["sora-2", "kling-v2-master", "veo-3", "seedance-1-pro", "hailuo-02", "vidu-q1"]
RETIRED_MODEL = "kling-v1"
PROMPTS = [
    "A red fox running through fresh snow at dawn",
    "Timelapse of clouds rolling over a mountain ridge",
    "A cat on a skateboard in a sunny park",
    "Waves crashing on a rocky shore, slow motion",
    "A paper boat drifting down a rainy street",
    "Neon city at night seen from a moving train",
    "A hummingbird drinking from a purple flower",
    "Close-up of coffee being poured into a glass cup",
    "An astronaut walking on a desert planet",
    "A lighthouse in a storm, cinematic lighting",
    "Children flying kites on a windy hill",
    "A dragon made of smoke curling around a tower",
]


@dataclass
class Seeded:
    tenants: list  # Tenant rows; tenants[0] is the big one
    big: object  # the tenant with big_tenant_rows tasks
    owner: object  # a user owning the big tenant (sign in as them for its pages)
    staff: object  # a staff user (the staff task list)
    keys: dict  # tenant id -> its three ApiKey rows, most used first
    models: list  # every model name the tasks use, the retired one last


# One row per task; the base subquery draws the random numbers once so each column agrees with the others.
INSERT_TASKS = """
INSERT INTO videos_videotask (
    public_id, tenant_id, api_key_id, channel_id, route, model, upstream_model, mode, prompt, params,
    status, progress, seconds, resolution, seconds_produced, vendor_task_id, vendor_status, vendor_state,
    result_url, result_file, result_bytes, error_code, error_message, amount_held, amount_charged,
    created_at, submitted_at, started_at, finished_at, expires_at, deleted_at, next_poll_at, deadline_at,
    poll_count, poll_errors, vendor_completed_at, delivery_attempts, delivery_gone, vendor_missing,
    reconcile_until, callback_token, learned_by, idempotency_key, request_hash, request_id
)
SELECT
    'video_' || substr(md5(%(prefix)s || '-' || tenant_id || '-' || n), 1, 24),
    tenant_id,
    CASE WHEN r_key < 0.70 THEN key1 WHEN r_key < 0.95 THEN key2 WHEN r_key < 0.99 THEN key3 END,
    %(channel)s,
    CASE WHEN r_key < 0.99 THEN 'openai' ELSE 'dashboard' END,
    model, model, 'text',
    (%(prompts)s::text[])[1 + floor(r_prompt * cardinality(%(prompts)s::text[]))::int] || ' #' || n,
    jsonb_build_object('seconds', seconds),
    status,
    CASE status WHEN 'completed' THEN 100 WHEN 'in_progress' THEN floor(r_status * 99)::int ELSE 0 END,
    seconds, '720p',
    CASE WHEN status = 'completed' THEN seconds END,
    CASE WHEN status <> 'queued' THEN 'vt-' || md5(n::text || tenant_id) ELSE '' END,
    CASE status WHEN 'completed' THEN 'succeeded' WHEN 'failed' THEN 'failed' ELSE '' END,
    '{}'::jsonb, '', '',
    CASE WHEN status = 'completed' THEN 2000000 + floor(r_prompt * 8000000)::bigint END,
    CASE WHEN status = 'failed' THEN 'vendor_failed' WHEN status = 'cancelled' THEN 'cancelled' ELSE '' END,
    CASE WHEN status = 'failed' THEN 'The video provider could not generate this video.' ELSE '' END,
    seconds * 100000,
    CASE WHEN status = 'completed' THEN seconds * 100000 ELSE 0 END,
    created_at,
    created_at + interval '1 second',
    CASE WHEN status <> 'queued' THEN created_at + interval '5 seconds' END,
    CASE WHEN status IN ('completed', 'failed', 'cancelled') THEN created_at + interval '3 minutes' END,
    NULL,
    CASE WHEN status IN ('completed', 'failed', 'cancelled') AND r_deleted < 0.01
         THEN created_at + interval '1 day' END,
    CASE WHEN status IN ('queued', 'in_progress') THEN %(now)s + interval '10 seconds' END,
    created_at + interval '1 hour',
    CASE WHEN status = 'queued' THEN 0 ELSE 6 END, 0,
    CASE WHEN status = 'completed' THEN created_at + interval '170 seconds' END,
    CASE WHEN status = 'completed' THEN 1 ELSE 0 END, 0, 0,
    NULL, '',
    CASE WHEN status IN ('completed', 'failed') THEN 'poll' ELSE '' END,
    '', '', ''
FROM (
    SELECT
        n, tenant_id, key1, key2, key3, created_at, r_key, r_prompt, r_status, r_deleted,
        CASE
            WHEN created_at > %(now)s - interval '15 minutes'
                THEN CASE WHEN r_status < 0.3 THEN 'queued' ELSE 'in_progress' END
            WHEN r_status < 0.86 THEN 'completed'
            WHEN r_status < 0.95 THEN 'failed'
            ELSE 'cancelled'
        END AS status,
        CASE
            WHEN created_at < %(now)s - interval '250 days' AND r_model < 0.33 THEN %(retired)s
            WHEN r_model < 0.35 THEN %(m1)s
            WHEN r_model < 0.60 THEN %(m2)s
            WHEN r_model < 0.75 THEN %(m3)s
            WHEN r_model < 0.87 THEN %(m4)s
            WHEN r_model < 0.95 THEN %(m5)s
            ELSE %(m6)s
        END AS model,
        (ARRAY[4, 5, 8, 10])[1 + floor(r_prompt * 4)::int] AS seconds
    FROM (
        SELECT
            n, plan.tenant_id, plan.key1, plan.key2, plan.key3,
            -- power() > 1 puts more tasks near now, as a growing service has them
            %(now)s - make_interval(secs => floor(power(random(), 1.3) * %(span)s)) AS created_at,
            random() AS r_key, random() AS r_model, random() AS r_prompt, random() AS r_status,
            random() AS r_deleted
        FROM unnest(%(tenants)s::bigint[], %(counts)s::int[], %(key1)s::bigint[], %(key2)s::bigint[],
                    %(key3)s::bigint[]) AS plan(tenant_id, rows, key1, key2, key3)
        CROSS JOIN LATERAL generate_series(1, plan.rows) AS n
    ) AS draws
) AS task
-- ids rise with created_at, as rows inserted over time have them
ORDER BY created_at
"""


SETTLE_KEYS = """
UPDATE accounts_apikey AS api_key SET spent = owed.total
FROM (
    SELECT api_key_id,
           SUM(CASE WHEN status IN ('queued', 'in_progress') THEN amount_held ELSE amount_charged END) AS total
    FROM videos_videotask
    WHERE tenant_id = ANY(%(tenants)s) AND api_key_id IS NOT NULL
    GROUP BY api_key_id
) AS owed
WHERE api_key.id = owed.api_key_id
"""


def row_counts(tenant_count, rows, big_tenant_rows):
    """Tasks per tenant: the big tenant first, the rest shared evenly (the remainder to the first ones)."""
    if tenant_count < 1 or not 0 <= big_tenant_rows <= rows:
        raise ValueError("Need at least one tenant and big_tenant_rows between 0 and rows.")
    if tenant_count == 1:
        return [rows]
    others, remainder = divmod(rows - big_tenant_rows, tenant_count - 1)
    return [big_tenant_rows] + [others + (1 if i < remainder else 0) for i in range(tenant_count - 1)]


def seed(tenant_count=10, rows=1_000_000, big_tenant_rows=100_000, *, days=365, prefix="seed", verbose=False):
    """Write ``rows`` VideoTask rows over ``tenant_count`` new tenants (``big_tenant_rows`` of them
    for the first) into the default database, which must be PostgreSQL. Returns a ``Seeded``."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.utils import timezone

    from accounts import services as accounts
    from accounts.models import Membership, Tenant
    from channels.models import Channel

    if connection.vendor != "postgresql":
        raise RuntimeError("seed() writes with PostgreSQL's generate_series; point DATABASE_URL at PostgreSQL.")
    if Tenant.objects.filter(name=f"{prefix}-0").exists():
        raise RuntimeError(f"Tenants named {prefix}-… exist already: seed a fresh database or pass another prefix.")
    counts = row_counts(tenant_count, rows, big_tenant_rows)
    started = time.perf_counter()
    with transaction.atomic():
        tenants = [Tenant.objects.create(name=f"{prefix}-{i}", display_name=f"Seeded {i}") for i in range(tenant_count)]
        keys = {
            tenant.id: [accounts.issue_key(tenant, name=f"{prefix} key {n}")[0] for n in range(3)] for tenant in tenants
        }
        # Disabled: it names the served models (the task filter offers them) but takes no traffic.
        channel = Channel.objects.create(
            name=f"{prefix}-channel", vendor="sandbox", served_models=SERVED_MODELS, status=Channel.Status.DISABLED
        )
        users = get_user_model().objects
        owner = users.create_user(f"{prefix}-owner", password=None)
        staff = users.create_user(f"{prefix}-staff", password=None, is_staff=True)
        Membership.objects.create(tenant=tenants[0], user=owner, role=Membership.Role.OWNER)
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")
            cursor.execute("SET LOCAL work_mem = '256MB'")
            cursor.execute(
                INSERT_TASKS,
                {
                    "prefix": prefix,
                    "channel": channel.id,
                    "prompts": PROMPTS,
                    "now": timezone.now(),
                    "span": days * 86400,
                    "retired": RETIRED_MODEL,
                    **{f"m{i}": model for i, model in enumerate(SERVED_MODELS, start=1)},
                    "tenants": [tenant.id for tenant in tenants],
                    "counts": counts,
                    **{f"key{n + 1}": [keys[tenant.id][n].id for tenant in tenants] for n in range(3)},
                },
            )
            inserted = cursor.rowcount
            # Each key's spent as the ledger would have it (held by its tasks in flight, charged for the
            # rest): a poller releasing a seeded hold must not take it below zero (its check constraint).
            cursor.execute(SETTLE_KEYS, {"tenants": [tenant.id for tenant in tenants]})
    if verbose:
        print(f"inserted {inserted:,} tasks in {time.perf_counter() - started:.1f} s", flush=True)
    with connection.cursor() as cursor:
        for table in ("videos_videotask", "accounts_tenant", "accounts_apikey", "channels_channel"):
            cursor.execute(f"ANALYZE {table}")
    if verbose:
        print(f"seeded and analyzed in {time.perf_counter() - started:.1f} s", flush=True)
    return Seeded(
        tenants=tenants,
        big=tenants[0],
        owner=owner,
        staff=staff,
        keys=keys,
        models=[*SERVED_MODELS, RETIRED_MODEL],
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--big", type=int, default=100_000, help="tasks of the first tenant")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--prefix", default="seed")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        parser.error("set DATABASE_URL to the PostgreSQL database to seed")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    seeded = seed(args.tenants, args.rows, args.big, days=args.days, prefix=args.prefix, verbose=True)
    print(f"big tenant {seeded.big.name} (owner: {seeded.owner.username}), staff user {seeded.staff.username}")


if __name__ == "__main__":
    main()
