"""Issue 13, defects 4 and 10: the error pages (404, 403, CSRF failure, 400, 500) are the product's
layout, also with DEBUG on for a 404; /favicon.ico answers; the pages speak the chosen language
while the client APIs stay English."""

import pytest
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.template.loader import render_to_string
from django.test import Client
from django.urls import path

import config.urls

URLS = "tests.pages.test_error_pages"


def raise_error(request, status):
    if status == 400:
        raise SuspiciousOperation("test")
    if status == 403:
        raise PermissionDenied("This account is suspended; pages are read-only.")
    raise RuntimeError("the 500 page")


urlpatterns = [path("test-error/<int:status>/", raise_error), *config.urls.urlpatterns]


def layout(response):
    """The product's layout: base.html's skip link, <main> and stylesheet."""
    html = response.content.decode()
    return 'class="skip-link"' in html and '<main class="main" id="main"' in html and "css/app.css" in html


def test_unknown_page_is_the_product_404_with_the_members_navigation(owner):
    response = owner.get("/no-such-page/")
    assert response.status_code == 404
    assert "404.html" in [t.name for t in response.templates]
    assert layout(response) and 'href="/tasks/"' in response.content.decode()


def test_404_signed_out_offers_sign_in(client, db):
    response = client.get("/no-such-page/")
    assert response.status_code == 404 and layout(response)
    assert 'href="/login/"' in response.content.decode()


@pytest.mark.parametrize("path", ["/no-such-page/", "/tasks/video_missing/"])
def test_debug_404_is_the_product_page_not_the_url_pattern_list(owner, settings, path):
    settings.DEBUG = True
    response = owner.get(path)
    assert response.status_code == 404 and layout(response)
    html = response.content.decode()
    assert "URLconf" not in html and "staff/tenants/" not in html


@pytest.mark.urls(URLS)
def test_debug_keeps_django_debug_page_for_other_errors(owner, settings):
    settings.DEBUG = True
    with pytest.raises(RuntimeError):
        owner.get("/test-error/500/")


@pytest.mark.urls(URLS)
def test_403_in_the_layout_with_the_reason(owner):
    response = owner.get("/test-error/403/")
    assert response.status_code == 403 and layout(response)
    assert "pages are read-only" in response.content.decode()


@pytest.mark.urls(URLS)
def test_400_in_the_layout(owner):
    response = owner.get("/test-error/400/")
    assert response.status_code == 400 and layout(response) and "Bad request" in response.content.decode()


@pytest.mark.urls(URLS)
def test_500_renders_without_any_context(users):
    client = Client(raise_request_exception=False)
    client.force_login(users["owner"])
    response = client.get("/test-error/500/")
    assert response.status_code == 500 and layout(response)
    html = response.content.decode()
    assert "Something went wrong" in html and 'href="/"' in html
    assert "owner" not in html and "setlang" not in html  # no request context: no user, no language switch
    assert render_to_string("500.html") == html  # exactly what Django's server_error renders


def test_csrf_failure_in_the_layout_keeps_the_navigation(users):
    client = Client(enforce_csrf_checks=True)
    client.force_login(users["owner"])
    response = client.post("/logout/")
    assert response.status_code == 403
    assert "403_csrf.html" in [t.name for t in response.templates]
    html = response.content.decode()
    assert layout(response) and "This form has expired" in html and 'href="/tasks/"' in html


def test_csrf_failure_without_the_cookie_says_so(db):
    response = Client(enforce_csrf_checks=True).post("/login/", {"username": "x", "password": "y"})
    assert response.status_code == 403 and "Allow cookies" in response.content.decode()


def test_favicon(client, db):
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"] == "/static/favicon.svg"
    assert "favicon.svg" in client.get("/login/").content.decode()


def test_language_switch_and_browser_language(client, db):
    assert '<html lang="en">' in client.get("/login/").content.decode()
    assert '<html lang="zh-hans">' in client.get("/login/", HTTP_ACCEPT_LANGUAGE="zh-CN,zh").content.decode()
    html = client.get("/login/").content.decode()
    assert 'action="/i18n/setlang/"' in html and 'value="zh-hans"' in html and "简体中文" in html
    response = client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/login/"})
    assert response.status_code == 302 and response["Location"] == "/login/"
    assert '<html lang="zh-hans">' in client.get("/login/").content.decode()


def test_sidebar_has_the_language_switch(owner):
    html = owner.get("/tasks/").content.decode()
    assert 'action="/i18n/setlang/"' in html and 'name="next" value="/tasks/"' in html


def test_client_apis_stay_english_whatever_the_language(api):
    response = api.delete("/v1/models", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 405
    assert response.json()["error"]["message"] == 'Method "DELETE" not allowed.'
