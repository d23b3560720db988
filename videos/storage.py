"""Finished videos on our disk: the verified copy made when a task is delivered, the sweep of
copies a dead worker left half-written, and where /content reads a video from.

A vendor's URL can answer anything (an error page, half a file, a 404 once it expired), so a copy
counts only when it is verified: the answer is 200 (or a 206 covering the whole file), the body is
not an HTML or JSON page, and its length matches the Content-Length / Content-Range and the size
or checksum the vendor states (MiniMax's file.bytes, Content-MD5, x-goog-hash). It is written to a
``.part`` file, and renamed into place only then. With storing off (GATEWAY_STORE_RESULTS) or a
video larger than GATEWAY_MAX_VIDEO_BYTES nothing is copied: the vendor's URL must answer with
the whole length, and /content relays it.
"""

import base64
import binascii
import hashlib
import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from django.conf import settings
from django_q.tasks import async_task

from channels import http
from channels.adaptors.base import AdaptorError, ContentSource, VendorUnavailable
from channels.services import call_context

from .models import VideoTask

log = logging.getLogger(__name__)
CHUNK = 256 * 1024
READ_TIMEOUT = 120  # seconds without a byte before a download counts as stalled
PART_SUFFIX = ".part"
PART_MAX_AGE = 10 * 60  # seconds: a .part file untouched this long belongs to a copy that died
KEEP_ALIVE_EVERY = 30  # seconds of copying between two calls to keep_alive (the delivery lease)
DELIVERY_JOB_TIMEOUT = 3600  # seconds django-q2 lets one delivery job run
GONE_STATUSES = (403, 404, 410)
CONTENT_RANGE_RE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


class DeliveryFailed(Exception):
    """The vendor's video could not be delivered whole. ``gone``: its URL answered as if there
    were no video (403/404/410, an empty body, a page instead of a video); otherwise the failure
    may pass (a timeout, a 5xx, a download cut short, a wrong length or checksum)."""

    def __init__(self, message, *, gone=False):
        super().__init__(message)
        self.message = message
        self.gone = gone


class LeaseLost(Exception):
    """Another worker has taken the delivery over: this copy stops."""


class TooLarge(Exception):
    pass


@dataclass
class Delivered:
    relative: str  # the copy, relative to MEDIA_ROOT; "" when not stored (relayed from the vendor)
    size: int


def enqueue_delivery(task_id, lease):
    """Queue the delivery of a task the poller holds the lease of (``next_poll_at == lease``)."""
    async_task(
        "videos.tasks.deliver_result",
        task_id,
        lease,
        sync=settings.GATEWAY_SYNC_TASKS,
        timeout=DELIVERY_JOB_TIMEOUT,
    )


def relative_path(task):
    return f"videos/{task.public_id}.mp4"


def stored_path(task):
    """Our copy of a task's video, if it is there whole: its size must be the one verified when
    it was stored (``result_bytes``). A copy truncated or replaced on disk is never served."""
    if not task.result_file:
        return None
    path = Path(settings.MEDIA_ROOT) / task.result_file
    try:
        size = path.stat().st_size
    except OSError:
        return None
    if size != task.result_bytes:
        log.error(
            "The stored video of %s has %s bytes, not the %s verified; not serving it",
            task.public_id,
            size,
            task.result_bytes,
        )
        return None
    return path


def content_source(task):
    """Where the bytes of a completed task are: our copy, else what the adaptor says."""
    path = stored_path(task)
    if path is not None:
        return ContentSource(path=str(path), expected_bytes=task.result_bytes)
    return task.channel.adaptor.content(call_context(task.channel), task.ref())


# --- Delivering ----------------------------------------------------------------------------


def fetch(task, source, *, store=True, keep_alive=None):
    """Deliver the video ``source`` points at: copy it into MEDIA_ROOT and verify it (``store``),
    or only check that the vendor serves it whole. Returns Delivered; raises DeliveryFailed, or
    LeaseLost when ``keep_alive`` (called every KEEP_ALIVE_EVERY seconds of copying) says so."""
    limit = settings.GATEWAY_MAX_VIDEO_BYTES
    if source.path:
        return _from_file(task, source, store, limit)
    if not source.url:
        raise DeliveryFailed("the vendor gave no URL for the video", gone=True)
    if not store:
        return Delivered("", _probe(source))
    try:
        return _download(task, source, limit, keep_alive)
    except TooLarge:
        return Delivered("", _probe(source))  # no length stated up front: ask for it


def _download(task, source, limit, keep_alive):
    target = Path(settings.MEDIA_ROOT) / relative_path(task)
    response = _open(source)
    part = None
    try:
        status = response.status_code
        if status == 206:
            length = _range_total(response, whole=True)
        elif status == 200:
            length = _content_length(response)
        else:
            raise _status_failure(status)
        _check_type(response)
        stated = source.expected_bytes
        if length is not None and stated is not None and length != stated:
            raise DeliveryFailed(f"the vendor states {stated} bytes but its URL sends {length}")
        if length is not None and length > limit:
            return Delivered("", length)  # too large to keep: relayed, and the URL answered whole
        expected = length if length is not None else stated
        digest = _stated_md5(response)
        md5 = hashlib.md5(usedforsecurity=False) if digest else None
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, part = tempfile.mkstemp(dir=target.parent, prefix=f"{target.stem}.", suffix=PART_SUFFIX)
        written = 0
        renewed = time.monotonic()
        with os.fdopen(fd, "wb") as out:
            try:
                for chunk in _body(response):
                    if not written and chunk.lstrip()[:1] in (b"<", b"{"):
                        raise DeliveryFailed("the vendor's URL answered with a page, not a video", gone=True)
                    written += len(chunk)
                    if written > limit:
                        raise TooLarge()
                    out.write(chunk)
                    if md5 is not None:
                        md5.update(chunk)
                    if time.monotonic() - renewed >= KEEP_ALIVE_EVERY:
                        out.flush()  # the .part file's mtime says a live copy is writing it (sweep_partial)
                        if keep_alive is not None:
                            keep_alive()
                        renewed = time.monotonic()
            except httpx.HTTPError as exc:
                of = f" of {expected}" if expected is not None else ""
                raise DeliveryFailed(
                    f"the download was cut short after {written}{of} bytes ({type(exc).__name__})"
                ) from None
            out.flush()
            os.fsync(out.fileno())
        if not written:
            raise DeliveryFailed("the vendor's URL answered with an empty body", gone=True)
        if expected is not None and written != expected:
            raise DeliveryFailed(f"the download has {written} bytes, not the {expected} stated")
        if md5 is not None and md5.digest() != digest:
            raise DeliveryFailed("the download does not match the vendor's MD5 checksum")
        if keep_alive is not None:
            keep_alive()  # still this worker's delivery: only then put the file in place
        os.replace(part, target)
        part = None
        return Delivered(relative_path(task), written)
    except OSError as exc:
        raise DeliveryFailed(f"the copy could not be written ({exc.strerror or exc})") from None
    finally:
        response.close()
        if part is not None:
            Path(part).unlink(missing_ok=True)


def _probe(source):
    """Check, without copying, that the vendor's URL serves the whole video: a one-byte range
    answered 206 with the total length, or 200 with a Content-Length. Returns the length."""
    response = _open(source, {"Range": "bytes=0-0"})
    try:
        status = response.status_code
        if status == 206:
            total = _range_total(response, whole=False)
        elif status == 200:
            total = _content_length(response)
        elif status == 416:
            raise DeliveryFailed("the vendor's URL serves an empty file", gone=True)
        else:
            raise _status_failure(status)
        _check_type(response)
        if total is None:
            raise DeliveryFailed("the vendor's URL does not state the video's length")
        if total == 0:
            raise DeliveryFailed("the vendor's URL serves an empty file", gone=True)
        if source.expected_bytes is not None and total != source.expected_bytes:
            raise DeliveryFailed(f"the vendor states {source.expected_bytes} bytes but its URL sends {total}")
        return total
    finally:
        response.close()


def _from_file(task, source, store, limit):
    """A vendor whose video is a local file (the sandbox)."""
    try:
        size = os.stat(source.path).st_size
    except OSError as exc:
        raise DeliveryFailed(f"the video file cannot be read ({exc.strerror})") from None
    if not size:
        raise DeliveryFailed("the video file is empty", gone=True)
    if source.expected_bytes is not None and size != source.expected_bytes:
        raise DeliveryFailed(f"the video file has {size} bytes, not the {source.expected_bytes} stated")
    if not store or size > limit:
        return Delivered("", size)
    target = Path(settings.MEDIA_ROOT) / relative_path(task)
    part = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, part = tempfile.mkstemp(dir=target.parent, prefix=f"{target.stem}.", suffix=PART_SUFFIX)
        written = 0
        with os.fdopen(fd, "wb") as out, open(source.path, "rb") as src:
            while chunk := src.read(CHUNK):
                written += out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if written != size:
            raise DeliveryFailed(f"the copy has {written} bytes, not {size}")
        os.replace(part, target)
        part = None
        return Delivered(relative_path(task), written)
    except OSError as exc:
        raise DeliveryFailed(f"the copy could not be written ({exc.strerror or exc})") from None
    finally:
        if part is not None:
            Path(part).unlink(missing_ok=True)


def _open(source, extra=None):
    headers = {**source.headers, "Accept-Encoding": "identity", **(extra or {})}
    try:
        return http.open_stream("GET", source.url, headers=headers, read_timeout=READ_TIMEOUT)
    except AdaptorError as exc:
        if isinstance(exc, VendorUnavailable):
            raise DeliveryFailed("the vendor's download server could not be reached") from None
        raise DeliveryFailed("the vendor's download server did not answer in time") from None


def _status_failure(status):
    if status in GONE_STATUSES:
        return DeliveryFailed(f"the vendor's URL answered HTTP {status}", gone=True)
    return DeliveryFailed(f"the vendor's URL answered HTTP {status}")


def _encoded(response):
    return response.headers.get("content-encoding", "identity").strip().lower() not in ("", "identity")


def _body(response):
    # What arrives, as it arrives (each read is at most httpcore's 64 KiB): a slow vendor still
    # touches the .part file and renews the lease. Asked for identity; a vendor that compresses
    # anyway is decoded (its lengths are then checked by the HTTP framing alone).
    return response.iter_bytes() if _encoded(response) else response.iter_raw()


def _content_length(response):
    if _encoded(response):
        return None  # the length of the compressed body, not of the video
    try:
        length = int(response.headers.get("content-length", ""))
    except ValueError:
        return None
    return length if length >= 0 else None


def _range_total(response, *, whole):
    """The total length a 206 states. ``whole``: the range must be the entire file (we asked for
    no range, so anything less is not the video)."""
    match = CONTENT_RANGE_RE.match(response.headers.get("content-range", "").strip())
    if match is None or match.group(3) == "*":
        raise DeliveryFailed("the vendor's URL answered 206 without the video's length")
    first, last, total = int(match.group(1)), int(match.group(2)), int(match.group(3))
    if whole and (first != 0 or last != total - 1):
        raise DeliveryFailed(f"the vendor's URL sent bytes {first}-{last} of {total}, not the whole video")
    return total


def _check_type(response):
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind.startswith("text/") or kind.endswith(("/json", "+json", "/xml", "+xml")):
        raise DeliveryFailed(f"the vendor's URL answered {kind}, not a video", gone=True)


def _stated_md5(response):
    """The MD5 the vendor's storage states for the body (Content-MD5, x-goog-hash), if any."""
    values = [response.headers.get("content-md5", "")]
    for item in response.headers.get("x-goog-hash", "").split(","):
        name, _, value = item.strip().partition("=")
        if name == "md5":
            values.append(value)
    for value in values:
        try:
            digest = base64.b64decode(value.strip(), validate=True)
        except (binascii.Error, ValueError):
            continue
        if len(digest) == 16:
            return digest
    return None


def discard(task_id, delivered):
    """Drop a copy that will not be served (the task was finished some other way meanwhile)."""
    if delivered.relative and not VideoTask.objects.filter(pk=task_id, result_file=delivered.relative).exists():
        (Path(settings.MEDIA_ROOT) / delivered.relative).unlink(missing_ok=True)


def sweep_partial(max_age=PART_MAX_AGE):
    """Delete the ``.part`` files nobody has written to for ``max_age`` seconds: copies whose
    worker died. A copy in progress touches its file every KEEP_ALIVE_EVERY seconds while bytes
    arrive, and fails when none arrive for READ_TIMEOUT.
    One directory listing; runs on ``serve`` start and from every poll tick."""
    folder = Path(settings.MEDIA_ROOT) / "videos"
    cutoff = time.time() - max_age
    removed = 0
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if not entry.name.endswith(PART_SUFFIX):
                    continue
                try:
                    if entry.stat().st_mtime < cutoff:
                        os.unlink(entry.path)
                        removed += 1
                except FileNotFoundError:
                    continue
    except FileNotFoundError:
        return 0
    except OSError as exc:
        log.warning("Could not sweep partial copies in %s: %s", folder, exc)
    if removed:
        log.info("Removed %d partial video copies left by dead workers", removed)
    return removed


def remove_result(task):
    if task.result_file:
        (Path(settings.MEDIA_ROOT) / task.result_file).unlink(missing_ok=True)
