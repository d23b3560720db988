"""The vendor the benchmark talks to: tests/simulators' OpenAI Videos simulator, in its own process,
with what a benchmark needs and the tests do not (so it lives here, not in tests/simulators):

- ``--poll-latency S``: every poll, ``GET /v1/videos/{id}`` and a page of the list ``GET /v1/videos``,
  is answered S seconds late (a slow vendor);
- ``--complete-after S``: a video is ``in_progress`` until S seconds after its create, then
  ``completed`` (a clock, not one step per poll as in the tests), so the moment the vendor finished
  it is known exactly;
- ``--big-file PATH``: ``/content`` of a video created with the prompt ``bench-big-file`` streams
  that file from disk in 64 KiB chunks (the gateway's own chunk size), of one created with
  ``bench-big-file:N`` its first N bytes; every other video's content is the simulator's small
  sample MP4;
- ``GET /_bench/stats``: how many creates, polls and list pages it answered, and when each video
  was done;
- a listen backlog of 1024 (Python's default is 5: 32 connections opened at once would wait for
  SYN retries).

Run by the benchmark as ``python bench/vendor.py [options]``; prints its URL on the first line of
stdout and serves until SIGTERM. Listens on 127.0.0.1 only.
"""

import argparse
import collections
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.simulators.openai import OpenAISimulator  # noqa: E402

API_KEY = "sk-bench-upstream"
BIG_PROMPT = "bench-big-file"
CHUNK = 64 * 1024


class BenchVendor(OpenAISimulator):
    def __init__(self, *, poll_latency=0.0, complete_after=None, big_file=None):
        self.poll_latency = poll_latency
        self.complete_after = complete_after
        self.big_file = big_file
        self.counts = collections.Counter()
        self.counts_lock = threading.Lock()
        super().__init__(api_key=API_KEY)
        self.requests = collections.deque(maxlen=100)  # the base keeps every request; a load test sends millions
        self.server.socket.listen(1024)

    def count(self, name):
        with self.counts_lock:
            self.counts[name] += 1

    def create(self, request):
        self.count("creates")
        return super().create(request)

    def retrieve(self, request, video_id):
        self.count("polls")
        response = super().retrieve(request, video_id)
        response.delay = self.poll_latency
        return response

    def list(self, request):
        """The video list answers polls too (a gateway may poll many videos with one page of it)."""
        self.count("list_pages")
        if self.complete_after is not None:
            self._tick()
        response = super().list(request)
        response.delay = self.poll_latency
        return response

    def state_for(self, task, states):
        if self.complete_after is None:
            return super().state_for(task, states)
        return "completed" if time.time() >= self.done_at(task) else "in_progress"  # by the clock

    def _tick(self):
        """Each video's state by the clock (the list shows the state a video was last rendered in)."""
        for task in list(self.tasks.values()):
            task.extra["status"] = self.state_for(task, ())

    def done_at(self, task):
        return task.created + self.complete_after

    def stats(self):
        with self.counts_lock:
            body = dict(self.counts)
        if self.complete_after is not None:
            body["done_at"] = {task.id: self.done_at(task) for task in list(self.tasks.values())}
        return body

    def _handler_class(self):
        base = super()._handler_class()
        vendor = self

        class Handler(base):
            def do_GET(self):
                if self.path == "/_bench/stats":
                    return self._send_json(vendor.stats())
                if self.path.endswith("/content") and vendor.big_file:
                    video_id = self.path.rsplit("/", 2)[-2]
                    task = vendor.tasks.get(video_id)
                    prompt = str(task.body.get("prompt")) if task is not None else ""
                    if prompt == BIG_PROMPT or prompt.startswith(BIG_PROMPT + ":"):
                        limit = int(prompt.split(":", 1)[1]) if ":" in prompt else None
                        return self._send_file(vendor.big_file, limit)
                return base._handle(self)

            def _send_json(self, body):
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _send_file(self, path, limit=None):
                if self.headers.get("Authorization") != f"Bearer {vendor.api_key}":
                    return base._handle(self)  # the simulator's own 401
                with open(path, "rb") as handle:
                    size = os.fstat(handle.fileno()).st_size
                    size = min(size, limit) if limit is not None else size
                    self.send_response(200)
                    self.send_header("Content-Type", "video/mp4")
                    self.send_header("Content-Length", str(size))
                    self.end_headers()
                    try:
                        left = size
                        while left and (chunk := handle.read(min(CHUNK, left))):
                            self.wfile.write(chunk)
                            left -= len(chunk)
                    except (BrokenPipeError, ConnectionResetError):
                        self.close_connection = True

        return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--poll-latency", type=float, default=0.0)
    parser.add_argument("--complete-after", type=float, default=None)
    parser.add_argument("--big-file", default=None)
    args = parser.parse_args()
    vendor = BenchVendor(poll_latency=args.poll_latency, complete_after=args.complete_after, big_file=args.big_file)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    vendor.start()
    print(vendor.url, flush=True)
    while not stop.wait(0.5):
        pass
    vendor.stop()


if __name__ == "__main__":
    main()
