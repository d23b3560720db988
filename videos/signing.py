"""Short-lived signed download links, for clients that fetch ``video_url`` without a key
(DashScope, Kling and Jimeng SDKs do). The signature names one video and expires."""

from django.conf import settings
from django.core import signing
from django.urls import reverse

SALT = "videos.content"


def content_token(task):
    return signing.dumps(task.public_id, salt=SALT, compress=False)


def check_token(public_id, token):
    """True if ``token`` was issued for ``public_id`` within the TTL."""
    try:
        return signing.loads(token, salt=SALT, max_age=settings.GATEWAY_SIGNED_URL_TTL_SECONDS) == public_id
    except signing.BadSignature:
        return False


def signed_content_url(request, task):
    path = reverse("video-content", args=[task.public_id])
    return request.build_absolute_uri(f"{path}?token={content_token(task)}")
