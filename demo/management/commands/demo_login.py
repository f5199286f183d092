import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand

from crm import roles

# One demo user per role (crm/roles.py), so each role's admin can be tried.
ROLE_USERS = {"manager": roles.MARKETING_MANAGER, "analyst": roles.ANALYST}


class Command(BaseCommand):
    help = ("Create (or reset) the demo administrator 'admin' and the users 'manager' and 'analyst' "
            "(one per role) with a fresh random password, and print it.")

    def handle(self, *args, **options):
        password = secrets.token_urlsafe(9)
        users = get_user_model().objects
        user, _ = users.get_or_create(username="admin", defaults={"email": "admin@example.com"})
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        for username, role in ROLE_USERS.items():
            user, _ = users.get_or_create(username=username)
            user.is_staff = True
            user.set_password(password)
            user.save()
            user.groups.set([Group.objects.get(name=role)])
        self.stdout.write(f"Admin: http://127.0.0.1:8000/admin/  login: admin  password: {password}")
        self.stdout.write(f"       the same password for 'manager' ({roles.MARKETING_MANAGER}) and "
                          f"'analyst' ({roles.ANALYST})")
