"""Staff tenant pages: create, top up and debit through the ledger, members and roles, keys, history."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from accounts import services as money
from accounts.models import AuditEntry, LedgerEntry, Membership, Tenant
from tests.helpers import USD, ledger_sum, signed_in

pytestmark = pytest.mark.django_db


def test_list_shows_balance_and_member_count_with_bounded_queries(
    staff_client, users, key, django_assert_max_num_queries
):
    for number in range(10):
        Tenant.objects.create(name=f"t{number}")
    with django_assert_max_num_queries(4):
        page = staff_client.get("/staff/tenants/").content.decode()
    row = page[page.index('href="/staff/tenants/acme/"') :]
    assert "$10" in row
    assert row.index('<td class="num">2</td>') < row.index("globex")  # owner + reader
    assert '<td class="num">1</td>' in row  # one key


def test_create_tenant_with_opening_balance(staff_client, staff):
    response = staff_client.post(
        "/staff/tenants/new", {"name": "initech", "display_name": "Initech", "opening_balance": "12.5"}
    )
    assert response.status_code == 302 and response["Location"] == "/staff/tenants/initech/"
    tenant = Tenant.objects.get(name="initech")
    assert tenant.balance == 12_500_000 == ledger_sum(tenant)
    entry = tenant.ledger.get()
    assert entry.kind == LedgerEntry.Kind.TOPUP and entry.created_by == staff
    audit = AuditEntry.objects.get(action="tenant.created")
    assert audit.detail == {"display_name": "Initech", "opening_balance": 12_500_000}
    page = staff_client.get("/staff/tenants/initech/").content.decode()
    assert "$12.5" in page and "opening balance" in page


def test_create_tenant_errors(staff_client, tenant):
    page = staff_client.post("/staff/tenants/new", {"name": "acme", "opening_balance": "0.0000001"}).content.decode()
    assert "Tenant with this Name already exists" in page
    assert "Ensure that there are no more than 6 decimal places" in page
    assert Tenant.objects.count() == 1


def test_top_up_writes_a_ledger_row(staff_client, tenant, staff):
    response = staff_client.post(
        "/staff/tenants/acme/money", {"direction": "topup", "amount": "2.25", "note": "invoice 42"}, follow=True
    )
    assert "Added $2.25; the balance is now $12.25." in response.content.decode()
    tenant.refresh_from_db()
    assert tenant.balance == 12_250_000 == ledger_sum(tenant)
    entry = tenant.ledger.first()
    assert (entry.kind, entry.amount, entry.note, entry.created_by) == ("topup", 2_250_000, "invoice 42", staff)
    audit = AuditEntry.objects.get(action="tenant.topup")
    assert audit.detail == {"amount": 2_250_000, "note": "invoice 42"} and audit.target == "acme"


def test_debit_writes_a_negative_adjustment(staff_client, tenant):
    staff_client.post("/staff/tenants/acme/money", {"direction": "debit", "amount": "4", "note": "refund reversed"})
    tenant.refresh_from_db()
    assert tenant.balance == 6 * USD == ledger_sum(tenant)
    entry = tenant.ledger.first()
    assert (entry.kind, entry.amount, entry.balance_after) == ("adjustment", -4 * USD, 6 * USD)
    assert AuditEntry.objects.get(action="tenant.adjustment").detail["amount"] == -4 * USD


def test_debit_that_would_overdraw_is_refused(staff_client, tenant):
    before = tenant.ledger.count()
    response = staff_client.post(
        "/staff/tenants/acme/money", {"direction": "debit", "amount": "10.01", "note": "too much"}
    )
    assert response.status_code == 200
    assert "The balance is $10.00; a debit of $10.01 would overdraw it." in response.content.decode()
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD and tenant.ledger.count() == before
    assert not AuditEntry.objects.exists()


def test_money_form_errors(staff_client, tenant):
    page = staff_client.post(
        "/staff/tenants/acme/money", {"direction": "topup", "amount": "0", "note": ""}
    ).content.decode()
    assert "Enter an amount above zero" in page and "This field is required" in page
    page = staff_client.post("/staff/tenants/acme/money", {"direction": "topup", "amount": "-1", "note": "x"}).content
    assert b"greater than or equal to 0" in page
    assert tenant.ledger.count() == 1


def test_add_existing_user(staff_client, users, other_tenant):
    response = staff_client.post("/staff/tenants/globex/members", {"username": "owner", "role": "read_only"})
    assert response.status_code == 302
    membership = Membership.objects.get(tenant=other_tenant, user=users["owner"])
    assert membership.role == "read_only"
    audit = AuditEntry.objects.get(action="member.added")
    assert audit.detail == {"user": "owner", "role": "read_only", "new_user": False}


def test_create_a_new_user_who_can_sign_in(staff_client, tenant):
    data = {"username": "newbie", "role": "member", "password": "a-long-passphrase-91"}
    assert staff_client.post("/staff/tenants/acme/members", data).status_code == 302
    assert Membership.objects.get(user__username="newbie").tenant == tenant
    member = Client()
    assert member.post("/login/", {"username": "newbie", "password": "a-long-passphrase-91"}).status_code == 302
    assert "a-long-passphrase-91" not in str(AuditEntry.objects.get(action="member.added").detail)


def test_member_form_errors(staff_client, users):
    page = staff_client.post("/staff/tenants/acme/members", {"username": "ghost", "role": "member"}).content.decode()
    assert "There is no user named ghost. Enter a password to create one." in page
    page = staff_client.post("/staff/tenants/acme/members", {"username": "reader", "role": "member"}).content.decode()
    assert "reader is already a member of this tenant" in page
    data = {"username": "outsider", "role": "member", "password": "whatever-123"}
    page = staff_client.post("/staff/tenants/acme/members", data).content.decode()
    assert "outsider already exists; leave the password empty" in page
    data = {"username": "weak", "role": "member", "password": "123"}
    page = staff_client.post("/staff/tenants/acme/members", data).content.decode()
    assert "This password is too short" in page and 'value="123"' not in page
    assert not get_user_model().objects.filter(username="weak").exists()


def test_change_role_and_remove(staff_client, users, tenant):
    reader = Membership.objects.get(user=users["reader"])
    assert staff_client.post(f"/staff/tenants/acme/members/{reader.pk}/role", {"role": "owner"}).status_code == 302
    reader.refresh_from_db()
    assert reader.role == "owner"
    assert AuditEntry.objects.get(action="member.role_changed").detail == {
        "user": "reader",
        "from": "read_only",
        "to": "owner",
    }
    staff_client.post(f"/staff/tenants/acme/members/{reader.pk}/role", {"role": "admin"})
    reader.refresh_from_db()
    assert reader.role == "owner"
    assert staff_client.post(f"/staff/tenants/acme/members/{reader.pk}/remove").status_code == 302
    assert not Membership.objects.filter(pk=reader.pk).exists()
    assert get_user_model().objects.filter(username="reader").exists()
    assert AuditEntry.objects.filter(action="member.removed", target="acme").count() == 1


def test_member_of_another_tenant_is_404(staff_client, users):
    outsider = Membership.objects.get(user=users["outsider"])
    assert staff_client.post(f"/staff/tenants/acme/members/{outsider.pk}/remove").status_code == 404
    assert staff_client.post(f"/staff/tenants/acme/members/{outsider.pk}/role", {"role": "member"}).status_code == 404


def test_keys_are_masked_and_revocable(staff_client, key, other_key):
    page = staff_client.get("/staff/tenants/acme/").content.decode()
    assert key.masked in page and key.plaintext not in page and key.secret_hash not in page
    assert staff_client.post(f"/staff/tenants/globex/keys/{key.pk}/revoke").status_code == 404
    assert staff_client.post(f"/staff/tenants/acme/keys/{key.pk}/revoke").status_code == 302
    key.refresh_from_db()
    assert not key.enabled and key.revoked_at is not None
    assert AuditEntry.objects.get(action="key.revoked").detail == {"key": key.masked, "key_name": "test"}
    assert "Revoked" in staff_client.get("/staff/tenants/acme/").content.decode()
    assert money.find_key(key.plaintext).enabled is False


def test_balance_history_is_paginated(staff_client, tenant, django_assert_max_num_queries):
    for number in range(60):
        money.topup(tenant, 1, note=f"drip {number}")
    with django_assert_max_num_queries(12):
        first = staff_client.get("/staff/tenants/acme/").content.decode()
    assert "drip 59" in first and "drip 0<" not in first and "Page 1 of 2" in first
    second = staff_client.get("/staff/tenants/acme/?page=2").content.decode()
    assert "drip 0<" in second and "test" in second


def test_unknown_tenant_is_404(staff_client):
    assert staff_client.get("/staff/tenants/nobody/").status_code == 404
    data = {"direction": "topup", "amount": "1", "note": "x"}
    assert staff_client.post("/staff/tenants/nobody/money", data).status_code == 404


def test_csrf_is_enforced_on_money(staff, tenant):
    client = signed_in(staff, enforce_csrf_checks=True)
    response = client.post("/staff/tenants/acme/money", {"direction": "topup", "amount": "5", "note": "x"})
    assert response.status_code == 403
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD


# --- issue 13: confirmations, the debit note, suspension, display name, member audit ----------


def _form_of(page, action):
    """The opening <form ...> tag that posts to ``action``."""
    start = page.index(f'action="{action}"')
    return page[page.rindex("<form", 0, start) : page.index(">", start) + 1]


def test_remove_revoke_and_money_forms_ask_for_confirmation(staff_client, users, key):
    page = staff_client.get("/staff/tenants/acme/").content.decode()
    reader = Membership.objects.get(user=users["reader"])
    remove = _form_of(page, f"/staff/tenants/acme/members/{reader.pk}/remove")
    assert 'data-confirm="Remove reader from acme? The user account remains."' in remove
    revoke = _form_of(page, f"/staff/tenants/acme/keys/{key.pk}/revoke")
    assert f'data-confirm="Revoke the key {key.masked}? It stops working immediately' in revoke
    assert "data-confirm=" in _form_of(page, "/staff/tenants/acme/money")
    assert "data-confirm=" in _form_of(page, "/staff/tenants/acme/suspend")


def test_the_debit_note_is_marked_required(staff_client, tenant):
    page = staff_client.get("/staff/tenants/acme/").content.decode()
    assert '<label for="id_note">Note (required)</label>' in page
    note = page[page.index('id="id_note"') - 200 : page.index('id="id_note"') + 50]
    assert "required" in note[note.rindex("<input") :]


def test_suspend_and_resume_are_audited_and_idempotent(staff_client, tenant, users):
    response = staff_client.post("/staff/tenants/acme/suspend", {"reason": "unpaid invoice 7"}, follow=True)
    assert "acme is suspended: its API keys are refused and its pages are read-only." in response.content.decode()
    tenant.refresh_from_db()
    assert not tenant.is_active
    assert AuditEntry.objects.get(action="tenant.suspended", target="acme").detail == {"reason": "unpaid invoice 7"}
    staff_client.post("/staff/tenants/acme/suspend")
    assert AuditEntry.objects.filter(action="tenant.suspended").count() == 1
    page = staff_client.get("/staff/tenants/").content.decode()
    assert "Suspended" in page[page.index("/staff/tenants/acme/") :]
    assert "Resume tenant" in staff_client.get("/staff/tenants/acme/").content.decode()

    staff_client.post("/staff/tenants/acme/resume")
    tenant.refresh_from_db()
    assert tenant.is_active and AuditEntry.objects.filter(action="tenant.resumed", target="acme").count() == 1
    staff_client.post("/staff/tenants/acme/resume")
    assert AuditEntry.objects.filter(action="tenant.resumed").count() == 1


def test_a_suspended_tenants_pages_are_read_only(staff_client, owner, reader, tenant, key):
    staff_client.post("/staff/tenants/acme/suspend")
    # Readable, with the write buttons gone...
    for path in ("/tasks/", "/keys/", "/webhooks/", "/usage/"):
        assert owner.get(path).status_code == 200, path
    assert "This account is suspended" in owner.get("/tasks/").content.decode()  # templates/accounts/_notices.html
    keys = owner.get("/keys/").content.decode()
    assert key.masked in keys and 'href="/keys/new/"' not in keys and "/revoke/" not in keys
    # ...and every writer action refused with 403, for owners and read-only members alike.
    assert owner.get("/keys/new/").status_code == 403
    assert owner.post("/keys/new/", {"name": "sneaky"}).status_code == 403
    assert owner.post(f"/keys/{key.lookup}/revoke/").status_code == 403
    assert owner.post("/webhooks/new/", {"url": "https://example.com/hook"}).status_code == 403
    assert reader.post("/keys/new/", {"name": "sneaky"}).status_code == 403
    key.refresh_from_db()
    assert key.enabled and tenant.api_keys.count() == 1 and not tenant.webhook_endpoints.exists()

    staff_client.post("/staff/tenants/acme/resume")
    assert owner.get("/keys/new/").status_code == 200
    assert reader.post("/keys/new/", {"name": "sneaky"}).status_code == 404  # read-only as before


def test_suspension_is_for_staff_only(owner, tenant):
    assert owner.post("/staff/tenants/acme/suspend").status_code == 404
    tenant.refresh_from_db()
    assert tenant.is_active


def test_edit_the_display_name(staff_client, tenant):
    response = staff_client.post("/staff/tenants/acme/rename", {"display_name": "Acme Corp."}, follow=True)
    assert "Display name of acme saved." in response.content.decode()
    tenant.refresh_from_db()
    assert tenant.display_name == "Acme Corp." and tenant.name == "acme"
    assert AuditEntry.objects.get(action="tenant.renamed").detail == {"from": "", "to": "Acme Corp."}
    staff_client.post("/staff/tenants/acme/rename", {"display_name": "Acme Corp."})  # unchanged: no entry
    assert AuditEntry.objects.filter(action="tenant.renamed").count() == 1
    page = staff_client.post("/staff/tenants/acme/rename", {"display_name": "x" * 201}).content.decode()
    assert "Ensure this value has at most 200 characters" in page
    tenant.refresh_from_db()
    assert tenant.display_name == "Acme Corp."


def test_member_changes_show_in_the_audit_log(staff_client, users):
    staff_client.post("/staff/tenants/globex/members", {"username": "owner", "role": "member"})
    membership = Membership.objects.get(tenant__name="globex", user=users["owner"])
    staff_client.post(f"/staff/tenants/globex/members/{membership.pk}/role", {"role": "read_only"})
    staff_client.post(f"/staff/tenants/globex/members/{membership.pk}/remove")
    page = staff_client.get("/staff/audit/?q=member").content.decode()
    for action in ("member.added", "member.role_changed", "member.removed"):
        assert f"<code>{action}</code>" in page
