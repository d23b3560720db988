from django.shortcuts import render

from accounts.dashboard import staff_view

from .models import Channel


@staff_view
def channel_list(request):
    return render(request, "staff/channel_list.html", {"channels": Channel.objects.all()})
