"""Tenant pages about accounts: sign-in, the tenant switcher, the member's API keys and webhook
endpoints. The endpoint flows (create, edit, rotate, delete) serve the staff pages too."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from . import services
from .dashboard import SESSION_TENANT, ThrottledLoginForm, memberships, record, tenant_view, writer_required
from .forms import KeyForm, WebhookEndpointForm
from .models import ApiKey, WebhookEndpoint


class LoginView(auth_views.LoginView):
    form_class = ThrottledLoginForm
    redirect_authenticated_user = True

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.throttled:
            response.status_code = 429  # Too Many Requests; the page says why and for how long
        return response


@login_required
def home(request):
    if memberships(request.user).exists():
        return redirect("task-list")
    if request.user.is_staff:
        return redirect("staff-channels")
    raise Http404("You are not a member of any account yet; ask an administrator to add you.")


@login_required
@require_POST
def switch_tenant(request):
    membership = memberships(request.user).filter(tenant__name=request.POST.get("tenant")).first()
    if membership is None:
        raise Http404
    request.session[SESSION_TENANT] = membership.tenant_id
    target = request.POST.get("next", "")
    # Only a path on this site: never an absolute or scheme-relative URL (an open redirect).
    if not target.startswith("/") or not url_has_allowed_host_and_scheme(
        target, allowed_hosts=None, require_https=request.is_secure()
    ):
        target = "home"
    return redirect(target)


# --- API keys ------------------------------------------------------------------------------


def _tenant_key(request, lookup, *, usable=False):
    keys = ApiKey.objects.for_tenant(request.tenant)
    if usable:
        keys = keys.filter(enabled=True, revoked_at__isnull=True)
    return get_object_or_404(keys, lookup=lookup)


@tenant_view
@require_safe
def key_list(request):
    keys = ApiKey.objects.for_tenant(request.tenant).order_by("-enabled", "-created_at")
    return render(request, "accounts/key_list.html", {"nav": "keys", "keys": keys})


@writer_required
@never_cache
def key_create(request):
    form = KeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        api_key, plaintext = services.issue_key(request.tenant, created_by=request.user, **form.limits())
        # Rendered straight from this POST: the plaintext is never stored, not even in the session.
        return render(request, "accounts/key_created.html", {"nav": "keys", "api_key": api_key, "plaintext": plaintext})
    return render(request, "accounts/key_form.html", {"nav": "keys", "form": form})


@writer_required
def key_edit(request, lookup):
    api_key = _tenant_key(request, lookup, usable=True)
    form = KeyForm(request.POST or None, api_key=api_key)
    if request.method == "POST" and form.is_valid():
        for name, value in form.limits().items():
            setattr(api_key, name, value)
        api_key.save(update_fields=list(form.limits()))
        messages.success(request, f"Saved the changes to “{api_key.name}”.")
        return redirect("key-list")
    return render(request, "accounts/key_form.html", {"nav": "keys", "form": form, "api_key": api_key})


@writer_required
def key_revoke(request, lookup):
    api_key = _tenant_key(request, lookup, usable=True)
    if request.method == "POST":
        services.revoke_key(api_key)
        messages.success(request, f"Revoked “{api_key.name}” ({api_key.masked}). It no longer works.")
        return redirect("key-list")
    return render(request, "accounts/key_revoke.html", {"nav": "keys", "api_key": api_key})


# --- Webhook endpoints ---------------------------------------------------------------------
# The flows below take the tenant and where to go back to, so the staff pages (staff.py) run the
# same ones for any tenant; ``audit`` records the operator's changes in the audit log.


def endpoint_create(request, tenant, *, back, nav, audit=False):
    form = WebhookEndpointForm(request.POST or None, tenant=tenant)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        endpoint, secret = services.create_webhook_endpoint(
            tenant, url=data["url"], events=data["events"], description=data["description"]
        )
        if audit:
            record(request, "webhook.created", tenant.name, endpoint=endpoint.public_id, url=endpoint.url)
        return _secret_page(request, endpoint, secret, back=back, nav=nav)
    context = {"nav": nav, "form": form, "tenant": tenant, "back": back}
    return render(request, "accounts/webhook_form.html", context)


def endpoint_edit(request, endpoint, *, back, nav, audit=False):
    form = WebhookEndpointForm(request.POST or None, tenant=endpoint.tenant, endpoint=endpoint)
    if request.method == "POST" and form.is_valid():
        form.save()
        if audit:
            changes = {name: form.cleaned_data[name] for name in form.changed_data}
            record(request, "webhook.changed", endpoint.tenant.name, endpoint=endpoint.public_id, **changes)
        messages.success(request, f"Saved the changes to the endpoint {endpoint.url}.")
        return redirect(back)
    context = {"nav": nav, "form": form, "tenant": endpoint.tenant, "endpoint": endpoint, "back": back}
    return render(request, "accounts/webhook_form.html", context)


def endpoint_rotate(request, endpoint, *, back, nav, audit=False):
    if request.method == "POST":
        secret = services.rotate_webhook_secret(endpoint)
        if audit:
            record(request, "webhook.secret_rotated", endpoint.tenant.name, endpoint=endpoint.public_id)
        return _secret_page(request, endpoint, secret, back=back, nav=nav, rotated=True)
    context = {"nav": nav, "endpoint": endpoint, "back": back, "action": "rotate"}
    return render(request, "accounts/webhook_confirm.html", context)


def endpoint_delete(request, endpoint, *, back, nav, audit=False):
    if request.method == "POST":
        endpoint.delete()
        if audit:
            record(request, "webhook.deleted", endpoint.tenant.name, endpoint=endpoint.public_id, url=endpoint.url)
        messages.success(request, f"Deleted the endpoint {endpoint.url} and its delivery log.")
        return redirect(back)
    context = {"nav": nav, "endpoint": endpoint, "back": back, "action": "delete"}
    return render(request, "accounts/webhook_confirm.html", context)


def _secret_page(request, endpoint, secret, *, back, nav, rotated=False):
    # Rendered straight from this POST: the secret is shown once and never put in the session.
    context = {"nav": nav, "endpoint": endpoint, "secret": secret, "back": back, "rotated": rotated}
    return render(request, "accounts/webhook_secret.html", context)


def _tenant_endpoint(request, public_id):
    return get_object_or_404(WebhookEndpoint.objects.for_tenant(request.tenant), public_id=public_id)


@tenant_view
@require_safe
def webhook_list(request):
    endpoints = WebhookEndpoint.objects.for_tenant(request.tenant)
    context = {"nav": "webhooks", "endpoints": endpoints, "retry_hours": settings.GATEWAY_WEBHOOK_RETRY_HOURS}
    return render(request, "accounts/webhook_list.html", context)


@writer_required
@never_cache
def webhook_create(request):
    return endpoint_create(request, request.tenant, back=reverse("webhook-list"), nav="webhooks")


@writer_required
def webhook_edit(request, public_id):
    endpoint = _tenant_endpoint(request, public_id)
    return endpoint_edit(request, endpoint, back=reverse("webhook-list"), nav="webhooks")


@writer_required
@never_cache
def webhook_rotate(request, public_id):
    endpoint = _tenant_endpoint(request, public_id)
    return endpoint_rotate(request, endpoint, back=reverse("webhook-list"), nav="webhooks")


@writer_required
def webhook_delete(request, public_id):
    endpoint = _tenant_endpoint(request, public_id)
    return endpoint_delete(request, endpoint, back=reverse("webhook-list"), nav="webhooks")
