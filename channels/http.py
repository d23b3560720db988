"""The one wrapper every upstream HTTP call goes through.

It sets a mandatory timeout and turns transport failures into the adaptor error an
upstream failure means for routing: nothing reached the vendor (try another channel)
or the vendor may have the request (do not send it twice). One pooled client is shared
by every thread (building a client costs a TLS context each time).
"""

import threading
import time

import httpx
from django.conf import settings

from . import metrics
from .adaptors.base import VendorTimeout, VendorUnavailable

_client = None
_client_lock = threading.Lock()
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


def timeout(read=None):
    return httpx.Timeout(
        read or settings.GATEWAY_UPSTREAM_TIMEOUT,
        connect=settings.GATEWAY_UPSTREAM_CONNECT_TIMEOUT,
    )


def client():
    global _client
    with _client_lock:
        if _client is None or _client.is_closed:
            _client = httpx.Client(
                follow_redirects=True,
                limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
            )
        return _client


def request(method, url, *, read_timeout=None, **kwargs):
    """Send one request and return the response (any status). Raises VendorUnavailable
    when the request provably did not reach the vendor and VendorTimeout when it may have."""
    begun = time.monotonic()
    try:
        response = client().request(method, url, timeout=timeout(read_timeout), **kwargs)
    except _NOT_SENT as exc:
        metrics.observe("unreachable", time.monotonic() - begun)
        raise VendorUnavailable(f"Could not connect to {_host(url)}: {type(exc).__name__}") from None
    except httpx.TimeoutException as exc:
        metrics.observe("timeout", time.monotonic() - begun)
        raise VendorTimeout(f"{_host(url)} did not answer in time ({type(exc).__name__})") from None
    except httpx.HTTPError as exc:
        metrics.observe("error", time.monotonic() - begun)
        raise VendorTimeout(f"Connection to {_host(url)} failed mid-request: {type(exc).__name__}") from None
    metrics.observe(response.status_code, time.monotonic() - begun)
    return response


def open_stream(method, url, *, headers=None, read_timeout=None, follow_redirects=True):
    """Start a streamed request; the caller must close the returned response (metrics: kind
    ``download``)."""
    http = client()
    begun = time.monotonic()
    labels = {"kind": "download"}
    try:
        built = http.build_request(method, url, headers=headers, timeout=timeout(read_timeout))
        response = http.send(built, stream=True, follow_redirects=follow_redirects)
    except _NOT_SENT as exc:
        metrics.observe("unreachable", time.monotonic() - begun, **labels)
        raise VendorUnavailable(f"Could not connect to {_host(url)}: {type(exc).__name__}") from None
    except httpx.HTTPError as exc:
        metrics.observe("error", time.monotonic() - begun, **labels)
        raise VendorTimeout(f"{_host(url)} failed: {type(exc).__name__}") from None
    metrics.observe(response.status_code, time.monotonic() - begun, **labels)
    return response


def _host(url):
    try:
        return httpx.URL(url).host or url
    except Exception:
        return "the vendor"
