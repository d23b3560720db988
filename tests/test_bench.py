"""The benchmark (bench/run.py) still runs: its parsers, and a tiny run of three sections against a real
``manage.py serve`` and the bench's vendor simulator. Figures are not checked: timing on a shared
machine is no pass/fail (docs/performance.md)."""

import subprocess
import sys

from django.conf import settings

from bench import load

WRK_OUTPUT = """Running 10s test @ http://127.0.0.1:8000/v1/videos/video_x
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     4.51ms    2.10ms  40.12ms   88.00%
    Req/Sec     3.60k   210.00     4.01k    70.00%
  Latency Distribution
     50%    4.20ms
     75%    5.10ms
     90%    6.80ms
     99%    1.20s
  71234 requests in 10.00s, 30.12MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 7
Requests/sec:   7123.40
Transfer/sec:      3.01MB
"""


def test_wrk_report_is_read():
    result = load.parse_wrk(WRK_OUTPUT)
    assert result["rps"] == 7123.40
    assert result["requests"] == 71234
    assert result["p50"] == 4.2
    assert result["p99"] == 1200.0
    assert (result["errors"], result["non_2xx"]) == (3, 7)


def test_percentile_is_nearest_rank():
    values = list(range(1, 101))
    assert load.percentile(values, 0.5) == 50
    assert load.percentile(values, 0.95) == 95
    assert load.percentile(values, 0.99) == 99
    assert load.percentile([7.0], 0.99) == 7.0
    assert load.percentile([], 0.5) is None


def test_a_tiny_run_prints_every_table(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "bench/run.py",
            "--quick",
            "--only",
            "submit,reads,stream",
            "--submits",
            "3",
            "--read-seconds",
            "1",
            "--stream-mib",
            "2",
            "--settle-seconds",
            "0",
            "--no-litellm",
            "--json",
            str(tmp_path / "figures.json"),
        ],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for title in ("a. Submit", "b. Status reads", "c. Streaming"):
        assert title in result.stdout
    assert "skipped (--no-litellm)" in result.stdout
    assert (tmp_path / "figures.json").exists()
