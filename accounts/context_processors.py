"""What base.html needs on every page: navigation facts and the tenant's notices."""

from django.conf import settings

from .dashboard import current_membership

# Below this balance a tenant's pages warn that it runs low. One default for every tenant (there is
# no per-tenant setting): $5 is about a hundred 5-second sandbox videos, or a handful of 1080p ones.
LOW_BALANCE_USD = 5


def dashboard(request):
    """Navigation facts for base.html (the current tenant and the member's other tenants) and the
    notices templates/accounts/_notices.html shows about the current tenant."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    membership = getattr(request, "membership", None)
    available = getattr(request, "memberships", None)
    if membership is None:
        membership, available = current_membership(request)
    return {
        "nav_membership": membership,
        "nav_memberships": available or [],
        "balance_notice": balance_notice(membership.tenant) if membership else "",
    }


def balance_notice(tenant):
    """ "empty" when nothing is left, "low" below LOW_BALANCE_USD, else "". A suspended tenant gets
    its own notice instead. Reads only the tenant row the page already has: no query."""
    if not tenant.is_active:
        return ""
    if tenant.balance <= 0:
        return "empty"
    return "low" if tenant.balance < LOW_BALANCE_USD * settings.GATEWAY_UNITS_PER_USD else ""
