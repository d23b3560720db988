"""Jimeng (Volcengine Visual CVSync2Async) simulator.

Verifies the Volcengine HMAC-SHA256 signature for real (its own implementation, not the
gateway's): the canonical request is rebuilt from exactly the headers named in
SignedHeaders with their received values, X-Content-Sha256 must match the body, the
scope date must match X-Date and X-Date must be within 15 minutes of now. Signature
failures come back in the OpenAPI ResponseMetadata envelope; business errors in the
``code``/``message`` envelope with a non-200 HTTP status.

Script states: ``in_queue``, ``generating``, ``done``, ``not_found``, ``expired``,
``fail:<code>`` (a finished task whose outer code is <code>), or anything else verbatim.
"""

import base64
import binascii
import hashlib
import hmac
import re
from datetime import UTC, datetime
from urllib.parse import quote, unquote

from .base import Response, SimTask, Simulator

REGION, SERVICE = "cn-north-1", "cv"
SKEW_SECONDS = 15 * 60
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24
AUTH_RE = re.compile(r"^HMAC-SHA256 Credential=([^,]+), SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$")
T2V = {"jimeng_vgfm_t2v_l20", "jimeng_t2v_v30", "jimeng_t2v_v30_1080p"}
IMAGES = {  # req_key -> allowed image counts
    "jimeng_vgfm_t2v_l20": {0},
    "jimeng_vgfm_i2v_l20": {1},
    "jimeng_t2v_v30": {0},
    "jimeng_i2v_first_v30": {1},
    "jimeng_i2v_first_tail_v30": {2},
    "jimeng_ti2v_v30_pro": {0, 1},
    "jimeng_t2v_v30_1080p": {0},
    "jimeng_i2v_first_v30_1080": {1},
    "jimeng_i2v_first_tail_v30_1080": {2},
}
RATIOS = {"16:9", "4:3", "1:1", "3:4", "9:16", "21:9"}
BUSINESS = {  # code -> (HTTP status, message)
    50411: (400, "Pre Img Risk Not Pass"),
    50412: (400, "Text Risk Not Pass"),
    50413: (400, "Post Text Risk Not Pass"),
    50511: (400, "Post Img Risk Not Pass"),
    50512: (400, "Post Text Risk Not Pass"),
    50429: (429, "Request Has Reached API Limit, Please Try Later"),
    50430: (429, "Request Has Reached API Concurrent Limit, Please Try Later"),
    50500: (500, "Internal Error"),
    50501: (500, "Internal RPC Error"),
    50205: (400, "Invalid Parameter"),
}


def _hmac(key, message):
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def _enc(value):
    return quote(value, safe="-_.~")


class JimengSimulator(Simulator):
    def __init__(self, access_key="AKLTsimulator", secret_key="c2ltdWxhdG9yLXNlY3JldA=="):
        self.access_key = access_key
        self.secret_key = secret_key
        super().__init__()

    def setup_routes(self):
        self.route("POST", r"/", self.openapi)
        self.route("GET", r"/video/(?P<task_id>\d+)\.mp4", self.video)
        self.route("GET", r"/image\.png", self.image)

    # --- envelopes -------------------------------------------------------------------------

    def meta_error(self, request, status, code, message):
        metadata = {
            "RequestId": f"sim{self.next_id()}",
            "Action": request.query.get("Action", ""),
            "Version": request.query.get("Version", ""),
            "Service": SERVICE,
            "Region": REGION,
            "Error": {"Code": code, "Message": message},
        }
        return Response(status, {"ResponseMetadata": metadata})

    def business(self, code, data=None, message=None):
        status, default = BUSINESS[code]
        body = {"code": code, "data": data, "message": message or default, "request_id": f"sim{self.next_id()}"}
        body.update(status=code, time_elapsed="1.2ms")
        return Response(status, body)

    def ok(self, data):
        body = {"code": 10000, "data": data, "message": "Success", "request_id": f"sim{self.next_id()}"}
        body.update(status=10000, time_elapsed="1.2ms")
        return Response(200, body)

    # --- signature -------------------------------------------------------------------------

    def verify(self, request):
        """None when the signature is good, else the error Response."""
        match = AUTH_RE.match(request.headers.get("authorization", ""))
        if not match:
            return self.meta_error(request, 401, "MissingAuthenticationToken", "Missing or malformed Authorization")
        credential, signed, sig = match.groups()
        parts = credential.split("/")
        if len(parts) != 5 or parts[4] != "request":
            return self.meta_error(request, 401, "InvalidCredential", "Malformed Credential")
        access_key, date, region, service, _ = parts
        if access_key != self.access_key:
            return self.meta_error(request, 401, "InvalidAccessKey", "The access key is invalid")
        x_date = request.headers.get("x-date", "")
        try:
            stamp = datetime.strptime(x_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            return self.meta_error(request, 401, "InvalidTimestamp", "X-Date is missing or malformed")
        if abs((datetime.now(UTC) - stamp).total_seconds()) > SKEW_SECONDS:
            return self.meta_error(request, 401, "InvalidTimestamp", "X-Date is outside the allowed window")
        if date != x_date[:8] or (region, service) != (REGION, SERVICE):
            return self.meta_error(request, 401, "SignatureDoesNotMatch", "Credential scope does not match")
        payload_hash = hashlib.sha256(request.body).hexdigest()
        if request.headers.get("x-content-sha256") != payload_hash:
            return self.meta_error(request, 401, "SignatureDoesNotMatch", "X-Content-Sha256 does not match the body")
        names = signed.split(";")
        if (
            names != sorted(names)
            or not {"host", "x-date"} <= set(names)
            or any(n not in request.headers for n in names)
        ):
            return self.meta_error(request, 401, "SignatureDoesNotMatch", "SignedHeaders is not acceptable")
        pairs = sorted(p.split("=", 1) if "=" in p else (p, "") for p in request.raw_query.split("&") if p)
        query = "&".join(f"{_enc(unquote(k))}={_enc(unquote(v))}" for k, v in pairs)
        headers = "".join(f"{n}:{request.headers[n].strip()}\n" for n in names)
        canonical = f"POST\n{request.path}\n{query}\n{headers}\n{signed}\n{payload_hash}"
        scope = f"{date}/{REGION}/{SERVICE}/request"
        to_sign = f"HMAC-SHA256\n{x_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        key = _hmac(_hmac(_hmac(_hmac(self.secret_key.encode(), date), REGION), SERVICE), "request")
        if not hmac.compare_digest(hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest(), sig):
            return self.meta_error(request, 401, "SignatureDoesNotMatch", "The request signature does not match")
        return None

    # --- actions ---------------------------------------------------------------------------

    def openapi(self, request):
        refused = self.verify(request)
        if refused:
            return refused
        if request.query.get("Version") != "2022-08-31":
            return self.meta_error(request, 400, "InvalidVersion", "Unsupported Version")
        action = request.query.get("Action")
        if action == "CVSync2AsyncSubmitTask":
            return self.submit(request)
        if action == "CVSync2AsyncGetResult":
            return self.get_result(request)
        return self.meta_error(request, 404, "InvalidActionOrVersion", f"Unknown Action {action!r}")

    def submit(self, request):
        body = request.json()
        req_key = body.get("req_key")
        if req_key not in IMAGES:
            return self.business(50205, message=f"unknown req_key {req_key!r}")
        urls, blobs = body.get("image_urls"), body.get("binary_data_base64")
        if urls is not None and blobs is not None:
            return self.business(50205, message="give image_urls or binary_data_base64, not both")
        images = urls or blobs or []
        if len(images) not in IMAGES[req_key]:
            return self.business(50205, message=f"{req_key} takes {sorted(IMAGES[req_key])} images, got {len(images)}")
        for blob in blobs or []:
            try:
                base64.b64decode(blob, validate=True)
            except (binascii.Error, ValueError, TypeError):
                return self.business(50205, message="binary_data_base64 must be raw base64 (no data: prefix)")
        if req_key in T2V and not body.get("prompt"):
            return self.business(50205, message="prompt is required")
        if body.get("frames", 121) not in (121, 241):
            return self.business(50205, message="frames must be 121 or 241")
        if not isinstance(body.get("seed", -1), int):
            return self.business(50205, message="seed must be an integer")
        if "aspect_ratio" in body and (images or body["aspect_ratio"] not in RATIOS):
            return self.business(50205, message="aspect_ratio is for text-to-video only, one of " + ", ".join(RATIOS))
        if "moderate me" in body.get("prompt", ""):
            return self.business(50412)
        if any("nsfw" in str(url) for url in urls or []):
            return self.business(50411)
        task_id = str(7392616336519610000 + int(self.next_id()))
        self.tasks[task_id] = SimTask(id=task_id, model=req_key, body=body)
        return self.ok({"task_id": task_id})

    def get_result(self, request):
        body = request.json()
        task = self.known(body.get("task_id"))
        if task is None or task.model != body.get("req_key"):  # the req_key must be the submit's
            return self.ok({"status": "not_found", "video_url": ""})
        state = self.state_for(task, ["in_queue", "generating", "done"])
        if state.startswith("fail:"):
            return self.business(int(state[5:]), data={"status": "done", "video_url": ""})
        data = {"status": state, "video_url": "", "binary_data_base64": [], "image_urls": None, "resp_data": ""}
        if state == "done":
            data["video_url"] = f"{self.url}/video/{task.id}.mp4?X-Expires=3600"
        return self.ok(data)

    def video(self, request, task_id):
        if task_id not in self.tasks:
            return Response(404, b"not found")
        return Response(200, self.video_bytes, {"Content-Type": "video/mp4"})

    def image(self, request):
        """A PNG at a URL, for tests where the gateway must download a client's image."""
        return Response(200, PNG, {"Content-Type": "image/png"})
