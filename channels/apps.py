from django.apps import AppConfig


class ChannelsConfig(AppConfig):
    name = "channels"
    verbose_name = "Channels and prices"

    def ready(self):
        from accounts.signals import collect_model_names

        from . import services

        # The key form (accounts) offers the models operators configured here.
        collect_model_names.connect(
            lambda sender, **kwargs: services.model_names(), weak=False, dispatch_uid="channels"
        )
