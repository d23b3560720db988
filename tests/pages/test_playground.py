"""Issue 13, the playground: a member who can write submits a video from the dashboard with one of the
account's keys (never shown in full), sees its price first (the quote of POST /v1/videos/quote), and
lands on the task page; the models offered are those the account's keys may be served."""

import base64

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts import services as money
from accounts.models import AuditEntry
from tests.helpers import USD, signed_in
from videos.models import VideoTask

pytestmark = pytest.mark.django_db

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def form(key, **fields):
    return {"key": key.lookup, "model": "sandbox-video", "prompt": "a lantern at dusk", **fields}


def test_the_form_offers_the_accounts_keys_masked_and_the_models_they_may_use(owner, key, other_key, sandbox):
    html = owner.get("/playground/").content.decode()
    assert f'<option value="{key.lookup}">test ({key.masked})</option>' in html
    assert key.plaintext not in html and other_key.masked not in html
    assert '<option value="sandbox-video">' in html and '<option value="sandbox-fail">' in html
    assert 'enctype="multipart/form-data"' in html and 'type="file"' in html


def test_preview_price_quotes_without_creating_or_holding(owner, tenant, key, sandbox):
    response = owner.post("/playground/", form(key, seconds="5", action="quote"))
    html = response.content.decode()
    assert response.status_code == 200
    assert '<span class="value" id="quote-amount">$0.05</span>' in html  # 5 s x 10,000 units
    assert VideoTask.objects.count() == 0
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD


def test_generate_creates_the_task_as_the_api_does_and_opens_its_page(owner, tenant, key, sandbox):
    response = owner.post("/playground/", form(key, seconds="4", size="1280x720", action="create"))
    task = VideoTask.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/tasks/{task.public_id}/"
    assert task.route == VideoTask.Route.DASHBOARD and task.api_key == key and task.tenant == tenant
    assert task.prompt == "a lantern at dusk" and task.seconds == 4 and task.params["size"] == "1280x720"
    assert task.amount_held == 40_000 and task.vendor_task_id
    entry = AuditEntry.objects.get(action="task.created")
    assert entry.target == task.public_id and entry.detail["key"] == key.masked
    assert "Dashboard playground" in owner.get(response["Location"]).content.decode()


def test_an_image_upload_becomes_the_first_frame(owner, key, sandbox):
    upload = SimpleUploadedFile("frame.png", PNG, content_type="image/png")
    owner.post("/playground/", {**form(key, action="create"), "image": upload})
    task = VideoTask.objects.get()
    assert task.mode == "image" and task.params["image"] == f"<image/png, {len(PNG)} bytes>"


def test_a_file_that_is_not_an_image_is_refused(owner, key, sandbox):
    upload = SimpleUploadedFile("notes.txt", b"hello", content_type="text/plain")
    html = owner.post("/playground/", {**form(key, action="create"), "image": upload}).content.decode()
    assert "must be a PNG, JPEG, WebP, GIF or BMP image file" in html
    assert VideoTask.objects.count() == 0


def test_a_key_limited_to_other_models_is_refused_for_this_one(owner, tenant, key, sandbox):
    limited, _ = money.issue_key(tenant, name="fail-only", allowed_models=["sandbox-fail"])
    html = owner.post("/playground/", form(limited, action="quote")).content.decode()
    assert f"The key {limited.masked} may not use this model." in html
    assert VideoTask.objects.count() == 0


def test_errors_of_the_create_are_shown_on_the_form(owner, tenant, key, sandbox):
    html = owner.post("/playground/", form(key, seconds="13", action="quote")).content.decode()
    assert "seconds" in html and VideoTask.objects.count() == 0  # the sandbox's durations are 4, 5, 8, 10...
    tenant.balance = 0
    tenant.save()
    money.topup(tenant, 1)  # a unit: not enough for any video
    html = owner.post("/playground/", form(key, action="create")).content.decode()
    assert "Insufficient balance" in html and VideoTask.objects.count() == 0


def test_another_accounts_key_is_not_a_choice(owner, other_key, key, sandbox):
    html = owner.post("/playground/", form(other_key, action="create")).content.decode()
    assert "Select a valid choice" in html and VideoTask.objects.count() == 0


def test_without_a_usable_key_the_page_says_to_create_one(owner, key, sandbox):
    key.enabled = False
    key.save()
    html = owner.get("/playground/").content.decode()
    assert "No key to submit with" in html and 'href="/keys/new/"' in html


def test_read_only_members_and_strangers_cannot_use_it(users, key, sandbox):
    reader = signed_in(users["reader"])
    assert reader.get("/playground/").status_code == 404
    assert reader.post("/playground/", form(key, action="create")).status_code == 404
    assert VideoTask.objects.count() == 0
