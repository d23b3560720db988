import pytest

from tests.helpers import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_in_page_in_a_real_browser(page, live_server, users, shot):
    page.goto(f"{live_server.url}/login/")
    shot(page, "login")
    sign_in(page, live_server, "owner", "wrong-password")
    assert "Please enter a correct username and password" in page.content()
    sign_in(page, live_server, "owner", "pw-owner-123")
    assert page.url.endswith("/tasks/")
    assert page.locator("h1").first.inner_text() == "Tasks"
