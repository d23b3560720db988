"""Operator forms: channels (with write-only credentials) and prices.

Money is entered in US dollars (at most six decimals) and stored in units (1,000,000 units = 1 USD), exactly.
"""

import json
from decimal import Decimal, InvalidOperation

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.forms import UsdField

from .models import Channel, Price

# Words that read better in capitals when a credential field name becomes a label.
_LABEL_WORDS = {"api": "API", "id": "ID", "ak": "AK", "sk": "SK"}
NO_MODELS = gettext_lazy("Name at least one model this channel serves.")
PRIORITY_LIMIT = 1000  # a channel's priority is -1000..1000
WEIGHT_LIMIT = 1000  # and its weight 0..1000


# The credential parts the adaptors ask for (Adaptor.credential_fields), as labels.
CREDENTIAL_LABELS = {
    "api_key": gettext_lazy("API key"),
    "access_key": gettext_lazy("Access key"),
    "secret_key": gettext_lazy("Secret key"),
    "access_key_id": gettext_lazy("Access key ID"),
    "secret_access_key": gettext_lazy("Secret access key"),
    "access_token": gettext_lazy("Access token"),
    "service_account_key_or_token": gettext_lazy("Service-account key (JSON) or access token"),
}


def credential_label(name):
    if name in CREDENTIAL_LABELS:
        return CREDENTIAL_LABELS[name]
    words = [_LABEL_WORDS.get(word, word) for word in name.split("_")]
    text = " ".join(words)
    return text[0].upper() + text[1:]


def parse_model_list(text):
    """Model names, one per line or comma-separated; order kept, duplicates dropped."""
    names = []
    for line in (text or "").replace(",", "\n").splitlines():
        name = line.strip()
        if not name:
            continue
        if any(ch.isspace() for ch in name):
            raise forms.ValidationError(_("'%(name)s' is not a model name: names have no spaces.") % {"name": name})
        if name not in names:
            names.append(name)
    return names


def describe_base_url(entry):
    """One of an adaptor's known_base_urls as help text. An entry is a plain URL, or a tuple of the URL
    and what it is (DashScope: ``(url, "Singapore (international)")``), shown as "label: url"; the URL
    is told apart by its scheme, so the order within the tuple does not matter."""
    if isinstance(entry, str):
        return entry
    parts = [str(part) for part in entry if part]
    urls = [part for part in parts if "://" in part] or parts[:1]
    labels = [part for part in parts if part not in urls]
    if not labels:
        return ", ".join(urls)
    return _("%(label)s: %(url)s") % {"label": ", ".join(labels), "url": ", ".join(urls)}


def _invalid_json(exc):
    return forms.ValidationError(
        _("This is not valid JSON: %(error)s (line %(line)s).") % {"error": exc.msg, "line": exc.lineno}
    )


def parse_pairs(text, what):
    """``key = value`` lines (``#`` starts a comment), or a JSON object, as an ordered dict of strings.

    ``what`` names the two sides for error messages, e.g. ("requested model", "upstream model").
    """
    text = (text or "").strip()
    if not text:
        return {}
    if text.startswith(("{", "[")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _invalid_json(exc) from None
        if not isinstance(data, dict):
            raise forms.ValidationError(_("The JSON must be an object."))
        pairs = list(data.items())
        where = {key: _("entry '%(key)s'") % {"key": key} for key, _value in pairs}
    else:
        pairs, where = [], {}
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            if line.count("=") != 1:
                raise forms.ValidationError(
                    _("Line %(number)s: write '%(key)s = %(value)s' (one '=').")
                    % {"number": number, "key": what[0], "value": what[1]}
                )
            key, value = (side.strip() for side in line.split("="))
            if key in where:
                raise forms.ValidationError(
                    _("Line %(number)s: '%(key)s' appears twice.") % {"number": number, "key": key}
                )
            pairs.append((key, value))
            where[key] = _("line %(number)s") % {"number": number}
    result = {}
    for key, value in pairs:
        value = value if isinstance(value, str) else json.dumps(value)
        for side, label in ((key, what[0]), (value, what[1])):
            if not side or any(ch.isspace() for ch in side):
                raise forms.ValidationError(
                    _("%(where)s: the %(side)s is missing or has spaces.")
                    % {"where": where[key].capitalize(), "side": label}
                )
        result[key] = value
    return result


class ChannelForm(forms.Form):
    """A channel of one vendor. The vendor's credential parts are write-only inputs: a saved
    secret is never rendered, but what the operator typed is kept across a validation error.

    Editing: leaving every credential input empty keeps the saved secret; entering any
    of them replaces it, which needs every part.
    """

    name = forms.CharField(label=gettext_lazy("Name"), max_length=100)
    base_url = forms.URLField(
        max_length=500,
        required=False,
        assume_scheme="https",
        label=gettext_lazy("Base URL"),
        help_text=gettext_lazy("Blank: the vendor's default."),
    )
    served_models = forms.CharField(
        label=gettext_lazy("Served models"),
        widget=forms.Textarea(attrs={"rows": 4}),
        error_messages={"required": NO_MODELS},
        help_text=gettext_lazy("The model names clients may request; one per line or comma-separated."),
    )
    model_mapping = forms.CharField(
        label=gettext_lazy("Model mapping"),
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": gettext_lazy("e.g. my-model = vendor-model-name")}),
        required=False,
        help_text=gettext_lazy(
            "Optional: one 'requested = upstream' per line (or a JSON object) when the vendor's name differs."
        ),
    )
    # Bounded so that a typo is a form error, not a number the database column cannot hold. Routing
    # (channels.services.candidates) only orders priorities and compares weights within one, so a
    # thousand steps either way is more than any set of channels needs.
    priority = forms.IntegerField(
        label=gettext_lazy("Priority"),
        initial=0,
        min_value=-PRIORITY_LIMIT,
        max_value=PRIORITY_LIMIT,
        help_text=gettext_lazy("Higher is tried first."),
    )
    weight = forms.IntegerField(
        label=gettext_lazy("Weight"),
        initial=1,
        min_value=0,
        max_value=WEIGHT_LIMIT,
        help_text=gettext_lazy("Share of traffic among channels of one priority."),
    )
    options = forms.CharField(
        label=gettext_lazy("Options"),
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": gettext_lazy('e.g. {"delay": 5}')}),
        required=False,
        help_text=gettext_lazy("Vendor-specific options as a JSON object; blank for none."),
    )

    def __init__(self, *args, adaptor, channel=None, **kwargs):
        self.adaptor = adaptor
        self.channel = channel
        if channel is not None:
            kwargs.setdefault(
                "initial",
                {
                    "name": channel.name,
                    "base_url": channel.base_url,
                    "served_models": "\n".join(channel.served_models),
                    "model_mapping": "\n".join(f"{k} = {v}" for k, v in channel.model_mapping.items()),
                    "priority": channel.priority,
                    "weight": channel.weight,
                    "options": json.dumps(channel.options, indent=2) if channel.options else "",
                },
            )
        super().__init__(*args, **kwargs)
        self.fields["base_url"].widget.attrs["placeholder"] = adaptor.default_base_url
        if adaptor.known_base_urls:  # regional and workspace endpoints the vendor offers
            self.fields["base_url"].help_text = _("Blank: the vendor's default. Also: %(urls)s") % {
                "urls": "; ".join(describe_base_url(entry) for entry in adaptor.known_base_urls)
            }
        if adaptor.known_models:
            # An example, never a value: the placeholder says so ("e.g. kling-v2-6, kling-v2-1").
            examples = ", ".join(adaptor.known_models[:2])
            self.fields["served_models"].widget.attrs["placeholder"] = _("e.g. %(models)s") % {"models": examples}
        self.secret_saved = bool(channel and channel.has_credentials)
        for field_name in adaptor.credential_fields:
            self.fields[f"credential_{field_name}"] = forms.CharField(
                label=credential_label(field_name),
                required=False,
                strip=True,
                # render_value: a bound form (a POST with an error elsewhere) shows back what the operator
                # typed in this request; an unbound one has no value to show (the saved secret is never read).
                widget=forms.PasswordInput(render_value=True, attrs={"autocomplete": "new-password"}),
            )

    @property
    def credential_inputs(self):
        return [self[f"credential_{name}"] for name in self.adaptor.credential_fields]

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        taken = Channel.objects.filter(name=name)
        if self.channel is not None:
            taken = taken.exclude(pk=self.channel.pk)
        if taken.exists():
            raise forms.ValidationError(_("Another channel already has this name."))
        return name

    def clean_served_models(self):
        models = parse_model_list(self.cleaned_data["served_models"])
        if not models:
            raise forms.ValidationError(NO_MODELS)
        return models

    def clean_model_mapping(self):
        return parse_pairs(self.cleaned_data["model_mapping"], (_("requested model"), _("upstream model")))

    def clean_options(self):
        text = self.cleaned_data["options"].strip()
        if not text:
            return {}
        try:
            options = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _invalid_json(exc) from None
        if not isinstance(options, dict):
            raise forms.ValidationError(_('Options must be a JSON object, like {"delay": 5}.'))
        return options

    def clean(self):
        cleaned = super().clean()
        served, mapping = cleaned.get("served_models"), cleaned.get("model_mapping")
        if served is not None and mapping:
            unserved = [name for name in mapping if name not in served]
            if unserved:
                self.add_error(
                    "model_mapping",
                    _("Mapped but not served: %(models)s. Add them to the served models or drop the lines.")
                    % {"models": ", ".join(unserved)},
                )
        cleaned["credentials"] = self._credentials()
        return cleaned

    def _credentials(self):
        """The new credential string, or None to keep the saved one. An error is shown under the
        credential input it is about (never echoing a secret), so it is seen on the first submit."""
        names = self.adaptor.credential_fields
        if not names:
            return "" if self.channel is None else None
        parts = [self.cleaned_data.get(f"credential_{name}", "") for name in names]
        if not any(parts) and self.secret_saved:
            return None
        if not all(parts):
            missing = [name for name, part in zip(names, parts, strict=True) if not part]
            labels = ", ".join(str(credential_label(name)) for name in missing)
            if self.secret_saved:
                message = _("To replace the saved credentials, enter every part; missing: %(parts)s.")
            else:
                message = _("Enter every part; missing: %(parts)s.")
            self.add_error(f"credential_{missing[0]}", message % {"parts": labels})
            return None
        if any("|" in part for part in parts):
            self.add_error(f"credential_{names[0]}", _("A credential part cannot contain '|'."))
            return None
        try:
            return self.adaptor.parse_credentials("|".join(parts))
        except ValueError as exc:
            self.add_error(f"credential_{names[0]}", str(exc))
            return None

    def apply_to(self, channel):
        """Copy the cleaned values onto ``channel``; returns True when the credentials were replaced."""
        data = self.cleaned_data
        channel.vendor = self.adaptor.vendor
        for field in ("name", "base_url", "served_models", "model_mapping", "priority", "weight", "options"):
            setattr(channel, field, data[field])
        if data["credentials"] is None:
            return False
        channel.credentials = data["credentials"]
        return True


class PriceForm(forms.ModelForm):
    per_second = UsdField(
        label=gettext_lazy("Per second (USD)"),
        initial=0,
        help_text=gettext_lazy("Charged for every second of video."),
    )
    per_video = UsdField(
        label=gettext_lazy("Per video (USD)"), initial=0, help_text=gettext_lazy("A flat charge per video.")
    )
    resolution_multipliers = forms.CharField(
        label=gettext_lazy("Resolution multipliers"),
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": gettext_lazy("e.g.\n480p = 0.5\n1080p = 1.5")}),
        required=False,
        help_text=gettext_lazy("One 'resolution = multiplier' per line; resolutions not listed cost 1x."),
    )

    class Meta:
        model = Price
        fields = ["model", "per_second", "per_video", "resolution_multipliers"]
        labels = {"model": gettext_lazy("Model")}
        widgets = {"model": forms.TextInput(attrs={"list": "served-models"})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.is_bound:
            self.initial["resolution_multipliers"] = "\n".join(
                f"{tier} = {value}" for tier, value in self.instance.tiers()
            )

    def clean_model(self):
        name = self.cleaned_data["model"].strip()
        if any(ch.isspace() for ch in name):
            raise forms.ValidationError(_("A model name has no spaces."))
        return name

    def clean_resolution_multipliers(self):
        text = self.cleaned_data["resolution_multipliers"]
        pairs = parse_pairs(text, (_("resolution"), _("multiplier")))
        multipliers = {}
        for tier, value in pairs.items():
            try:
                number = Decimal(value)
            except InvalidOperation:
                number = None
            if number is None or not number.is_finite() or number < 0:
                raise forms.ValidationError(
                    _("The multiplier for '%(tier)s' must be 0 or more, not '%(value)s'.")
                    % {"tier": tier, "value": value}
                )
            multipliers[tier.lower()] = str(number)
        return multipliers
