"""Many machines: two web processes (``manage.py serve --role web``) and two workers (``serve --role
worker``), sharing only PostgreSQL, Redis (GATEWAY_QUEUE=redis) and the media directory, as separate
hosts would; each has its own GATEWAY_VAR_DIR. Tasks are created through both webs; one worker
machine is SIGKILLed midway (every process it started). Every task still completes, polled by one
worker at a time, completed and charged once, and the surviving worker finishes the dead one's share.

The vendor (the OpenAI simulator) records every poll: the task, when it began and ended, and which
machine sent it: each machine reaches the vendor through its own address of the simulator
(HTTP_PROXY, which httpx honours), as through a machine's own egress.
"""

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
import redis
from django.conf import settings
from django.db import connection

from accounts import services as money
from accounts.models import LedgerEntry
from channels.models import Channel, Price
from tests.helpers import USD, free_port, ledger_sum, make_tenant
from tests.simulators.base import Response
from tests.simulators.openai import OpenAISimulator
from videos.models import VideoTask

pytestmark = pytest.mark.postgres

REDIS_DB = 11  # the test's own Redis database, flushed before and after
TASKS = 12
PRICE = 4 * 100_000  # a 4-second sora-2 video at 100,000 units per second
STATES = ["queued", "in_progress", "in_progress", "completed"]  # one per poll: done at the 4th
POLL_SECONDS = 0.2  # the vendor takes this long to answer a poll, so overlapping polls would show
LEASED = 61  # seconds: a task due further ahead than any backoff (60 s at most) is under a lease
POLL_PATH = re.compile(r"^/v1/videos/(video_up\w+)$")
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@dataclass
class Poll:
    video: str  # the vendor's id of the task
    machine: str
    start: float
    end: float


class Vendor(OpenAISimulator):
    """The OpenAI simulator, reachable at one extra address per machine (``egress``); records each
    poll (GET /v1/videos/{id}) with its machine and times, and the machine of each other call."""

    def __init__(self):
        self.polls = []
        self.calls_from = []  # (method, path, machine) of every call
        self.polls_in_flight = Counter()  # polls being answered, per machine
        self.egresses = []
        super().__init__(api_key="sk-upstream-test")
        self.script = STATES

    def egress(self, machine):
        server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        server.daemon_threads = True
        server.machine = machine
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.egresses.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    def stop(self):
        for server in self.egresses:
            server.shutdown()
            server.server_close()
        super().stop()

    def list(self, request):
        """An empty list: a worker asking about many videos in one call (the adaptor's poll_many) learns
        nothing from it and polls each alone (GET /v1/videos/{id}), a call naming the task it claimed."""
        return Response(200, {"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False})

    def retrieve(self, request, video_id):
        response = super().retrieve(request, video_id)
        response.delay = POLL_SECONDS
        return response

    def _handler_class(self):
        base = super()._handler_class()
        vendor = self

        class Handler(base):
            def _recorded(self):
                machine = getattr(self.server, "machine", "direct")
                path = urlsplit(self.path).path  # through a proxy the request line holds the whole URL
                with vendor.lock:
                    vendor.calls_from.append((self.command, path, machine))
                polled = POLL_PATH.match(path) if self.command == "GET" else None
                if polled is None:
                    return base._handle(self)
                start = time.monotonic()
                with vendor.lock:
                    vendor.polls_in_flight[machine] += 1
                try:
                    base._handle(self)
                finally:
                    with vendor.lock:
                        vendor.polls_in_flight[machine] -= 1
                        vendor.polls.append(Poll(polled[1], machine, start, time.monotonic()))

            do_GET = do_POST = do_DELETE = do_HEAD = do_PUT = _recorded

        return Handler

    def polls_of(self, machine=None, since=0.0):
        with self.lock:
            return [p for p in self.polls if (machine is None or p.machine == machine) and p.start >= since]


def process_groups(pid):
    """The process groups of ``pid`` and every process under it (Linux /proc): a machine's serve,
    its gunicorn, and the django-q2 cluster and poller it started in their own groups."""
    parents, groups = {}, {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents[int(stat.parent.name)] = int(fields[1])
        groups[int(stat.parent.name)] = int(fields[2])
    tree, grew = {pid}, True
    while grew:
        below = {child for child, parent in parents.items() if parent in tree} - tree
        tree |= below
        grew = bool(below)
    return {groups[p] for p in tree if p in groups}


class Machine:
    """One ``manage.py serve --role ...`` with its own environment and log file."""

    def __init__(self, name, role, env, log_path, port=None):
        self.name, self.role, self.env, self.log_path, self.port = name, role, env, log_path, port
        self.process = None
        self.groups = set()  # every process group seen under it, to be sure to end them all

    def start(self):
        command = [sys.executable, "manage.py", "serve", "--role", self.role]
        if self.port:
            command += ["--port", str(self.port), "--web-workers", "1"]
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(
                command,
                cwd=settings.BASE_DIR,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def track(self):
        if self.process.poll() is None:
            self.groups |= process_groups(self.process.pid)
        self.groups.add(self.process.pid)

    def signal_all(self, sig):
        """Send ``sig`` to every process of the machine, at once (a machine dying, or frozen)."""
        self.track()
        for group in self.groups:
            try:
                os.killpg(group, sig)
            except ProcessLookupError:
                pass

    def text(self):
        return self.log_path.read_text(errors="replace")

    def log(self, last=4000):
        return f"--- {self.name} ({self.role}) ---\n" + self.log_path.read_text(errors="replace")[-last:]


def wait_for(condition, seconds, what, machines=()):
    deadline = time.monotonic() + seconds
    while not condition():
        for machine in machines:
            assert machine.process.poll() is None, f"{machine.name} exited early\n{machine.log()}"
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not within {seconds} s\n" + "\n".join(m.log() for m in machines))
        time.sleep(0.2)


def leased_tasks():
    """Active tasks under a poll or delivery lease: claimed by a worker that has not answered yet."""
    horizon = time.time() + LEASED
    return [
        t.public_id
        for t in VideoTask.objects.filter(status__in=VideoTask.ACTIVE)
        if t.next_poll_at is not None and t.next_poll_at.timestamp() > horizon
    ]


@pytest.fixture
def shared_redis():
    if connection.vendor != "postgresql":
        pytest.skip("several machines share one PostgreSQL server: run with DATABASE_URL=postgres://...")
    client = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("needs Redis on 127.0.0.1:6379 (the machines share its queue: GATEWAY_QUEUE=redis)")
    client.flushdb()
    yield f"redis://127.0.0.1:6379/{REDIS_DB}"
    client.flushdb()
    client.close()


@pytest.fixture
def vendor():
    with Vendor() as simulator:
        yield simulator


def database_url(name=None):
    """The URL of the test database (or of database ``name`` on its server)."""
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name or db['NAME']}"


def machine_env(tmp_path, name, **variables):
    """A machine's environment: the shared database (the test database by default), media directory
    and secrets, its own GATEWAY_VAR_DIR, and ``variables``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_URL", "SQLITE_", "DJANGO_", "REDIS_URL", "GATEWAY_", "PG_TEST"))
        and k.lower() not in PROXY_VARIABLES
    }
    for secret in ("GATEWAY_KEY_PEPPER", "GATEWAY_ENCRYPTION_KEYS"):  # keys and credentials were made with them
        if os.environ.get(secret):
            env[secret] = os.environ[secret]
    env.update(
        DATABASE_URL=database_url(),
        SECRET_KEY=settings.SECRET_KEY,
        GATEWAY_VAR_DIR=str(tmp_path / name),
        GATEWAY_MEDIA_ROOT=str(tmp_path / "media"),  # the shared filesystem
        GATEWAY_WORKERS="2",
        # The scheduled tick in a cluster polls for its whole time even once asked to stop: short, so
        # that the machines stopping at the end do not wait out their grace period.
        GATEWAY_TICK_SECONDS="5",
    )
    env.update(variables)
    return env


def answering(web):
    try:
        return httpx.get(f"{web.url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.django_db(transaction=True)  # the machines see the rows the test commits
def test_two_webs_and_two_workers_one_killed_midway(tmp_path, shared_redis, vendor):
    tenant = make_tenant("acme", 10 * USD)
    api_key, plaintext = money.issue_key(tenant, name="many machines")
    channel = Channel(name="sora", vendor="openai", base_url=vendor.url, served_models=["sora-2"])
    channel.credentials = "sk-upstream-test"
    channel.save()
    Price.objects.create(model="sora-2", per_second=100_000)

    def machine(name, role, port=None, **variables):
        # Each machine reaches the vendor through its own address of it, which tells the vendor who asks.
        env = machine_env(
            tmp_path, name, GATEWAY_QUEUE="redis", REDIS_URL=shared_redis, HTTP_PROXY=vendor.egress(name), **variables
        )
        return Machine(name, role, env, tmp_path / f"{name}.log", port)

    webs = [machine("web1", "web", free_port()), machine("web2", "web", free_port())]
    # Each worker claims at most 3 tasks a round: the first to start cannot take all 12 at once, so
    # both have a share however unevenly a loaded machine starts them.
    workers = [machine(name, "worker", GATEWAY_POLL_CONCURRENCY="3") for name in ("worker1", "worker2")]
    machines = webs + workers
    doomed, survivor = workers
    started = time.monotonic()
    try:
        for each in machines:  # all at once: the webs migrate one at a time, the workers wait for them
            each.start()

        wait_for(lambda: all(answering(web) for web in webs), 90, "both webs answering", machines)

        created = []
        for index in range(TASKS):
            web = webs[index % 2]
            response = httpx.post(
                f"{web.url}/v1/videos",
                json={"model": "sora-2", "prompt": f"task {index}", "seconds": "4"},
                headers={"Authorization": f"Bearer {plaintext}"},
                timeout=30,
            )
            assert response.status_code == 200, response.text
            created.append(response.json()["id"])
        tasks = {t.vendor_task_id: t.public_id for t in VideoTask.objects.filter(public_id__in=created)}
        assert len(tasks) == TASKS and all(tasks)
        creates = Counter(
            machine for method, path, machine in vendor.calls_from if (method, path) == ("POST", "/v1/videos")
        )
        assert creates == {"web1": TASKS // 2, "web2": TASKS // 2}

        # Midway: once each worker has polled, and the doomed one has tasks left to finish, kill that
        # machine. Frozen first (SIGSTOP), and killed only while it holds no lease (no poll of its
        # in flight, no task claimed, no delivery in progress), so its share is finished within the
        # test's time rather than after a two-minute lease; otherwise it runs on and we try again.
        def active_share():
            done = VideoTask.objects.filter(public_id__in=created, vendor_completed_at__isnull=False)
            done = set(done.values_list("vendor_task_id", flat=True))
            return {p.video for p in vendor.polls_of(doomed.name)} - done

        wait_for(
            lambda: len(active_share()) >= 2 and vendor.polls_of(survivor.name),
            60,
            "both workers polling",
            machines,
        )
        killed_at = None
        deadline = time.monotonic() + 30
        while killed_at is None:
            assert time.monotonic() < deadline, "no moment without a lease of the doomed worker in 30 s"
            doomed.signal_all(signal.SIGSTOP)
            time.sleep(2 * POLL_SECONDS)  # the survivor's polls in flight are answered and recorded
            share = active_share()
            if vendor.polls_in_flight[doomed.name] == 0 and not leased_tasks() and share:
                killed_at = time.monotonic()
                doomed.signal_all(signal.SIGKILL)
            else:
                doomed.signal_all(signal.SIGCONT)
                time.sleep(0.3)
        doomed.process.wait(timeout=10)

        wait_for(
            lambda: VideoTask.objects.filter(public_id__in=created, status=VideoTask.Status.COMPLETED).count() == TASKS,
            60,
            "every task completed",
            webs + [survivor],
        )
        elapsed = time.monotonic() - started

        # Polled by one worker at a time: no two polls of a task overlap.
        by_task = defaultdict(list)
        for poll in vendor.polls_of():
            by_task[poll.video].append(poll)
        assert set(by_task) == set(tasks)
        for video, polls in by_task.items():
            polls.sort(key=lambda p: p.start)
            for earlier, later in zip(polls, polls[1:], strict=False):
                assert later.start >= earlier.end, f"two polls of {tasks[video]} overlap: {earlier} {later}"
            assert len(polls) >= len(STATES), (video, polls)
        # The dead machine's share was finished by the survivor, and nothing of it ran after the kill.
        assert not vendor.polls_of(doomed.name, since=killed_at)
        assert {p.machine for p in vendor.polls_of()} == {doomed.name, survivor.name}  # webs do not poll
        survivor_after = {p.video for p in vendor.polls_of(survivor.name, since=killed_at)}
        assert share and share <= survivor_after, (share, survivor_after)

        # Completed once, charged once: one hold and one capture per task, no release; the balance exact.
        for task in VideoTask.objects.filter(public_id__in=created):
            kinds = Counter(task.ledger.values_list("kind", flat=True))
            assert kinds == {LedgerEntry.Kind.HOLD: 1, LedgerEntry.Kind.CAPTURE: 1}, (task.public_id, kinds)
            assert task.result_bytes == len(vendor.video_bytes)
            assert (tmp_path / "media" / task.result_file).stat().st_size == task.result_bytes  # the shared media
        tenant.refresh_from_db()
        assert tenant.balance == 10 * USD - TASKS * PRICE
        assert ledger_sum(tenant) == tenant.balance

        # A web serves the copy a worker stored (shared media directory).
        video = httpx.get(
            f"{webs[1].url}/v1/videos/{created[0]}/content",
            headers={"Authorization": f"Bearer {plaintext}"},
            timeout=30,
        )
        assert video.status_code == 200 and video.content == vendor.video_bytes
        print(f"{TASKS} tasks on 2 webs and 2 workers, one killed: all completed in {elapsed:.1f} s")

        # The others stop gracefully: SIGTERM, children finish, exit 0.
        for each in webs + [survivor]:
            each.track()
            each.process.send_signal(signal.SIGTERM)
        for each in webs + [survivor]:
            assert each.process.wait(timeout=40) == 0, each.log()
    finally:
        for each in machines:
            if each.process is not None:
                each.signal_all(signal.SIGKILL)
                each.process.wait(timeout=10)


def test_machines_started_together_on_an_empty_database_migrate_once(tmp_path):
    """A worker started first waits for the migrations (and gives up when told to wait too little); two
    web machines started together apply them, one after the other (PostgreSQL advisory lock); the
    worker then starts. Every migration is recorded once, and every machine stops cleanly."""
    if connection.vendor != "postgresql":
        pytest.skip("several machines share one PostgreSQL server: run with DATABASE_URL=postgres://...")
    name = f"gw_machines_{os.getpid()}"
    server = database_url("postgres")
    with psycopg.connect(server, autocommit=True) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        db.execute(f'CREATE DATABASE "{name}"')

    def machine(name_, role, port=None, **variables):
        env = machine_env(tmp_path, name_, DATABASE_URL=database_url(name), GATEWAY_WORKERS="1", **variables)
        return Machine(name_, role, env, tmp_path / f"{name_}.log", port)

    impatient = machine("impatient", "worker", GATEWAY_MIGRATION_WAIT="2")
    worker = machine("worker", "worker")
    webs = [machine("web1", "web", free_port()), machine("web2", "web", free_port())]
    started = []
    try:
        started.append(impatient.start())
        assert impatient.process.wait(timeout=60) == 1, impatient.log()
        assert "Worker waiting for migrations" in impatient.text(), impatient.log()
        assert "Gave up waiting for migrations after 2 s" in impatient.text(), impatient.log()

        started.append(worker.start())
        wait_for(lambda: "Worker waiting for migrations" in worker.text(), 60, "the worker waiting", [worker])
        started.extend(web.start() for web in webs)
        wait_for(lambda: all(answering(web) for web in webs), 120, "both webs answering", started[1:])
        wait_for(lambda: "Gateway (worker)" in worker.text(), 60, "the worker starting", started[1:])
        assert "Migrations applied; starting the worker" in worker.text()
        with psycopg.connect(database_url(name)) as db:
            rows = db.execute("SELECT app, name FROM django_migrations").fetchall()
        assert rows and len(rows) == len(set(rows))  # each applied once
        # At most one web waited for the other's migrate (none, if one started after it was done).
        assert sum("Another machine is applying migrations" in web.text() for web in webs) <= 1

        for each in started[1:]:
            each.track()
            each.process.send_signal(signal.SIGTERM)
        for each in started[1:]:
            assert each.process.wait(timeout=45) == 0, each.log()
    finally:
        for each in started:
            each.signal_all(signal.SIGKILL)
            each.process.wait(timeout=10)
        with psycopg.connect(server, autocommit=True) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
