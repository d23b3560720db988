"""The unified (new-api) dialect: ``/v1/video/generations``."""

from rest_framework.response import Response

from .. import services, signing
from ..models import VideoTask
from .base import DialectView
from .parsing import as_metadata, as_text, body_fields, build_request, check_n, in_client_terms


def wire_status(task):
    """new-api's format has no cancelled state: a cancelled task reads failed (error code "cancelled")."""
    return VideoTask.Status.FAILED if task.status == VideoTask.Status.CANCELLED else task.status


class UnifiedView(DialectView):
    route = VideoTask.Route.UNIFIED

    def error_body(self, error):
        return {"code": error.code, "message": error.message, "param": error.param, "type": error.kind}


class Generations(UnifiedView):
    def post(self, request):
        data = self.body()
        model = as_text(data.get("model"), "model", required=True)
        prompt = as_text(data.get("prompt"), "prompt", required=True)
        check_n(data.get("n"))
        # new-api's input_reference (a URL here) is the first frame, as in /v1/videos.
        fields, metadata, names = body_fields(
            data, as_metadata(data.get("metadata")), aliases={"input_reference": "image"}
        )
        with in_client_terms(names):
            canonical = build_request(model, prompt, fields, metadata, names=names)
            task = services.create_task(
                api_key=self.api_key, request=canonical, route=self.route, idempotency_key=self.idempotency_key
            )
        return Response(
            {
                "id": task.public_id,
                "object": "video",
                "model": task.model,
                "created_at": int(task.created_at.timestamp()),
                "task_id": task.public_id,
                "status": wire_status(task),
            },
            status=201,
        )


class Generation(UnifiedView):
    def get(self, request, task_id):
        task = self.get_task(task_id)
        params = task.params
        width, height = task.dimensions
        error = None
        status = wire_status(task)
        if status == VideoTask.Status.FAILED:
            error = {"code": task.error_code, "message": task.error_message}
        return Response(
            {
                "task_id": task.public_id,
                "status": status,
                "progress": task.progress,
                "format": "mp4",
                "url": signing.signed_content_url(request, task) if task.status == VideoTask.Status.COMPLETED else None,
                "metadata": {
                    "duration": task.duration,
                    "fps": params.get("fps"),
                    "width": width,
                    "height": height,
                    "seed": params.get("seed"),
                },
                "error": error,
            }
        )
