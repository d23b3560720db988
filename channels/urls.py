"""Pages about channel configuration and prices (staff only, under staff/).
The channel list shows task figures, so it is routed by videos."""

from django.urls import path

from . import views

urlpatterns = [
    path("staff/channels/new", views.channel_new, name="staff-channel-new"),
    path("staff/channels/test-all", views.channel_test_all, name="staff-channel-test-all"),
    path("staff/channels/<int:pk>/", views.channel_edit, name="staff-channel"),
    path("staff/channels/<int:pk>/test", views.channel_test, name="staff-channel-test"),
    path("staff/channels/<int:pk>/status", views.channel_status, name="staff-channel-status"),
    path("staff/channels/<int:pk>/clone", views.channel_clone, name="staff-channel-clone"),
    path("staff/channels/<int:pk>/delete", views.channel_delete, name="staff-channel-delete"),
    path("staff/channels/<int:pk>/archive", views.channel_archive, name="staff-channel-archive"),
    path("staff/channels/<int:pk>/restore", views.channel_restore, name="staff-channel-restore"),
    path("staff/prices/", views.price_list, name="staff-prices"),
    path("staff/prices/new", views.price_edit, name="staff-price-new"),
    path("staff/prices/<int:pk>/", views.price_edit, name="staff-price"),
]
