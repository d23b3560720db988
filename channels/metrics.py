"""Upstream call metrics, recorded by the one outbound seam (channels/http.py).

Which vendor and what kind of call (``submit``, ``poll``, ``find``, ``cancel``, ``check``, ``content``,
``download``) is set around each adaptor method (``Adaptor.__init_subclass__``) and read here, so no
adaptor has to pass it along.
"""

import contextlib
import contextvars
import functools

from prometheus_client import Counter, Histogram

UPSTREAM_CALLS = Counter(
    "gateway_upstream_requests",
    "HTTP calls to vendors, by vendor, kind of call and HTTP status (or timeout/unreachable/error).",
    ["vendor", "kind", "status"],
)
UPSTREAM_SECONDS = Histogram(
    "gateway_upstream_request_duration_seconds",
    "Latency of HTTP calls to vendors until the response headers arrived.",
    ["vendor", "kind"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
_call = contextvars.ContextVar("upstream_call", default=("unknown", "other"))


@contextlib.contextmanager
def calling(vendor, kind):
    """Label the vendor calls made inside the block."""
    token = _call.set((vendor or "unknown", kind))
    try:
        yield
    finally:
        _call.reset(token)


def observe(status, seconds, *, vendor="", kind=""):
    current_vendor, current_kind = _call.get()
    vendor, kind = vendor or current_vendor, kind or current_kind
    UPSTREAM_CALLS.labels(vendor, kind, str(status)).inc()
    UPSTREAM_SECONDS.labels(vendor, kind).observe(seconds)


CALL_KINDS = ("submit", "poll", "find", "cancel", "content", "remix", "check")


def instrument(cls):
    """Wrap the vendor-calling methods ``cls`` defines itself so their calls carry its labels."""
    for kind in CALL_KINDS:
        method = cls.__dict__.get(kind)
        if method is None or getattr(method, "_labels_calls", False):
            continue
        cls_kind = "submit" if kind == "remix" else kind
        setattr(cls, kind, _labelled(method, cls_kind))


def _labelled(method, kind):
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with calling(self.vendor, kind):
            return method(self, *args, **kwargs)

    wrapper._labels_calls = True
    return wrapper
