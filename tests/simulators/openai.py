"""OpenAI Videos API simulator: checks the Bearer key and the create body's shape. The video list
(``GET /v1/videos?limit=&order=&after=``) is a look at every video it shows, as a retrieve is, and
leaves out the videos the vendor forgot; ``latency`` delays every answer (tests/simulators/latency.py)."""

import time

from .base import Response, SimTask, Simulator, parse_multipart
from .latency import Latency

SECONDS = {"4", "8", "12"}
SIZES = {
    "sora-2": {"720x1280", "1280x720"},
    "sora-2-pro": {"720x1280", "1280x720", "1024x1792", "1792x1024"},
}


def error(status, message, code, param=None, kind="invalid_request_error"):
    return Response(status, {"error": {"message": message, "type": kind, "param": param, "code": code}})


class OpenAISimulator(Latency, Simulator):
    def __init__(self, api_key="sk-upstream-test"):
        self.api_key = api_key
        super().__init__()

    def setup_routes(self):
        self.route("POST", r"/v1/videos", self.create)
        self.route("GET", r"/v1/videos", self.list)
        self.route("GET", r"/v1/videos/(?P<video_id>[^/]+)", self.retrieve)
        self.route("DELETE", r"/v1/videos/(?P<video_id>[^/]+)", self.delete)
        self.route("GET", r"/v1/videos/(?P<video_id>[^/]+)/content", self.content)
        self.route("POST", r"/v1/videos/(?P<video_id>[^/]+)/remix", self.remix)

    def _authorized(self, request):
        return request.headers.get("authorization") == f"Bearer {self.api_key}"

    def _unauthorized(self):
        return error(401, "Incorrect API key provided.", "invalid_api_key")

    def create(self, request):
        if not self._authorized(request):
            return self._unauthorized()
        content_type = request.headers.get("content-type", "")
        files = {}
        if content_type.startswith("multipart/form-data"):
            body, files = parse_multipart(request)
        elif content_type.startswith("application/json"):
            body = request.json()
        else:
            return error(400, f"Unsupported content type {content_type!r}", "invalid_request")
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt:
            return error(400, "Missing required parameter: 'prompt'.", "missing_required_parameter", "prompt")
        model = body.get("model", "sora-2")
        if model not in SIZES:
            return error(400, f"Invalid model {model!r}", "invalid_value", "model")
        seconds = body.get("seconds", "4")
        if not isinstance(seconds, str) or seconds not in SECONDS:
            return error(400, f"Invalid seconds {seconds!r}", "invalid_value", "seconds")
        size = body.get("size", "720x1280")
        if size not in SIZES[model]:
            return error(400, f"Invalid size {size!r} for {model}", "invalid_value", "size")
        if "moderate me" in prompt:
            return error(400, "Your request was blocked by our moderation system.", "moderation_blocked")
        reference = files.get("input_reference") or body.get("input_reference")
        video_id = f"video_up{self.next_id():0>8}"
        self.tasks[video_id] = SimTask(
            id=video_id, model=model, body=body, extra={"seconds": seconds, "size": size, "reference": reference}
        )
        return Response(200, self._video(self.tasks[video_id], "queued"))

    def _video(self, task, status):
        progress = {"queued": 0, "in_progress": 50, "completed": 100, "failed": 100}.get(status, 0)
        video = {
            "id": task.id,
            "object": "video",
            "model": task.model,
            "status": status,
            "progress": progress,
            "created_at": int(task.created),
            "completed_at": int(time.time()) if status in ("completed", "failed") else None,
            "expires_at": None,
            "prompt": task.body.get("prompt"),
            "size": task.extra["size"],
            "seconds": task.extra["seconds"],
            "remixed_from_video_id": task.extra.get("remix_of"),
            "error": None,
        }
        if status == "failed":
            video["error"] = {"code": "video_generation_failed", "message": "The video could not be generated."}
        task.extra["status"] = status
        return video

    def retrieve(self, request, video_id):
        if not self._authorized(request):
            return self._unauthorized()
        task = self.known(video_id)
        if task is None:
            return error(404, f"Video {video_id} not found", "not_found")
        status = self.state_for(task, ["queued", "in_progress", "completed"])
        return Response(200, self._video(task, status))

    def list(self, request):
        """A cursor page: ``limit`` (1-100, default 20), ``order`` (``desc`` default), ``after`` an id."""
        if not self._authorized(request):
            return self._unauthorized()
        try:
            limit = int(request.query.get("limit", 20))
        except ValueError:
            return error(400, "Invalid limit", "invalid_value", "limit")
        order = request.query.get("order", "desc")
        if not 1 <= limit <= 100 or order not in ("asc", "desc"):
            return error(400, "Invalid limit or order", "invalid_value")
        listed = [t for t in self.tasks.values() if self.listed(t.id)]
        tasks = sorted(listed, key=lambda t: (t.created, t.id), reverse=order == "desc")
        ids = [t.id for t in tasks]
        after = request.query.get("after")
        start = ids.index(after) + 1 if after in ids else 0
        page = tasks[start : start + limit]
        data = [self._video(t, self.state_for(t, ["queued", "in_progress", "completed"])) for t in page]
        first, last = (page[0].id, page[-1].id) if page else (None, None)
        body = {
            "object": "list",
            "data": data,
            "first_id": first,
            "last_id": last,
            "has_more": start + limit < len(tasks),
        }
        return Response(200, body)

    def listed(self, video_id):
        """Whether the list shows a video: not while the vendor has forgotten it (a listing uses up
        none of forget()'s "not found" answers)."""
        return self._forgotten.get(str(video_id), 0) == 0

    def delete(self, request, video_id):
        if not self._authorized(request):
            return self._unauthorized()
        if self.tasks.pop(video_id, None) is None:
            return error(404, f"Video {video_id} not found", "not_found")
        return Response(200, {"id": video_id, "object": "video.deleted", "deleted": True})

    def content(self, request, video_id):
        if not self._authorized(request):
            return self._unauthorized()
        task = self.tasks.get(video_id)
        if task is None or task.extra.get("status") != "completed":
            return error(404, "Video is not ready", "not_found")
        return Response(200, self.video_bytes, {"Content-Type": "video/mp4"})

    def remix(self, request, video_id):
        if not self._authorized(request):
            return self._unauthorized()
        source = self.tasks.get(video_id)
        if source is None:
            return error(404, f"Video {video_id} not found", "not_found")
        body = request.json()
        new_id = f"video_up{self.next_id():0>8}"
        self.tasks[new_id] = SimTask(
            id=new_id,
            model=source.model,
            body={"prompt": body.get("prompt")},
            extra={"seconds": source.extra["seconds"], "size": source.extra["size"], "remix_of": video_id},
        )
        return Response(200, self._video(self.tasks[new_id], "queued"))
