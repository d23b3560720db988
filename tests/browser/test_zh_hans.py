"""The Chinese UI in a real browser: Debian's chromium set to zh-CN gets the dashboard in Simplified
Chinese without choosing anything; the language switch turns it into English and back, and the choice
sticks across pages. Screenshots of the main pages in Chinese, at desktop and phone width, are saved
as zh-*.png (the CJK glyphs come from Debian's fonts-noto-cjk)."""

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts import services as money
from tests.helpers import make_task, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = {"desktop": 1366, "phone": 390}
# The elements sticking out past the right edge of the screen (what makes a page scroll sideways).
WIDER_THAN_SCREEN = """
document.documentElement.scrollWidth <= window.innerWidth ? [] : [
  "scrollWidth " + document.documentElement.scrollWidth,
  ...[...document.querySelectorAll("body *")]
    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1 && !e.closest(".table-wrap"))
    .slice(0, 5).map(e => e.tagName + "." + e.className + ": " + e.textContent.trim().slice(0, 60))
]
"""


@pytest.fixture
def chinese(browser):
    """A browser context whose language is zh-CN (Accept-Language and navigator.language)."""
    context = browser.new_context(locale="zh-CN", viewport={"width": WIDTHS["desktop"], "height": 860})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def tasks(tenant, sandbox):
    api_key, _ = money.issue_key(tenant, name="ci")
    now = timezone.now()
    done = make_task(
        tenant,
        api_key=api_key,
        channel=sandbox,
        status="completed",
        progress=100,
        seconds=5,
        amount_held=50_000,
        amount_charged=50_000,
        prompt="一只在雪地里的狐狸",
        submitted_at=now,
        started_at=now,
        finished_at=now,
    )
    failed = make_task(
        tenant, api_key=api_key, channel=sandbox, status="failed", error_code="vendor_failed", finished_at=now
    )
    running = make_task(tenant, api_key=api_key, channel=sandbox, status="in_progress", progress=40, submitted_at=now)
    return {"done": done, "failed": failed, "running": running}


def switch_language(page, code):
    page.select_option("#language-switch", code)
    page.click("form.language-switch button[type=submit]")
    page.wait_for_load_state()


def lang(page):
    return page.get_attribute("html", "lang")


def screenshots(page, shot, url, name):
    for width_name, width in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": 860})
        page.goto(url)
        assert lang(page) == "zh-hans", url
        # Chinese strings are no excuse for sideways scrolling on a phone.
        wide = page.evaluate(WIDER_THAN_SCREEN)
        assert not wide, (url, width, wide)
        shot(page, f"zh-{name}-{width_name}")
    page.set_viewport_size({"width": WIDTHS["desktop"], "height": 860})


def test_zh_cn_browser_gets_chinese_and_the_switch_flips_it(chinese, live_server, users, tasks, shot):
    page, url = chinese, live_server.url
    assert page.evaluate("navigator.language") == "zh-CN"

    page.goto(f"{url}/login/")
    assert lang(page) == "zh-hans"
    assert page.get_by_role("button", name="登录", exact=True).count() == 1
    shot(page, "zh-login-desktop")

    sign_in(page, live_server, "owner", "pw-owner-123")
    assert page.url.endswith("/tasks/") and lang(page) == "zh-hans"
    assert page.locator("h1").first.inner_text() == "任务"
    assert page.get_by_role("link", name="API 密钥").count() == 1
    assert page.get_by_role("link", name="用量").count() == 1
    assert "Tasks" not in page.locator("nav").inner_text()

    # The switch: English, which sticks on the next page whatever the browser asks for...
    switch_language(page, "en")
    assert page.url.endswith("/tasks/") and lang(page) == "en"
    assert page.locator("h1").first.inner_text() == "Tasks"
    page.goto(f"{url}/keys/")
    assert lang(page) == "en" and page.get_by_role("link", name="API keys").count() == 1

    # ...and back to Chinese.
    switch_language(page, "zh-hans")
    assert page.url.endswith("/keys/") and lang(page) == "zh-hans"
    assert page.get_by_role("link", name="API 密钥").count() == 1
    assert page.locator("#language-switch").input_value() == "zh-hans"


def test_chinese_pages_at_desktop_and_phone_width(chinese, live_server, users, tasks, shot):
    page, url = chinese, live_server.url
    sign_in(page, live_server, "owner", "pw-owner-123")
    screenshots(page, shot, f"{url}/tasks/", "tasks")
    assert "已完成" in page.inner_text("main") and "失败" in page.inner_text("main")  # the status badges
    screenshots(page, shot, f"{url}/tasks/{tasks['done'].public_id}/", "task-completed")
    screenshots(page, shot, f"{url}/tasks/{tasks['failed'].public_id}/", "task-failed")
    screenshots(page, shot, f"{url}/usage/", "usage")
    screenshots(page, shot, f"{url}/keys/", "keys")
    screenshots(page, shot, f"{url}/webhooks/", "webhooks")

    page.context.clear_cookies()
    get_user_model().objects.create_user("operator", password="pw-operator-123", is_staff=True)
    sign_in(page, live_server, "operator", "pw-operator-123")
    screenshots(page, shot, f"{url}/staff/overview/", "staff-overview")
    screenshots(page, shot, f"{url}/staff/channels/", "staff-channels")
    screenshots(page, shot, f"{url}/staff/tenants/{tasks['done'].tenant.name}/", "staff-tenant")
