"""The README's promise, end to end: ``manage.py serve --demo`` on an empty directory (SQLite,
ORM broker), a key from ``issue_key``, and the openai SDK completing a sandbox video through
the real web server and the real django-q2 worker."""

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from openai import OpenAI

from channels.adaptors.samples import sample_video_bytes
from tests.helpers import free_port, fresh_install_env, start_serve


@pytest.fixture
def gateway(tmp_path):
    env = fresh_install_env(tmp_path, GATEWAY_TICK_SECONDS="20")
    port = free_port()
    process = start_serve(env, port)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/v1/models", timeout=2).status_code == 401:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
        if process.poll() is not None:
            pytest.fail(f"serve exited early:\n{process.stdout.read()}")
    else:
        process.kill()
        pytest.fail("serve did not answer within 90 s")

    def manage(*args):
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=settings.BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return result.stdout.strip().splitlines()[-1]

    yield url, manage
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=40)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        pytest.fail("serve did not stop within 40 s of Ctrl-C")


def test_fresh_install_serves_a_sandbox_video_end_to_end(gateway, tmp_path):
    url, manage = gateway
    key = manage("issue_key", "demo")
    assert key.startswith("sk-")
    balance = "from accounts.models import Tenant; print(Tenant.objects.get(name='demo').balance)"
    before = int(manage("shell", "-c", balance))

    client = OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=30)
    video = client.videos.create_and_poll(model="sandbox-video", prompt="a calm sea", seconds="5", poll_interval_ms=500)
    assert video.status == "completed"
    target = tmp_path / "video.mp4"
    client.videos.download_content(video.id).write_to_file(target)
    assert target.read_bytes() == sample_video_bytes(5)
    after = int(manage("shell", "-c", balance))
    assert before - after == 5 * 10_000  # demo price: 10,000 units per second

    failed = client.videos.create_and_poll(model="sandbox-fail", prompt="x", seconds="5", poll_interval_ms=500)
    assert failed.status == "failed"
    assert int(manage("shell", "-c", balance)) == after


def test_the_demo_needs_a_role_that_migrates():
    with pytest.raises(CommandError, match="--role web or all"):
        call_command("serve", "--role", "worker", "--demo")
