"""Requests-per-minute counters shared by every web process: fixed one-minute windows in the
database (``RateCounter``), taken with a conditional increment, so a limit holds across gunicorn
workers and machines and a refused request consumes nothing."""

import math
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from .models import RateCounter

WINDOW_SECONDS = 60


@dataclass(frozen=True)
class Taken:
    allowed: bool
    limit: int
    remaining: int
    reset: int  # seconds until the window ends (at least 1)


def take(scope, limit, now=None):
    """Count one request against ``scope`` in the current minute unless ``limit`` is reached."""
    now = (now or timezone.now()).timestamp()
    window = int(now // WINDOW_SECONDS)
    reset = max(1, math.ceil((window + 1) * WINDOW_SECONDS - now))
    counters = RateCounter.objects.filter(scope=scope, window=window)
    allowed = limit > 0 and bool(counters.filter(count__lt=limit).update(count=F("count") + 1))
    if not allowed and limit > 0 and not counters.exists():
        try:
            with transaction.atomic():
                RateCounter.objects.create(scope=scope, window=window, count=1)
            allowed = True
            # One row per scope stays behind: earlier windows are done with.
            RateCounter.objects.filter(scope=scope, window__lt=window).delete()
        except IntegrityError:  # another process opened the window first
            allowed = bool(counters.filter(count__lt=limit).update(count=F("count") + 1))
    count = counters.values_list("count", flat=True).first() or 0
    return Taken(allowed, limit, max(0, limit - count), reset)
