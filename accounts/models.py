import ipaddress
import secrets

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

PUBLIC_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def random_token(length):
    return "".join(secrets.choice(PUBLIC_ID_ALPHABET) for _ in range(length))


class RateLimited(models.Model):
    """Operator-set limits (videos/limits.py): creates per minute and tasks in flight; blank: unlimited.
    On a tenant they bind all its keys together; on a key, that key alone."""

    rpm_limit = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)], help_text=_("Creates per minute; blank: unlimited.")
    )
    max_in_flight = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Tasks queued or in progress at once; blank: unlimited."),
    )

    class Meta:
        abstract = True


class Tenant(RateLimited):
    """A customer account. ``balance`` always equals the sum of its ledger entries.

    ``is_active`` False: suspended by the operator. Its keys are refused (accounts/auth.py) and
    its members' pages are read-only (Membership.can_write, accounts.dashboard.writer_required)."""

    name = models.SlugField(max_length=64, unique=True)
    display_name = models.CharField(max_length=200, blank=True)
    balance = models.BigIntegerField(default=0, help_text="In units; 1,000,000 units = 1 USD.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(balance__gte=0), name="tenant_balance_not_negative"),
        ]
        ordering = ["name"]

    def __str__(self):
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", _("Owner")
        MEMBER = "member", _("Member")
        READ_ONLY = "read_only", _("Read-only")

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "user"], name="one_membership_per_tenant")]

    def __str__(self):
        return f"{self.user} in {self.tenant} ({self.role})"

    @property
    def can_write(self):
        """Whether this member may change things now: not read-only, and the tenant not suspended."""
        return self.role != self.Role.READ_ONLY and self.tenant.is_active


class ApiKeyQuerySet(models.QuerySet):
    def for_tenant(self, tenant):
        return self.filter(tenant=tenant)


class ApiKey(RateLimited):
    """An ``sk-`` key. Only ``lookup`` and an HMAC of the secret part are stored.

    The plaintext is ``sk-`` + lookup (12 chars) + secret (36 chars); it is shown once.
    """

    LOOKUP_LENGTH = 12
    SECRET_LENGTH = 36

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, default="default")
    lookup = models.CharField(max_length=LOOKUP_LENGTH, unique=True)
    secret_hash = models.CharField(max_length=64)
    last4 = models.CharField(max_length=4)
    enabled = models.BooleanField(default=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    spend_limit = models.BigIntegerField(
        null=True, blank=True, help_text="Cap on the total this key may hold and spend, in units."
    )
    spent = models.BigIntegerField(default=0, help_text="Held plus charged through this key, in units.")
    allowed_models = models.JSONField(default=list, blank=True, help_text="Empty: every model.")
    allowed_ips = models.JSONField(default=list, blank=True, help_text="IPs or CIDRs; empty: anywhere.")
    last_used_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(spent__gte=0), name="apikey_spent_not_negative"),
        ]
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} ({self.masked})"

    @property
    def masked(self):
        return f"sk-{self.lookup[:4]}...{self.last4}"

    @property
    def is_expired(self):
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_usable(self):
        return self.enabled and not self.is_expired and self.tenant.is_active

    def allows_model(self, model):
        return not self.allowed_models or model in self.allowed_models

    def allows_ip(self, ip):
        if not self.allowed_ips:
            return True
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        for entry in self.allowed_ips:
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue
        return False


class LedgerEntry(models.Model):
    """Append-only record of every balance movement. Rows are never updated or deleted."""

    class Kind(models.TextChoices):
        TOPUP = "topup", _("Top-up")
        ADJUSTMENT = "adjustment", _("Adjustment")
        HOLD = "hold", _("Hold")
        CAPTURE = "capture", _("Capture")
        RELEASE = "release", _("Release")

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="ledger")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount = models.BigIntegerField(help_text="Signed change to the balance, in units.")
    balance_after = models.BigIntegerField()
    task = models.ForeignKey("videos.VideoTask", null=True, blank=True, on_delete=models.PROTECT, related_name="ledger")
    api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    note = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The usage page and CSV export: a tenant's ledger over a period.
            models.Index(fields=["tenant", "created_at"], name="ledger_tenant_time"),
        ]
        constraints = [
            # A task has at most one hold, and at most one settlement (capture or release).
            models.UniqueConstraint(fields=["task"], condition=Q(kind="hold"), name="one_hold_per_task"),
            models.UniqueConstraint(
                fields=["task"],
                condition=Q(kind__in=["capture", "release"]),
                name="one_settlement_per_task",
            ),
        ]

    def __str__(self):
        return f"{self.kind} {self.amount} on {self.tenant}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("Ledger entries are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Ledger entries are append-only")


class FailedLogin(models.Model):
    """One failed dashboard login; recent ones throttle further attempts."""

    username = models.CharField(max_length=150, db_index=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self):
        return f"{self.username} from {self.ip} at {self.at}"


class RateCounter(models.Model):
    """Requests counted in one fixed one-minute window for one scope (``key:<id>`` or ``tenant:<id>``).

    Shared by every process through the database; incremented only by a conditional update
    (``count < limit``), so two workers can never both take the last slot (accounts/ratelimit.py)."""

    scope = models.CharField(max_length=40)
    window = models.BigIntegerField(help_text="Minutes since the Unix epoch.")
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "window"], name="one_rate_counter_per_window")]

    def __str__(self):
        return f"{self.scope} @ {self.window}: {self.count}"


class AuditEntry(models.Model):
    """Who changed which configuration (tenants, members, keys, channels, prices), and when.
    Never holds a secret."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    action = models.CharField(max_length=64)
    target = models.CharField(max_length=200)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.action} {self.target}"


def new_webhook_id():
    return f"we_{random_token(24)}"


# The event types a webhook endpoint can subscribe to (the outbox in videos writes them).
WEBHOOK_EVENT_TYPES = ("video.completed", "video.failed", "video.cancelled")


class WebhookEndpointQuerySet(models.QuerySet):
    def for_tenant(self, tenant):
        return self.filter(tenant=tenant)


class WebhookEndpoint(models.Model):
    """Where a tenant wants to hear about its tasks (Standard Webhooks, as OpenAI signs them).

    The signing secret (``whsec_`` + base64 of 32 random bytes) is encrypted at rest and shown
    once. After a rotation the previous secret keeps signing beside the new one until
    ``previous_secret_expires_at``. ``events`` empty means every event type."""

    public_id = models.CharField(max_length=40, unique=True, default=new_webhook_id)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    events = models.JSONField(default=list, blank=True)
    enabled = models.BooleanField(default=True)
    secret_encrypted = models.TextField()
    previous_secret_encrypted = models.TextField(blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    # Why it was disabled automatically (failing for days), shown to the tenant; blank otherwise.
    disabled_reason = models.CharField(max_length=300, blank=True)
    failing_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WebhookEndpointQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"{self.public_id} {self.url}"

    def subscribed(self, event_type):
        """Whether this endpoint wants ``event_type`` (no types chosen: every one; test events always)."""
        return not self.events or event_type in self.events or event_type == "webhook.test"

    @property
    def event_labels(self):
        return ", ".join(self.events) if self.events else gettext("all events")

    @property
    def previous_secret_active(self):
        """Whether a rotated-out secret still signs beside the current one."""
        expires = self.previous_secret_expires_at
        return bool(self.previous_secret_encrypted) and expires is not None and timezone.now() < expires
