"""Checks shared by vendor adaptors that the contract (base.py, canonical.py) does not offer yet."""

from ..canonical import RequestInvalid

RATIO_TOLERANCE = 0.01  # 854x480 is 16:9; 1000x900 is not 1:1


def exact_aspect_ratio(width, height, allowed, param="size"):
    """The name in ``allowed`` ("16:9", ...) that ``width`` x ``height`` really has.

    Unlike canonical.aspect_ratio (the nearest common ratio) this refuses a size the
    vendor cannot produce instead of silently turning it into another shape.
    """
    actual = width / height
    for name in allowed:
        w, h = (int(part) for part in name.split(":"))
        if abs(actual - w / h) <= RATIO_TOLERANCE * (w / h):
            return name
    raise RequestInvalid(
        f"'{param}' {width}x{height} has no supported aspect ratio; allowed ratios: {', '.join(allowed)}",
        param,
        "invalid_size",
    )


def requested_ratio(request, allowed):
    """The aspect ratio a request asks for: its size's exact ratio (which must agree with an
    explicit ``aspect_ratio``), else the explicit one, checked against ``allowed``."""
    if request.width and request.height:
        ratio = exact_aspect_ratio(request.width, request.height, allowed)
        if request.aspect_ratio and request.aspect_ratio != ratio:
            raise RequestInvalid(
                f"'aspect_ratio' {request.aspect_ratio} contradicts 'size' {request.size}", "aspect_ratio"
            )
        return ratio
    if request.aspect_ratio is not None and request.aspect_ratio not in allowed:
        raise RequestInvalid(
            f"'aspect_ratio' must be one of {', '.join(allowed)}; got {request.aspect_ratio!r}",
            "aspect_ratio",
            "invalid_aspect_ratio",
        )
    return request.aspect_ratio
