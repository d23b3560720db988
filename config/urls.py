from django.urls import include, path

urlpatterns = [
    path("", include("videos.urls")),  # the client APIs (/v1/..., native routes)
    path("", include("accounts.urls")),  # sign-in, tenant switcher, keys and usage pages
    path("", include("videos.urls_dashboard")),  # tenant task pages
    path("staff/", include("channels.urls")),  # operator pages
]
