from django.apps import AppConfig


class JuiceConfig(AppConfig):
    """What every page shares: researcher accounts and their API tokens."""

    name = "juice"
    verbose_name = "Researchers"
