"""Volcengine OpenAPI request signing ("HMAC-SHA256", the V4 scheme of volc-sdk-python).

Used by the Jimeng adaptor (Visual service: region cn-north-1, service cv) and usable by
any other Volcengine OpenAPI product. Unlike AWS SigV4 the secret key gets no prefix and
the algorithm name is plain ``HMAC-SHA256``.
"""

import hashlib
import hmac
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote, urlsplit

ALGORITHM = "HMAC-SHA256"


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def _hmac(key, message):
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def _encode(value):
    # RFC 3986 unreserved characters stay, everything else is %XX (a space is %20, never +).
    return quote(str(value), safe="-_.~")


def canonical_query(query):
    pairs = parse_qsl(query, keep_blank_values=True) if isinstance(query, str) else list(query.items())
    return "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(pairs))


def canonical_request(method, path, query, headers, signed_headers, payload_hash):
    """``headers`` maps lower-case names to values; only ``signed_headers`` are used, in order."""
    canonical_headers = "".join(f"{name}:{str(headers[name]).strip()}\n" for name in signed_headers)
    return "\n".join(
        [
            method.upper(),
            quote(path or "/", safe="/-_.~"),
            canonical_query(query),
            canonical_headers,
            ";".join(signed_headers),
            payload_hash,
        ]
    )


def signing_key(secret_key, short_date, region, service):
    key = _hmac(secret_key.encode(), short_date)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, "request")


def signature(secret_key, x_date, region, service, canonical):
    scope = f"{x_date[:8]}/{region}/{service}/request"
    string_to_sign = f"{ALGORITHM}\n{x_date}\n{scope}\n{sha256_hex(canonical.encode())}"
    return hmac.new(signing_key(secret_key, x_date[:8], region, service), string_to_sign.encode(), "sha256").hexdigest()


def host_header(url):
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    host = parts.hostname or ""
    return host if parts.port in (None, default) else f"{host}:{parts.port}"


def sign(method, url, body, access_key, secret_key, *, region, service, content_type="application/json", now=None):
    """Return the headers to send with ``body`` (bytes) to ``url``: Content-Type, Host,
    X-Date, X-Content-Sha256 and Authorization."""
    now = now or datetime.now(UTC)
    x_date = now.strftime("%Y%m%dT%H%M%SZ")
    payload_hash = sha256_hex(body)
    headers = {
        "content-type": content_type,
        "host": host_header(url),
        "x-content-sha256": payload_hash,
        "x-date": x_date,
    }
    signed = sorted(headers)
    parts = urlsplit(url)
    canonical = canonical_request(method, parts.path, parts.query, headers, signed, payload_hash)
    scope = f"{x_date[:8]}/{region}/{service}/request"
    authorization = (
        f"{ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={';'.join(signed)}, "
        f"Signature={signature(secret_key, x_date, region, service, canonical)}"
    )
    return {
        "Content-Type": content_type,
        "Host": headers["host"],
        "X-Date": x_date,
        "X-Content-Sha256": payload_hash,
        "Authorization": authorization,
    }
