"""The page for a refused permission (HTTP 403): which permission the user lacks, in words, and who
can grant it, instead of Django's bare "403 Forbidden".

A view that knows the permission it checks raises `MissingPermission("app_label.codename")`; for
the admin's own model pages (list, add, change, delete, history) the permission is read from the
page's URL name. Elsewhere the page says only that the role does not allow it.
"""

from django.apps import apps
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import Resolver404, resolve
from django.utils.translation import gettext as _

from .roles import ADMINISTRATOR, LABELS

# The admin's model pages, by the end of their URL name, and the action each needs.
PAGE_ACTIONS = {"changelist": "view", "add": "add", "change": "change", "delete": "delete", "history": "view"}


class MissingPermission(PermissionDenied):
    """Refused for want of one permission, "app_label.codename", which the 403 page names."""

    def __init__(self, permission):
        super().__init__(permission)
        self.permission = permission


def action_name(action, model):
    """Django stores the built-in permissions' names in English ("Can view client"): say them in the
    user's language from the action and the model's own translated name."""
    names = {"view": _("view %(things)s"), "add": _("add %(things)s"), "change": _("change %(things)s"),
             "delete": _("delete %(things)s")}
    return names[action] % {"things": model._meta.verbose_name_plural}


def permission_name(permission):
    """"app_label.codename" as a person reads it, in the current language; None when unknown."""
    app_label, _dot, codename = permission.partition(".")
    try:
        config = apps.get_app_config(app_label)
    except LookupError:
        return None
    for model in config.get_models():
        for code, name in model._meta.permissions:  # custom ones: their names are translated strings
            if code == codename:
                return str(name)
        action, _sep, model_name = codename.partition("_")
        if action in PAGE_ACTIONS.values() and model_name == model._meta.model_name:
            return action_name(action, model)
    return None


def permission_of_page(request):
    """The permission an admin model page needs, from its URL name (admin:crm_client_changelist)."""
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return None
    if match.namespace != "admin" or not match.url_name:
        return None
    for model in admin.site._registry:
        prefix = f"{model._meta.app_label}_{model._meta.model_name}_"
        action = PAGE_ACTIONS.get(match.url_name.removeprefix(prefix))
        if match.url_name.startswith(prefix) and action:
            return f"{model._meta.app_label}.{action}_{model._meta.model_name}"
    return None


def permission_denied(request, exception=None):
    """handler403 (config/urls.py)."""
    permission = getattr(exception, "permission", None) or permission_of_page(request)
    context = {
        **admin.site.each_context(request),
        "title": _("You cannot open this page"),
        "permission": permission_name(permission) if permission else None,
        "granter": LABELS[ADMINISTRATOR],
    }
    return TemplateResponse(request, "403.html", context, status=403)
