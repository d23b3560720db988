"""A database outage seen from outside: the gateway on PostgreSQL behind a TCP proxy that the test
cuts for a few seconds. Clients get 503 with Retry-After in their dialect's shape (never a 500);
the poll tick keeps retrying within its run and finishes the task once the database is back."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import psycopg
import pytest
from django.conf import settings
from django.db import connection

from tests.helpers import USD, start_gunicorn

OUTAGE_SECONDS = 4


class TcpProxy:
    """127.0.0.1:<port> -> PostgreSQL. ``cut()`` drops every connection and refuses new ones
    (the port is closed, as when the server is down); ``restore()`` listens again."""

    def __init__(self, target_port):
        self.target = ("127.0.0.1", target_port)
        self.port = None
        self.listener = None
        self.sockets = set()
        self.lock = threading.Lock()
        self.restore()

    def restore(self):
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port or 0))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self):
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() and stops listening (Linux)
        except OSError:
            pass
        self.listener.close()
        with self.lock:
            for sock in self.sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
            self.sockets.clear()

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets.update((client, upstream))
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, target), daemon=True).start()

    @staticmethod
    def _pipe(source, target):
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                try:
                    sock.close()
                except OSError:
                    pass


@pytest.fixture
def outage_gateway(tmp_path):
    """A real gunicorn on its own PostgreSQL database, reached through the proxy."""
    if connection.vendor != "postgresql":
        pytest.skip("the outage is staged on PostgreSQL (set DATABASE_URL)")
    params = connection.settings_dict
    admin = f"host=127.0.0.1 port={params.get('PORT') or 5432} user={params['USER']} dbname=postgres"
    name = f"gw_outage_{os.getpid()}"
    with psycopg.connect(admin, autocommit=True) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        db.execute(f'CREATE DATABASE "{name}"')
    proxy = TcpProxy(int(params.get("PORT") or 5432))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "GATEWAY_", "DJANGO_"))}
    env.update(
        DATABASE_URL=f"postgres://{params['USER']}@127.0.0.1:{proxy.port}/{name}",
        GATEWAY_VAR_DIR=str(tmp_path / "var"),
        GATEWAY_UPSTREAM_CONNECT_TIMEOUT="2",
    )

    def manage(*args, timeout=90):
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=settings.BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    manage("migrate", "--verbosity", "0")
    config = {
        "tenants": [{"name": "acme", "balance": 10 * USD}],
        "channels": [{"name": "sandbox", "vendor": "sandbox", "models": ["sandbox-video"], "options": {"delay": 3}}],
        "prices": [{"model": "sandbox-video", "per_second": 10_000}],
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    manage("apply", str(tmp_path / "config.json"))
    key = manage("issue_key", "acme").strip().splitlines()[-1]

    web, url = start_gunicorn(env, "--worker-class", "gthread", "--workers", "1", "--threads", "4")
    client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    try:
        yield client, proxy, manage, env
    finally:
        client.close()
        os.killpg(web.pid, signal.SIGKILL)
        web.wait(timeout=10)
        proxy.cut()
        with psycopg.connect(admin, autocommit=True) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def read_when_back(client, path):
    """After the outage a web thread's first request may still find its old connection dead
    (503, and Django reconnects): nothing answers 500 on the way, and 200 follows."""
    deadline = time.monotonic() + 20
    while True:
        response = client.get(path)
        assert response.status_code in (200, 503), response.text
        if response.status_code == 200:
            return response.json()
        assert time.monotonic() < deadline, "still unavailable 20 s after the database came back"
        time.sleep(0.5)


def test_clients_get_503_with_retry_after_while_the_database_is_down(outage_gateway):
    client, proxy, _, _ = outage_gateway
    created = client.post("/v1/videos", json={"model": "sandbox-video", "prompt": "a cat", "seconds": "5"})
    assert created.status_code == 200, created.text
    video_id = created.json()["id"]

    proxy.cut()
    try:
        seen = {
            "openai read": client.get(f"/v1/videos/{video_id}"),
            "openai create": client.post("/v1/videos", json={"model": "sandbox-video", "prompt": "a dog"}),
            "unified read": client.get(f"/v1/video/generations/{video_id}"),
            "kling create": client.post("/kling/v1/videos/text2video", json={"model_name": "sandbox-video"}),
            "page": httpx.get(f"{client.base_url}/tasks/", cookies={"sessionid": "a" * 32}, timeout=30),
        }
    finally:
        proxy.restore()
    for what, response in seen.items():
        assert response.status_code == 503, (what, response.status_code, response.text[:300])
        assert response.headers["Retry-After"] == "5", what
    assert seen["openai read"].json()["error"]["code"] == "service_unavailable"
    assert seen["unified read"].json()["code"] == "service_unavailable"
    assert seen["kling create"].json()["code"] == 5001

    assert read_when_back(client, f"/v1/videos/{video_id}")["id"] == video_id
    listed = client.get("/v1/videos").json()["data"]
    assert [video["id"] for video in listed] == [video_id]  # the create during the outage made nothing


def test_the_poll_tick_survives_the_outage_and_finishes_the_task(outage_gateway):
    client, proxy, manage, env = outage_gateway
    created = client.post("/v1/videos", json={"model": "sandbox-video", "prompt": "a cat", "seconds": "5"})
    video_id = created.json()["id"]
    tick = subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-c", "from videos.services import run_tick; print(run_tick(12))"],
        cwd=settings.BASE_DIR,
        env={**env, "GATEWAY_SYNC_TASKS": "true"},  # the video's copy runs inline, not on a cluster
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.5)
    proxy.cut()
    time.sleep(OUTAGE_SECONDS)
    proxy.restore()
    out, err = tick.communicate(timeout=60)
    assert tick.returncode == 0, err[-2000:]
    assert "database unavailable" in err  # it noticed, and carried on
    video = read_when_back(client, f"/v1/videos/{video_id}")
    assert video["status"] == "completed", (video, err[-2000:])
    ledger = manage("shell", "-c", "from accounts.models import Tenant; t = Tenant.objects.get(); print(t.balance)")
    assert int(ledger.strip().splitlines()[-1]) == 10 * USD - 5 * 10_000
