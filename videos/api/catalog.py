"""Discovery, in the OpenAI dialect: ``GET /v1/models`` (the models this key can be served, with
what each takes and costs, in OpenAI's model list shape) and ``POST /v1/videos/quote`` (what a
create would hold, with nothing created, held or sent to a vendor)."""

from decimal import Decimal

from rest_framework.response import Response

from channels.services import servable_models

from .. import services
from ..errors import NOT_FOUND, GatewayError
from .openai import OpenAIView, create_request
from .parsing import in_client_terms

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


def model_object(model, channel, price):
    """One model as ``GET /v1/models`` lists it (OpenAI's model object, plus what it takes and costs)."""
    return {
        "id": model,
        "object": "model",
        "created": 0,
        "owned_by": channel.vendor,
        "capabilities": channel.adaptor.capabilities(channel.upstream_model(model)),
        "pricing": pricing(price),
    }


class ModelList(OpenAIView):
    def get(self, request):
        data = [
            model_object(model, channel, price)
            for model, (channel, price) in servable_models().items()
            if self.api_key.allows_model(model)
        ]
        return Response({"object": "list", "data": data})


class ModelDetail(OpenAIView):
    """``GET /v1/models/{model}`` (the SDK's ``models.retrieve``): one model this key may use, else 404."""

    def get(self, request, model):
        served = servable_models().get(model)
        if served is None or not self.api_key.allows_model(model):
            raise GatewayError(
                404,
                "model_not_found",
                f"The model '{model[:200]}' does not exist or this key may not use it.",
                param="model",
                kind=NOT_FOUND,
            )
        return Response(model_object(model, *served))


class VideoQuote(OpenAIView):
    """``POST /v1/videos/quote``: the body of a create; the answer is what it would hold now."""

    def post(self, request):
        canonical, names = create_request(self.body(), request.FILES)
        with in_client_terms(names):
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
