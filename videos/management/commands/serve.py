import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django_q.tasks import async_task

from videos import metrics, storage

DEMO_FILE = Path(settings.BASE_DIR) / "config" / "demo.json"
SHUTDOWN_GRACE = 15  # seconds


class Command(BaseCommand):
    help = "Apply migrations, then run the web server (gunicorn) and the django-q2 worker until interrupted."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("GATEWAY_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("GATEWAY_PORT", "8000")))
        parser.add_argument("--web-workers", type=int, default=int(os.environ.get("GATEWAY_WEB_WORKERS", "2")))
        parser.add_argument("--demo", action="store_true", help=f"Also apply {DEMO_FILE.name} (sandbox channel)")

    def handle(self, *args, **options):
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        storage.sweep_partial()  # half-written copies a killed worker left behind
        if options["demo"]:
            call_command("apply", str(DEMO_FILE))
        # Counters of every web and worker process, added up by /metrics (prometheus-client multiprocess).
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics.fresh_multiproc_dir())
        bind = f"{options['host']}:{options['port']}"
        web = subprocess.Popen(
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
                str(options["web_workers"]),
                "--threads",
                "8",
                "--timeout",
                "300",
                "--access-logfile",
                "-",
            ]
        )
        # Its own process group, so stopping it also reaches its worker processes.
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"], cwd=settings.BASE_DIR, start_new_session=True
        )
        # The scheduler first fires ~30 s after the worker starts; start polling now.
        async_task("videos.tasks.poll_tick")
        self.stdout.write(f"Gateway on http://{bind}/ (web pid {web.pid}, worker pid {worker.pid}); Ctrl-C stops both.")
        processes = (web, worker)

        def stop(*_):
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        try:
            while all(process.poll() is None for process in processes):
                time.sleep(0.5)
        finally:
            stop()
            # A poll tick may be mid-loop; the worker finishes it or, after the grace period,
            # is killed: its claimed tasks are polled again when their lease ends.
            deadline = time.monotonic() + SHUTDOWN_GRACE
            for process in processes:
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    if process is worker:
                        os.killpg(worker.pid, signal.SIGKILL)
                    else:
                        process.kill()
                    process.wait()
        if web.returncode not in (0, -signal.SIGTERM, -signal.SIGINT):
            sys.exit(1)
