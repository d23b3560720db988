"""Issue 13 in a real browser, the operator's channel pages: the channel form keeps typed
credentials across an error (defect 5); a failed Test shows in the list as Failing (defect 6);
Disable asks first; chart text stays readable and labels fit at 390 px (defect 7); the new pages
(confirm, archived list, overview) have no serious axe findings and no sideways scroll."""

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.utils import timezone

from accounts import services as money
from channels.models import Channel
from tests.browser.site_pages import WIDTHS, build_site, signed_in_page
from tests.helpers import make_task
from videos.models import VideoTask

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls("tests.browser.site_pages"),
]

LONG_KEY = "nightly batch renders for the spring catalogue"

# Every chart text drawn on screen, with its box and its chart's box (hidden drawings are skipped).
CHART_TEXT = """() => [...document.querySelectorAll("svg.chart")]
  .filter(svg => svg.getBoundingClientRect().width > 0)
  .flatMap(svg => {
    const box = svg.getBoundingClientRect();
    return [...svg.querySelectorAll("text")].map(text => {
      const r = text.getBoundingClientRect();
      return {text: text.textContent, height: r.height, left: r.left - box.left, right: box.right - r.right,
              size: parseFloat(getComputedStyle(text).fontSize) * box.width / svg.viewBox.baseVal.width};
    });
  })"""


@pytest.fixture
def site(tenant, users, sandbox):
    site = build_site(tenant, users, sandbox)
    long_key, _ = money.issue_key(tenant, name=LONG_KEY)
    make_task(
        tenant,
        api_key=long_key,
        channel=sandbox,
        status=VideoTask.Status.COMPLETED,
        finished_at=timezone.now(),
        amount_held=1_234_560,
        amount_charged=1_234_560,
    )
    return site


def serious_axe_findings(page):
    violations = Axe().run(page).response["violations"]
    return [
        f"{v['id']}: {node['target']}"
        for v in violations
        if v["impact"] in ("serious", "critical")
        for node in v["nodes"]
    ]


def test_channel_form_keeps_typed_credentials_across_an_error(browser, live_server, site, shot):
    context, page = signed_in_page(browser, live_server, "staff", WIDTHS["wide"])
    try:
        page.goto(f"{live_server.url}/staff/channels/new?vendor=openai")
        assert page.get_attribute("#id_served_models", "placeholder").startswith("e.g. ")
        page.fill("#id_name", "sora-browser")
        page.fill("#id_credential_api_key", "sk-typed-once-123")
        page.click("main button[type=submit]")
        page.wait_for_load_state()
        assert "Name at least one model" in page.content()
        assert page.input_value("#id_credential_api_key") == "sk-typed-once-123"
        shot(page, "staff-channel-form-error")
        page.fill("#id_served_models", "sora-2")
        page.click("main button[type=submit]")
        page.wait_for_load_state()
        channel = Channel.objects.get(name="sora-browser")
        assert channel.credentials == "sk-typed-once-123"
        assert page.input_value("#id_credential_api_key") == ""  # a saved secret is never rendered back
        assert "sk-typed-once-123" not in page.content()
    finally:
        context.close()


def test_failed_test_shows_failing_and_disable_asks_first(browser, live_server, site, shot):
    channel = site["channel"]
    Channel.objects.filter(pk=channel.pk).update(options={"delay": "soon"})
    context, page = signed_in_page(browser, live_server, "staff", WIDTHS["wide"])
    row = f"#channel-{channel.pk}"
    try:
        page.goto(f"{live_server.url}/staff/channels/")
        page.click(f"{row} button:has-text('Test')")
        page.wait_for_load_state()
        assert page.text_content(f"{row} .channel-status").strip() == "Failing"
        assert "Test failed" in page.text_content(f"{row} .channel-error")
        assert " ms" in page.text_content(f"{row} .channel-latency")
        shot(page, "staff-channels-failing")

        page.once("dialog", lambda dialog: dialog.dismiss())
        page.click(f"{row} button:has-text('Disable')")
        page.wait_for_timeout(300)
        channel.refresh_from_db()
        assert channel.status == Channel.Status.ENABLED
        page.once("dialog", lambda dialog: dialog.accept())
        with page.expect_navigation():
            page.click(f"{row} button:has-text('Disable')")
        channel.refresh_from_db()
        assert channel.status == Channel.Status.DISABLED
        assert page.is_visible(f"{row} button:has-text('Enable')")
    finally:
        context.close()


@pytest.mark.parametrize("width", WIDTHS.values())
@pytest.mark.parametrize(("who", "path"), [("owner", "/usage/"), ("staff", "/staff/overview/")])
def test_chart_text_is_readable_and_inside_its_chart(browser, live_server, site, shot, who, path, width):
    context, page = signed_in_page(browser, live_server, who, width)
    try:
        page.goto(live_server.url + path)
        texts = page.evaluate(CHART_TEXT)
        shot(page, f"charts{path.replace('/', '-')}{width}")
    finally:
        context.close()
    assert texts, "no chart drawn"
    small = [t for t in texts if t["size"] < 10]
    assert not small, small[:5]
    cut = [t for t in texts if t["left"] < -0.5 or t["right"] < -0.5]
    assert not cut, cut[:5]
    if path == "/usage/":
        assert any(t["text"].startswith("nightly batch") for t in texts)


def test_new_channel_pages_pass_axe_and_fit_a_phone(browser, live_server, site, shot):
    channel = site["channel"]
    spare = Channel.objects.create(name="spare", vendor="sandbox", served_models=["x"], archived_at=timezone.now())
    pages = {
        "staff-channel-archive": f"/staff/channels/{channel.pk}/archive",
        "staff-channel-delete": f"/staff/channels/{spare.pk}/delete",
        "staff-channels-archived": "/staff/channels/?archived=1",
        "staff-overview": "/staff/overview/",
    }
    found = {}
    context, page = signed_in_page(browser, live_server, "staff", WIDTHS["wide"])
    try:
        for name, path in pages.items():
            for width in WIDTHS.values():
                page.set_viewport_size({"width": width, "height": 860})
                assert page.goto(live_server.url + path).status == 200
                shot(page, f"{name}-{width}")
                found[f"{name}@{width}"] = serious_axe_findings(page)
                if width == WIDTHS["phone"]:
                    scroll = page.evaluate("document.scrollingElement.scrollWidth")
                    found[f"{name}@{width}"] += [f"scrolls sideways: {scroll}px"] if scroll > width else []
    finally:
        context.close()
    assert found == {name: [] for name in found}
