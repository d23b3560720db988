"""The one wrapper every upstream HTTP call goes through.

It sets a mandatory timeout and turns transport failures into the adaptor error an
upstream failure means for routing: nothing reached the vendor (try another channel)
or the vendor may have the request (do not send it twice).
"""

import logging

import httpx
from django.conf import settings

from .adaptors.base import VendorTimeout, VendorUnavailable

log = logging.getLogger(__name__)

# Tests may set this to an httpx transport; production leaves it None.
transport = None


def timeout(read=None):
    return httpx.Timeout(
        read or settings.GATEWAY_UPSTREAM_TIMEOUT,
        connect=settings.GATEWAY_UPSTREAM_CONNECT_TIMEOUT,
    )


def client(read_timeout=None, **kwargs):
    return httpx.Client(timeout=timeout(read_timeout), transport=transport, follow_redirects=True, **kwargs)


def request(method, url, *, read_timeout=None, **kwargs):
    """Send one request and return the response (any status). Raises VendorUnavailable
    when the request provably did not reach the vendor and VendorTimeout when it may have."""
    try:
        with client(read_timeout) as http:
            return http.request(method, url, **kwargs)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol) as exc:
        raise VendorUnavailable(f"Could not connect to {_host(url)}: {type(exc).__name__}") from None
    except httpx.TimeoutException as exc:
        raise VendorTimeout(f"{_host(url)} did not answer in time ({type(exc).__name__})") from None
    except httpx.HTTPError as exc:
        raise VendorTimeout(f"Connection to {_host(url)} failed mid-request: {type(exc).__name__}") from None


def open_stream(method, url, *, headers=None, read_timeout=None):
    """Start a streamed request; the caller must close the returned (client, response)."""
    http = client(read_timeout)
    try:
        response = http.send(http.build_request(method, url, headers=headers), stream=True)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        http.close()
        raise VendorUnavailable(f"Could not connect to {_host(url)}: {type(exc).__name__}") from None
    except httpx.HTTPError as exc:
        http.close()
        raise VendorTimeout(f"{_host(url)} failed: {type(exc).__name__}") from None
    return http, response


def _host(url):
    try:
        return httpx.URL(url).host or url
    except Exception:
        return "the vendor"
