"""Rate limits on creates, per key and per tenant, set by operators (blank: unlimited).

``rpm_limit``: creates per minute. Every create request that reaches ``create_task`` with a valid
key counts, whatever its outcome (bad input, no balance, ...), except an Idempotency-Key replay and
a request this limit refuses; reads (status, lists, content) never count. Fixed one-minute
windows in the database (accounts/ratelimit.py), so the limit holds across processes.

``max_in_flight``: tasks queued or in progress at once. Checked in the transaction that creates
the task, after locking the tenant and key rows, so parallel creates cannot both take the last slot.

Over either: 429 in the dialect's shape, with ``Retry-After`` and ``x-ratelimit-*`` headers;
nothing is held or submitted.
"""

from django.db.models import Count, Q

from accounts import ratelimit
from accounts.models import ApiKey, Tenant

from .errors import GatewayError
from .models import VideoTask

RATE_LIMIT = "rate_limit_error"
# An in-flight slot frees when a task ends, which cannot be foretold: clients are told to retry after this.
IN_FLIGHT_RETRY_AFTER = 10


def too_many(code, message, limit, remaining, reset):
    return GatewayError(
        429,
        code,
        message,
        kind=RATE_LIMIT,
        headers={
            "Retry-After": str(reset),
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": str(remaining),
            "x-ratelimit-reset": str(reset),
        },
    )


def check_rate(api_key):
    """Count this create against the key's and the tenant's per-minute limits, or raise 429."""
    tenant = api_key.tenant
    for scope, limit, whose in (
        (f"key:{api_key.pk}", api_key.rpm_limit, "this key"),
        (f"tenant:{tenant.pk}", tenant.rpm_limit, "this account"),
    ):
        if limit is None:
            continue
        taken = ratelimit.take(scope, limit)
        if not taken.allowed:
            raise too_many(
                "rate_limit_exceeded",
                f"Rate limit reached: {whose} may create {limit} videos per minute. Retry in {taken.reset} s.",
                limit,
                0,
                taken.reset,
            )


def _locked_limit(model, pk):
    """Lock the row (until the transaction ends) and read its max_in_flight as it is now."""
    return model.objects.select_for_update().filter(pk=pk).values_list("max_in_flight", flat=True).first()


def check_in_flight(api_key):
    """Refuse a create past the key's or the tenant's limit on active tasks. Call it inside the
    transaction that creates the task: it locks the tenant row, then the key row (the order
    accounts.services.hold() updates them in), so parallel creates are counted one at a time.

    Three statements: each lock reads its row's limit as it is now (an operator may have changed it
    since the key was read), and one query counts the tenant's active tasks and the key's among them
    (a key's tasks are its tenant's), through the index on (status, tenant)."""
    tenant = api_key.tenant
    if tenant.max_in_flight is None and api_key.max_in_flight is None:
        return
    tenant_limit = _locked_limit(Tenant, tenant.pk)
    key_limit = _locked_limit(ApiKey, api_key.pk)
    if tenant_limit is None and key_limit is None:
        return
    active = VideoTask.objects.filter(tenant_id=tenant.pk, status__in=VideoTask.ACTIVE).aggregate(
        tenant=Count("pk"), key=Count("pk", filter=Q(api_key_id=api_key.pk))
    )
    for limit, count, whose in (
        (key_limit, active["key"], "this key"),
        (tenant_limit, active["tenant"], "this account"),
    ):
        if limit is not None and count >= limit:
            raise too_many(
                "too_many_tasks_in_flight",
                f"Too many videos in progress: {whose} may have {limit} queued or in progress at once. "
                "Retry when one has finished.",
                limit,
                0,
                IN_FLIGHT_RETRY_AFTER,
            )
