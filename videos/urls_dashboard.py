"""Tenant task pages (server-rendered)."""

from django.urls import path

from . import views

urlpatterns = [
    path("tasks/", views.task_list, name="task-list"),
    path("tasks/rows/", views.task_rows, name="task-rows"),
    path("tasks/<str:public_id>/", views.task_detail, name="task-detail"),
    path("tasks/<str:public_id>/status/", views.task_status, name="task-status"),
    path("tasks/<str:public_id>/video", views.task_video, name="task-video"),
]
