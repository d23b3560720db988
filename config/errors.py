"""Error pages in the product's layout: templates/404.html, 403.html, 403_csrf.html, 400.html and
500.html, rendered by Django's default handlers in production (DEBUG off).

Two additions: a CSRF failure renders with the request (so the page keeps the signed-in user's
navigation; Django's own renders 403_csrf.html without one), and with DEBUG on a page that does not
exist still gets the product's 404 page instead of Django's technical one, which lists every URL
pattern. Other errors keep Django's debug pages under DEBUG: those are what a developer needs.
"""

from django.conf import settings
from django.http import Http404
from django.middleware.csrf import REASON_NO_CSRF_COOKIE
from django.shortcuts import render
from django.urls import Resolver404, resolve
from django.views import defaults


def csrf_failure(request, reason=""):
    """settings.CSRF_FAILURE_VIEW: 403 in the product's layout."""
    context = {"no_cookie": reason == REASON_NO_CSRF_COOKIE}
    return render(request, "403_csrf.html", context, status=403)


class NotFoundPageMiddleware:
    """With DEBUG on, answer an unknown URL or an Http404 from a page with templates/404.html, as
    production does. Last in MIDDLEWARE, so the page sees the user, session and language."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if settings.DEBUG:
            try:
                resolve(request.path_info, getattr(request, "urlconf", None))
            except Resolver404 as exception:
                return defaults.page_not_found(request, exception)
        return self.get_response(request)

    def process_exception(self, request, exception):
        if settings.DEBUG and isinstance(exception, Http404):
            return defaults.page_not_found(request, exception)
        return None
