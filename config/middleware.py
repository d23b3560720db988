"""Project-wide middleware."""

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse

log = logging.getLogger(__name__)
RETRY_AFTER = 5  # seconds


class DatabaseUnavailableMiddleware:
    """A page that cannot reach the database answers 503 with Retry-After, not a 500.

    The client APIs answer the same in their own error shapes (videos/api/base.py); this covers
    the dashboard pages."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        log.warning("Database unavailable while serving %s: %s", request.path, exception)
        response = HttpResponse(
            "<!doctype html><title>Temporarily unavailable</title>"
            "<h1>Temporarily unavailable</h1><p>The gateway cannot reach its database for a moment. "
            "Nothing was changed; try again in a few seconds.</p>",
            status=503,
            content_type="text/html; charset=utf-8",
        )
        response["Retry-After"] = str(RETRY_AFTER)
        return response
