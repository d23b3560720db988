"""Defects exploratory QA found on the dashboard: the channel form of a vendor whose known base URLs
are (url, label) pairs (DashScope) was a 500; a priority or weight past 64 bits was a 500 on save;
the price edit form showed an existing price's model empty; the playground created a video for any
``action``; the pagination bar was English on Chinese pages."""

import re
from html.parser import HTMLParser

import pytest

from accounts import services as money
from accounts.models import LedgerEntry
from channels.adaptors import registry
from channels.models import Channel, Price
from tests.helpers import USD, make_task
from videos.models import VideoTask

pytestmark = pytest.mark.django_db

HUGE = "99999999999999999999999"  # past a 64-bit integer


def channel_data(**fields):
    """A valid new-channel form of a vendor that needs no credentials (the sandbox)."""
    return {
        "name": "chan",
        "base_url": "",
        "served_models": "sandbox-video",
        "model_mapping": "",
        "priority": "0",
        "weight": "1",
        "options": "",
        **fields,
    }


class FormValues(HTMLParser):
    """The values a browser would submit from a page's inputs and textareas, by name."""

    def __init__(self):
        super().__init__()
        self.values, self._textarea = {}, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "input" and attrs.get("name") and attrs.get("type") not in ("submit", "button"):
            self.values[attrs["name"]] = attrs.get("value") or ""
        elif tag == "textarea":
            self._textarea = attrs["name"]
            self.values[self._textarea] = ""

    def handle_endtag(self, tag):
        if tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            # Django renders a newline right after <textarea> that browsers drop.
            self.values[self._textarea] += data.removeprefix("\n") if not self.values[self._textarea] else data


def form_values(html):
    parser = FormValues()
    parser.feed(html)
    return parser.values


# --- 1. every vendor's channel form renders ---------------------------------------------------------


@pytest.mark.parametrize("vendor", [adaptor.vendor for adaptor in registry.all_adaptors()])
def test_the_new_and_edit_pages_of_a_channel_of_every_vendor_answer(staff_client, vendor):
    assert staff_client.get(f"/staff/channels/new?vendor={vendor}").status_code == 200
    channel = Channel.objects.create(name=f"{vendor}-main", vendor=vendor, served_models=["some-model"])
    assert staff_client.get(f"/staff/channels/{channel.pk}/").status_code == 200


def test_dashscopes_regional_endpoints_are_listed_with_their_names(staff_client):
    html = staff_client.get("/staff/channels/new?vendor=dashscope").content.decode()
    assert "Singapore (international): https://dashscope-intl.aliyuncs.com/api/v1" in html
    assert "Frankfurt workspace: https://{WorkspaceId}.eu-central-1.maas.aliyuncs.com/api/v1" in html
    assert "(&#x27;" not in html and "(&#39;" not in html  # no tuple's repr


# --- 2. priority and weight are bounded --------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [("priority", HUGE), ("priority", f"-{HUGE}"), ("priority", "1001"), ("weight", HUGE), ("weight", "1001")],
)
def test_an_out_of_range_priority_or_weight_is_a_form_error(staff_client, field, value):
    response = staff_client.post("/staff/channels/new?vendor=sandbox", channel_data(**{field: value}))
    assert response.status_code == 200
    html = response.content.decode()
    errors = re.search(rf'id="id_{field}".*?<ul class="errorlist[^"]*"[^>]*>(.*?)</ul>', html, re.S)
    assert errors and "1000" in errors.group(1), html
    assert not Channel.objects.exists()


def test_an_existing_channels_priority_cannot_overflow_on_edit(staff_client, sandbox):
    data = channel_data(name="sandbox", served_models="sandbox-video\nsandbox-fail", priority=HUGE)
    assert staff_client.post(f"/staff/channels/{sandbox.pk}/", data).status_code == 200
    sandbox.refresh_from_db()
    assert sandbox.priority == 0


@pytest.mark.parametrize(("priority", "weight"), [("-1000", "0"), ("1000", "1000"), ("5", "3")])
def test_priorities_and_weights_in_range_still_save(staff_client, priority, weight):
    response = staff_client.post("/staff/channels/new?vendor=sandbox", channel_data(priority=priority, weight=weight))
    assert response.status_code == 302, response.content.decode()
    channel = Channel.objects.get()
    assert (channel.priority, channel.weight) == (int(priority), int(weight))


# --- 3. the price edit form keeps the model ----------------------------------------------------------


def test_the_price_edit_form_shows_and_keeps_the_stored_model(staff_client):
    price = Price.objects.create(model="kept-model", per_second=20_000, resolution_multipliers={"1080p": "1.5"})
    html = staff_client.get(f"/staff/prices/{price.pk}/?model=other-model").content.decode()
    values = form_values(html)
    assert values["model"] == "kept-model"
    response = staff_client.post(f"/staff/prices/{price.pk}/", values)
    assert response.status_code == 302, response.content.decode()
    price.refresh_from_db()
    assert price.model == "kept-model" and price.per_second == 20_000
    assert price.resolution_multipliers == {"1080p": "1.5"}


def test_a_new_price_still_takes_the_model_from_the_link(staff_client):
    html = staff_client.get("/staff/prices/new?model=unpriced-model").content.decode()
    assert form_values(html)["model"] == "unpriced-model"


# --- 4. the playground does only what its buttons say ------------------------------------------------


@pytest.mark.parametrize("action", ["bogus", "", None])
def test_an_unknown_playground_action_creates_nothing_and_holds_nothing(owner, tenant, key, sandbox, action):
    data = {"key": key.lookup, "model": "sandbox-video", "prompt": "a lantern at dusk"}
    if action is not None:
        data["action"] = action
    response = owner.post("/playground/", data)
    assert response.status_code == 400
    assert "Choose Preview price or Generate video." in response.content.decode()
    assert VideoTask.objects.count() == 0
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.HOLD).exists()


# --- 5. the pagination bar is translated -------------------------------------------------------------


def test_the_pagination_bar_is_in_chinese(staff_client, tenant):
    for number in range(60):
        money.topup(tenant, 1, note=f"drip {number}")
    staff_client.defaults["HTTP_ACCEPT_LANGUAGE"] = "zh-hans"
    html = staff_client.get("/staff/tenants/acme/").content.decode()
    assert '<html lang="zh-hans">' in html
    bar = re.search(r'<nav class="pagination"(.*?)</nav>', html, re.S).group(0)
    assert "Page" not in bar and "in all" not in bar and "Older" not in bar and 'aria-label="Pages"' not in bar
    assert "第 1 页，共 2 页" in bar


def test_the_cursor_pagination_links_are_in_chinese(owner, tenant):
    for number in range(30):
        make_task(tenant, prompt=f"dog {number}")
    owner.defaults["HTTP_ACCEPT_LANGUAGE"] = "zh-hans"
    first = owner.get("/tasks/").content.decode()
    older = re.search(r'href="(\?before=[\w-]+)" rel="next">较早 →</a>', first)
    assert older, first
    second = owner.get("/tasks/" + older[1]).content.decode()
    bar = re.search(r'<nav class="pagination"(.*?)</nav>', second, re.S).group(0)
    assert "⇤ 最新</a>" in bar and 'rel="prev">← 较新</a>' in bar
    assert not re.search(r"Newest|Newer|Older|Pages", bar)
