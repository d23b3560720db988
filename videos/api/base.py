"""What every client dialect shares: key auth, tenant scoping, one error path.

A dialect subclasses DialectView and says how an error looks on its wire
(``error_body``); every exception, ours or DRF's, goes through ``handle_error``.
"""

import logging
from functools import partial

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import Http404
from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.prepared import Prepared
from channels.canonical import RequestInvalid

from ..errors import (
    AUTHENTICATION,
    INVALID,
    NOT_FOUND,
    PERMISSION,
    SERVER,
    GatewayError,
    database_unavailable,
    is_database_unavailable,
    not_found,
)
from ..models import VideoTask, without_surrogates
from .parsing import check_value

log = logging.getLogger(__name__)


def as_gateway_error(exc):
    if isinstance(exc, GatewayError):
        return exc
    if is_database_unavailable(exc):
        log.warning("Database unavailable: %s", exc)
        return database_unavailable()
    if isinstance(exc, RequestInvalid):
        return GatewayError(exc.status, exc.code, exc.message, param=exc.param)
    if isinstance(exc, RequestDataTooBig):
        return body_too_large()
    if isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        return GatewayError(
            400,
            "too_many_fields",
            f"The request body has too many form fields or files (the limits are "
            f"{settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} fields and {settings.DATA_UPLOAD_MAX_NUMBER_FILES} files).",
        )
    if isinstance(exc, RecursionError):  # JSON nested too deeply for the parser
        return GatewayError(400, "invalid_body", "The request body could not be parsed: it is nested too deeply.")
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


def body_too_large():
    limit = settings.GATEWAY_MAX_BODY_BYTES
    return GatewayError(
        413,
        "request_too_large",
        f"The request body is larger than the gateway's limit of {limit} bytes ({limit / 1024**2:g} MiB).",
    )


def _code(exc, default):
    codes = exc.get_codes()
    return codes if isinstance(codes, str) and codes not in ("authentication_failed", "permission_denied") else default


class AnyAccept(DefaultContentNegotiation):
    """Every dialect answers JSON (or bytes) whatever Accept says; the SDKs send odd ones."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class SafeJSONRenderer(JSONRenderer):
    """JSON, even when a string holds a lone surrogate (echoed in an error, or in a row stored before
    the API refused them): such characters become U+FFFD rather than a 500."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        try:
            return super().render(data, accepted_media_type, renderer_context)
        except UnicodeEncodeError:
            return super().render(without_surrogates(data), accepted_media_type, renderer_context)


class DialectView(APIView):
    route = VideoTask.Route.OPENAI
    content_negotiation_class = AnyAccept
    renderer_classes = [SafeJSONRenderer]
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

    def initial(self, request, *args, **kwargs):
        # Every body, multipart uploads included, is refused above the limit before it is read.
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.GATEWAY_MAX_BODY_BYTES:
            raise body_too_large()
        # Ids in the path and query parameters reach database lookups: no NUL or lone surrogate.
        for name, value in (*kwargs.items(), *request.query_params.lists()):
            check_value(value, name)
        super().initial(request, *args, **kwargs)

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

    @classmethod
    def tasks_of(cls, tenant):
        """The tasks a client of this dialect may see: its tenant's (native dialects: made through them)."""
        tasks = VideoTask.objects.for_tenant(tenant)
        return tasks.filter(route=cls.route) if cls.own_route_only else tasks

    @classmethod
    def shown_tasks_of(cls, tenant):
        """tasks_of() with what this dialect's rendering of a task needs from other rows."""
        return cls.tasks_of(tenant)

    def tasks(self):
        return self.tasks_of(self.tenant)

    def shown_tasks(self):
        return self.shown_tasks_of(self.tenant)

    def find_task(self, public_id, *related):
        """The task ``public_id`` of the key's tenant, or None, in one query compiled once per view
        (accounts/prepared.py). ``related``: the rows a caller goes on to use (a remix needs the
        source's channel); a status read needs none."""
        reader = _task_readers.get((type(self), related))
        if reader is None:
            reader = _task_readers[type(self), related] = Prepared(
                partial(_task_by_id, type(self), related), TENANT_STAND_IN, "<public_id>"
            )
        return reader.get(self.tenant.pk, public_id)

    def get_task(self, public_id, *related):
        """find_task(), or 404."""
        task = self.find_task(public_id, *related)
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
        """The request's JSON object or form, every string in it checked (parsing.check_value)."""
        data = self.request.data
        if not hasattr(data, "get"):
            raise GatewayError(400, "invalid_body", "The request body must be a JSON object or a form.")
        for name, value in data.lists() if hasattr(data, "lists") else data.items():
            check_value(name, str(name))
            check_value(value, str(name))
        return data


TENANT_STAND_IN = -1  # no tenant has this id
_task_readers = {}  # (view class, related) -> Prepared


def _task_by_id(view, related, tenant_id, public_id):
    tasks = view.shown_tasks_of(tenant_id)
    if related:  # select_related() without names would join every foreign key
        tasks = tasks.select_related(*related)
    return tasks.filter(public_id=public_id)


def unknown_route(dialect):
    """A catch-all view for an API prefix: any path under it no route serves answers 404 in ``dialect``'s
    error shape (not Django's HTML page), whatever the method and without a key."""

    def initial(self, request, *args, **kwargs):
        raise GatewayError(
            404, "not_found", f"No API route {request.method} {request.path} exists on this gateway.", kind=NOT_FOUND
        )

    attrs = {"authentication_classes": [], "permission_classes": [], "initial": initial}
    return type(f"Unknown{dialect.__name__}", (dialect,), attrs).as_view()
