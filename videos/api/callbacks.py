"""``POST /callbacks/<task id>/<token>``: where vendors call back (videos/callbacks.py decides).

No API key: the unguessable token in the path authenticates (compared in constant time; a wrong one
is the same 404 as an unknown task). The body is read raw, up to MAX_BODY bytes (Vidu signs over
the request as received). Every answer is JSON; 200 is what each vendor wants as its receipt.
"""

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .. import callbacks

# Vidu echoes the create's ``payload`` (up to 1 MiB) back in its callbacks; nothing legitimate is larger.
MAX_BODY = 2 * 1024 * 1024


@csrf_exempt
@require_POST
def vendor_callback(request, task_id, token):
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_BODY:
        return _too_large()
    body = request.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        return _too_large()
    answer = callbacks.receive(
        task_id,
        token,
        method=request.method,
        path=request.path,
        query=request.META.get("QUERY_STRING", ""),
        headers=dict(request.headers),
        body=body,
    )
    return JsonResponse(answer.body, status=answer.status)


def _too_large():
    message = f"A callback body may be at most {MAX_BODY} bytes."
    return JsonResponse({"error": {"code": "body_too_large", "message": message}}, status=413)
