"""Fixtures of the server-rendered pages: page clients signed in as a tenant member or as staff.

``users`` (root conftest) makes ``owner`` and ``reader`` of acme and ``outsider`` of globex.
"""

import pytest
from django.contrib.auth import get_user_model

from tests.helpers import signed_in


@pytest.fixture
def owner(users):
    """A page client signed in as acme's owner."""
    return signed_in(users["owner"])


@pytest.fixture
def reader(users):
    """A page client signed in as acme's read-only member."""
    return signed_in(users["reader"])


@pytest.fixture
def staff(db):
    """The operator: a staff user (no tenant)."""
    return get_user_model().objects.create_user("operator", password="pw-operator-123", is_staff=True)


@pytest.fixture
def staff_client(staff):
    """A page client signed in as the operator."""
    return signed_in(staff)
