"""A tiny threaded HTTP server the vendor simulators build on.

Each simulator subclasses ``Simulator``, registers routes with ``route(method, regex)``
and keeps its tasks in ``self.tasks``. Tests drive a task's life by setting
``self.script`` (the vendor states a task walks through, one per poll) and inject
failures with ``fail_next(...)``; downloads can be cut short (``cut_next``: the whole
Content-Length is announced, part of the body sent, the connection closed) or sent slowly
(``trickle_next``). A vendor can forget a task (``forget``: its queries answer the vendor's
own "not found", once or for good) and take a create, then answer it too late (``hang_next``:
the job exists, the client has given up). Everything listens on 127.0.0.1 only and stops with
the test.

Callbacks: a vendor that calls back (Kling, Vidu, Seedance, MiniMax) POSTs its callback to the
``callback_url`` a create named whenever a test moves the job with ``advance(task_id, state)`` (the
vendor's own progress; queries answer that state from then on), from a background thread, as the
vendor would. Each POST and its answer is kept in ``callbacks``; ``lose_callbacks`` drops them (the
vendor never reaches the gateway), and subclasses add their own faults (Vidu: a forged signature).
"""

import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx

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
    cut_at: int | None = None  # send only this many bytes of the body, then close (Content-Length stays whole)
    trickle: float = 0.0  # seconds to wait between chunks of the body
    chunk: int = 4096  # chunk size when trickling


@dataclass
class Callback:
    """One callback the vendor POSTed, and what the gateway answered (status None: no answer)."""

    url: str
    headers: dict
    body: bytes
    state: str
    status: int | None = None
    answer: str = ""

    def json(self):
        return json.loads(self.body)


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
        self._hangs = []  # (method, path fragment, seconds): the real answer, that much later
        self._forgotten = {}  # task id -> queries left answering "not found" (None: for good)
        self._ids = itertools.count(1)
        self.lock = threading.Lock()
        self.callbacks = []  # every Callback POSTed, in order
        self.lose_callbacks = False  # advance() calls nobody back: the vendor cannot reach the gateway
        self.callback_retry_delay = 0.2  # seconds between two tries of a callback that was not acknowledged
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

    def serve_next(self, response, *, path_contains="", times=1):
        """Answer the next ``times`` calls whose path contains ``path_contains`` with ``response``."""
        for _ in range(times):
            self._failures.append((path_contains, response))

    def cut_next(self, path_contains, *, at=None, times=1):
        """The next ``times`` downloads announce the whole video but stop after ``at`` bytes (half)."""
        at = len(self.video_bytes) // 2 if at is None else at
        response = Response(200, self.video_bytes, {"Content-Type": "video/mp4"}, cut_at=at)
        self.serve_next(response, path_contains=path_contains, times=times)

    def trickle_next(self, path_contains, *, seconds_per_chunk, chunk=1024, times=1):
        """The next ``times`` downloads send the video ``chunk`` bytes at a time, slowly."""
        response = Response(
            200, self.video_bytes, {"Content-Type": "video/mp4"}, trickle=seconds_per_chunk, chunk=chunk
        )
        self.serve_next(response, path_contains=path_contains, times=times)

    def hang_next(self, seconds, *, method="POST", path_contains="", times=1):
        """The next ``times`` matching calls are served for real (a create makes its job), but the
        answer is sent only after ``seconds``: past the client's timeout, the job exists."""
        for _ in range(times):
            self._hangs.append((method, path_contains, seconds))

    def forget(self, task_id, *, times=None):
        """The vendor no longer knows ``task_id``: its queries answer the vendor's "not found" (the
        next ``times`` ones, then it knows the task again; with None, for good)."""
        self._forgotten[str(task_id)] = times

    def known(self, task_id):
        """The task a query names, or None when the vendor does not know it (never issued, or forgotten)."""
        task_id = str(task_id)
        with self.lock:
            if task_id in self._forgotten:
                left = self._forgotten[task_id]
                if left is None:
                    return None
                if left > 0:
                    self._forgotten[task_id] = left - 1
                    return None
                del self._forgotten[task_id]
        return self.tasks.get(task_id)

    def next_id(self):
        return str(next(self._ids))

    def state_for(self, task, states):
        """Advance a task one step along ``self.script`` (or ``states``) per poll."""
        script = self.script or states
        with self.lock:
            index = min(task.polls, len(script) - 1)
            task.polls += 1
            if "advanced" in task.extra:  # advance() moved it: the vendor's state, whatever the script says
                return task.extra["advanced"]
        return script[index]

    def current_state(self, task, states):
        """The state the job is in now, without advancing it: the one advance() set, else the one the
        last query reported (the script's first before any query). Cancel endpoints decide on it."""
        script = self.script or states
        with self.lock:
            if "advanced" in task.extra:
                return task.extra["advanced"]
            return script[min(max(task.polls - 1, 0), len(script) - 1)]

    # --- callbacks ---------------------------------------------------------------------

    def advance(self, task_id, state):
        """The vendor's job moves to ``state`` on its own: queries answer it from now on and, when
        the create named a ``callback_url``, the vendor calls back (in a background thread)."""
        task = self.tasks[str(task_id)]
        with self.lock:
            task.extra["advanced"] = state
        url = self.callback_url(task)
        if url and not self.lose_callbacks:
            body, headers = self.callback_request(task, state)
            args = (url, body, headers, state, self.callback_retries(state))
            threading.Thread(target=self._post_callback, args=args, daemon=True).start()

    def callback_url(self, task):
        return task.body.get("callback_url") if isinstance(task.body, dict) else None

    def callback_request(self, task, state):
        """(body bytes, headers) of this vendor's callback about ``task`` in ``state``."""
        raise NotImplementedError

    def callback_retries(self, state):
        """How many more times the vendor tries a callback the gateway did not acknowledge (2xx)."""
        return 0

    def _post_callback(self, url, body, headers, state, retries):
        for attempt in range(retries + 1):
            record = Callback(url=url, headers=dict(headers), body=body, state=state)
            try:
                response = httpx.post(url, content=body, headers=headers, timeout=10)
                record.status, record.answer = response.status_code, response.text
            except httpx.HTTPError as exc:
                record.answer = repr(exc)
            with self.lock:
                self.callbacks.append(record)
            if record.status is not None and record.status < 300:
                return
            if attempt < retries:
                time.sleep(self.callback_retry_delay)

    def wait_for_callbacks(self, count, timeout=10.0):
        """The callbacks once ``count`` of them have been answered (or failed); AssertionError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while len(self.callbacks) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.callbacks)} callbacks answered, expected {count}")
            time.sleep(0.01)
        return list(self.callbacks)

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
                response = handler(request, **match.groupdict())
                response.delay = max(response.delay, self._hang_for(request))
                return response
        return Response(404, {"error": f"no route for {request.method} {request.path}"})

    def _hang_for(self, request):
        with self.lock:
            for index, (method, fragment, seconds) in enumerate(self._hangs):
                if method == request.method and fragment in request.path:
                    del self._hangs[index]
                    return seconds
        return 0.0

    def _handler_class(self):
        simulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # TCP_NODELAY, as real servers set it: headers and body go out in separate writes, and
            # without it every keep-alive answer waits ~40 ms for the client's delayed ACK.
            disable_nagle_algorithm = True

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
                if self.command == "HEAD":
                    return
                try:
                    if response.cut_at is not None:
                        self.wfile.write(data[: response.cut_at])
                        self.wfile.flush()
                        self.close_connection = True  # fewer bytes than announced, then EOF
                    elif response.trickle:
                        for start in range(0, len(data), response.chunk):
                            self.wfile.write(data[start : start + response.chunk])
                            self.wfile.flush()
                            time.sleep(response.trickle)
                    else:
                        self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client went away (a killed worker)

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
