"""Cancel: POST /v1/videos/{id}/cancel, DELETE on an active video, the native cancel routes and the
task pages. The vendor's job is stopped where the vendor can (simulators speak Vidu's, DashScope's and
Ark's real cancel), the hold is released in full through finish(), exactly once, whatever races it."""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import services as money
from accounts.models import AuditEntry, LedgerEntry
from channels.adaptors import sandbox as sandbox_adaptor
from channels.adaptors.base import COMPLETED, PollResult
from channels.models import Channel, Price
from tests.helpers import USD, drive, ledger_sum, make_task, signed_in, submit
from tests.simulators.dashscope import DashScopeSimulator
from tests.simulators.kling import KlingSimulator
from tests.simulators.seedance import SeedanceSimulator
from tests.simulators.vidu import ViduSimulator
from videos import cancel as cancelling
from videos import delivery, services
from videos.errors import GatewayError
from videos.models import VideoTask

pytestmark = pytest.mark.django_db

PRICE = 10_000  # units per second, for every model here
HELD = 5 * PRICE  # every task here is 5 s


def ledger(task):
    return list(LedgerEntry.objects.filter(task=task).order_by("id").values_list("kind", "amount", "note"))


def balance(tenant):
    tenant.refresh_from_db()
    return tenant.balance


def assert_released_once(tenant, task):
    """Cancelled: one hold, one release of all of it (noted "cancelled"), the balance as before."""
    assert ledger(task) == [("hold", -HELD, ""), ("release", HELD, "cancelled")]
    assert balance(tenant) == 10 * USD and ledger_sum(tenant) == tenant.balance


def assert_untouched(tenant, task, status):
    """A refused cancel changed nothing: still running, still held, nothing settled."""
    task.refresh_from_db()
    assert task.status == status and task.error_code == "" and task.finished_at is None
    assert ledger(task) == [("hold", -HELD, "")]
    assert balance(tenant) == 10 * USD - HELD and ledger_sum(tenant) == tenant.balance


def price(*models):
    for model in models:
        Price.objects.create(model=model, per_second=PRICE)


# --- vendors ---------------------------------------------------------------------------------


@pytest.fixture
def vidu_sim():
    with ViduSimulator(api_key="vda_test") as simulator:
        yield simulator


@pytest.fixture
def vidu(vidu_sim):
    channel = Channel(name="vidu", vendor="vidu", base_url=vidu_sim.url, served_models=["viduq2"])
    channel.credentials = "vda_test"
    channel.save()
    price("viduq2")
    channel.simulator = vidu_sim
    return channel


@pytest.fixture
def wan_sim():
    with DashScopeSimulator(api_key="sk-dashscope-test") as simulator:
        yield simulator


@pytest.fixture
def wan(wan_sim):
    channel = Channel(
        name="bailian", vendor="dashscope", base_url=f"{wan_sim.url}/api/v1", served_models=["wanx2.1-t2v-turbo"]
    )
    channel.credentials = "sk-dashscope-test"
    channel.save()
    price("wanx2.1-t2v-turbo")
    channel.simulator = wan_sim
    return channel


@pytest.fixture
def ark():
    with SeedanceSimulator(api_key="ark-simulator-key") as simulator:
        channel = Channel(
            name="ark", vendor="seedance", base_url=simulator.url, served_models=["doubao-seedance-1-0-pro-250528"]
        )
        channel.credentials = "ark-simulator-key"
        channel.save()
        price("doubao-seedance-1-0-pro-250528")
        channel.simulator = simulator
        yield channel


@pytest.fixture
def kling():
    with KlingSimulator(access_key="ak_test", secret_key="sk_test") as simulator:
        channel = Channel(name="kling", vendor="kling", base_url=simulator.url, served_models=["kling-v1"])
        channel.credentials = "ak_test|sk_test"
        channel.save()
        price("kling-v1")
        channel.simulator = simulator
        yield channel


@pytest.fixture
def slow_sandbox(sandbox):
    """The sandbox, taking an hour per video: its tasks stay cancellable for the whole test."""
    Channel.objects.filter(pk=sandbox.pk).update(options={"delay": 3600})
    return sandbox


def cancel(api, task):
    return api.post(f"/v1/videos/{task.public_id}/cancel")


# --- cancelling at the vendor ------------------------------------------------------------------


def test_cancel_on_vidu_stops_the_job_and_releases_the_hold(api, vidu, tenant):
    task = submit(api, model="viduq2")
    assert balance(tenant) == 10 * USD - HELD
    response = cancel(api, task)
    assert response.status_code == 200, response.content
    body = response.json()
    # OpenAI's Video has no "cancelled": failed, with the code saying it.
    assert (body["id"], body["status"]) == (task.public_id, "failed")
    assert body["error"]["code"] == "cancelled" and "openai-poll-after-ms" not in response
    [call] = vidu.simulator.calls("POST", "/cancel")
    assert call.path == f"/ent/v2/tasks/{task.vendor_task_id}/cancel" and call.json() == {"id": task.vendor_task_id}
    task.refresh_from_db()
    assert (task.status, task.error_code, task.vendor_status) == ("cancelled", "cancelled", "cancelled")
    assert task.finished_at is not None and task.next_poll_at is None and task.amount_charged == 0
    assert_released_once(tenant, task)
    # Polling stops; the vendor shows it cancelled too; a second cancel answers the same task.
    assert services.poll_once(now=timezone.now() + timedelta(hours=1)) == 0
    assert len(vidu.simulator.calls("GET", "/creations")) == 0
    again = cancel(api, task)
    assert again.status_code == 200 and again.json()["error"]["code"] == "cancelled"
    assert len(vidu.simulator.calls("POST", "/cancel")) == 1
    assert_released_once(tenant, task)
    assert api.get(f"/v1/videos/{task.public_id}").json()["status"] == "failed"
    unified = api.get(f"/v1/video/generations/{task.public_id}").json()
    assert (unified["status"], unified["error"]["code"], unified["url"]) == ("failed", "cancelled", None)


@pytest.mark.parametrize(
    ("vendor", "model", "call"),
    [
        ("wan", "wanx2.1-t2v-turbo", ("POST", "/cancel")),
        ("ark", "doubao-seedance-1-0-pro-250528", ("DELETE", "/contents/generations/tasks/")),
    ],
)
def test_cancel_reaches_dashscope_and_ark(request, api, tenant, vendor, model, call):
    channel = request.getfixturevalue(vendor)
    task = submit(api, model=model)
    response = cancel(api, task)
    assert response.status_code == 200, response.content
    assert len(channel.simulator.calls(*call)) == 1
    task.refresh_from_db()
    assert task.status == "cancelled"
    assert_released_once(tenant, task)


def test_cancel_on_the_sandbox(api, slow_sandbox, tenant):
    task = submit(api)
    assert cancel(api, task).json()["error"]["code"] == "cancelled"
    task.refresh_from_db()
    assert task.status == "cancelled"
    assert_released_once(tenant, task)


def test_vendor_side_cancellation_seen_by_a_poll_ends_cancelled(api, wan, tenant):
    wan.simulator.script = ["PENDING", "CANCELED"]
    task = drive(submit(api, model="wanx2.1-t2v-turbo"))
    assert (task.status, task.error_code, task.vendor_status) == ("cancelled", "cancelled", "CANCELED")
    assert "cancelled at DashScope" in task.error_message
    assert_released_once(tenant, task)


# --- refusals: nothing changes -------------------------------------------------------------------


@pytest.mark.parametrize("vendor", ["kling", "sora"])
def test_vendor_without_cancel_is_409_cancel_not_supported(request, api, tenant, vendor):
    channel = request.getfixturevalue(vendor)
    task = submit(api, model="kling-v1" if vendor == "kling" else "sora-2", seconds="5" if vendor == "kling" else "4")
    held = task.amount_held
    before = list(channel.simulator.requests)
    for response in (cancel(api, task), api.delete(f"/v1/videos/{task.public_id}")):
        assert response.status_code == 409, response.content
        error = response.json()["error"]
        assert (error["code"], error["type"]) == ("cancel_not_supported", "invalid_request_error")
        assert "cannot cancel" in error["message"] and response["x-should-retry"] == "false"
    assert channel.simulator.requests == before  # the vendor was not called
    task.refresh_from_db()
    assert task.is_active and task.deleted_at is None and task.error_code == ""
    assert list(LedgerEntry.objects.filter(task=task).values_list("kind", flat=True)) == ["hold"]
    assert balance(tenant) == 10 * USD - held
    assert api.get(f"/v1/videos/{task.public_id}").status_code == 200


def test_vidu_refuses_once_the_job_started_409_cancel_too_late(api, vidu, tenant):
    vidu.simulator.script = ["processing"]
    task = drive(submit(api, model="viduq2"), times=1)
    assert task.status == "in_progress"
    response = cancel(api, task)
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "cancel_too_late" and "task state is scheduled, can not cancel" in error["message"]
    assert response["x-should-retry"] == "false"
    assert_untouched(tenant, task, "in_progress")


def test_a_video_the_vendor_finished_is_too_late(api, vidu, tenant):
    task = submit(api, model="viduq2")
    lease = timezone.now() + services.DELIVERY_LEASE
    VideoTask.objects.filter(pk=task.pk).update(
        status="in_progress", progress=99, vendor_completed_at=timezone.now(), next_poll_at=lease
    )
    response = cancel(api, task)
    assert response.status_code == 409 and response.json()["error"]["code"] == "cancel_too_late"
    assert "being delivered" in response.json()["error"]["message"]
    assert vidu.simulator.calls("POST", "/cancel") == []
    assert_untouched(tenant, task, "in_progress")


def test_finished_tasks_are_too_late_and_delete_still_deletes_them(api, sandbox, tenant):
    done = drive(submit(api))
    response = cancel(api, done)
    assert response.status_code == 409 and response.json()["error"]["code"] == "cancel_too_late"
    assert "completed before it could be cancelled" in response.json()["error"]["message"]
    assert api.delete(f"/v1/videos/{done.public_id}").json() == {
        "id": done.public_id,
        "object": "video.deleted",
        "deleted": True,
    }
    done.refresh_from_db()
    assert done.status == "completed" and done.deleted_at is not None and done.amount_charged == HELD


def test_vendor_failure_while_cancelling_changes_nothing(api, vidu, tenant):
    task = submit(api, model="viduq2")
    vidu.simulator.fail_next(
        503, {"code": 503, "reason": "SystemThrottling", "message": "busy"}, path_contains="/cancel"
    )
    response = cancel(api, task)
    assert response.status_code == 503 and response.json()["error"]["code"] == "vendor_unavailable"
    assert "the task goes on" in response.json()["error"]["message"]
    assert_untouched(tenant, task, "queued")
    assert cancel(api, task).status_code == 200  # a retry gets through
    assert_released_once(tenant, task)


def test_other_tenant_gets_404_and_a_bad_key_401(api, other_api, vidu, tenant):
    task = submit(api, model="viduq2")
    for response in (
        other_api.post(f"/v1/videos/{task.public_id}/cancel"),
        other_api.delete(f"/v1/videos/{task.public_id}"),
    ):
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    anonymous = APIClient()
    anonymous.credentials(HTTP_AUTHORIZATION="Bearer sk-nope")
    assert anonymous.post(f"/v1/videos/{task.public_id}/cancel").status_code == 401
    assert vidu.simulator.calls("POST", "/cancel") == []
    assert_untouched(tenant, task, "queued")


# --- tasks without a vendor job ---------------------------------------------------------------------


def unsubmitted(tenant, key, **fields):
    """A task held and created, whose submit has not come back (no channel, no vendor id yet)."""
    task = make_task(tenant, api_key=key, seconds=5, amount_held=HELD, **fields)
    money.hold(task, HELD)
    return task


def test_a_submit_in_flight_cannot_be_cancelled_yet(api, tenant, key, sandbox):
    task = unsubmitted(tenant, key)
    response = cancel(api, task)
    assert response.status_code == 409 and response.json()["error"]["code"] == "cancel_too_late"
    assert "still being submitted" in response.json()["error"]["message"]
    assert 1 <= int(response["Retry-After"]) <= services.RETRY_AFTER_MAX and "x-should-retry" not in response
    assert_untouched(tenant, task, "queued")


def test_a_submit_timeout_being_reconciled_cannot_be_cancelled(api, tenant, key, slow_sandbox):
    task = unsubmitted(tenant, key, channel=slow_sandbox, reconcile_until=timezone.now() + timedelta(minutes=5))
    response = cancel(api, task)
    assert response.status_code == 409 and "still looking for the job" in response.json()["error"]["message"]
    assert response["Retry-After"]
    assert_untouched(tenant, task, "queued")


def test_a_vendor_without_cancel_says_so_even_while_reconciling(api, tenant, key, kling):
    task = unsubmitted(tenant, key, channel=kling, reconcile_until=timezone.now() + timedelta(minutes=5))
    response = cancel(api, task)
    assert response.status_code == 409 and response.json()["error"]["code"] == "cancel_not_supported"
    assert "Retry-After" not in response  # never: retrying cannot help
    assert_untouched(tenant, task, "queued")


def test_an_interrupted_submit_is_cancelled_locally(api, tenant, key, sandbox):
    task = unsubmitted(tenant, key)
    with time_machine.travel(timezone.now() + services.submit_grace() + timedelta(seconds=1)):
        response = cancel(api, task)
    assert response.status_code == 200 and response.json()["error"]["code"] == "cancelled"
    task.refresh_from_db()
    assert task.status == "cancelled" and "before the vendor took the job" in task.error_message
    assert_released_once(tenant, task)


# --- races: settled exactly once, whichever wins -------------------------------------------------------


def vendor_completes_during_the_cancel(monkeypatch, task_pk, *, delivered):
    """The vendor finishes the video while the gateway is cancelling: after the vendor's answer,
    before finish(). ``delivered``: the delivery runs to its end (completed, captured) at once;
    else the poll only recorded it (vendor_completed_at, the delivery lease taken)."""
    real = sandbox_adaptor.Sandbox.cancel

    def cancel_then_complete(self, ctx, ref):
        real(self, ctx, ref)
        task = VideoTask.objects.select_related("channel").get(pk=task_pk)
        if delivered:
            services.apply_result(task, PollResult(COMPLETED, "succeeded", result_url="sandbox://5.mp4", seconds=5))
        else:
            VideoTask.objects.filter(pk=task_pk).update(
                status="in_progress", progress=99, vendor_completed_at=timezone.now(), next_poll_at=LEASE
            )

    monkeypatch.setattr(sandbox_adaptor.Sandbox, "cancel", cancel_then_complete)


LEASE = timezone.now() + timedelta(days=3650)  # a delivery lease far in the future


def test_completion_winning_the_race_is_charged_once_and_never_released(api, slow_sandbox, tenant, monkeypatch):
    task = submit(api)
    vendor_completes_during_the_cancel(monkeypatch, task.pk, delivered=True)
    response = cancel(api, task)
    assert response.status_code == 409 and response.json()["error"]["code"] == "cancel_too_late"
    assert "completed before it could be cancelled; it was charged" in response.json()["error"]["message"]
    task.refresh_from_db()
    assert task.status == "completed" and task.amount_charged == HELD
    assert [kind for kind, _, _ in ledger(task)] == ["hold", "capture"]
    assert balance(tenant) == 10 * USD - HELD and ledger_sum(tenant) == tenant.balance


def test_a_video_finished_meanwhile_is_delivered_not_cancelled(api, slow_sandbox, tenant, monkeypatch):
    """finish(CANCELLED) refuses a task whose video the vendor finished, even if that happened after
    the cancel's first look: the delivery then completes and captures it, once."""
    task = submit(api)
    vendor_completes_during_the_cancel(monkeypatch, task.pk, delivered=False)
    response = cancel(api, task)
    assert response.status_code == 409 and "before the cancel took effect" in response.json()["error"]["message"]
    assert_untouched(tenant, task, "in_progress")
    assert delivery.deliver(task.pk, LEASE) is not None
    task.refresh_from_db()
    assert task.status == "completed" and [kind for kind, _, _ in ledger(task)] == ["hold", "capture"]
    assert balance(tenant) == 10 * USD - HELD and ledger_sum(tenant) == tenant.balance


def test_a_poll_seeing_the_cancel_first_settles_it_once(api, vidu, tenant, monkeypatch):
    task = submit(api, model="viduq2")
    real = type(vidu.adaptor).cancel

    def cancel_then_poll(self, ctx, ref):
        real(self, ctx, ref)
        services.poll_task(VideoTask.objects.select_related("channel").get(pk=task.pk))  # reads UserCancelled

    monkeypatch.setattr(type(vidu.adaptor), "cancel", cancel_then_poll)
    response = cancel(api, task)
    assert response.status_code == 200 and response.json()["error"]["code"] == "cancelled"
    task.refresh_from_db()
    assert (task.status, task.vendor_status) == ("cancelled", "failed")
    assert "Vidu reports the task was cancelled" in task.error_message
    assert_released_once(tenant, task)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_cancels_and_completions_settle_each_task_once(api, slow_sandbox, tenant):
    if connection.vendor != "postgresql":
        pytest.skip("row-level concurrency is proven on PostgreSQL (set DATABASE_URL)")
    tasks = [submit(api) for _ in range(8)]
    barrier = threading.Barrier(3 * len(tasks))
    outcomes = []

    def cancel_one(task):
        barrier.wait()
        try:
            outcomes.append(cancelling.cancel_task(task).status)
        except GatewayError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    def complete_one(task):
        barrier.wait()
        try:
            services.finish(task, VideoTask.Status.COMPLETED, seconds_produced=5, result_url="sandbox://5.mp4")
        finally:
            connection.close()

    threads = [
        threading.Thread(target=work, args=(task,)) for task in tasks for work in (cancel_one, cancel_one, complete_one)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(outcomes) <= {"cancelled", "cancel_too_late"} and len(outcomes) == 2 * len(tasks)
    completed = 0
    for task in tasks:
        task.refresh_from_db()
        kinds = [kind for kind, _, _ in ledger(task)]
        assert kinds == (["hold", "capture"] if task.status == "completed" else ["hold", "release"]), task.status
        completed += task.status == "completed"
    assert balance(tenant) == 10 * USD - completed * HELD and ledger_sum(tenant) == tenant.balance


# --- native routes -------------------------------------------------------------------------------------


@pytest.fixture
def token_api(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key.plaintext}")
    return client


def vidu_create(client):
    response = client.post("/vidu/ent/v2/text2video", {"model": "viduq2", "prompt": "x", "duration": 5}, format="json")
    assert response.status_code == 200, response.content
    return VideoTask.objects.get(public_id=response.json()["task_id"])


def test_vidu_native_cancel(token_api, other_api, vidu, tenant):
    task = vidu_create(token_api)
    url = f"/vidu/ent/v2/tasks/{task.public_id}/cancel"
    missing = other_api.post(url, {"id": task.public_id}, format="json")
    assert missing.status_code == 404 and missing.json()["reason"] == "TaskNotFound"
    wrong = token_api.post(url, {"id": "video_other"}, format="json")
    assert (wrong.status_code, wrong.json()["reason"]) == (400, "FieldInvalid")
    response = token_api.post(url, {"id": task.public_id}, format="json")
    assert (response.status_code, response.json()) == (200, {})
    shown = token_api.get(f"/vidu/ent/v2/tasks/{task.public_id}/creations").json()
    assert (shown["state"], shown["err_code"], shown["creations"]) == ("failed", "UserCancelled", [])
    task.refresh_from_db()
    assert task.status == "cancelled"
    assert_released_once(tenant, task)


def test_vidu_native_too_late_is_vidus_own_refusal(token_api, vidu, tenant):
    vidu.simulator.script = ["processing"]
    task = drive(vidu_create(token_api), times=1)
    response = token_api.post(f"/vidu/ent/v2/tasks/{task.public_id}/cancel", {"id": task.public_id}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert (body["code"], body["reason"]) == (400, "BadRequest") and body["metadata"]["trace_id"]
    assert "can not cancel" in body["message"]
    assert_untouched(tenant, task, "in_progress")


def dashscope_create(client, prefix="/api/v1"):
    response = client.post(
        f"{prefix}/services/aigc/video-generation/video-synthesis",
        {"model": "wanx2.1-t2v-turbo", "input": {"prompt": "x"}, "parameters": {"duration": 5}},
        format="json",
        HTTP_X_DASHSCOPE_ASYNC="enable",
    )
    assert response.status_code == 200, response.content
    return VideoTask.objects.get(public_id=response.json()["output"]["task_id"])


@pytest.mark.parametrize("prefix", ["/api/v1", "/alibailian/api/v1"])
def test_dashscope_native_cancel(api, other_api, wan, tenant, prefix):
    task = dashscope_create(api, prefix)
    assert other_api.post(f"{prefix}/tasks/{task.public_id}/cancel").status_code == 404
    response = api.post(f"{prefix}/tasks/{task.public_id}/cancel")
    assert response.status_code == 200 and set(response.json()) == {"request_id"}
    output = api.get(f"{prefix}/tasks/{task.public_id}").json()["output"]
    assert output["task_status"] == "CANCELED" and output["end_time"]
    assert_released_once(tenant, task)


def test_dashscope_native_refuses_a_running_task(api, wan, tenant):
    wan.simulator.script = ["RUNNING"]
    task = drive(dashscope_create(api), times=1)
    response = api.post(f"/api/v1/tasks/{task.public_id}/cancel")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "UnsupportedOperation" and "PENDING" in body["message"] and body["request_id"]
    assert_untouched(tenant, task, "in_progress")


# --- every renderer and page shows a cancelled task -------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "url", "expect"),
    [
        ("openai", "/v1/videos/{id}", '"status":"failed"'),
        ("unified", "/v1/video/generations/{id}", '"code":"cancelled"'),
        ("kling", "/kling/v1/videos/text2video/{id}", '"task_status":"failed"'),
        ("vidu", "/vidu/ent/v2/tasks/{id}/creations", '"err_code":"UserCancelled"'),
        ("dashscope", "/api/v1/tasks/{id}", '"task_status":"CANCELED"'),
    ],
)
def test_every_dialect_renders_a_cancelled_task(api, tenant, key, route, url, expect):
    task = make_task(tenant, api_key=key, route=route, status="cancelled", error_code="cancelled", error_message="x")
    response = api.get(url.format(id=task.public_id))
    assert response.status_code == 200 and expect in response.content.decode().replace(" ", "")
    listed = api.get("/v1/videos").json()["data"][0]
    assert (listed["status"], listed["error"]["code"]) == ("failed", "cancelled")


def test_a_replayed_create_shows_the_cancelled_task_as_failed(api, slow_sandbox):
    body = {"model": "sandbox-video", "prompt": "a cat", "duration": 5}
    first = api.post("/v1/video/generations", body, format="json", HTTP_IDEMPOTENCY_KEY="k1").json()
    assert cancel(api, VideoTask.objects.get(public_id=first["id"])).status_code == 200
    replay = api.post("/v1/video/generations", body, format="json", HTTP_IDEMPOTENCY_KEY="k1").json()
    assert (replay["id"], replay["status"]) == (first["id"], "failed")


def test_jimeng_renders_a_cancelled_task_as_expired_never_a_500(api, tenant, key):
    """Jimeng has no cancel: a cancelled task reads as "expired" (resubmit), with success, not 50500/HTTP 500."""
    task = make_task(tenant, api_key=key, route="jimeng", status="cancelled", error_code="cancelled")
    response = api.post(
        "/jimeng/?Action=CVSync2AsyncGetResult&Version=2022-08-31", {"task_id": task.public_id}, format="json"
    )
    assert response.status_code == 200
    assert (response.json()["code"], response.json()["data"]["status"]) == (10000, "expired")


@pytest.fixture
def owner(users):
    return signed_in(users["owner"])


@pytest.fixture
def reader(users):
    return signed_in(users["reader"])


def test_pages_csv_and_staff_pages_show_cancelled_tasks(owner, tenant, key, sandbox):
    task = make_task(tenant, api_key=key, channel=sandbox, status="cancelled", error_code="cancelled")
    for url in ("/tasks/", "/tasks/?status=cancelled", f"/tasks/{task.public_id}/", f"/tasks/{task.public_id}/status/"):
        html = owner.get(url).content.decode()
        assert 'class="badge badge-cancelled">Cancelled<' in html, url
    assert "cancelled before the video was made" in owner.get(f"/tasks/{task.public_id}/").content.decode()
    assert owner.get("/tasks/?status=completed").content.decode().count(task.public_id) == 0
    assert owner.get("/usage/").status_code == 200
    csv = b"".join(owner.get("/usage/tasks.csv").streaming_content).decode()
    assert f"{task.public_id}," in csv and ",cancelled," in csv
    staff = get_user_model().objects.create_user("operator", password="pw-operator-123", is_staff=True)
    operator = signed_in(staff)
    for url in ("/staff/tasks/", "/staff/tasks/?status=cancelled", f"/staff/tasks/{task.public_id}/"):
        assert "badge-cancelled" in operator.get(url).content.decode(), url
    for url in ("/staff/health/", "/staff/channels/"):
        assert operator.get(url).status_code == 200


# --- the task pages' Cancel button ------------------------------------------------------------------------


def test_owner_cancels_from_the_task_page(owner, api, slow_sandbox, tenant):
    task = submit(api)
    html = owner.get(f"/tasks/{task.public_id}/").content.decode()
    form = f'<form method="post" action="/tasks/{task.public_id}/cancel" data-confirm='
    assert form in html and "csrfmiddlewaretoken" in html.split(form)[1].split("</form>")[0]
    response = owner.post(f"/tasks/{task.public_id}/cancel", follow=True)
    assert response.redirect_chain[-1][0] == f"/tasks/{task.public_id}/"
    html = response.content.decode()
    assert "Task cancelled." in html and form not in html and "badge-cancelled" in html
    task.refresh_from_db()
    assert task.status == "cancelled"
    assert_released_once(tenant, task)


def test_a_refused_cancel_is_a_clear_message(owner, api, slow_sandbox, tenant):
    task = submit(api)
    VideoTask.objects.filter(pk=task.pk).update(vendor_completed_at=timezone.now(), next_poll_at=LEASE)
    assert "/cancel" not in owner.get(f"/tasks/{task.public_id}/").content.decode()  # no button then
    html = owner.post(f"/tasks/{task.public_id}/cancel", follow=True).content.decode()
    assert "The task was not cancelled: The video is already finished at the vendor" in html
    assert_untouched(tenant, task, "queued")


def test_read_only_member_cannot_cancel(reader, api, slow_sandbox, tenant):
    task = submit(api)
    assert "/cancel" not in reader.get(f"/tasks/{task.public_id}/").content.decode()
    assert reader.post(f"/tasks/{task.public_id}/cancel").status_code == 404
    assert_untouched(tenant, task, "queued")


def test_no_button_where_the_vendor_cannot_cancel_and_get_is_refused(owner, api, kling, tenant):
    task = submit(api, model="kling-v1")
    assert "/cancel" not in owner.get(f"/tasks/{task.public_id}/").content.decode()
    assert owner.get(f"/tasks/{task.public_id}/cancel").status_code == 405


def test_outsider_gets_404(users, api, slow_sandbox, tenant):
    task = submit(api)
    assert signed_in(users["outsider"]).post(f"/tasks/{task.public_id}/cancel").status_code == 404
    assert_untouched(tenant, task, "queued")


def test_staff_cancel_is_audited(users, api, slow_sandbox, tenant):
    task = submit(api)
    owner = signed_in(users["owner"])
    assert owner.post(f"/staff/tasks/{task.public_id}/cancel").status_code == 404  # not staff
    staff = get_user_model().objects.create_user("operator", password="pw-operator-123", is_staff=True)
    operator = signed_in(staff)
    assert f"/staff/tasks/{task.public_id}/cancel" in operator.get(f"/staff/tasks/{task.public_id}/").content.decode()
    html = operator.post(f"/staff/tasks/{task.public_id}/cancel", follow=True).content.decode()
    assert "cancelled; its hold was released" in html
    assert AuditEntry.objects.filter(action="task.cancelled", target=task.public_id).exists()
    assert_released_once(tenant, task)
