"""The dashboard sign-in throttle: it slows the guesser down, never the account's owner.

Failures are counted per (username, address) pair, the username normalised the way sign-in
reads it (stripped, NFKC: ``" victim"``, ``"victim "`` and ``"ｖictim"`` are one name; case is
kept, as the default user model's lookup is case-sensitive), plus a higher cap per address.
So a guesser locks out their own address, not the account: its owner signs in from elsewhere.
The address is accounts.auth.client_ip (honours GATEWAY_TRUST_X_FORWARDED_FOR). A successful
sign-in clears its pair; staff clear any lock on the "Sign-in locks" page (audited). The failure that
starts a lock leaves one audit entry (``login.locked``); the tries refused while it holds leave none.
"""

from datetime import timedelta

from django.contrib.auth.forms import UsernameField
from django.db.models import Count, Max
from django.utils import timezone
from django.utils.translation import gettext_noop

from .models import AuditEntry, FailedLogin

WINDOW = timedelta(minutes=15)
PAIR_LIMIT = 5  # failures per username from one address
ADDRESS_LIMIT = 20  # failures from one address, whatever the usernames
# Marked for translation; ThrottledLoginForm shows it in the reader's language.
MESSAGE = gettext_noop(
    "Too many failed sign-in attempts from your address. Wait 15 minutes and try again, "
    "or ask an operator to clear the lock."
)


def normalise_username(raw):
    """The username as AuthenticationForm hands it to authenticate() (strip, then NFKC)."""
    try:
        return (UsernameField().to_python(raw or "") or "")[:150]
    except (TypeError, ValueError):
        return ""


def _recent():
    return FailedLogin.objects.filter(at__gte=timezone.now() - WINDOW)


def _pair(username, ip):
    return {"username": username, "ip": ip} if ip else {"username": username, "ip__isnull": True}


def is_throttled(username, ip):
    recent = _recent()
    if recent.filter(**_pair(username, ip)).count() >= PAIR_LIMIT:
        return True
    return bool(ip) and recent.filter(ip=ip).count() >= ADDRESS_LIMIT


def record_failure(username, ip):
    """Count a failure; the one that brings a pair or an address to its limit starts a lock, and
    leaves one audit entry (tries refused while it holds are not counted, so they add none)."""
    FailedLogin.objects.create(username=username, ip=ip or None)
    recent = _recent()
    if recent.filter(**_pair(username, ip)).count() == PAIR_LIMIT:
        target = f"{username} from {ip or 'an unknown address'}"
        AuditEntry.objects.create(
            action="login.locked", target=target[:200], detail={"username": username, "ip": ip, "failures": PAIR_LIMIT}
        )
    if ip and recent.filter(ip=ip).count() == ADDRESS_LIMIT:
        AuditEntry.objects.create(
            action="login.locked",
            target=f"address {ip}",
            detail={"username": None, "ip": ip, "failures": ADDRESS_LIMIT},
        )


def clear_pair(username, ip):
    """After a successful sign-in: that name's failures from that address no longer count."""
    FailedLogin.objects.filter(**_pair(username, ip)).delete()


def locks():
    """The locks in force: (username, ip) pairs at PAIR_LIMIT and addresses at ADDRESS_LIMIT,
    as dicts with ``username`` (None for an address lock), ``ip``, ``failures`` and ``last``."""
    recent = _recent()
    pairs = (
        recent.values("username", "ip")
        .annotate(failures=Count("id"), last=Max("at"))
        .filter(failures__gte=PAIR_LIMIT)
        .order_by("-last")
    )
    addresses = (
        recent.exclude(ip=None)
        .values("ip")
        .annotate(failures=Count("id"), last=Max("at"))
        .filter(failures__gte=ADDRESS_LIMIT)
        .order_by("-last")
    )
    return [{"username": None, **row} for row in addresses] + list(pairs)


def unlock(username, ip):
    """Clear a lock: a pair's failures, or (``username`` None) every failure from ``ip``.
    Returns how many failures were forgotten."""
    failures = FailedLogin.objects.filter(**_pair(username, ip)) if username is not None else None
    if failures is None:
        failures = FailedLogin.objects.filter(ip=ip) if ip else FailedLogin.objects.none()
    deleted, _ = failures.delete()
    return deleted
