"""Plain helpers the test modules import: money, tenants, API and page clients, tasks, polling.

Fixtures live in the conftest.py files; everything here is an ordinary function or constant.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta

import httpx
import time_machine
from django.conf import settings
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import services as money
from accounts.models import Tenant
from videos import services
from videos.models import VideoTask

USD = 1_000_000  # units per US dollar


# --- tenants and money ------------------------------------------------------------------------


def make_tenant(name, balance):
    """A tenant topped up with ``balance`` units through the ledger."""
    tenant = Tenant.objects.create(name=name)
    if balance:
        money.topup(tenant, balance, note="test")
    tenant.refresh_from_db()
    return tenant


def ledger_sum(tenant):
    return sum(tenant.ledger.values_list("amount", flat=True))


# --- clients ----------------------------------------------------------------------------------


def client_for(api_key=None, **defaults):
    """An API client sending ``api_key`` (an ApiKey with ``.plaintext``) as a Bearer key; none without.
    ``defaults``: headers for every request, as WSGI environ names (``HTTP_X_...``)."""
    client = APIClient(**defaults)
    if api_key is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key.plaintext}")
    return client


def signed_in(user, **client_kwargs):
    """A page client with a session for ``user`` (``enforce_csrf_checks=True`` and the like pass through)."""
    client = Client(**client_kwargs)
    client.force_login(user)
    return client


def sign_in(page, live_server, username, password):
    """Sign in through the login form in a Playwright ``page`` (browser tests)."""
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()


# --- tasks ------------------------------------------------------------------------------------


def post_openai(api, **body):
    """``POST /v1/videos`` with ``body`` as JSON; the response."""
    return api.post("/v1/videos", body, format="json")


def post_unified(api, **body):
    """``POST /v1/video/generations`` with ``body`` as JSON; the response."""
    return api.post("/v1/video/generations", body, format="json")


# The names a client may give a canonical field at the top level of a create body (besides its own).
# An error about the field names it as the client did (videos.api.parsing.in_client_terms).
CLIENT_NAMES = {
    "seconds": ("duration",),
    "image": ("input_reference", "img_url", "image_url", "first_frame_url", "first_frame_image"),
    "last_frame": ("image_tail", "last_frame_url", "last_frame_image"),
    "reference_images": ("images",),
    "reference_videos": ("reference_video_urls",),
    "audio": ("audio_url", "audio_urls", "driving_audio"),
    "video": ("video_url",),
}


def as_sent(param, body):
    """``param`` (a canonical field, e.g. "seconds" or "audio[0]") as an error names it for a create
    ``body``: by the name the body gave that field ("duration", "audio_url[0]")."""
    base, rest = param, ""
    for mark in (".", "["):
        if mark in base:
            base, tail = base.split(mark, 1)
            rest = mark + tail + rest
    if base in body:
        return param
    given = [name for name in CLIENT_NAMES.get(base, ()) if name in body]
    return given[0] + rest if len(given) == 1 else param


def task_of(response):
    """The task a successful create answered with (its ``id``, or the unified route's ``task_id``)."""
    assert response.status_code in (200, 201), response.content
    body = response.json()
    return VideoTask.objects.get(public_id=body.get("id") or body["task_id"])


def submit(api, model="sandbox-video", prompt="a cat on a skateboard", seconds="5"):
    """Create a video through ``POST /v1/videos`` and return its task row."""
    response = api.post("/v1/videos", {"model": model, "prompt": prompt, "seconds": seconds}, format="json")
    assert response.status_code == 200, response.content
    return VideoTask.objects.get(public_id=response.json()["id"])


def make_task(tenant, **fields):
    """A task row written directly, without a vendor (for lists, filters and counts).

    ``fields`` are VideoTask fields (``api_key=``, ``channel=``, ``status=``, ...); the model
    defaults to ``sandbox-video`` and the deadline to an hour from now.
    """
    fields.setdefault("model", "sandbox-video")
    fields.setdefault("deadline_at", timezone.now() + timedelta(hours=1))
    return VideoTask.objects.create(tenant=tenant, **fields)


def poll_horizon():
    """How far ahead a background poller in a test looks, so tasks are due at once (vendor adaptors
    wait 10 s and more between polls): a little less than the submit grace, so a task being
    submitted meanwhile is never taken for an interrupted one."""
    return min(timedelta(minutes=5), services.submit_grace() - timedelta(seconds=10))


def drive(task_or_id, times=10):
    """Poll a task until it stops changing state (calls the worker's code directly)."""
    pk = getattr(task_or_id, "pk", task_or_id)
    with time_machine.travel(timezone.now(), tick=True) as traveller:
        for _ in range(times):
            task = VideoTask.objects.get(pk=pk)
            if not task.is_active:
                return task
            traveller.shift(120)
            services.poll_once()
    return VideoTask.objects.get(pk=pk)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fresh_install_env(tmp_path, **variables):
    """The environment of a fresh install: its own var/ directory (SQLite, media) and none of this test
    run's database or gateway settings; ``variables`` on top."""
    prefixes = ("DATABASE_URL", "SQLITE_", "GATEWAY_", "DJANGO_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(GATEWAY_VAR_DIR=str(tmp_path / "var"), **variables)
    return env


def start_serve(env, port, stdout=subprocess.PIPE):
    """``manage.py serve --demo`` (what ``./bin/start --demo`` runs) on ``port`` with one web worker, in
    its own process group; its output to ``stdout`` (a pipe, as text, by default)."""
    return subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--demo", "--port", str(port), "--web-workers", "1"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=stdout,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def start_gunicorn(env, *options):
    """A real gunicorn serving the gateway with ``env`` (its own database), on a free port, in its own
    process group; returns (process, url) once it answers. Stop it with ``os.killpg(process.pid, ...)``."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{port}", *options],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/v1/models", timeout=2)
            return process, url
        except httpx.HTTPError:
            time.sleep(0.3)
    os.killpg(process.pid, signal.SIGKILL)
    raise RuntimeError("gunicorn did not start within 60 s")


def subprocess_env(**extra):
    """The environment of a second process (a worker, ``manage.py poll``) using this test's database,
    with ``extra`` variables on top."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "SQLITE_"))}
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        env["SQLITE_PATH"] = str(db["NAME"])
    else:
        password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
        env["DATABASE_URL"] = f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    env.update(extra)
    return env
