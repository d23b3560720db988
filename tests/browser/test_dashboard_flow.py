"""Issue 5 in a real browser: an admin configures everything in the staff pages; a member
issues a key, watches a client's job finish without reloading, plays the video and sees its
cost on the usage charts; a read-only member cannot revoke; another tenant's task is 404."""

import httpx
import pytest
from django.contrib.auth import get_user_model

from accounts import services as money
from accounts.models import Tenant
from tests.helpers import sign_in
from tests.simulators.openai import OpenAISimulator
from videos.models import VideoTask

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def simulator():
    with OpenAISimulator(api_key="sk-vendor-secret-123") as sim:
        sim.script = ["queued", "in_progress", "in_progress", "in_progress", "completed"]
        yield sim


def fill_and_submit(page, fields, button):
    for selector, value in fields.items():
        page.fill(selector, value)
    page.click(button)
    page.wait_for_load_state()


def test_admin_configures_member_watches_video_play(page, live_server, simulator, held_poller, shot):
    get_user_model().objects.create_user("admin", password="admin-pass-123", is_staff=True)
    url = live_server.url

    # --- the admin configures a channel, a price, a tenant and members, all in the browser
    sign_in(page, live_server, "admin", "admin-pass-123")
    page.goto(f"{url}/staff/channels/new")
    shot(page, "staff-choose-vendor")
    page.goto(f"{url}/staff/channels/new?vendor=openai")
    fill_and_submit(
        page,
        {
            "#id_name": "sora-sim",
            "#id_credential_api_key": "sk-vendor-secret-123",
            "#id_base_url": simulator.url,
            "#id_served_models": "sora-2",
        },
        "main button[type=submit]",
    )
    page.goto(f"{url}/staff/channels/")
    assert "sora-sim" in page.content() and "sk-vendor-secret-123" not in page.content()
    page.click("main button:has-text('Test')")
    page.wait_for_load_state()
    assert "sk-vendor-secret-123" not in page.content()
    shot(page, "staff-channels")

    page.goto(f"{url}/staff/prices/new")
    fill_and_submit(page, {"#id_model": "sora-2", "#id_per_second": "0.1"}, "main button[type=submit]:has-text('Save')")
    shot(page, "staff-prices")

    page.goto(f"{url}/staff/tenants/new")
    fill_and_submit(
        page,
        {"#id_name": "studio", "#id_display_name": "Studio", "#id_opening_balance": "20"},
        "main button[type=submit]",
    )
    for username, role in (("maya", "member"), ("rita", "read_only")):
        page.fill("#id_username", username)
        page.select_option("#id_role", role)
        page.fill("#id_password", f"{username}-Pass-2026!")
        page.click("button:has-text('Add member')")
        page.wait_for_load_state()
    shot(page, "staff-tenant")
    studio = Tenant.objects.get(name="studio")
    assert studio.balance == 20_000_000
    assert set(studio.memberships.values_list("user__username", "role")) == {("maya", "member"), ("rita", "read_only")}
    page.click("aside button:has-text('Sign out')")

    # --- the member issues a key
    sign_in(page, live_server, "maya", "maya-Pass-2026!")
    page.goto(f"{url}/keys/new/")
    fill_and_submit(page, {"#id_name": "ci"}, "main button[type=submit]")
    key = page.inner_text("#new-key").strip()
    assert key.startswith("sk-")
    shot(page, "key-created")
    page.goto(f"{url}/keys/")
    assert key not in page.content()

    # --- a client submits a job with it; the member watches it finish without reloading
    response = httpx.post(
        f"{url}/v1/videos",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": "sora-2", "prompt": "a paper boat on a river", "seconds": "4"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    video_id = response.json()["id"]
    page.goto(f"{url}/tasks/{video_id}/")
    page.evaluate("window.__notReloaded = true")
    assert page.locator(".progress-bar").count() == 1
    held_poller.set()
    page.wait_for_selector(".progress[aria-valuenow='50']", timeout=20_000)
    shot(page, "task-running")
    page.wait_for_selector(".badge-completed", timeout=30_000)
    assert page.evaluate("window.__notReloaded") is True
    page.wait_for_function(
        "document.querySelector('video') && document.querySelector('video').readyState >= 1", timeout=20_000
    )
    duration = page.evaluate("document.querySelector('video').duration")
    assert 4.5 < duration < 5.5  # the simulator's clip is five seconds long
    shot(page, "task-completed")

    # --- the cost is on the usage page's charts
    task = VideoTask.objects.get(public_id=video_id)
    assert task.amount_charged == 400_000
    page.goto(f"{url}/usage/")
    charts = page.locator("svg.chart")
    assert charts.count() >= 2
    assert page.locator("svg.chart rect").count() >= 2
    assert "$0.4" in page.content()
    shot(page, "usage")
    page.goto(f"{url}/tasks/")
    shot(page, "tasks")

    # --- another tenant's task is 404 for this member
    other = Tenant.objects.create(name="rival")
    money.topup(other, 5_000_000)
    _, other_key = money.issue_key(other)
    other_id = httpx.post(
        f"{url}/v1/videos",
        headers={"Authorization": f"Bearer {other_key}"},
        json={"model": "sora-2", "prompt": "secret"},
        timeout=30,
    ).json()["id"]
    assert page.goto(f"{url}/tasks/{other_id}/").status == 404
    assert page.goto(f"{url}/tasks/{other_id}/video").status == 404

    # --- a read-only member sees keys but cannot revoke them
    page.context.clear_cookies()
    sign_in(page, live_server, "rita", "rita-Pass-2026!")
    page.goto(f"{url}/keys/")
    api_key = studio.api_keys.get()
    assert api_key.masked in page.content()
    assert page.get_by_role("link", name="Revoke", exact=True).count() == 0
    assert page.get_by_role("button", name="Revoke", exact=True).count() == 0
    assert page.goto(f"{url}/keys/{api_key.lookup}/revoke/").status == 404
    api_key.refresh_from_db()
    assert api_key.enabled
    shot(page, "keys-read-only")
