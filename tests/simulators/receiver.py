"""A tenant's webhook receiver: a threaded HTTP server on 127.0.0.1 that answers every POST 200
and keeps each request (headers lower-cased, the raw body). The base Simulator's ``fail_next`` and
``serve_next`` make it answer 500, redirect, or hang (``delay``) instead."""

from .base import Response, Simulator


class Receiver(Simulator):
    def setup_routes(self):
        self.route("POST", r"/.*", lambda request: Response(200, {"received": True}))

    @property
    def hook_url(self):
        return f"{self.url}/hook"

    def deliveries(self):
        return [request for request in self.requests if request.method == "POST"]
