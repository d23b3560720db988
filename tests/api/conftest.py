"""Fixtures the API test modules share."""

import pytest

from tests.helpers import drive, submit
from videos.models import VideoTask


@pytest.fixture
def source(api, sandbox):
    """A completed sandbox video of the tenant's (5 s), to continue or edit."""
    task = drive(submit(api))
    assert task.status == VideoTask.Status.COMPLETED
    return task
