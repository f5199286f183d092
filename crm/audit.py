"""The audit log of personal data: who downloaded, exported or erased what, and when.

One function for every place that lets personal data out or erases it (admin downloads, client
exports and erasures, commands), so each entry names its actor the same way. An entry names what it
was about (`crm.client:42`, a file name), never the personal data itself.
"""

import getpass

from .models import AuditLog


def actor_fields(user=None, name=""):
    """(actor, actor_name) for a logged-in user, or a named non-user actor such as "cli:alice"."""
    if user is not None and getattr(user, "is_authenticated", False):
        return user, user.get_username()
    return None, name or command_actor()


def command_actor():
    """Who ran a management command, as far as the machine knows."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name for this uid (e.g. in a container)
        return "cli"


def client_target(client_or_pk):
    return f"crm.client:{getattr(client_or_pk, 'pk', client_or_pk)}"


def record(action, target, user=None, actor_name="", **detail):
    actor, name = actor_fields(user, actor_name)
    return AuditLog.objects.create(actor=actor, actor_name=name[:150], action=action, target=target[:255],
                                   detail=detail)


def record_download(target, user=None, actor_name="", **detail):
    return record(AuditLog.Action.DOWNLOAD, target, user, actor_name, **detail)
