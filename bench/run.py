"""Benchmarks: the vendor simulator called directly, the gateway, and a LiteLLM proxy, side by side.

    .venv/bin/python bench/run.py                    # everything, full sizes (6-10 minutes on an idle machine)
    .venv/bin/python bench/run.py --quick            # tiny sizes: checks that every section runs
    .venv/bin/python bench/run.py --only reads,stream --postgres

Each section prints a table with the columns simulator direct | gateway | LiteLLM and the issue's
targets beside the figures (docs/performance.md explains them):

  submit    sequential POST /v1/videos (N=200): p50/p99, what the gateway adds
  reads     GET /v1/videos/{id}: sequential p50/p99, then wrk -t2 -c32 -d10s: req/s, p50, CPU ms
            per request of the serving processes
  stream    a 1 GiB /content: first and repeat fetch, MiB/s, peak RSS of the serving process
  inflight  2,000 tasks in flight at a vendor answering each poll in 300 ms and finishing each
            video 10 s after its create: time until all are completed at the gateway, polls the
            vendor received, detection lag (vendor done -> gateway completed)
  lists     PostgreSQL, 1,000,000 task rows, a tenant with 100,000: p95 of a status read, the first
            list page, a page 90,000 rows deep, the dashboard task list and its live refresh

The gateway runs as in production: ``manage.py serve`` (gunicorn gthread and the worker, separate
processes) with GATEWAY_MODE=production (DEBUG off) in a temporary GATEWAY_VAR_DIR, on SQLite, or
on a scratch PostgreSQL database with --postgres (the lists section always uses PostgreSQL). The
vendor is bench/vendor.py (tests/simulators' OpenAI simulator) in its own process. LiteLLM is used
when ``litellm`` is on PATH or importable, or given with --litellm (``pip install 'litellm[proxy]'``
in a venv of its own), else its column says "not installed". Everything listens on 127.0.0.1; every
process and scratch database is removed at the end, also on Ctrl-C and SIGTERM. A section that fails
is reported and the others still run; the exit status is then 1.
"""

import argparse
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import load, procs  # noqa: E402
from bench.vendor import API_KEY, BIG_PROMPT  # noqa: E402

SECTIONS = ("submit", "reads", "stream", "inflight", "lists")
MIB = 1024 * 1024

FULL = {
    "submits": 200,
    "read_seconds": 10,
    "connections": 32,
    "stream_mib": 1024,
    "inflight": 2000,
    "poll_latency": 0.3,
    "complete_after": 10.0,
    "inflight_timeout": 1200,
    "rows": 1_000_000,
    "tenant_rows": 100_000,
    "depth": 90_000,
    "list_requests": 100,
}
QUICK = {
    "submits": 20,
    "read_seconds": 2,
    "connections": 32,
    "stream_mib": 64,
    "inflight": 40,
    "poll_latency": 0.3,
    "complete_after": 3.0,
    "inflight_timeout": 150,
    "rows": 20_000,
    "tenant_rows": 2_000,
    "depth": 1_800,
    "list_requests": 20,
}
NOT_INSTALLED = "not installed"
WARMUP = 5


# --- output -----------------------------------------------------------------------------------


def table(title, rows, note=""):
    """Print ``rows`` of (label, simulator, gateway, litellm, target) under ``title``."""
    header = ("", "simulator direct", "gateway", "LiteLLM", "target")
    rows = [header, *[tuple("" if cell is None else str(cell) for cell in row) for row in rows]]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    print(f"\n{title}")
    for index, row in enumerate(rows):
        print("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        if index == 0:
            print("  " + "  ".join("-" * width for width in widths))
    if note:
        print(f"  {note}")


def ms(value):
    return "-" if value is None else f"{value:.2f}"


def verdict(ok):
    return "met" if ok else "MISSED"


def machine():
    info = {}
    try:
        cpu = Path("/proc/cpuinfo").read_text()
        info["CPU"] = next(line.split(":", 1)[1].strip() for line in cpu.splitlines() if line.startswith("model name"))
    except (OSError, StopIteration):
        info["CPU"] = platform.processor() or platform.machine()
    info["cores"] = str(os.cpu_count())
    try:
        total = next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
        info["RAM"] = f"{int(total.split()[1]) / MIB:.1f} GiB"
    except (OSError, StopIteration):
        info["RAM"] = "?"
    info["OS"] = platform.platform()
    info["Python"] = platform.python_version()
    import sqlite3

    import django
    import gunicorn

    info["Django"] = django.get_version()
    info["gunicorn"] = gunicorn.__version__
    info["SQLite"] = sqlite3.sqlite_version
    try:
        info["PostgreSQL"] = (
            subprocess.run(
                ["psql", "-h", procs.PG["host"], "-U", procs.PG["user"], "-tAc", "SHOW server_version", "postgres"],
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout.strip()
            or "not reachable"
        )
    except (OSError, subprocess.TimeoutExpired):
        info["PostgreSQL"] = "psql not found"
    info["load generator"] = (
        subprocess.run([load.WRK, "--version"], capture_output=True, text=True).stdout.split("[")[0].strip()
        if load.WRK
        else "wrk not found: Python threads"
    )
    return info


# --- the run ----------------------------------------------------------------------------------


class Run:
    """What one invocation starts, stopped and dropped in ``close()`` whatever happened."""

    def __init__(self, args, workdir):
        self.args, self.workdir = args, Path(workdir)
        self.results = {}
        self.processes = []  # stopped in reverse order
        self.databases = []
        self.fast = self.slow = self.gateway = self.key = self.litellm = None
        self.litellm_status = NOT_INSTALLED
        self.big_file = self.workdir / "big-video.mp4"

    def close(self):
        for process in reversed(self.processes):
            try:
                process.stop()
            except Exception as exc:  # keep stopping the others
                print(f"stopping {process.name}: {exc}", file=sys.stderr)
        for database in self.databases:
            database.drop()

    def track(self, process):
        self.processes.append(process)
        return process

    def scratch_database(self, label):
        database = procs.ScratchDatabase(f"bench_{label}_{os.getpid()}_{int(time.time())}")
        self.databases.append(database)
        return database

    # --- setup -----------------------------------------------------------------------------

    def start_vendors(self):
        # Its videos are done at once (by the clock: a retrieve and the list say so alike), so the
        # gateway's worker finishes the tasks of the latency sections with one poll each.
        self.fast = self.track(
            procs.Vendor(self.workdir, "vendor-fast", "--complete-after", "0", "--big-file", str(self.big_file))
        )
        if "inflight" in self.args.only:
            self.slow = self.track(
                procs.Vendor(
                    self.workdir,
                    "vendor-slow",
                    "--poll-latency",
                    str(self.args.poll_latency),
                    "--complete-after",
                    str(self.args.complete_after),
                )
            )

    def start_gateway(self):
        database_url = self.scratch_database("gateway").url if self.args.postgres else None
        gateway = procs.Gateway(self.workdir, "gateway", database_url)
        channels = [
            {
                "name": "bench-fast",
                "vendor": "openai",
                "base_url": self.fast.url,
                "credentials": API_KEY,
                "models": ["sora-2"],
                "priority": 0,
                "weight": 1,
                "enabled": True,
            },
        ]
        if self.slow:
            channels.append(
                {
                    "name": "bench-slow",
                    "vendor": "openai",
                    "base_url": self.slow.url,
                    "credentials": API_KEY,
                    "models": ["sora-2-pro"],
                    "priority": 0,
                    "weight": 1,
                    "enabled": True,
                }
            )
        config = {
            "tenants": [{"name": "bench", "display_name": "Benchmark", "balance": 10**15}],
            "channels": channels,
            "prices": [
                {"model": "sora-2", "per_second": 1, "per_video": 0},
                {"model": "sora-2-pro", "per_second": 1, "per_video": 0},
            ],
        }
        config_path = self.workdir / "apply.json"
        config_path.write_text(json.dumps(config, indent=1))
        self.key = gateway.ops("setup", config=str(config_path), tenants=["bench"])["keys"]["bench"]
        self.gateway = self.track(gateway)
        gateway.start()
        print(f"gateway: {gateway.url} on {gateway.database}, web pids {gateway.web_pids()}", flush=True)

    def start_litellm(self):
        """Start LiteLLM, if it is to run (it takes a minute or more to start: wait_litellm())."""
        if self.args.no_litellm:
            self.litellm_status = "skipped (--no-litellm)"
            return
        command = shlex.split(self.args.litellm) if self.args.litellm else procs.find_litellm()
        if command is None:
            return
        try:
            self.litellm = self.track(procs.LiteLLM(command, self.workdir, self.fast.url, API_KEY))
        except OSError as exc:
            self.litellm_status = "failed to start"
            print(f"litellm: {exc}", file=sys.stderr)

    def wait_litellm(self):
        if self.litellm is None:
            return
        try:
            self.litellm.wait_ready()
            print(f"litellm: {self.litellm.url} (pids {self.litellm.tree()})", flush=True)
        except RuntimeError as exc:  # the other columns still run
            self.litellm.stop()
            self.litellm, self.litellm_status = None, "failed to start"
            print(f"litellm: {exc}", file=sys.stderr)

    # --- helpers ---------------------------------------------------------------------------

    def gw_headers(self):
        return {"Authorization": f"Bearer {self.key}"}

    def columns(self):
        """(name, base url, headers, serving pids callable) of each column that runs."""
        cols = [
            ("simulator", self.fast.url, {"Authorization": f"Bearer {API_KEY}"}, self.fast.tree),
            ("gateway", self.gateway.url, self.gw_headers(), self.gateway.web_pids),
        ]
        if self.litellm:
            cols.append(
                (
                    "litellm",
                    self.litellm.url,
                    {"Authorization": f"Bearer {procs.LiteLLM.MASTER_KEY}"},
                    self.litellm.tree,
                )
            )
        return cols

    def peer(self, result, render):
        """The LiteLLM cell: its status when it did not run, the error when it failed, else render(result)."""
        if self.litellm is None:
            return self.litellm_status
        if result is None:
            return "-"
        if "error" in result:
            return f"error: {result['error']}"[:60]
        return render(result)

    def create_body(self, i, model="sora-2", prompt=None):
        return {"model": model, "prompt": prompt or f"bench video {i}", "seconds": "4", "size": "720x1280"}

    def settle(self, ids, label):
        """Wait (bounded) until the gateway's worker has finished these tasks, so the next section
        does not measure the polling and delivery they cause."""
        if not ids or not self.args.settle_seconds:
            return
        started = time.monotonic()
        done = self.gateway.ops("wait", ids=ids, seconds=self.args.settle_seconds)["tasks"]
        left = sum(1 for task in done if task["status"] in ("queued", "in_progress"))
        state = f"{left} still active" if left else "all ended"
        print(f"  (settled {len(ids)} {label} tasks in {time.monotonic() - started:.1f} s: {state})", flush=True)

    # --- a. submit ------------------------------------------------------------------------

    def submit(self):
        n = self.args.submits
        out = {}
        for name, url, headers, _ in self.columns():
            requests = [("POST", "/v1/videos", self.create_body(i)) for i in range(n + WARMUP)]
            try:
                latencies, bodies = load.sequential(url, headers, requests)
            except Exception as exc:
                if name != "litellm":
                    raise
                out[name] = {"error": str(exc)}
                continue
            latencies = latencies[WARMUP:]
            out[name] = {
                "p50": load.percentile(latencies, 0.5),
                "p99": load.percentile(latencies, 0.99),
                "mean": sum(latencies) / len(latencies),
                "ids": [body["id"] for body in bodies if body and "id" in body],
            }
        sim, gw, peer = out["simulator"], out["gateway"], out.get("litellm")
        added = gw["p50"] - sim["p50"]
        table(
            f"a. Submit: {n} sequential POST /v1/videos on one keep-alive connection (after {WARMUP} warm-up)",
            [
                (
                    "p50 ms",
                    ms(sim["p50"]),
                    f"{ms(gw['p50'])} (+{added:.2f})",
                    self.peer(peer, lambda r: f"{ms(r['p50'])} (+{r['p50'] - sim['p50']:.2f})"),
                    f"gateway adds <= 4 ms: {verdict(added <= 4)}",
                ),
                ("p99 ms", ms(sim["p99"]), ms(gw["p99"]), self.peer(peer, lambda r: ms(r["p99"])), ""),
                ("mean ms", ms(sim["mean"]), ms(gw["mean"]), self.peer(peer, lambda r: ms(r["mean"])), ""),
            ],
        )
        self.results["submit"] = {k: {x: y for x, y in v.items() if x != "ids"} for k, v in out.items()}
        self.results["submit"]["gateway_adds_ms"] = added
        self.settle(gw["ids"], "submitted")

    # --- b. reads -------------------------------------------------------------------------

    def reads(self):
        n, seconds, connections = self.args.submits, self.args.read_seconds, self.args.connections
        out, paths = {}, {}
        for name, url, headers, _ in self.columns():  # one video each, created first: the gateway's
            try:  # worker has finished with its own by the time it is read
                _, (created,) = load.sequential(url, headers, [("POST", "/v1/videos", self.create_body(0))])
                paths[name] = f"/v1/videos/{created['id']}"
            except Exception as exc:
                if name != "litellm":
                    raise
                out[name] = {"error": str(exc)}
        for name, url, headers, pids in self.columns():
            if name not in paths:
                continue
            path = paths[name]
            try:
                if name == "gateway":
                    self.settle([path.rsplit("/", 1)[1]], "read")  # read a settled task, not one being polled
                latencies, _ = load.sequential(url, headers, [("GET", path, None)] * (n + WARMUP))
                latencies = latencies[WARMUP:]
                serving = pids()
                cpu_before = procs.cpu_seconds(serving)
                result = load.throughput(
                    url + path, headers, connections=connections, seconds=seconds, force_python=self.args.python_load
                )
                cpu = procs.cpu_seconds(serving) - cpu_before
            except Exception as exc:
                if name != "litellm":
                    raise
                out[name] = {"error": str(exc)}
                continue
            result.update(
                seq_p50=load.percentile(latencies, 0.5),
                seq_p99=load.percentile(latencies, 0.99),
                cpu_ms=cpu * 1000 / max(1, result["requests"]),
                processes=len(serving),
            )
            out[name] = result
        sim, gw, peer = out["simulator"], out["gateway"], out.get("litellm")
        added = gw["seq_p50"] - sim["seq_p50"]
        half = gw.get("rps", 0) >= sim.get("rps", 0) / 2
        peer_ok = peer is not None and "rps" in peer and gw.get("rps", 0) >= 10 * peer["rps"]
        peer_target = f"; >= 10x LiteLLM: {verdict(peer_ok)}" if peer is not None and "rps" in peer else ""
        tool = gw["tool"]
        table(
            f"b. Status reads: GET /v1/videos/{{id}}; sequential x{n}, then {tool} at {connections} "
            f"connections for {seconds} s",
            [
                (
                    "sequential p50 ms",
                    ms(sim["seq_p50"]),
                    f"{ms(gw['seq_p50'])} (+{added:.2f})",
                    self.peer(peer, lambda r: f"{ms(r['seq_p50'])} (+{r['seq_p50'] - sim['seq_p50']:.2f})"),
                    f"gateway adds <= 2 ms: {verdict(added <= 2)}",
                ),
                (
                    "sequential p99 ms",
                    ms(sim["seq_p99"]),
                    ms(gw["seq_p99"]),
                    self.peer(peer, lambda r: ms(r["seq_p99"])),
                    "",
                ),
                (
                    f"req/s at {connections} conn",
                    f"{sim.get('rps', 0):,.0f}",
                    f"{gw.get('rps', 0):,.0f}",
                    self.peer(peer, lambda r: f"{r.get('rps', 0):,.0f}"),
                    f">= half the simulator's: {verdict(half)}{peer_target}",
                ),
                (
                    f"p50 ms at {connections} conn",
                    ms(sim.get("p50")),
                    ms(gw.get("p50")),
                    self.peer(peer, lambda r: ms(r.get("p50"))),
                    "",
                ),
                (
                    f"p99 ms at {connections} conn",
                    ms(sim.get("p99")),
                    ms(gw.get("p99")),
                    self.peer(peer, lambda r: ms(r.get("p99"))),
                    "",
                ),
                (
                    "errors / non-2xx",
                    f"{sim['errors']} / {sim['non_2xx']}",
                    f"{gw['errors']} / {gw['non_2xx']}",
                    self.peer(peer, lambda r: f"{r['errors']} / {r['non_2xx']}"),
                    "",
                ),
                (
                    "CPU ms per request",
                    f"{sim['cpu_ms']:.3f}",
                    f"{gw['cpu_ms']:.3f}",
                    self.peer(peer, lambda r: f"{r['cpu_ms']:.3f}"),
                    "",
                ),
            ],
            note=f"CPU: utime+stime of the serving processes (gateway: the gunicorn master and its "
            f"{gw['processes'] - 1} workers; the worker side not counted) over the run, per request.",
        )
        self.results["reads"] = out

    # --- c. stream ------------------------------------------------------------------------

    def write_big_file(self, mib):
        chunk = os.urandom(MIB)
        with open(self.big_file, "wb") as handle:
            for _ in range(mib):
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())

    def drop_cache(self):
        """Evict the big file from the page cache (this file only), so the next fetch reads the disk."""
        fd = os.open(self.big_file, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)

    def fetch(self, url, path, headers, pids):
        serving = pids()
        before = max(procs.status_kib(pid, "VmRSS") for pid in serving) / 1024
        reset = procs.reset_peak_rss(serving)
        received, seconds = load.download(url, path, headers)
        peak = max(procs.status_kib(pid, "VmHWM") for pid in pids()) / 1024
        return {
            "bytes": received,
            "seconds": seconds,
            "mib_s": received / MIB / seconds,
            "rss_before_mib": before,
            "peak_rss_mib": peak,
            "peak_reset": reset,
        }

    def stream(self):
        mib = self.args.stream_mib
        self.write_big_file(mib)
        out = {}
        for name, url, headers, pids in self.columns():
            try:
                if name == "gateway":
                    stored = self.gateway.ops("stored-task", tenant="bench", file=str(self.big_file), model="sora-2")
                    path = f"/v1/videos/{stored['id']}/content"
                else:
                    # LiteLLM holds a whole video in memory (several times its size): a smaller one for it
                    size = min(mib, self.args.litellm_stream_mib) * MIB if name == "litellm" else mib * MIB
                    prompt = BIG_PROMPT if size == mib * MIB else f"{BIG_PROMPT}:{size}"
                    _, (created,) = load.sequential(
                        url, headers, [("POST", "/v1/videos", self.create_body(0, prompt=prompt))]
                    )
                    path = f"/v1/videos/{created['id']}/content"
                self.drop_cache()
                first = self.fetch(url, path, headers, pids)
                repeat = self.fetch(url, path, headers, pids)
                if name != "litellm" and first["bytes"] != mib * MIB:
                    raise RuntimeError(f"{name}: received {first['bytes']} bytes of {mib * MIB}")
            except Exception as exc:
                if name != "litellm":
                    raise
                out[name] = {"error": str(exc)}
                continue
            out[name] = {"first": first, "repeat": repeat}
        sim, gw, peer = out["simulator"], out["gateway"], out.get("litellm")
        ratio_first = gw["first"]["mib_s"] / sim["first"]["mib_s"]
        ratio_repeat = gw["repeat"]["mib_s"] / sim["repeat"]["mib_s"]
        rows = []
        for which, ratio in (("first", ratio_first), ("repeat", ratio_repeat)):
            rows.append(
                (
                    f"{which} fetch MiB/s",
                    f"{sim[which]['mib_s']:,.0f}",
                    f"{gw[which]['mib_s']:,.0f} ({ratio * 100:.1f} %)",
                    self.peer(peer, lambda r, w=which: f"{r[w]['mib_s']:,.0f}"),
                    f">= 80 % of direct: {verdict(ratio >= 0.8)}",
                )
            )
            rows.append(
                (
                    f"{which} fetch peak RSS MiB (before)",
                    rss(sim[which]),
                    rss(gw[which]),
                    self.peer(peer, lambda r, w=which: rss(r[w])),
                    "",
                )
            )
        if peer and "first" in peer:
            rows.append(("video size MiB", f"{mib:,}", f"{mib:,}", f"{peer['first']['bytes'] / MIB:,.0f}", ""))
        reset = all(col[w]["peak_reset"] for col in (sim, gw) for w in ("first", "repeat"))
        table(
            f"c. Streaming a {mib:,} MiB video: GET /v1/videos/{{id}}/content (simulator: the file from disk; "
            "gateway: its stored copy)",
            rows,
            note="first fetch: the file evicted from the page cache (posix_fadvise), repeat: cached. Peak RSS: "
            + (
                "VmHWM of the serving processes, reset before each fetch"
                if reset
                else "VmHWM of the serving processes since they started (could not reset it)"
            )
            + " (the largest process: a gunicorn worker for the gateway), and the RSS it had before.",
        )
        self.results["stream"] = out
        self.big_file.unlink()

    # --- d. in flight ---------------------------------------------------------------------

    def inflight(self):
        count, latency, after = self.args.inflight, self.args.poll_latency, self.args.complete_after
        before = self.slow.stats()
        ids, lock, errors = [], threading.Lock(), []
        bodies = iter(range(count))

        def submitter():
            conn = load.Connection(self.gateway.url, self.gw_headers())
            try:
                while True:
                    with lock:
                        i = next(bodies, None)
                    if i is None:
                        return
                    status, data, _ = conn.request("POST", "/v1/videos", self.create_body(i, model="sora-2-pro"))
                    with lock:
                        if status == 200:
                            ids.append(json.loads(data)["id"])
                        else:
                            errors.append(f"HTTP {status}: {data[:200]!r}")
            finally:
                conn.close()

        started = time.time()
        pool = [threading.Thread(target=submitter) for _ in range(8)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        submitted = time.time()
        if errors:
            raise RuntimeError(f"{len(errors)} submits failed, e.g. {errors[0]}")
        print(
            f"  submitted {len(ids)} tasks in {submitted - started:.1f} s; waiting for the gateway "
            f"(at most {self.args.inflight_timeout} s)",
            flush=True,
        )
        left = max(1.0, self.args.inflight_timeout - (time.time() - started))
        tasks = self.gateway.ops("wait", ids=ids, seconds=left)["tasks"]
        stats = self.slow.stats()
        polls = stats.get("polls", 0) - before.get("polls", 0)
        pages = stats.get("list_pages", 0) - before.get("list_pages", 0)
        vendor_done = stats.get("done_at", {})
        completed = [task for task in tasks if task["status"] == "completed"]
        failed = [task for task in tasks if task["status"] in ("failed", "cancelled")]
        lags = [task["done"] - vendor_done[task["vendor_id"]] for task in completed if task["vendor_id"] in vendor_done]
        learned = [
            task["learned"] - vendor_done[task["vendor_id"]]
            for task in completed
            if task["vendor_id"] in vendor_done and task["learned"]
        ]
        all_done = len(completed) == count
        last_done = max((task["done"] for task in completed), default=None)
        last_vendor = max((vendor_done[t["vendor_id"]] for t in tasks if t["vendor_id"] in vendor_done), default=None)
        result = {
            "tasks": count,
            "completed": len(completed),
            "failed": len(failed),
            "submit_seconds": submitted - started,
            "all_completed_seconds": (last_done - started) if all_done and last_done else None,
            "vendor_all_done_seconds": (last_vendor - started) if last_vendor else None,
            "polls": polls,
            "list_pages": pages,
            "max_lag": max(lags, default=None),
            "p50_lag": load.percentile(lags, 0.5),
            "max_learned_lag": max(learned, default=None),
        }
        finished = (
            f"{result['all_completed_seconds']:.1f}"
            if all_done
            else f"not all: {len(completed)}/{count} completed, {len(failed)} failed, "
            f"after {self.args.inflight_timeout} s"
        )
        table(
            f"d. {count:,} tasks in flight: the vendor answers each poll in {latency * 1000:.0f} ms and finishes "
            f"each video {after:g} s after its create",
            [
                ("submitting them took s", "", f"{result['submit_seconds']:.1f}", "", ""),
                (
                    "all completed after s",
                    _s(result["vendor_all_done_seconds"]) + " (vendor done)",
                    finished,
                    "n/a: no background polling",
                    "",
                ),
                (
                    "polls the vendor received",
                    "",
                    f"{polls + pages:,}: {polls:,} GET /v1/videos/{{id}} + {pages:,} list pages",
                    "",
                    "",
                ),
                ("detection lag p50 s", "", _s(result["p50_lag"]), "", ""),
                ("detection lag max s", "", _s(result["max_lag"]), "", ""),
                ("of which until learned max s", "", _s(result["max_learned_lag"]), "", ""),
            ],
            note="times from the first submit; detection lag: the vendor finished the video -> the gateway "
            "completed it (delivered and charged); 'until learned': -> a poll told the gateway it was done.",
        )
        self.results["inflight"] = result

    # --- e. lists -------------------------------------------------------------------------

    def lists(self):
        rows, tenant_rows, depth, n = self.args.rows, self.args.tenant_rows, self.args.depth, self.args.list_requests
        database = self.scratch_database("lists")
        gateway = procs.Gateway(self.workdir, "gateway-lists", database.url)
        gateway.ops("setup")  # migrate
        print(f"  seeding {rows:,} task rows ({tenant_rows:,} for one tenant) into {database.name}...", flush=True)
        password = "bench-" + os.urandom(12).hex()
        seeded = gateway.ops("seed", rows=rows, tenant_rows=tenant_rows, depth=depth, password=password)
        print(f"  seeded {seeded['rows']:,} rows in {seeded['seconds']:.0f} s; starting the gateway", flush=True)
        self.track(gateway)
        gateway.start()
        api = {"Authorization": f"Bearer {seeded['key']}"}
        session = sign_in(gateway.url, seeded["username"], password)
        page = {"Cookie": f"sessionid={session}"}
        cases = [
            ("status read", api, f"/v1/videos/{seeded['read_id']}", False),
            ("first list page", api, "/v1/videos?limit=20", True),
            (f"page {depth:,} rows deep", api, f"/v1/videos?limit=20&after={seeded['deep_after']}", True),
            ("dashboard task list", page, "/tasks/", True),
            ("its live refresh", page, "/tasks/rows/", True),
        ]
        out, table_rows = {}, []
        for label, headers, path, is_list in cases:
            latencies, _ = load.sequential(gateway.url, headers, [("GET", path, None)] * (n + WARMUP))
            latencies = latencies[WARMUP:]
            p95 = load.percentile(latencies, 0.95)
            out[label] = {"path": path, "p50": load.percentile(latencies, 0.5), "p95": p95}
            table_rows.append(
                (
                    f"{label} p50 / p95 ms",
                    "n/a",
                    f"{ms(out[label]['p50'])} / {ms(p95)}",
                    "n/a: keeps no task list",
                    f"p95 < 50 ms: {verdict(p95 < 50)}" if is_list else "",
                )
            )
        table(
            f"e. Lists on PostgreSQL: {seeded['rows']:,} task rows, a tenant with {seeded['tenant_rows']:,}; "
            f"{n} sequential requests each",
            table_rows,
            note="the dashboard pages as the tenant's owner, signed in with a session cookie.",
        )
        self.results["lists"] = {"rows": seeded["rows"], "tenant_rows": seeded["tenant_rows"], **out}
        gateway.stop()


def rss(fetch):
    return f"{fetch['peak_rss_mib']:,.0f} ({fetch['rss_before_mib']:,.0f})"


def _s(value):
    return "-" if value is None else f"{value:.1f}"


def sign_in(base_url, username, password):
    """Sign in through /login/ as a browser does; the sessionid cookie."""
    conn = load.Connection(base_url)
    try:
        status, body, _ = conn.request("GET", "/login/")
        csrf_cookie = _cookie(conn.last_headers, "csrftoken")
        token = body.decode().split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
        form = urlencode({"username": username, "password": password, "csrfmiddlewaretoken": token}).encode()
        status, body, _ = conn.request(
            "POST",
            "/login/",
            form,
            {"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"csrftoken={csrf_cookie}"},
        )
        session = _cookie(conn.last_headers, "sessionid")
        if status != 302 or not session:
            raise RuntimeError(f"signing in as {username} failed: HTTP {status}")
        return session
    finally:
        conn.close()


def _cookie(headers, name):
    for header in headers.get_all("Set-Cookie") or []:
        first = header.split(";", 1)[0]
        if first.startswith(f"{name}="):
            return first.split("=", 1)[1]
    return None


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections ({', '.join(SECTIONS)})")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: every section in a couple of minutes")
    parser.add_argument("--postgres", action="store_true", help="the gateway on a scratch PostgreSQL database")
    parser.add_argument("--no-litellm", action="store_true", help="leave LiteLLM out even where it is installed")
    parser.add_argument("--python-load", action="store_true", help="the Python load generator even where wrk is")
    parser.add_argument(
        "--settle-seconds",
        type=int,
        default=120,
        help="after submitting, wait at most this long for the gateway's worker to finish those tasks "
        "before measuring on (0: do not wait)",
    )
    parser.add_argument("--litellm", help="the litellm command to run (default: litellm on PATH, or the package)")
    parser.add_argument(
        "--litellm-stream-mib",
        type=int,
        default=256,
        help="the video LiteLLM streams in section c is at most this big: it holds a video in memory (default 256)",
    )
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--keep", action="store_true", help="keep the working directory (logs) and print its path")
    sizes = parser.add_argument_group("sizes (defaults: full run; --quick: smaller)")
    for name, default in FULL.items():
        sizes.add_argument(
            f"--{name.replace('_', '-')}",
            type=type(default),
            default=None,
            help=f"default {default:,} ({QUICK[name]:,} with --quick)",
        )
    args = parser.parse_args(argv)
    for name in FULL:
        if getattr(args, name) is None:
            setattr(args, name, (QUICK if args.quick else FULL)[name])
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(args.only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    return args


def main(argv=None):
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks below
    print(f"command: {shlex.join([sys.executable, *sys.argv])}")
    for name, value in machine().items():
        print(f"{name + ':':16}{value}")
    print(f"sections: {', '.join(args.only)}{' (--quick sizes)' if args.quick else ''}", flush=True)
    started = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="gateway-bench-")
    run = Run(args, workdir)
    failed = []
    try:
        needs_gateway = [name for name in args.only if name != "lists"]
        if needs_gateway:
            run.start_vendors()
            if {"submit", "reads", "stream"} & set(args.only):
                run.start_litellm()  # starting while the gateway does
            run.start_gateway()
            run.wait_litellm()
        for name in SECTIONS:
            if name in args.only:
                try:
                    getattr(run, name)()
                except Exception:  # the other sections still run; the exit status says it failed
                    failed.append(name)
                    print(f"\n{name}: FAILED\n{traceback.format_exc(limit=-3)}", flush=True)
                sys.stdout.flush()
    finally:
        run.close()
        if args.keep:
            print(f"\nworking directory kept: {workdir}")
        else:
            subprocess.run(["rm", "-rf", workdir], check=False)
    elapsed = time.monotonic() - started
    print(f"\ndone in {elapsed / 60:.1f} min")
    if args.json:
        run.results["machine"] = machine()
        run.results["command"] = shlex.join([sys.executable, *sys.argv])
        run.results["failed"] = failed
        Path(args.json).write_text(json.dumps(run.results, indent=1, default=str))
    if failed:
        print(f"failed sections: {', '.join(failed)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
