import pytest


@pytest.fixture
def eager():
    """Tasks in-process, even in the PostgreSQL + Redis pass where REDIS_URL sends them to a broker."""
    from config.celery import app

    before = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = before
