"""Channel selection, prices, and what happens to a channel when a vendor call fails."""

import logging
import random
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from accounts.crypto import CredentialsUnreadable
from accounts.models import AuditEntry

from .adaptors.base import AdaptorError, CallContext
from .models import Channel, Price

log = logging.getLogger(__name__)


class ModelNotPriced(Exception):
    code = "model_not_priced"


def candidates(model, rng=random):
    """Enabled channels serving ``model``: highest priority first, weighted random within a priority."""
    channels = [channel for channel in Channel.objects.usable() if channel.serves(model)]
    ordered = []
    for priority in sorted({channel.priority for channel in channels}, reverse=True):
        tier = [channel for channel in channels if channel.priority == priority]
        while tier:
            weights = [max(channel.weight, 0) or 0.001 for channel in tier]
            pick = rng.choices(range(len(tier)), weights=weights)[0]
            ordered.append(tier.pop(pick))
    return ordered


def is_known_model(model, vendor=None):
    """Some channel (of ``vendor``, when given) serves ``model``, enabled or not."""
    channels = Channel.objects.all() if vendor is None else Channel.objects.filter(vendor=vendor)
    return any(channel.serves(model) for channel in channels)


def served_models(*, usable=True):
    """Each model clients may request -> the vendor of a channel serving it (the highest priority
    one), sorted by name. ``usable=False`` counts disabled channels too (what operators price)."""
    channels = Channel.objects.usable() if usable else Channel.objects.all()
    owners = {}
    for channel in channels.order_by("-priority", "name"):
        for model in channel.served_models:
            owners.setdefault(model, channel.vendor)
    return dict(sorted(owners.items()))


def servable_models():
    """What ``GET /v1/models`` lists: each model a client can be served -> (the highest priority
    usable channel serving it, its Price or None), sorted by name. A model without a price is
    left out, unless GATEWAY_ALLOW_UNPRICED serves it for free (quote() would refuse it)."""
    channels = {}
    for channel in Channel.objects.usable().order_by("-priority", "name"):
        for model in channel.served_models:
            channels.setdefault(model, channel)
    prices = {price.model: price for price in Price.objects.filter(model__in=list(channels))}
    return {
        model: (channel, prices.get(model))
        for model, channel in sorted(channels.items())
        if model in prices or settings.GATEWAY_ALLOW_UNPRICED
    }


def model_names():
    """Every model name an operator configured: priced or served by any channel."""
    return set(Price.objects.values_list("model", flat=True)) | set(served_models(usable=False))


# The key of Plan.derived (expected) and of a task's vendor_state (charged) holding a vendor's credits.
VENDOR_CREDITS = "vendor_credits"


def quote(model, plan):
    """The hold for a request: the model's price for the planned seconds and resolution, or, priced
    per vendor credit, for the credits the plan expects (``plan.derived["vendor_credits"]``)."""
    price = Price.objects.filter(model=model).first()
    if price is None:
        if settings.GATEWAY_ALLOW_UNPRICED:
            return 0
        raise ModelNotPriced(f"The model '{model}' has no price configured; ask the operator to add one.")
    if price.by_credit:
        expected = plan.derived.get(VENDOR_CREDITS)
        if expected is None:
            raise ModelNotPriced(
                f"The model '{model}' is priced per vendor credit, but its channel cannot estimate credits; "
                "ask the operator to price it per second."
            )
        return price.credit_cost(expected)
    return price.cost(plan.seconds, plan.resolution)


def settle_amount(model, seconds, resolution, held, credits=None):
    """What a finished task costs: its price on the seconds produced, or, priced per vendor credit,
    on the ``credits`` the vendor charged (the hold when it did not say); never above the hold."""
    price = Price.objects.filter(model=model).first()
    if price is None:
        return 0 if settings.GATEWAY_ALLOW_UNPRICED else held
    if price.by_credit:
        return held if credits is None else min(held, price.credit_cost(credits))
    return min(held, price.cost(seconds, resolution))


def call_context(channel):
    return CallContext(base_url=channel.effective_base_url, credentials=channel.credentials, options=channel.options)


def submit_context(channel, external_id, callback_path=""):
    """The context of a create call: our id for the task (sent as the vendor's external id where it
    takes one), the shorter submit read timeout, which bounds how long a submit can be in flight,
    and the task's callback URL (GATEWAY_PUBLIC_URL + ``callback_path``) when the operator set a
    public URL and this vendor calls back."""
    ctx = call_context(channel)
    ctx.external_id = external_id
    ctx.read_timeout = settings.GATEWAY_SUBMIT_TIMEOUT
    public_url = settings.GATEWAY_PUBLIC_URL.rstrip("/")
    if public_url and callback_path and channel.adaptor.supports_callback:
        ctx.callback_url = public_url + callback_path
    return ctx


def note_failure(channel, message, *, disable=False):
    """Record a vendor-side failure on the channel; disable it when its credentials were refused."""
    fields = {"last_error": message[:2000], "last_error_at": timezone.now()}
    if disable:
        fields["status"] = Channel.Status.AUTO_DISABLED
        log.warning("Channel %s auto-disabled: %s", channel.name, message)
    Channel.objects.filter(pk=channel.pk).update(**fields)
    if disable:
        AuditEntry.objects.create(action="channel.auto_disabled", target=channel.name, detail={"reason": message[:500]})


def pause_polling(channel, until, reason):
    """Poll none of ``channel``'s tasks before ``until`` (its vendor answered 429): the poller's claims
    leave them alone meanwhile. A pause reaching further already stays."""
    Channel.objects.filter(pk=channel.pk).filter(
        Q(poll_paused_until__isnull=True) | Q(poll_paused_until__lt=until)
    ).update(poll_paused_until=until, poll_paused_reason=reason[:300])
    channel.poll_paused_until = max(until, channel.poll_paused_until or until)
    log.warning("Polling of channel %s paused until %s: %s", channel.name, until.isoformat(), reason)
    return channel.poll_paused_until


CHECK_FAILURES = {
    "vendor_auth_failed": "The vendor rejected the credentials",
    "vendor_unavailable": "Could not connect, or the vendor is unavailable",
    "vendor_timeout": "Timed out waiting for the vendor",
    "vendor_rejected": "The vendor refused the test request",
    "vendor_error": "The vendor answered in a way the gateway did not understand",
}


@dataclass
class CheckResult:
    ok: bool
    sentence: str
    kind: str = ""
    latency_ms: int | None = None  # how long the vendor took to answer (None: no call was made)


def check_channel(channel):
    """A real, cheap call to the vendor with the channel's credentials, told in words
    (any credential a vendor echoes back is blanked out), timed."""
    try:
        ctx = call_context(channel)
    except CredentialsUnreadable as exc:
        return CheckResult(False, f"{exc}: enter the credentials again.", "credentials_unreadable")
    begun = time.monotonic()
    try:
        with scrubbed(ctx):
            sentence = scrub(channel.adaptor.check(ctx), ctx.credentials)
        return CheckResult(True, sentence, latency_ms=_elapsed_ms(begun))
    except AdaptorError as exc:
        words = CHECK_FAILURES.get(exc.kind, CHECK_FAILURES["vendor_error"])
        status = f" (HTTP {exc.http_status})" if exc.http_status else ""
        return CheckResult(False, f"{words}{status}: {exc.message}", exc.kind, latency_ms=_elapsed_ms(begun))


def _elapsed_ms(begun):
    return round((time.monotonic() - begun) * 1000)


def run_check(channel):
    """check_channel(), remembered on the channel for the channel list: when, passed or not, the
    latency, and a failure as its last error (the channel stays enabled; the list shows it failing)."""
    result = check_channel(channel)
    record_test(channel, result)
    return result


def record_test(channel, result, now=None):
    now = now or timezone.now()
    fields = {"last_test_at": now, "last_test_ok": result.ok, "last_test_latency_ms": result.latency_ms}
    if not result.ok:
        fields.update(last_error=f"Test failed: {result.sentence}"[:2000], last_error_at=now)
    Channel.objects.filter(pk=channel.pk).update(**fields)
    for name, value in fields.items():
        setattr(channel, name, value)


# Channels tested at once by "Test all": each test waits on its vendor, not on the database.
TEST_ALL_THREADS = 8


def run_checks(channels):
    """Test each of ``channels`` (the vendor calls side by side, the bookkeeping after);
    [(channel, CheckResult)] in the given order."""
    channels = list(channels)
    with ThreadPoolExecutor(max_workers=TEST_ALL_THREADS) as pool:
        results = list(pool.map(check_channel, channels))
    for channel, result in zip(channels, results, strict=True):
        record_test(channel, result)
    return list(zip(channels, results, strict=True))


def scrub(text, secret):
    """Blank out the credential (and each part of an AK|SK pair) wherever a vendor echoed it."""
    if not text or not secret:
        return text
    for part in sorted({secret, *secret.split("|")}, key=len, reverse=True):
        if len(part) >= 4:
            text = text.replace(part, "[credential]")
    return text


@contextmanager
def scrubbed(ctx):
    """Every vendor error raised inside leaves with the channel's credentials blanked out, before
    its message reaches a channel's last error, a task, a client or a log."""
    try:
        yield
    except AdaptorError as exc:
        exc.message = scrub(exc.message, ctx.credentials)
        exc.args = (exc.message,)
        raise
