"""The create path (``POST /v1/videos`` → videos.services.create_task), on its costs: the statements a
create sends the database (a bound, so none creeps back in), and that what it answers without reading
the task back, and the balances it moves without reading them back, are what the database holds."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import ratelimit
from accounts import services as money
from accounts.models import LedgerEntry, RateCounter
from tests.helpers import USD, client_for
from tests.test_channels import sora_channel
from videos import services
from videos.models import VideoTask

pytestmark = pytest.mark.django_db

# The key with its tenant; the model's channels; its price; in one transaction the task, the debit
# (returning the balance), the key's spend, the ledger row; after the vendor's answer, its job.
CREATE_STATEMENTS = 8
# With rate limits on the key and the tenant: one conditional increment each (the window open); with
# in-flight limits: the tenant's and the key's rows locked (reading their limits), one count of both.
RATE_LIMIT_STATEMENTS = 2
IN_FLIGHT_STATEMENTS = 3
BODY = {"model": "sora-2", "prompt": "a lighthouse at dusk", "seconds": "4", "size": "720x1280"}


def statements(captured):
    """The SQL a request sent, without the savepoints the test's own transaction turns its
    transactions into (in production: BEGIN and COMMIT)."""
    return [
        query["sql"]
        for query in captured.captured_queries
        if not query["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "BEGIN", "COMMIT"))
    ]


def create(api):
    response = api.post("/v1/videos", BODY, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def test_a_create_costs_eight_statements(api, sora, django_assert_max_num_queries):
    create(api)  # the key's last use is recorded (once a minute)
    with CaptureQueriesContext(connection) as captured:
        create(api)
    sent = statements(captured)
    assert len(sent) == CREATE_STATEMENTS, sent
    verbs = [sql.split()[0] for sql in sent]
    assert verbs == ["SELECT", "SELECT", "SELECT", "INSERT", "UPDATE", "UPDATE", "INSERT", "UPDATE"]
    assert not any("videos_videotask" in sql for sql in sent if sql.startswith("SELECT"))  # never read back
    # Two transactions: the task with its hold, then the vendor's job (the savepoints of the test's).
    with django_assert_max_num_queries(CREATE_STATEMENTS + 2):
        create(api)


def test_limits_cost_one_statement_per_limited_scope_and_three_for_in_flight(
    api, key, tenant, sora, django_assert_max_num_queries
):
    key.rpm_limit = tenant.rpm_limit = 1000
    key.max_in_flight = tenant.max_in_flight = 1000
    key.save()
    tenant.save()
    create(api)  # opens both rate windows
    with CaptureQueriesContext(connection) as captured:
        create(api)
    assert len(statements(captured)) == CREATE_STATEMENTS + RATE_LIMIT_STATEMENTS + IN_FLIGHT_STATEMENTS
    with django_assert_max_num_queries(CREATE_STATEMENTS + RATE_LIMIT_STATEMENTS + IN_FLIGHT_STATEMENTS + 2):
        create(api)
    assert RateCounter.objects.get(scope=f"key:{key.pk}").count == 3


def test_the_answer_is_the_task_as_stored(api, sora):
    created = create(api)
    assert api.get(f"/v1/videos/{created['id']}").json() == created


def test_the_returned_task_is_the_row_in_every_field(key, sora):
    request, *_ = services.plan_request(key, _canonical(BODY))
    task = services.create_task(api_key=key, request=request, route=VideoTask.Route.OPENAI)
    _same_as_stored(task)
    assert task.channel == sora and task.vendor_task_id and task.submitted_at and task.next_poll_at


def test_a_later_channel_records_its_own_model_and_plan(key, sora, openai_sim, tenant):
    sora.priority = 10
    sora.save()
    backup = sora_channel("backup", openai_sim.url, mapping={"sora-2": "sora-2-pro"})
    sora.simulator.fail_next(503, {"error": {"message": "down"}}, path_contains="/v1/videos")
    request, *_ = services.plan_request(key, _canonical(BODY))
    task = services.create_task(api_key=key, request=request, route=VideoTask.Route.OPENAI)
    _same_as_stored(task)
    assert task.channel == backup and task.upstream_model == "sora-2-pro"


def test_a_submit_answered_after_the_task_was_interrupted_does_not_revive_it(key, sora, monkeypatch):
    real_submit = type(sora.adaptor).submit

    def submit_after_interruption(self, ctx, request, upstream_model, plan):
        submission = real_submit(self, ctx, request, upstream_model, plan)
        task = VideoTask.objects.get(public_id=ctx.external_id)
        services._interrupt(task)  # the submit took longer than the grace
        return submission

    monkeypatch.setattr(type(sora.adaptor), "submit", submit_after_interruption)
    request, *_ = services.plan_request(key, _canonical(BODY))
    task = services.create_task(api_key=key, request=request, route=VideoTask.Route.OPENAI)
    assert task.status == VideoTask.Status.FAILED and task.error_code == "submit_interrupted"
    assert task.vendor_task_id and task.channel == sora  # recorded for the operator, unbilled
    _same_as_stored(task)


def _same_as_stored(task):
    stored = VideoTask.objects.get(pk=task.pk)
    for field in VideoTask._meta.concrete_fields:
        assert getattr(task, field.attname) == getattr(stored, field.attname), field.name


def _canonical(body):
    from videos.api.openai import create_request

    return create_request(body, {})[0]


# --- Money without reading balances back -----------------------------------------------------------


def test_the_hold_writes_the_balance_it_left(api, key, tenant, sora):
    before = tenant.balance
    created = create(api)
    task = VideoTask.objects.get(public_id=created["id"])
    tenant.refresh_from_db()
    key.refresh_from_db()
    hold = LedgerEntry.objects.get(task=task, kind=LedgerEntry.Kind.HOLD)
    assert hold.amount == -task.amount_held and task.amount_held > 0
    assert hold.balance_after == tenant.balance == before - task.amount_held
    assert key.spent == task.amount_held


def test_settling_and_top_ups_write_the_balance_they_left(tenant, key, sora):
    request, *_ = services.plan_request(key, _canonical(BODY))
    task = services.create_task(api_key=key, request=request, route=VideoTask.Route.OPENAI)
    money.capture(task, task.amount_held // 2)
    tenant.refresh_from_db()
    capture = LedgerEntry.objects.get(task=task, kind=LedgerEntry.Kind.CAPTURE)
    assert capture.balance_after == tenant.balance and capture.amount == task.amount_held - task.amount_held // 2
    entry = money.topup(tenant, 5 * USD)
    debit = money.adjust(tenant, -2 * USD)
    tenant.refresh_from_db()
    assert (entry.balance_after, debit.balance_after) == (tenant.balance + 2 * USD, tenant.balance)
    assert sum(tenant.ledger.values_list("amount", flat=True)) == tenant.balance


def test_a_refused_hold_leaves_nothing_behind(key, tenant, sora):
    money.adjust(tenant, -(tenant.balance - 1))
    response = client_for(key).post("/v1/videos", BODY, format="json")
    assert response.status_code == 402 and response.json()["error"]["code"] == "insufficient_balance"
    assert "the balance is $0.000001" in response.json()["error"]["message"]
    assert not VideoTask.objects.exists() and not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.HOLD).exists()
    key.refresh_from_db()
    assert key.spent == 0


def test_a_key_cap_refuses_after_the_debit_and_rolls_it_back(api, key, tenant, sora):
    key.spend_limit = 1
    key.save()
    before = tenant.balance
    response = api.post("/v1/videos", BODY, format="json")
    assert response.status_code == 402 and response.json()["error"]["code"] == "key_spend_limit_reached"
    tenant.refresh_from_db()
    assert tenant.balance == before and not VideoTask.objects.exists()


# --- Rate windows ----------------------------------------------------------------------------------


def test_a_rate_window_counts_to_its_limit_then_refuses():
    taken = [ratelimit.take("key:1", 3) for _ in range(4)]
    assert [(t.allowed, t.remaining) for t in taken] == [(True, 2), (True, 1), (True, 0), (False, 0)]
    assert RateCounter.objects.get(scope="key:1").count == 3
    assert ratelimit.take("key:1", 0).allowed is False
