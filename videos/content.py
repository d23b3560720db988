"""Streaming a video to a client: Range (206), HEAD, constant memory for any size.

A stored copy is served from disk, only if its size is the one verified when it was stored;
otherwise the vendor's bytes are relayed, passing the client's Range header through. Either way
the status and Content-Length are decided before any byte is sent: a vendor that does not answer
200/206 (or cannot be reached) is a 502 in the dialect's error shape, never a 200 cut short.
"""

import os
import re

from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils.http import http_date

from channels import http
from channels.adaptors.base import AdaptorError

from .errors import INVALID, UPSTREAM, GatewayError
from .storage import content_source

CHUNK = 64 * 1024
RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


def respond(request, task):
    filename = f"{task.public_id}.mp4"
    try:
        source = content_source(task)
    except AdaptorError:
        raise _unavailable("The vendor's copy of this video cannot be reached right now.") from None
    if source.path:
        return file_response(request, source.path, source.content_type, filename, size=source.expected_bytes)
    return relay_response(request, source, filename)


def _unavailable(message):
    return GatewayError(502, "vendor_content_unavailable", message, kind=UPSTREAM)


def range_not_satisfiable(size):
    """416 for a Range outside the video, with its size (``Content-Range: bytes */size``, where known)
    and a JSON body in the /v1/videos error shape (the route the content is served on)."""
    message = "The requested Range is outside the video" + (f" ({size} bytes)." if size is not None else ".")
    error = {"message": message, "type": INVALID, "param": "Range", "code": "range_not_satisfiable"}
    response = JsonResponse({"error": error}, status=416)
    if size is not None:
        response["Content-Range"] = f"bytes */{size}"
    return response


def parse_range(header, size):
    """Return (start, end) inclusive for a single-range header, None for no/ignored range,
    or raise ValueError when unsatisfiable."""
    if not header:
        return None
    match = RANGE_RE.match(header.strip())
    if not match or (not match.group(1) and not match.group(2)):
        return None  # malformed or multi-range: serve the whole file, as RFC 9110 allows
    first, last = match.group(1), match.group(2)
    if first:
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
    else:
        length = int(last)
        if length == 0:
            raise ValueError("empty suffix range")
        start, end = max(0, size - length), size - 1
    if start >= size or start > end:
        raise ValueError("range not satisfiable")
    return start, end


def _read(handle, start, length):
    with handle:
        handle.seek(start)
        remaining = length
        while remaining > 0:
            chunk = handle.read(min(CHUNK, remaining))
            if not chunk:
                return
            remaining -= len(chunk)
            yield chunk


def file_response(request, path, content_type, filename, size=None):
    """Serve a local file. With ``size`` (the length verified when it was stored), a file of any
    other size is refused (502) rather than announced at one length and sent at another."""
    try:
        handle = open(path, "rb")  # the length announced and the bytes sent are of this one file
    except OSError:
        raise _unavailable("The stored copy of this video cannot be read.") from None
    stat = os.fstat(handle.fileno())
    if size is not None and stat.st_size != size:
        handle.close()
        raise _unavailable("The stored copy of this video is incomplete.")
    size = stat.st_size
    etag = f'"{stat.st_mtime_ns:x}-{size:x}"'
    try:
        byte_range = parse_range(request.headers.get("Range"), size)
    except ValueError:
        handle.close()
        return range_not_satisfiable(size)
    if byte_range and request.headers.get("If-Range") not in (None, etag):
        byte_range = None
    start, end = byte_range or (0, size - 1)
    length = end - start + 1 if size else 0
    if request.method == "HEAD":
        handle.close()
        response = HttpResponse(status=206 if byte_range else 200)
    else:
        response = StreamingHttpResponse(_read(handle, start, length), status=206 if byte_range else 200)
    response["Content-Type"] = content_type
    response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    response["ETag"] = etag
    response["Last-Modified"] = http_date(stat.st_mtime)
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    response["Cache-Control"] = "private, max-age=3600"
    if byte_range:
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    return response


def relay_response(request, source, filename):
    headers = dict(source.headers)
    if request.headers.get("Range"):
        headers["Range"] = request.headers["Range"]
    headers["Accept-Encoding"] = "identity"  # relay the bytes as stored, lengths intact
    # A HEAD is answered from a GET's headers (closed unread): signed vendor URLs often allow GET only.
    try:
        upstream = http.open_stream("GET", source.url, headers=headers, read_timeout=120)
    except AdaptorError:
        raise _unavailable("The vendor's copy of this video cannot be reached right now.") from None
    if upstream.status_code not in (200, 206):
        status = upstream.status_code
        upstream.close()
        if status == 416:
            return range_not_satisfiable(None)
        raise _unavailable(f"The vendor no longer serves this video (HTTP {status}).")

    def body():
        try:
            yield from upstream.iter_raw(CHUNK)
        finally:
            upstream.close()

    if request.method == "HEAD":
        upstream.close()
        response = HttpResponse(status=upstream.status_code)
    else:
        response = StreamingHttpResponse(body(), status=upstream.status_code)
    response["Content-Type"] = upstream.headers.get("content-type", source.content_type)
    for name in ("Content-Length", "Content-Range", "Accept-Ranges", "ETag", "Last-Modified"):
        if name in upstream.headers:
            response[name] = upstream.headers[name]
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    return response
