"""Task-page forms: the task-list filters (tenant and staff), the usage period and the playground."""

from datetime import datetime, time, timedelta

from django import forms
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import ApiKey, Tenant
from channels.canonical import ImageInput, RequestInvalid
from channels.models import Channel
from channels.services import servable_models, served_models

from .models import VideoTask
from .usage import DEFAULT_DAYS, MAX_DAYS, PRESETS, Period

# The statuses in words, translatable (the model's labels are not).
STATUS_CHOICES = VideoTask.Status.choices  # labels translated (videos.models)


def day_start(day):
    return timezone.make_aware(datetime.combine(day, time.min))


def model_choices(chosen=None):
    """The models to filter tasks by: those the channels serve (enabled or not), and the one chosen.
    Not the distinct models of the tenant's tasks: that reads all of them on every view. A model no
    channel serves any more drops out of the list, but a link naming it still filters by it."""
    names = set(served_models(usable=False))
    if chosen and chosen.strip() and len(chosen) <= VideoTask._meta.get_field("model").max_length:
        names.add(chosen)
    return sorted(names)


class TaskFilterForm(forms.Form):
    """Search (exact id or prompt text), status, model and a date range. Every field is optional;
    an invalid one is ignored and the form says why. Pages add their own fields in ``narrow``."""

    id_fields = ("public_id",)  # searched for an exact match besides the prompt text

    q = forms.CharField(required=False, label=_("Search"), max_length=200)
    status = forms.ChoiceField(required=False, label=_("Status"), choices=[])
    model = forms.CharField(required=False, label=_("Model"))
    since = forms.DateField(required=False, label=_("From"), widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label=_("To"), widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, data, **kwargs):
        super().__init__(data, **kwargs)
        self.fields["q"].widget.attrs.update(type="search", placeholder=_("Task id or prompt text"))
        self.fields["status"].choices = [("", _("Any status")), *STATUS_CHOICES]

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            self.add_error("until", _("The end date is before the start date."))
        return data

    def filter(self, tasks):
        self.is_valid()
        data = {name: value for name, value in self.cleaned_data.items() if value not in (None, "")}
        if "q" in data:
            q = data["q"].strip()
            match = Q(prompt__icontains=q)
            for field in self.id_fields:
                match |= Q(**{field: q})
            tasks = tasks.filter(match)
        if "status" in data:
            tasks = tasks.filter(status=data["status"])
        if "model" in data:
            tasks = tasks.filter(model=data["model"].strip())
        if "since" in data:
            tasks = tasks.filter(created_at__gte=day_start(data["since"]))
        if "until" in data:
            tasks = tasks.filter(created_at__lt=day_start(data["until"] + timedelta(days=1)))
        return self.narrow(tasks, data)

    def narrow(self, tasks, data):
        return tasks


class TenantTaskFilterForm(TaskFilterForm):
    model = forms.ChoiceField(required=False, label=_("Model"), choices=[])
    key = forms.ChoiceField(required=False, label=_("Key"), choices=[])

    def __init__(self, data, *, tenant):
        super().__init__(data)
        models = model_choices((data or {}).get("model"))
        self.fields["model"].choices = [("", _("Any model")), *((m, m) for m in models)]
        self.keys = {k.lookup: k for k in ApiKey.objects.for_tenant(tenant)}
        keys = ((k.lookup, f"{k.name} ({k.masked})") for k in self.keys.values())
        self.fields["key"].choices = [("", _("Any key")), *keys]

    def narrow(self, tasks, data):
        return tasks.filter(api_key=self.keys[data["key"]]) if "key" in data else tasks


def _choices(values, everything):
    return [("", everything)] + [(value, value) for value in values]


class StaffTaskFilterForm(TaskFilterForm):
    """The all-tasks filters: also by tenant and channel, and by the vendor's task id."""

    id_fields = ("public_id", "vendor_task_id")

    tenant = forms.ChoiceField(required=False, label=_("Tenant"))
    channel = forms.ChoiceField(required=False, label=_("Channel"))

    def __init__(self, data):
        super().__init__(data)
        # Names shown, ids filtered on: tenant_id = ? keeps the tenant's index (task_tenant_recent)
        # in play, where a join on the tenant's name would walk every tenant's tasks.
        self.tenant_ids = dict(Tenant.objects.values_list("name", "id"))
        self.channel_ids = dict(Channel.objects.values_list("name", "id"))
        self.fields["tenant"].choices = _choices(self.tenant_ids, _("Any tenant"))
        self.fields["channel"].choices = _choices(self.channel_ids, _("Any channel"))

    def narrow(self, tasks, data):
        if "tenant" in data:
            tasks = tasks.filter(tenant_id=self.tenant_ids[data["tenant"]])
        if "channel" in data:
            tasks = tasks.filter(channel_id=self.channel_ids[data["channel"]])
        return tasks


class PeriodForm(forms.Form):
    period = forms.ChoiceField(label=_("Period"), choices=[])
    since = forms.DateField(required=False, label=_("From"), widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label=_("To"), widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, data):
        data = data.copy()
        data.setdefault("period", str(DEFAULT_DAYS))
        super().__init__(data)
        presets = ((str(days), _("Last %(days)d days") % {"days": days}) for days in PRESETS)
        self.fields["period"].choices = [*presets, ("custom", _("Custom"))]

    def clean(self):
        data = super().clean()
        if data.get("period") != "custom":
            return data
        since, until = data.get("since"), data.get("until")
        if not since or not until:
            raise forms.ValidationError(_("Choose both a start and an end date for a custom period."))
        if since > until:
            raise forms.ValidationError(_("The end date is before the start date."))
        if (until - since).days + 1 > MAX_DAYS:
            raise forms.ValidationError(_("A period can span at most %(days)d days.") % {"days": MAX_DAYS})
        return data

    def chosen(self):
        """The chosen period; the default (last 30 days) when nothing valid was chosen."""
        if self.is_valid():
            data = self.cleaned_data
            if data["period"] == "custom":
                return Period(data["since"], data["until"], "custom")
            return Period.last_days(int(data["period"]))
        return Period.last_days(DEFAULT_DAYS)


# --- Playground ----------------------------------------------------------------------------

# Sizes offered in the playground; the model's adaptor plans (or refuses) them as it would from the API.
PLAYGROUND_SIZES = [
    ("", _("The model's default")),
    ("1280x720", _("1280×720 (landscape 16:9)")),
    ("720x1280", _("720×1280 (portrait 9:16)")),
    ("1920x1080", _("1920×1080 (landscape 16:9)")),
    ("1080x1920", _("1080×1920 (portrait 9:16)")),
    ("960x960", _("960×960 (square)")),
]


def playground_keys(tenant):
    """The tenant's keys a member can submit with from the dashboard: enabled and not expired."""
    keys = ApiKey.objects.for_tenant(tenant).filter(enabled=True, revoked_at__isnull=True)
    return [key for key in keys.select_related("tenant") if key.is_usable]


class PlaygroundForm(forms.Form):
    """A video request from the dashboard: the key it is made with (the member picks one of the
    tenant's keys; its secret is never needed or shown), a model that key may use (from what
    ``GET /v1/models`` lists), the prompt, and optionally a duration, a size and a first-frame image."""

    key = forms.ChoiceField(
        label=_("Key"), help_text=_("The video is billed to, and limited like, this key; its secret is not shown.")
    )
    model = forms.ChoiceField(label=_("Model"))
    prompt = forms.CharField(label=_("Prompt"), widget=forms.Textarea(attrs={"rows": 4}))
    seconds = forms.IntegerField(
        label=_("Duration (seconds)"),
        required=False,
        min_value=1,
        max_value=60,
        help_text=_("Leave empty for the model's default."),
    )
    size = forms.ChoiceField(label=_("Size"), required=False, choices=PLAYGROUND_SIZES)
    image = forms.FileField(
        label=_("First frame (optional)"),
        required=False,
        help_text=_("A PNG, JPEG, WebP, GIF or BMP image the video starts from."),
    )

    def __init__(self, data=None, files=None, *, tenant):
        super().__init__(data, files)
        self.keys = {key.lookup: key for key in playground_keys(tenant)}
        self.fields["key"].choices = [(key.lookup, f"{key.name} ({key.masked})") for key in self.keys.values()]
        allowed = [model for model in servable_models() if any(key.allows_model(model) for key in self.keys.values())]
        self.fields["model"].choices = [(model, model) for model in allowed]
        self.fields["image"].widget.attrs["accept"] = "image/*"

    def clean_image(self):
        upload = self.cleaned_data.get("image")
        if not upload:
            return None
        try:
            return ImageInput.from_upload(upload, "image")
        except RequestInvalid as exc:
            raise forms.ValidationError(exc.message) from None

    def clean(self):
        data = super().clean()
        key, model = self.keys.get(data.get("key")), data.get("model")
        if key and model and not key.allows_model(model):
            self.add_error("model", _("The key %(key)s may not use this model.") % {"key": key.masked})
        return data

    @property
    def api_key(self):
        return self.keys[self.cleaned_data["key"]]

    def fields_for_request(self):
        """The canonical fields (videos.api.parsing.build_request) of the request."""
        data = self.cleaned_data
        return {"seconds": data.get("seconds"), "size": data.get("size") or None, "image": data.get("image")}
