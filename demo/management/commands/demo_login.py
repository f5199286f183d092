import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from crm import roles
from crm.accounts import two_factor

# One demo user per role (crm/roles.py), so each role's admin can be tried.
ROLE_USERS = {"manager": roles.MARKETING_MANAGER, "analyst": roles.ANALYST}


def admin_device(user):
    """The demo administrator's authenticator: the same key on every run, so an app set up once keeps working."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        two_factor.reset(user)
        device = TOTPDevice.objects.create(user=user, name=two_factor.APP_DEVICE, confirmed=True)
    return device


def share_device(user, key):
    """The analyst exports the scores CSV (personal data), so it needs a second factor too: the demo gives
    it the administrator's key, so one code signs in either."""
    TOTPDevice.objects.filter(user=user).exclude(key=key).delete()
    TOTPDevice.objects.get_or_create(user=user, key=key, defaults={"name": two_factor.APP_DEVICE, "confirmed": True})


class Command(BaseCommand):
    help = ("Create (or reset) the demo administrator 'admin' and the users 'manager' and 'analyst' "
            "(one per role) with a fresh random password, and print it. 'admin' holds personal data, so it "
            "signs in with a second factor too: --code prints the code to type now.")

    def add_arguments(self, parser):
        parser.add_argument("--code", action="store_true",
                            help="Only print the demo administrator's current two-factor code (valid about 30 s).")

    def handle(self, *args, code=False, **options):
        users = get_user_model().objects
        if code:
            device = admin_device(users.get(username="admin"))
            self.stdout.write(f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}")
            return
        password = secrets.token_urlsafe(9)
        user, _ = users.get_or_create(username="admin", defaults={"email": "admin@example.com"})
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        device = admin_device(user)
        for username, role in ROLE_USERS.items():
            user, _ = users.get_or_create(username=username)
            user.is_staff = True
            user.set_password(password)
            user.save()
            user.groups.set([Group.objects.get(name=role)])
            if two_factor.holds_personal_data(users.get(pk=user.pk)):
                share_device(user, device.key)
        self.stdout.write(f"Admin: http://127.0.0.1:8000/admin/  login: admin  password: {password}")
        self.stdout.write(f"       the same password for 'manager' ({roles.MARKETING_MANAGER}) and "
                          f"'analyst' ({roles.ANALYST})")
        self.stdout.write(f"       'admin' and 'analyst' then ask for a two-factor code: `make demo-code` prints it, "
                          f"or add the key {two_factor.secret_text(device)} to an authenticator app")
