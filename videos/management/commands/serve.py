"""``manage.py serve``: one machine's share of the gateway, until interrupted.

Roles (``--role``): ``web`` runs gunicorn; ``worker`` runs the django-q2 cluster (deliveries,
webhooks, the scheduled tick) and the poller (``manage.py poll``); ``all``, the default, runs both,
as on one machine. Machines share PostgreSQL, Redis (GATEWAY_QUEUE=redis) and the media directory.

Migrations: ``web`` and ``all`` apply them, one machine at a time (a PostgreSQL advisory lock);
``worker`` waits until the database has none left to apply, so it never runs against an old schema.

``--demo`` also applies config/demo.json (the demo tenant and the sandbox channel) and creates, once,
an operator and a member of the demo tenant, printing their generated passwords that one time.
A port already in use is one line naming ``--port`` and exit status 1, before anything starts (it is
tried again for a few seconds first: a restart right after a stop must not trip on the last one).

Stopping (SIGTERM or Ctrl-C): each child, the leader of its own process group, is asked to stop and
given SHUTDOWN_GRACE seconds; then its whole group is killed, so no web worker or cluster process
outlives serve.
"""

import errno
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.utils import DatabaseError, InterfaceError, OperationalError

from accounts.models import Membership, Tenant
from videos import metrics, storage

log = logging.getLogger(__name__)

DEMO_FILE = Path(settings.BASE_DIR) / "config" / "demo.json"
# Seconds the children get to stop once asked; then what is left is killed. The poller gets a little
# less for its polls in flight, so it has time to give back the tasks it claimed but did not start.
SHUTDOWN_GRACE = 15
PORT_PATIENCE = 3  # seconds a port in use is tried again before serve gives up (check_port)
POLLER_GRACE = SHUTDOWN_GRACE - 5
WEB_GRACE = SHUTDOWN_GRACE - 5  # gunicorn's --graceful-timeout: it kills a worker still busy after this
ROLES = ("all", "web", "worker")
# pg_advisory_lock key held around migrate, so machines starting together apply migrations one at a time.
MIGRATION_LOCK = 0x6761_7465_7761_79  # "gateway"
MIGRATION_WAIT_REPEAT = 30  # seconds between two "waiting for migrations" lines
# Who --demo signs in as: (username, what they are, staff, role in the demo tenant).
DEMO_TENANT = "demo"
DEMO_USERS = (
    ("admin", "operator (staff pages)", True, None),
    ("demo", f"owner of the {DEMO_TENANT} tenant", False, Membership.Role.OWNER),
)


class Command(BaseCommand):
    help = (
        "Run this machine's role until interrupted: web (gunicorn), worker (django-q2 cluster and poller) "
        "or all. Web and all apply migrations first; worker waits for them."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--role",
            choices=ROLES,
            default=os.environ.get("GATEWAY_ROLE", "all"),
            help="web: gunicorn; worker: django-q2 cluster and poller; all (default): both",
        )
        parser.add_argument("--host", default=os.environ.get("GATEWAY_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("GATEWAY_PORT", "8000")))
        parser.add_argument("--web-workers", type=int, default=int(os.environ.get("GATEWAY_WEB_WORKERS", "2")))
        parser.add_argument(
            "--migration-wait",
            type=int,
            default=int(os.environ.get("GATEWAY_MIGRATION_WAIT", "300")),
            help="worker: seconds to wait for a web machine to apply migrations before giving up",
        )
        parser.add_argument("--demo", action="store_true", help=f"Also apply {DEMO_FILE.name} (sandbox channel)")

    def handle(self, *args, **options):
        role = options["role"]
        web_role, worker_role = role in ("web", "all"), role in ("worker", "all")
        if options["demo"] and not web_role:
            raise CommandError("--demo applies the demo tenant and channel with the migrations: use --role web or all")
        bind = f"{options['host']}:{options['port']}"
        sign_in = []
        if web_role:
            check_port(options["host"], options["port"])
            with migration_lock():
                call_command("migrate", interactive=False, verbosity=0)
                if options["demo"]:
                    call_command("apply", str(DEMO_FILE))
                    sign_in = demo_sign_in(f"http://{shown_host(options['host'])}:{options['port']}/login/")
            call_command("collectstatic", interactive=False, verbosity=0)
        else:
            wait_for_migrations(options["migration_wait"])
        if worker_role:
            storage.sweep_partial()  # half-written copies a killed worker left behind
        connection.close()  # the children open their own
        # Counters of every web and worker process of this machine, added up by /metrics
        # (prometheus-client multiprocess).
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics.fresh_multiproc_dir())

        children = []  # (name, process), each process the leader of its own process group
        # Each child in its own process group, so stopping it also reaches the processes it forks
        # (gunicorn's workers, the cluster's): none outlives serve, or holds the port after it.
        if web_role:
            children.append(("web", gunicorn(bind, options["web_workers"])))
        if worker_role:
            # The poller polls due tasks from its start; the cluster runs deliveries, webhooks
            # and the scheduled tick.
            # Beside a poller the scheduled tick makes one round of claims and returns: a tick that
            # polled for GATEWAY_TICK_SECONDS would only hold the cluster up when it is stopped.
            cluster_env = {**os.environ, "GATEWAY_TICK_SECONDS": "0"}
            for name, command, env in (
                ("worker", ["qcluster"], cluster_env),
                ("poller", ["poll", "--grace", str(POLLER_GRACE)], os.environ),
            ):
                process = subprocess.Popen(
                    [sys.executable, "manage.py", *command], cwd=settings.BASE_DIR, start_new_session=True, env=env
                )
                children.append((name, process))
        pids = ", ".join(f"{name} pid {process.pid}" for name, process in children)
        where = f" on http://{bind}/" if web_role else ""
        for line in sign_in:
            self.stdout.write(line)
        self.stdout.write(f"Gateway ({role}){where} ({pids}); Ctrl-C stops it.")
        self.stdout.flush()

        stopping = []

        def stop(*_):
            if stopping:  # once: a second SIGTERM makes django-q2's cluster hang on its way out
                return
            stopping.append(True)
            for _, process in children:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        ended = []
        try:
            while not stopping:
                ended = [(name, process.returncode) for name, process in children if process.poll() is not None]
                if ended:
                    break
                time.sleep(0.5)
        finally:
            stop()
            # The poller finishes its polls in flight, the cluster its jobs; after the grace period
            # what is left is killed: the tasks it had claimed are polled again when their lease ends.
            deadline = time.monotonic() + SHUTDOWN_GRACE
            for name, process in children:
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    log.warning("The %s process did not stop within %s s; killing it", name, SHUTDOWN_GRACE)
                # Its whole group: what is still running, or what it forked and left behind (a web
                # worker stuck on its way out would hold the port).
                kill_group(process.pid)
                process.wait()
        if ended:  # a child ended on its own: say so, and exit non-zero (a supervisor restarts us)
            for name, code in ended:
                self.stderr.write(f"The {name} process exited with status {code}; stopped the others.")
            sys.exit(1)


def kill_group(pgid):
    """SIGKILL every process left in the process group ``pgid`` (none left is fine)."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def check_port(host, port, patience=PORT_PATIENCE):
    """CommandError (one line naming --port) unless gunicorn can listen on host:port: checked before
    anything starts, so a port in use is not a URL followed by gunicorn's retries. A port in use is
    tried again for ``patience`` seconds: started right after a stop, the last web worker of the
    previous run may hold its listening socket for a moment after gunicorn's master has exited."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    deadline = time.monotonic() + patience
    while True:
        try:
            with socket.create_server((host, port), family=family):  # SO_REUSEADDR, as gunicorn binds
                return
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE and time.monotonic() < deadline:
                time.sleep(0.2)
                continue
            raise CommandError(
                f"Cannot listen on {host}:{port} ({os.strerror(exc.errno) if exc.errno else exc}); "
                "start on another port with --port, "
                f"e.g. ./bin/start --port {port + 1}"
            ) from None


def shown_host(host):
    """Where a browser on this machine reaches a server listening on ``host``."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


@transaction.atomic
def create_demo_users():
    """The demo's operator and tenant member (DEMO_USERS), each created once; a user that exists
    is left as it is, except that the member joins the demo tenant if it left. Returns
    {username: password} for the users created now: the only time their passwords are known."""
    User = get_user_model()
    tenant = Tenant.objects.get(name=DEMO_TENANT)
    created = {}
    for username, _what, staff, role in DEMO_USERS:
        user = User.objects.filter(username=username).first()
        if user is None:
            password = secrets.token_urlsafe(12)
            user = User.objects.create_user(username, password=password, is_staff=staff, is_superuser=staff)
            created[username] = password
        if role is not None:
            Membership.objects.get_or_create(tenant=tenant, user=user, defaults={"role": role})
    return created


def demo_sign_in(url):
    """create_demo_users(), and the lines that say where and as whom to sign in."""
    passwords = create_demo_users()
    lines = [f"Sign in at {url} as:"]
    for username, what, _staff, _role in DEMO_USERS:
        if username in passwords:
            lines.append(f"  {username} / {passwords[username]}  ({what}; the password is shown only this once)")
        else:
            lines.append(f"  {username}  ({what}; exists already, its password is not shown again)")
    lines.append("Set a new password with: .venv/bin/python manage.py changepassword USERNAME")
    return lines


def gunicorn(bind, workers):
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            "--config",  # no Server banner; signed-link tokens kept out of the access log
            str(Path(settings.BASE_DIR) / "config" / "gunicorn_conf.py"),
            "--bind",
            bind,
            "--worker-class",
            "gthread",
            "--workers",
            str(workers),
            "--threads",
            "8",
            "--timeout",
            "300",
            "--graceful-timeout",
            str(WEB_GRACE),
            "--access-logfile",
            "-",
        ],
        start_new_session=True,
    )


@contextmanager
def migration_lock():
    """Hold PostgreSQL's advisory lock MIGRATION_LOCK (session-level, on the connection migrate uses),
    so web machines starting together apply migrations one after the other; the later ones find
    nothing left to do. SQLite is one machine: nothing to race."""
    if connection.vendor != "postgresql":
        yield
        return
    # Tried every second, never waited for in pg_advisory_lock(): a session waiting there is a
    # transaction, which a CREATE INDEX CONCURRENTLY of the machine migrating waits for (a deadlock).
    waiting = False
    while True:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [MIGRATION_LOCK])
            if cursor.fetchone()[0]:
                break
        if not waiting:
            log.info("Another machine is applying migrations; waiting for it to finish")
            waiting = True
        time.sleep(1)
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [MIGRATION_LOCK])
        except DatabaseError:
            pass  # the connection is gone, and the lock went with its session


def unapplied_migrations():
    executor = MigrationExecutor(connection)
    return [migration for migration, _ in executor.migration_plan(executor.loader.graph.leaf_nodes())]


def wait_for_migrations(timeout):
    """Return once the database has every migration of this code applied (a web or all machine
    applies them); CommandError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    said_at = None
    while True:
        try:
            pending = unapplied_migrations()
            problem = f"{len(pending)} migrations not applied yet (first: {pending[0]})" if pending else ""
        except (OperationalError, InterfaceError) as exc:
            problem = f"the database is unavailable ({str(exc).strip()})"
            connection.close()
        if not problem:
            if said_at is not None:
                log.info("Migrations applied; starting the worker")
            return
        left = deadline - time.monotonic()
        if left <= 0:
            raise CommandError(
                f"Gave up waiting for migrations after {timeout} s: {problem}. A machine started with "
                "--role web or all applies them (or run manage.py migrate)."
            )
        if said_at is None or time.monotonic() - said_at >= MIGRATION_WAIT_REPEAT:
            log.info(
                "Worker waiting for migrations: %s; a web (or all) machine applies them. Giving up in %d s.",
                problem,
                left,
            )
            said_at = time.monotonic()
        time.sleep(min(1.0, left))
