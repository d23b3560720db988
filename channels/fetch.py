"""Downloading a client-supplied image URL, for vendors that only take bytes.

Through the SSRF-guarded client (channels/outbound.py): only http(s); every address the host
resolves to must be public (no loopback, private, link-local, reserved or multicast) unless the
operator set GATEWAY_ALLOW_PRIVATE_URLS, and the connection goes to an address that was checked;
redirects are followed by hand and each hop checked again; the body is capped at
GATEWAY_MAX_IMAGE_BYTES and must be an image.
"""

import httpx
from django.conf import settings

from . import http, outbound
from .canonical import ImageInput, RequestInvalid, sniff_image

MAX_REDIRECTS = 3


def _refused(exc, param):
    code = "image_url_not_allowed" if exc.private else "invalid_image_url"
    return RequestInvalid(f"'{param}' {exc.message}", param, code)


def check_public_url(url, param="image"):
    try:
        outbound.check(url)
    except outbound.UrlRefused as exc:
        raise _refused(exc, param) from None


def fetch_image(url, param="image"):
    """Return an ImageInput holding the bytes behind ``url``."""
    limit = settings.GATEWAY_MAX_IMAGE_BYTES
    for _ in range(MAX_REDIRECTS + 1):
        try:
            with outbound.stream("GET", url, timeout=http.timeout(30)) as response:
                if response.is_redirect:
                    url = str(httpx.URL(url).join(response.headers.get("location", "")))
                    continue
                if response.status_code != 200:
                    raise RequestInvalid(
                        f"'{param}' could not be downloaded: HTTP {response.status_code}",
                        param,
                        "image_download_failed",
                    )
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > limit:
                    raise RequestInvalid(f"'{param}' is larger than {limit} bytes", param, "image_too_large")
                data = bytearray()
                for chunk in response.iter_bytes():
                    data.extend(chunk)
                    if len(data) > limit:
                        raise RequestInvalid(f"'{param}' is larger than {limit} bytes", param, "image_too_large")
        except outbound.UrlRefused as exc:
            raise _refused(exc, param) from None
        except httpx.HTTPError:
            raise RequestInvalid(f"'{param}' could not be downloaded", param, "image_download_failed") from None
        declared_type = response.headers.get("content-type", "").split(";")[0].strip()
        sniffed = sniff_image(bytes(data))
        if not declared_type.startswith("image/") and sniffed is None:
            raise RequestInvalid(
                f"'{param}' is not an image ({declared_type or 'no content type'})", param, "invalid_image"
            )
        return ImageInput(url=url, data=bytes(data), mime_type=sniffed or declared_type)
    raise RequestInvalid(f"'{param}' redirects too many times", param, "image_download_failed")
