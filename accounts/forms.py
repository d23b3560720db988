"""Dashboard forms: API key limits, webhook endpoints, and money entered in US dollars."""

import ipaddress
import re
from datetime import timedelta
from decimal import Decimal

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import WEBHOOK_EVENT_TYPES, WebhookEndpoint
from .signals import check_webhook_url, collect_model_names


def known_models():
    """Model names a key may be limited to: what the apps above say they serve or price
    (channels answers the collect_model_names signal)."""
    names = set()
    for _receiver, answer in collect_model_names.send(sender=None):
        names.update(answer or ())
    return names


class KeyForm(forms.Form):
    name = forms.CharField(
        max_length=100, label=_("Name"), help_text=_("So you can tell your keys apart, e.g. “production”.")
    )
    expires_at = forms.DateTimeField(
        required=False,
        label=_("Expires"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=_("Optional, in UTC. After this moment the key stops working."),
    )
    allowed_models = forms.MultipleChoiceField(
        required=False,
        label=_("Models"),
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Tick none to allow every model."),
    )
    allowed_ips = forms.CharField(
        required=False,
        label=_("IP allowlist"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Addresses or CIDR ranges, one per line, e.g. 203.0.113.7 or 198.51.100.0/24. Empty: any address."),
    )
    spend_limit = forms.DecimalField(
        required=False,
        label=_("Spending cap (USD)"),
        min_value=Decimal(0),
        max_digits=14,
        decimal_places=6,
        help_text=_("Optional. The key is refused once what it holds and spends would pass this."),
    )

    def __init__(self, *args, api_key=None, **kwargs):
        if api_key is not None:
            kwargs.setdefault(
                "initial",
                {
                    "name": api_key.name,
                    "expires_at": api_key.expires_at,
                    "allowed_models": api_key.allowed_models,
                    "allowed_ips": "\n".join(api_key.allowed_ips),
                    "spend_limit": None
                    if api_key.spend_limit is None
                    else Decimal(api_key.spend_limit) / settings.GATEWAY_UNITS_PER_USD,
                },
            )
        super().__init__(*args, **kwargs)
        self.api_key = api_key
        models = known_models() | set(api_key.allowed_models if api_key else [])
        self.fields["allowed_models"].choices = [(m, m) for m in sorted(models)]

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError(_("Give the key a name."))
        return name

    def clean_expires_at(self):
        value = self.cleaned_data["expires_at"]
        changed = self.api_key is None or value != self.api_key.expires_at
        if value is not None and changed and value <= timezone.now() + timedelta(minutes=1):
            raise forms.ValidationError(_("The expiry must be in the future."))
        return value

    def clean_allowed_ips(self):
        entries = [entry for entry in re.split(r"[\s,]+", self.cleaned_data["allowed_ips"]) if entry]
        networks, problems = [], []
        for entry in entries:
            try:
                network = ipaddress.ip_network(entry)
            except ValueError:
                try:
                    suggestion = ipaddress.ip_network(entry, strict=False)
                except ValueError:
                    problems.append(_("“%(entry)s” is not an IP address or CIDR range.") % {"entry": entry})
                else:
                    problem = _("“%(entry)s” has host bits set; did you mean %(suggestion)s?")
                    problems.append(problem % {"entry": entry, "suggestion": suggestion})
                continue
            text = str(network.network_address) if network.num_addresses == 1 and "/" not in entry else str(network)
            if text not in networks:
                networks.append(text)
        if problems:
            raise forms.ValidationError(problems)
        return networks

    def clean_spend_limit(self):
        value = self.cleaned_data["spend_limit"]
        return None if value is None else int(value * settings.GATEWAY_UNITS_PER_USD)

    def limits(self):
        """The cleaned fields as ApiKey attributes."""
        return {name: self.cleaned_data[name] for name in self.fields}


class WebhookEndpointForm(forms.Form):
    url = forms.URLField(
        max_length=2000,
        label=_("URL"),
        assume_scheme="https",
        help_text=_(
            "Where the gateway POSTs signed events, e.g. https://example.com/webhooks/video. "
            "It must be reachable from the internet."
        ),
    )
    description = forms.CharField(
        max_length=200, required=False, label=_("Description"), help_text=_("Optional, for you.")
    )
    events = forms.MultipleChoiceField(
        required=False,
        label=_("Events"),
        widget=forms.CheckboxSelectMultiple,
        choices=[(name, name) for name in WEBHOOK_EVENT_TYPES],
        help_text=_("Tick none to receive every event."),
    )
    enabled = forms.BooleanField(
        required=False, initial=True, label=_("Enabled"), help_text=_("Untick to pause deliveries.")
    )

    def __init__(self, *args, tenant, endpoint=None, **kwargs):
        if endpoint is not None:
            kwargs.setdefault(
                "initial",
                {
                    "url": endpoint.url,
                    "description": endpoint.description,
                    "events": endpoint.events,
                    "enabled": endpoint.enabled,
                },
            )
        super().__init__(*args, **kwargs)
        self.tenant = tenant
        self.endpoint = endpoint
        if endpoint is None:
            del self.fields["enabled"]  # a new endpoint starts enabled

    def clean_url(self):
        url = self.cleaned_data["url"]
        # Where the URL points is checked by the app that makes the requests (channels' SSRF guard).
        for _receiver, problem in check_webhook_url.send(sender=None, url=url):
            if problem:
                raise forms.ValidationError(problem)
        others = WebhookEndpoint.objects.for_tenant(self.tenant).filter(url=url)
        if self.endpoint is not None:
            others = others.exclude(pk=self.endpoint.pk)
        if others.exists():
            raise forms.ValidationError(_("This account already has an endpoint with this URL."))
        return url

    def clean_events(self):
        chosen = set(self.cleaned_data["events"])
        return [name for name in WEBHOOK_EVENT_TYPES if name in chosen]

    def save(self):
        """Update ``self.endpoint`` (an edit) and return it; re-enabling clears why it was disabled."""
        endpoint = self.endpoint
        data = self.cleaned_data
        if data["enabled"] and not endpoint.enabled:
            endpoint.disabled_reason = ""
            endpoint.failing_since = None
        endpoint.url, endpoint.description = data["url"], data["description"]
        endpoint.events, endpoint.enabled = data["events"], data["enabled"]
        endpoint.save()
        return endpoint


def units_to_usd(units):
    return Decimal(units) / settings.GATEWAY_UNITS_PER_USD


class UsdField(forms.DecimalField):
    """Dollars in the form, units in cleaned_data."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", Decimal(0))
        kwargs.setdefault("decimal_places", 6)
        super().__init__(max_digits=16, **kwargs)

    def prepare_value(self, value):
        return format(units_to_usd(value).normalize(), "f") if isinstance(value, int) else value

    def clean(self, value):
        amount = super().clean(value)
        # Exact: at most six decimals were accepted, and 1 unit = $0.000001.
        return None if amount is None else int(amount * settings.GATEWAY_UNITS_PER_USD)
