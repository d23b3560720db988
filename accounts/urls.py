"""Pages about accounts: sign-in, keys and webhook endpoints for members; tenants (with their
endpoints) and the audit log for staff (under staff/). An endpoint's delivery log is a videos page."""

from django.contrib.auth import views as auth_views
from django.urls import path

from . import staff, views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("switch/", views.switch_tenant, name="switch-tenant"),
    path("keys/", views.key_list, name="key-list"),
    path("keys/new/", views.key_create, name="key-create"),
    path("keys/<str:lookup>/created/", views.key_created, name="key-created"),
    path("keys/<str:lookup>/edit/", views.key_edit, name="key-edit"),
    path("keys/<str:lookup>/revoke/", views.key_revoke, name="key-revoke"),
    path("webhooks/", views.webhook_list, name="webhook-list"),
    path("webhooks/new/", views.webhook_create, name="webhook-create"),
    path("webhooks/<str:public_id>/edit/", views.webhook_edit, name="webhook-edit"),
    path("webhooks/<str:public_id>/rotate/", views.webhook_rotate, name="webhook-rotate"),
    path("webhooks/<str:public_id>/secret/", views.webhook_secret, name="webhook-secret"),
    path("webhooks/<str:public_id>/delete/", views.webhook_delete, name="webhook-delete"),
    # Staff
    path("staff/", staff.staff_home, name="staff-home"),
    path("staff/tenants/", staff.tenant_list, name="staff-tenants"),
    path("staff/tenants/new", staff.tenant_new, name="staff-tenant-new"),
    path("staff/tenants/<slug:name>/", staff.tenant_detail, name="staff-tenant"),
    path("staff/tenants/<slug:name>/money", staff.tenant_money, name="staff-tenant-money"),
    path("staff/tenants/<slug:name>/limits", staff.tenant_limits, name="staff-tenant-limits"),
    path("staff/tenants/<slug:name>/rename", staff.tenant_rename, name="staff-tenant-rename"),
    path("staff/tenants/<slug:name>/suspend", staff.tenant_suspend, name="staff-tenant-suspend"),
    path("staff/tenants/<slug:name>/resume", staff.tenant_resume, name="staff-tenant-resume"),
    path("staff/tenants/<slug:name>/keys/<int:pk>/limits", staff.key_limits, name="staff-key-limits"),
    path("staff/tenants/<slug:name>/members", staff.member_add, name="staff-member-add"),
    path("staff/tenants/<slug:name>/members/<int:pk>/role", staff.member_role, name="staff-member-role"),
    path("staff/tenants/<slug:name>/members/<int:pk>/remove", staff.member_remove, name="staff-member-remove"),
    path("staff/tenants/<slug:name>/keys/<int:pk>/revoke", staff.key_revoke, name="staff-key-revoke"),
    path("staff/tenants/<slug:name>/webhooks/new", staff.webhook_create, name="staff-webhook-create"),
    path("staff/tenants/<slug:name>/webhooks/<str:public_id>/edit", staff.webhook_edit, name="staff-webhook-edit"),
    path(
        "staff/tenants/<slug:name>/webhooks/<str:public_id>/rotate", staff.webhook_rotate, name="staff-webhook-rotate"
    ),
    path(
        "staff/tenants/<slug:name>/webhooks/<str:public_id>/secret", staff.webhook_secret, name="staff-webhook-secret"
    ),
    path(
        "staff/tenants/<slug:name>/webhooks/<str:public_id>/delete", staff.webhook_delete, name="staff-webhook-delete"
    ),
    path("staff/users/", staff.user_list, name="staff-users"),
    path("staff/users/new-password", staff.user_new_password, name="staff-user-new-password"),
    path("staff/users/<str:username>/active", staff.user_active, name="staff-user-active"),
    path("staff/users/<str:username>/password", staff.user_password, name="staff-user-password"),
    path("staff/audit/", staff.audit_log, name="staff-audit"),
    path("staff/lockouts/", staff.lockouts, name="staff-lockouts"),
]
