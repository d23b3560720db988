"""Issue 13 in a real browser: the task list shows new tasks by itself when none was running at
page load (defect 1) and a running row turns Completed; at phone width the list keeps Status and
Cost on screen and the task page does not scroll sideways (defect 7)."""

import httpx
import pytest

from tests.helpers import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def quick_sandbox(sandbox):
    sandbox.options = {"delay": 1}
    sandbox.save()
    return sandbox


def create(live_server, key, prompt):
    response = httpx.post(
        f"{live_server.url}/v1/videos",
        headers={"Authorization": f"Bearer {key.plaintext}"},
        json={"model": "sandbox-video", "prompt": prompt, "seconds": "4"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()["id"]


def test_new_tasks_appear_without_a_reload_and_turn_completed(
    page, live_server, users, key, quick_sandbox, held_poller, shot
):
    sign_in(page, live_server, "owner", "pw-owner-123")
    page.goto(f"{live_server.url}/tasks/")
    assert page.locator("#no-tasks").is_visible()  # no task at all, so none running
    page.evaluate("window.__notReloaded = true")

    first, second = create(live_server, key, "a paper boat"), create(live_server, key, "a red kite")
    page.wait_for_selector(f"#task-{first}", timeout=30_000)
    page.wait_for_selector(f"#task-{second}", timeout=30_000)
    assert page.locator("#no-tasks").count() == 0
    assert page.locator(f"#task-{first} .badge-queued, #task-{first} .badge-in_progress").count() == 1
    shot(page, "tasks-live-new-rows")

    held_poller.set()  # the tasks run now; their rows follow while they do, and turn Completed
    page.wait_for_selector(f"#task-{first} .badge-completed", timeout=30_000)
    page.wait_for_selector(f"#task-{second} .badge-completed", timeout=30_000)
    assert page.evaluate("window.__notReloaded") is True
    # A completed row gets its thumbnail: the video's first frame, loaded once in view.
    page.wait_for_function(f"document.querySelector('#task-{first} video.thumb').readyState >= 1", timeout=20_000)
    shot(page, "tasks-live-completed")


def test_phone_width_keeps_status_and_cost_in_view(browser, live_server, users, key, quick_sandbox, held_poller, shot):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        sign_in(page, live_server, "owner", "pw-owner-123")
        video_id = create(live_server, key, "a lighthouse in the fog " * 4)
        held_poller.set()
        page.goto(f"{live_server.url}/tasks/")
        page.wait_for_selector(f"#task-{video_id} .badge-completed", timeout=30_000)
        assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
        for column in ("Status", "Cost"):
            header = page.locator("table.tasks th", has_text=column).first
            box = header.bounding_box()
            assert box is not None and box["x"] + box["width"] <= 390, column
        shot(page, "tasks-phone")

        page.goto(f"{live_server.url}/tasks/{video_id}/")
        page.wait_for_selector("video")
        assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
        shot(page, "task-phone")
    finally:
        context.close()
