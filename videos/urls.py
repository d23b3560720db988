"""Pages about tasks: history, one task, its video, the playground, usage and webhook delivery logs
for members; all tasks, health, the channel list (with task figures) and any tenant's delivery logs
for staff (under staff/)."""

from django.urls import path

from . import staff, views

urlpatterns = [
    path("tasks/", views.task_list, name="task-list"),
    path("tasks/rows/", views.task_rows, name="task-rows"),
    path("tasks/<str:public_id>/", views.task_detail, name="task-detail"),
    path("tasks/<str:public_id>/status/", views.task_status, name="task-status"),
    path("tasks/<str:public_id>/video", views.task_video, name="task-video"),
    path("tasks/<str:public_id>/cancel", views.task_cancel, name="task-cancel"),
    path("tasks/<str:public_id>/retry", views.task_retry, name="task-retry"),
    path("playground/", views.playground, name="playground"),
    path("usage/", views.usage_page, name="usage"),
    path("usage/tasks.csv", views.usage_tasks_csv, name="usage-tasks-csv"),
    path("usage/ledger.csv", views.usage_ledger_csv, name="usage-ledger-csv"),
    path("webhooks/<str:public_id>/deliveries/", views.webhook_deliveries, name="webhook-deliveries"),
    path("webhooks/<str:public_id>/deliveries/<str:event_id>/resend", views.webhook_resend, name="webhook-resend"),
    path("webhooks/<str:public_id>/test", views.webhook_test, name="webhook-test"),
    # Staff
    path("staff/overview/", staff.overview_page, name="staff-overview"),
    path("staff/channels/", staff.channel_list, name="staff-channels"),
    path("staff/tasks/", staff.task_list, name="staff-tasks"),
    path("staff/tasks/<str:public_id>/", staff.task_detail, name="staff-task"),
    path("staff/tasks/<str:public_id>/cancel", staff.task_cancel, name="staff-task-cancel"),
    path("staff/health/", staff.health, name="staff-health"),
    path(
        "staff/tenants/<slug:name>/webhooks/<str:public_id>/deliveries/",
        staff.webhook_deliveries,
        name="staff-webhook-deliveries",
    ),
    path(
        "staff/tenants/<slug:name>/webhooks/<str:public_id>/deliveries/<str:event_id>/resend",
        staff.webhook_resend,
        name="staff-webhook-resend",
    ),
    path("staff/tenants/<slug:name>/webhooks/<str:public_id>/test", staff.webhook_test, name="staff-webhook-test"),
]
