"""Staff pages: hidden from everyone else, prices with previews, all tasks, health, the audit log."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from django_q.models import OrmQ

from accounts.models import AuditEntry
from channels.models import Channel, Price
from tests.helpers import drive, make_task, signed_in
from videos.models import Heartbeat, VideoTask

pytestmark = pytest.mark.django_db


def staff_urls(tenant, channel, price, task, membership, key):
    gets = [
        "/staff/",
        "/staff/channels/",
        "/staff/channels/new",
        "/staff/channels/new?vendor=kling",
        f"/staff/channels/{channel.pk}/",
        "/staff/prices/",
        "/staff/prices/new",
        f"/staff/prices/{price.pk}/",
        "/staff/tasks/",
        f"/staff/tasks/{task.public_id}/",
        "/staff/health/",
        "/staff/audit/",
        "/staff/tenants/",
        "/staff/tenants/new",
        f"/staff/tenants/{tenant.name}/",
    ]
    posts = [
        "/staff/channels/new?vendor=sandbox",
        f"/staff/channels/{channel.pk}/",
        f"/staff/channels/{channel.pk}/test",
        f"/staff/channels/{channel.pk}/status",
        "/staff/prices/new",
        f"/staff/prices/{price.pk}/",
        "/staff/tenants/new",
        f"/staff/tenants/{tenant.name}/money",
        f"/staff/tenants/{tenant.name}/members",
        f"/staff/tenants/{tenant.name}/members/{membership.pk}/role",
        f"/staff/tenants/{tenant.name}/members/{membership.pk}/remove",
        f"/staff/tenants/{tenant.name}/keys/{key.pk}/revoke",
    ]
    return gets, posts


@pytest.fixture
def everything(users, tenant, sandbox, key):
    task = make_task(tenant, channel=sandbox, vendor_task_id="vendor-123")
    membership = tenant.memberships.get(user=users["reader"])
    return staff_urls(tenant, sandbox, Price.objects.first(), task, membership, key)


@pytest.mark.parametrize("who", ["owner", "reader", "outsider"])
def test_non_staff_get_404_everywhere(users, everything, who, tenant, key, sandbox):
    client = signed_in(users[who])
    gets, posts = everything
    for url in gets:
        assert client.get(url).status_code == 404, url
    for url in posts:
        response = client.post(url, {"status": "disabled", "role": "owner", "direction": "topup", "amount": "1"})
        assert response.status_code == 404, url
    sandbox.refresh_from_db()
    key.refresh_from_db()
    tenant.refresh_from_db()
    assert sandbox.status == "enabled" and key.enabled and tenant.memberships.count() == 2
    assert not AuditEntry.objects.exists()


def test_anonymous_is_sent_to_sign_in(everything):
    gets, posts = everything
    for url in gets + posts:
        response = Client().post(url) if url in posts else Client().get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url


def test_every_staff_page_renders_for_staff(staff_client, everything):
    gets, _ = everything
    for url in gets:
        response = staff_client.get(url, follow=True)
        assert response.status_code == 200, url
    nav = staff_client.get("/staff/health/").content.decode()
    for label in ("Channels", "Prices", "Tenants", "All tasks", "Health", "Audit log"):
        assert f">{label}</a>" in nav


# --- prices --------------------------------------------------------------------------

PRICE = {"model": "sora-2-pro", "per_second": "0.1", "per_video": "0.05", "resolution_multipliers": "1080p = 1.5"}


def test_create_price_and_preview_exact_numbers(staff_client, staff):
    response = staff_client.post("/staff/prices/new", PRICE)
    assert response.status_code == 302
    price = Price.objects.get(model="sora-2-pro")
    assert (price.per_second, price.per_video, price.resolution_multipliers) == (100_000, 50_000, {"1080p": "1.5"})
    entry = AuditEntry.objects.get(action="price.created")
    assert entry.user == staff and entry.detail["after"]["per_second"] == 100_000
    page = staff_client.get(f"/staff/prices/{price.pk}/").content.decode()
    # 5 s: 50,000 + 5 x 100,000 = 550,000; 10 s: 1,050,000; at 1080p x1.5: 825,000 and 1,575,000.
    for text in ('$0.55 <span class="muted">(550,000 units)', "$1.05 <span", "(1,050,000 units)"):
        assert text in page
    assert '$0.825 <span class="muted">(825,000 units)' in page
    assert '$1.575 <span class="muted">(1,575,000 units)' in page
    assert 'value="0.1"' in page and "1080p = 1.5" in page
    listing = staff_client.get("/staff/prices/").content.decode()
    assert '$0.55<br><span class="muted">550,000 units' in listing and "1080p × 1.5" in listing


def test_preview_button_does_not_save_and_rounds_up(staff_client):
    data = dict(PRICE, per_video="0", per_second="0.000001", resolution_multipliers="480p = 0.33")
    response = staff_client.post("/staff/prices/new", dict(data, preview="1"))
    assert response.status_code == 200 and not Price.objects.exists()
    page = response.content.decode()
    # 5 units x 0.33 = 1.65 -> 2; 10 units x 0.33 = 3.3 -> 4.
    assert '$0.000002 <span class="muted">(2 units)' in page
    assert '$0.000004 <span class="muted">(4 units)' in page
    assert "480p (0.33x)" in page


def test_edit_price_is_audited(staff_client, sandbox):
    price = Price.objects.get(model="sandbox-video")
    data = {"model": "sandbox-video", "per_second": "0.02", "per_video": "1", "resolution_multipliers": ""}
    assert staff_client.post(f"/staff/prices/{price.pk}/", data).status_code == 302
    price.refresh_from_db()
    assert (price.per_second, price.per_video) == (20_000, 1_000_000)
    detail = AuditEntry.objects.get(action="price.updated").detail
    assert detail["before"]["per_second"] == 10_000 and detail["after"]["per_video"] == 1_000_000


def test_price_form_errors(staff_client, sandbox):
    data = {"model": "sandbox-video", "per_second": "-1", "per_video": "0.0000001", "resolution_multipliers": "4k = x"}
    page = staff_client.post("/staff/prices/new", data).content.decode()
    assert "Price with this Model already exists" in page
    assert "greater than or equal to 0" in page
    assert "no more than 6 decimal places" in page
    assert "The multiplier for &#x27;4k&#x27; must be 0 or more, not &#x27;x&#x27;" in page
    page = staff_client.post(
        "/staff/prices/new", dict(data, model="x", resolution_multipliers="4k = -2")
    ).content.decode()
    assert "must be 0 or more" in page
    assert Price.objects.count() == 2


def test_unpriced_served_models_are_flagged(staff_client, sandbox):
    Channel.objects.create(name="sora", vendor="openai", served_models=["sora-2", "sandbox-video"])
    page = staff_client.get("/staff/prices/").content.decode()
    assert 'href="/staff/prices/new?model=sora-2"' in page
    assert "model=sandbox-video" not in page
    assert 'value="sora-2"' in staff_client.get("/staff/prices/new?model=sora-2").content.decode()


# --- tasks ---------------------------------------------------------------------------


def test_task_list_shows_vendor_facts_and_filters(staff_client, tenant, other_tenant, sandbox):
    sora = Channel.objects.create(name="sora", vendor="openai", served_models=["sora-2"])
    done = make_task(
        tenant,
        channel=sandbox,
        status="completed",
        prompt="a red fox",
        vendor_task_id="vt-1",
        vendor_status="succeeded",
    )
    VideoTask.objects.filter(pk=done.pk).update(amount_held=500_000, amount_charged=400_000)
    failed = make_task(
        other_tenant, channel=sora, model="sora-2", status="failed", prompt="a whale", vendor_task_id="vt-2"
    )
    old = make_task(tenant, channel=sandbox, prompt="ancient", created_at=timezone.now() - timedelta(days=40))

    def ids(query=""):
        page = staff_client.get(f"/staff/tasks/?{query}").content.decode()
        return {task.public_id for task in (done, failed, old) if task.public_id in page}, page

    found, page = ids()
    assert found == {done.public_id, failed.public_id, old.public_id}
    assert "vt-1" in page and "succeeded" in page and "$0.5" in page and "$0.4" in page
    assert ids("status=failed")[0] == {failed.public_id}
    assert ids("tenant=globex")[0] == {failed.public_id}
    assert ids("channel=sandbox")[0] == {done.public_id, old.public_id}
    assert ids("model=sora-2")[0] == {failed.public_id}
    assert ids("q=fox")[0] == {done.public_id}
    assert ids(f"q={failed.public_id}")[0] == {failed.public_id}
    assert ids("q=vt-1")[0] == {done.public_id}
    since = (timezone.now() - timedelta(days=7)).date().isoformat()
    assert ids(f"since={since}")[0] == {done.public_id, failed.public_id}
    until = (timezone.now() - timedelta(days=30)).date().isoformat()
    assert ids(f"until={until}")[0] == {old.public_id}
    assert ids("status=nonsense")[0] == {done.public_id, failed.public_id, old.public_id}
    assert "Nothing matches these filters" in ids("q=nothing-like-this")[1]


def test_task_list_paginates_with_bounded_queries(staff_client, tenant, sandbox, django_assert_max_num_queries):
    for number in range(55):
        make_task(tenant, channel=sandbox, prompt=f"prompt {number}")
    with django_assert_max_num_queries(8):
        page = staff_client.get("/staff/tasks/?status=queued").content.decode()
    assert "prompt 54" in page and "prompt 4<" not in page
    older = re.search(r'href="(\?status=queued&amp;before=[\w-]+)" rel="next"', page)
    second = staff_client.get("/staff/tasks/" + older[1].replace("&amp;", "&")).content.decode()
    assert "prompt 0<" in second and "prompt 5<" not in second and "status=queued" in second


def test_task_detail_shows_everything_from_a_real_run(staff_client, api, sandbox):
    created = api.post("/v1/videos", {"model": "sandbox-fail", "prompt": "doomed", "seconds": "5"}, format="json")
    task = drive(VideoTask.objects.get(public_id=created.json()["id"]))
    assert task.status == "failed"
    page = staff_client.get(f"/staff/tasks/{task.public_id}/").content.decode()
    assert task.vendor_task_id and task.vendor_task_id in page
    assert task.error_code in page
    assert "Vendor state" in page and "doomed" in page
    assert "Hold" in page and "Release" in page
    assert staff_client.get("/staff/tasks/video_nope/").status_code == 404


# --- health --------------------------------------------------------------------------


def test_health_page(staff_client, tenant, sandbox):
    Heartbeat.objects.create(name="poller", at=timezone.now() - timedelta(seconds=30))
    OrmQ.objects.create(key="default", payload="x", lock=None)
    make_task(tenant, channel=sandbox, status="in_progress")
    late = make_task(tenant, channel=sandbox, deadline_at=timezone.now() - timedelta(minutes=5))
    failed = make_task(tenant, channel=sandbox, status="failed", error_code="vendor_timeout", error_message="no answer")
    page = staff_client.get("/staff/health/").content.decode()
    assert "Alive" in page
    assert '<div class="value">1</div>' in page  # one queued job
    assert '<td>sandbox</td><td class="num">2</td>' in page
    assert late.public_id in page[page.index("Past their deadline</h2>") :]
    assert failed.public_id in page and "vendor_timeout" in page


def test_health_page_silent_worker_and_redis(staff_client, settings):
    Heartbeat.objects.create(name="poller", at=timezone.now() - timedelta(minutes=3))
    settings.Q_CLUSTER = {"name": "gateway", "redis": "redis://127.0.0.1:6379/0"}
    page = staff_client.get("/staff/health/").content.decode()
    assert "Silent" in page and "n/a (Redis)" in page
    Heartbeat.objects.all().delete()
    assert "Never ran" in staff_client.get("/staff/health/").content.decode()


# --- audit ---------------------------------------------------------------------------


def test_audit_log_paginates_and_searches(staff_client, staff, django_assert_max_num_queries):
    for number in range(60):
        AuditEntry.objects.create(user=staff, action="price.updated", target=f"model-{number}", detail={"n": number})
    AuditEntry.objects.create(action="channel.auto_disabled", target="kling-main", detail={"reason": "401"})
    with django_assert_max_num_queries(6):
        page = staff_client.get("/staff/audit/").content.decode()
    assert "Page 1 of 2" in page and "channel.auto_disabled" in page and "system" in page
    assert "model-0<" in staff_client.get("/staff/audit/?page=2").content.decode()
    found = staff_client.get("/staff/audit/?q=kling").content.decode()
    assert "kling-main" in found and "model-1<" not in found


def test_csrf_is_enforced_on_prices(staff):
    client = signed_in(staff, enforce_csrf_checks=True)
    assert client.post("/staff/prices/new", PRICE).status_code == 403
    assert not Price.objects.exists()
