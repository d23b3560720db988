"""Discovery, in the OpenAI dialect: ``GET /v1/models`` (the models this key can be served, with
what each takes and costs, in OpenAI's model list shape) and ``POST /v1/videos/quote`` (what a
create would hold, with nothing created, held or sent to a vendor)."""

from decimal import Decimal

from rest_framework.response import Response

from channels.services import servable_models

from .. import services
from .openai import OpenAIView, create_request

UNITS_PER_USD = 1_000_000


def usd(units):
    """Units as a USD amount, exact to the unit (a string: money is never a float here)."""
    return f"{Decimal(units) / UNITS_PER_USD:.6f}"


def pricing(price):
    """A Price as clients see it; None for a model served free (GATEWAY_ALLOW_UNPRICED)."""
    if price is None:
        return None
    return {
        "per_second": price.per_second,
        "per_video": price.per_video,
        "resolution_multipliers": {tier: str(value) for tier, value in price.resolution_multipliers.items()},
        "units_per_usd": UNITS_PER_USD,
    }


class ModelList(OpenAIView):
    def get(self, request):
        data = [
            {
                "id": model,
                "object": "model",
                "created": 0,
                "owned_by": channel.vendor,
                "capabilities": channel.adaptor.capabilities(channel.upstream_model(model)),
                "pricing": pricing(price),
            }
            for model, (channel, price) in servable_models().items()
            if self.api_key.allows_model(model)
        ]
        return Response({"object": "list", "data": data})


class VideoQuote(OpenAIView):
    """``POST /v1/videos/quote``: the body of a create; the answer is what it would hold now."""

    def post(self, request):
        canonical = create_request(self.body(), request.FILES)
        canonical, _, plan, amount = services.plan_request(self.api_key, canonical)
        return Response(
            {
                "object": "video.quote",
                "model": canonical.model,
                "seconds": str(plan.seconds),
                "size": plan.size or canonical.size,
                "resolution": plan.resolution,
                "amount": amount,
                "amount_usd": usd(amount),
            }
        )
