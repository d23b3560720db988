"""Operator pages (staff only) about configuration: a channel's settings, test and status, and prices.
The channel list, which shows task figures, is a videos page.

Every change is a POST and leaves an AuditEntry; a channel's credentials are never
rendered, logged or written to the audit log (only "replaced" or "copied").
"""

import logging

from django.contrib import messages
from django.db import models, transaction
from django.db.models import ProtectedError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from accounts.dashboard import record, staff_view
from accounts.forms import UsdField

from . import services
from .adaptors import registry
from .forms import ChannelForm, credential_label
from .forms import PriceForm as BasePriceForm
from .models import Channel, Price

log = logging.getLogger(__name__)

PREVIEW_SECONDS = (5, 10)
CHANNEL_FIELDS = ("name", "vendor", "base_url", "served_models", "model_mapping", "priority", "weight", "options")


# --- channels ------------------------------------------------------------------------


def _form_context(form, adaptor, choice=None, **extra):
    choices = getattr(adaptor, "credential_choices", None) or {}
    return {
        "form": form,
        "adaptor": adaptor,
        "credential_labels": [credential_label(name) for name in adaptor.credential_fields],
        "credential_choices": [(key, label) for key, (label, _fields) in choices.items()],
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
        single = [key for key, (_label, fields) in choices.items() if len(fields) == 1]
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
        messages.success(
            request, _("Channel %(name)s created. Use Test to check its credentials.") % {"name": channel.name}
        )
        return redirect("staff-channel", pk=channel.pk)
    return render(request, "channels/staff/channel_form.html", _form_context(form, adaptor, choice))


def _snapshot(channel):
    return {field: getattr(channel, field) for field in CHANNEL_FIELDS}


def is_referenced(channel):
    """Whether a row that protects the channel from deletion refers to it (a task it served):
    such a channel can be archived, not deleted."""
    return any(
        getattr(channel, relation.get_accessor_name()).exists()
        for relation in channel._meta.related_objects
        if relation.on_delete is models.PROTECT
    )


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
            messages.success(request, _("Channel %(name)s saved.") % {"name": channel.name})
        else:
            messages.info(request, _("Nothing changed."))
        return redirect("staff-channel", pk=channel.pk)
    context = _form_context(form, adaptor, choice, channel=channel, referenced=is_referenced(channel))
    return render(request, "channels/staff/channel_form.html", context)


def _back(request, channel):
    """Back to the channel list when the button was pressed there, else to the channel's page."""
    if request.POST.get("next") == "list":
        return redirect("staff-channels")
    return redirect("staff-channel", pk=channel.pk)


def _tell(request, channel, result):
    """One message line for a channel's test result."""
    facts = {"name": channel.name, "sentence": result.sentence}
    if result.ok:
        messages.success(request, _("Test of %(name)s passed. %(sentence)s") % facts)
    else:
        messages.error(request, _("Test of %(name)s failed. %(sentence)s") % facts)


def _record_test(request, channel, result, **extra):
    detail = {"ok": True} if result.ok else {"ok": False, "kind": result.kind}
    record(request, "channel.tested", channel.name, **detail, **extra)


@staff_view
@require_POST
def channel_test(request, pk):
    channel = get_object_or_404(Channel, pk=pk)
    result = services.run_check(channel)
    _tell(request, channel, result)
    _record_test(request, channel, result)
    return _back(request, channel)


@staff_view
@require_POST
def channel_test_all(request):
    """Test every enabled channel (not archived); one result line each."""
    results = services.run_checks(Channel.objects.usable())
    if not results:
        messages.info(request, _("No enabled channel to test."))
    for channel, result in results:
        _tell(request, channel, result)
        _record_test(request, channel, result, all=True)
    return redirect("staff-channels")


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
        if wanted == Channel.Status.ENABLED:
            messages.success(request, _("Channel %(name)s is now enabled.") % {"name": channel.name})
        else:
            messages.success(request, _("Channel %(name)s is now disabled.") % {"name": channel.name})
    return _back(request, channel)


def _copy_name(name):
    """ "<name> (copy)", or "(copy 2)", "(copy 3)"... when that name is taken."""
    limit = Channel._meta.get_field("name").max_length
    for number in range(1, 1000):
        suffix = _(" (copy)") if number == 1 else _(" (copy %(number)s)") % {"number": number}
        candidate = name[: limit - len(suffix)] + suffix
        if not Channel.objects.filter(name=candidate).exists():
            return candidate
    raise Http404("No free name for a copy")


@staff_view
@require_POST
def channel_clone(request, pk):
    """A disabled copy of the channel's settings; its credentials are copied still encrypted."""
    source = get_object_or_404(Channel, pk=pk)
    copy = Channel(
        **_snapshot(source),
        credentials_encrypted=source.credentials_encrypted,
        status=Channel.Status.DISABLED,
    )
    copy.name = _copy_name(source.name)
    copy.save()
    credentials = "copied" if copy.has_credentials else "none"
    record(request, "channel.cloned", copy.name, source=source.name, credentials=credentials)
    messages.success(
        request,
        _("Channel %(name)s created as a disabled copy of %(source)s. Review it, then enable it.")
        % {"name": copy.name, "source": source.name},
    )
    return redirect("staff-channel", pk=copy.pk)


def _confirm(request, channel, *, title, question, button, action, danger=True):
    context = {
        "channel": channel,
        "title": title,
        "question": question,
        "button": button,
        "action": action,
        "danger": danger,
        "nav": "channels",
    }
    return render(request, "channels/staff/channel_confirm.html", context)


@staff_view
def channel_delete(request, pk):
    """GET asks; POST deletes, unless a task refers to the channel (then it offers archiving)."""
    channel = get_object_or_404(Channel, pk=pk)
    if is_referenced(channel):
        messages.error(
            request,
            _("Tasks refer to channel %(name)s, so it cannot be deleted; archive it instead.") % {"name": channel.name},
        )
        return redirect("staff-channel-archive", pk=channel.pk)
    if request.method != "POST":
        return _confirm(
            request,
            channel,
            title=_("Delete channel %(name)s") % {"name": channel.name},
            question=_("Delete channel %(name)s and its saved credentials? This cannot be undone.")
            % {"name": channel.name},
            button=_("Delete channel"),
            action=reverse("staff-channel-delete", args=[channel.pk]),
        )
    try:
        with transaction.atomic():
            channel.delete()
    except ProtectedError:  # a task arrived since the check
        return redirect("staff-channel-archive", pk=pk)
    record(request, "channel.deleted", channel.name, **_snapshot(channel))
    log.info("Channel %s deleted by %s", channel.name, request.user)
    messages.success(request, _("Channel %(name)s deleted.") % {"name": channel.name})
    return redirect("staff-channels")


@staff_view
def channel_archive(request, pk):
    """GET asks; POST archives: the channel leaves routing and the channel list, its tasks keep it."""
    channel = get_object_or_404(Channel, pk=pk)
    if channel.archived_at is not None:
        return redirect("staff-channel", pk=channel.pk)
    if request.method != "POST":
        return _confirm(
            request,
            channel,
            title=_("Archive channel %(name)s") % {"name": channel.name},
            question=_(
                "Archive channel %(name)s? No new task is sent to it and it leaves the channel list; tasks "
                "already running on it finish. You can restore it from the archived channels."
            )
            % {"name": channel.name},
            button=_("Archive channel"),
            action=reverse("staff-channel-archive", args=[channel.pk]),
        )
    Channel.objects.filter(pk=channel.pk).update(archived_at=timezone.now(), updated_at=timezone.now())
    record(request, "channel.archived", channel.name, status=channel.status)
    log.info("Channel %s archived by %s", channel.name, request.user)
    messages.success(request, _("Channel %(name)s archived.") % {"name": channel.name})
    return redirect("staff-channels")


@staff_view
@require_POST
def channel_restore(request, pk):
    channel = get_object_or_404(Channel, pk=pk, archived_at__isnull=False)
    Channel.objects.filter(pk=channel.pk).update(archived_at=None, updated_at=timezone.now())
    record(request, "channel.restored", channel.name, status=channel.status)
    messages.success(
        request,
        _("Channel %(name)s restored (%(status)s).") % {"name": channel.name, "status": channel.get_status_display()},
    )
    return redirect("staff-channel", pk=channel.pk)


# --- prices --------------------------------------------------------------------------


class PriceForm(BasePriceForm):
    """The price form, with the price per vendor credit (vendors that charge credits and report them:
    Kling's final_unit_deduction)."""

    per_credit = UsdField(
        label=gettext_lazy("Per vendor credit (USD)"),
        required=False,
        help_text=gettext_lazy(
            "Optional: charge per credit the vendor reports (Kling) instead of per second and tier; "
            "the hold prices the credits expected. Blank: per second."
        ),
    )

    class Meta(BasePriceForm.Meta):
        fields = [*BasePriceForm.Meta.fields, "per_credit"]


def price_preview(price):
    """What a 5 s and a 10 s video cost at the default tier and at every multiplier tier, the
    default first and then by resolution (480p before 1080p)."""
    tiers = [(_("Default (1x)"), None)] + [(f"{tier} ({value}x)", tier) for tier, value in price.tiers()]
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
    # ?model= (the price list's "unpriced" links) fills in a new price's model; an existing price
    # shows its own, as initial would override the instance's value.
    initial = {"model": request.GET.get("model", "")} if price.pk is None else None
    form = PriceForm(request.POST or None, instance=price, initial=initial)
    preview = price_preview(price) if price.pk else None
    if request.method == "POST" and form.is_valid():
        if "preview" in request.POST:
            preview = price_preview(form.instance)
        else:
            created = price.pk is None
            price = form.save()
            action = "price.created" if created else "price.updated"
            record(request, action, price.model, before=None if created else before, after=_price_facts(price))
            messages.success(request, _("Price for %(model)s saved.") % {"model": price.model})
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
