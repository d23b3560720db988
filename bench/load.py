"""Load generators: sequential requests on one keep-alive connection (latency), wrk at N connections
(throughput; a Python threaded generator when wrk is missing), and a whole download (streaming).

The client side is plain ``http.client``: the least per-request work Python does, the same for
every column, so the differences between columns are the servers'.
"""

import http.client
import json
import math
import re
import shutil
import subprocess
import threading
import time
from urllib.parse import urlsplit


def percentile(values, fraction):
    """The ``fraction`` percentile (nearest rank) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))
    return ordered[index]


class Connection:
    """One keep-alive HTTP/1.1 connection to ``base_url``, reopened when the server closes it."""

    def __init__(self, base_url, headers=None, timeout=60):
        parts = urlsplit(base_url)
        self.host, self.port, self.timeout = parts.hostname, parts.port, timeout
        self.headers = dict(headers or {})
        self.conn = None
        self.last_headers = None  # the headers of the last response (an http.client.HTTPMessage)

    def request(self, method, path, body=None, headers=None):
        """(status, body bytes, seconds); the time covers sending and reading the whole answer."""
        payload = json.dumps(body).encode() if isinstance(body, dict) else body
        all_headers = {**self.headers, **(headers or {})}
        if isinstance(body, dict):
            all_headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            started = time.perf_counter()
            try:
                self.conn.request(method, path, body=payload, headers=all_headers)
                response = self.conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()  # an idle keep-alive connection the server closed: once more, on a new one
                if attempt == 2:
                    raise
                continue
            elapsed = time.perf_counter() - started
            self.last_headers = response.msg
            if response.will_close:
                self.close()
            return response.status, data, elapsed

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def sequential(base_url, headers, requests, *, expect=(200, 201)):
    """Send ``requests`` ((method, path, body) tuples) one after another on one connection.
    Returns (latencies in ms, bodies as parsed JSON). A status outside ``expect`` raises."""
    conn = Connection(base_url, headers)
    latencies, bodies = [], []
    try:
        for method, path, body in requests:
            status, data, elapsed = conn.request(method, path, body)
            if status not in expect:
                raise RuntimeError(f"{method} {base_url}{path}: HTTP {status}: {data[:300]!r}")
            latencies.append(elapsed * 1000)
            try:
                bodies.append(json.loads(data) if data else None)
            except ValueError:
                bodies.append(None)
    finally:
        conn.close()
    return latencies, bodies


# --- throughput -------------------------------------------------------------------------------

WRK = shutil.which("wrk")
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text):
    match = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    return float(match.group(1)) * UNITS[match.group(2)] if match else None


def parse_wrk(output):
    """Requests/s, p50/p99 (ms), requests, non-2xx/3xx and socket errors from wrk --latency's report."""
    result = {"tool": "wrk", "requests": 0, "errors": 0, "non_2xx": 0}
    if match := re.search(r"Requests/sec:\s+([\d.]+)", output):
        result["rps"] = float(match.group(1))
    if match := re.search(r"(\d+) requests in ([\d.]+)(\w+)", output):
        result["requests"] = int(match.group(1))
    for name, key in (("50%", "p50"), ("99%", "p99")):
        if match := re.search(rf"^\s+{re.escape(name)}\s+(\S+)", output, re.M):
            result[key] = _ms(match.group(1))
    if match := re.search(r"Non-2xx or 3xx responses: (\d+)", output):
        result["non_2xx"] = int(match.group(1))
    if match := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output):
        result["errors"] = sum(int(n) for n in match.groups())
    return result


def throughput(url, headers, *, connections=32, threads=2, seconds=10, force_python=False):
    """GET ``url`` from ``connections`` keep-alive connections for ``seconds``: wrk where it is
    installed, else a Python threaded generator (which tops out far lower; the result says which)."""
    if WRK and not force_python:
        args = [WRK, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
        for name, value in headers.items():
            args += ["-H", f"{name}: {value}"]
        output = subprocess.run(args + [url], capture_output=True, text=True, timeout=seconds + 60).stdout
        return parse_wrk(output)
    return _python_throughput(url, headers, connections, seconds)


def _python_throughput(url, headers, connections, seconds):
    parts = urlsplit(url)
    base, path = f"{parts.scheme}://{parts.netloc}", parts.path + (f"?{parts.query}" if parts.query else "")
    latencies, errors, lock = [], [0], threading.Lock()
    stop_at = time.perf_counter() + seconds

    def worker():
        conn, mine, failed = Connection(base, headers, timeout=10), [], 0
        while time.perf_counter() < stop_at:
            try:
                status, _, elapsed = conn.request("GET", path)
                if status < 400:
                    mine.append(elapsed * 1000)
                else:
                    failed += 1
            except OSError:
                failed += 1
                conn.close()
        conn.close()
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    started = time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(connections)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - started
    return {
        "tool": f"python ({connections} threads)",
        "requests": len(latencies) + errors[0],
        "rps": len(latencies) / elapsed,
        "p50": percentile(latencies, 0.50),
        "p99": percentile(latencies, 0.99),
        "errors": errors[0],
        "non_2xx": 0,
    }


# --- downloads --------------------------------------------------------------------------------


def download(base_url, path, headers, buffer_size=1024 * 1024):
    """GET a whole body, discarding it as it arrives. Returns (bytes, seconds)."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=300)
    buffer = memoryview(bytearray(buffer_size))
    try:
        started = time.perf_counter()
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        if response.status != 200:
            raise RuntimeError(f"GET {base_url}{path}: HTTP {response.status}: {response.read(300)!r}")
        received = 0
        while count := response.readinto(buffer):
            received += count
        return received, time.perf_counter() - started
    finally:
        conn.close()
