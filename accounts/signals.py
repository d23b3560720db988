"""Signals by which the apps above accounts pass data down without accounts importing them."""

from django.dispatch import Signal

# Sent when a page needs every model name a key could be limited to; receivers return an
# iterable of names (channels answers with the priced and served models).
collect_model_names = Signal()

# Sent before a webhook endpoint's URL is saved; receivers return a sentence saying why the
# gateway would refuse to deliver there, or None (channels answers with its SSRF guard).
check_webhook_url = Signal()
