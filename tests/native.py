"""Fixtures shared by the native-route tests."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from videos import services


@pytest.fixture
def poller():
    """The worker's poll loop in a thread. It looks a few minutes ahead, so tasks are due at once
    (vendor adaptors wait 10 s and more between polls); less than the submit grace, so a task
    being submitted meanwhile is never taken for an interrupted one."""
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            services.poll_once(now=timezone.now() + timedelta(minutes=5))
            stop.wait(0.2)
        connection.close()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=10)
