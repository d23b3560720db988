"""Observability: /metrics (auth, families, multiprocess sums), /healthz and /readyz, X-Request-Id."""

import io
import logging
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.db import OperationalError
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from accounts import request_id
from accounts import services as accounts
from channels import http
from channels import metrics as channel_metrics
from channels.adaptors.base import VendorUnavailable
from tests.helpers import drive, signed_in, submit
from tests.simulators.receiver import Receiver
from videos import metrics, services
from videos.models import Heartbeat, VideoTask

TOKEN = "metrics-token-0123456789"


@pytest.fixture
def token(settings):
    settings.GATEWAY_METRICS_TOKEN = TOKEN


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user("ops", password="pw-ops-12345", is_staff=True)


def scrape(**headers):
    """/metrics with the token, as {(sample name, sorted labels): value}."""
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples, name, **labels):
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    return sum(v for (n, got), v in samples.items() if n == name and set(labels.items()) <= set(dict(got).items()))


# --- /metrics access ----------------------------------------------------------------------------


def test_metrics_refused_without_auth(db, token, users):
    assert Client().get("/metrics").status_code == 404
    assert signed_in(users["owner"]).get("/metrics").status_code == 404  # a tenant user is not staff
    wrong = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer nope")
    assert wrong.status_code == 401 and wrong["WWW-Authenticate"] == "Bearer"


def test_metrics_token_unset_means_staff_only(db, settings, staff):
    settings.GATEWAY_METRICS_TOKEN = ""
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer anything").status_code == 401
    response = signed_in(staff).get("/metrics")
    assert response.status_code == 200 and b"gateway_tasks_in_flight" in response.content


def test_metrics_allowed_with_token_and_for_staff(db, token, staff):
    assert Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200
    assert signed_in(staff).get("/metrics").status_code == 200


# --- the families after real traffic ---------------------------------------------------------------


def test_families_after_an_end_to_end_task(api, sandbox, tenant, token, settings):
    settings.GATEWAY_ALLOW_PRIVATE_URLS = True  # the receiver listens on 127.0.0.1
    before = scrape()
    with Receiver() as receiver:
        accounts.create_webhook_endpoint(tenant, url=receiver.hook_url)
        task = submit(api)
        VideoTask.objects.filter(pk=task.pk).update(next_poll_at=timezone.now() - timedelta(seconds=30))
        during = scrape()
        task = drive(task)
        failed = drive(submit(api, model="sandbox-fail"))
        services.poll_once()  # queue (and, tasks inline, deliver) the webhooks
        assert len(receiver.deliveries()) == 2
    assert (task.status, failed.status) == ("completed", "failed")
    after = scrape()

    # Requests by route and status, and their latency.
    assert (
        value(after, "gateway_http_requests_total", route="/v1/videos", method="POST", status="200")
        - value(before, "gateway_http_requests_total", route="/v1/videos", method="POST", status="200")
        == 2
    )
    assert total(after, "gateway_http_request_duration_seconds_count", route="/v1/videos") >= 2
    # In flight (from the database) while the task ran, and the poll lag of the overdue poll.
    assert value(during, "gateway_tasks_in_flight", channel="sandbox") == 1
    assert 25 <= value(during, "gateway_poll_lag_seconds") < 300
    assert value(after, "gateway_tasks_in_flight", channel="sandbox") == 0
    assert value(after, "gateway_poll_lag_seconds") == 0
    # Tasks by vendor, model and outcome, and their duration.
    for model, outcome in (("sandbox-video", "completed"), ("sandbox-fail", "failed")):
        labels = {"vendor": "sandbox", "model": model, "outcome": outcome}
        assert (
            value(after, "gateway_tasks_finished_total", **labels)
            - value(before, "gateway_tasks_finished_total", **labels)
            == 1
        )
        assert (
            value(after, "gateway_task_duration_seconds_count", **labels)
            - value(before, "gateway_task_duration_seconds_count", **labels)
            == 1
        )
    # Webhook deliveries by outcome.
    delivered = value(after, "gateway_webhook_deliveries_total", outcome="delivered")
    assert delivered - value(before, "gateway_webhook_deliveries_total", outcome="delivered") == 2
    # Ledger units by kind: the topup, both holds, the capture and the release.
    assert value(after, "gateway_ledger_units", kind="topup") == 10 * 1_000_000  # the tenant's $10
    assert value(after, "gateway_ledger_units", kind="hold") == -100_000  # two 5 s holds at 10,000/s
    assert value(after, "gateway_ledger_units", kind="release") == 50_000


def test_upstream_calls_by_vendor_kind_and_status(api, sora, token):
    before = scrape()
    task = drive(submit(api, model="sora-2", seconds="4"))
    assert task.status == "completed"
    after = scrape()
    submits = value(after, "gateway_upstream_requests_total", vendor="openai", kind="submit", status="200")
    assert submits - value(before, "gateway_upstream_requests_total", vendor="openai", kind="submit", status="200") == 1
    assert total(after, "gateway_upstream_requests_total", vendor="openai", kind="poll") > total(
        before, "gateway_upstream_requests_total", vendor="openai", kind="poll"
    )
    assert total(after, "gateway_upstream_request_duration_seconds_count", vendor="openai", kind="submit") >= 1
    assert total(after, "gateway_upstream_requests_total", kind="download") > total(
        before, "gateway_upstream_requests_total", kind="download"
    )


def test_upstream_call_that_cannot_connect_is_counted(api, db, token):
    before = scrape()
    with channel_metrics.calling("kling", "poll"), pytest.raises(VendorUnavailable):
        http.request("GET", "http://127.0.0.1:9/")  # discard port: refused
    after = scrape()
    labels = {"vendor": "kling", "kind": "poll", "status": "unreachable"}
    assert (
        value(after, "gateway_upstream_requests_total", **labels)
        - value(before, "gateway_upstream_requests_total", **labels)
        == 1
    )


# --- several processes ------------------------------------------------------------------------------

CHILD = """
import django
django.setup()
from channels import metrics as upstream
from videos import metrics
for _ in range(3):
    metrics.webhook_attempt("delivered")
upstream.observe(200, 0.2, vendor="kling", kind="poll")
"""


def test_counters_of_several_processes_add_up(db, token, tmp_path, monkeypatch):
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "config.settings"}
    for _ in range(2):
        subprocess.run([sys.executable, "-c", CHILD], cwd=django_settings.BASE_DIR, env=env, check=True, timeout=60)
    assert len(list(tmp_path.glob("*.db"))) >= 2  # one file per process and kind
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    samples = scrape()
    assert value(samples, "gateway_webhook_deliveries_total", outcome="delivered") == 6
    assert value(samples, "gateway_upstream_requests_total", vendor="kling", kind="poll", status="200") == 2
    assert value(samples, "gateway_upstream_request_duration_seconds_count", vendor="kling", kind="poll") == 2
    assert "gateway_tasks_in_flight" in {name for name, _ in samples} or value(samples, "gateway_poll_lag_seconds") == 0


def test_serve_gets_a_fresh_multiprocess_directory(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    stale = tmp_path / "prometheus" / "counter_123.db"
    stale.parent.mkdir()
    stale.write_bytes(b"old")
    path = metrics.fresh_multiproc_dir()
    assert path == tmp_path / "prometheus" and path.is_dir() and not any(path.iterdir())


# --- health ------------------------------------------------------------------------------------------


def test_healthz_needs_no_database(client):
    response = client.get("/healthz")  # no db fixture: any query would raise
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz(db, client):
    response = client.get("/readyz")
    assert response.status_code == 503 and "never polled" in response.json()["reason"]

    Heartbeat.objects.create(name="poller", at=timezone.now() - timedelta(seconds=20))
    response = client.get("/readyz")
    assert response.status_code == 200 and response.json()["status"] == "ok"

    Heartbeat.objects.filter(name="poller").update(at=timezone.now() - timedelta(minutes=10))
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable" and "heartbeat" in response.json()["reason"]


def test_readyz_without_database(db, client, monkeypatch):
    def unreachable(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(Heartbeat.objects, "filter", unreachable)
    response = client.get("/readyz")
    assert response.status_code == 503 and "database unreachable" in response.json()["reason"]


# --- X-Request-Id ----------------------------------------------------------------------------------


def test_request_id_echoed_or_generated(db, client):
    assert client.get("/healthz", HTTP_X_REQUEST_ID="trace-42.a:b").headers["X-Request-Id"] == "trace-42.a:b"
    generated = client.get("/healthz").headers["X-Request-Id"]
    assert len(generated) == 32 and generated != client.get("/healthz").headers["X-Request-Id"]
    insane = client.get("/healthz", HTTP_X_REQUEST_ID="bad id\twith <stuff>").headers["X-Request-Id"]
    assert insane != "bad id\twith <stuff>" and len(insane) == 32
    assert len(client.get("/healthz", HTTP_X_REQUEST_ID="x" * 101).headers["X-Request-Id"]) == 32
    assert client.get("/no-such-page").headers["X-Request-Id"]  # on a 404 too
    assert request_id.current() == ""  # nothing left behind once the response is closed


def test_request_id_in_the_log_lines_of_the_request(db, client):
    [console] = [
        handler
        for handler in logging.getLogger().handlers
        if any(isinstance(f, request_id.RequestIdFilter) for f in handler.filters)
    ]
    stream = io.StringIO()
    previous = console.setStream(stream)
    try:
        client.get("/no-such-page", HTTP_X_REQUEST_ID="req-in-the-log")
        logging.getLogger("gateway.test").warning("after the request")
    finally:
        console.setStream(previous)
    lines = stream.getvalue().splitlines()
    assert any("[req-in-the-log]" in line and "Not Found: /no-such-page" in line for line in lines), lines
    assert any("[-]" in line and "after the request" in line for line in lines), lines


def test_request_id_stored_on_the_task(api, sandbox):
    response = api.post(
        "/v1/videos",
        {"model": "sandbox-video", "prompt": "a cat", "seconds": "5"},
        format="json",
        HTTP_X_REQUEST_ID="client-trace-7",
    )
    assert response.status_code == 200 and response["X-Request-Id"] == "client-trace-7"
    assert VideoTask.objects.get(public_id=response.json()["id"]).request_id == "client-trace-7"

    generated = api.post("/v1/videos", {"model": "sandbox-video", "prompt": "a dog", "seconds": "5"}, format="json")
    task = VideoTask.objects.get(public_id=generated.json()["id"])
    assert task.request_id == generated["X-Request-Id"] and len(task.request_id) == 32
    staff = get_user_model().objects.create_user("ops", password="pw-ops-12345", is_staff=True)
    page = signed_in(staff).get(f"/staff/tasks/{task.public_id}/")
    assert page.status_code == 200 and task.request_id in page.content.decode()  # on the staff task page
