from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core"

    def ready(self):
        from .logs import connect_signals

        connect_signals()  # correlation ids on the log lines of requests and tasks
