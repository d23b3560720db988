"""Tenant task pages (server-rendered)."""

from django.urls import path

from . import views

urlpatterns = [
    path("tasks/", views.task_list, name="task-list"),
]
