"""A tiny threaded HTTP server the vendor simulators build on.

Each simulator subclasses ``Simulator``, registers routes with ``route(method, regex)``
and keeps its tasks in ``self.tasks``. Tests drive a task's life by setting
``self.script`` (the vendor states a task walks through, one per poll) and inject
failures with ``fail_next(...)``. Everything listens on 127.0.0.1 only and stops with
the test.
"""

import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

# A small, real MP4 served as the "finished video" by every simulator.
from channels.adaptors.samples import sample_video_bytes


@dataclass
class Request:
    method: str
    path: str
    query: dict
    headers: dict  # lower-cased names
    body: bytes

    def json(self):
        return json.loads(self.body or b"{}")


@dataclass
class Response:
    status: int = 200
    body: object = None  # dict/list -> JSON; bytes -> raw
    headers: dict = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (timeouts)


@dataclass
class SimTask:
    id: str
    model: str
    body: dict
    kind: str = ""
    polls: int = 0
    created: float = field(default_factory=time.time)
    extra: dict = field(default_factory=dict)


class Simulator:
    """Subclass and register routes in ``setup_routes``."""

    def __init__(self):
        self.routes = []
        self.tasks = {}
        self.requests = []  # every Request received, in order
        self.script = None  # vendor states per poll; the last one repeats
        self._failures = []  # queued Responses returned instead of the next matching call
        self._ids = itertools.count(1)
        self.lock = threading.Lock()
        self.video_bytes = sample_video_bytes()
        self.setup_routes()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    # --- lifecycle -------------------------------------------------------------------

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self):
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    # --- configuration -----------------------------------------------------------------

    def setup_routes(self):
        raise NotImplementedError

    def route(self, method, pattern, handler):
        self.routes.append((method, re.compile(f"^{pattern}$"), handler))

    def fail_next(self, status, body=None, *, path_contains="", delay=0.0, times=1):
        """Answer the next ``times`` calls whose path contains ``path_contains`` with this."""
        for _ in range(times):
            self._failures.append((path_contains, Response(status, body, delay=delay)))

    def next_id(self):
        return str(next(self._ids))

    def state_for(self, task, states):
        """Advance a task one step along ``self.script`` (or ``states``) per poll."""
        script = self.script or states
        with self.lock:
            index = min(task.polls, len(script) - 1)
            task.polls += 1
        return script[index]

    def calls(self, method=None, path_contains=""):
        return [r for r in self.requests if (method is None or r.method == method) and path_contains in r.path]

    # --- serving -----------------------------------------------------------------------

    def _dispatch(self, request):
        with self.lock:
            for index, (fragment, response) in enumerate(self._failures):
                if fragment in request.path:
                    del self._failures[index]
                    return response
        for method, pattern, handler in self.routes:
            match = pattern.match(request.path)
            if match and method == request.method:
                return handler(request, **match.groupdict())
        return Response(404, {"error": f"no route for {request.method} {request.path}"})

    def _handler_class(self):
        simulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(
                    method=self.command,
                    path=parts.path,
                    query={k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()},
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                request.raw_query = parts.query
                simulator.requests.append(request)
                try:
                    response = simulator._dispatch(request)
                except Exception as exc:  # a simulator bug must show up in the test, loudly
                    response = Response(500, {"simulator_error": repr(exc)})
                if response.delay:
                    time.sleep(response.delay)
                payload = response.body
                headers = dict(response.headers)
                if isinstance(payload, (bytes, bytearray)):
                    data = bytes(payload)
                    headers.setdefault("Content-Type", "application/octet-stream")
                elif payload is None:
                    data = b""
                else:
                    data = json.dumps(payload).encode()
                    headers.setdefault("Content-Type", "application/json")
                self.send_response(response.status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_DELETE = do_HEAD = do_PUT = _handle

        return Handler


def parse_multipart(request):
    """Return (fields, files) of a multipart/form-data body; files map to (filename, bytes, type)."""
    from email.parser import BytesParser
    from email.policy import HTTP

    content_type = request.headers.get("content-type", "")
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + request.body)
    fields, files = {}, {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        filename = part.get_param("filename", header="content-disposition")
        payload = part.get_payload(decode=True)
        if filename is not None:
            files[name] = (filename, payload, part.get_content_type())
        else:
            fields[name] = payload.decode()
    return fields, files
