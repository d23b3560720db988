"""Google Veo through Vertex AI: ``POST {base}/publishers/google/models/{model}:predictLongRunning``
returns a long-running operation, polled with ``POST {base}/publishers/google/models/{model}:
fetchPredictOperation`` and ``{"operationName": …}``. The channel's base URL names the project and the
region: ``https://{region}-aiplatform.googleapis.com/v1/projects/{project}/locations/{region}``.

Credentials: an OAuth 2.0 access token (``gcloud auth print-access-token``), sent as a Bearer token.
The gateway does not run the service-account flow: a token lasts about an hour, so whoever runs the
channel refreshes it (a 401 auto-disables the channel, as for any rejected credential).

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

import re
from urllib.parse import quote, unquote

from django.utils.translation import gettext_lazy

from .. import http
from ..canonical import RequestInvalid
from .base import COMPLETED, ContentSource, Submission, VendorError, VendorUnavailable
from .gemini import MODELS, GeminiVeo

BASE_RE = re.compile(r"^https?://[^/]+/v1/projects/[^/]+/locations/[^/]+$")
STORAGE_URL = re.compile(r"^https://storage\.googleapis\.com/(?P<bucket>[a-z0-9._-]+)/(?P<object>[^?#]+)$")
GCS_URI = re.compile(r"^gs://(?P<bucket>[^/]+)/(?P<object>.+)$")
STORAGE_BASE = "https://storage.googleapis.com"


class VertexVeo(GeminiVeo):
    vendor = "vertex"
    label = "Google Veo (Vertex AI)"
    default_base_url = "https://us-central1-aiplatform.googleapis.com/v1/projects/PROJECT_ID/locations/us-central1"
    credential_format = gettext_lazy("OAuth access token")
    credential_fields = ("access_token",)
    known_models = tuple(MODELS)
    takes_vertex_parameters = True

    def parse_credentials(self, raw):
        value = (raw or "").strip()
        if value.startswith("{"):
            raise ValueError(
                "Vertex AI takes an OAuth access token (gcloud auth print-access-token); the gateway does not "
                "run the service-account flow, so a service-account key cannot be used"
            )
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
        return {"Authorization": f"Bearer {ctx.credentials}"}

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
        if response.status_code in (400, 404):  # a wrong token is 401/403 on Vertex
            return "The access token was accepted (a made-up operation answered 'not found')."
        self._checked(response)
        return "The access token was accepted."


def _gcs_uri(result):
    """The ``gcsUri`` of the first video in an operation's response ("" when there is none)."""
    videos = result.get("videos") or []
    return str((videos[0].get("gcsUri") if videos and isinstance(videos[0], dict) else None) or "")


adaptor = VertexVeo()
