"""Routes: the client APIs, then each app's pages (tenant pages and staff/ pages side by side)."""

from django.urls import include, path

from config import observability

urlpatterns = [
    path("healthz", observability.healthz, name="healthz"),  # load balancers: the process is up
    path("readyz", observability.readyz, name="readyz"),  # database reachable, worker heartbeat fresh
    path("metrics", observability.metrics, name="metrics"),  # Prometheus; staff or GATEWAY_METRICS_TOKEN
    path("", include("videos.api.urls")),  # /v1/... and the vendor-native routes
    path("", include("videos.api.schema")),  # /openapi.json and /docs
    path("", include("accounts.urls")),  # sign-in, keys; staff: tenants, audit log
    path("", include("channels.urls")),  # staff: channel settings, prices
    path("", include("videos.urls")),  # tasks, usage; staff: all tasks, health, channel list
]
