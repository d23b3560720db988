"""Operator pages (staff only) about accounts: tenants (suspension, balances, members, keys),
users (disable, password reset), the ledger and the audit log.

Money only moves through accounts.services (topup / adjust), which write the ledger row;
every change here also leaves an audit entry.
"""

import secrets

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model, password_validation
from django.db.models import Count, Prefetch, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from . import services, throttle, views
from .dashboard import paginate, record, staff_view
from .forms import UsdField
from .models import ApiKey, AuditEntry, Membership, Tenant, WebhookEndpoint

DISPLAY_NAME_HELP = gettext_lazy("How the tenant is shown on the pages; blank: its short id.")


class TenantForm(forms.ModelForm):
    opening_balance = UsdField(
        label=gettext_lazy("Opening balance (USD)"),
        required=False,
        help_text=gettext_lazy("Credited as a top-up; blank or 0 for none."),
    )

    class Meta:
        model = Tenant
        fields = ["name", "display_name"]
        labels = {"name": gettext_lazy("Name"), "display_name": gettext_lazy("Display name")}
        help_texts = {
            "name": gettext_lazy("Short id: letters, digits, '-' and '_'."),
            "display_name": DISPLAY_NAME_HELP,
        }


class DisplayNameForm(forms.ModelForm):
    class Meta:
        model = Tenant
        fields = ["display_name"]
        labels = {"display_name": gettext_lazy("Display name")}
        help_texts = {"display_name": DISPLAY_NAME_HELP}


class SuspendForm(forms.Form):
    reason = forms.CharField(
        max_length=300,
        required=False,
        label=gettext_lazy("Reason"),
        help_text=gettext_lazy("Optional; kept in the audit log."),
    )


class MoneyForm(forms.Form):
    TOPUP, DEBIT = "topup", "debit"

    direction = forms.ChoiceField(
        choices=[(TOPUP, gettext_lazy("Top up (add credit)")), (DEBIT, gettext_lazy("Debit (take credit away)"))],
        initial=TOPUP,
        label=gettext_lazy("Action"),
    )
    amount = UsdField(label=gettext_lazy("Amount (USD)"))
    # Required (the input carries the ``required`` attribute); the label says so too.
    note = forms.CharField(
        max_length=300,
        label=gettext_lazy("Note (required)"),
        help_text=gettext_lazy("Why; shown in the balance history."),
    )

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        if amount <= 0:
            raise forms.ValidationError(_("Enter an amount above zero."))
        return amount


class LimitsForm(forms.ModelForm):
    """A tenant's rate limits over all its keys (videos/limits.py); blank: unlimited."""

    class Meta:
        model = Tenant
        fields = ["rpm_limit", "max_in_flight"]
        labels = {
            "rpm_limit": gettext_lazy("Creates per minute"),
            "max_in_flight": gettext_lazy("Videos in progress at once"),
        }


class KeyLimitsForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["rpm_limit", "max_in_flight"]


class MemberForm(forms.Form):
    username = forms.CharField(
        max_length=150,
        label=gettext_lazy("Username"),
        help_text=gettext_lazy("An existing user, or a new one when a password is given."),
    )
    role = forms.ChoiceField(
        choices=Membership.Role.choices, initial=Membership.Role.MEMBER, label=gettext_lazy("Role")
    )
    password = forms.CharField(
        required=False,
        strip=False,
        label=gettext_lazy("Password"),
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=gettext_lazy("Only for a new user; leave empty to add an existing one."),
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
        names = {"username": username}
        if user is None and not password:
            self.add_error(
                "username", _("There is no user named %(username)s. Enter a password to create one.") % names
            )
        elif user is not None and password:
            self.add_error("password", _("%(username)s already exists; leave the password empty to add them.") % names)
        elif user is not None and Membership.objects.filter(tenant=self.tenant, user=user).exists():
            self.add_error("username", _("%(username)s is already a member of this tenant.") % names)
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
        messages.success(
            request, _("Tenant %(name)s created. Add a member so someone can sign in.") % {"name": tenant.name}
        )
        return redirect("staff-tenant", name=tenant.name)
    return render(request, "accounts/staff/tenant_form.html", {"form": form, "nav": "tenants"})


def _detail(request, tenant, *, money_form=None, member_form=None, limits_form=None, name_form=None):
    tenant.refresh_from_db(fields=["balance"])
    context = {
        "tenant": tenant,
        "money_form": money_form or MoneyForm(),
        "limits_form": limits_form or LimitsForm(instance=tenant),
        "member_form": member_form or MemberForm(tenant=tenant),
        "name_form": name_form or DisplayNameForm(instance=tenant),
        "suspend_form": SuspendForm(),
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
            amounts = {"balance": services.format_units(tenant.balance), "amount": services.format_units(amount)}
            form.add_error(
                "amount", _("The balance is %(balance)s; a debit of %(amount)s would overdraw it.") % amounts
            )
        else:
            record(request, f"tenant.{entry.kind}", tenant.name, amount=entry.amount, note=note)
            amounts = {
                "amount": services.format_units(abs(entry.amount)),
                "balance": services.format_units(entry.balance_after),
            }
            if entry.amount > 0:
                done = _("Added %(amount)s; the balance is now %(balance)s.") % amounts
            else:
                done = _("Debited %(amount)s; the balance is now %(balance)s.") % amounts
            messages.success(request, done)
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
    messages.success(request, _("Rate limits of %(name)s saved.") % {"name": tenant.name})
    return redirect("staff-tenant", name=tenant.name)


@staff_view
@require_POST
def tenant_rename(request, name):
    """The display name; the short id (``name``) is in URLs and the audit log, so it stays."""
    tenant = get_object_or_404(Tenant, name=name)
    before = tenant.display_name
    form = DisplayNameForm(request.POST, instance=tenant)
    if not form.is_valid():
        return _detail(request, tenant, name_form=form)
    if form.has_changed():
        form.save()
        record(request, "tenant.renamed", tenant.name, **{"from": before, "to": tenant.display_name})
        messages.success(request, _("Display name of %(name)s saved.") % {"name": tenant.name})
    return redirect("staff-tenant", name=tenant.name)


@staff_view
@require_POST
def tenant_suspend(request, name):
    """Suspend: the tenant's keys are refused with 403 (accounts/auth.py) and its members' pages
    become read-only (accounts.dashboard.writer_required). Nothing else changes: balance, keys,
    members and tasks in flight stay as they are, so resuming restores everything."""
    tenant = get_object_or_404(Tenant, name=name)
    form = SuspendForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("The reason may be at most 300 characters."))
        return redirect("staff-tenant", name=tenant.name)
    reason = form.cleaned_data["reason"].strip()
    if Tenant.objects.filter(pk=tenant.pk, is_active=True).update(is_active=False):
        record(request, "tenant.suspended", tenant.name, reason=reason)
        messages.success(
            request,
            _("%(name)s is suspended: its API keys are refused and its pages are read-only.") % {"name": tenant.name},
        )
    return redirect("staff-tenant", name=tenant.name)


@staff_view
@require_POST
def tenant_resume(request, name):
    tenant = get_object_or_404(Tenant, name=name)
    if Tenant.objects.filter(pk=tenant.pk, is_active=False).update(is_active=True):
        record(request, "tenant.resumed", tenant.name)
        messages.success(request, _("%(name)s is active again: its keys and pages work as before.") % {"name": name})
    return redirect("staff-tenant", name=tenant.name)


@staff_view
@require_POST
def key_limits(request, name, pk):
    api_key = get_object_or_404(ApiKey, tenant__name=name, pk=pk)
    form = KeyLimitsForm(request.POST, instance=api_key)
    if form.is_valid():
        form.save()
        record(request, "key.rate_limits", name, key=api_key.masked, **form.cleaned_data)
        messages.success(request, _("Rate limits of key %(key)s saved.") % {"key": api_key.masked})
    else:
        messages.error(request, _("Rate limits must be whole numbers of at least 1, or blank for unlimited."))
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
    names = {"username": membership.user.username, "role": membership.get_role_display()}
    if created:
        messages.success(request, _("%(username)s created and added with the role %(role)s.") % names)
    else:
        messages.success(request, _("%(username)s added with the role %(role)s.") % names)
    return redirect("staff-tenant", name=tenant.name)


@staff_view
@require_POST
def member_role(request, name, pk):
    membership = get_object_or_404(Membership.objects.select_related("tenant", "user"), pk=pk, tenant__name=name)
    role = request.POST.get("role")
    if role not in Membership.Role.values:
        messages.error(request, _("Choose a role from the list."))
    elif role != membership.role:
        change = {"from": membership.role, "to": role}
        record(request, "member.role_changed", name, user=membership.user.username, **change)
        membership.role = role
        membership.save(update_fields=["role"])
        names = {"username": membership.user.username, "role": membership.get_role_display()}
        messages.success(request, _("%(username)s now has the role %(role)s.") % names)
    return redirect("staff-tenant", name=name)


@staff_view
@require_POST
def member_remove(request, name, pk):
    membership = get_object_or_404(Membership.objects.select_related("user"), pk=pk, tenant__name=name)
    membership.delete()
    record(request, "member.removed", name, user=membership.user.username, role=membership.role)
    names = {"username": membership.user.username, "name": name}
    messages.success(request, _("%(username)s removed from %(name)s; the user account remains.") % names)
    return redirect("staff-tenant", name=name)


@staff_view
@require_POST
def key_revoke(request, name, pk):
    api_key = get_object_or_404(ApiKey, pk=pk, tenant__name=name)
    if api_key.revoked_at is None:
        services.revoke_key(api_key)
        record(request, "key.revoked", name, key=api_key.masked, key_name=api_key.name)
        messages.success(request, _("Key %(key)s revoked; it stops working immediately.") % {"key": api_key.masked})
    return redirect("staff-tenant", name=name)


# --- webhook endpoints of any tenant (the same flows as the tenant's own pages) ---------------


def _endpoint(name, public_id):
    return get_object_or_404(WebhookEndpoint.objects.select_related("tenant"), public_id=public_id, tenant__name=name)


@staff_view
@never_cache
def webhook_create(request, name):
    tenant = get_object_or_404(Tenant, name=name)
    back = reverse("staff-tenant", args=[name])
    return views.endpoint_create(request, tenant, back=back, nav="tenants", shown=_secret_url, audit=True)


def _secret_url(endpoint):
    return reverse("staff-webhook-secret", args=[endpoint.tenant.name, endpoint.public_id])


@staff_view
@require_safe
@never_cache
def webhook_secret(request, name, public_id):
    back = reverse("staff-tenant", args=[name])
    rotate_url = reverse("staff-webhook-rotate", args=[name, public_id])
    endpoint = _endpoint(name, public_id)
    return views.endpoint_secret(request, endpoint, back=back, nav="tenants", rotate_url=rotate_url)


@staff_view
def webhook_edit(request, name, public_id):
    back = reverse("staff-tenant", args=[name])
    return views.endpoint_edit(request, _endpoint(name, public_id), back=back, nav="tenants", audit=True)


@staff_view
@never_cache
def webhook_rotate(request, name, public_id):
    back = reverse("staff-tenant", args=[name])
    endpoint = _endpoint(name, public_id)
    return views.endpoint_rotate(request, endpoint, back=back, nav="tenants", shown=_secret_url, audit=True)


@staff_view
def webhook_delete(request, name, public_id):
    back = reverse("staff-tenant", args=[name])
    return views.endpoint_delete(request, _endpoint(name, public_id), back=back, nav="tenants", audit=True)


# --- users: who belongs where, disable / enable, password reset ---------------------------

NEW_PASSWORD = "staff_new_password"  # session key: a generated password until its page shows it once


def _other_user(request, username):
    """The user ``username``; staff cannot disable or reset themselves here (404 for an unknown name)."""
    user = get_object_or_404(get_user_model(), username=username)
    return None if user.pk == request.user.pk else user


@staff_view
@require_safe
def user_list(request):
    """Every user with their tenants and roles, staff flag, last sign-in and whether they may sign in."""
    roles = Membership.objects.select_related("tenant").order_by("tenant__name")
    users = get_user_model().objects.prefetch_related(Prefetch("memberships", queryset=roles)).order_by("username")
    query = request.GET.get("q", "").strip()
    if query:
        users = users.filter(Q(username__icontains=query) | Q(email__icontains=query))
    page = paginate(request, users)
    return render(request, "accounts/staff/user_list.html", {"page": page, "query": query, "nav": "users"})


@staff_view
@require_POST
def user_active(request, username):
    """Disable (``active=0``) or enable (``active=1``) a user. A disabled user cannot sign in, and
    their open sessions end at their next request (Django's ModelBackend refuses inactive users)."""
    user = _other_user(request, username)
    if user is None:
        messages.error(request, _("You cannot disable your own account."))
        return redirect("staff-users")
    active = request.POST.get("active") == "1"
    if user.is_active != active:
        user.is_active = active
        user.save(update_fields=["is_active"])
        record(request, "user.enabled" if active else "user.disabled", user.get_username())
        names = {"username": user.get_username()}
        if active:
            messages.success(request, _("%(username)s can sign in again.") % names)
        else:
            messages.success(request, _("%(username)s is disabled and signed out everywhere.") % names)
    return redirect("staff-users")


@staff_view
@require_POST
def user_password(request, username):
    """Set a generated password and show it once (post/redirect/get: a reload does not reset again).
    Changing the password also ends the user's open sessions."""
    user = _other_user(request, username)
    if user is None:
        messages.error(request, _("Change your own password with “Change password”."))
        return redirect("staff-users")
    password = secrets.token_urlsafe(12)
    user.set_password(password)
    user.save(update_fields=["password"])
    record(request, "user.password_reset", user.get_username())
    request.session[NEW_PASSWORD] = {"username": user.get_username(), "password": password}
    return redirect("staff-user-new-password")


@staff_view
@never_cache
@require_safe
def user_new_password(request):
    """The generated password, once: taken out of the session as it is shown."""
    shown = request.session.pop(NEW_PASSWORD, None)
    return render(request, "accounts/staff/user_password.html", {"shown": shown, "nav": "users"})


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
        # The audit target stays English (the log is read by operators and searched by text).
        target = f"{username} from {ip or 'an unknown address'}" if username is not None else f"address {ip}"
        record(request, "login.unlocked", target, username=username, ip=ip, failures=forgotten)
        if username is None:
            cleared = _("Sign-in lock cleared for address %(ip)s.") % {"ip": ip}
        else:
            names = {"username": username, "ip": ip or _("an unknown address")}
            cleared = _("Sign-in lock cleared for %(username)s from %(ip)s.") % names
        messages.success(request, cleared)
        return redirect("staff-lockouts")
    context = {"locks": throttle.locks(), "window": int(throttle.WINDOW.total_seconds() // 60), "nav": "lockouts"}
    return render(request, "accounts/staff/lockouts.html", context)


@staff_view
def staff_home(request):
    return redirect("staff-overview")
