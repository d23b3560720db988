"""Vertex AI (Veo) simulator: Bearer access tokens (401 UNAUTHENTICATED otherwise), the regional
project route ``/v1/projects/{p}/locations/{l}/publishers/google/models/{m}:predictLongRunning``, polls
by ``POST …:fetchPredictOperation {"operationName"}``, and results written to the ``storageUri``
bucket, downloaded from ``/{bucket}/{object}`` (Cloud Storage's URL shape) with the token. Without a
``storageUri`` the video comes back inline, as Vertex does.

It takes what the Gemini API refuses (``generateAudio``, ``seed``, ``fps``, ``storageUri``…) and
checks Veo's rules as the Gemini simulator does; extension takes ``video {gcsUri, mimeType}`` of a
video it wrote.

With ``service_account`` (the public half of a key, see ``service_account_key()``) it is also Google's
token endpoint, ``POST /token``: the JWT bearer grant, checked as Google checks it (RS256 signature by
that key, ``iss``, ``aud`` = the token URL, the cloud-platform scope, ``iat``/``exp`` at most an hour
apart and around now), answering ``invalid_grant`` otherwise. The tokens it issues expire after
``token_ttl`` seconds (on the simulator's clock, ``time.time()``)."""

import base64
import json
import re
import time
from functools import cache
from urllib.parse import parse_qs

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .base import Response
from .gemini import MODELS, GeminiSimulator, rpc_error

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@cache
def _rsa_key(seed):
    """An RSA key per ``seed``, made once per test run (2048-bit keys take a moment)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def service_account_key(token_uri, email="veo@proj-1.iam.gserviceaccount.com", seed="main"):
    """(the key file's JSON text, the key's public half): what Google hands the operator, and what the
    simulator verifies assertions with."""
    key = _rsa_key(seed)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    document = {
        "type": "service_account",
        "project_id": "proj-1",
        "private_key_id": f"kid-{seed}",
        "private_key": pem,
        "client_email": email,
        "client_id": "1234567890",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
    }
    return json.dumps(document, indent=2), key.public_key()


def _b64decode(part):
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


PREFIX = r"/v1/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/publishers/google/models/(?P<model>[^/:]+)"


class VertexSimulator(GeminiSimulator):
    vertex = True

    def __init__(self, token="ya29.test-token", project="proj-1", location="us-central1", token_ttl=3599):
        self.token, self.project, self.location = token, project, location
        self.service_account = None  # (client_email, public key), set by a test
        self.token_ttl = token_ttl
        self.issued = {}  # access token -> expiry (Unix time)
        super().__init__()

    @property
    def token_url(self):
        return f"{self.url}/token"

    def grant(self, request):
        """Google's token endpoint, for the JWT bearer grant only."""
        form = {name: values[-1] for name, values in parse_qs(request.body.decode()).items()}
        if form.get("grant_type") != JWT_GRANT:
            return Response(400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type"})
        problem = self._assertion_problem(form.get("assertion", ""))
        if problem:
            return Response(400, {"error": "invalid_grant", "error_description": problem})
        token = f"ya29.sim-{self.next_id()}"
        self.issued[token] = time.time() + self.token_ttl
        return Response(200, {"access_token": token, "expires_in": self.token_ttl, "token_type": "Bearer"})

    def _assertion_problem(self, assertion):
        if self.service_account is None:
            return "Invalid JWT Signature."
        email, public_key = self.service_account
        try:
            header_part, claims_part, signature_part = assertion.split(".")
            header, claims = json.loads(_b64decode(header_part)), json.loads(_b64decode(claims_part))
            signature = _b64decode(signature_part)
        except ValueError:
            return "Invalid JWT: the assertion is not a JWT."
        if header.get("alg") != "RS256":
            return "Invalid JWT: alg must be RS256."
        try:
            public_key.verify(signature, f"{header_part}.{claims_part}".encode(), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return "Invalid JWT Signature."
        now = time.time()
        iat, exp = claims.get("iat"), claims.get("exp")
        if claims.get("iss") != email:
            return "Invalid email or User ID"
        if claims.get("aud") != self.token_url:
            return "Invalid JWT: Failed audience check."
        if SCOPE not in str(claims.get("scope") or "").split():
            return "Invalid OAuth scope or ID token audience provided."
        if not isinstance(iat, int) or not isinstance(exp, int) or not (0 < exp - iat <= 3600):
            return "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe."
        if iat > now + 300 or exp < now - 300:
            return "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe."
        return None

    def _authorized(self, request):
        header = request.headers.get("authorization") or ""
        token = header.removeprefix("Bearer ")
        if header == f"Bearer {self.token}":
            return True
        return header.startswith("Bearer ") and self.issued.get(token, 0) > time.time()

    def setup_routes(self):
        self.route("POST", r"/token", self.grant)
        self.route("POST", PREFIX + r":predictLongRunning", self.vertex_create)
        self.route("POST", PREFIX + r":fetchPredictOperation", self.fetch)
        self.route("GET", r"/(?P<bucket>[a-z0-9._-]+)/(?P<path>.+\.mp4)", self.download_object)

    def _denied(self, request):
        if not self._authorized(request):
            return rpc_error(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
                "or other valid authentication credential.",
            )
        return None

    def _wrong_place(self, project, location, model):
        if (project, location) != (self.project, self.location) or model not in MODELS:
            path = f"projects/{project}/locations/{location}/publishers/google/models/{model}"
            return rpc_error(404, "NOT_FOUND", f"Publisher Model `{path}` not found.")
        return None

    def operation_name(self, request, model, op):
        return f"projects/{self.project}/locations/{self.location}/publishers/google/models/{model}/operations/{op}"

    def vertex_create(self, request, project, location, model):
        denied = self._denied(request) or self._wrong_place(project, location, model)
        if denied:
            return denied
        storage = (request.json().get("parameters") or {}).get("storageUri")
        if storage is not None and not re.match(r"^gs://[^/]+/", str(storage)):
            return rpc_error(400, "INVALID_ARGUMENT", "storageUri must be a gs:// URI")
        return self.create(request, model)

    def _video_problem(self, video):
        match = re.match(r"^gs://[^/]+/.*?(?P<op>op\d+)/sample_0\.mp4$", str(video.get("gcsUri") or ""))
        task = self.tasks.get(match.group("op")) if match else None
        if set(video) - {"gcsUri", "mimeType"} or task is None or not task.extra.get("done"):
            return "video.gcsUri must be a Cloud Storage URI of a video generated by Veo"
        return None

    def fetch(self, request, project, location, model):
        denied = self._denied(request) or self._wrong_place(project, location, model)
        if denied:
            return denied
        name = str(request.json().get("operationName") or "")
        op = name.rsplit("/", 1)[-1]
        task = self.known(op)
        if task is None or task.extra["name"] != name:
            return rpc_error(404, "NOT_FOUND", f"Operation {name} not found")
        state = self.state_for(task, ["running", "running", "done"])
        body = {"name": name, "done": state in ("done", "error", "filtered")}
        kind = "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse"
        if state == "error":
            body["error"] = {"code": 13, "message": "Video generation failed due to an internal error."}
        elif state == "filtered":
            body["response"] = {
                "@type": kind,
                "raiMediaFilteredCount": 1,
                "raiMediaFilteredReasons": ["The video was filtered because it may depict a celebrity."],
            }
        elif state == "done":
            task.extra["done"] = True
            storage = (task.body.get("parameters") or {}).get("storageUri")
            if storage:
                video = {"gcsUri": f"{storage.rstrip('/')}/{op}/sample_0.mp4", "mimeType": "video/mp4"}
            else:
                video = {"bytesBase64Encoded": base64.b64encode(self.video_bytes).decode(), "mimeType": "video/mp4"}
            body["response"] = {"@type": kind, "raiMediaFilteredCount": 0, "videos": [video]}
        return Response(200, body)

    def download_object(self, request, bucket, path):
        if not self._authorized(request):
            return Response(401, {"error": {"code": 401, "message": "Anonymous caller does not have access."}})
        op = path.rsplit("/", 2)[-2]
        task = self.tasks.get(op)
        if task is None or not task.extra.get("done"):
            return Response(404, {"error": {"code": 404, "message": "No such object"}})
        return Response(200, self.video_bytes, {"Content-Type": "video/mp4"})
