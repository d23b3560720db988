from decimal import ROUND_CEILING, Decimal

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts import crypto


class ChannelQuerySet(models.QuerySet):
    def usable(self):
        """What routing may pick: enabled and not archived."""
        return self.filter(status=Channel.Status.ENABLED, archived_at__isnull=True)

    def current(self):
        """Every channel but the archived ones (the channel list's default)."""
        return self.filter(archived_at__isnull=True)


class Channel(models.Model):
    """An upstream account of one vendor, and the models it serves."""

    class Status(models.TextChoices):
        ENABLED = "enabled", _("Enabled")
        DISABLED = "disabled", _("Disabled")
        AUTO_DISABLED = "auto_disabled", _("Auto-disabled")

    name = models.CharField(max_length=100, unique=True)
    vendor = models.CharField(max_length=32, help_text="An adaptor from the vendor registry.")
    base_url = models.URLField(max_length=500, blank=True, help_text="Blank: the vendor's default.")
    credentials_encrypted = models.TextField(blank=True, editable=False)
    served_models = models.JSONField(default=list, blank=True, help_text="Model names clients may request.")
    model_mapping = models.JSONField(default=dict, blank=True, help_text="Requested model name -> upstream model name.")
    priority = models.IntegerField(default=0, help_text="Higher is tried first.")
    weight = models.PositiveIntegerField(default=1, help_text="Share of traffic within a priority.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ENABLED)
    options = models.JSONField(default=dict, blank=True, help_text="Vendor-specific options.")
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    # The vendor answered a poll with 429 (too many requests): none of the channel's tasks is polled
    # before poll_paused_until (its Retry-After), while other channels' are at full speed; the reason
    # is for operators.
    poll_paused_until = models.DateTimeField(null=True, blank=True, editable=False)
    poll_paused_reason = models.CharField(max_length=300, blank=True, editable=False)
    # The operator's last Test: when, whether it passed and how long the vendor took to answer
    # (a failed one also sets last_error and last_error_at).
    last_test_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_test_ok = models.BooleanField(null=True, blank=True, editable=False)
    last_test_latency_ms = models.PositiveIntegerField(null=True, blank=True, editable=False)
    # Archived (a channel tasks refer to cannot be deleted): hidden from routing and from the
    # channel list's default view; restoring clears it.
    archived_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ChannelQuerySet.as_manager()

    class Meta:
        ordering = ["-priority", "name"]

    def __str__(self):
        return self.name

    @property
    def credentials(self):
        return crypto.decrypt(self.credentials_encrypted)

    @credentials.setter
    def credentials(self, plaintext):
        self.credentials_encrypted = crypto.encrypt(plaintext or "")

    @property
    def has_credentials(self):
        return bool(self.credentials_encrypted)

    @property
    def failing(self):
        """Enabled, but its last Test failed: shown as "Failing" until a Test passes."""
        return self.status == self.Status.ENABLED and self.last_test_ok is False

    @property
    def adaptor(self):
        from .adaptors import registry

        return registry.get(self.vendor)

    @property
    def effective_base_url(self):
        return (self.base_url or self.adaptor.default_base_url).rstrip("/")

    def serves(self, model):
        return model in self.served_models

    def upstream_model(self, model):
        return self.model_mapping.get(model) or model


class Price(models.Model):
    """What a model costs a tenant, in units (1,000,000 units = 1 USD).

    cost = ceil((per_video + per_second * seconds) * multiplier[resolution])

    Priced per vendor credit (``per_credit`` set, for vendors that charge in credits and say how
    many a task took, e.g. Kling's ``final_unit_deduction``): cost = ceil(per_video + per_credit *
    credits); the hold prices the credits the adaptor's plan expects, the capture the credits the
    vendor charged (never more than the hold).
    """

    model = models.CharField(max_length=100, unique=True)
    per_second = models.BigIntegerField(default=0)
    per_video = models.BigIntegerField(default=0)
    per_credit = models.BigIntegerField(
        null=True, blank=True, help_text="Units per vendor credit; when set, replaces per_second and multipliers."
    )
    resolution_multipliers = models.JSONField(
        default=dict, blank=True, help_text='e.g. {"480p": "0.5", "1080p": "1.5"}; missing tiers are 1.'
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["model"]
        constraints = [
            models.CheckConstraint(condition=Q(per_second__gte=0) & Q(per_video__gte=0), name="price_not_negative"),
            models.CheckConstraint(
                condition=Q(per_credit__isnull=True) | Q(per_credit__gte=0), name="price_per_credit_not_negative"
            ),
        ]

    def __str__(self):
        return self.model

    def tiers(self):
        """The resolution multipliers as (tier, value), lowest resolution first (480p before 1080p)."""
        return sorted(self.resolution_multipliers.items(), key=lambda item: tier_order(item[0]))

    def multiplier(self, resolution):
        value = self.resolution_multipliers.get(resolution or "", 1)
        return Decimal(str(value))

    @property
    def by_credit(self):
        return self.per_credit is not None

    def credit_cost(self, credits):
        """The cost of ``credits`` vendor credits (a number or its text, e.g. "3.5")."""
        base = Decimal(self.per_video) + Decimal(self.per_credit or 0) * max(Decimal(str(credits)), Decimal(0))
        return int(base.to_integral_value(rounding=ROUND_CEILING))

    def cost(self, seconds, resolution=None):
        base = Decimal(self.per_video) + Decimal(self.per_second) * Decimal(str(seconds or 0))
        return int((base * self.multiplier(resolution)).to_integral_value(rounding=ROUND_CEILING))


# "2k", "4k", "8k" as the vertical resolution they name.
_K_TIERS = {"1k": 1080, "2k": 1440, "4k": 2160, "8k": 4320}


def tier_order(tier):
    """A sort key putting resolution tiers in numeric order: "480p" < "720p" < "1080p" < "4k";
    tiers that name no resolution come last, by name."""
    name = tier.lower()
    if name in _K_TIERS:
        return (0, _K_TIERS[name], name)
    digits = name.rstrip("pi")
    return (0, int(digits), name) if digits.isdigit() else (1, 0, name)
