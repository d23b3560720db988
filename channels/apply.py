"""Declarative configuration: ``manage.py apply FILE``.

Creates or updates tenants, users, channels, prices and webhook endpoints by name (an endpoint by
tenant and URL), so applying the same file twice changes nothing. A tenant's ``balance`` is its
opening balance, credited (through the ledger) only when the tenant is created; later money moves
with ``topup``. A webhook's ``secret`` is used as given; without one, a new endpoint gets a
generated secret, printed once in the report.
"""

from django.contrib.auth import get_user_model
from django.db import transaction

from accounts import services as money
from accounts.models import WEBHOOK_EVENT_TYPES, AuditEntry, Membership, Tenant, WebhookEndpoint

from . import outbound
from .adaptors import registry
from .models import Channel, Price

TOP_LEVEL = {"tenants", "users", "channels", "prices", "webhooks"}


class ApplyError(Exception):
    pass


def _require(item, key, where):
    if key not in item or item[key] in (None, ""):
        raise ApplyError(f"{where}: '{key}' is required")
    return item[key]


def _int(item, key, where, default=0):
    value = item.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ApplyError(f"{where}: '{key}' must be a whole number of units, not {value!r}")
    return value


@transaction.atomic
def apply_config(config):
    if not isinstance(config, dict):
        raise ApplyError("The file must hold a JSON object")
    unknown = set(config) - TOP_LEVEL
    if unknown:
        raise ApplyError(f"Unknown sections: {', '.join(sorted(unknown))} (known: {', '.join(sorted(TOP_LEVEL))})")
    report = []
    for item in config.get("tenants", []):
        report.append(_apply_tenant(item))
    for item in config.get("users", []):
        report.append(_apply_user(item))
    for item in config.get("channels", []):
        report.append(_apply_channel(item))
    for item in config.get("prices", []):
        report.append(_apply_price(item))
    for item in config.get("webhooks", []):
        report.append(_apply_webhook(item))
    return report


def _apply_tenant(item):
    name = _require(item, "name", "tenant")
    balance = _int(item, "balance", f"tenant {name}")
    tenant, created = Tenant.objects.get_or_create(name=name, defaults={"display_name": item.get("display_name", "")})
    if "display_name" in item and tenant.display_name != item["display_name"]:
        tenant.display_name = item["display_name"]
        tenant.save(update_fields=["display_name"])
    limits = _apply_rate_limits(tenant, item, f"tenant {name}")
    if created:
        if balance:
            money.topup(tenant, balance, note="opening balance (apply)")
        return f"tenant {name}: created with balance {balance}{limits}"
    tenant.refresh_from_db()
    note = "" if balance == tenant.balance else f" (balance stays {tenant.balance}; use topup to change it)"
    return f"tenant {name}: {'rate limits set' + limits if limits else 'unchanged'}{note}"


RATE_LIMITS = {"rpm": "rpm_limit", "max_in_flight": "max_in_flight"}


def _apply_rate_limits(tenant, item, where):
    """``rate_limits``: {"rpm": N, "max_in_flight": N}; a limit missing or null is unlimited, the whole
    object omitted keeps the stored limits. Returns a note for the report when they changed."""
    if "rate_limits" not in item:
        return ""
    wanted = item["rate_limits"] or {}
    if not isinstance(wanted, dict) or set(wanted) - set(RATE_LIMITS):
        raise ApplyError(f"{where}: 'rate_limits' must be an object with 'rpm' and/or 'max_in_flight'")
    changed = {}
    for key, field in RATE_LIMITS.items():
        value = wanted.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ApplyError(f"{where}: 'rate_limits.{key}' must be a whole number of at least 1 or null")
        if getattr(tenant, field) != value:
            setattr(tenant, field, value)
            changed[field] = value
    if not changed:
        return ""
    tenant.save(update_fields=list(changed))
    AuditEntry.objects.create(action="tenant.rate_limits_applied", target=tenant.name, detail=changed)
    shown = ", ".join(f"{key} {getattr(tenant, field) or 'unlimited'}" for key, field in RATE_LIMITS.items())
    return f" (rate limits: {shown})"


def _apply_user(item):
    username = _require(item, "username", "user")
    User = get_user_model()
    user, created = User.objects.get_or_create(username=username, defaults={"email": item.get("email", "")})
    user.is_staff = user.is_superuser = bool(item.get("staff", False))
    if item.get("password"):
        user.set_password(item["password"])
    user.save()
    for membership in item.get("tenants", []):
        tenant_name = _require(membership, "tenant", f"user {username}")
        tenant = Tenant.objects.filter(name=tenant_name).first()
        if tenant is None:
            raise ApplyError(f"user {username}: tenant {tenant_name!r} does not exist")
        role = membership.get("role", Membership.Role.MEMBER)
        if role not in Membership.Role.values:
            raise ApplyError(f"user {username}: role must be one of {', '.join(Membership.Role.values)}")
        Membership.objects.update_or_create(tenant=tenant, user=user, defaults={"role": role})
    return f"user {username}: {'created' if created else 'updated'}"


def _apply_channel(item):
    name = _require(item, "name", "channel")
    vendor = _require(item, "vendor", f"channel {name}")
    try:
        adaptor = registry.get(vendor)
    except KeyError as exc:
        raise ApplyError(f"channel {name}: {exc.args[0]}") from None
    models = item.get("models", [])
    mapping = item.get("model_mapping", {})
    if not isinstance(models, list) or not all(isinstance(m, str) and m for m in models):
        raise ApplyError(f"channel {name}: 'models' must be a list of model names")
    if not isinstance(mapping, dict) or not all(isinstance(v, str) and v for v in mapping.values()):
        raise ApplyError(f"channel {name}: 'model_mapping' must map model names to upstream model names")
    channel = Channel.objects.filter(name=name).first() or Channel(name=name)
    created = channel.pk is None
    channel.vendor = vendor
    channel.base_url = item.get("base_url", "") or ""
    channel.served_models = models
    channel.model_mapping = mapping
    channel.priority = int(item.get("priority", 0))
    channel.weight = _int(item, "weight", f"channel {name}", default=1)
    channel.options = item.get("options", {}) or {}
    channel.status = Channel.Status.ENABLED if item.get("enabled", True) else Channel.Status.DISABLED
    if "credentials" in item:
        try:
            channel.credentials = adaptor.parse_credentials(item["credentials"])
        except ValueError as exc:
            raise ApplyError(f"channel {name}: {exc}") from None
    elif created and adaptor.credential_fields:
        raise ApplyError(f"channel {name}: 'credentials' are required ({adaptor.credential_format})")
    channel.save()
    AuditEntry.objects.create(action="channel.applied", target=name, detail={"vendor": vendor, "models": models})
    return f"channel {name}: {'created' if created else 'updated'}"


def _apply_price(item):
    model = _require(item, "model", "price")
    multipliers = item.get("resolution_multipliers", {}) or {}
    if not isinstance(multipliers, dict):
        raise ApplyError(f"price {model}: 'resolution_multipliers' must map resolutions to numbers")
    for tier, value in multipliers.items():
        try:
            if float(value) < 0:
                raise ValueError
        except (TypeError, ValueError):
            raise ApplyError(f"price {model}: multiplier for {tier!r} must be a non-negative number") from None
    _, created = Price.objects.update_or_create(
        model=model,
        defaults={
            "per_second": _int(item, "per_second", f"price {model}"),
            "per_video": _int(item, "per_video", f"price {model}"),
            "resolution_multipliers": {str(k).lower(): str(v) for k, v in multipliers.items()},
            # Units per vendor credit (Kling): when set, the price follows the credits the vendor charges.
            "per_credit": None if item.get("per_credit") is None else _int(item, "per_credit", f"price {model}"),
        },
    )
    return f"price {model}: {'created' if created else 'updated'}"


def _apply_webhook(item):
    tenant_name = _require(item, "tenant", "webhook")
    url = _require(item, "url", f"webhook of {tenant_name}")
    where = f"webhook {tenant_name} {url}"
    tenant = Tenant.objects.filter(name=tenant_name).first()
    if tenant is None:
        raise ApplyError(f"{where}: tenant {tenant_name!r} does not exist")
    problem = outbound.webhook_url_problem(url)
    if problem:
        raise ApplyError(f"{where}: {problem}")
    events = item.get("events", [])
    if not isinstance(events, list) or not all(name in WEBHOOK_EVENT_TYPES for name in events):
        raise ApplyError(f"{where}: 'events' must be a list of {', '.join(WEBHOOK_EVENT_TYPES)} (empty: all)")
    events = [name for name in WEBHOOK_EVENT_TYPES if name in events]
    secret = item.get("secret")
    if secret is not None and not money.is_webhook_secret(secret):
        raise ApplyError(f"{where}: 'secret' must be whsec_ followed by base64 of 24 to 64 bytes")
    wanted = {"events": events, "description": item.get("description", ""), "enabled": bool(item.get("enabled", True))}
    endpoint = WebhookEndpoint.objects.filter(tenant=tenant, url=url).first()
    if endpoint is None:
        endpoint, secret = money.create_webhook_endpoint(tenant, url=url, secret=secret, **wanted)
        AuditEntry.objects.create(action="webhook.applied", target=tenant_name, detail={"url": url, "events": events})
        shown = "" if "secret" in item else f"; signing secret {secret} (shown once)"
        return f"{where}: created{shown}"
    changed = [name for name, value in wanted.items() if getattr(endpoint, name) != value]
    for name in changed:
        setattr(endpoint, name, wanted[name])
    if "enabled" in changed and endpoint.enabled:
        endpoint.disabled_reason, endpoint.failing_since = "", None
    if secret is not None and secret != money.webhook_secret(endpoint):
        money.replace_webhook_secret(endpoint, secret)  # as given: no overlap with the old one
        changed.append("secret")
    if not changed:
        return f"{where}: unchanged"
    endpoint.save()
    AuditEntry.objects.create(action="webhook.applied", target=tenant_name, detail={"url": url, "changed": changed})
    return f"{where}: updated ({', '.join(changed)})"
