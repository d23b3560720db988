from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from .dashboard import SESSION_TENANT, ThrottledLoginForm, memberships


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
