"""The language of a response: pages speak the visitor's, the client APIs always English."""

from django.conf import settings
from django.middleware.locale import LocaleMiddleware
from django.utils import translation
from rest_framework.views import APIView


class PageLocaleMiddleware(LocaleMiddleware):
    """Django's LocaleMiddleware (the language switch's cookie, else Accept-Language) for pages.

    A DRF view (/v1, the vendor-native routes, /openapi.json, /docs) runs in LANGUAGE_CODE whatever
    the client asks for: the API error bodies are English, as clients and their SDKs expect, and
    DRF's own messages ("Method not allowed") must not arrive in Chinese."""

    def process_view(self, request, view_func, view_args, view_kwargs):
        view_class = getattr(view_func, "cls", None)
        if isinstance(view_class, type) and issubclass(view_class, APIView):
            translation.activate(settings.LANGUAGE_CODE)
            request.LANGUAGE_CODE = translation.get_language()
