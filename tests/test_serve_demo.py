"""First run: ``manage.py serve --demo`` (what ``./bin/start --demo`` runs) on an empty SQLite database
creates an operator and a demo member once, prints where to sign in and their passwords that one time,
and a port already in use is a one-line error naming ``--port``, before anything starts."""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest
from django.conf import settings

from tests.helpers import free_port, fresh_install_env, start_serve


def read_until_started(process):
    """The lines serve printed up to "Gateway (all) on ..."; fails if it exits first."""
    lines = []
    for line in process.stdout:
        lines.append(line.rstrip("\n"))
        if line.startswith("Gateway (all) on "):
            return lines
    process.wait()
    pytest.fail("serve exited early:\n" + "\n".join(lines))


def stop(process):
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=40)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        pytest.fail("serve did not stop within 40 s of Ctrl-C")


def wait_for(url):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            return httpx.get(f"{url}/login/", timeout=2)
        except httpx.HTTPError:
            time.sleep(0.3)
    pytest.fail(f"{url} did not answer within 60 s")


def sign_in(url, username, password):
    """Sign in through the real login form; returns the page the browser lands on."""
    with httpx.Client(base_url=url, follow_redirects=True, timeout=10) as client:
        form = client.get("/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)[1]
        data = {"username": username, "password": password, "csrfmiddlewaretoken": token}
        return client.post("/login/", data=data)


def test_demo_creates_the_users_once_and_prints_where_to_sign_in(tmp_path):
    env, port = fresh_install_env(tmp_path), free_port()
    url = f"http://127.0.0.1:{port}"
    process = start_serve(env, port)
    try:
        lines = read_until_started(process)
        wait_for(url)
        assert f"Sign in at {url}/login/ as:" in lines
        passwords = dict(re.findall(r"^  (\w+) / (\S+)  \(.*shown only this once\)$", "\n".join(lines), re.M))
        assert sorted(passwords) == ["admin", "demo"]
        assert "Set a new password with: .venv/bin/python manage.py changepassword USERNAME" in lines

        operator = sign_in(url, "admin", passwords["admin"])
        assert operator.url.path == "/staff/overview/" and "Channels" in operator.text
        member = sign_in(url, "demo", passwords["demo"])
        assert member.url.path == "/tasks/" and "Demo tenant" in member.text
    finally:
        stop(process)

    # A second start: the users exist, so no password is printed (nor changed).
    process = start_serve(env, port)
    try:
        lines = read_until_started(process)
        wait_for(url)
        output = "\n".join(lines)
        assert "  admin  (operator (staff pages); exists already, its password is not shown again)" in lines
        assert "  demo  (owner of the demo tenant; exists already, its password is not shown again)" in lines
        assert not any(password in output for password in passwords.values())
        assert sign_in(url, "demo", passwords["demo"]).url.path == "/tasks/"
    finally:
        stop(process)


def test_a_port_in_use_is_one_line_naming_port_before_anything_starts(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "manage.py", "serve", "--demo", "--port", str(port)],
            cwd=settings.BASE_DIR,
            env=fresh_install_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--port" in lines[0] and f"127.0.0.1:{port}" in lines[0], result.stderr
    assert not list(tmp_path.glob("var/*.sqlite3"))  # nothing was migrated or started


def test_a_port_freed_a_moment_later_is_waited_for():
    """Started right after a stop, the previous run's last web worker may still hold the port for a
    moment: serve tries it again for a few seconds instead of failing."""
    from videos.management.commands.serve import check_port

    taken = socket.create_server(("127.0.0.1", 0))
    port = taken.getsockname()[1]
    threading.Timer(0.5, taken.close).start()
    started = time.monotonic()
    check_port("127.0.0.1", port, patience=10)
    assert 0.4 < time.monotonic() - started < 10


def alive(pids):
    """Those of ``pids`` still running (zombies are not)."""
    running = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] != "Z":
                    running.append(pid)
        except OSError:
            pass
    return running


def children_of(pid):
    """The pids whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                if entry.isdigit() and int(stat.read().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry))
        except OSError:
            continue
    return found


def test_a_stop_leaves_no_web_process_behind_even_a_frozen_one(tmp_path):
    """Whatever of gunicorn does not stop in time (here its master and worker, frozen) is killed with
    its process group when serve stops: no worker is left holding the port."""
    env, port = fresh_install_env(tmp_path), free_port()
    process = start_serve(env, port)
    try:
        lines = read_until_started(process)
        wait_for(f"http://127.0.0.1:{port}")
        web = int(re.search(r"web pid (\d+)", lines[-1])[1])
        frozen = [web, *children_of(web)]
        assert len(frozen) >= 2  # the master and its worker
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
    finally:
        stop(process)
    deadline = time.monotonic() + 10
    while alive(frozen) and time.monotonic() < deadline:
        time.sleep(0.1)
    leftover = alive(frozen)
    for pid in leftover:  # not to leave them running after a failure
        os.kill(pid, signal.SIGKILL)
    assert leftover == []
    assert process.returncode == 0
    with socket.create_server(("127.0.0.1", port)):  # nothing holds the port
        pass
