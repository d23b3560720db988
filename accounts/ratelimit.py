"""Requests-per-minute counters shared by every web process: fixed one-minute windows in the
database (``RateCounter``), taken with a conditional increment, so a limit holds across gunicorn
workers and machines and a refused request consumes nothing."""

import functools
import math
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from .models import RateCounter

WINDOW_SECONDS = 60


@dataclass(frozen=True)
class Taken:
    allowed: bool
    limit: int
    remaining: int
    reset: int  # seconds until the window ends (at least 1)


@functools.cache
def _increment_sql(vendor):
    """Count one more in a window still under its limit, returning the new count: one statement on
    every limited create (UPDATE ... RETURNING: PostgreSQL, SQLite >= 3.35), written out because
    the ORM took longer to build it than the database to run it."""
    quote = connection.ops.quote_name
    meta = RateCounter._meta
    table, scope, window, count = (
        quote(name) for name in (meta.db_table, *(meta.get_field(f).column for f in ("scope", "window", "count")))
    )
    return (
        f"UPDATE {table} SET {count} = {count} + 1 WHERE {scope} = %s AND {window} = %s AND {count} < %s"
        f" RETURNING {count}"
    )


def _increment(scope, window, limit):
    """The window's count after this request, or None if the window is full or not opened yet."""
    with connection.cursor() as cursor:
        cursor.execute(_increment_sql(connection.vendor), [scope, window, limit])
        row = cursor.fetchone()
    return None if row is None else row[0]


def take(scope, limit, now=None):
    """Count one request against ``scope`` in the current minute unless ``limit`` is reached."""
    now = (now or timezone.now()).timestamp()
    window = int(now // WINDOW_SECONDS)
    reset = max(1, math.ceil((window + 1) * WINDOW_SECONDS - now))
    if limit <= 0:
        return Taken(False, limit, 0, reset)
    count = _increment(scope, window, limit)
    if count is None and not RateCounter.objects.filter(scope=scope, window=window).exists():
        try:  # the first request of the window opens it
            with transaction.atomic():
                RateCounter.objects.create(scope=scope, window=window, count=1)
            count = 1
            # One row per scope stays behind: earlier windows are done with.
            RateCounter.objects.filter(scope=scope, window__lt=window).delete()
        except IntegrityError:  # another process opened the window first
            count = _increment(scope, window, limit)
    if count is None:  # the window is full
        return Taken(False, limit, 0, reset)
    return Taken(True, limit, limit - count, reset)
