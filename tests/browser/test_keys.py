"""Defect 2 in a real browser: the "key created" page is reached by a redirect, so reloading it
(a real reload, which would re-send a POST's form) makes no second key and no longer shows the
plaintext; the page has the base URL and ready-to-copy snippets, and the Copy buttons copy."""

import pytest

from accounts.models import ApiKey
from tests.helpers import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_reloading_key_created_makes_no_second_key(page, live_server, users, sandbox, shot):
    url = live_server.url
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)
    sign_in(page, live_server, "owner", "pw-owner-123")
    page.goto(f"{url}/keys/new/")
    page.fill("#id_name", "production")
    page.click("main form.form button[type=submit]")
    page.wait_for_load_state()
    api_key = ApiKey.objects.get(name="production")
    assert page.url == f"{url}/keys/{api_key.lookup}/created/"  # a GET after the POST's redirect
    plaintext = page.inner_text("#new-key").strip()
    assert plaintext.startswith("sk-") and plaintext.endswith(api_key.last4)
    assert page.inner_text("#base-url").strip() == f"{url}/v1"
    assert f"curl {url}/v1/videos" in page.inner_text("#snippet-curl")
    assert plaintext in page.inner_text("#snippet-python") and "client.videos.create(" in page.inner_text(
        "#snippet-python"
    )
    assert f"{url}/v1/video/generations" in page.inner_text("#snippet-unified")
    shot(page, "key-created-snippets")

    button = page.locator('button[data-copy="snippet-curl"]')
    button.click()
    page.wait_for_function("document.querySelector('button[data-copy=\"snippet-curl\"]').textContent !== 'Copy'")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith(f"curl {url}/v1/videos") and plaintext in copied

    response = page.reload()
    assert response.status == 200
    assert "This key was already shown." in page.inner_text("main")
    assert plaintext not in page.content()
    assert ApiKey.objects.filter(name="production").count() == 1
    shot(page, "key-created-reloaded")

    page.go_back()  # back to the form: nothing re-sent either
    page.wait_for_load_state()
    assert ApiKey.objects.count() == 1
