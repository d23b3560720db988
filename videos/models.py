from django.db import models
from django.db.models import F, Q
from django.db.models.fields.tuple_lookups import TupleGreaterThan, TupleLessThan
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import ApiKey, Tenant, WebhookEndpoint, random_token
from channels import canonical
from channels.adaptors.base import TaskRef
from channels.models import Channel

# What a task's mode means, as pages show it (the stored value is channels.canonical's).
MODE_LABELS = {
    canonical.TEXT: _("Text to video"),
    canonical.IMAGE: _("Image to video"),
    canonical.FIRST_LAST: _("First and last frame"),
    canonical.REFERENCE: _("Reference to video"),
    canonical.EXTEND: _("Extension"),
    canonical.EDIT: _("Video edit"),
    canonical.REMIX: _("Remix"),
}


def new_public_id():
    return f"video_{random_token(24)}"


def without_surrogates(value):
    """``value`` with lone UTF-16 surrogates (unencodable as UTF-8) replaced by U+FFFD, in every string,
    key and nested value; rows stored before the API refused them still render."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    if isinstance(value, dict):
        return {without_surrogates(key): without_surrogates(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [without_surrogates(item) for item in value]
    return value


class _RowComparison:
    """``(a, b) < (x, y)`` as one row-value comparison, which an index on (a, b) range-scans.
    Django's tuple lookups spell it out as ``a < x OR (a = x AND b < y)`` on SQLite (its backend
    claims no row values), which neither SQLite nor PostgreSQL can seek with; SQLite has had row
    values since 3.15 and PostgreSQL always, the two databases the gateway runs on."""

    def as_sql(self, compiler, connection):
        lhs_sql, lhs_params = self.process_lhs(compiler, connection)
        rhs_sql, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs_sql} {self.operator} {rhs_sql}", (*lhs_params, *rhs_params)


class RowLessThan(_RowComparison, TupleLessThan):
    operator = "<"


class RowGreaterThan(_RowComparison, TupleGreaterThan):
    operator = ">"


class VideoTaskQuerySet(models.QuerySet):
    def for_tenant(self, tenant):
        """Every tenant-facing read starts here; deleted videos are gone for clients."""
        return self.filter(tenant=tenant, deleted_at__isnull=True)

    def active(self):
        return self.filter(status__in=VideoTask.ACTIVE)

    def with_remix_source(self):
        """Each task with ``remixed_from_public_id``, the one value of its source a client sees,
        joined in the same query instead of the source's whole row."""
        return self.annotate(remixed_from_public_id=F("remixed_from__public_id"))

    def newest_first(self, descending=True):
        """In list order, newest first (or oldest first): the order of the index task_tenant_recent."""
        return self.order_by(*(("-created_at", "-id") if descending else ("created_at", "id")))

    def past(self, created_at, pk, descending=True):
        """The tasks after the one at (``created_at``, ``pk``) in newest_first(descending) order,
        ties on created_at broken by id, as a row-value comparison the index can seek to."""
        comparison = RowLessThan if descending else RowGreaterThan
        return self.filter(comparison((F("created_at"), F("id")), (created_at, pk)))


class VideoTask(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        IN_PROGRESS = "in_progress", _("In progress")
        COMPLETED = "completed", _("Completed")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    class Route(models.TextChoices):
        OPENAI = "openai", _("OpenAI /v1/videos")
        UNIFIED = "unified", _("Unified /v1/video/generations")
        KLING = "kling", _("Kling native")
        JIMENG = "jimeng", _("Jimeng native")
        DASHSCOPE = "dashscope", _("DashScope native")
        VIDU = "vidu", _("Vidu native")
        DASHBOARD = "dashboard", _("Dashboard")

    ACTIVE = (Status.QUEUED, Status.IN_PROGRESS)
    TERMINAL = (Status.COMPLETED, Status.FAILED, Status.CANCELLED)

    public_id = models.CharField(max_length=40, unique=True, default=new_public_id)
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="tasks")
    api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.PROTECT, related_name="tasks")
    channel = models.ForeignKey(Channel, null=True, blank=True, on_delete=models.PROTECT, related_name="tasks")
    route = models.CharField(max_length=16, choices=Route.choices, default=Route.OPENAI)
    model = models.CharField(max_length=100, help_text="The model the client asked for (and is billed for).")
    upstream_model = models.CharField(max_length=100, blank=True)
    mode = models.CharField(
        max_length=16, choices=[(m, MODE_LABELS[m]) for m in canonical.MODES], default=canonical.TEXT
    )
    prompt = models.TextField(blank=True)
    params = models.JSONField(default=dict, blank=True)
    remixed_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    seconds = models.PositiveIntegerField(default=0, help_text="Seconds billed for at submit.")
    resolution = models.CharField(max_length=16, blank=True)
    seconds_produced = models.FloatField(null=True, blank=True)

    # Vendor side: for admins only, never rendered to tenants.
    vendor_task_id = models.CharField(max_length=200, blank=True)
    vendor_status = models.CharField(max_length=64, blank=True)
    vendor_state = models.JSONField(default=dict, blank=True)
    result_url = models.TextField(blank=True)
    result_file = models.CharField(max_length=300, blank=True, help_text="Stored copy, relative to MEDIA_ROOT.")
    result_bytes = models.BigIntegerField(null=True, blank=True)

    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)

    amount_held = models.BigIntegerField(default=0)
    amount_charged = models.BigIntegerField(default=0)

    created_at = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    next_poll_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField()
    poll_count = models.PositiveIntegerField(default=0)
    poll_errors = models.PositiveIntegerField(default=0)
    # Delivery: the vendor reported the video done at vendor_completed_at; the task stays active
    # (and uncharged) until its bytes are stored and verified, retried delivery_attempts times.
    vendor_completed_at = models.DateTimeField(null=True, blank=True)
    delivery_attempts = models.PositiveIntegerField(default=0)
    # Consecutive delivery attempts the vendor's URL answered as gone (403/404/410, not a video):
    # the second one fails the task (videos/delivery.py).
    delivery_gone = models.PositiveSmallIntegerField(default=0)
    # Consecutive "not found" answers from the vendor for a task we submitted (confirmed, then failed).
    vendor_missing = models.PositiveSmallIntegerField(default=0)
    # A submit that timed out: until this moment the gateway looks for the job at the vendor
    # (by our external id or in its task list) instead of giving up on it.
    reconcile_until = models.DateTimeField(null=True, blank=True)
    # Vendor callbacks: the unguessable token in this task's callback URL (blank: none was sent),
    # and how the gateway learned the task's outcome ("callback" or "poll"), for the staff page.
    callback_token = models.CharField(max_length=64, blank=True)
    learned_by = models.CharField(max_length=16, blank=True)
    # A client's Idempotency-Key: a retried create returns this task instead of a new one.
    idempotency_key = models.CharField(max_length=200, blank=True)
    request_hash = models.CharField(max_length=64, blank=True)
    # The X-Request-Id of the request that created the task (its log lines carry it too).
    request_id = models.CharField(max_length=100, blank=True)

    objects = VideoTaskQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The poll tick: active tasks whose next poll is due (videos.services.due_task_ids).
            models.Index(
                fields=["next_poll_at"], name="task_due_poll", condition=Q(status__in=["queued", "in_progress"])
            ),
            # Tenant history, newest first, and the OpenAI list cursor (tenant, created_at, id).
            models.Index(fields=["tenant", "-created_at", "-id"], name="task_tenant_recent"),
            # The task list's filters, each page one range scan from its cursor (videos.views.task_list):
            # by status, by model, by key (which implies its tenant). Without them a rare value (running
            # tasks, a retired model, a new key) walks all the tenant's tasks looking for a page of
            # matches. Status and model lead so the staff list (every tenant) can use them for a rare one.
            models.Index(fields=["status", "tenant", "-created_at", "-id"], name="task_status_recent"),
            models.Index(fields=["model", "tenant", "-created_at", "-id"], name="task_model_recent"),
            models.Index(fields=["api_key", "-created_at", "-id"], name="task_key_recent"),
            # The staff task list, every tenant's tasks newest first. Partial on a condition every row
            # meets, so only a query stating it (videos.staff.task_list) can use it: offered to a
            # tenant's list, the planner would take it (it expects the tenant's tasks spread evenly
            # over time) and, for a big tenant quiet for months, walk everyone's newer tasks first.
            models.Index(fields=["-created_at", "-id"], name="task_recent", condition=Q(id__gt=0)),
            # The deadline sweep over active tasks.
            models.Index(
                fields=["deadline_at"], name="task_deadline", condition=Q(status__in=["queued", "in_progress"])
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["api_key", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="task_idempotency_key_per_key",
            ),
            models.CheckConstraint(condition=Q(progress__lte=100), name="task_progress_0_100"),
            models.CheckConstraint(
                condition=Q(amount_charged__lte=models.F("amount_held")), name="task_charge_within_hold"
            ),
        ]

    def __str__(self):
        return self.public_id

    @classmethod
    def from_db(cls, db, field_names, values):
        task = super().from_db(db, field_names, values)
        for name in ("params", "vendor_state"):
            if name in task.__dict__:
                setattr(task, name, without_surrogates(task.__dict__[name]))
        return task

    @property
    def is_active(self):
        return self.status in self.ACTIVE

    @property
    def size(self):
        return self.params.get("size") or ""

    @property
    def dimensions(self):
        """(width, height) of the video: the planned size, else what the stored MP4 measured
        (params "produced", written at delivery), else (None, None)."""
        if self.size:
            width, height = (int(part) for part in self.size.split("x"))
            return width, height
        produced = self.params.get("produced") or {}
        return produced.get("width"), produced.get("height")

    @property
    def duration(self):
        """Seconds of the video: as the vendor reported, else as the stored MP4 measured, else as billed."""
        produced = self.params.get("produced") or {}
        return self.seconds_produced or produced.get("seconds") or self.seconds

    def ref(self):
        """What the vendor adaptor gets to know about this task."""
        return TaskRef(
            vendor_task_id=self.vendor_task_id,
            upstream_model=self.upstream_model,
            state=self.vendor_state,
            result_url=self.result_url,
        )


class Heartbeat(models.Model):
    """When a background loop last ran (the health page reads it)."""

    name = models.CharField(max_length=32, primary_key=True)
    at = models.DateTimeField()

    def __str__(self):
        return f"{self.name} at {self.at}"

    @classmethod
    def beat(cls, name):
        cls.objects.update_or_create(name=name, defaults={"at": timezone.now()})


def new_event_id():
    return f"evt_{random_token(24)}"


class WebhookEvent(models.Model):
    """The outbox: one event for one endpoint, written in the transaction that finishes the task
    and delivered by the worker (never the request path). ``public_id`` is the ``webhook-id`` of
    every attempt, so receivers can de-duplicate retries."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Gave up")

    public_id = models.CharField(max_length=40, unique=True, default=new_event_id)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    task = models.ForeignKey(VideoTask, null=True, blank=True, on_delete=models.SET_NULL, related_name="events")
    type = models.CharField(max_length=40)
    payload = models.JSONField()  # the body, as it was when the event happened
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The delivery sweep: pending events whose next attempt is due.
            models.Index(fields=["next_attempt_at"], name="event_due", condition=Q(status="pending")),
            # An endpoint's delivery log, newest first.
            models.Index(fields=["endpoint", "-created_at"], name="event_endpoint_recent"),
        ]

    def __str__(self):
        return f"{self.public_id} {self.type}"


class WebhookAttempt(models.Model):
    """One delivery attempt of an event: what the receiver answered, and how fast."""

    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["event", "number"]

    def __str__(self):
        return f"{self.event_id} #{self.number}"
