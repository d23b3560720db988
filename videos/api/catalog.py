"""``GET /v1/models``: the models this key may use (OpenAI's model list shape)."""

from rest_framework.response import Response

from channels.services import served_models

from .openai import OpenAIView


class ModelList(OpenAIView):
    def get(self, request):
        data = [
            {"id": model, "object": "model", "created": 0, "owned_by": vendor}
            for model, vendor in served_models().items()
            if self.api_key.allows_model(model)
        ]
        return Response({"object": "list", "data": data})
