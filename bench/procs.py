"""The processes a benchmark run starts, and what /proc says about them.

Everything started here runs in its own session (process group) and is remembered with every
descendant seen, so ``stop()`` ends all of it even if a parent died first. Only 127.0.0.1 ports.
"""

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")
PG = {"host": "127.0.0.1", "port": "5432", "user": "postgres"}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- /proc ------------------------------------------------------------------------------------


def _stat(pid):
    """(ppid, utime + stime in ticks, start time) of a process, or None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # after "pid (comm) "; comm may hold spaces
    return int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[19])


def children(pid):
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            stat = _stat(entry.name)
            if stat and stat[0] == pid:
                found.append(int(entry.name))
    return found


def descendants(pid):
    found, todo = [], [pid]
    while todo:
        kids = children(todo.pop())
        found += kids
        todo += kids
    return found


def cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def cpu_seconds(pids):
    """utime + stime of these processes, added up (seconds)."""
    return sum(stat[1] for stat in map(_stat, pids) if stat) / TICKS


def status_kib(pid, field):
    """A ``VmHWM``/``VmRSS``-like field of /proc/<pid>/status, in KiB (0 when gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def reset_peak_rss(pids):
    """Start VmHWM over at the current RSS (Linux: ``5`` to clear_refs); False where not allowed."""
    done = True
    for pid in pids:
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
        except OSError:
            done = False
    return done


# --- processes --------------------------------------------------------------------------------


class Process:
    """A child started in its own session; ``stop()`` ends it and every descendant it had."""

    def __init__(self, args, *, env=None, log=None, name=""):
        self.name = name or Path(args[1] if len(args) > 1 else args[0]).name
        self.log = log
        out = open(log, "ab") if log else subprocess.DEVNULL
        self.popen = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.pid = self.popen.pid
        self.seen = {}
        self.tree()

    def tree(self):
        """This process and its descendants alive now (remembered, with their start times, for stop())."""
        pids = [self.pid, *descendants(self.pid)] if self.popen.poll() is None else descendants(self.pid)
        for pid in pids:
            stat = _stat(pid)
            if stat:
                self.seen.setdefault(pid, stat[2])
        return pids

    def alive(self):
        return self.popen.poll() is None

    def stop(self, grace=20):
        """SIGTERM (a graceful stop, ``grace`` seconds), then SIGKILL to whatever of it is left: the
        processes seen, only while they are the same processes (pid and start time)."""
        self.tree()
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        for pid, started in self.seen.items():
            stat = _stat(pid)
            if stat and stat[2] == started:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait()

    def tail(self, lines=30):
        if not self.log or not Path(self.log).exists():
            return ""
        return "\n".join(Path(self.log).read_text(errors="replace").splitlines()[-lines:])


class Vendor(Process):
    """bench/vendor.py: the OpenAI Videos simulator in its own process."""

    def __init__(self, workdir, name, *options):
        self.stdout_path = Path(workdir) / f"{name}.url"
        log = Path(workdir) / f"{name}.log"
        args = [sys.executable, str(ROOT / "bench" / "vendor.py"), *options]
        self.popen = subprocess.Popen(
            args, cwd=ROOT, stdout=subprocess.PIPE, stderr=open(log, "ab"), start_new_session=True, text=True
        )
        self.name, self.log, self.pid, self.seen = name, log, self.popen.pid, {}
        self.tree()
        self.url = self.popen.stdout.readline().strip()
        if not self.url.startswith("http://127.0.0.1:"):
            self.stop()
            raise RuntimeError(f"the vendor simulator did not start:\n{self.tail()}")

    def stats(self):
        return httpx.get(f"{self.url}/_bench/stats", timeout=30).json()


class ScratchDatabase:
    """A PostgreSQL database for one run, dropped in ``drop()``."""

    def __init__(self, name):
        self.name = name
        self.url = f"postgres://{PG['user']}@{PG['host']}:{PG['port']}/{name}"
        subprocess.run(["createdb", "-h", PG["host"], "-p", PG["port"], "-U", PG["user"], name], check=True)

    def drop(self):
        subprocess.run(
            ["dropdb", "-h", PG["host"], "-p", PG["port"], "-U", PG["user"], "--if-exists", "--force", self.name],
            check=False,
        )


class Gateway:
    """``manage.py serve`` as production runs it: DEBUG off (GATEWAY_MODE=production), gunicorn
    gthread and the worker side in separate processes, its own GATEWAY_VAR_DIR, SQLite or a
    PostgreSQL database. Plain http on loopback, so the session cookie is not marked Secure."""

    def __init__(self, workdir, name, database_url=None):
        self.workdir = Path(workdir) / name
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database = "PostgreSQL" if database_url else "SQLite"
        keep = ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR")
        self.env = {k: v for k, v in os.environ.items() if k in keep}
        self.env.update(
            DJANGO_SETTINGS_MODULE="config.settings",
            GATEWAY_MODE="production",
            DEBUG="false",
            SECRET_KEY=secrets.token_urlsafe(48),
            ALLOWED_HOSTS="127.0.0.1,localhost",
            GATEWAY_VAR_DIR=str(self.workdir / "var"),
            SESSION_COOKIE_SECURE="false",
            CSRF_COOKIE_SECURE="false",
            SECURE_HSTS_SECONDS="0",
            PYTHONUNBUFFERED="1",
            HOME=str(self.workdir),  # gunicorn keeps its control socket under ~/.gunicorn: one per gateway
        )
        if database_url:
            self.env["DATABASE_URL"] = database_url
        self.server = None

    def ops(self, command, **arguments):
        """Run a bench/ops.py command in this gateway's environment; its JSON answer. (Each command
        bounds its own waits; the 2-hour limit only stops a hung one.)"""
        result = subprocess.run(
            [sys.executable, str(ROOT / "bench" / "ops.py"), command, json.dumps(arguments)],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=7200,
        )
        if result.returncode:
            raise RuntimeError(f"bench/ops.py {command} failed:\n{result.stderr[-3000:]}")
        return json.loads(result.stdout.strip().splitlines()[-1])

    def start(self, timeout=120):
        args = [sys.executable, "manage.py", "serve", "--port", str(self.port)]
        self.server = Process(args, env=self.env, log=self.workdir / "serve.log", name=f"serve ({self.name})")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.server.alive():
                raise RuntimeError(f"manage.py serve exited:\n{self.server.tail()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200 and len(self.web_workers()) > 0:
                    self.server.tree()
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"manage.py serve did not answer within {timeout} s:\n{self.server.tail()}")

    def web_master(self):
        for pid in children(self.server.pid):
            if "gunicorn" in cmdline(pid):
                return pid
        return None

    def web_workers(self):
        master = self.web_master()
        return children(master) if master else []

    def web_pids(self):
        """The gunicorn master and its workers: the processes that answer HTTP."""
        master = self.web_master()
        return [master, *children(master)] if master else []

    def stop(self):
        if self.server is not None:
            self.server.stop()


def find_litellm():
    """The command that starts a LiteLLM proxy here, or None: ``litellm`` on PATH, else the package
    importable by this Python (its CLI module)."""
    found = shutil.which("litellm")
    if found:
        return [found]
    probe = subprocess.run([sys.executable, "-c", "import litellm.proxy.proxy_cli"], capture_output=True)
    return [sys.executable, "-m", "litellm.proxy.proxy_cli"] if probe.returncode == 0 else None


class LiteLLM(Process):
    """A LiteLLM proxy in front of the same simulator (``sora-2`` → the vendor's ``/v1/videos``),
    started at once; ``wait_ready()`` waits for it (it takes a minute or more to import)."""

    MASTER_KEY = "sk-bench-litellm"

    def __init__(self, command, workdir, vendor_url, api_key, workers=2):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = Path(workdir) / "litellm.yaml"
        config.write_text(
            "model_list:\n"
            "  - model_name: sora-2\n"
            "    litellm_params:\n"
            "      model: openai/sora-2\n"
            f"      api_base: {vendor_url}/v1\n"
            f"      api_key: {api_key}\n"
            "general_settings:\n"
            f"  master_key: {self.MASTER_KEY}\n"
            "litellm_settings:\n"
            "  telemetry: false\n"
        )
        env = {
            **os.environ,
            "LITELLM_LOG": "ERROR",
            "LITELLM_TELEMETRY": "False",
            # its bundled model price list, not the one it would download at start: loopback only
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "PYTHONUNBUFFERED": "1",
        }
        args = [*command, "--config", str(config), "--host", "127.0.0.1", "--port", str(self.port)]
        args += ["--num_workers", str(workers)]
        super().__init__(args, env=env, log=Path(workdir) / "litellm.log", name="litellm")

    def wait_ready(self, timeout=600):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"litellm exited:\n{self.tail()}")
            try:
                if httpx.get(f"{self.url}/health/liveliness", timeout=2).status_code == 200:
                    self.tree()
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"litellm did not answer within {timeout} s:\n{self.tail()}")
