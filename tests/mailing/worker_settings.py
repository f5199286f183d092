"""Settings for the worker process of the kill test: Redis hands a dead worker's unacknowledged task
back after seconds rather than the default hour, so the test sees the redelivery."""

from config.settings import *  # noqa: F403

CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 8,
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}
