"""gunicorn settings that ``manage.py serve`` passes with ``-c`` (a deployment running gunicorn
itself should pass it too): no ``Server: gunicorn`` banner, and access-log lines with the
value of every ``token`` query parameter (the signed links of /v1/videos/{id}/content, see
videos/signing.py) replaced by ``[redacted]``, so a log reader cannot replay a link."""

import re

from gunicorn.glogging import Logger, SafeAtoms
from gunicorn.http import wsgi

TOKEN = re.compile(r"(?i)((?:^|[?&;])token=)[^&;\s\"#]*")
REDACTED = r"\1[redacted]"


def redact(text):
    return TOKEN.sub(REDACTED, text) if isinstance(text, str) else text


class RedactedAtoms(SafeAtoms):
    """gunicorn's atoms with token values hidden in every one the log format reads (request line,
    query string, RAW_URI, Referer...), as it reads them: the atoms hold every request and response
    header and environ variable, and redacting them all cost more than the rest of the log line."""

    def __init__(self, atoms):
        dict.__init__(self, atoms)  # unescaped: SafeAtoms escapes quotes, after the redaction here

    def __getitem__(self, key):
        value = super().__getitem__(key)
        return redact(value).replace('"', '\\"') if isinstance(value, str) else value


class RedactingLogger(Logger):
    atoms_wrapper_class = RedactedAtoms


def _without_server(default_headers):
    def headers(self):
        return [line for line in default_headers(self) if not line.lower().startswith("server:")]

    headers.patched = True
    return headers


if not getattr(wsgi.Response.default_headers, "patched", False):
    wsgi.Response.default_headers = _without_server(wsgi.Response.default_headers)

logger_class = RedactingLogger
# No control socket (gunicorn 27's ~/.gunicorn/gunicorn.ctl): nothing here uses it, and two gateways on
# one machine (two ports, or tests) would take each other's.
control_socket_disable = True
