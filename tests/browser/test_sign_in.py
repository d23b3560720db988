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


def test_a_locked_out_sign_in_says_why_in_a_real_browser(page, live_server, users, shot):
    for _ in range(5):
        sign_in(page, live_server, "owner", "wrong-password")
    response = page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "owner")
    page.fill("#id_password", "pw-owner-123")
    with page.expect_response(lambda answer: answer.request.method == "POST") as posted:
        page.click("main button[type=submit]")
    assert posted.value.status == 429
    alert = page.get_by_role("alert").inner_text()
    assert "Too many failed sign-in attempts from your address. Wait 15 minutes" in alert
    assert page.url.endswith("/login/") and response.status == 200
    shot(page, "login-locked")
