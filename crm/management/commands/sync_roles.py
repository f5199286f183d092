"""Give the three role groups the permissions crm/roles.py says, e.g. after adding models."""

from django.apps import apps
from django.core.management.base import BaseCommand

from crm import roles


class Command(BaseCommand):
    help = "Create or reset the groups Administrator, Marketing manager and Analyst (crm/roles.py)."

    def handle(self, *args, **options):
        roles.sync(apps)
        for role in roles.ROLES:
            self.stdout.write(f"{role}: reset")
