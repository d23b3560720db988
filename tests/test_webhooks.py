"""Signed webhooks to tenants: the outbox written with the terminal transition, delivery by the
worker (retries, leases, one job per event), Standard Webhooks signatures as the ``openai`` SDK
verifies them, secret rotation, the SSRF guard, automatic disabling and the apply file.

Receivers are local servers (tests/simulators/receiver.py); the tests' receivers listen on
127.0.0.1, so most tests allow private URLs (``private_ok``) and the guard's own tests turn that off.
"""

import datetime as dt
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import openai
import pytest
import time_machine
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.conf import settings as django_settings
from django.db import transaction
from django.utils import timezone
from openai import OpenAI

from accounts import services as accounts
from accounts.models import AuditEntry, WebhookEndpoint
from channels import outbound
from channels.apply import ApplyError, apply_config
from channels.models import Channel, Price
from tests.helpers import make_task, submit, subprocess_env
from tests.simulators.base import Response
from tests.simulators.kling import KlingSimulator
from tests.simulators.receiver import Receiver
from videos import services, webhooks
from videos.api import openai as openai_dialect
from videos.models import VideoTask, WebhookAttempt, WebhookEvent

pytestmark = pytest.mark.django_db

CLOSED_PORT_URL = "http://127.0.0.1:9/hook"  # nothing listens on the discard port: connection refused


@pytest.fixture
def receiver():
    with Receiver() as simulator:
        yield simulator


@pytest.fixture
def private_ok(settings):
    settings.GATEWAY_ALLOW_PRIVATE_URLS = True  # the receivers listen on 127.0.0.1


@pytest.fixture
def instant_sandbox(sandbox):
    Channel.objects.filter(pk=sandbox.pk).update(options={"delay": 0})
    return sandbox


@pytest.fixture
def kling():
    with KlingSimulator(access_key="ak_test", secret_key="sk_test") as simulator:
        channel = Channel(name="kling-main", vendor="kling", base_url=simulator.url, served_models=["kling-v1-6"])
        channel.credentials = "ak_test|sk_test"
        channel.save()
        Price.objects.create(model="kling-v1-6", per_second=10_000)
        yield channel


def endpoint_for(tenant, url, **fields):
    endpoint, secret = accounts.create_webhook_endpoint(tenant, url=url, **fields)
    endpoint.secret = secret
    return endpoint


def finished_task(tenant, status=VideoTask.Status.FAILED):
    """A task (no vendor, nothing held) moved to ``status`` through the one terminal transition."""
    task = make_task(tenant)
    assert services.finish(task, status, error_code="vendor_failed", error_message="The vendor failed.")
    return task


def complete(*tasks):
    """Poll until every task is finished, with real time running (webhook timestamps are real)."""
    for _ in range(15):
        services.poll_once(now=timezone.now() + timedelta(minutes=2))
        if not VideoTask.objects.filter(pk__in=[t.pk for t in tasks], status__in=VideoTask.ACTIVE).exists():
            break
    return [VideoTask.objects.get(pk=t.pk) for t in tasks]


def sweep_all(limit=50):
    """Sweep until nothing is due now (a failing endpoint gets one event per pass)."""
    queued = 0
    for _ in range(limit):
        done = webhooks.sweep()
        if not done:
            return queued
        queued += done
    raise AssertionError("the sweep kept finding due events")


def body(request):
    return json.loads(request.body)


# --- the event and its signature --------------------------------------------------------------


def test_completed_event_is_signed_as_the_openai_sdk_verifies_it(api, instant_sandbox, tenant, receiver, private_ok):
    endpoint = endpoint_for(tenant, receiver.hook_url)
    [task] = complete(submit(api))
    assert task.status == "completed"

    [request] = receiver.deliveries()
    client = OpenAI(api_key="x")
    event = client.webhooks.unwrap(request.body, request.headers, secret=endpoint.secret)
    assert event.type == "video.completed" and event.data.id == task.public_id

    sent = body(request)
    assert set(sent) == {"id", "object", "created_at", "type", "data"}
    assert sent["object"] == "event" and sent["id"].startswith("evt_") and sent["id"] == request.headers["webhook-id"]
    assert sent["data"] == api.get(f"/v1/videos/{task.public_id}").json()  # the task as GET /v1/videos renders it
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 60
    assert request.headers["webhook-signature"].startswith("v1,") and " " not in request.headers["webhook-signature"]

    stored = WebhookEvent.objects.get()
    assert (stored.public_id, stored.status, stored.attempts, stored.last_status_code) == (
        sent["id"],
        "delivered",
        1,
        200,
    )
    assert stored.task == task and stored.delivered_at is not None and stored.last_latency_ms is not None

    # A tampered body, or another secret, is rejected.
    tampered = request.body.replace(b'"completed"', b'"failed"')
    assert tampered != request.body
    with pytest.raises(openai.InvalidWebhookSignatureError):
        client.webhooks.unwrap(tampered, request.headers, secret=endpoint.secret)
    with pytest.raises(openai.InvalidWebhookSignatureError):
        client.webhooks.unwrap(request.body, request.headers, secret=accounts.new_webhook_secret())


def test_events_for_tasks_of_every_route(api, instant_sandbox, kling, tenant, receiver, private_ok):
    endpoint_for(tenant, receiver.hook_url)
    by_openai = submit(api)
    response = api.post(
        "/v1/video/generations", {"model": "sandbox-video", "prompt": "a cat", "duration": 5}, format="json"
    )
    assert response.status_code == 201, response.content
    by_unified = VideoTask.objects.get(public_id=response.json()["id"])
    response = api.post(
        "/kling/v1/videos/text2video", {"model_name": "kling-v1-6", "prompt": "a fox", "duration": "5"}, format="json"
    )
    assert response.json()["code"] == 0, response.content
    by_kling = VideoTask.objects.get(public_id=response.json()["data"]["task_id"])
    failing = submit(api, model="sandbox-fail")
    tasks = complete(by_openai, by_unified, by_kling, failing)
    assert [t.route for t in tasks] == ["openai", "unified", "kling", "openai"]

    received = {body(r)["data"]["id"]: body(r) for r in receiver.deliveries()}
    assert len(received) == len(receiver.deliveries()) == 4
    for task in tasks:
        event = received[task.public_id]
        assert event["data"] == api.get(f"/v1/videos/{task.public_id}").json()
    assert [received[t.public_id]["type"] for t in tasks] == [
        "video.completed",
        "video.completed",
        "video.completed",
        "video.failed",
    ]
    assert received[failing.public_id]["data"]["error"]["code"] == "vendor_failed"


def test_a_cancelled_task_sends_video_cancelled(tenant, receiver, private_ok):
    endpoint_for(tenant, receiver.hook_url)
    task = finished_task(tenant, VideoTask.Status.CANCELLED)
    assert webhooks.sweep() == 1
    [request] = receiver.deliveries()
    assert body(request)["type"] == "video.cancelled"
    task.refresh_from_db()
    assert body(request)["data"]["id"] == task.public_id
    assert body(request)["data"] == openai_dialect.video_object(task)  # however the OpenAI dialect renders it


def test_only_subscribed_and_enabled_endpoints_of_the_tasks_tenant_get_events(
    api, instant_sandbox, tenant, other_tenant, receiver, private_ok
):
    endpoint_for(tenant, f"{receiver.url}/failures", events=["video.failed"])
    endpoint_for(tenant, f"{receiver.url}/all")
    endpoint_for(tenant, f"{receiver.url}/paused", enabled=False)
    endpoint_for(other_tenant, f"{receiver.url}/other-tenant")
    complete(submit(api), submit(api, model="sandbox-fail"))
    got = sorted((r.path, body(r)["type"]) for r in receiver.deliveries())
    assert got == [("/all", "video.completed"), ("/all", "video.failed"), ("/failures", "video.failed")]


# --- the outbox -----------------------------------------------------------------------------


def test_events_are_written_with_the_transition_and_only_by_it(tenant, receiver, private_ok):
    endpoint_for(tenant, receiver.hook_url)
    task = make_task(tenant)
    with pytest.raises(RuntimeError), transaction.atomic():
        services.finish(task, VideoTask.Status.FAILED, error_code="vendor_failed")
        assert WebhookEvent.objects.count() == 1
        raise RuntimeError("the transaction of the transition rolls back")
    assert WebhookEvent.objects.count() == 0 and VideoTask.objects.get(pk=task.pk).is_active

    assert services.finish(task, VideoTask.Status.FAILED, error_code="vendor_failed")
    assert not services.finish(task, VideoTask.Status.FAILED, error_code="vendor_failed")  # already finished
    assert WebhookEvent.objects.count() == 1


def test_the_request_path_only_writes_the_event_the_worker_sends_it(api, instant_sandbox, tenant, receiver, private_ok):
    endpoint_for(tenant, receiver.hook_url)
    response = api.post("/v1/videos", {"model": "sandbox-video", "prompt": "[reject] this"}, format="json")
    assert response.status_code == 400  # failed during the create request: finish() ran on the request path
    event = WebhookEvent.objects.get()
    assert event.type == "video.failed" and event.status == "pending" and receiver.deliveries() == []
    assert webhooks.sweep() == 1
    [request] = receiver.deliveries()
    assert body(request)["data"]["error"]["code"] == "content_moderation"


# --- retries ---------------------------------------------------------------------------------


def test_500_twice_then_200_delivers_on_the_third_attempt_with_one_webhook_id(tenant, receiver, private_ok):
    endpoint = endpoint_for(tenant, receiver.hook_url)
    receiver.fail_next(500, {"error": "receiver busy"}, times=2)
    finished_task(tenant)
    event = WebhookEvent.objects.get()
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        assert webhooks.sweep() == 1
        event.refresh_from_db()
        assert (event.status, event.attempts, event.last_status_code) == ("pending", 1, 500)
        assert "receiver busy" in event.last_error
        first_wait = (event.next_attempt_at - timezone.now()).total_seconds()
        assert 4 <= first_wait <= 6  # a receiver's brief hiccup costs seconds
        endpoint.refresh_from_db()
        assert endpoint.failing_since == timezone.now()

        assert webhooks.sweep() == 0  # not due yet
        traveller.shift(first_wait + 1)
        assert webhooks.sweep() == 1
        event.refresh_from_db()
        second_wait = (event.next_attempt_at - timezone.now()).total_seconds()
        assert event.attempts == 2 and 24 <= second_wait <= 36
        traveller.shift(second_wait + 1)
        assert webhooks.sweep() == 1

    event.refresh_from_db()
    assert (event.status, event.attempts, event.last_status_code, event.next_attempt_at) == ("delivered", 3, 200, None)
    deliveries = receiver.deliveries()
    assert len(deliveries) == 3
    assert {r.headers["webhook-id"] for r in deliveries} == {event.public_id}
    assert len({r.headers["webhook-timestamp"] for r in deliveries}) == 3  # each attempt signs its own time
    assert [a.status_code for a in event.attempt_log.all()] == [500, 500, 200]
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None  # a success ends the failing streak


def test_a_redirect_is_a_failure_and_is_not_followed(tenant, receiver, private_ok):
    endpoint_for(tenant, receiver.hook_url)
    receiver.serve_next(Response(302, b"", {"Location": "/elsewhere"}))
    finished_task(tenant)
    assert webhooks.sweep() == 1
    event = WebhookEvent.objects.get()
    assert (event.status, event.last_status_code) == ("pending", 302)
    assert "redirects are not followed" in event.last_error
    assert [r.path for r in receiver.deliveries()] == ["/hook"]  # /elsewhere would have answered 200


def test_retries_back_off_and_stop_after_the_retry_window(tenant, private_ok, settings):
    settings.GATEWAY_WEBHOOK_DISABLE_DAYS = 30  # this test is about the event, not the endpoint
    endpoint_for(tenant, CLOSED_PORT_URL)
    finished_task(tenant)
    event = WebhookEvent.objects.get()
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        for _ in range(60):
            sweep_all()
            event.refresh_from_db()
            if event.status != "pending":
                break
            traveller.move_to(event.next_attempt_at)
    assert event.status == "failed" and event.next_attempt_at is None
    assert "connection failed" in event.last_error
    times = [a.at for a in event.attempt_log.all()]
    waits = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
    assert 4 <= waits[0] <= 6 and 24 <= waits[1] <= 36 and 96 <= waits[2] <= 144  # quick first, then growing
    assert max(waits) <= max(webhooks.RETRY_DELAYS) * (1 + webhooks.JITTER)  # growing up to a cap
    window = timedelta(hours=django_settings.GATEWAY_WEBHOOK_RETRY_HOURS)
    assert times[-1] == event.created_at + window  # the last attempt is at the window's end ...
    assert times[-2] < event.created_at + window  # ... and none after it
    assert len(times) == event.attempts < 30


def test_an_endpoint_failing_for_days_is_disabled_and_says_why(tenant, private_ok):
    endpoint = endpoint_for(tenant, CLOSED_PORT_URL)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        finished_task(tenant)
        sweep_all()
        endpoint.refresh_from_db()
        assert endpoint.enabled and endpoint.failing_since == start
        traveller.shift(timedelta(days=3) - timedelta(minutes=1))
        finished_task(tenant)
        sweep_all()
        endpoint.refresh_from_db()
        assert endpoint.enabled  # failing for less than three days
        traveller.shift(timedelta(minutes=2))
        finished_task(tenant)
        sweep_all()
    endpoint.refresh_from_db()
    assert not endpoint.enabled
    assert (
        endpoint.disabled_reason.startswith("Disabled automatically")
        and "connection failed" in endpoint.disabled_reason
    )

    # A disabled endpoint gets no new events, and its pending ones wait for it to be enabled again.
    pending = WebhookEvent.objects.filter(status="pending").count()
    finished_task(tenant)
    assert WebhookEvent.objects.count() == 3 and pending > 0
    with time_machine.travel(timezone.now() + timedelta(hours=1), tick=False):
        assert webhooks.sweep() == 0


# --- workers -----------------------------------------------------------------------------------


def wait_for(condition, seconds, what, process=None):
    deadline = time.monotonic() + seconds
    while not condition():
        if process is not None and process.poll() is not None:
            pytest.fail(f"the worker exited before {what}:\n{process.stdout.read().decode()}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {seconds} s")
        time.sleep(0.05)


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_delivery_loses_no_event(tenant, receiver, settings):
    settings.GATEWAY_ALLOW_PRIVATE_URLS = True
    endpoint_for(tenant, receiver.hook_url)
    receiver.fail_next(200, delay=30)  # the first delivery hangs: the worker is killed meanwhile
    finished_task(tenant)
    event = WebhookEvent.objects.get()

    # A real worker process sweeps (the delivery job runs inline there) and is killed mid-request.
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-c", "from videos import webhooks; webhooks.sweep()"],
        cwd=django_settings.BASE_DIR,
        env=subprocess_env(GATEWAY_ALLOW_PRIVATE_URLS="true", GATEWAY_SYNC_TASKS="true", GATEWAY_WEBHOOK_TIMEOUT="60"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: receiver.deliveries(), 60, "the worker's request", worker)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        worker.stdout.close()

    event.refresh_from_db()
    assert (event.status, event.attempts, event.last_latency_ms) == ("pending", 1, None)
    assert event.next_attempt_at > timezone.now()  # the dead worker's lease
    assert webhooks.sweep() == 0  # nobody takes it while the lease lasts ...
    with time_machine.travel(event.next_attempt_at + timedelta(seconds=1), tick=False):
        assert webhooks.sweep() == 1  # ... then the next sweep does
    event.refresh_from_db()
    assert (event.status, event.attempts, event.last_status_code) == ("delivered", 2, 200)
    assert [r.headers["webhook-id"] for r in receiver.deliveries()] == [event.public_id] * 2
    assert WebhookAttempt.objects.count() == 1  # the killed attempt never reported back


@pytest.mark.django_db(transaction=True)
def test_a_dead_endpoint_does_not_delay_another_tenants_delivery(tenant, other_tenant, settings):
    settings.GATEWAY_ALLOW_PRIVATE_URLS = True
    settings.GATEWAY_SYNC_TASKS = False  # queued for the real worker cluster below
    with Receiver() as dead, Receiver() as alive:
        endpoint_for(tenant, dead.hook_url)
        endpoint_for(other_tenant, alive.hook_url)
        dead.fail_next(200, delay=40)  # hangs past the timeout
        finished_task(tenant)  # the dead endpoint's event is due first
        finished_task(other_tenant)
        started = time.monotonic()
        assert webhooks.sweep() == 2  # queued as two jobs; the sweep waits on no receiver
        assert time.monotonic() - started < 5 and dead.deliveries() == alive.deliveries() == []

        cluster = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=django_settings.BASE_DIR,
            env=subprocess_env(
                GATEWAY_ALLOW_PRIVATE_URLS="true",
                GATEWAY_WEBHOOK_TIMEOUT="30",
                GATEWAY_WORKERS="3",
                GATEWAY_TICK_SECONDS="0",
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_for(lambda: dead.deliveries() and alive.deliveries(), 60, "both deliveries", cluster)
            delivered = WebhookEvent.objects.filter(endpoint__tenant=other_tenant, status="delivered")
            wait_for(delivered.exists, 10, "the live endpoint's delivery", cluster)
            hanging = WebhookEvent.objects.get(endpoint__tenant=tenant)
            assert hanging.status == "pending" and hanging.last_latency_ms is None  # still waiting on its receiver
        finally:
            os.killpg(cluster.pid, signal.SIGKILL)
            cluster.wait(timeout=10)
            cluster.stdout.close()


# --- rotation --------------------------------------------------------------------------------


def test_rotation_signs_with_both_secrets_for_24_hours_then_only_the_new_one(tenant, receiver, private_ok):
    endpoint = endpoint_for(tenant, receiver.hook_url)
    old = endpoint.secret
    new = accounts.rotate_webhook_secret(endpoint)
    assert new != old and accounts.is_webhook_secret(new)
    overlap_end = endpoint.previous_secret_expires_at
    assert abs((overlap_end - timezone.now()) - timedelta(hours=24)) < timedelta(minutes=1)
    client = OpenAI(api_key="x")

    for moment in (timezone.now(), overlap_end - timedelta(minutes=1)):
        with time_machine.travel(moment, tick=False):
            finished_task(tenant)
            assert webhooks.sweep() == 1
            request = receiver.deliveries()[-1]
            assert len(request.headers["webhook-signature"].split(" ")) == 2
            for secret in (old, new):
                client.webhooks.unwrap(request.body, request.headers, secret=secret)

    with time_machine.travel(overlap_end + timedelta(seconds=1), tick=False):
        finished_task(tenant)
        assert webhooks.sweep() == 1
        request = receiver.deliveries()[-1]
        assert len(request.headers["webhook-signature"].split(" ")) == 1
        client.webhooks.unwrap(request.body, request.headers, secret=new)
        with pytest.raises(openai.InvalidWebhookSignatureError):
            client.webhooks.unwrap(request.body, request.headers, secret=old)


# --- the SSRF guard ------------------------------------------------------------------------------


def test_private_and_loopback_urls_are_not_delivered_to(tenant, receiver, settings):
    settings.GATEWAY_ALLOW_PRIVATE_URLS = False
    port = receiver.server.server_address[1]
    # Saved while private URLs were allowed (or pointing elsewhere then): checked again at delivery.
    endpoint_for(tenant, receiver.hook_url)
    endpoint_for(tenant, f"http://localhost:{port}/hook")  # a name that resolves to 127.0.0.1
    finished_task(tenant)
    assert sweep_all() == 2
    assert receiver.deliveries() == []
    for event in WebhookEvent.objects.all():
        assert event.status == "pending" and event.attempts == 1 and event.last_status_code is None
        assert "private or local address (127.0.0.1)" in event.last_error

    settings.GATEWAY_ALLOW_PRIVATE_URLS = True  # the same events, allowed: delivered on their retry
    with time_machine.travel(timezone.now() + timedelta(seconds=10), tick=False):
        sweep_all()
    assert len(receiver.deliveries()) == 2
    assert {r.headers["host"] for r in receiver.deliveries()} == {f"127.0.0.1:{port}", f"localhost:{port}"}


def test_the_guard_refuses_private_addresses_and_plain_http_in_production(settings):
    settings.GATEWAY_ALLOW_PRIVATE_URLS = False
    for url in ("http://127.0.0.1/x", "http://localhost:8000/x", "http://10.0.0.1/x", "http://[::1]/x"):
        with pytest.raises(outbound.UrlRefused) as info:
            outbound.check(url)
        assert info.value.private
    assert outbound.check("https://8.8.8.8/hook").addresses == ("8.8.8.8",)  # an address resolves offline
    settings.PRODUCTION = True
    assert "https://" in outbound.webhook_url_problem("http://8.8.8.8/hook")
    assert outbound.webhook_url_problem("https://8.8.8.8/hook") is None
    assert "private or local" in outbound.webhook_url_problem("https://localhost/hook")
    settings.GATEWAY_ALLOW_PRIVATE_URLS = True
    assert outbound.webhook_url_problem("https://localhost/hook") is None
    assert "https://" in outbound.webhook_url_problem("ftp://localhost/hook")


@pytest.fixture
def resolver(monkeypatch):
    """``hooks.example`` resolves to 127.0.0.1 (tests have no DNS); every lookup is counted."""
    lookups = []
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        lookups.append(host)
        return real("127.0.0.1" if host == "hooks.example" else host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups


def test_the_request_goes_to_the_address_checked_under_the_name(receiver, settings, resolver):
    settings.GATEWAY_ALLOW_PRIVATE_URLS = True
    port = receiver.server.server_address[1]
    with outbound.stream("POST", f"http://hooks.example:{port}/hook", timeout=5, content=b"{}") as response:
        assert response.status_code == 200
    [request] = receiver.deliveries()
    assert request.headers["host"] == f"hooks.example:{port}"
    assert resolver.count("hooks.example") == 1  # resolved once, by the check; connected to that answer


def _certificate(name):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem, key_pem


def test_tls_goes_to_the_checked_address_with_the_name_as_sni_and_certificate_host(
    tmp_path, settings, resolver, monkeypatch
):
    settings.GATEWAY_ALLOW_PRIVATE_URLS = True
    pem, key_pem = _certificate("hooks.example")
    (tmp_path / "cert.pem").write_bytes(pem)
    (tmp_path / "key.pem").write_bytes(key_pem)
    server_names = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server_tls.sni_callback = lambda sock, name, context: server_names.append(name)
    server.socket = server_tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    monkeypatch.setattr(outbound, "_ssl_context", lambda: ssl.create_default_context(cadata=pem.decode()))
    port = server.server_address[1]
    try:
        with outbound.stream("POST", f"https://hooks.example:{port}/", timeout=5, content=b"{}") as response:
            assert response.status_code == 204
        assert server_names == ["hooks.example"]
        with pytest.raises(httpx.ConnectError):  # the certificate is checked against the name in the URL
            with outbound.stream("POST", f"https://127.0.0.1:{port}/", timeout=5, content=b"{}"):
                pass
    finally:
        server.shutdown()
        server.server_close()


# --- the apply file -----------------------------------------------------------------------------


def test_apply_creates_webhooks_and_applying_twice_changes_nothing(tenant, settings):
    settings.GATEWAY_ALLOW_PRIVATE_URLS = True  # hooks.acme.test resolves nowhere (tests have no DNS)
    secret = accounts.new_webhook_secret()
    url = "https://hooks.acme.test/video"
    config = {
        "webhooks": [{"tenant": "acme", "url": url, "events": ["video.completed", "video.failed"], "secret": secret}]
    }
    assert apply_config(config) == [f"webhook acme {url}: created"]
    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.tenant, endpoint.url, endpoint.events, endpoint.enabled) == (
        tenant,
        url,
        ["video.completed", "video.failed"],
        True,
    )
    assert accounts.webhook_secret(endpoint) == secret and secret not in endpoint.secret_encrypted
    audits = AuditEntry.objects.count()

    assert apply_config(config) == [f"webhook acme {url}: unchanged"]
    again = WebhookEndpoint.objects.get()
    assert (again.updated_at, again.secret_encrypted) == (endpoint.updated_at, endpoint.secret_encrypted)
    assert AuditEntry.objects.count() == audits

    config["webhooks"][0]["events"] = ["video.failed"]
    assert apply_config(config) == [f"webhook acme {url}: updated (events)"]
    assert WebhookEndpoint.objects.get().events == ["video.failed"]

    generated = apply_config({"webhooks": [{"tenant": "acme", "url": "https://other.acme.test/"}]})
    [line] = generated
    shown = line.split("signing secret ")[1].split(" ")[0]
    assert accounts.is_webhook_secret(shown)
    assert accounts.webhook_secret(WebhookEndpoint.objects.get(url="https://other.acme.test/")) == shown


@pytest.mark.parametrize(
    "item, message",
    [
        ({"tenant": "nobody", "url": "https://hooks.acme.test/"}, "does not exist"),
        ({"tenant": "acme", "url": "https://8.8.8.8/hook", "events": ["video.done"]}, "'events' must be"),
        ({"tenant": "acme", "url": "https://8.8.8.8/hook", "secret": "whsec_short"}, "'secret' must be"),
        ({"tenant": "acme", "url": "http://127.0.0.1:8000/hook"}, "private or local address"),
        ({"tenant": "acme"}, "'url' is required"),
    ],
)
def test_apply_refuses_bad_webhooks(tenant, settings, item, message):
    settings.GATEWAY_ALLOW_PRIVATE_URLS = False
    with pytest.raises(ApplyError, match=message):
        apply_config({"webhooks": [item]})
    assert not WebhookEndpoint.objects.exists()
