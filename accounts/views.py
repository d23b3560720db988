"""Tenant pages about accounts: sign-in, the tenant switcher and the member's API keys."""

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from . import services
from .dashboard import SESSION_TENANT, ThrottledLoginForm, memberships, tenant_view, writer_required
from .forms import KeyForm
from .models import ApiKey


class LoginView(auth_views.LoginView):
    form_class = ThrottledLoginForm
    redirect_authenticated_user = True


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
    return redirect(request.POST.get("next") or "home")


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
