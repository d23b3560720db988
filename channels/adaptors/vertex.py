"""Google Veo through Vertex AI: ``POST {base}/publishers/google/models/{model}:predictLongRunning``
returns a long-running operation, polled with ``POST {base}/publishers/google/models/{model}:
fetchPredictOperation`` and ``{"operationName": …}``. The channel's base URL names the project and the
region: ``https://{region}-aiplatform.googleapis.com/v1/projects/{project}/locations/{region}``.

Credentials: a service-account key (the JSON file Google gives: ``client_email``, ``private_key``,
``private_key_id``, ``token_uri``), from which the gateway obtains OAuth 2.0 access tokens itself
(the JWT bearer grant, RFC 7523: an RS256-signed assertion for the ``cloud-platform`` scope, posted to
``token_uri``), keeps each for its hour and renews it five minutes early; or a static access token
(``gcloud auth print-access-token``), which lasts about an hour and which the operator must renew.
Either is sent as a Bearer token. Google refusing the key (``invalid_grant``...) is a rejected
credential (the channel is disabled, as for a 401); the token endpoint failing otherwise is the
vendor being unavailable (retried, nothing lost).

Videos are written to the operator's Cloud Storage bucket: the channel option ``storage_uri``
(``gs://bucket/prefix/``) is sent as ``storageUri``, and the result's ``gcsUri`` is downloaded from
``https://storage.googleapis.com/{bucket}/{object}`` with the same token (option
``storage_base_url`` overrides the host). Without a bucket Vertex returns the video inline in the
operation, which the gateway does not relay: such a channel refuses to submit.

Same models and rules as the Gemini API (channels/adaptors/gemini.py), plus what only Vertex takes:
``generateAudio`` (Veo 3 may be asked for silence), ``seed``. Extension takes the ``gcsUri`` of a Veo
video, given as its ``https://storage.googleapis.com/{bucket}/{object}`` URL, or, for one of the
client's own Veo videos (``clip.source``), the ``gcsUri`` its poll kept in the vendor state (``gcs_uri``).
"""

import base64
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass
from urllib.parse import quote, unquote

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.utils.translation import gettext_lazy

from .. import http
from ..canonical import RequestInvalid
from .base import (
    COMPLETED,
    ContentSource,
    Submission,
    VendorAuthFailed,
    VendorError,
    VendorTimeout,
    VendorUnavailable,
)
from .gemini import MODELS, GeminiVeo

BASE_RE = re.compile(r"^https?://[^/]+/v1/projects/[^/]+/locations/[^/]+$")
STORAGE_URL = re.compile(r"^https://storage\.googleapis\.com/(?P<bucket>[a-z0-9._-]+)/(?P<object>[^?#]+)$")
GCS_URI = re.compile(r"^gs://(?P<bucket>[^/]+)/(?P<object>.+)$")
STORAGE_BASE = "https://storage.googleapis.com"

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
TOKEN_URI = "https://oauth2.googleapis.com/token"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_SECONDS = 3600  # Google takes an assertion valid for at most an hour
RENEW_BEFORE = 300  # seconds: a token this close to its expiry is renewed first
TOKEN_TIMEOUT = 20  # seconds to wait for Google's token endpoint
# Google's answers that mean the key itself is refused (deleted, disabled, wrong signature, unknown account).
REFUSED_GRANTS = {"invalid_grant", "invalid_client", "unauthorized_client", "access_denied"}


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class ServiceAccount:
    """A Google service-account key, as its JSON file gives it."""

    email: str
    key_id: str
    private_key: str  # PEM
    token_uri: str

    FIELDS = ("client_email", "private_key_id", "private_key", "token_uri")

    @classmethod
    def parse(cls, text):
        """The key of a service-account JSON file; ValueError saying what is wrong (never the key)."""
        try:
            data = json.loads(text)
        except ValueError:
            raise ValueError("The service-account key is not valid JSON: paste the whole key file") from None
        if not isinstance(data, dict) or data.get("type", "service_account") != "service_account":
            raise ValueError('The JSON is not a service-account key (its "type" must be "service_account")')
        missing = [name for name in ("client_email", "private_key") if not isinstance(data.get(name), str)]
        if missing:
            raise ValueError(f"The service-account key lacks {', '.join(missing)}")
        token_uri = str(data.get("token_uri") or TOKEN_URI)
        if not token_uri.startswith(("https://", "http://")):
            raise ValueError("The service-account key's token_uri must be an http(s) URL")
        account = cls(data["client_email"], str(data.get("private_key_id") or ""), data["private_key"], token_uri)
        account.signer()  # a key that does not load is refused when saved, not at the first call
        return account

    def signer(self):
        try:
            key = serialization.load_pem_private_key(self.private_key.encode(), password=None)
        except (ValueError, TypeError):
            raise ValueError("The service-account key's private_key is not a PEM private key") from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("The service-account key's private_key must be an RSA key")
        return key

    def stored(self):
        """What the channel keeps (encrypted): the key file's fields the flow uses, compact."""
        values = (self.email, self.key_id, self.private_key, self.token_uri)
        return json.dumps(dict(zip(self.FIELDS, values, strict=True)), separators=(",", ":"))

    def assertion(self, now):
        """The signed JWT asking ``token_uri`` for a cloud-platform access token."""
        header = {"alg": "RS256", "typ": "JWT", **({"kid": self.key_id} if self.key_id else {})}
        claims = {"iss": self.email, "scope": SCOPE, "aud": self.token_uri, "iat": now, "exp": now + ASSERTION_SECONDS}
        signing_input = ".".join(_b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims))
        signature = self.signer().sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"


_tokens = {}  # sha256 of the stored key -> (access token, expiry as a Unix time)
_tokens_lock = threading.Lock()


def access_token(credentials):
    """A Bearer token for the channel's credentials: the static token as it is, or for a service-account
    key one from Google, kept per process until RENEW_BEFORE seconds before it expires. One thread of a
    process fetches at a time; the others then find the fresh token."""
    if not credentials.startswith("{"):
        return credentials
    digest = hashlib.sha256(credentials.encode()).hexdigest()
    cached = _tokens.get(digest)
    if cached and cached[1] - RENEW_BEFORE > time.time():
        return cached[0]
    with _tokens_lock:
        cached = _tokens.get(digest)
        if cached and cached[1] - RENEW_BEFORE > time.time():
            return cached[0]
        token, expires_at = _fetch_token(ServiceAccount.parse(credentials))
        _tokens[digest] = (token, expires_at)
        return token


def _fetch_token(account):
    now = int(time.time())
    form = {"grant_type": JWT_GRANT, "assertion": account.assertion(now)}
    try:
        response = http.request("POST", account.token_uri, data=form, read_timeout=TOKEN_TIMEOUT)
    except VendorTimeout as exc:  # no Vertex call was made yet: nothing to look for, simply unavailable
        raise VendorUnavailable(f"Google's token endpoint did not answer: {exc}") from None
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        data = {}
    error = str(data.get("error") or "")
    if response.status_code in (400, 401, 403) and (error in REFUSED_GRANTS or response.status_code != 400):
        detail = str(data.get("error_description") or error or f"HTTP {response.status_code}")
        raise VendorAuthFailed(
            f"Google refused the service-account key {account.email}: {detail}",
            code=error or None,
            http_status=response.status_code,
        )
    token, lifetime = data.get("access_token"), data.get("expires_in")
    if response.status_code != 200 or not isinstance(token, str) or not token:
        raise VendorUnavailable(
            f"Google's token endpoint answered HTTP {response.status_code} without an access token",
            http_status=response.status_code,
        )
    lifetime = lifetime if isinstance(lifetime, int) and not isinstance(lifetime, bool) and lifetime > 0 else 3600
    return token, now + lifetime


class VertexVeo(GeminiVeo):
    vendor = "vertex"
    label = "Google Veo (Vertex AI)"
    default_base_url = "https://us-central1-aiplatform.googleapis.com/v1/projects/PROJECT_ID/locations/us-central1"
    credential_format = gettext_lazy("Service-account key (JSON) or OAuth access token")
    credential_fields = ("service_account_key_or_token",)
    known_models = tuple(MODELS)
    takes_vertex_parameters = True

    def parse_credentials(self, raw):
        value = (raw or "").strip()
        if value.startswith("{"):
            return ServiceAccount.parse(value).stored()
        return super(GeminiVeo, self).parse_credentials(value.removeprefix("Bearer ").strip())

    def _base(self, ctx):
        base = (ctx.base_url or self.default_base_url).rstrip("/")
        if not BASE_RE.match(base) or "/projects/PROJECT_ID/" in base:
            raise VendorUnavailable(
                "The Vertex AI channel's base URL must name the project and region: "
                "https://{region}-aiplatform.googleapis.com/v1/projects/{project}/locations/{region}"
            )
        return base

    def _model_url(self, ctx, model, method):
        return f"{self._base(ctx)}/publishers/google/models/{model}:{method}"

    def _headers(self, ctx):
        return {"Authorization": f"Bearer {access_token(ctx.credentials)}"}

    def _clip(self, clip, upstream_model):
        if clip.source is not None:  # one of the client's Veo videos: where Veo wrote it
            return {"gcsUri": self._source_gcs_uri(clip), "mimeType": "video/mp4"}
        match = STORAGE_URL.match(clip.url)
        if not match:
            raise RequestInvalid(
                f"{upstream_model} on Vertex AI extends only a Veo video in Cloud Storage, given as "
                "https://storage.googleapis.com/{bucket}/{object} or as the id of one of your Veo videos "
                "(video_…); other URLs cannot be extended",
                "first_clip",
                "unsupported_input",
            )
        return {"gcsUri": f"gs://{match['bucket']}/{unquote(match['object'])}", "mimeType": "video/mp4"}

    def _source_gcs_uri(self, clip):
        """The ``gs://`` URI of the client's own video a clip names: kept by its poll, or read back from
        its Cloud Storage URL (a video finished before the URI was kept)."""
        uri = str((clip.source.state or {}).get("gcs_uri") or "")
        if GCS_URI.match(uri):
            return uri
        match = STORAGE_URL.match(clip.url or "")
        if match:
            return f"gs://{match['bucket']}/{unquote(match['object'])}"
        raise RequestInvalid(
            f"'first_clip' names {clip.video_id}, whose Cloud Storage URI is not known: it cannot be extended",
            "first_clip",
            "invalid_source",
        )

    def submit(self, ctx, request, upstream_model, plan):
        storage = str((ctx.options or {}).get("storage_uri") or "")
        if not GCS_URI.match(storage.rstrip("/") + "/x"):
            raise VendorUnavailable(
                "The Vertex AI channel needs the option storage_uri (gs://bucket/prefix/) for Veo to write videos to"
            )
        body = self.build_body(request, upstream_model, plan)
        body["parameters"]["storageUri"] = storage
        response = http.request(
            "POST",
            self._model_url(ctx, upstream_model, "predictLongRunning"),
            headers=self._headers(ctx),
            json=body,
            read_timeout=ctx.read_timeout,
        )
        data = self._checked(response)
        name = data.get("name")
        if not isinstance(name, str) or "/operations/" not in name:
            raise VendorError("Vertex AI accepted the request but returned no operation name")
        return Submission(vendor_task_id=name, state={"operation": name})

    def _fetch_operation(self, ctx, name):
        model = re.search(r"/models/([^/]+)/operations/", name)
        if not model:
            raise VendorError(f"{name!r} is not a Vertex AI operation name")
        url = self._model_url(ctx, model.group(1), "fetchPredictOperation")
        return http.request("POST", url, headers=self._headers(ctx), json={"operationName": name})

    def _video_url(self, ctx, result):
        match = GCS_URI.match(_gcs_uri(result))
        if not match:
            return None  # inline bytes (no storageUri) are not relayed: a video "without a video"
        base = str((ctx.options or {}).get("storage_base_url") or STORAGE_BASE).rstrip("/")
        return f"{base}/{match['bucket']}/{quote(match['object'])}"

    def _finished(self, ctx, response):
        result = super()._finished(ctx, response)
        if result.status == COMPLETED:  # kept: an extension of this video names it by its gs:// URI
            result.state = {"gcs_uri": _gcs_uri(response)}
        return result

    def content(self, ctx, ref):
        return ContentSource(url=ref.result_url, headers=self._headers(ctx))

    def check(self, ctx):
        name = f"{self._base(ctx).split('/v1/', 1)[1]}/publishers/google/models/veo-3.1-generate-001/operations/0"
        response = self._fetch_operation(ctx, name)
        what = "service-account key" if ctx.credentials.startswith("{") else "access token"
        if response.status_code in (400, 404):  # a wrong token is 401/403 on Vertex
            return f"The {what} was accepted (a made-up operation answered 'not found')."
        self._checked(response)
        return f"The {what} was accepted."


def _gcs_uri(result):
    """The ``gcsUri`` of the first video in an operation's response ("" when there is none)."""
    videos = result.get("videos") or []
    return str((videos[0].get("gcsUri") if videos and isinstance(videos[0], dict) else None) or "")


adaptor = VertexVeo()
