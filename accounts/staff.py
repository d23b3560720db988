"""Operator pages (staff only) about accounts: tenants, balances, members, keys, the ledger
and the audit log.

Money only moves through accounts.services (topup / adjust), which write the ledger row;
every change here also leaves an audit entry.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model, password_validation
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from . import services, throttle, views
from .dashboard import paginate, record, staff_view
from .forms import UsdField
from .models import ApiKey, AuditEntry, Membership, Tenant, WebhookEndpoint


class TenantForm(forms.ModelForm):
    opening_balance = UsdField(
        label="Opening balance (USD)", required=False, help_text="Credited as a top-up; blank or 0 for none."
    )

    class Meta:
        model = Tenant
        fields = ["name", "display_name"]
        help_texts = {"name": "Short id: letters, digits, '-' and '_'."}


class MoneyForm(forms.Form):
    TOPUP, DEBIT = "topup", "debit"

    direction = forms.ChoiceField(
        choices=[(TOPUP, "Top up (add credit)"), (DEBIT, "Debit (take credit away)")], initial=TOPUP, label="Action"
    )
    amount = UsdField(label="Amount (USD)")
    note = forms.CharField(max_length=300, help_text="Why; shown in the balance history.")

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        if amount <= 0:
            raise forms.ValidationError("Enter an amount above zero.")
        return amount


class LimitsForm(forms.ModelForm):
    """A tenant's rate limits over all its keys (videos/limits.py); blank: unlimited."""

    class Meta:
        model = Tenant
        fields = ["rpm_limit", "max_in_flight"]
        labels = {"rpm_limit": "Creates per minute", "max_in_flight": "Videos in progress at once"}


class KeyLimitsForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["rpm_limit", "max_in_flight"]


class MemberForm(forms.Form):
    username = forms.CharField(max_length=150, help_text="An existing user, or a new one when a password is given.")
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.MEMBER)
    password = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Only for a new user; leave empty to add an existing one.",
    )

    def __init__(self, *args, tenant, **kwargs):
        self.tenant = tenant
        super().__init__(*args, **kwargs)

    def clean(self):
        cleaned = super().clean()
        username, password = cleaned.get("username", "").strip(), cleaned.get("password")
        if not username:
            return cleaned
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is None and not password:
            self.add_error("username", f"There is no user named {username}. Enter a password to create one.")
        elif user is not None and password:
            self.add_error("password", f"{username} already exists; leave the password empty to add them.")
        elif user is not None and Membership.objects.filter(tenant=self.tenant, user=user).exists():
            self.add_error("username", f"{username} is already a member of this tenant.")
        elif user is None:
            try:
                password_validation.validate_password(password, User(username=username))
            except forms.ValidationError as exc:
                self.add_error("password", exc)
        cleaned["username"], cleaned["user"] = username, user
        return cleaned

    def save(self):
        user = self.cleaned_data["user"]
        created = user is None
        if created:
            data = self.cleaned_data
            user = get_user_model().objects.create_user(data["username"], password=data["password"])
        membership = Membership.objects.create(tenant=self.tenant, user=user, role=self.cleaned_data["role"])
        return membership, created


@staff_view
def tenant_list(request):
    tenants = Tenant.objects.annotate(
        members=Count("memberships", distinct=True), keys=Count("api_keys", distinct=True)
    )
    return render(request, "accounts/staff/tenant_list.html", {"tenants": tenants, "nav": "tenants"})


@staff_view
def tenant_new(request):
    form = TenantForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        tenant = form.save()
        opening = form.cleaned_data["opening_balance"]
        if opening:
            services.topup(tenant, opening, note="opening balance", user=request.user)
        record(request, "tenant.created", tenant.name, display_name=tenant.display_name, opening_balance=opening or 0)
        messages.success(request, f"Tenant {tenant.name} created. Add a member so someone can sign in.")
        return redirect("staff-tenant", name=tenant.name)
    return render(request, "accounts/staff/tenant_form.html", {"form": form, "nav": "tenants"})


def _detail(request, tenant, *, money_form=None, member_form=None, limits_form=None):
    tenant.refresh_from_db(fields=["balance"])
    context = {
        "tenant": tenant,
        "money_form": money_form or MoneyForm(),
        "limits_form": limits_form or LimitsForm(instance=tenant),
        "member_form": member_form or MemberForm(tenant=tenant),
        "memberships": tenant.memberships.select_related("user").order_by("user__username"),
        "roles": Membership.Role.choices,
        "keys": tenant.api_keys.all(),
        "webhooks": WebhookEndpoint.objects.for_tenant(tenant),
        "ledger": paginate(request, tenant.ledger.select_related("created_by", "task")),
        "nav": "tenants",
    }
    return render(request, "accounts/staff/tenant_detail.html", context)


@staff_view
def tenant_detail(request, name):
    return _detail(request, get_object_or_404(Tenant, name=name))


@staff_view
@require_POST
def tenant_money(request, name):
    tenant = get_object_or_404(Tenant, name=name)
    form = MoneyForm(request.POST)
    if form.is_valid():
        amount, note = form.cleaned_data["amount"], form.cleaned_data["note"]
        try:
            if form.cleaned_data["direction"] == MoneyForm.TOPUP:
                entry = services.topup(tenant, amount, note=note, user=request.user)
            else:
                entry = services.adjust(tenant, -amount, note=note, user=request.user)
        except services.InsufficientBalance:
            tenant.refresh_from_db(fields=["balance"])
            form.add_error(
                "amount",
                f"The balance is {services.format_units(tenant.balance)}; "
                f"a debit of {services.format_units(amount)} would overdraw it.",
            )
        else:
            record(request, f"tenant.{entry.kind}", tenant.name, amount=entry.amount, note=note)
            messages.success(
                request,
                f"{'Added' if entry.amount > 0 else 'Debited'} {services.format_units(abs(entry.amount))}; "
                f"the balance is now {services.format_units(entry.balance_after)}.",
            )
            return redirect("staff-tenant", name=tenant.name)
    return _detail(request, tenant, money_form=form)


@staff_view
@require_POST
def tenant_limits(request, name):
    tenant = get_object_or_404(Tenant, name=name)
    form = LimitsForm(request.POST, instance=tenant)
    if not form.is_valid():
        return _detail(request, tenant, limits_form=form)
    form.save()
    record(request, "tenant.rate_limits", tenant.name, **form.cleaned_data)
    messages.success(request, f"Rate limits of {tenant.name} saved.")
    return redirect("staff-tenant", name=tenant.name)


@staff_view
@require_POST
def key_limits(request, name, pk):
    api_key = get_object_or_404(ApiKey, tenant__name=name, pk=pk)
    form = KeyLimitsForm(request.POST, instance=api_key)
    if form.is_valid():
        form.save()
        record(request, "key.rate_limits", name, key=api_key.masked, **form.cleaned_data)
        messages.success(request, f"Rate limits of key {api_key.masked} saved.")
    else:
        messages.error(request, "Rate limits must be whole numbers of at least 1, or blank for unlimited.")
    return redirect("staff-tenant", name=name)


@staff_view
@require_POST
def member_add(request, name):
    tenant = get_object_or_404(Tenant, name=name)
    form = MemberForm(request.POST, tenant=tenant)
    if not form.is_valid():
        return _detail(request, tenant, member_form=form)
    membership, created = form.save()
    record(request, "member.added", tenant.name, user=membership.user.username, role=membership.role, new_user=created)
    role = membership.get_role_display().lower()
    messages.success(request, f"{membership.user.username} {'created and ' if created else ''}added as {role}.")
    return redirect("staff-tenant", name=tenant.name)


@staff_view
@require_POST
def member_role(request, name, pk):
    membership = get_object_or_404(Membership.objects.select_related("tenant", "user"), pk=pk, tenant__name=name)
    role = request.POST.get("role")
    if role not in Membership.Role.values:
        messages.error(request, "Choose a role from the list.")
    elif role != membership.role:
        change = {"from": membership.role, "to": role}
        record(request, "member.role_changed", name, user=membership.user.username, **change)
        membership.role = role
        membership.save(update_fields=["role"])
        messages.success(request, f"{membership.user.username} is now {membership.get_role_display().lower()}.")
    return redirect("staff-tenant", name=name)


@staff_view
@require_POST
def member_remove(request, name, pk):
    membership = get_object_or_404(Membership.objects.select_related("user"), pk=pk, tenant__name=name)
    membership.delete()
    record(request, "member.removed", name, user=membership.user.username, role=membership.role)
    messages.success(request, f"{membership.user.username} removed from {name}; the user account remains.")
    return redirect("staff-tenant", name=name)


@staff_view
@require_POST
def key_revoke(request, name, pk):
    api_key = get_object_or_404(ApiKey, pk=pk, tenant__name=name)
    if api_key.revoked_at is None:
        services.revoke_key(api_key)
        record(request, "key.revoked", name, key=api_key.masked, key_name=api_key.name)
        messages.success(request, f"Key {api_key.masked} revoked; it stops working immediately.")
    return redirect("staff-tenant", name=name)


# --- webhook endpoints of any tenant (the same flows as the tenant's own pages) ---------------


def _endpoint(name, public_id):
    return get_object_or_404(WebhookEndpoint.objects.select_related("tenant"), public_id=public_id, tenant__name=name)


@staff_view
@never_cache
def webhook_create(request, name):
    tenant = get_object_or_404(Tenant, name=name)
    back = reverse("staff-tenant", args=[name])
    return views.endpoint_create(request, tenant, back=back, nav="tenants", audit=True)


@staff_view
def webhook_edit(request, name, public_id):
    back = reverse("staff-tenant", args=[name])
    return views.endpoint_edit(request, _endpoint(name, public_id), back=back, nav="tenants", audit=True)


@staff_view
@never_cache
def webhook_rotate(request, name, public_id):
    back = reverse("staff-tenant", args=[name])
    return views.endpoint_rotate(request, _endpoint(name, public_id), back=back, nav="tenants", audit=True)


@staff_view
def webhook_delete(request, name, public_id):
    back = reverse("staff-tenant", args=[name])
    return views.endpoint_delete(request, _endpoint(name, public_id), back=back, nav="tenants", audit=True)


# --- audit log and the staff home ----------------------------------------------------


@staff_view
def audit_log(request):
    entries = AuditEntry.objects.select_related("user")
    query = request.GET.get("q", "").strip()
    if query:
        entries = entries.filter(Q(target__icontains=query) | Q(action__icontains=query))
    page = paginate(request, entries)
    return render(request, "accounts/staff/audit_log.html", {"page": page, "query": query, "nav": "audit"})


@staff_view
@never_cache
def lockouts(request):
    """Sign-in locks in force (accounts/throttle.py), each with a button that clears it."""
    if request.method == "POST":
        username = request.POST.get("username")  # absent: an address lock
        ip = request.POST.get("ip") or None
        forgotten = throttle.unlock(username, ip)
        target = f"{username} from {ip or 'an unknown address'}" if username is not None else f"address {ip}"
        record(request, "login.unlocked", target, username=username, ip=ip, failures=forgotten)
        messages.success(request, f"Sign-in lock cleared for {target}.")
        return redirect("staff-lockouts")
    context = {"locks": throttle.locks(), "window": int(throttle.WINDOW.total_seconds() // 60), "nav": "lockouts"}
    return render(request, "accounts/staff/lockouts.html", context)


@staff_view
def staff_home(request):
    return redirect("staff-channels")
