"""Browser tests: Playwright driving Debian's chromium (/usr/bin/chromium), headless.

The browser is never downloaded: bin/test installs Debian's package. Screenshots of the main
pages are saved under test-artifacts/screenshots/ for people to look at.
"""

import os
import shutil
import threading
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from tests.browser.site_pages import build_site
from tests.helpers import poll_horizon
from videos import services

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]


def chromium_path():
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    if path is None:
        pytest.fail("Debian's chromium is not installed: run ./bin/test, which installs it")
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def shot():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def save(page, name):
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    return save


@pytest.fixture
def held_poller():
    """The worker's poll loop, looking ``poll_horizon()`` ahead; it starts when the test sets the
    event it yields (so a page can be seen before anything runs)."""
    start, stop = threading.Event(), threading.Event()

    def loop():
        start.wait()
        while not stop.is_set():
            services.poll_once(now=timezone.now() + poll_horizon())
            stop.wait(0.5)
        connection.close()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield start
    start.set()
    stop.set()
    thread.join(timeout=10)


@pytest.fixture
def fast_passwords(settings):
    """A cheap password hasher, for the modules that sign several users in for every test: requested
    before the users are made (pytestmark usefixtures), whose passwords it then hashes."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def site(fast_passwords, tenant, users, sandbox):
    """Every page of tests/browser/site_pages.py, with the rows they show."""
    return build_site(tenant, users, sandbox)
