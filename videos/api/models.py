"""``GET /v1/models``: the models this key may use."""

from rest_framework.response import Response

from channels.models import Channel

from .openai import OpenAIView


class ModelList(OpenAIView):
    def get(self, request):
        owners = {}
        for channel in Channel.objects.usable():
            for model in channel.served_models:
                owners.setdefault(model, channel.vendor)
        data = [
            {"id": model, "object": "model", "created": 0, "owned_by": owner}
            for model, owner in sorted(owners.items())
            if self.api_key.allows_model(model)
        ]
        return Response({"object": "list", "data": data})
