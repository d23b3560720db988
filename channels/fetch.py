"""Downloading a client-supplied image URL, for vendors that only take bytes.

Guarded against SSRF: only http(s); every address the host resolves to must be public
(no loopback, private, link-local, reserved or multicast) unless the operator set
GATEWAY_ALLOW_PRIVATE_URLS; redirects are followed by hand and re-checked; the body is
capped at GATEWAY_MAX_IMAGE_BYTES and must be an image.
"""

import ipaddress
import socket
from urllib.parse import urlsplit

import httpx
from django.conf import settings

from . import http
from .canonical import ImageInput, RequestInvalid, sniff_image

MAX_REDIRECTS = 3


def check_public_url(url, param="image"):
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RequestInvalid(f"'{param}' must be an http(s) URL", param, "invalid_image_url")
    if settings.GATEWAY_ALLOW_PRIVATE_URLS:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    except socket.gaierror:
        raise RequestInvalid(
            f"'{param}' host {parts.hostname!r} does not resolve", param, "invalid_image_url"
        ) from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if not address.is_global or address.is_multicast:
            raise RequestInvalid(
                f"'{param}' points at a private or local address, which the gateway does not fetch",
                param,
                "image_url_not_allowed",
            )


def fetch_image(url, param="image"):
    """Return an ImageInput holding the bytes behind ``url``."""
    limit = settings.GATEWAY_MAX_IMAGE_BYTES
    for _ in range(MAX_REDIRECTS + 1):
        check_public_url(url, param)
        response = http.open_stream("GET", url, read_timeout=30, follow_redirects=False)
        try:
            if response.is_redirect:
                url = str(response.url.join(response.headers.get("location", "")))
                continue
            if response.status_code != 200:
                raise RequestInvalid(
                    f"'{param}' could not be downloaded: HTTP {response.status_code}", param, "image_download_failed"
                )
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > limit:
                raise RequestInvalid(f"'{param}' is larger than {limit} bytes", param, "image_too_large")
            data = bytearray()
            for chunk in response.iter_bytes():
                data.extend(chunk)
                if len(data) > limit:
                    raise RequestInvalid(f"'{param}' is larger than {limit} bytes", param, "image_too_large")
        except httpx.HTTPError:
            raise RequestInvalid(f"'{param}' could not be downloaded", param, "image_download_failed") from None
        finally:
            response.close()
        declared_type = response.headers.get("content-type", "").split(";")[0].strip()
        sniffed = sniff_image(bytes(data))
        if not declared_type.startswith("image/") and sniffed is None:
            raise RequestInvalid(
                f"'{param}' is not an image ({declared_type or 'no content type'})", param, "invalid_image"
            )
        return ImageInput(url=url, data=bytes(data), mime_type=sniffed or declared_type)
    raise RequestInvalid(f"'{param}' redirects too many times", param, "image_download_failed")
