"""DRF authentication with tenant ``sk-`` keys (``Authorization: Bearer sk-...``).

A suspended tenant (``Tenant.is_active`` False, set on the operator's tenant page) is refused
on every API call with 403 ``tenant_suspended``, in each dialect's error shape: creates, and
reads of its existing tasks and their content too. One rule for every route, the native ones
that read with POST included (Jimeng's GetResult), and nothing is held or charged. Its members
still see the tasks and download the videos on the dashboard, which stays read-only; content
links already handed out (signed, short-lived) work until they expire.
"""

import ipaddress

from django.conf import settings
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication

from .services import find_key, touch_key


class KeyUser:
    """The principal behind an API request: a key and its tenant (never a Django user)."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False

    def __init__(self, api_key):
        self.api_key = api_key
        self.tenant = api_key.tenant

    def __str__(self):
        return self.api_key.masked


def client_ip(request):
    """The caller's address, for key IP allowlists and the sign-in throttle: the first
    ``X-Forwarded-For`` entry when GATEWAY_TRUST_X_FORWARDED_FOR says a trusted proxy sets it,
    else the socket's. A malformed forwarded value is ignored, never trusted. "" when unknown."""
    if settings.GATEWAY_TRUST_X_FORWARDED_FOR:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")[0].strip()
        try:
            return str(ipaddress.ip_address(forwarded))
        except ValueError:
            pass
    return request.META.get("REMOTE_ADDR", "")


class ApiKeyAuthentication(BaseAuthentication):
    schemes = ("bearer",)

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None  # DRF answers NotAuthenticated (401)
        scheme, _, token = header.partition(" ")
        if scheme.lower() not in self.schemes or not token.strip():
            raise exceptions.AuthenticationFailed(
                "Send the key as 'Authorization: Bearer sk-...'.", code="invalid_api_key"
            )
        api_key = find_key(token.strip())
        if api_key is None:
            raise exceptions.AuthenticationFailed("Incorrect API key provided.", code="invalid_api_key")
        if not api_key.enabled:
            raise exceptions.AuthenticationFailed("This API key has been revoked.", code="key_revoked")
        if api_key.is_expired:
            raise exceptions.AuthenticationFailed("This API key has expired.", code="key_expired")
        if not api_key.tenant.is_active:
            # The key is right, so not a 401: the account may not use the API for now.
            raise exceptions.PermissionDenied(
                "This account is suspended; contact the operator of this gateway.", code="tenant_suspended"
            )
        ip = client_ip(request)
        if not api_key.allows_ip(ip):
            raise exceptions.PermissionDenied(f"This key may not be used from {ip}.", code="ip_not_allowed")
        touch_key(api_key)
        return KeyUser(api_key), api_key

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class BearerOrTokenAuthentication(ApiKeyAuthentication):
    """Vidu's clients send ``Authorization: Token <key>``; accept that as well as Bearer."""

    schemes = ("bearer", "token")
