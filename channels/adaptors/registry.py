"""Vendor name -> adaptor. One module per vendor; add a vendor by adding a line here."""

from importlib import import_module

VENDOR_MODULES = {
    "sandbox": "channels.adaptors.sandbox",
    "openai": "channels.adaptors.openai",
    "jimeng": "channels.adaptors.jimeng",
    "seedance": "channels.adaptors.seedance",
    "dashscope": "channels.adaptors.dashscope",
    "minimax": "channels.adaptors.minimax",
    "gemini": "channels.adaptors.gemini",
    "vertex": "channels.adaptors.vertex",
    "kling": "channels.adaptors.kling",
    "vidu": "channels.adaptors.vidu",
    "xai": "channels.adaptors.xai",
}

_adaptors = {}


def get(vendor):
    if vendor not in _adaptors:
        if vendor not in VENDOR_MODULES:
            raise KeyError(f"Unknown vendor {vendor!r}; known: {', '.join(sorted(VENDOR_MODULES))}")
        _adaptors[vendor] = import_module(VENDOR_MODULES[vendor]).adaptor
    return _adaptors[vendor]


def all_adaptors():
    return [get(vendor) for vendor in VENDOR_MODULES]


def choices():
    return [(adaptor.vendor, adaptor.label) for adaptor in all_adaptors()]
