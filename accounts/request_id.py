"""The request id: one per HTTP request, in the ``X-Request-Id`` header, every log line written while
the request is served and the task it creates.

It lives here, at the bottom layer, so every app can read it; ``config.observability`` sets it.
"""

import contextvars
import logging
import re
import uuid

HEADER = "X-Request-Id"
# A client's own id is echoed when it looks like an id (a UUID, a trace id), else a new one is made.
_SANE = re.compile(r"[A-Za-z0-9._:@+=-]{1,100}")
_current = contextvars.ContextVar("request_id", default="")


def choose(sent):
    """The id for a request whose client sent ``sent`` (may be empty)."""
    if sent and _SANE.fullmatch(sent):
        return sent
    return uuid.uuid4().hex


def current():
    """The id of the request being served in this thread ("" outside a request)."""
    return _current.get()


def use(value):
    _current.set(value)


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` ("-" outside a request) for the log format."""

    def filter(self, record):
        if not getattr(record, "request_id", None):
            record.request_id = current() or "-"
        return True
