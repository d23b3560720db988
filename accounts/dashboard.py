"""What every dashboard page shares: who is signed in, as which tenant, and may they write.

Pages need a session (API keys do not open them). A tenant page resolves the member's
current tenant (chosen with the switcher, else their first); staff pages answer 404 to
everyone else, so their existence is not advertised. A suspended tenant's pages stay readable
(templates/accounts/_notices.html says it is suspended); its writer pages answer 403.
"""

import re
from base64 import urlsafe_b64decode, urlsafe_b64encode
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import wraps

from django import forms
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.utils.translation import gettext as _

from . import throttle
from .auth import client_ip
from .models import AuditEntry, Membership

SESSION_TENANT = "tenant_id"
PAGE_SIZE = 50


def memberships(user):
    """The user's memberships, suspended tenants included (their pages are read-only)."""
    return Membership.objects.filter(user=user).select_related("tenant").order_by("tenant__name")


def current_membership(request):
    chosen = request.session.get(SESSION_TENANT)
    available = list(memberships(request.user))
    for membership in available:
        if membership.tenant_id == chosen:
            return membership, available
    return (available[0] if available else None), available


def tenant_view(view):
    """A page about the member's current tenant: sets request.membership and request.tenant."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        membership, available = current_membership(request)
        if membership is None:
            raise Http404(_("You are not a member of any account."))
        request.membership = membership
        request.tenant = membership.tenant
        request.memberships = available
        return view(request, *args, **kwargs)

    return wrapper


def writer_required(view):
    """For tenant pages that change things: read-only members get 404 on POST targets; everyone
    gets 403 while the tenant is suspended."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        # First: Membership.can_write is also False while the tenant is suspended.
        if not request.tenant.is_active:
            raise PermissionDenied(_("This account is suspended; pages are read-only."))
        if not request.membership.can_write:
            raise Http404(_("Read-only members cannot change this."))
        return view(request, *args, **kwargs)

    return tenant_view(wrapper)


def staff_view(view):
    """A page for operators: everyone else gets 404."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_staff:
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


def record(request, action, target, **detail):
    """One audit entry for a change made by the signed-in operator. ``detail`` never holds a secret."""
    AuditEntry.objects.create(user=request.user, action=action, target=str(target)[:200], detail=detail)


def paginate(request, queryset, per_page=PAGE_SIZE):
    """One page of a short list, from ``?page=`` (rendered by templates/_pagination.html). It counts
    the rows on every view and skips to page N with OFFSET: fine for hundreds of rows; lists that
    grow without bound (tasks) page by cursor instead (CursorPage)."""
    return Paginator(queryset, per_page).get_page(request.GET.get("page"))


# --- Cursor paging: newest first by (created_at, id), no COUNT, no OFFSET ---------------------
# A cursor names the row a page starts after: ``?before=`` the last row shown (the Older link) or
# ``?after=`` the first (the Newer link). It is opaque to people but not secret: the query it
# feeds stays scoped to the viewer's rows, so a forged one can only move them along their own
# list, and a malformed one is ignored (the list starts at the newest row again).

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
CURSOR_FORMAT = re.compile(r"(-?[0-9]{1,18})\.([0-9]{1,19})")
MAX_ID = 2**63 - 1  # a BigAutoField


def encode_cursor(created_at, pk):
    """The opaque cursor of the row (``created_at``, ``pk``): base64 of its microseconds since 1970 and id."""
    micros = (created_at - EPOCH) // MICROSECOND
    return urlsafe_b64encode(f"{micros}.{pk}".encode()).decode().rstrip("=")


def decode_cursor(value):
    """(created_at, id) from a cursor made by encode_cursor; None for anything else."""
    if not value or len(value) > 60:
        return None
    try:
        match = CURSOR_FORMAT.fullmatch(urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("ascii"))
        if match is None or not 0 < int(match[2]) <= MAX_ID:
            return None
        return EPOCH + int(match[1]) * MICROSECOND, int(match[2])
    except (ValueError, OverflowError):  # binascii.Error and UnicodeDecodeError are ValueErrors
        return None


def cursor_from(request):
    """The request's cursor: ("before" | "after", (created_at, id)), or (None, None) for the newest rows.
    A ``?page=`` from before the lists paged by cursor is ignored the same way."""
    for direction in ("before", "after"):
        position = decode_cursor(request.GET.get(direction))
        if position is not None:
            return direction, position
    return None, None


@dataclass
class CursorPage:
    """One page of a list by cursor, as templates/_pagination.html renders it: ``newer`` and ``older``
    are the cursors of the neighbouring pages ("" where there is none)."""

    object_list: list
    newer: str = ""
    older: str = ""

    def __iter__(self):
        return iter(self.object_list)

    def __len__(self):
        return len(self.object_list)

    @classmethod
    def of(cls, rows, *, has_newer, has_older, position=None):
        """The page of ``rows``, newest first: objects with ``created_at`` and ``pk``, or anything
        ``position`` turns into (created_at, id) (e.g. the dicts of a ``values()`` query)."""
        if not rows:
            return cls([])
        position = position or _position
        return cls(
            rows,
            newer=encode_cursor(*position(rows[0])) if has_newer else "",
            older=encode_cursor(*position(rows[-1])) if has_older else "",
        )


def _position(row):
    return row.created_at, row.pk


class ThrottledLoginForm(AuthenticationForm):
    """Django's login form, refusing a name from an address after too many failures (see
    accounts/throttle.py: the guesser's address is locked, not the account)."""

    def clean(self):
        username = throttle.normalise_username(self.data.get("username"))
        ip = (client_ip(self.request) or None) if self.request else None
        if throttle.is_throttled(username, ip):
            raise forms.ValidationError(_(throttle.MESSAGE), code="throttled")
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            throttle.record_failure(username, ip)
            raise
        throttle.clear_pair(username, ip)
        return cleaned

    @property
    def throttled(self):
        return any(error.code == "throttled" for error in self.errors.as_data().get("__all__", []))
