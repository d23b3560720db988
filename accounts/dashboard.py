"""What every dashboard page shares: who is signed in, as which tenant, and may they write.

Pages need a session (API keys do not open them). A tenant page resolves the member's
current tenant (chosen with the switcher, else their first); staff pages answer 404 to
everyone else, so their existence is not advertised.
"""

from functools import wraps

from django import forms
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.core.paginator import Paginator
from django.http import Http404

from . import throttle
from .auth import client_ip
from .models import AuditEntry, Membership

SESSION_TENANT = "tenant_id"
PAGE_SIZE = 50


def memberships(user):
    return (
        Membership.objects.filter(user=user, tenant__is_active=True).select_related("tenant").order_by("tenant__name")
    )


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
            raise Http404("You are not a member of any account.")
        request.membership = membership
        request.tenant = membership.tenant
        request.memberships = available
        return view(request, *args, **kwargs)

    return wrapper


def writer_required(view):
    """For tenant pages that change things: read-only members get 404 on POST targets."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.membership.can_write:
            raise Http404("Read-only members cannot change this.")
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
    """One page of a list, from ``?page=`` (rendered by templates/_pagination.html)."""
    return Paginator(queryset, per_page).get_page(request.GET.get("page"))


class ThrottledLoginForm(AuthenticationForm):
    """Django's login form, refusing a name from an address after too many failures (see
    accounts/throttle.py: the guesser's address is locked, not the account)."""

    def clean(self):
        username = throttle.normalise_username(self.data.get("username"))
        ip = (client_ip(self.request) or None) if self.request else None
        if throttle.is_throttled(username, ip):
            raise forms.ValidationError(throttle.MESSAGE, code="throttled")
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
