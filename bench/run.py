"""Benchmarks that print figures (not tests: timing on shared machines is not a pass/fail).

    .venv/bin/python bench/run.py [--video-mb 256] [--submits 200] [--due 500]

Runs against a throwaway SQLite database (or DATABASE_URL) in a temporary directory:
1. streaming a large finished video through /v1/videos/{id}/content: throughput and peak
   Python memory while streaming (should stay flat whatever the file size);
2. submitting sandbox videos through /v1/videos: requests per second and latency;
3. one poll pass over many due tasks: tasks per second.
"""

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup(workdir):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["GATEWAY_VAR_DIR"] = str(workdir)
    os.environ["GATEWAY_SYNC_TASKS"] = "true"
    os.environ.setdefault("ALLOWED_HOSTS", "*")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def fixtures():
    from accounts import services as money
    from accounts.models import Tenant
    from channels.models import Channel, Price

    tenant = Tenant.objects.create(name=f"bench{int(time.time())}")
    money.topup(tenant, 10**15, note="bench")
    channel = Channel.objects.filter(name="bench-sandbox").first() or Channel(name="bench-sandbox")
    channel.vendor, channel.served_models, channel.options = "sandbox", ["sandbox-video"], {"delay": 0}
    channel.save()
    Price.objects.update_or_create(model="sandbox-video", defaults={"per_second": 10})
    api_key, plaintext = money.issue_key(tenant)
    return tenant, plaintext


def bench_streaming(plaintext, size_mb):
    from django.conf import settings
    from django.test import Client

    from videos import services
    from videos.models import VideoTask

    client = Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    video_id = client.post(
        "/v1/videos", {"model": "sandbox-video", "prompt": "bench"}, content_type="application/json"
    ).json()["id"]
    task = VideoTask.objects.get(public_id=video_id)
    services.finish(task, VideoTask.Status.COMPLETED)
    relative = f"videos/bench-{size_mb}mb.mp4"
    path = Path(settings.MEDIA_ROOT) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        chunk = os.urandom(1024 * 1024)
        for _ in range(size_mb):
            handle.write(chunk)
    VideoTask.objects.filter(pk=task.pk).update(result_file=relative, result_bytes=size_mb * 1024 * 1024)

    tracemalloc.start()
    started = time.perf_counter()
    response = client.get(f"/v1/videos/{video_id}/content")
    received = 0
    for piece in response.streaming_content:
        received += len(piece)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert received == size_mb * 1024 * 1024
    print(
        f"stream {size_mb} MiB: {size_mb / elapsed:,.0f} MiB/s, peak Python memory while streaming "
        f"{peak / 1024 / 1024:.2f} MiB"
    )
    ranged = client.get(f"/v1/videos/{video_id}/content", HTTP_RANGE="bytes=1000-1999")
    print(f"range request: HTTP {ranged.status_code}, {sum(len(p) for p in ranged.streaming_content)} bytes")
    path.unlink()


def bench_submits(plaintext, count):
    from django.test import Client

    client = Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    latencies = []
    started = time.perf_counter()
    for i in range(count):
        t0 = time.perf_counter()
        response = client.post(
            "/v1/videos", {"model": "sandbox-video", "prompt": f"bench {i}"}, content_type="application/json"
        )
        latencies.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200, response.content
    total = time.perf_counter() - started
    latencies.sort()
    print(
        f"submit x{count}: {count / total:,.0f} req/s, p50 {statistics.median(latencies):.1f} ms, "
        f"p95 {latencies[int(len(latencies) * 0.95) - 1]:.1f} ms"
    )


def bench_poll(plaintext, count):
    from datetime import timedelta

    from django.test import Client
    from django.utils import timezone

    from videos import services
    from videos.models import VideoTask

    client = Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    for i in range(count):
        client.post("/v1/videos", {"model": "sandbox-video", "prompt": f"poll {i}"}, content_type="application/json")
    VideoTask.objects.active().update(next_poll_at=timezone.now() - timedelta(seconds=1))
    started = time.perf_counter()
    polled = 0
    while True:
        batch = services.poll_once(limit=200)
        polled += batch
        if not batch:
            break
    elapsed = time.perf_counter() - started
    done = VideoTask.objects.filter(status="completed").count()
    print(f"poll {polled} due tasks: {polled / elapsed:,.0f} tasks/s ({done} completed and settled in total)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video-mb", type=int, default=256)
    parser.add_argument("--submits", type=int, default=200)
    parser.add_argument("--due", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        setup(Path(workdir))
        _, plaintext = fixtures()
        bench_streaming(plaintext, args.video_mb)
        bench_submits(plaintext, args.submits)
        bench_poll(plaintext, args.due)
    print(f"max RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
