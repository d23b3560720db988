"""The task-list filters, shared by the tenant and staff pages."""

from datetime import datetime, time, timedelta

from django import forms
from django.db.models import Q
from django.utils import timezone

from .models import VideoTask


def day_start(day):
    return timezone.make_aware(datetime.combine(day, time.min))


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
