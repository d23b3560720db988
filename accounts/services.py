"""Keys, webhook signing secrets and money. Every balance movement goes through this module.

Rules: amounts are integers (units, 1,000,000 = 1 USD); a debit is a conditional
UPDATE that fails rather than drive a balance negative; every movement writes a
ledger row in the same transaction; a task has one hold and at most one settlement
(enforced by unique constraints, so a second refund cannot commit).
"""

import base64
import binascii
import functools
import hashlib
import hmac
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from . import crypto, prepared
from .models import ApiKey, LedgerEntry, Tenant, WebhookEndpoint, random_token
from .prepared import Prepared

KEY_PREFIX = "sk-"
LAST_USED_GRANULARITY = timedelta(seconds=60)


class BillingError(Exception):
    code = "billing_error"


class InsufficientBalance(BillingError):
    code = "insufficient_balance"


class KeySpendLimitReached(BillingError):
    code = "key_spend_limit_reached"


# --- API keys ------------------------------------------------------------------------


def _pepper():
    if settings.GATEWAY_KEY_PEPPER:
        return settings.GATEWAY_KEY_PEPPER.encode()
    return _derived_pepper(settings.SECRET_KEY)


@functools.lru_cache(maxsize=4)  # once per SECRET_KEY, not on every request
def _derived_pepper(secret_key):
    return hmac.new(secret_key.encode(), b"gateway api key pepper", hashlib.sha256).digest()


def hash_secret(secret):
    return hmac.new(_pepper(), secret.encode(), hashlib.sha256).hexdigest()


def issue_key(
    tenant,
    *,
    name="default",
    allowed_models=(),
    allowed_ips=(),
    spend_limit=None,
    expires_at=None,
    created_by=None,
    rpm_limit=None,
    max_in_flight=None,
):
    """Create a key and return ``(api_key, plaintext)``; the plaintext is not stored."""
    lookup = random_token(ApiKey.LOOKUP_LENGTH)
    secret = random_token(ApiKey.SECRET_LENGTH)
    api_key = ApiKey.objects.create(
        tenant=tenant,
        name=name,
        lookup=lookup,
        secret_hash=hash_secret(secret),
        last4=secret[-4:],
        allowed_models=list(allowed_models),
        allowed_ips=list(allowed_ips),
        spend_limit=spend_limit,
        expires_at=expires_at,
        created_by=created_by,
        rpm_limit=rpm_limit,
        max_in_flight=max_in_flight,
    )
    return api_key, f"{KEY_PREFIX}{lookup}{secret}"


_KEY_BY_LOOKUP = Prepared(lambda lookup: ApiKey.objects.select_related("tenant").filter(lookup=lookup), "<lookup>")


def find_key(plaintext):
    """Return the ApiKey for a presented plaintext, or None. Unknown and wrong look alike."""
    if not plaintext or not plaintext.startswith(KEY_PREFIX):
        return None
    body = plaintext[len(KEY_PREFIX) :]
    if len(body) != ApiKey.LOOKUP_LENGTH + ApiKey.SECRET_LENGTH:
        return None
    lookup, secret = body[: ApiKey.LOOKUP_LENGTH], body[ApiKey.LOOKUP_LENGTH :]
    # One query for the key and its tenant, on every request: read fresh, so a revoked key, a disabled
    # tenant or a changed limit takes effect at once (only the SQL is compiled once).
    api_key = _KEY_BY_LOOKUP.get(lookup)
    expected = api_key.secret_hash if api_key else "0" * 64
    if not hmac.compare_digest(expected, hash_secret(secret)) or api_key is None:
        return None
    return api_key


def touch_key(api_key):
    """Record use, at most once a minute per key so reads do not turn into writes."""
    now = timezone.now()
    if api_key.last_used_at and now - api_key.last_used_at < LAST_USED_GRANULARITY:
        return
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    api_key.last_used_at = now


def revoke_key(api_key):
    ApiKey.objects.filter(pk=api_key.pk).update(enabled=False, revoked_at=timezone.now())
    api_key.refresh_from_db()


# --- Webhook endpoints -------------------------------------------------------------------

WEBHOOK_SECRET_PREFIX = "whsec_"
WEBHOOK_SECRET_BYTES = 32
# After a rotation the previous secret keeps signing (beside the new one) this long.
WEBHOOK_SECRET_OVERLAP = timedelta(hours=24)


def new_webhook_secret():
    """``whsec_`` + base64 of 32 random bytes (Standard Webhooks; what OpenAI's SDK verifies with)."""
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(WEBHOOK_SECRET_BYTES)).decode()


def is_webhook_secret(value):
    """Whether ``value`` is ``whsec_`` + base64 of 24 to 64 bytes (the range Standard Webhooks allows)."""
    if not isinstance(value, str) or not value.startswith(WEBHOOK_SECRET_PREFIX):
        return False
    try:
        raw = base64.b64decode(value[len(WEBHOOK_SECRET_PREFIX) :], validate=True)
    except (ValueError, binascii.Error):
        return False
    return 24 <= len(raw) <= 64


def create_webhook_endpoint(tenant, *, url, events=(), description="", enabled=True, secret=None):
    """Create an endpoint and return ``(endpoint, secret)``. The secret is stored encrypted and
    shown once; ``secret`` (an apply file's) is used as given, else a new one is made."""
    secret = secret or new_webhook_secret()
    endpoint = WebhookEndpoint.objects.create(
        tenant=tenant,
        url=url,
        events=list(events),
        description=description,
        enabled=enabled,
        secret_encrypted=crypto.encrypt(secret),
    )
    return endpoint, secret


def rotate_webhook_secret(endpoint):
    """Give the endpoint a new secret and return it. The current one keeps signing beside it for
    WEBHOOK_SECRET_OVERLAP, so receivers can switch without losing an event (a second rotation
    within that time retires the oldest at once)."""
    secret = new_webhook_secret()
    endpoint.previous_secret_encrypted = endpoint.secret_encrypted
    endpoint.previous_secret_expires_at = timezone.now() + WEBHOOK_SECRET_OVERLAP
    endpoint.secret_encrypted = crypto.encrypt(secret)
    endpoint.save(
        update_fields=["secret_encrypted", "previous_secret_encrypted", "previous_secret_expires_at", "updated_at"]
    )
    return secret


def replace_webhook_secret(endpoint, secret):
    """Set ``secret`` (an apply file's) as the only one, at once; the caller saves the endpoint."""
    endpoint.secret_encrypted = crypto.encrypt(secret)
    endpoint.previous_secret_encrypted = ""
    endpoint.previous_secret_expires_at = None


def webhook_secret(endpoint):
    """The endpoint's current secret in clear (for the apply file's comparison and signing)."""
    return crypto.decrypt(endpoint.secret_encrypted)


def webhook_signing_secrets(endpoint, now=None):
    """The secrets that sign a delivery made ``now``: the current one, and the previous one
    until its overlap ends. Raises crypto.CredentialsUnreadable if the keys changed."""
    now = now or timezone.now()
    signing = [crypto.decrypt(endpoint.secret_encrypted)]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret_encrypted and expires is not None and now < expires:
        signing.append(crypto.decrypt(endpoint.previous_secret_encrypted))
    return signing


# --- Money ---------------------------------------------------------------------------


def _balance(tenant_id):
    return Tenant.objects.values_list("balance", flat=True).get(pk=tenant_id)


# Every movement changes the balance in one statement that also returns the balance after it
# (UPDATE ... RETURNING: PostgreSQL, SQLite >= 3.35), so its ledger row needs no second read. The SQL
# is written out: built through the ORM, these statements cost Django ten times what they cost the
# database, on every create. A debit is conditional on the balance covering it; the row lock it takes
# (PostgreSQL; SQLite: the write lock of BEGIN IMMEDIATE) is held until the caller's transaction ends.
_STATEMENTS = {
    "debit": "UPDATE {tenant} SET {balance} = {balance} - %s WHERE {tenant_id} = %s AND {balance} >= %s"
    " RETURNING {balance}",
    "credit": "UPDATE {tenant} SET {balance} = {balance} + %s WHERE {tenant_id} = %s RETURNING {balance}",
    # A key's ``spent`` (held plus charged through it): a hold counts only within the key's cap.
    "spend": "UPDATE {key} SET {spent} = {spent} + %s WHERE {key_id} = %s AND ({cap} IS NULL OR {cap} >= {spent} + %s)",
    "unspend": "UPDATE {key} SET {spent} = {spent} - %s WHERE {key_id} = %s",
}


@functools.cache
def _sql(name, vendor):
    """The statement ``name`` with the names quoted for the database ``vendor``."""
    quote = connection.ops.quote_name
    return _STATEMENTS[name].format(
        tenant=quote(Tenant._meta.db_table),
        key=quote(ApiKey._meta.db_table),
        tenant_id=quote(Tenant._meta.pk.column),
        key_id=quote(ApiKey._meta.pk.column),
        balance=quote(Tenant._meta.get_field("balance").column),
        spent=quote(ApiKey._meta.get_field("spent").column),
        cap=quote(ApiKey._meta.get_field("spend_limit").column),
    )


def _run(name, params):
    """Run the statement ``name``: the first column of the row it returned (None for none), or, for
    a statement returning nothing, how many rows it changed."""
    with connection.cursor() as cursor:
        cursor.execute(_sql(name, connection.vendor), params)
        if cursor.description is None:
            return cursor.rowcount
        row = cursor.fetchone()
        return None if row is None else row[0]


def _debit(tenant_id, amount):
    """Take ``amount`` from the tenant if its balance covers it: the balance after, or None."""
    return _run("debit", [amount, tenant_id, amount])


def _credit(tenant_id, amount):
    """Give ``amount`` to the tenant: the balance after."""
    return _run("credit", [amount, tenant_id])


def _entry(tenant_id, kind, amount, balance_after=None, **fields):
    """The ledger row of a movement; ``balance_after`` as the movement returned it, else read."""
    if balance_after is None:
        balance_after = _balance(tenant_id)
    entry = LedgerEntry(tenant_id=tenant_id, kind=kind, amount=amount, balance_after=balance_after, **fields)
    return prepared.insert(entry)


def topup(tenant, amount, *, note="", user=None):
    if amount <= 0:
        raise ValueError("A top-up must be a positive amount")
    with transaction.atomic():
        balance = _credit(tenant.pk, amount)
        return _entry(tenant.pk, LedgerEntry.Kind.TOPUP, amount, balance, note=note, created_by=user)


def adjust(tenant, amount, *, note="", user=None):
    """A manual credit (positive) or debit (negative); a debit never overdraws."""
    if amount == 0:
        raise ValueError("An adjustment must not be zero")
    with transaction.atomic():
        balance = _credit(tenant.pk, amount) if amount > 0 else _debit(tenant.pk, -amount)
        if balance is None:
            raise InsufficientBalance("The balance does not cover this debit")
        return _entry(tenant.pk, LedgerEntry.Kind.ADJUSTMENT, amount, balance, note=note, created_by=user)


def hold(task, amount):
    """Take ``amount`` from the task's tenant (and count it against its key's cap).

    Must run inside the transaction that creates the task, so a refused hold leaves
    no task behind. Three statements: the conditional debit (returning the balance), the
    key's conditional count, the ledger row.
    """
    if amount < 0:
        raise ValueError("A hold cannot be negative")
    if amount == 0:
        return None
    balance = _debit(task.tenant_id, amount)
    if balance is None:
        raise InsufficientBalance(
            f"Insufficient balance: this request needs {format_units(amount)}, "
            f"the balance is {format_units(_balance(task.tenant_id))}."
        )
    if task.api_key_id is not None and _run("spend", [amount, task.api_key_id, amount]) != 1:
        raise KeySpendLimitReached(f"This key's spending cap does not cover this request ({format_units(amount)}).")
    return _entry(task.tenant_id, LedgerEntry.Kind.HOLD, -amount, balance, task=task, api_key_id=task.api_key_id)


def _give_back(task, amount, kind, note):
    balance = None
    if amount:
        balance = _credit(task.tenant_id, amount)
        if task.api_key_id is not None:
            _run("unspend", [amount, task.api_key_id])
    return _entry(task.tenant_id, kind, amount, balance, task=task, api_key_id=task.api_key_id, note=note)


def capture(task, charge):
    """Keep ``charge`` of the task's hold and give back the rest. Returns the charge.

    The charge never exceeds the hold: a vendor that produced more than was asked for
    does not overdraw the tenant.
    """
    charge = max(0, min(charge, task.amount_held))
    if task.amount_held:
        _give_back(
            task,
            task.amount_held - charge,
            LedgerEntry.Kind.CAPTURE,
            note=f"charged {format_units(charge)} of {format_units(task.amount_held)} held",
        )
    return charge


def release(task, note=""):
    """Give the whole hold back."""
    if task.amount_held:
        _give_back(task, task.amount_held, LedgerEntry.Kind.RELEASE, note=note[:300])


def format_units(amount):
    """Units as dollars, exactly (integer arithmetic, no float), always with cents and with more
    decimals only where the amount has them: 1500000 -> "$1.50", 5000 -> "$0.005", -50000 -> "-$0.05"."""
    amount = int(amount)
    per_usd = settings.GATEWAY_UNITS_PER_USD
    whole, rest = divmod(abs(amount), per_usd)
    digits = len(str(per_usd - 1))  # 6 for a million units per dollar
    cents = f"{rest:0{digits}d}".rstrip("0").ljust(2, "0") if digits >= 2 else "00"
    return f"{'-' if amount < 0 else ''}${whole:,}.{cents}"
