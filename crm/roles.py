"""The roles a shop's staff work in: three groups and which permissions each holds.

Created after `migrate` where missing (crm/apps.py) as the starting point; an administrator may
change a group in the admin afterwards. What a role may do is decided here by a rule on (app, model,
action) rather than a list of permission rows, so a model added later falls
in the right place when the groups are synced again (`manage.py sync_roles`).

- Administrator: everything, including downloads of personal data and user management.
- Marketing manager: works on campaigns, journeys, templates, segments, audiences, spend, loyalty rules and
  the products' flags (in stock, never recommend); reads clients and scores; downloads client
  lists with scores but no contact data (the client list's download); no other download of
  personal data (audience files, client exports, score files, lists with contact data) and no
  erasure.
- Analyst: reads everything of the shop, the dashboards, exports the score file and downloads
  client lists with scores (no contact data).

Users also need "staff status" to enter the admin; a group does not give it.
"""

from django.utils.translation import gettext_lazy as _

ADMINISTRATOR = "Administrator"
MARKETING_MANAGER = "Marketing manager"
ANALYST = "Analyst"
# The groups keep the English names above (a rename would orphan them); pages say them translated.
LABELS = {ADMINISTRATOR: _("Administrator"), MARKETING_MANAGER: _("Marketing manager"), ANALYST: _("Analyst")}

# The shop's own apps: what the two working roles may read.
SHOP_APPS = {"crm", "segments", "mailing", "journeys", "audiences", "analytics", "loyalty"}
# Kept from both working roles: the personal-data audit log and the API's tokens (administration).
NOT_READ = {("crm", "auditlog"), ("api", "apitoken")}
# Personal data leaving the system: separate permissions that only the administrator holds by default.
PERSONAL_DATA = {("crm", "export_client_data"), ("crm", "erase_client"), ("audiences", "download_audience"),
                 ("segments", "export_scores")}
# What a marketing manager edits (add, change, delete): the models the team works on.
MANAGER_EDITS = {
    ("mailing", "campaign"), ("mailing", "campaignvariant"), ("mailing", "emailtemplate"), ("journeys", "journey"),
    ("audiences", "audiencesync"), ("audiences", "audienceexport"), ("mailing", "suppression"),
    ("segments", "segment"), ("analytics", "marketingspend"),
    ("loyalty", "pointrule"), ("loyalty", "tier"), ("loyalty", "pointsentry"),
    # The catalogue's flags (out of stock, never recommend) steer what emails recommend.
    ("crm", "product"),
}
# Extra actions beyond reading: the manager may start a scoring run; both see the dashboards;
# the analyst exports scores.
# Both download client lists with scores and no contact data (a list with contact data also needs
# crm.export_client_data, the administrator's).
MANAGER_EXTRA = {("segments", "add_scoringrun"), ("analytics", "view_dashboard"), ("segments", "download_members")}
ANALYST_EXTRA = {("analytics", "view_dashboard"), ("segments", "export_scores"), ("segments", "download_members")}
EXTRA = {MARKETING_MANAGER: MANAGER_EXTRA, ANALYST: ANALYST_EXTRA}


def _reads(app_label, model, codename):
    return app_label in SHOP_APPS and (app_label, model) not in NOT_READ and codename == f"view_{model}"


def holds(role, app_label, model, codename):
    """Whether `role` holds the permission `app_label.codename` of `model`."""
    if role == ADMINISTRATOR:
        return True
    if role not in EXTRA:
        raise ValueError(f"unknown role {role!r}")
    if (app_label, codename) in EXTRA[role]:  # given by name, personal data included (the analyst's scores CSV)
        return True
    if (app_label, codename) in PERSONAL_DATA:
        return False
    edits = (role == MARKETING_MANAGER and (app_label, model) in MANAGER_EDITS
             and codename.split("_", 1)[0] in {"add", "change", "delete"})
    return edits or _reads(app_label, model, codename)


ROLES = (ADMINISTRATOR, MARKETING_MANAGER, ANALYST)


def sync(apps, only=ROLES):
    """Create the groups (the three, or those in `only`) and give each exactly the permissions `holds`
    says; `apps` is django.apps.apps (the permissions must exist already)."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permissions = list(Permission.objects.select_related("content_type"))
    for role in only:
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set([p for p in permissions
                               if holds(role, p.content_type.app_label, p.content_type.model, p.codename)])


def ensure_groups():
    """The three groups, each created with the permissions `holds` gives it where it does not exist yet:
    a group an administrator has changed is left as it is (`manage.py sync_roles` resets them)."""
    from django.apps import apps
    from django.contrib.auth.management import create_permissions
    from django.contrib.auth.models import Group

    if Group.objects.filter(name__in=ROLES).count() == len(ROLES):
        return
    for config in apps.get_app_configs():  # post_migrate makes them app by app: all are needed now
        create_permissions(config, verbosity=0)
    missing = set(ROLES) - set(Group.objects.filter(name__in=ROLES).values_list("name", flat=True))
    sync(apps, only=missing)
