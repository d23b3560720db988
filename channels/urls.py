"""Operator pages (staff only), under /staff/."""

from django.urls import path

from accounts import staff as tenants

from . import views

urlpatterns = [
    path("", views.staff_home, name="staff-home"),
    path("channels/", views.channel_list, name="staff-channels"),
    path("channels/new", views.channel_new, name="staff-channel-new"),
    path("channels/<int:pk>/", views.channel_edit, name="staff-channel"),
    path("channels/<int:pk>/test", views.channel_test, name="staff-channel-test"),
    path("channels/<int:pk>/status", views.channel_status, name="staff-channel-status"),
    path("prices/", views.price_list, name="staff-prices"),
    path("prices/new", views.price_edit, name="staff-price-new"),
    path("prices/<int:pk>/", views.price_edit, name="staff-price"),
    path("tasks/", views.task_list, name="staff-tasks"),
    path("tasks/<str:public_id>/", views.task_detail, name="staff-task"),
    path("health/", views.health, name="staff-health"),
    path("audit/", views.audit_log, name="staff-audit"),
    path("tenants/", tenants.tenant_list, name="staff-tenants"),
    path("tenants/new", tenants.tenant_new, name="staff-tenant-new"),
    path("tenants/<slug:name>/", tenants.tenant_detail, name="staff-tenant"),
    path("tenants/<slug:name>/money", tenants.tenant_money, name="staff-tenant-money"),
    path("tenants/<slug:name>/members", tenants.member_add, name="staff-member-add"),
    path("tenants/<slug:name>/members/<int:pk>/role", tenants.member_role, name="staff-member-role"),
    path("tenants/<slug:name>/members/<int:pk>/remove", tenants.member_remove, name="staff-member-remove"),
    path("tenants/<slug:name>/keys/<int:pk>/revoke", tenants.key_revoke, name="staff-key-revoke"),
]
