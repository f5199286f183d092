"""Work the nightly run spreads over several database connections (worker threads, each with a
connection of its own), and when it may."""

from django.db import connection


def may_go_apart():
    """Whether work may go to other connections: outside a caller's transaction (inside one, other
    connections could not see its rows, the run's own among them)."""
    return not connection.in_atomic_block


def on_own_connection(function):
    """The function for a worker thread: it runs on the thread's own connection, closed after."""
    def run(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        finally:
            connection.close()
    return run
