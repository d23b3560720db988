from django.urls import path

from .api import models, openai, unified

urlpatterns = [
    path("v1/videos", openai.VideoCollection.as_view()),
    path("v1/videos/<str:video_id>", openai.VideoDetail.as_view()),
    path("v1/videos/<str:video_id>/content", openai.VideoContent.as_view(), name="video-content"),
    path("v1/videos/<str:video_id>/remix", openai.VideoRemix.as_view()),
    path("v1/video/generations", unified.Generations.as_view()),
    path("v1/video/generations/<str:task_id>", unified.Generation.as_view()),
    path("v1/models", models.ModelList.as_view()),
]
