from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "dashboard"
    verbose_name = "Flowdash"

    def ready(self) -> None:
        from . import backend  # noqa: F401  (connects the settings-changed receiver)
