"""Routes: the client APIs, then each app's pages (tenant pages and staff/ pages side by side).

The error pages (404, 403, 400, 500 and the CSRF failure) are templates in the product's layout,
rendered by Django's default handlers: config/errors.py."""

from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from config import observability

urlpatterns = [
    path("healthz", observability.healthz, name="healthz"),  # load balancers: the process is up
    path("readyz", observability.readyz, name="readyz"),  # database reachable, worker heartbeat fresh
    path("metrics", observability.metrics, name="metrics"),  # Prometheus; staff or GATEWAY_METRICS_TOKEN
    # Browsers ask for /favicon.ico whatever the page links to.
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True), name="favicon"),
    path("i18n/", include("django.conf.urls.i18n")),  # set_language: the language switch's POST
    path("", include("videos.api.urls")),  # /v1/... and the vendor-native routes
    path("", include("videos.api.schema")),  # /openapi.json and /docs
    path("", include("accounts.urls")),  # sign-in, keys; staff: tenants, audit log
    path("", include("channels.urls")),  # staff: channel settings, prices
    path("", include("videos.urls")),  # tasks, usage; staff: all tasks, health, channel list
]
