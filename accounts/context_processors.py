from .dashboard import current_membership


def dashboard(request):
    """Navigation facts for base.html: the current tenant and the member's other tenants."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    membership = getattr(request, "membership", None)
    available = getattr(request, "memberships", None)
    if membership is None:
        membership, available = current_membership(request)
    return {"nav_membership": membership, "nav_memberships": available or []}
