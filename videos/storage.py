"""Finished videos: copied to MEDIA_ROOT when they complete, so they outlive the vendor's
expiring URLs; streamed from the vendor until (or unless) the copy exists."""

import logging
import os
import shutil
import tempfile
from pathlib import Path

from django.conf import settings
from django.db.models import Q
from django_q.tasks import async_task

from channels import http
from channels.adaptors.base import AdaptorError, ContentSource
from channels.services import call_context

from .models import VideoTask

log = logging.getLogger(__name__)
CHUNK = 256 * 1024


def enqueue_store(task_id):
    async_task("videos.tasks.store_result", task_id, sync=settings.GATEWAY_SYNC_TASKS)


def stored_path(task):
    if not task.result_file:
        return None
    path = Path(settings.MEDIA_ROOT) / task.result_file
    return path if path.is_file() else None


def content_source(task):
    """Where the bytes of a completed task are: our copy, else what the adaptor says."""
    path = stored_path(task)
    if path is not None:
        return ContentSource(path=str(path))
    return task.channel.adaptor.content(call_context(task.channel), task.ref())


def store_result(task_id):
    """Copy a completed task's video into MEDIA_ROOT. Safe to run twice."""
    task = VideoTask.objects.select_related("channel").filter(pk=task_id).first()
    if task is None or task.status != VideoTask.Status.COMPLETED or stored_path(task) or task.deleted_at:
        return None
    relative = f"videos/{task.public_id}.mp4"
    target = Path(settings.MEDIA_ROOT) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        source = task.channel.adaptor.content(call_context(task.channel), task.ref())
        size = _copy(source, target)
    except (AdaptorError, OSError, TooLarge) as exc:
        log.warning("Could not store the video of %s: %s", task.public_id, exc)
        return None
    # Only record the copy if the video was not deleted meanwhile.
    if not VideoTask.objects.filter(Q(deleted_at__isnull=True), pk=task.pk).update(
        result_file=relative, result_bytes=size
    ):
        target.unlink(missing_ok=True)
    return size


class TooLarge(Exception):
    pass


def _copy(source, target):
    limit = settings.GATEWAY_MAX_VIDEO_BYTES
    fd, temp = tempfile.mkstemp(dir=target.parent, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            if source.path:
                with open(source.path, "rb") as src:
                    shutil.copyfileobj(src, out, CHUNK)
            else:
                response = http.open_stream("GET", source.url, headers=source.headers, read_timeout=120)
                try:
                    if response.status_code != 200:
                        raise AdaptorError(f"download answered HTTP {response.status_code}")
                    written = 0
                    for chunk in response.iter_bytes(CHUNK):
                        written += len(chunk)
                        if written > limit:
                            raise TooLarge(f"video is larger than {limit} bytes")
                        out.write(chunk)
                finally:
                    response.close()
        os.replace(temp, target)
        return target.stat().st_size
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def remove_result(task):
    path = stored_path(task)
    if path is not None:
        path.unlink(missing_ok=True)
