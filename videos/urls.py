"""Pages about tasks: history, one task, its video and usage for members; all tasks, health and the
channel list (with task figures) for staff (under staff/)."""

from django.urls import path

from . import staff, views

urlpatterns = [
    path("tasks/", views.task_list, name="task-list"),
    path("tasks/rows/", views.task_rows, name="task-rows"),
    path("tasks/<str:public_id>/", views.task_detail, name="task-detail"),
    path("tasks/<str:public_id>/status/", views.task_status, name="task-status"),
    path("tasks/<str:public_id>/video", views.task_video, name="task-video"),
    path("usage/", views.usage_page, name="usage"),
    path("usage/tasks.csv", views.usage_tasks_csv, name="usage-tasks-csv"),
    path("usage/ledger.csv", views.usage_ledger_csv, name="usage-ledger-csv"),
    # Staff
    path("staff/channels/", staff.channel_list, name="staff-channels"),
    path("staff/tasks/", staff.task_list, name="staff-tasks"),
    path("staff/tasks/<str:public_id>/", staff.task_detail, name="staff-task"),
    path("staff/health/", staff.health, name="staff-health"),
]
