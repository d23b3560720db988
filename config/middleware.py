"""Project-wide middleware."""

import logging

from django.core.exceptions import SuspiciousOperation
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse
from rest_framework.views import APIView

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


class NulGuardMiddleware:
    """A page request with a NUL character in its path, query or form is a 400, before any view looks
    something up with it: PostgreSQL refuses NUL in text, which would otherwise be a 500.

    The client APIs (DRF views) refuse it in their own error shapes (videos/api/base.py)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if isinstance(getattr(view_func, "cls", None), type) and issubclass(view_func.cls, APIView):
            return None
        values = [request.path, *view_kwargs.values(), *request.GET.keys()]
        values += [value for _, items in request.GET.lists() for value in items]
        if request.method == "POST" and not request.content_type.startswith("multipart/"):
            values += [*request.POST.keys(), *(value for _, items in request.POST.lists() for value in items)]
        if any("\x00" in str(value) for value in values):
            raise SuspiciousOperation("A NUL character in the request")
        return None
