"""Exact money: hold on create, capture on success (on seconds produced), release on every failure."""

import threading

import pytest
from django.db import connection
from django.db.utils import IntegrityError

from accounts import services as money
from accounts.models import LedgerEntry, Tenant
from channels.models import Price
from tests.helpers import USD, client_for, drive, ledger_sum, make_tenant
from videos import services
from videos.models import VideoTask

pytestmark = pytest.mark.django_db


def submit(api, **fields):
    return api.post("/v1/videos", {"model": "sandbox-video", "prompt": "x", **fields}, format="json")


def test_price_formula():
    price = Price(model="m", per_second=100_000, per_video=50_000, resolution_multipliers={"1080p": "1.5"})
    assert price.cost(5, "720p") == 550_000
    assert price.cost(5, "1080p") == 825_000
    assert Price(model="m", per_second=3, resolution_multipliers={"480p": "0.5"}).cost(3, "480p") == 5  # ceil(4.5)


def test_insufficient_balance_refuses_without_vendor_call(sora, db):
    poor = make_tenant("poor", 100)
    api_key, plaintext = money.issue_key(poor)
    api_key.plaintext = plaintext
    response = client_for(api_key).post("/v1/videos", {"prompt": "x"}, format="json")
    assert response.status_code == 402
    error = response.json()["error"]
    assert error["code"] == "insufficient_balance" and error["type"] == "billing_error"
    assert sora.simulator.calls("POST") == []
    assert not VideoTask.objects.exists()
    poor.refresh_from_db()
    assert poor.balance == 100 and ledger_sum(poor) == 100


def test_key_spend_limit(tenant, sandbox):
    api_key, plaintext = money.issue_key(tenant, spend_limit=60_000)
    api_key.plaintext = plaintext
    client = client_for(api_key)
    assert submit(client, seconds="5").status_code == 200  # 50,000 held
    response = submit(client, seconds="5")
    assert response.status_code == 402 and response.json()["error"]["code"] == "key_spend_limit_reached"
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD - 50_000


def test_vendor_failure_releases_in_full(api, sandbox, tenant):
    video_id = submit(api, model="sandbox-fail", seconds="10").json()["id"]
    task = drive(VideoTask.objects.get(public_id=video_id))
    assert task.status == "failed" and task.error_code == "vendor_failed"
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD
    kinds = list(tenant.ledger.filter(task=task).order_by("id").values_list("kind", "amount"))
    assert kinds == [("hold", -100_000), ("release", 100_000)]
    assert ledger_sum(tenant) == tenant.balance


def test_vendor_rejection_at_submit_releases(api, sandbox, tenant):
    response = submit(api, prompt="please [reject] this")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "content_moderation"
    task = VideoTask.objects.get()
    assert task.status == "failed" and task.error_code == "content_moderation"
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD and ledger_sum(tenant) == tenant.balance


def test_capture_is_adjusted_to_seconds_produced(api, sora, tenant):
    sora.simulator.script = ["completed"]
    video_id = api.post("/v1/videos", {"prompt": "x", "seconds": "8"}, format="json").json()["id"]
    task = VideoTask.objects.get(public_id=video_id)
    # the vendor reports it made 4 seconds although 8 were asked for
    sora.simulator.tasks[task.vendor_task_id].extra["seconds"] = "4"
    task = drive(task)
    assert task.status == "completed" and task.seconds_produced == 4
    assert (task.amount_held, task.amount_charged) == (800_000, 400_000)
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD - 400_000
    assert ledger_sum(tenant) == tenant.balance


def test_settlement_happens_once(api, sandbox, tenant):
    video_id = submit(api).json()["id"]
    task = drive(VideoTask.objects.get(public_id=video_id))
    assert services.finish(task, VideoTask.Status.FAILED, error_code="late") is False
    assert services.finish(task, VideoTask.Status.COMPLETED) is False
    assert tenant.ledger.filter(task=task, kind__in=["capture", "release"]).count() == 1
    with pytest.raises(IntegrityError):
        money.release(task)  # the database itself refuses a second settlement


def test_ledger_is_append_only(tenant):
    entry = tenant.ledger.first()
    with pytest.raises(ValueError):
        entry.save()
    with pytest.raises(ValueError):
        entry.delete()


def test_adjustment_never_overdraws(tenant):
    with pytest.raises(money.InsufficientBalance):
        money.adjust(tenant, -11 * USD, note="too much")
    money.adjust(tenant, -1 * USD, note="fee")
    tenant.refresh_from_db()
    assert tenant.balance == 9 * USD and ledger_sum(tenant) == tenant.balance


def test_topup_command(tenant, capsys):
    from django.core.management import call_command

    call_command("topup", "acme", "2500000", "--note", "invoice 7")
    tenant.refresh_from_db()
    assert tenant.balance == 12_500_000
    assert tenant.ledger.filter(kind="topup", note="invoice 7", amount=2_500_000).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_fifty_parallel_submits_against_twenty_accept_exactly_twenty(sandbox):
    if connection.vendor != "postgresql":
        pytest.skip("row-level concurrency is proven on PostgreSQL (set DATABASE_URL)")
    tenant = make_tenant("race", 20 * 50_000)  # covers 20 five-second sandbox videos
    api_key, plaintext = money.issue_key(tenant)
    api_key.plaintext = plaintext
    results = []
    barrier = threading.Barrier(50)

    def one():
        client = client_for(api_key)
        barrier.wait()
        results.append(submit(client, seconds="5").status_code)
        connection.close()

    threads = [threading.Thread(target=one) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results).count(200) == 20
    assert results.count(402) == 30
    tenant = Tenant.objects.get(pk=tenant.pk)
    assert tenant.balance == 0
    assert VideoTask.objects.filter(tenant=tenant).count() == 20
    assert LedgerEntry.objects.filter(tenant=tenant, kind="hold").count() == 20
    assert ledger_sum(tenant) == 0
