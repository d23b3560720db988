"""Tenant pages about accounts: sign-in, the tenant switcher, the member's API keys and webhook
endpoints. The endpoint flows (create, edit, rotate, delete) serve the staff pages too.

A new key is shown once, by post/redirect/get: the create stashes its plaintext in the session
under the key's lookup and redirects to the key's "created" page, whose GET pops it. A reload of
that page finds nothing to show and says the key was already shown; it never makes another key.
"""

import json
import shlex

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from . import services
from .dashboard import SESSION_TENANT, ThrottledLoginForm, memberships, record, tenant_view, writer_required
from .forms import KeyForm, WebhookEndpointForm, known_models
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
        return redirect("staff-overview")
    raise Http404(_("You are not a member of any account yet; ask an administrator to add you."))


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

SESSION_NEW_KEYS = "new_keys"  # {lookup: plaintext} of keys created but not yet shown
SESSION_NEW_SECRETS = "new_webhook_secrets"  # {endpoint public id: {secret, rotated}} not yet shown


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
        record(request, "key.created", request.tenant.name, key=api_key.masked, **_audited_limits(form))
        # Held only until the redirect's GET pops it (key_created); never written anywhere else.
        request.session.setdefault(SESSION_NEW_KEYS, {})[api_key.lookup] = plaintext
        request.session.modified = True
        return redirect("key-created", lookup=api_key.lookup)
    return render(request, "accounts/key_form.html", {"nav": "keys", "form": form})


@tenant_view
@require_safe
@never_cache
def key_created(request, lookup):
    """The new key, once: the plaintext the create stashed is popped here; a reload shows it no more."""
    api_key = get_object_or_404(ApiKey.objects.for_tenant(request.tenant), lookup=lookup)
    plaintext = request.session.get(SESSION_NEW_KEYS, {}).pop(lookup, None)
    context = {"nav": "keys", "api_key": api_key, "plaintext": plaintext}
    if plaintext is not None:
        request.session.modified = True
        base_url = settings.GATEWAY_PUBLIC_URL or request.build_absolute_uri("/").rstrip("/")
        context.update(base_url=base_url, snippets=key_snippets(base_url, plaintext, _example_model(api_key)))
    return render(request, "accounts/key_created.html", context)


def key_snippets(base_url, plaintext, model):
    """Ready-to-copy calls with the key filled in: (id, title, code) for curl to the OpenAI route,
    the ``openai`` Python SDK, and curl to the unified (new-api) route."""
    header = shlex.quote(f"Authorization: Bearer {plaintext}")
    openai_body = shlex.quote(json.dumps({"model": model, "prompt": "a lighthouse at dusk", "seconds": "5"}))
    unified_body = shlex.quote(json.dumps({"model": model, "prompt": "a lighthouse at dusk", "duration": 5}))
    curl = (
        f"curl {base_url}/v1/videos \\\n  -H {header} \\\n  -H 'Content-Type: application/json' \\\n  -d {openai_body}"
    )
    sdk = (
        "from openai import OpenAI\n\n"
        f"client = OpenAI(base_url={base_url + '/v1'!r}, api_key={plaintext!r})\n"
        f"video = client.videos.create(model={model!r}, prompt='a lighthouse at dusk', seconds='5')\n"
        "print(video.id, video.status)"
    )
    unified = (
        f"curl {base_url}/v1/video/generations \\\n  -H {header} \\\n"
        f"  -H 'Content-Type: application/json' \\\n  -d {unified_body}"
    )
    return [
        ("snippet-curl", _("curl, OpenAI format (/v1/videos)"), curl),
        ("snippet-python", _("Python, the openai SDK"), sdk),
        ("snippet-unified", _("curl, unified new-api format (/v1/video/generations)"), unified),
    ]


def _example_model(api_key):
    """The model the snippets ask for: the server's default model, else one the key may use (the
    sandbox's "-fail" models fail on purpose, so they come last)."""
    default = settings.GATEWAY_DEFAULT_VIDEO_MODEL
    if default and (not api_key.allowed_models or default in api_key.allowed_models):
        return default
    names = sorted(api_key.allowed_models or known_models(), key=lambda name: (name.endswith("-fail"), name))
    return names[0] if names else "MODEL"


def _audited_limits(form, names=None):
    """The key form's fields as an audit entry's details (JSON: dates as ISO strings)."""
    limits = form.limits()
    return {
        name: value.isoformat() if hasattr(value, "isoformat") else value
        for name, value in limits.items()
        if names is None or name in names
    }


@writer_required
def key_edit(request, lookup):
    api_key = _tenant_key(request, lookup, usable=True)
    form = KeyForm(request.POST or None, api_key=api_key)
    if request.method == "POST" and form.is_valid():
        for name, value in form.limits().items():
            setattr(api_key, name, value)
        api_key.save(update_fields=list(form.limits()))
        if form.changed_data:
            changes = _audited_limits(form, form.changed_data)
            record(request, "key.changed", request.tenant.name, key=api_key.masked, **changes)
        messages.success(request, _("Saved the changes to “%(name)s”.") % {"name": api_key.name})
        return redirect("key-list")
    return render(request, "accounts/key_form.html", {"nav": "keys", "form": form, "api_key": api_key})


@writer_required
def key_revoke(request, lookup):
    api_key = _tenant_key(request, lookup, usable=True)
    if request.method == "POST":
        services.revoke_key(api_key)
        record(request, "key.revoked", request.tenant.name, key=api_key.masked, key_name=api_key.name)
        message = _("Revoked “%(name)s” (%(key)s). It no longer works.")
        messages.success(request, message % {"name": api_key.name, "key": api_key.masked})
        return redirect("key-list")
    return render(request, "accounts/key_revoke.html", {"nav": "keys", "api_key": api_key})


# --- Webhook endpoints ---------------------------------------------------------------------
# The flows below take the tenant and where to go back to, so the staff pages (staff.py) run the
# same ones for any tenant; ``audit`` records the operator's changes in the audit log.


def endpoint_create(request, tenant, *, back, nav, shown, audit=False):
    """``shown``: the URL of the page that shows a new endpoint's secret once, given the endpoint."""
    form = WebhookEndpointForm(request.POST or None, tenant=tenant)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        endpoint, secret = services.create_webhook_endpoint(
            tenant, url=data["url"], events=data["events"], description=data["description"]
        )
        if audit:
            record(request, "webhook.created", tenant.name, endpoint=endpoint.public_id, url=endpoint.url)
        return _show_secret_once(request, endpoint, secret, shown=shown)
    context = {"nav": nav, "form": form, "tenant": tenant, "back": back}
    return render(request, "accounts/webhook_form.html", context)


def endpoint_edit(request, endpoint, *, back, nav, audit=False):
    form = WebhookEndpointForm(request.POST or None, tenant=endpoint.tenant, endpoint=endpoint)
    if request.method == "POST" and form.is_valid():
        form.save()
        if audit:
            changes = {name: form.cleaned_data[name] for name in form.changed_data}
            record(request, "webhook.changed", endpoint.tenant.name, endpoint=endpoint.public_id, **changes)
        messages.success(request, _("Saved the changes to the endpoint %(url)s.") % {"url": endpoint.url})
        return redirect(back)
    context = {"nav": nav, "form": form, "tenant": endpoint.tenant, "endpoint": endpoint, "back": back}
    return render(request, "accounts/webhook_form.html", context)


def endpoint_rotate(request, endpoint, *, back, nav, shown, audit=False):
    if request.method == "POST":
        secret = services.rotate_webhook_secret(endpoint)
        if audit:
            record(request, "webhook.secret_rotated", endpoint.tenant.name, endpoint=endpoint.public_id)
        return _show_secret_once(request, endpoint, secret, shown=shown, rotated=True)
    context = {"nav": nav, "endpoint": endpoint, "back": back, "action": "rotate"}
    return render(request, "accounts/webhook_confirm.html", context)


def endpoint_delete(request, endpoint, *, back, nav, audit=False):
    if request.method == "POST":
        endpoint.delete()
        if audit:
            record(request, "webhook.deleted", endpoint.tenant.name, endpoint=endpoint.public_id, url=endpoint.url)
        messages.success(request, _("Deleted the endpoint %(url)s and its delivery log.") % {"url": endpoint.url})
        return redirect(back)
    context = {"nav": nav, "endpoint": endpoint, "back": back, "action": "delete"}
    return render(request, "accounts/webhook_confirm.html", context)


def _show_secret_once(request, endpoint, secret, *, shown, rotated=False):
    """Post/redirect/get: the secret waits in the session only until endpoint_secret() pops it, so a
    reload neither makes another endpoint nor rotates again, and shows the secret no more."""
    request.session.setdefault(SESSION_NEW_SECRETS, {})[endpoint.public_id] = {"secret": secret, "rotated": rotated}
    request.session.modified = True
    return redirect(shown(endpoint))


def endpoint_secret(request, endpoint, *, back, nav, rotate_url):
    """A new or rotated signing secret, once."""
    stash = request.session.get(SESSION_NEW_SECRETS, {}).pop(endpoint.public_id, None)
    if stash is not None:
        request.session.modified = True
    context = {
        "nav": nav,
        "endpoint": endpoint,
        "secret": stash["secret"] if stash else None,
        "rotated": bool(stash and stash["rotated"]),
        "back": back,
        "rotate_url": rotate_url,
    }
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
    return endpoint_create(request, request.tenant, back=reverse("webhook-list"), nav="webhooks", shown=_secret_url)


def _secret_url(endpoint):
    return reverse("webhook-secret", args=[endpoint.public_id])


@tenant_view
@require_safe
@never_cache
def webhook_secret(request, public_id):
    endpoint = _tenant_endpoint(request, public_id)
    rotate_url = reverse("webhook-rotate", args=[public_id]) if request.membership.can_write else None
    return endpoint_secret(request, endpoint, back=reverse("webhook-list"), nav="webhooks", rotate_url=rotate_url)


@writer_required
def webhook_edit(request, public_id):
    endpoint = _tenant_endpoint(request, public_id)
    return endpoint_edit(request, endpoint, back=reverse("webhook-list"), nav="webhooks")


@writer_required
@never_cache
def webhook_rotate(request, public_id):
    endpoint = _tenant_endpoint(request, public_id)
    return endpoint_rotate(request, endpoint, back=reverse("webhook-list"), nav="webhooks", shown=_secret_url)


@writer_required
def webhook_delete(request, public_id):
    endpoint = _tenant_endpoint(request, public_id)
    return endpoint_delete(request, endpoint, back=reverse("webhook-list"), nav="webhooks")
