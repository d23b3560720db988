"""Vendor callbacks: push from the vendors that call back, polling as the fallback.

A real gateway runs over HTTP (pytest-django's ``live_server``, GATEWAY_PUBLIC_URL pointing at it)
so each vendor simulator can POST its callback the way the vendor would, from its own thread. Poll
intervals are long (an hour), so only the callback can explain a task that ends at once.
"""

import base64
import hashlib
import json
import time
from datetime import timedelta
from email.utils import formatdate

import httpx
import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from channels.adaptors.base import COMPLETED, FAILED, CallbackRejected, CallContext, TaskRef
from channels.adaptors.vidu import adaptor as vidu
from channels.models import Channel, Price
from tests.helpers import USD, drive, ledger_sum, signed_in
from tests.simulators.kling import KlingSimulator
from tests.simulators.minimax import MiniMaxSimulator
from tests.simulators.seedance import SeedanceSimulator
from tests.simulators.vidu import ViduSimulator
from videos import callbacks, services, tasks
from videos.models import VideoTask

pytestmark = pytest.mark.django_db(transaction=True)

PRICE = 10_000  # per second
LONG_POLL = 3600  # seconds: a poll interval no test waits out
ABOUT_A_SECOND = 1.0  # seconds from the vendor's terminal callback to the task terminal here


class Vendor:
    def __init__(self, simulator, credentials, model, query_path, done, failed):
        self.simulator, self.credentials, self.model = simulator, credentials, model
        self.query_path, self.done, self.failed = query_path, done, failed


VENDORS = {
    "kling": Vendor(KlingSimulator, "ak_test|sk_test", "kling-v1", "/v1/videos/text2video/", "succeed", "failed"),
    "vidu": Vendor(ViduSimulator, "vda_test", "viduq1", "/creations", "success", "failed"),
    "seedance": Vendor(
        SeedanceSimulator,
        "ark-simulator-key",
        "doubao-seedance-1-0-pro-250528",
        "/contents/generations/tasks/",
        "succeeded",
        "failed",
    ),
    "minimax": Vendor(
        MiniMaxSimulator, "mm-test-key", "MiniMax-Hailuo-02", "/v1/query/video_generation", "Success", "Fail"
    ),
}


@pytest.fixture
def vendor(request, db):
    """A channel of ``request.param`` (a VENDORS key) against its simulator, its model priced;
    ``channel.sim`` and ``channel.spec`` say which."""
    spec = VENDORS[request.param]
    with spec.simulator() as sim:
        channel = Channel(name=request.param, vendor=request.param, base_url=sim.url, served_models=[spec.model])
        channel.credentials = spec.credentials
        channel.save()
        Price.objects.create(model=spec.model, per_second=PRICE)
        channel.sim, channel.spec = sim, spec
        yield channel


def with_vendor(*names):
    return pytest.mark.parametrize("vendor", names or tuple(VENDORS), indirect=True)


@pytest.fixture
def long_polls(vendor, monkeypatch):
    monkeypatch.setattr(type(vendor.adaptor), "poll_interval", LONG_POLL)


@pytest.fixture
def gateway(settings, live_server):
    """Callbacks on: the gateway's public URL is the live server the simulators call back."""
    settings.GATEWAY_PUBLIC_URL = live_server.url
    return live_server.url


def created(api, model, **fields):
    response = api.post("/v1/videos", {"model": model, "prompt": "a lighthouse at dusk", **fields}, format="json")
    assert response.status_code == 200, response.content
    return VideoTask.objects.get(public_id=response.json()["id"])


def create_body(vendor):
    return json.loads(vendor.sim.calls("POST")[0].body)


def queries(vendor):
    return len(vendor.sim.calls("GET", vendor.spec.query_path))


def wait_until_finished(task, timeout=5.0):
    """The task once it is terminal, and how long that took; the task as it is after ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        task.refresh_from_db()
        if not task.is_active:
            break
        time.sleep(0.01)
    return task, time.monotonic() - started


def callback_url(task):
    return f"/callbacks/{task.public_id}/{task.callback_token}"


def unchanged(task):
    """The fields a callback must not touch when it is refused."""
    task.refresh_from_db()
    return (task.status, task.progress, task.next_poll_at, task.vendor_completed_at, task.poll_count, task.learned_by)


# --- the vendor calls back: the task ends at once ---------------------------------------------------


@with_vendor()
@pytest.mark.parametrize("outcome", ["completed", "failed"])
@pytest.mark.usefixtures("long_polls", "poller")
def test_the_task_is_terminal_within_a_second_of_the_vendors_callback(api, vendor, gateway, tenant, outcome):
    task = created(api, vendor.spec.model)
    assert create_body(vendor)["callback_url"] == f"{gateway}{callback_url(task)}"
    assert len(task.callback_token) >= 40
    # Callbacks on: the regular polls are the fallback, far off (the poller thread never finds it due).
    assert task.next_poll_at - task.submitted_at >= timedelta(seconds=services.MAX_CALLBACK_POLL_INTERVAL)

    vendor.sim.advance(task.vendor_task_id, vendor.spec.done if outcome == "completed" else vendor.spec.failed)
    task, elapsed = wait_until_finished(task)

    assert task.status == outcome, task.error_message
    assert elapsed < ABOUT_A_SECOND
    assert task.learned_by == "callback"
    [callback] = vendor.sim.wait_for_callbacks(1)
    assert callback.status == 200 and callback.json()
    # What confirming needs: one query (none at Vidu, whose signed payload is trusted), no more.
    assert queries(vendor) == (0 if vendor.vendor == "vidu" else 1)
    tenant.refresh_from_db()
    if outcome == "completed":
        assert task.result_file and task.amount_charged == task.amount_held > 0
        assert tenant.balance == 10 * USD - task.amount_charged
    else:
        assert task.amount_charged == 0 and tenant.balance == 10 * USD
    assert ledger_sum(tenant) == tenant.balance


@with_vendor("kling", "seedance", "minimax")
@pytest.mark.usefixtures("long_polls")
def test_an_unsigned_callback_is_only_a_hint_the_poll_decides(api, vendor, gateway):
    """The payload of an unsigned callback is never believed: the vendor still says "running"."""
    task = created(api, vendor.spec.model)
    body = {"task_id": task.vendor_task_id, "task_status": "succeed", "status": "succeeded"}
    answer = httpx.post(gateway + callback_url(task), json=body)
    assert answer.status_code == 200
    task.refresh_from_db()
    assert task.is_active and task.vendor_completed_at is None and task.learned_by == ""
    assert queries(vendor) == 1  # it was polled at once, and the vendor said it is not done


@with_vendor("vidu")
@pytest.mark.usefixtures("long_polls")
def test_a_signed_progress_callback_moves_the_task_without_a_query(api, vendor, gateway):
    task = created(api, vendor.spec.model)
    vendor.sim.advance(task.vendor_task_id, "processing")
    [callback] = vendor.sim.wait_for_callbacks(1)
    assert callback.status == 200
    task.refresh_from_db()
    assert task.status == "in_progress" and task.vendor_status == "processing"
    assert queries(vendor) == 0


@with_vendor("kling")
@pytest.mark.usefixtures("long_polls")
def test_the_poll_a_callback_queues_holds_the_task_until_it_runs(api, vendor, settings, monkeypatch):
    """In production the poll runs as a django-q2 job: until it does, the task is taken (the poll
    tick leaves it alone); the job polls it once; a duplicate of the job does nothing."""
    settings.GATEWAY_PUBLIC_URL = "https://gateway.example"
    task = created(api, vendor.spec.model)
    settings.GATEWAY_SYNC_TASKS = False
    queued = []
    monkeypatch.setattr(callbacks, "async_task", lambda func, *args, **options: queued.append((func, args)))
    vendor.sim.advance(task.vendor_task_id, "succeed")  # the simulator cannot reach gateway.example
    answer = Client().post(callback_url(task), b"{}", content_type="application/json")
    assert answer.status_code == 200 and answer.json() == {"status": "success"}
    [(func, args)] = queued
    assert func == "videos.tasks.poll_on_callback" and args[0] == task.pk
    task.refresh_from_db()
    assert task.next_poll_at == args[1] > timezone.now() + timedelta(seconds=60)  # the lease, not due
    assert task.pk not in services.due_task_ids(timezone.now() + timedelta(seconds=60))
    assert queries(vendor) == 0

    settings.GATEWAY_SYNC_TASKS = True  # the delivery the poll queues runs inline
    assert tasks.poll_on_callback(*args) is True
    task.refresh_from_db()
    assert task.status == "completed" and task.learned_by == "callback" and queries(vendor) == 1
    assert tasks.poll_on_callback(*args) is False and queries(vendor) == 1


# --- forged callbacks change nothing --------------------------------------------------------------


@with_vendor("kling")
@pytest.mark.usefixtures("long_polls")
def test_wrong_tokens_and_unknown_tasks_are_404_and_change_nothing(api, vendor, gateway, other_key):
    task = created(api, vendor.spec.model)
    other = created(api, vendor.spec.model)
    vendor.sim.lose_callbacks = True
    vendor.sim.advance(task.vendor_task_id, "succeed")  # done at the vendor; its callback never arrived
    genuine = vendor.sim.callback_request(vendor.sim.tasks[task.vendor_task_id], "succeed")[0]
    before = unchanged(task)
    attempts = [
        f"/callbacks/{task.public_id}/{task.callback_token[:-1]}x",  # a wrong token
        f"/callbacks/{task.public_id}/{other.callback_token}",  # another task's token
        f"/callbacks/{task.public_id}/",  # none
        f"/callbacks/video_doesnotexist/{task.callback_token}",  # an unknown task
    ]
    for path in attempts:
        answer = httpx.post(gateway + path, content=genuine, headers={"Content-Type": "application/json"})
        assert answer.status_code == 404, path
    assert unchanged(task) == before
    assert queries(vendor) == 0
    # A task polled, not called back (callbacks were off when it was made), has no callback URL at all.
    task.callback_token = ""
    task.save(update_fields=["callback_token"])
    assert httpx.post(f"{gateway}/callbacks/{task.public_id}/anything", content=genuine).status_code == 404
    assert unchanged(task)[:-1] == before[:-1] and queries(vendor) == 0


@with_vendor("kling")
@pytest.mark.usefixtures("long_polls")
def test_the_callback_route_takes_posts_of_a_bounded_size(api, vendor, gateway):
    task = created(api, vendor.spec.model)
    before = unchanged(task)
    assert httpx.get(gateway + callback_url(task)).status_code == 405
    huge = b'{"task_id": "' + b"x" * (3 * 1024 * 1024) + b'"}'
    assert httpx.post(gateway + callback_url(task), content=huge).status_code == 413
    assert unchanged(task) == before and queries(vendor) == 0


@with_vendor("vidu")
@pytest.mark.usefixtures("long_polls")
def test_a_forged_vidu_signature_is_refused_then_the_genuine_one_finishes(api, vendor, gateway):
    task = created(api, vendor.spec.model)
    before = unchanged(task)
    vendor.sim.forged_signatures = 1
    vendor.sim.advance(task.vendor_task_id, "success")
    [forged] = vendor.sim.wait_for_callbacks(1)
    assert forged.status == 401 and "signature" in forged.answer
    assert unchanged(task) == before and queries(vendor) == 0

    unsigned = {key: value for key, value in forged.headers.items() if not key.startswith("X-HMAC")}
    assert httpx.post(forged.url, content=forged.body, headers=unsigned).status_code == 401
    assert unchanged(task) == before

    vendor.sim.advance(task.vendor_task_id, "success")  # the vendor's own, signed with the task's key
    task, elapsed = wait_until_finished(task)
    assert task.status == "completed" and task.learned_by == "callback" and elapsed < ABOUT_A_SECOND


@with_vendor("vidu")
@pytest.mark.usefixtures("long_polls")
def test_a_replayed_old_signed_vidu_payload_is_refused(api, vendor, gateway, tenant):
    task = created(api, vendor.spec.model)
    other = created(api, vendor.spec.model)
    vendor.sim.advance(task.vendor_task_id, "processing")
    [genuine] = vendor.sim.wait_for_callbacks(1)
    assert genuine.status == 200
    before = unchanged(task)
    assert before[0] == "in_progress"

    # The signature covers the path: the same request sent to another task's callback URL fails.
    answer = httpx.post(gateway + callback_url(other), content=genuine.body, headers=genuine.headers)
    assert answer.status_code == 401

    # Ten minutes later the captured request is replayed, as it was and with a "failed" body.
    failed = json.dumps({**genuine.json(), "state": "failed", "err_code": "CreationPolicyViolation"}).encode()
    with time_machine.travel(timezone.now() + timedelta(minutes=10), tick=True):
        for body in (genuine.body, failed):
            answer = httpx.post(genuine.url, content=body, headers=genuine.headers)
            assert answer.status_code == 401 and "replay" in answer.text
    assert unchanged(task) == before
    tenant.refresh_from_db()
    assert task.ledger.filter(kind__in=["capture", "release"]).count() == 0


@with_vendor("kling", "vidu")
@pytest.mark.usefixtures("long_polls")
def test_the_vendor_retrying_a_callback_for_a_finished_task_gets_200_and_nothing_changes(api, vendor, gateway):
    task = created(api, vendor.spec.model)
    vendor.sim.advance(task.vendor_task_id, vendor.spec.done)
    task, _ = wait_until_finished(task)
    assert task.status == "completed"
    [callback] = vendor.sim.wait_for_callbacks(1)
    done = (task.status, task.finished_at, task.amount_charged, task.ledger.count(), queries(vendor))
    answer = httpx.post(callback.url, content=callback.body, headers=callback.headers)
    assert answer.status_code == 200
    task.refresh_from_db()
    assert (task.status, task.finished_at, task.amount_charged, task.ledger.count(), queries(vendor)) == done


PATH = "/callbacks/video_abc/tok"
URL = "https://gateway.example" + PATH
BODY = json.dumps({"id": "801", "state": "success", "creations": [{"url": "https://v.example/1.mp4"}]}).encode()
MD5 = base64.b64encode(hashlib.md5(BODY).digest()).decode()


@pytest.mark.parametrize(
    "signing, body, path, error",
    [
        ({}, BODY, PATH, None),
        ({"extra": {"Content-MD5": MD5}}, BODY, PATH, None),
        ({"key": "vda_other"}, BODY, PATH, "does not match"),
        ({}, BODY, "/callbacks/video_xyz/tok", "does not match"),
        ({"age": 600}, BODY, PATH, "replay"),
        ({"age": -600}, BODY, PATH, "replay"),
        ({"extra": {"Content-MD5": MD5}}, BODY.replace(b"success", b"failed"), PATH, "Content-MD5"),
        ({}, BODY.replace(b'"801"', b'"802"'), PATH, "is about task"),
        (None, BODY, PATH, "hmac-sha256"),
    ],
)
def test_vidu_verify_callback(signing, body, path, error):
    """Signed as sent to URL, with the task's key, now (unless ``signing`` says otherwise)."""
    if signing is None:
        headers = {"Date": formatdate(usegmt=True)}
    else:
        date = formatdate(time.time() - signing.get("age", 0), usegmt=True)
        headers = ViduSimulator.signature(URL, signing.get("key", "vda_test"), date=date, extra=signing.get("extra"))
    ctx, ref = CallContext(base_url="", credentials="vda_test"), TaskRef("801", "viduq1", {})
    if error is None:
        result = vidu.verify_callback(headers, body, "POST", path, "", ctx, ref)
        assert (result.status, result.result_url) == (COMPLETED, "https://v.example/1.mp4")
    else:
        with pytest.raises(CallbackRejected, match=error):
            vidu.verify_callback(headers, body, "POST", path, "", ctx, ref)


def test_vidu_verify_callback_without_an_id_in_the_payload():
    """The EN docs' example has no ``id``: the signed path names the task."""
    body = json.dumps({"state": "failed", "err_code": "CreationPolicyViolation", "creations": []}).encode()
    ctx, ref = CallContext(base_url="", credentials="vda_test"), TaskRef("801", "viduq1", {})
    result = vidu.verify_callback(ViduSimulator.signature(URL, "vda_test"), body, "POST", PATH, "", ctx, ref)
    assert (result.status, result.moderation) == (FAILED, True)


# --- MiniMax checks the callback URL before it takes the job ---------------------------------------


@with_vendor("minimax")
def test_minimax_challenge_is_answered_while_the_create_is_in_flight(api, vendor, gateway):
    task = created(api, vendor.spec.model)
    [(url, status, answer)] = vendor.sim.challenges
    assert url == gateway + callback_url(task) and status == 200 and set(answer) == {"challenge"}


@with_vendor("minimax")
def test_minimax_refuses_a_callback_url_that_does_not_answer_its_challenge(api, vendor, gateway, settings, tenant):
    settings.GATEWAY_PUBLIC_URL = f"{gateway}/nowhere"  # a URL that answers 404
    response = api.post("/v1/videos", {"model": vendor.spec.model, "prompt": "p"}, format="json")
    assert response.status_code == 400 and "fail to check callback url" in response.json()["error"]["message"]
    [(_, status, _)] = vendor.sim.challenges
    assert status == 404
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD  # released


# --- callbacks off, lost, or not offered: polling -----------------------------------------------


@with_vendor()
def test_without_a_public_url_no_callback_url_is_sent(api, vendor, settings):
    settings.GATEWAY_PUBLIC_URL = ""
    task = created(api, vendor.spec.model)
    assert "callback_url" not in create_body(vendor)
    assert task.callback_token == ""
    assert task.next_poll_at - task.submitted_at == timedelta(seconds=vendor.adaptor.poll_interval)
    assert getattr(vendor.sim, "challenges", []) == []
    assert drive(task).learned_by == "poll"


@with_vendor("kling")
def test_the_gateways_callback_url_replaces_a_clients(api, vendor, settings):
    settings.GATEWAY_PUBLIC_URL = "https://gateway.example/"
    task = created(api, vendor.spec.model, metadata={"callback_url": "https://client.example/hook"})
    assert create_body(vendor)["callback_url"] == f"https://gateway.example{callback_url(task)}"


def test_a_vendor_that_does_not_call_back_gets_no_callback_url(api, sora, settings):
    settings.GATEWAY_PUBLIC_URL = "https://gateway.example"
    task = created(api, "sora-2")
    assert task.callback_token == "" and "callback_url" not in json.loads(sora.simulator.calls("POST")[0].body)


@with_vendor("kling")
def test_a_lost_callback_is_caught_by_the_polls_which_back_off_further(api, vendor, settings):
    settings.GATEWAY_PUBLIC_URL = "https://gateway.invalid"  # the vendor cannot reach it
    task = created(api, vendor.spec.model)
    assert vendor.adaptor.poll_interval == 10
    assert task.next_poll_at - task.submitted_at == timedelta(seconds=60)  # 6 x Kling's 10 s
    polled = VideoTask(callback_token="", poll_count=3, channel=vendor)
    called_back = VideoTask(callback_token="t", poll_count=3, channel=vendor)
    assert services._backoff(called_back) == services._backoff(polled) * 6
    assert services._backoff(VideoTask(callback_token="t", poll_count=10, channel=vendor)) == timedelta(minutes=5)
    vendor.sim.lose_callbacks = True
    vendor.sim.advance(task.vendor_task_id, "succeed")
    task = drive(task)
    assert task.status == "completed" and task.learned_by == "poll"


# --- the staff page --------------------------------------------------------------------------------


@with_vendor("kling")
@pytest.mark.usefixtures("long_polls")
def test_the_staff_task_page_shows_how_the_outcome_was_learned(api, vendor, gateway):
    task = created(api, vendor.spec.model)
    staff = signed_in(get_user_model().objects.create_user("operator", password="pw-operator-1", is_staff=True))
    page = staff.get(f"/staff/tasks/{task.public_id}/").content.decode()
    assert "a callback URL was sent" in page and task.callback_token not in page
    assert '<dd id="learned-by">—</dd>' in page
    vendor.sim.advance(task.vendor_task_id, "succeed")
    assert wait_until_finished(task)[0].status == "completed"
    page = staff.get(f"/staff/tasks/{task.public_id}/").content.decode()
    assert '<dd id="learned-by">callback</dd>' in page
