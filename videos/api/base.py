"""What every client dialect shares: key auth, tenant scoping, one error path.

A dialect subclasses DialectView and says how an error looks on its wire
(``error_body``); every exception, ours or DRF's, goes through ``handle_error``.
"""

import logging

from django.http import Http404
from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from channels.canonical import RequestInvalid

from ..errors import (
    AUTHENTICATION,
    INVALID,
    PERMISSION,
    SERVER,
    GatewayError,
    database_unavailable,
    is_database_unavailable,
    not_found,
)
from ..models import VideoTask

log = logging.getLogger(__name__)


def as_gateway_error(exc):
    if isinstance(exc, GatewayError):
        return exc
    if is_database_unavailable(exc):
        log.warning("Database unavailable: %s", exc)
        return database_unavailable()
    if isinstance(exc, RequestInvalid):
        return GatewayError(400, exc.code, exc.message, param=exc.param)
    if isinstance(exc, exceptions.NotAuthenticated):
        return GatewayError(
            401, "missing_api_key", "No API key: send 'Authorization: Bearer sk-...'.", kind=AUTHENTICATION
        )
    if isinstance(exc, exceptions.AuthenticationFailed):
        return GatewayError(401, _code(exc, "invalid_api_key"), str(exc.detail), kind=AUTHENTICATION)
    if isinstance(exc, exceptions.PermissionDenied):
        return GatewayError(403, _code(exc, "permission_denied"), str(exc.detail), kind=PERMISSION)
    if isinstance(exc, (Http404, exceptions.NotFound)):
        return not_found()
    if isinstance(exc, exceptions.ParseError):
        return GatewayError(400, "invalid_body", f"The request body could not be parsed: {exc.detail}")
    if isinstance(exc, exceptions.UnsupportedMediaType):
        return GatewayError(415, "unsupported_media_type", str(exc.detail))
    if isinstance(exc, exceptions.MethodNotAllowed):
        return GatewayError(405, "method_not_allowed", str(exc.detail))
    if isinstance(exc, exceptions.APIException):
        return GatewayError(
            exc.status_code, _code(exc, "error"), str(exc.detail), kind=INVALID if exc.status_code < 500 else SERVER
        )
    return None


def _code(exc, default):
    codes = exc.get_codes()
    return codes if isinstance(codes, str) and codes not in ("authentication_failed", "permission_denied") else default


class AnyAccept(DefaultContentNegotiation):
    """Every dialect answers JSON (or bytes) whatever Accept says; the SDKs send odd ones."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class DialectView(APIView):
    route = VideoTask.Route.OPENAI
    content_negotiation_class = AnyAccept
    own_route_only = False  # native dialects see only the tasks created through them

    def error_body(self, error):
        raise NotImplementedError

    def error_status(self, error, body):
        """The HTTP status for an error; vendors' native wires use their own."""
        return error.status

    def handle_error(self, exc):
        error = as_gateway_error(exc)
        if error is None:
            log.exception("Unhandled error in %s", type(self).__name__)
            error = GatewayError(
                500, "internal_error", "The gateway failed; the request was not processed.", kind=SERVER
            )
        body = self.error_body(error)
        response = Response(body, status=self.error_status(error, body))
        if error.status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="api"'
        for name, value in error.headers.items():
            response[name] = value
        return response

    def handle_exception(self, exc):
        # Unlike DRF's default, unexpected exceptions also get the dialect's shape.
        response = self.handle_error(exc)
        self.response = response
        return response

    @property
    def api_key(self):
        return self.request.user.api_key

    @property
    def tenant(self):
        return self.request.user.tenant

    def tasks(self):
        tasks = VideoTask.objects.for_tenant(self.tenant)
        return tasks.filter(route=self.route) if self.own_route_only else tasks

    def get_task(self, public_id):
        task = self.tasks().select_related("channel", "remixed_from").filter(public_id=public_id).first()
        if task is None:
            raise not_found()
        return task

    @property
    def idempotency_key(self):
        key = self.request.headers.get("Idempotency-Key", "").strip()
        if len(key) > 200:
            raise GatewayError(400, "invalid_idempotency_key", "Idempotency-Key may be at most 200 characters.")
        return key

    def body(self):
        data = self.request.data
        if not hasattr(data, "get"):
            raise GatewayError(400, "invalid_body", "The request body must be a JSON object or a form.")
        return data
