from django.apps import AppConfig


class ChannelsConfig(AppConfig):
    name = "channels"
    verbose_name = "Channels and prices"

    def ready(self):
        from accounts.signals import check_webhook_url, collect_model_names

        from . import outbound, services

        # The key form (accounts) offers the models operators configured here.
        collect_model_names.connect(
            lambda sender, **kwargs: services.model_names(), weak=False, dispatch_uid="channels"
        )
        # The webhook endpoint forms (accounts) refuse a URL the SSRF guard would not deliver to.
        check_webhook_url.connect(
            lambda sender, url, **kwargs: outbound.webhook_url_problem(url), weak=False, dispatch_uid="channels"
        )
