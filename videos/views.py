from django.shortcuts import render

from accounts.dashboard import tenant_view

from .models import VideoTask


@tenant_view
def task_list(request):
    tasks = VideoTask.objects.for_tenant(request.tenant).select_related("api_key")[:50]
    return render(request, "videos/task_list.html", {"tasks": tasks})
