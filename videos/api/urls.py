"""The client APIs: OpenAI /v1/videos, the unified /v1/video/generations, /v1/models, the vendor-native routes;
and /callbacks/, where vendors call back."""

from django.urls import path, re_path

from . import callbacks, catalog, native_dashscope, native_jimeng, native_kling, native_vidu, openai, unified
from .base import unknown_route

urlpatterns = [
    path("v1/videos", openai.VideoCollection.as_view()),
    # Before the detail route, which would take "quote", "edits" or "extensions" for a video id.
    path("v1/videos/quote", catalog.VideoQuote.as_view()),
    path("v1/videos/edits", openai.VideoEdits.as_view()),
    path("v1/videos/extensions", openai.VideoExtensions.as_view()),
    path("v1/videos/<str:video_id>", openai.VideoDetail.as_view()),
    path("v1/videos/<str:video_id>/content", openai.VideoContent.as_view(), name="video-content"),
    path("v1/videos/<str:video_id>/remix", openai.VideoRemix.as_view()),
    path("v1/videos/<str:video_id>/cancel", openai.VideoCancel.as_view()),
    path("v1/video/generations", unified.Generations.as_view()),
    path("v1/video/generations/<str:task_id>", unified.Generation.as_view()),
    path("v1/models", catalog.ModelList.as_view()),
    path("v1/models/<str:model>", catalog.ModelDetail.as_view()),
    path("callbacks/<str:task_id>/<str:token>", callbacks.vendor_callback, name="vendor-callback"),
    *(
        path(f"kling/v1/videos/{family}", native_kling.Videos.as_view(action=family))
        for family in native_kling.FAMILIES
    ),
    *(
        path(f"kling/v1/videos/{family}/<str:task_id>", native_kling.Video.as_view(action=family))
        for family in native_kling.FAMILIES
    ),
    # DashScope: "api/v1/" is what the dashscope SDK calls; "alibailian/api/v1/" is new-api-style gateways' prefix.
    path("api/v1/services/aigc/video-generation/video-synthesis", native_dashscope.Synthesis.as_view()),
    path("api/v1/services/aigc/image2video/video-synthesis", native_dashscope.Synthesis.as_view()),
    path("api/v1/tasks/<str:task_id>", native_dashscope.Task.as_view()),
    path("api/v1/tasks/<str:task_id>/cancel", native_dashscope.Cancel.as_view()),
    path(
        "alibailian/api/v1/services/aigc/video-generation/video-synthesis",
        native_dashscope.Synthesis.as_view(require_async=False),
    ),
    path(
        "alibailian/api/v1/services/aigc/image2video/video-synthesis",
        native_dashscope.Synthesis.as_view(require_async=False),
    ),
    path("alibailian/api/v1/tasks/<str:task_id>", native_dashscope.Task.as_view()),
    path("alibailian/api/v1/tasks/<str:task_id>/cancel", native_dashscope.Cancel.as_view()),
    path("jimeng/", native_jimeng.Jimeng.as_view()),
    path("jimeng", native_jimeng.Jimeng.as_view()),
    path("vidu/ent/v2/text2video", native_vidu.Create.as_view(endpoint="text2video")),
    path("vidu/ent/v2/img2video", native_vidu.Create.as_view(endpoint="img2video")),
    path("vidu/ent/v2/start-end2video", native_vidu.Create.as_view(endpoint="start-end2video")),
    path("vidu/ent/v2/reference2video", native_vidu.Create.as_view(endpoint="reference2video")),
    path("vidu/ent/v2/tasks/<str:task_id>/creations", native_vidu.Creations.as_view()),
    path("vidu/ent/v2/tasks/<str:task_id>/cancel", native_vidu.Cancel.as_view()),
    # Last: any other path under an API prefix is a 404 in that dialect's shape, not Django's HTML page.
    re_path(r"^v1/video/", unknown_route(unified.UnifiedView)),
    re_path(r"^v1/", unknown_route(openai.OpenAIView)),
    re_path(r"^kling/", unknown_route(native_kling.KlingView)),
    re_path(r"^jimeng/.", unknown_route(native_jimeng.Jimeng)),
    re_path(r"^(alibailian/)?api/v1/|^alibailian/", unknown_route(native_dashscope.DashScopeView)),
    re_path(r"^vidu/", unknown_route(native_vidu.ViduView)),
]
