"""Requests to URLs the gateway's users give it (webhook endpoints, client image URLs), guarded
against SSRF.

``check(url)`` resolves the host once and refuses the URL unless every address it resolves to is
public (no loopback, private, link-local, reserved or multicast address; GATEWAY_ALLOW_PRIVATE_URLS
turns that off) and, for ``https_only`` callers, unless it is https. ``stream()`` then connects to
an address that was checked, never to a second DNS answer (a name cannot pass the check and then
resolve elsewhere): the request goes to the address, with the ``Host`` header and the TLS server
name (SNI, and the certificate's host check) set to the name. Redirects are never followed here (a
caller that follows them checks every hop), and no proxy from the environment is used.
"""

import contextlib
import ipaddress
import socket
import threading
from dataclasses import dataclass

import httpx
from django.conf import settings


class UrlRefused(Exception):
    """The gateway will not request this URL. ``message`` completes "The URL ..."; ``private``
    is true when it was refused for where it points (not for its form)."""

    def __init__(self, message, *, private=False):
        super().__init__(message)
        self.message = message
        self.private = private


@dataclass(frozen=True)
class Target:
    url: httpx.URL
    addresses: tuple  # the checked addresses, in the resolver's order


_ssl = None
_ssl_lock = threading.Lock()


def _ssl_context():
    """One TLS context for every guarded request (building one loads the CA bundle)."""
    global _ssl
    with _ssl_lock:
        if _ssl is None:
            _ssl = httpx.create_ssl_context()
        return _ssl


def _parse(url, https_only):
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        raise UrlRefused("is not a valid URL") from None
    schemes = ("https",) if https_only else ("http", "https")
    if parsed.scheme not in schemes or not parsed.host:
        raise UrlRefused("must be an https:// URL" if https_only else "must be an http(s) URL")
    return parsed


def _refused(address):
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


def check(url, *, https_only=False):
    """Resolve ``url``'s host and return the Target to connect to, or raise UrlRefused."""
    parsed = _parse(url, https_only)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parsed.host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise UrlRefused(f"host {parsed.host!r} does not resolve") from None
    addresses = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if not settings.GATEWAY_ALLOW_PRIVATE_URLS and _refused(address):
            raise UrlRefused(
                f"points at a private or local address ({address}), which the gateway does not connect to",
                private=True,
            )
        if str(address) not in addresses:
            addresses.append(str(address))
    return Target(parsed, tuple(addresses))


def validate(url, *, https_only=False):
    """The check made when a URL is saved: its form, and (unless private addresses are allowed)
    where its host points now. Deliveries check again, on every request."""
    if settings.GATEWAY_ALLOW_PRIVATE_URLS:
        _parse(url, https_only)
        return
    check(url, https_only=https_only)


@contextlib.contextmanager
def stream(method, url, *, timeout, headers=None, content=None, https_only=False):
    """Send one request to a checked address of ``url`` and yield the streamed response (closed
    on exit). Addresses are tried in order while the connection is refused; raises UrlRefused, or
    httpx errors for the transport (httpx.TimeoutException, httpx.ConnectError, ...)."""
    target = check(url, https_only=https_only)
    host = target.url.raw_host.decode("ascii")
    try:
        ipaddress.ip_address(host)
        extensions = {}  # an address in the URL: no server name to send
    except ValueError:
        extensions = {"sni_hostname": host}
    failure = None
    for address in target.addresses:
        client = httpx.Client(verify=_ssl_context(), trust_env=False, follow_redirects=False, timeout=timeout)
        try:
            request = client.build_request(
                method,
                target.url.copy_with(host=address),
                headers={**(headers or {}), "Host": target.url.netloc.decode("ascii")},
                content=content,
                extensions=extensions,
            )
            response = client.send(request, stream=True)
        except httpx.ConnectError as exc:
            client.close()
            failure = exc
            continue
        except BaseException:
            client.close()
            raise
        try:
            yield response
        finally:
            response.close()
            client.close()
        return
    raise failure


def webhook_url_problem(url):
    """Why a webhook endpoint could not have this URL (a sentence for a form), or None. Webhook
    URLs must be https in production (GATEWAY_MODE) and pass the address check."""
    try:
        validate(url, https_only=settings.PRODUCTION)
    except UrlRefused as exc:
        return f"The URL {exc.message}."
    return None
