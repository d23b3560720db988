"""Tenant task pages: the history with filters, one task with its timeline, and its video.

Everything starts from ``VideoTask.objects.for_tenant``; another tenant's task is 404.
Vendor-side fields (vendor ids and status, result_url, the channel) are never rendered here.
"""

import json

from django import forms
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_safe

from accounts.dashboard import tenant_view
from accounts.models import ApiKey
from channels.adaptors.base import AdaptorError

from . import content
from .errors import GatewayError
from .forms import TaskFilterForm
from .models import VideoTask

PAGE_SIZE = 25

# Our stable error codes, in words a customer understands; the stored message follows.
ERROR_EXPLANATIONS = {
    "vendor_failed": "The video provider could not generate this video.",
    "content_moderation": "The video provider refused the prompt or image under its content policy.",
    "deadline_exceeded": "The video provider did not finish in time, so the task was stopped.",
    "vendor_timeout": "The video provider did not answer in time when the task was submitted.",
    "vendor_unavailable": "No video provider could take the request at that moment.",
    "vendor_rejected": "The video provider refused the request's parameters.",
    "vendor_error": "The video provider answered in a way the gateway did not understand.",
    "submit_interrupted": "The gateway was interrupted while submitting the task.",
    "internal_error": "The gateway failed while handling this task.",
    "image_download_failed": "An input image could not be downloaded.",
}
UNKNOWN_ERROR = "The task failed."
REFUNDED = "Nothing was charged: the hold was released."


def explain_error(task):
    """A sentence for the task's error code (for failed tasks), else an empty string."""
    if task.status != VideoTask.Status.FAILED:
        return ""
    return ERROR_EXPLANATIONS.get(task.error_code, UNKNOWN_ERROR)


class TenantTaskFilterForm(TaskFilterForm):
    model = forms.ChoiceField(required=False, choices=[])
    key = forms.ChoiceField(required=False, choices=[])

    def __init__(self, data, *, tenant):
        super().__init__(data)
        models = VideoTask.objects.for_tenant(tenant).order_by("model").values_list("model", flat=True).distinct()
        self.fields["model"].choices = [("", "Any model"), *((m, m) for m in models)]
        self.keys = {k.lookup: k for k in ApiKey.objects.for_tenant(tenant)}
        keys = ((k.lookup, f"{k.name} ({k.masked})") for k in self.keys.values())
        self.fields["key"].choices = [("", "Any key"), *keys]

    def narrow(self, tasks, data):
        return tasks.filter(api_key=self.keys[data["key"]]) if "key" in data else tasks


def _task_page(request):
    form = TenantTaskFilterForm(request.GET, tenant=request.tenant)
    tasks = form.filter(VideoTask.objects.for_tenant(request.tenant).select_related("api_key"))
    page = Paginator(tasks, PAGE_SIZE).get_page(request.GET.get("page"))
    return form, page


@tenant_view
@require_safe
def task_list(request):
    form, page = _task_page(request)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "videos/task_list.html",
        {
            "nav": "tasks",
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "filtered": any(value for value in query.values()),
        },
    )


@tenant_view
@require_safe
def task_rows(request):
    """The table body of the task list, for the live refresh while tasks run."""
    _, page = _task_page(request)
    return render(request, "videos/_task_rows.html", {"page": page})


def _tenant_task(request, public_id):
    tasks = VideoTask.objects.for_tenant(request.tenant).select_related("api_key")
    return get_object_or_404(tasks, public_id=public_id)


def _live_context(task):
    return {"task": task, "error_explanation": explain_error(task), "refunded": REFUNDED}


@tenant_view
@require_safe
def task_detail(request, public_id):
    task = _tenant_task(request, public_id)
    params = [
        (name, value if isinstance(value, str | int | float) else json.dumps(value, ensure_ascii=False))
        for name, value in sorted(task.params.items())
    ]
    return render(request, "videos/task_detail.html", {"nav": "tasks", "params": params, **_live_context(task)})


@tenant_view
@require_safe
def task_status(request, public_id):
    """The live part of the task page (status, progress, timeline, cost, video)."""
    task = _tenant_task(request, public_id)
    return render(request, "videos/_task_live.html", _live_context(task))


@tenant_view
@require_safe
def task_video(request, public_id):
    """The video's bytes for the in-page player, with Range support; 404 until completed."""
    task = _tenant_task(request, public_id)
    if task.status != VideoTask.Status.COMPLETED:
        raise Http404("The video is not ready.")
    try:
        return content.respond(request, task)
    except (GatewayError, AdaptorError):
        return HttpResponse("The video is not available right now.", status=502, content_type="text/plain")
