from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

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
    path("usage/", views.usage_page, name="usage"),
    path("usage/tasks.csv", views.usage_tasks_csv, name="usage-tasks-csv"),
    path("usage/ledger.csv", views.usage_ledger_csv, name="usage-ledger-csv"),
]
