"""Pages about accounts: sign-in and keys for members; tenants and the audit log for staff (under staff/)."""

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
    path("keys/<str:lookup>/edit/", views.key_edit, name="key-edit"),
    path("keys/<str:lookup>/revoke/", views.key_revoke, name="key-revoke"),
    # Staff
    path("staff/", staff.staff_home, name="staff-home"),
    path("staff/tenants/", staff.tenant_list, name="staff-tenants"),
    path("staff/tenants/new", staff.tenant_new, name="staff-tenant-new"),
    path("staff/tenants/<slug:name>/", staff.tenant_detail, name="staff-tenant"),
    path("staff/tenants/<slug:name>/money", staff.tenant_money, name="staff-tenant-money"),
    path("staff/tenants/<slug:name>/members", staff.member_add, name="staff-member-add"),
    path("staff/tenants/<slug:name>/members/<int:pk>/role", staff.member_role, name="staff-member-role"),
    path("staff/tenants/<slug:name>/members/<int:pk>/remove", staff.member_remove, name="staff-member-remove"),
    path("staff/tenants/<slug:name>/keys/<int:pk>/revoke", staff.key_revoke, name="staff-key-revoke"),
    path("staff/audit/", staff.audit_log, name="staff-audit"),
]
