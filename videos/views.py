"""Tenant pages about tasks: the history with filters (refreshing itself), one task with its timeline,
its video (play, download) and, for members who can write, Cancel while it runs and Retry once it
failed; the playground (a video submitted from the dashboard, with its price first); usage over a
period (spend, seconds, charts, CSV exports), and a webhook endpoint's delivery log (with resend
and a test event; the endpoints themselves are accounts pages).

Everything starts from ``VideoTask.objects.for_tenant``; another tenant's task is 404.
Vendor-side fields (vendor ids and status, result_url, the channel) are never rendered here.
"""

import json
import unicodedata
from operator import itemgetter
from urllib.parse import quote

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import F
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import truncatechars
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.http import RFC3986_SUBDELIMS
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST, require_safe

from accounts.dashboard import CursorPage, cursor_from, paginate, record, tenant_view, writer_required
from accounts.models import ApiKey, LedgerEntry, WebhookEndpoint
from accounts.templatetags.money import usd
from channels.adaptors.base import AdaptorError
from channels.canonical import RequestInvalid

from . import cancel, charts, content, retry, services, usage, webhooks
from .api.parsing import build_request
from .errors import GatewayError
from .forms import STATUS_CHOICES, PeriodForm, PlaygroundForm, TenantTaskFilterForm
from .models import VideoTask, WebhookEvent

PAGE_SIZE = 25
# The task list asks for its first page again this often (ms) while a task on it runs, and this
# often when none does, so new tasks appear by themselves (static/js/app.js, data-refresh-idle).
LIST_REFRESH_MS = 2000
LIST_IDLE_REFRESH_MS = 5000
# A frame a little into the video, as the poster of a <video> (a media fragment): without it a
# phone shows black until played.
POSTER_FRAGMENT = "#t=0.1"

# Our stable error codes, in words a customer understands; the stored message follows.
ERROR_EXPLANATIONS = {
    "vendor_failed": gettext_lazy("The video provider could not generate this video."),
    "content_moderation": gettext_lazy("The video provider refused the prompt or image under its content policy."),
    "deadline_exceeded": gettext_lazy("The video provider did not finish in time, so the task was stopped."),
    "vendor_timeout": gettext_lazy("The video provider did not answer in time when the task was submitted."),
    "vendor_unavailable": gettext_lazy("No video provider could take the request at that moment."),
    "vendor_rejected": gettext_lazy("The video provider refused the request's parameters."),
    "vendor_error": gettext_lazy("The video provider answered in a way the gateway did not understand."),
    "submit_interrupted": gettext_lazy("The gateway was interrupted while submitting the task."),
    "vendor_task_lost": gettext_lazy("The video provider no longer knew the task (it answered 'not found' twice)."),
    "result_undeliverable": gettext_lazy(
        "The video provider finished the video, but the gateway could not download it whole."
    ),
    "internal_error": gettext_lazy("The gateway failed while handling this task."),
    "image_download_failed": gettext_lazy("An input image could not be downloaded."),
    "cancelled": gettext_lazy("The task was cancelled before the video was made."),
}
UNKNOWN_ERROR = gettext_lazy("The task failed.")
REFUNDED = gettext_lazy("Nothing was charged: the hold was released.")


def explain_error(task):
    """A sentence for the task's error code (for failed and cancelled tasks), else an empty string."""
    if task.status not in (VideoTask.Status.FAILED, VideoTask.Status.CANCELLED):
        return ""
    return ERROR_EXPLANATIONS.get(task.error_code, UNKNOWN_ERROR)


def cursor_page(request, tasks, per_page, position=None):
    """One page of ``tasks`` (filtered, not ordered) newest first, at the request's cursor: one query
    for per_page + 1 rows (the extra one tells whether older rows follow), which the indexes on
    (…, created_at, id) answer by a range scan however deep the page. No count, no OFFSET.
    ``position``: how to read (created_at, id) off a row that is not a task (CursorPage.of)."""
    direction, cursor = cursor_from(request)
    if direction == "before":
        rows = list(tasks.past(*cursor).newest_first()[: per_page + 1])
        if rows:
            return CursorPage.of(rows[:per_page], has_newer=True, has_older=len(rows) > per_page, position=position)
    elif direction == "after":
        rows = list(tasks.past(*cursor, descending=False).newest_first(False)[: per_page + 1])
        if len(rows) > per_page:
            return CursorPage.of(rows[:per_page][::-1], has_newer=True, has_older=True, position=position)
        # Fewer newer rows than a page: they are the top of the list, shown as the newest page, whole.
    # No cursor (or one past the end of the list: rows deleted since, or a made-up one): the newest rows.
    rows = list(tasks.newest_first()[: per_page + 1])
    return CursorPage.of(rows[:per_page], has_newer=False, has_older=len(rows) > per_page, position=position)


# A row of the task list (templates/videos/_task_rows.html) is a dict of these columns, read without
# the rest of the task (its params, the vendor's state...), and the text made from them in _add_text().
ROW_COLUMNS = (
    *("id", "public_id", "prompt", "model", "status", "progress", "seconds"),
    *("amount_held", "amount_charged", "created_at"),
)
ROW_KEY_COLUMNS = {"key_name": F("api_key__name"), "key_lookup": F("api_key__lookup"), "key_last4": F("api_key__last4")}
STATUS_LABELS = dict(STATUS_CHOICES)
PROMPT_EXCERPT = 70  # characters


def _task_page(request):
    form = TenantTaskFilterForm(request.GET, tenant=request.tenant)
    tasks = form.filter(VideoTask.objects.for_tenant(request.tenant)).values(*ROW_COLUMNS, **ROW_KEY_COLUMNS)
    page = cursor_page(request, tasks, PAGE_SIZE, position=itemgetter("created_at", "id"))
    _add_text(page.object_list)
    return form, page


def _add_text(tasks):
    """Add to each task row (a dict) the text the list shows: the task page's URL (and its video's,
    for the thumbnail of a completed one), the prompt cut to PROMPT_EXCERPT characters, the status
    in words, the cost, the creation time. Made here, the same text as the template's url tag and
    filters made, at a fifth of what they cost per row."""
    head, tail = reverse("task-detail", args=["0"]).rsplit("0", 1)  # the URL of every task, around its id
    video_head, video_tail = reverse("task-video", args=["0"]).rsplit("0", 1)
    labels = {status: str(label) for status, label in STATUS_LABELS.items()}
    masked = {}
    for task in tasks:
        public_id = quote(task["public_id"], safe=RFC3986_SUBDELIMS + "/~:@")  # as reverse()
        task["url"] = head + public_id + tail
        task["prompt"] = _excerpt(task["prompt"])
        task["active"] = task["status"] in VideoTask.ACTIVE
        task["status_label"] = labels.get(task["status"], task["status"])
        if task["status"] == VideoTask.Status.COMPLETED:
            task["thumbnail_url"] = video_head + public_id + video_tail + POSTER_FRAGMENT
        if task["status"] == VideoTask.Status.COMPLETED:
            task["cost"] = usd(task["amount_charged"])
        else:
            task["cost"] = usd(task["amount_held"] if task["active"] else 0)  # held, or released: nothing
        lookup = task["key_lookup"]
        if lookup is not None and lookup not in masked:
            masked[lookup] = ApiKey(lookup=lookup, last4=task["key_last4"]).masked
        task["key_masked"] = masked.get(lookup)
        # The date filter's "c" and "Y-m-d H:i", in the current time zone.
        local = timezone.localtime(task["created_at"])
        task["created_iso"] = local.isoformat()
        task["created"] = f"{local.year:04d}-{local.month:02d}-{local.day:02d} {local.hour:02d}:{local.minute:02d}"


def _excerpt(prompt):
    """``prompt|truncatechars:PROMPT_EXCERPT``; a short prompt in NFC (what the filter returns it as)
    is returned without walking it."""
    if len(prompt) <= PROMPT_EXCERPT and unicodedata.is_normalized("NFC", prompt):
        return prompt
    return truncatechars(prompt, PROMPT_EXCERPT)


@tenant_view
@require_safe
def task_list(request):
    form, page = _task_page(request)
    return render(
        request,
        "videos/task_list.html",
        {
            "nav": "tasks",
            "form": form,
            "page": page,
            "filtered": any(request.GET.get(name) for name in form.fields),
            "refresh_ms": LIST_REFRESH_MS,
            # Only the first page can gain rows; an older page refreshes only while a task on it runs.
            "idle_refresh_ms": LIST_IDLE_REFRESH_MS if not page.newer else None,
        },
    )


@tenant_view
@require_safe
def task_rows(request):
    """The table body of the task list, for its live refresh."""
    form, page = _task_page(request)
    filtered = any(request.GET.get(name) for name in form.fields)
    return render(request, "videos/_task_rows.html", {"page": page, "filtered": filtered})


def _tenant_task(request, public_id):
    tasks = VideoTask.objects.for_tenant(request.tenant).select_related("api_key")
    return get_object_or_404(tasks, public_id=public_id)


def _live_context(request, task):
    can_write = request.membership.can_write
    return {
        "task": task,
        "status_label": STATUS_LABELS.get(task.status, task.status),
        "error_explanation": explain_error(task),
        "refunded": REFUNDED,
        "can_cancel": can_write and cancel.can_cancel(task),
        "can_retry": can_write and retry.can_retry(task),
        "stored": bool(task.result_file),
        "poster_fragment": POSTER_FRAGMENT,
        "asked_and_produced": _asked_and_produced(task),
    }


def _size_text(size):
    """ "1280x720" as "1280×720"; anything else as it is."""
    sides = str(size).lower().split("x")
    return "×".join(sides) if len(sides) == 2 and all(side.isdigit() for side in sides) else str(size)


def _seconds_text(value):
    return _("%(n)s s") % {"n": f"{value:g}" if isinstance(value, float) else value}


def _asked_and_produced(task):
    """What the task was asked to make and what it made: rows of (what, asked, produced), for the
    seconds, the picture size and the resolution tier. Asked: the request as submitted (the
    channel's plan, which is billed), with the client's own value where the plan changed it.
    Produced: what the stored MP4 measured (videos/delivery.py), or the seconds the vendor reported."""
    params = task.params
    requested = params.get("requested") or {}
    produced = params.get("produced") or {}

    def asked(name, text):
        planned = params.get(name)
        if planned in (None, ""):
            return None
        if requested.get(name) not in (None, planned):
            return _("%(planned)s (you asked for %(asked)s)") % {
                "planned": text(planned),
                "asked": text(requested[name]),
            }
        return text(planned)

    seconds = task.seconds_produced or produced.get("seconds")
    width, height = produced.get("width"), produced.get("height")
    rows = [
        (_("Duration"), asked("seconds", _seconds_text), _seconds_text(seconds) if seconds else None),
        (_("Size"), asked("size", _size_text), f"{width}×{height}" if width and height else None),
        (_("Resolution"), asked("resolution", str), f"{min(width, height)}p" if width and height else None),
    ]
    return [row for row in rows if row[1] or row[2]]


@tenant_view
@require_safe
def task_detail(request, public_id):
    task = _tenant_task(request, public_id)
    shown = {"requested", "produced"}  # in the "asked and produced" card
    params = [
        (name, value if isinstance(value, str | int | float) else json.dumps(value, ensure_ascii=False))
        for name, value in sorted(task.params.items())
        if name not in shown
    ]
    return render(
        request,
        "videos/task_detail.html",
        {
            "nav": "tasks",
            "params": params,
            "route_label": _("Dashboard playground")
            if task.route == VideoTask.Route.DASHBOARD
            else task.get_route_display(),
            **_live_context(request, task),
        },
    )


@tenant_view
@require_safe
def task_status(request, public_id):
    """The live part of the task page (status, progress, timeline, cost, video)."""
    task = _tenant_task(request, public_id)
    return render(request, "videos/_task_live.html", _live_context(request, task))


@writer_required
@require_POST
def task_cancel(request, public_id):
    """The task page's Cancel button: the API's cancel, told as a message (a 409 says why not)."""
    task = _tenant_task(request, public_id)
    try:
        cancel.cancel_task(task)
    except GatewayError as exc:
        messages.error(request, _("The task was not cancelled: %(reason)s") % {"reason": exc.message})
    else:
        record(request, "task.cancelled", task.public_id)
        messages.success(request, _("Task cancelled. %(refunded)s") % {"refunded": REFUNDED})
    return redirect("task-detail", public_id=task.public_id)


@writer_required
@require_POST
def task_retry(request, public_id):
    """The task page's Retry button (failed and cancelled tasks): the same request as a new task,
    with the same key, through the API's create (videos/retry.py). Opens the new task's page."""
    task = _tenant_task(request, public_id)
    try:
        new = retry.retry(task)
    except retry.CannotRetry as exc:
        messages.error(request, str(exc))
    except GatewayError as exc:
        messages.error(request, _("The task was not submitted again: %(reason)s") % {"reason": exc.message})
    else:
        record(request, "task.retried", new.public_id, source=task.public_id, key=task.api_key.masked)
        messages.success(
            request, _("Submitted again as a new task (the first one is %(id)s).") % {"id": task.public_id}
        )
        return redirect("task-detail", public_id=new.public_id)
    return redirect("task-detail", public_id=task.public_id)


@tenant_view
@require_safe
def task_video(request, public_id):
    """The video's bytes for the in-page player, with Range support; 404 until completed.
    ``?download=1``: the same bytes as an attachment (the Download button)."""
    task = _tenant_task(request, public_id)
    if task.status != VideoTask.Status.COMPLETED:
        raise Http404("The video is not ready.")
    try:
        response = content.respond(request, task)
    except (GatewayError, AdaptorError):
        return HttpResponse(_("The video is not available right now."), status=502, content_type="text/plain")
    if request.GET.get("download") and response.status_code in (200, 206):
        response["Content-Disposition"] = f'attachment; filename="{task.public_id}.mp4"'
    return response


# --- Playground ----------------------------------------------------------------------------

# The values of the playground's two submit buttons (templates/videos/playground.html, name="action").
PLAYGROUND_QUOTE, PLAYGROUND_CREATE = "quote", "create"
PLAYGROUND_ACTIONS = (PLAYGROUND_QUOTE, PLAYGROUND_CREATE)


def _playground_request(form):
    """The canonical request of a valid playground form, as the API dialects build it."""
    data = form.cleaned_data
    return build_request(data["model"], data["prompt"], form.fields_for_request())


@writer_required
def playground(request):
    """Submit a video from the dashboard. "Preview price" quotes it as ``POST /v1/videos/quote``
    does (videos.services.plan_request); "Generate" creates it as the API does (create_task, route
    "dashboard", with the key the member picked) and opens its task page, which plays it when done."""
    form = PlaygroundForm(request.POST or None, request.FILES or None, tenant=request.tenant)
    quote = None
    status = 200
    action = request.POST.get("action")
    if request.method == "POST" and action not in PLAYGROUND_ACTIONS:
        # Only the two buttons' values do anything: any other POST creates nothing and holds nothing.
        form.add_error(None, _("Choose Preview price or Generate video."))
        status = 400
    elif request.method == "POST" and form.is_valid():
        try:
            canonical = _playground_request(form)
            if action == PLAYGROUND_QUOTE:
                canonical, _candidates, plan, amount = services.plan_request(form.api_key, canonical)
                quote = {"amount": amount, "seconds": plan.seconds, "size": plan.size, "resolution": plan.resolution}
            else:
                task = services.create_task(api_key=form.api_key, request=canonical, route=VideoTask.Route.DASHBOARD)
                record(request, "task.created", task.public_id, key=form.api_key.masked, model=task.model)
                return redirect("task-detail", public_id=task.public_id)
        except RequestInvalid as exc:
            form.add_error(None, exc.message)
        except GatewayError as exc:
            form.add_error(None, exc.message)
    return render(
        request,
        "videos/playground.html",
        {"nav": "playground", "form": form, "quote": quote, "has_keys": bool(form.keys)},
        status=status,
    )


# --- Usage ---------------------------------------------------------------------------------

LEDGER_PAGE_SIZE = 25


def _money(value):
    return usd(int(value))


def _seconds(value):
    return _("%(n)s s") % {"n": f"{value:g}"}


def _charts(period, daily, models, keys):
    """The usage page's four SVG charts from the already grouped rows."""
    names = sorted({row["model"] for row in daily})
    index = {day: i for i, day in enumerate(period.days)}
    spend = {name: [0] * len(index) for name in names}
    seconds = {name: [0] * len(index) for name in names}
    for row in daily:
        spend[row["model"]][index[row["day"]]] = row["spend"]
        seconds[row["model"]][index[row["day"]]] = row["seconds"]
    full = [formats.date_format(day, "DATE_FORMAT") for day in period.days]  # in the reader's locale
    short = [formats.date_format(day, "MONTH_DAY_FORMAT") for day in period.days]
    span = _("%(first)s to %(last)s") % {
        "first": formats.date_format(period.first, "DATE_FORMAT"),
        "last": formats.date_format(period.last, "DATE_FORMAT"),
    }
    return {
        "spend_per_day": charts.stacked_bars(
            _("Spend per day by model, %(span)s") % {"span": span},
            full,
            list(spend.items()),
            _money,
            tick_labels=short,
        ),
        "seconds_per_day": charts.stacked_bars(
            _("Seconds generated per day by model, %(span)s") % {"span": span},
            full,
            list(seconds.items()),
            _seconds,
            tick_labels=short,
        ),
        "spend_per_model": charts.horizontal_bars(
            _("Spend per model, %(span)s") % {"span": span},
            [(row["model"], row["spend"]) for row in models],
            _money,
            colours={name: i for i, name in enumerate(names)},
        ),
        "spend_per_key": charts.horizontal_bars(
            _("Spend per key, %(span)s") % {"span": span},
            [(_key_label(row), row["spend"]) for row in keys],
            _money,
        ),
    }


def _key_label(row):
    return usage.key_label(row) if row["api_key__lookup"] else _("No key")


def _explain_ledger(entries):
    """Give each ledger entry the text of its Note column. A capture's amount is what went back to
    the balance when the task finished (the hold less the charge), so "$0.00" there means nothing
    came back, not a free video: its note says what was charged (from the task, in the reader's
    language). Other entries keep the note they were written with."""
    for entry in entries:
        entry.explanation = entry.note
        if entry.kind == LedgerEntry.Kind.CAPTURE and entry.task is not None:
            entry.explanation = _("Charged %(charged)s of the %(held)s held; %(back)s back to the balance.") % {
                "charged": usd(entry.task.amount_charged),
                "held": usd(entry.task.amount_held),
                "back": usd(entry.amount),
            }
        elif entry.kind == LedgerEntry.Kind.HOLD and not entry.note:
            entry.explanation = _("Held until the task finishes.")


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
    ledger.object_list = list(ledger.object_list)
    _explain_ledger(ledger.object_list)
    return render(
        request,
        "videos/usage.html",
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


# --- Webhook deliveries --------------------------------------------------------------------
# Shared with the staff pages (staff.py), which show any tenant's endpoint.


def deliveries_page(request, endpoint, *, nav, back, urls, prefix=(), can_write):
    """An endpoint's delivery log, newest first, each event with its attempts. ``urls`` name the
    routes (task page, resend, test) of the tenant's or the staff's pages, whose arguments start
    with ``prefix``."""
    page = paginate(
        request,
        WebhookEvent.objects.filter(endpoint=endpoint).select_related("task").prefetch_related("attempt_log"),
    )
    now = timezone.now()
    for event in page:
        event.in_flight = (
            event.status == WebhookEvent.Status.PENDING
            and event.last_latency_ms is None
            and event.next_attempt_at is not None
            and event.next_attempt_at > now
        )
        event.task_url = reverse(urls["task"], args=[event.task.public_id]) if event.task else ""
        event.resend_url = reverse(urls["resend"], args=[*prefix, endpoint.public_id, event.public_id])
    context = {
        "nav": nav,
        "endpoint": endpoint,
        "page": page,
        "back": back,
        "test_url": reverse(urls["test"], args=[*prefix, endpoint.public_id]),
        "can_write": can_write,
    }
    return render(request, "videos/webhook_deliveries.html", context)


def resend_event(request, endpoint, event_id):
    event = get_object_or_404(WebhookEvent, endpoint=endpoint, public_id=event_id)
    if webhooks.resend(event):
        messages.success(request, _("%(id)s is queued to be sent again (same webhook-id).") % {"id": event.public_id})
    else:
        messages.error(request, _("%(id)s is being sent right now; try again in a minute.") % {"id": event.public_id})


def send_test(request, endpoint):
    event = webhooks.send_test_event(endpoint)
    text = _("Test event %(id)s queued; the worker sends it within seconds.") % {"id": event.public_id}
    if not endpoint.enabled:
        text = _("%(queued)s It is sent once the endpoint is enabled again.") % {"queued": text}
    messages.success(request, text)


TENANT_URLS = {"task": "task-detail", "resend": "webhook-resend", "test": "webhook-test"}


def _tenant_endpoint(request, public_id):
    return get_object_or_404(WebhookEndpoint.objects.for_tenant(request.tenant), public_id=public_id)


@tenant_view
@require_safe
def webhook_deliveries(request, public_id):
    return deliveries_page(
        request,
        _tenant_endpoint(request, public_id),
        nav="webhooks",
        back=reverse("webhook-list"),
        urls=TENANT_URLS,
        can_write=request.membership.can_write,
    )


@writer_required
@require_POST
def webhook_resend(request, public_id, event_id):
    resend_event(request, _tenant_endpoint(request, public_id), event_id)
    return redirect("webhook-deliveries", public_id=public_id)


@writer_required
@require_POST
def webhook_test(request, public_id):
    send_test(request, _tenant_endpoint(request, public_id))
    return redirect("webhook-deliveries", public_id=public_id)
