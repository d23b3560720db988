"""No lost or ghost vendor jobs: a task the vendor forgot fails soon (after a confirmation), a submit
that timed out is looked up at the vendor and adopted, and a task whose web worker died mid-submit is
never shown as queued and is failed within about a minute."""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings as django_settings
from django.utils import timezone

from channels.adaptors import registry
from channels.adaptors.base import CallContext, TaskRef, VendorTaskMissing, VendorTimeout
from channels.canonical import CanonicalRequest
from channels.models import Channel, Price
from tests.helpers import USD, client_for, drive, ledger_sum, subprocess_env
from tests.simulators.dashscope import DashScopeSimulator
from tests.simulators.gemini import GeminiSimulator
from tests.simulators.jimeng import JimengSimulator
from tests.simulators.kling import KlingSimulator
from tests.simulators.minimax import MiniMaxSimulator
from tests.simulators.openai import OpenAISimulator
from tests.simulators.seedance import SeedanceSimulator
from tests.simulators.vidu import ViduSimulator
from videos import services
from videos.models import VideoTask

pytestmark = pytest.mark.django_db

PRICE = 10_000  # per second
# vendor -> (simulator, channel credentials, model, create path at the simulator)
VENDORS = {
    "kling": (KlingSimulator, "ak_test|sk_test", "kling-v1", "/v1/videos/text2video"),
    "vidu": (ViduSimulator, "vda_test", "viduq1", "/ent/v2/text2video"),
    "openai": (OpenAISimulator, "sk-upstream-test", "sora-2", "/v1/videos"),
    "dashscope": (DashScopeSimulator, "sk-dashscope-test", "wanx2.1-t2v-turbo", "/video-synthesis"),
    "jimeng": (JimengSimulator, "AKLTsimulator|c2ltdWxhdG9yLXNlY3JldA==", "jimeng_t2v_v30", "/"),
    "seedance": (SeedanceSimulator, "ark-simulator-key", "doubao-seedance-1-0-pro-250528", "/generations/tasks"),
    "minimax": (MiniMaxSimulator, "mm-test-key", "MiniMax-Hailuo-02", "/v1/video_generation"),
    "gemini": (GeminiSimulator, "AIza-test-key", "veo-3.0-generate-001", ":predictLongRunning"),
}


@pytest.fixture
def vendor(request, db):
    """A channel of ``request.param`` (a VENDORS key) against its simulator, its model priced;
    ``channel.sim`` and ``channel.model`` say which."""
    simulator_class, credentials, model, create_path = VENDORS[request.param]
    with simulator_class() as sim:
        channel = Channel(name=request.param, vendor=request.param, base_url=sim.url, served_models=[model])
        channel.credentials = credentials
        channel.save()
        Price.objects.create(model=model, per_second=PRICE)
        channel.sim, channel.model, channel.create_path = sim, model, create_path
        yield channel


def with_vendor(*names):
    return pytest.mark.parametrize("vendor", names, indirect=True)


def create(api, model, key=None, prompt="a lighthouse at dusk"):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return api.post("/v1/videos", {"model": model, "prompt": prompt}, format="json", **headers)


def created(api, model, **kwargs):
    response = create(api, model, **kwargs)
    assert response.status_code == 200, response.content
    return VideoTask.objects.get(public_id=response.json()["id"])


def poll_at(moment):
    with time_machine.travel(moment, tick=False):
        services.poll_once()


def sim_id(task):
    """The simulator's key for a task: Gemini's operation name ends with it."""
    return task.vendor_task_id.rsplit("/", 1)[-1]


def assert_refunded(tenant):
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD and ledger_sum(tenant) == tenant.balance


# --- a vendor forgets a task ------------------------------------------------------------------------


@with_vendor("kling", "vidu", "openai", "dashscope", "jimeng", "seedance", "minimax", "gemini")
def test_forgotten_task_fails_after_a_confirmation_and_is_refunded(api, vendor, tenant):
    task = created(api, vendor.model)
    vendor.sim.forget(sim_id(task))  # from now on every query answers the vendor's own "not found"
    first = task.next_poll_at + timedelta(seconds=1)
    poll_at(first)
    task.refresh_from_db()
    assert task.status == "queued" and task.vendor_missing == 1  # one answer may be a glitch
    assert timedelta(seconds=10) <= task.next_poll_at - first <= timedelta(seconds=30)  # confirmed soon
    poll_at(task.next_poll_at + timedelta(seconds=1))
    task.refresh_from_db()
    assert (task.status, task.error_code, task.vendor_missing) == ("failed", "vendor_task_lost", 2)
    assert task.ledger.filter(kind="release").count() == 1 and task.amount_charged == 0
    assert_refunded(tenant)
    body = api.get(f"/v1/videos/{task.public_id}").json()
    assert body["status"] == "failed" and body["error"]["code"] == "vendor_task_lost"
    assert task.vendor_task_id not in body["error"]["message"]  # vendor ids stay with the operator


@with_vendor("dashscope", "jimeng", "kling", "vidu", "openai", "seedance", "minimax", "gemini")
def test_a_single_not_found_does_not_kill_a_task(api, vendor, tenant):
    task = created(api, vendor.model)
    vendor.sim.forget(sim_id(task), times=1)  # one transient "not found", then the vendor knows it again
    poll_at(task.next_poll_at + timedelta(seconds=1))
    task.refresh_from_db()
    assert task.is_active and task.vendor_missing == 1
    poll_at(task.next_poll_at + timedelta(seconds=1))
    task.refresh_from_db()
    assert task.is_active and task.vendor_missing == 0  # any other answer resets the count
    vendor.sim.forget(sim_id(task), times=1)  # not-found, answer, not-found: not two in a row
    poll_at(task.next_poll_at + timedelta(seconds=1))
    task.refresh_from_db()
    assert task.is_active and task.vendor_missing == 1
    task = drive(task, times=20)
    assert task.status == "completed", (task.error_code, task.error_message)
    assert task.vendor_missing == 0 and task.amount_charged == task.amount_held
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD - task.amount_charged and ledger_sum(tenant) == tenant.balance


# --- a submit that times out ------------------------------------------------------------------------


@with_vendor("kling")
def test_kling_submit_that_hangs_is_adopted_and_charged_once(api, vendor, tenant, settings):
    settings.GATEWAY_UPSTREAM_TIMEOUT = settings.GATEWAY_SUBMIT_TIMEOUT = 1
    vendor.sim.hang_next(3, path_contains=vendor.create_path)  # Kling makes the job, answers too late
    response = create(api, vendor.model, key="hang-1")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "queued"  # the client is told the truth: it may well be running
    task = VideoTask.objects.get(public_id=response.json()["id"])
    assert task.vendor_task_id == "" and task.reconcile_until > timezone.now() and task.channel == vendor
    creates = vendor.sim.calls("POST", vendor.create_path)
    assert len(creates) == 1 and creates[0].json()["external_task_id"] == task.public_id
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD - task.amount_held  # the hold stays
    again = create(api, vendor.model, key="hang-1")  # a retry meanwhile: the same task, nothing new
    assert again.status_code == 200 and again.json()["id"] == task.public_id
    assert again.json()["status"] == "queued"

    task = drive(task)
    assert task.status == "completed", (task.error_code, task.error_message)
    (job,) = vendor.sim.tasks
    assert task.vendor_task_id == job and task.reconcile_until is None
    assert [r.path for r in vendor.sim.calls("GET")].count(vendor.create_path) >= 1  # found in the task list
    assert len(vendor.sim.calls("POST", vendor.create_path)) == 1  # never submitted twice
    assert task.ledger.filter(kind="capture").count() == 1 and task.amount_charged == task.amount_held
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD - task.amount_charged and ledger_sum(tenant) == tenant.balance


@with_vendor("kling", "openai")
def test_timed_out_submit_without_a_job_fails_after_the_window(api, vendor, tenant, settings):
    settings.GATEWAY_UPSTREAM_TIMEOUT = settings.GATEWAY_SUBMIT_TIMEOUT = 1
    vendor.sim.fail_next(500, {}, path_contains=vendor.create_path, delay=3)  # no job: the vendor never took it
    task = created(api, vendor.model)
    assert task.status == "queued" and task.reconcile_until is not None
    poll_at(task.created_at + timedelta(minutes=2))  # looked for, not found yet: still waiting
    task.refresh_from_db()
    assert task.is_active
    task = drive(task)
    assert (task.status, task.error_code) == ("failed", "vendor_timeout")
    assert task.finished_at >= task.reconcile_until
    assert len(vendor.sim.calls("POST", vendor.create_path)) == 1
    assert_refunded(tenant)


@with_vendor("openai")
def test_openai_timed_out_submits_are_matched_in_the_video_list_one_job_each(api, vendor, tenant, settings):
    settings.GATEWAY_UPSTREAM_TIMEOUT = settings.GATEWAY_SUBMIT_TIMEOUT = 1
    vendor.sim.hang_next(3, path_contains=vendor.create_path, times=2)
    first = created(api, vendor.model, prompt="the same prompt")
    second = created(api, vendor.model, prompt="the same prompt")
    assert first.reconcile_until and second.reconcile_until
    assert len(vendor.sim.tasks) == 2
    first, second = drive(first), drive(second)
    assert first.status == second.status == "completed"
    assert {first.vendor_task_id, second.vendor_task_id} == set(vendor.sim.tasks)  # never one job for two tasks
    assert len(vendor.sim.calls("POST", vendor.create_path)) == 2
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD - first.amount_charged - second.amount_charged


@with_vendor("vidu")
def test_vendor_without_lookup_keeps_504_and_releases(api, vendor, tenant, settings):
    settings.GATEWAY_SUBMIT_TIMEOUT = 1
    vendor.sim.hang_next(3, path_contains=vendor.create_path)
    response = create(api, vendor.model)
    assert response.status_code == 504 and response.json()["error"]["code"] == "vendor_timeout"
    task = VideoTask.objects.get()
    assert (task.status, task.error_code, task.reconcile_until) == ("failed", "vendor_timeout", None)
    assert_refunded(tenant)


@pytest.mark.parametrize("name", sorted(VENDORS))
def test_every_create_call_uses_the_submit_timeout(name, settings):
    """The submit grace is derived from GATEWAY_SUBMIT_TIMEOUT: every adaptor's create must honour it."""
    settings.GATEWAY_UPSTREAM_TIMEOUT = 5
    simulator_class, credentials, model, create_path = VENDORS[name]
    adaptor = registry.get(name)
    request = CanonicalRequest(model=model, prompt="a cat")
    plan = adaptor.plan(request, model)
    with simulator_class() as sim:
        sim.fail_next(200, {}, path_contains=create_path, delay=1.5)
        ctx = CallContext(base_url=sim.url, credentials=credentials, read_timeout=0.5)
        with pytest.raises(VendorTimeout):
            adaptor.submit(ctx, request, model, plan)


def test_only_vendors_with_an_id_or_a_matching_list_look_jobs_up():
    finders = {adaptor.vendor for adaptor in registry.all_adaptors() if adaptor.supports_find}
    assert finders == {"kling", "openai"}


@pytest.mark.parametrize("name", ["openai", "gemini"])
def test_only_the_vendors_own_404_is_a_missing_task(name):
    """OpenAI and Gemini say "not found" with a plain 404 in their error shape; a wrong path's or a
    proxy's 404 page says nothing about the task: an error (retried), not "not found"."""
    simulator_class, credentials, model, _ = VENDORS[name]
    adaptor = registry.get(name)
    with simulator_class() as sim:
        ctx = CallContext(base_url=sim.url, credentials=credentials)
        ref = TaskRef("models/m/operations/op1" if name == "gemini" else "video_1", upstream_model=model, state={})
        with pytest.raises(VendorTaskMissing):
            adaptor.poll(ctx, ref)
        sim.fail_next(404, b"<html>Not Found</html>")
        with pytest.raises(Exception) as raised:
            adaptor.poll(ctx, ref)
        assert not isinstance(raised.value, VendorTaskMissing)


# --- a web worker killed mid-submit -----------------------------------------------------------------


def test_submit_grace_derives_from_the_upstream_timeouts(settings):
    settings.GATEWAY_UPSTREAM_CONNECT_TIMEOUT, settings.GATEWAY_SUBMIT_TIMEOUT = 10, 30  # the defaults
    assert timedelta(seconds=40) < services.submit_grace() <= timedelta(seconds=75)  # about a minute, not ten
    settings.GATEWAY_SUBMIT_TIMEOUT = 90
    assert services.submit_grace() > timedelta(seconds=100)


def test_replay_of_a_task_never_submitted_is_409_then_a_fresh_task(api, sora, tenant, monkeypatch):
    def killed(self, ctx, request, upstream_model, plan):
        raise SystemExit("web worker killed mid-submit")

    with monkeypatch.context() as patch:
        patch.setattr(type(sora.adaptor), "submit", killed)
        with pytest.raises(SystemExit):
            create(api, "sora-2", key="k1")
    stuck = VideoTask.objects.get()
    assert stuck.is_active and stuck.vendor_task_id == "" and stuck.reconcile_until is None

    replay = create(api, "sora-2", key="k1")
    assert replay.status_code == 409 and replay.json()["error"]["code"] == "idempotency_request_in_progress"
    assert 1 <= int(replay["Retry-After"]) <= 10
    with time_machine.travel(stuck.created_at + services.submit_grace() + timedelta(seconds=1), tick=False):
        replay = create(api, "sora-2", key="k1")
    assert replay.status_code == 200 and replay.json()["status"] == "queued"
    fresh = VideoTask.objects.get(public_id=replay.json()["id"])
    stuck.refresh_from_db()
    assert fresh.pk != stuck.pk and fresh.vendor_task_id and fresh.idempotency_key == "k1"
    assert (stuck.status, stuck.error_code, stuck.idempotency_key) == ("failed", "submit_interrupted", "")
    assert stuck.ledger.filter(kind="release").count() == 1
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD - fresh.amount_held and ledger_sum(tenant) == tenant.balance


@with_vendor("kling")
def test_kling_native_replay_in_progress_says_retry_later(api, vendor, monkeypatch):
    def killed(self, ctx, request, upstream_model, plan):
        raise SystemExit("web worker killed mid-submit")

    body = {"model_name": vendor.model, "prompt": "a cat"}
    with monkeypatch.context() as patch:
        patch.setattr(type(vendor.adaptor), "submit", killed)
        with pytest.raises(SystemExit):
            api.post("/kling/v1/videos/text2video", body, format="json", HTTP_IDEMPOTENCY_KEY="n1")
    replay = api.post("/kling/v1/videos/text2video", body, format="json", HTTP_IDEMPOTENCY_KEY="n1")
    assert replay.status_code == 429 and replay.json()["code"] == 1302 and replay["Retry-After"]


@pytest.mark.django_db(transaction=True)
def test_web_worker_killed_mid_submit(sora, key, tenant):
    """A real web worker (a manage.py process serving the create) is SIGKILLed while the vendor hangs:
    a retry with the same Idempotency-Key is 409 in progress, never a 'queued' task that was never
    submitted; after the grace the poll tick fails and releases it, and the retry makes a new task."""
    sim = sora.simulator
    sim.fail_next(200, {"id": "never"}, path_contains="/v1/videos", delay=60)  # the vendor hangs
    body = {"model": "sora-2", "prompt": "a lighthouse at dusk"}
    code = (
        "from rest_framework.test import APIClient\n"
        f"APIClient().post('/v1/videos', {body!r}, format='json',"
        f" HTTP_AUTHORIZATION='Bearer {key.plaintext}', HTTP_IDEMPOTENCY_KEY='killed-1')\n"
    )
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=django_settings.BASE_DIR,
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while not sim.calls("POST", "/v1/videos") and time.monotonic() < deadline:
            assert worker.poll() is None, worker.stdout.read().decode()
            time.sleep(0.1)
        assert sim.calls("POST", "/v1/videos"), "the worker never reached the vendor"
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    assert worker.returncode == -signal.SIGKILL

    stuck = VideoTask.objects.get(idempotency_key="killed-1")
    assert stuck.is_active and stuck.vendor_task_id == "" and stuck.reconcile_until is None
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD - stuck.amount_held  # held by the dead worker

    api = client_for(key)
    replay = api.post("/v1/videos", body, format="json", HTTP_IDEMPOTENCY_KEY="killed-1")
    assert replay.status_code == 409, replay.content
    assert replay.json()["error"]["code"] == "idempotency_request_in_progress" and int(replay["Retry-After"]) >= 1

    with time_machine.travel(stuck.created_at + services.submit_grace() + timedelta(seconds=1), tick=False):
        services.poll_once()  # the tick fails it: within about a minute of the create, not ten
    stuck.refresh_from_db()
    assert (stuck.status, stuck.error_code, stuck.idempotency_key) == ("failed", "submit_interrupted", "")
    assert_refunded(tenant)

    retry = api.post("/v1/videos", body, format="json", HTTP_IDEMPOTENCY_KEY="killed-1")
    assert retry.status_code == 200 and retry.json()["status"] == "queued" and retry.json()["id"] != stuck.public_id
    fresh = VideoTask.objects.get(public_id=retry.json()["id"])
    assert fresh.vendor_task_id and fresh.idempotency_key == "killed-1"
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD - fresh.amount_held and ledger_sum(tenant) == tenant.balance


def test_a_submit_slower_than_the_grace_does_not_revive_its_failed_task(api, sora, tenant, monkeypatch):
    """The vendor accepts the job only after the tick failed the task as interrupted (and refunded it):
    the task stays failed, nothing is charged, and the vendor's job id is kept for the operator."""
    adaptor = registry.get("openai")
    real_submit = adaptor.submit

    def slow_submit(ctx, request, upstream_model, plan):
        submission = real_submit(ctx, request, upstream_model, plan)
        task = VideoTask.objects.get()
        services.expire_overdue(task.created_at + services.submit_grace() + timedelta(seconds=1))
        return submission

    monkeypatch.setattr(adaptor, "submit", slow_submit)
    response = api.post("/v1/videos", {"model": "sora-2", "prompt": "slow"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "failed", response.content
    task = VideoTask.objects.get()
    assert (task.status, task.error_code) == ("failed", "submit_interrupted")
    assert task.vendor_task_id and task.next_poll_at is None  # recorded for the operator, never polled
    assert_refunded(tenant)
    services.poll_once(timezone.now() + timedelta(hours=1))  # and nobody polls or settles it again
    task.refresh_from_db()
    assert task.status == "failed" and task.amount_charged == 0
