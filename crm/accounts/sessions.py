"""Ending a user's sessions everywhere, from the admin (e.g. after a password change or a lost laptop)."""

from django.contrib.sessions.models import Session
from django.utils import timezone

from ..audit import record


def end_sessions(user, by=None, keep=None):
    """Delete every live session of `user` (but the one keyed `keep`); returns how many. Sessions are not
    indexed by user, so this reads the live ones: a staff team's sessions, a few hundred rows."""
    key = str(user.pk)
    ended = [session.pk for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator()
             if session.pk != keep and session.get_decoded().get("_auth_user_id") == key]
    Session.objects.filter(pk__in=ended).delete()
    record("sessions_ended", f"auth.user:{user.get_username()}", by, sessions=len(ended))
    return len(ended)
