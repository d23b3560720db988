"""Request ids, request metrics, and the endpoints load balancers and Prometheus call:
``/healthz`` (the process answers), ``/readyz`` (database and worker) and ``/metrics``."""

import hmac
import os
import time
from datetime import timedelta

from django.conf import settings
from django.core.signals import request_finished
from django.db import DatabaseError
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from accounts import request_id
from videos.metrics import DatabaseCollector
from videos.models import Heartbeat

REQUESTS = Counter(
    "gateway_http_requests",
    "HTTP requests served, by route (the URL pattern), method and status.",
    ["route", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "gateway_http_request_duration_seconds",
    "Time to produce a response (a streamed body's transfer not included), by route.",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
# The poll tick beats about every second while it runs and ticks start every minute.
HEARTBEAT_STALE = timedelta(minutes=2)


class ObservabilityMiddleware:
    """First in MIDDLEWARE: gives the request its id (echoed in ``X-Request-Id``), and counts and
    times it by route."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        rid = request_id.choose(request.headers.get(request_id.HEADER, ""))
        request_id.use(rid)
        request.request_id = rid
        begun = time.monotonic()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = ("/" + match.route) if match is not None else "unmatched"
        REQUESTS.labels(route, request.method, str(response.status_code)).inc()
        REQUEST_SECONDS.labels(route).observe(time.monotonic() - begun)
        response[request_id.HEADER] = rid
        return response


def _request_done(**kwargs):
    request_id.use("")  # after the response (Django's own request log line still had the id)


request_finished.connect(_request_done, dispatch_uid="observability.request_done")


def healthz(request):
    """The process is up and serving; touches nothing else."""
    return JsonResponse({"status": "ok"})


@never_cache
def readyz(request):
    """Ready for traffic: the database answers and the poll worker's heartbeat is fresh."""
    try:
        beat = Heartbeat.objects.filter(name="poller").values_list("at", flat=True).first()
    except DatabaseError as exc:
        return JsonResponse(
            {"status": "unavailable", "reason": f"database unreachable ({type(exc).__name__})"}, status=503
        )
    if beat is None:
        return JsonResponse({"status": "unavailable", "reason": "the worker has never polled"}, status=503)
    age = (timezone.now() - beat).total_seconds()
    if age > HEARTBEAT_STALE.total_seconds():
        reason = f"the worker's last heartbeat is {int(age)} s old"
        return JsonResponse({"status": "unavailable", "reason": reason, "heartbeat_age_seconds": age}, status=503)
    return JsonResponse({"status": "ok", "heartbeat_age_seconds": age})


@never_cache
def metrics(request):
    """Prometheus exposition: a staff session or ``Authorization: Bearer <GATEWAY_METRICS_TOKEN>``.
    A wrong or unexpected Bearer token is 401; anyone else gets 404, like the staff pages."""
    refused = _refused(request)
    if refused is not None:
        return refused
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)  # every web and worker process, added up
    else:
        registry.register(_ThisProcess())
    registry.register(DatabaseCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def _refused(request):
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        token = settings.GATEWAY_METRICS_TOKEN
        if token and hmac.compare_digest(header[len("Bearer ") :].strip().encode(), token.encode()):
            return None
        response = JsonResponse({"error": "invalid metrics token"}, status=401)
        response["WWW-Authenticate"] = "Bearer"
        return response
    user = getattr(request, "user", None)
    if user is not None and user.is_active and user.is_staff:
        return None
    return HttpResponse("Not found", status=404, content_type="text/plain")


class _ThisProcess:
    """The default registry (one process: runserver, tests)."""

    def collect(self):
        return REGISTRY.collect()
