"""A vendor far away: every request is answered ``latency`` seconds after it arrives, and the
simulator counts how many it is serving at once (``peak``), with the span of each one (``spans``),
so a test can tell polls made one after another from polls made side by side."""

import threading
import time
from dataclasses import dataclass


@dataclass
class Span:
    method: str
    path: str
    query: dict
    start: float  # time.monotonic()
    end: float


class Latency:
    """Mix in before Simulator: ``class KlingSimulator(Latency, Simulator)``."""

    def __init__(self, *args, **kwargs):
        self.latency = 0.0  # seconds every answer takes
        self.in_flight = 0
        self.peak = 0
        self.spans = []
        self._flight_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def reset_peak(self):
        with self._flight_lock:
            self.peak = self.in_flight
            self.spans = []

    def _dispatch(self, request):
        start = time.monotonic()
        with self._flight_lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            if self.latency:
                time.sleep(self.latency)
            return super()._dispatch(request)
        finally:
            with self._flight_lock:
                self.in_flight -= 1
                self.spans.append(Span(request.method, request.path, request.query, start, time.monotonic()))
