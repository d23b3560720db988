from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from . import charts, services, usage
from .dashboard import SESSION_TENANT, ThrottledLoginForm, memberships, tenant_view, writer_required
from .forms import KeyForm, PeriodForm
from .models import ApiKey
from .services import format_units


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


# --- Usage ---------------------------------------------------------------------------------

LEDGER_PAGE_SIZE = 25


def _money(value):
    return format_units(int(value))


def _seconds(value):
    return f"{value:g} s"


def _charts(period, daily, models, keys):
    """The usage page's four SVG charts from the already grouped rows."""
    names = sorted({row["model"] for row in daily})
    index = {day: i for i, day in enumerate(period.days)}
    spend = {name: [0] * len(index) for name in names}
    seconds = {name: [0] * len(index) for name in names}
    for row in daily:
        spend[row["model"]][index[row["day"]]] = row["spend"]
        seconds[row["model"]][index[row["day"]]] = row["seconds"]
    full = [day.strftime("%a %d %b %Y") for day in period.days]
    short = [day.strftime("%d %b") for day in period.days]
    span = f"{period.first:%d %b %Y} to {period.last:%d %b %Y}"
    return {
        "spend_per_day": charts.stacked_bars(
            f"Spend per day by model, {span}", full, list(spend.items()), _money, tick_labels=short
        ),
        "seconds_per_day": charts.stacked_bars(
            f"Seconds generated per day by model, {span}", full, list(seconds.items()), _seconds, tick_labels=short
        ),
        "spend_per_model": charts.horizontal_bars(
            f"Spend per model, {span}",
            [(row["model"], row["spend"]) for row in models],
            _money,
            colours={name: i for i, name in enumerate(names)},
        ),
        "spend_per_key": charts.horizontal_bars(
            f"Spend per key, {span}", [(usage.key_label(row), row["spend"]) for row in keys], _money
        ),
    }


@tenant_view
@require_safe
def usage_page(request):
    form = PeriodForm(request.GET)
    period = form.chosen()
    daily = usage.daily_by_model(request.tenant, period)
    models = usage.by_model(request.tenant, period)
    keys = usage.by_key(request.tenant, period)
    ledger = Paginator(
        usage.ledger_in(request.tenant, period).select_related("task", "api_key"), LEDGER_PAGE_SIZE
    ).get_page(request.GET.get("page"))
    return render(
        request,
        "accounts/usage.html",
        {
            "nav": "usage",
            "form": form,
            "period": period,
            "models": models,
            "keys": keys,
            "totals": usage.totals(models),
            "ledger": ledger,
            "charts": _charts(period, daily, models, keys) if models else None,
        },
    )


def _csv_response(rows, name, period):
    response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}-{period.first}-{period.last}.csv"'
    return response


@tenant_view
@require_safe
def usage_tasks_csv(request):
    period = PeriodForm(request.GET).chosen()
    return _csv_response(usage.task_csv(request.tenant, period), f"{request.tenant.name}-tasks", period)


@tenant_view
@require_safe
def usage_ledger_csv(request):
    period = PeriodForm(request.GET).chosen()
    return _csv_response(usage.ledger_csv(request.tenant, period), f"{request.tenant.name}-ledger", period)
