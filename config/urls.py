"""Routes: the client APIs, then each app's pages (tenant pages and staff/ pages side by side)."""

from django.urls import include, path

urlpatterns = [
    path("", include("videos.api.urls")),  # /v1/... and the vendor-native routes
    path("", include("accounts.urls")),  # sign-in, keys; staff: tenants, audit log
    path("", include("channels.urls")),  # staff: channel settings, prices
    path("", include("videos.urls")),  # tasks, usage; staff: all tasks, health, channel list
]
