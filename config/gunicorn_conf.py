"""gunicorn settings that ``manage.py serve`` passes with ``-c`` (a deployment running gunicorn
itself should pass it too): no ``Server: gunicorn`` banner, and access-log lines with the
value of every ``token`` query parameter (the signed links of /v1/videos/{id}/content, see
videos/signing.py) replaced by ``[redacted]``, so a log reader cannot replay a link."""

import re

from gunicorn.glogging import Logger
from gunicorn.http import wsgi

TOKEN = re.compile(r"(?i)((?:^|[?&;])token=)[^&;\s\"#]*")
REDACTED = r"\1[redacted]"


def redact(text):
    return TOKEN.sub(REDACTED, text) if isinstance(text, str) else text


class RedactingLogger(Logger):
    """The access log with token values hidden in every atom (request line, query string,
    RAW_URI, Referer...)."""

    def atoms(self, resp, req, environ, request_time):
        return {key: redact(value) for key, value in super().atoms(resp, req, environ, request_time).items()}


def _without_server(default_headers):
    def headers(self):
        return [line for line in default_headers(self) if not line.lower().startswith("server:")]

    headers.patched = True
    return headers


if not getattr(wsgi.Response.default_headers, "patched", False):
    wsgi.Response.default_headers = _without_server(wsgi.Response.default_headers)

logger_class = RedactingLogger
