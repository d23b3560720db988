"""Task-page forms: the task-list filters (tenant and staff) and the usage period."""

from datetime import datetime, time, timedelta

from django import forms
from django.db.models import Q
from django.utils import timezone

from accounts.models import ApiKey, Tenant
from channels.models import Channel
from channels.services import served_models

from .models import VideoTask
from .usage import DEFAULT_DAYS, MAX_DAYS, PRESETS, Period


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

    q = forms.CharField(required=False, label="Search", max_length=200)
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *VideoTask.Status.choices])
    model = forms.CharField(required=False)
    since = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, data, **kwargs):
        super().__init__(data, **kwargs)
        self.fields["q"].widget.attrs.update(type="search", placeholder="Task id or prompt text")

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            self.add_error("until", "The end date is before the start date.")
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
    model = forms.ChoiceField(required=False, choices=[])
    key = forms.ChoiceField(required=False, choices=[])

    def __init__(self, data, *, tenant):
        super().__init__(data)
        self.fields["model"].choices = [("", "Any model"), *((m, m) for m in model_choices((data or {}).get("model")))]
        self.keys = {k.lookup: k for k in ApiKey.objects.for_tenant(tenant)}
        keys = ((k.lookup, f"{k.name} ({k.masked})") for k in self.keys.values())
        self.fields["key"].choices = [("", "Any key"), *keys]

    def narrow(self, tasks, data):
        return tasks.filter(api_key=self.keys[data["key"]]) if "key" in data else tasks


def _choices(values, everything):
    return [("", everything)] + [(value, value) for value in values]


class StaffTaskFilterForm(TaskFilterForm):
    """The all-tasks filters: also by tenant and channel, and by the vendor's task id."""

    id_fields = ("public_id", "vendor_task_id")

    tenant = forms.ChoiceField(required=False)
    channel = forms.ChoiceField(required=False)

    def __init__(self, data):
        super().__init__(data)
        # Names shown, ids filtered on: tenant_id = ? keeps the tenant's index (task_tenant_recent)
        # in play, where a join on the tenant's name would walk every tenant's tasks.
        self.tenant_ids = dict(Tenant.objects.values_list("name", "id"))
        self.channel_ids = dict(Channel.objects.values_list("name", "id"))
        self.fields["tenant"].choices = _choices(self.tenant_ids, "Any tenant")
        self.fields["channel"].choices = _choices(self.channel_ids, "Any channel")

    def narrow(self, tasks, data):
        if "tenant" in data:
            tasks = tasks.filter(tenant_id=self.tenant_ids[data["tenant"]])
        if "channel" in data:
            tasks = tasks.filter(channel_id=self.channel_ids[data["channel"]])
        return tasks


class PeriodForm(forms.Form):
    period = forms.ChoiceField(
        choices=[*((str(days), f"Last {days} days") for days in PRESETS), ("custom", "Custom")],
    )
    since = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, data):
        data = data.copy()
        data.setdefault("period", str(DEFAULT_DAYS))
        super().__init__(data)

    def clean(self):
        data = super().clean()
        if data.get("period") != "custom":
            return data
        since, until = data.get("since"), data.get("until")
        if not since or not until:
            raise forms.ValidationError("Choose both a start and an end date for a custom period.")
        if since > until:
            raise forms.ValidationError("The end date is before the start date.")
        if (until - since).days + 1 > MAX_DAYS:
            raise forms.ValidationError(f"A period can span at most {MAX_DAYS} days.")
        return data

    def chosen(self):
        """The chosen period; the default (last 30 days) when nothing valid was chosen."""
        if self.is_valid():
            data = self.cleaned_data
            if data["period"] == "custom":
                return Period(data["since"], data["until"], "custom")
            return Period.last_days(int(data["period"]))
        return Period.last_days(DEFAULT_DAYS)
