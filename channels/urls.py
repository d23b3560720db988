"""Operator pages (staff only)."""

from django.urls import path

from . import views

urlpatterns = [
    path("channels/", views.channel_list, name="staff-channels"),
]
