"""Issue 13 in a real browser: the playground, from a prompt to the video playing on the task page,
with its price previewed first and nothing reloaded by hand."""

import pytest

from tests.helpers import sign_in
from videos.models import VideoTask

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_prompt_to_playing_video(page, live_server, users, key, sandbox, poller, shot):
    sandbox.options = {"delay": 1}
    sandbox.save()
    sign_in(page, live_server, "owner", "pw-owner-123")
    page.goto(f"{live_server.url}/playground/")
    assert key.plaintext not in page.content()
    page.select_option("#id_model", "sandbox-video")
    page.fill("#id_prompt", "a paper lantern drifting over a lake")
    page.fill("#id_seconds", "4")
    page.click("button[value=quote]")
    page.wait_for_load_state()
    assert page.inner_text("#quote-amount") == "$0.04"  # 4 s x 10,000 units
    assert VideoTask.objects.count() == 0
    shot(page, "playground-quote")

    page.click("button[value=create]")
    page.wait_for_url("**/tasks/video_*/")
    task = VideoTask.objects.get()
    assert task.route == "dashboard" and task.api_key == key
    page.evaluate("window.__notReloaded = true")
    page.wait_for_selector(".badge-completed", timeout=30_000)
    assert page.evaluate("window.__notReloaded") is True
    page.wait_for_function("document.querySelector('video').readyState >= 1", timeout=20_000)
    page.evaluate("document.querySelector('video').muted = true; document.querySelector('video').play()")
    page.wait_for_function("document.querySelector('video').currentTime > 0", timeout=20_000)
    assert page.locator("a", has_text="Download MP4").count() == 1
    # Asked for vs produced, filled in by the live refresh: the sample clip measures 320x180.
    assert page.locator("td", has_text="320×180").count() == 1
    shot(page, "playground-task-playing")
