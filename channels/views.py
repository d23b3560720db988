"""Operator pages (staff only) about configuration: a channel's settings, test and status, and prices.
The channel list, which shows task figures, is a videos page.

Every change is a POST and leaves an AuditEntry; a channel's credentials are never
rendered, logged or written to the audit log (only "replaced").
"""

import logging
from datetime import timedelta

from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.dashboard import record, staff_view
from accounts.forms import UsdField

from . import services
from .adaptors import registry
from .forms import ChannelForm, credential_label
from .forms import PriceForm as BasePriceForm
from .models import Channel, Price

log = logging.getLogger(__name__)

PAGE_SIZE = 50
SUCCESS_WINDOW = timedelta(days=7)
WORKER_ALIVE = timedelta(minutes=2)
PREVIEW_SECONDS = (5, 10)
# Plain words for a failed channel test, by AdaptorError.kind.
CHANNEL_FIELDS = ("name", "vendor", "base_url", "served_models", "model_mapping", "priority", "weight", "options")


# --- channels ------------------------------------------------------------------------


def _form_context(form, adaptor, choice=None, **extra):
    choices = getattr(adaptor, "credential_choices", None) or {}
    return {
        "form": form,
        "adaptor": adaptor,
        "credential_labels": [credential_label(name) for name in adaptor.credential_fields],
        "credential_choices": [(key, label) for key, (label, _) in choices.items()],
        "credential_choice": choice,
        "nav": "channels",
        **extra,
    }


class CredentialChoice:
    """An adaptor that takes more than one kind of credential (Kling: ``AK|SK`` or a single API
    key), seen with the one the operator chose: the channel form asks for that kind's parts, and
    the adaptor's own parse_credentials() checks what they make."""

    def __init__(self, adaptor, fields):
        self._adaptor = adaptor
        self.credential_fields = fields

    def __getattr__(self, name):
        return getattr(self._adaptor, name)


def _credential_choice(request, adaptor, channel=None):
    """(the adaptor as the form sees it, the chosen kind): the kind posted or asked for in the URL,
    else the saved credentials' kind, else the adaptor's first."""
    choices = getattr(adaptor, "credential_choices", None) or {}
    if not choices:
        return adaptor, None
    choice = request.POST.get("credential_choice") or request.GET.get("credentials")
    if choice not in choices:
        saved = channel.credentials if channel is not None and channel.has_credentials else ""
        single = [key for key, (_, fields) in choices.items() if len(fields) == 1]
        choice = single[0] if saved and "|" not in saved and single else next(iter(choices))
    return CredentialChoice(adaptor, choices[choice][1]), choice


@staff_view
def channel_new(request):
    vendor = request.GET.get("vendor")
    if not vendor:
        return render(
            request, "channels/staff/channel_vendor.html", {"adaptors": registry.all_adaptors(), "nav": "channels"}
        )
    try:
        adaptor = registry.get(vendor)
    except KeyError:
        raise Http404("Unknown vendor") from None
    adaptor, choice = _credential_choice(request, adaptor)
    form = ChannelForm(request.POST or None, adaptor=adaptor)
    if request.method == "POST" and form.is_valid():
        channel = Channel()
        form.apply_to(channel)
        channel.save()
        credentials = "set" if channel.has_credentials else "none"
        record(request, "channel.created", channel.name, **_snapshot(channel), credentials=credentials)
        log.info("Channel %s (%s) created by %s", channel.name, vendor, request.user)
        messages.success(request, f"Channel {channel.name} created. Use Test to check its credentials.")
        return redirect("staff-channel", pk=channel.pk)
    return render(request, "channels/staff/channel_form.html", _form_context(form, adaptor, choice))


def _snapshot(channel):
    return {field: getattr(channel, field) for field in CHANNEL_FIELDS}


@staff_view
def channel_edit(request, pk):
    channel = get_object_or_404(Channel, pk=pk)
    adaptor, choice = _credential_choice(request, channel.adaptor, channel)
    form = ChannelForm(request.POST or None, adaptor=adaptor, channel=channel)
    if request.method == "POST" and form.is_valid():
        before = _snapshot(channel)
        replaced = form.apply_to(channel)
        channel.save(update_fields=[*CHANNEL_FIELDS, "credentials_encrypted", "updated_at"])
        after = _snapshot(channel)
        changes = {
            field: {"from": before[field], "to": after[field]}
            for field in CHANNEL_FIELDS
            if before[field] != after[field]
        }
        if replaced:
            changes["credentials"] = "replaced"
        if changes:
            record(request, "channel.updated", channel.name, **changes)
            messages.success(request, f"Channel {channel.name} saved.")
        else:
            messages.info(request, "Nothing changed.")
        return redirect("staff-channel", pk=channel.pk)
    return render(request, "channels/staff/channel_form.html", _form_context(form, adaptor, choice, channel=channel))


def _back(request, channel):
    """Back to the channel list when the button was pressed there, else to the channel's page."""
    if request.POST.get("next") == "list":
        return redirect("staff-channels")
    return redirect("staff-channel", pk=channel.pk)


@staff_view
@require_POST
def channel_test(request, pk):
    channel = get_object_or_404(Channel, pk=pk)
    result = services.check_channel(channel)
    if result.ok:
        messages.success(request, f"Test of {channel.name} passed. {result.sentence}")
        record(request, "channel.tested", channel.name, ok=True)
    else:
        messages.error(request, f"Test of {channel.name} failed. {result.sentence}")
        record(request, "channel.tested", channel.name, ok=False, kind=result.kind)
    return _back(request, channel)


@staff_view
@require_POST
def channel_status(request, pk):
    channel = get_object_or_404(Channel, pk=pk)
    wanted = request.POST.get("status")
    if wanted not in (Channel.Status.ENABLED, Channel.Status.DISABLED):
        raise Http404("Unknown status")
    if wanted != channel.status:
        # Only the status changes: last_error stays as the record of why it was disabled.
        Channel.objects.filter(pk=channel.pk).update(status=wanted, updated_at=timezone.now())
        action = "channel.enabled" if wanted == Channel.Status.ENABLED else "channel.disabled"
        record(request, action, channel.name, **{"from": channel.status})
        log.info("Channel %s %s by %s (was %s)", channel.name, wanted, request.user, channel.status)
        messages.success(request, f"Channel {channel.name} is now {Channel.Status(wanted).label.lower()}.")
    return _back(request, channel)


# --- prices --------------------------------------------------------------------------


class PriceForm(BasePriceForm):
    """The price form, with the price per vendor credit (vendors that charge credits and report them:
    Kling's final_unit_deduction)."""

    per_credit = UsdField(
        label="Per vendor credit (USD)",
        required=False,
        help_text="Optional: charge per credit the vendor reports (Kling) instead of per second and tier; "
        "the hold prices the credits expected. Blank: per second.",
    )

    class Meta(BasePriceForm.Meta):
        fields = [*BasePriceForm.Meta.fields, "per_credit"]


def price_preview(price):
    """What a 5 s and a 10 s video cost at the default tier and at every multiplier tier."""
    tiers = [("Default (1x)", None)] + [
        (f"{tier} ({value}x)", tier) for tier, value in sorted(price.resolution_multipliers.items())
    ]
    return [{"tier": label, "costs": [price.cost(s, tier) for s in PREVIEW_SECONDS]} for label, tier in tiers]


def _price_facts(price):
    facts = {"per_second": price.per_second, "per_video": price.per_video, "multipliers": price.resolution_multipliers}
    if price.per_credit is not None:
        facts["per_credit"] = price.per_credit
    return facts


@staff_view
def price_list(request):
    prices = list(Price.objects.all())
    for price in prices:
        price.costs = [price.cost(seconds) for seconds in PREVIEW_SECONDS]
    priced = {price.model for price in prices}
    unpriced = [name for name in sorted(services.served_models(usable=False)) if name not in priced]
    context = {"prices": prices, "unpriced": unpriced, "preview_seconds": PREVIEW_SECONDS, "nav": "prices"}
    return render(request, "channels/staff/price_list.html", context)


@staff_view
def price_edit(request, pk=None):
    price = get_object_or_404(Price, pk=pk) if pk is not None else Price()
    before = _price_facts(price)
    form = PriceForm(request.POST or None, instance=price, initial={"model": request.GET.get("model", "")})
    preview = price_preview(price) if price.pk else None
    if request.method == "POST" and form.is_valid():
        if "preview" in request.POST:
            preview = price_preview(form.instance)
        else:
            created = price.pk is None
            price = form.save()
            action = "price.created" if created else "price.updated"
            record(request, action, price.model, before=None if created else before, after=_price_facts(price))
            messages.success(request, f"Price for {price.model} saved.")
            return redirect("staff-prices")
    context = {
        "form": form,
        "price": price if price.pk else None,
        "preview": preview,
        "preview_seconds": PREVIEW_SECONDS,
        "served_models": sorted(services.served_models(usable=False)),
        "nav": "prices",
    }
    return render(request, "channels/staff/price_form.html", context)
