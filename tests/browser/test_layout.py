"""Issue 13: the layout in a real browser. A form with data-confirm asks first (app.js, no inline
JS) and sends nothing when the dialog is dismissed; on a phone the sidebar folds into a top bar
behind a Menu button; the skip link is the first Tab stop and leads to <main>; the language
switch changes the page's language."""

import pytest

from tests.helpers import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# A form like the staff pages' Remove member / Revoke key forms, harmless to send: it sets the language.
CONFIRM_FORM = """() => {
  const token = document.querySelector("[name=csrfmiddlewaretoken]").value;
  document.querySelector("main").insertAdjacentHTML("beforeend",
    `<form id="risky" method="post" action="/i18n/setlang/" data-confirm="Remove this member?">
       <input type="hidden" name="csrfmiddlewaretoken" value="${token}">
       <input type="hidden" name="language" value="en"><input type="hidden" name="next" value="/keys/">
       <button type="submit">Remove</button></form>`);
}"""


def test_data_confirm_asks_and_cancel_sends_nothing(page, live_server, users):
    sign_in(page, live_server, "owner", "pw-owner-123")
    page.goto(f"{live_server.url}/tasks/")
    page.evaluate(CONFIRM_FORM)
    dialogs = []

    def answer(dialog, accept):
        dialogs.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda dialog: answer(dialog, accept=False))
    page.click("#risky button")
    assert dialogs == ["Remove this member?"]
    assert page.url == f"{live_server.url}/tasks/" and page.locator("#risky").count() == 1

    page.once("dialog", lambda dialog: answer(dialog, accept=True))
    with page.expect_navigation():
        page.click("#risky button")
    assert dialogs == ["Remove this member?", "Remove this member?"]
    assert page.url == f"{live_server.url}/keys/"


def test_sidebar_folds_into_a_top_bar_on_a_phone(page, live_server, users):
    page.set_viewport_size({"width": 390, "height": 800})
    sign_in(page, live_server, "owner", "pw-owner-123")
    page.goto(f"{live_server.url}/tasks/")
    menu = page.get_by_role("button", name="Menu")
    assert menu.get_attribute("aria-expanded") == "false"
    assert not page.get_by_role("link", name="Usage").is_visible()
    assert page.locator("aside").bounding_box()["height"] < 80  # a top bar, not a column of links
    menu.click()
    assert menu.get_attribute("aria-expanded") == "true"
    page.get_by_role("link", name="Usage").click()
    page.wait_for_url(f"{live_server.url}/usage/")

    page.set_viewport_size({"width": 1366, "height": 800})  # wide: the sidebar, no Menu button
    assert not menu.is_visible() and page.get_by_role("link", name="Tasks", exact=True).is_visible()


@pytest.mark.parametrize("path", ["/login/", "/tasks/"])
def test_skip_link_is_the_first_focusable_element_and_leads_to_main(page, live_server, users, path):
    if path != "/login/":
        sign_in(page, live_server, "owner", "pw-owner-123")
    page.goto(live_server.url + path)
    skip = page.get_by_role("link", name="Skip to main content")
    assert not skip.is_visible() or skip.bounding_box()["y"] < 0  # off screen until focused
    first_stop = "document.querySelector('a[href], button, input:not([type=hidden]), select, textarea, [tabindex]')"
    assert skip.evaluate(f"el => el === {first_stop}")
    skip.focus()  # as the first Tab does (the sign-in page's autofocus is on the username instead)
    assert skip.bounding_box()["y"] >= 0
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.tagName") == "MAIN"
    assert page.locator("main#main").count() == 1


def test_language_switch_on_sign_in_and_in_the_sidebar(page, live_server, users):
    page.goto(f"{live_server.url}/login/")
    assert page.locator("html").get_attribute("lang") == "en"
    page.select_option("#language-switch", "zh-hans")
    with page.expect_navigation():
        page.click(".language-switch button")
    assert page.url == f"{live_server.url}/login/"
    assert page.locator("html").get_attribute("lang") == "zh-hans"

    sign_in(page, live_server, "owner", "pw-owner-123")
    assert page.locator("html").get_attribute("lang") == "zh-hans"  # the choice is kept (a cookie)
    page.select_option("aside #language-switch", "en")
    with page.expect_navigation():
        page.click("aside .language-switch button")
    assert page.url == f"{live_server.url}/tasks/"
    assert page.locator("html").get_attribute("lang") == "en"


def test_favicon(page, live_server):
    response = page.goto(f"{live_server.url}/favicon.ico")
    assert response.status == 200 and response.headers["content-type"].startswith("image/svg+xml")
