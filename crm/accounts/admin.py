"""Accounts in the admin: lock-outs an Administrator can lift, and on users, "sign out everywhere" and
"reset two-factor" (a lost phone). Each of these goes into the audit log."""

from axes.admin import AccessAttemptAdmin
from axes.models import AccessAttempt, AccessFailureLog
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ..audit import record
from . import two_factor
from .sessions import end_sessions


def lift(queryset, by):
    """Lift the lock-outs of these rows: every failure counted for the same user names or addresses goes,
    so the next wrong password starts a fresh count with the shortest cool-off."""
    rows = list(queryset.values_list("username", "ip_address"))
    which = Q(pk__in=[])
    for username, address in rows:
        which |= Q(username=username) | Q(ip_address=address)
    AccessAttempt.objects.filter(which).delete()
    AccessFailureLog.objects.filter(which).delete()
    for username, address in sorted(set(rows), key=str):
        record("lockout_lifted", f"auth.user:{username or '?'}", by, address=address)
    return len(rows)


admin.site.unregister(AccessAttempt)


@admin.register(AccessAttempt)
class LockOutAdmin(AccessAttemptAdmin):
    """django-axes' list of failed sign-ins, with "Lift the lock-out" (deleting a row does the same)."""

    actions = ["lift_lockouts"]

    @admin.action(description=_("Lift the lock-out of the selected user names and addresses"),
                  permissions=["delete"])
    def lift_lockouts(self, request, queryset):
        count = lift(queryset, request.user)
        self.message_user(request, ngettext("Lifted %(count)d lock-out.", "Lifted %(count)d lock-outs.", count)
                          % {"count": count}, messages.SUCCESS)

    def delete_model(self, request, obj):
        lift(AccessAttempt.objects.filter(pk=obj.pk), request.user)

    def delete_queryset(self, request, queryset):
        lift(queryset, request.user)


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class AccountAdmin(UserAdmin):
    list_display = (*UserAdmin.list_display, "two_factor")
    actions = ["sign_out_everywhere", "reset_two_factor"]

    @admin.display(description=_("two-factor"), boolean=True)
    def two_factor(self, user):
        return two_factor.enrolled(user)

    @admin.action(description=_("Sign the selected users out everywhere"), permissions=["change"])
    def sign_out_everywhere(self, request, queryset):
        count = sum(end_sessions(user, request.user) for user in queryset)
        self.message_user(request, ngettext("Ended %(count)d session.", "Ended %(count)d sessions.", count)
                          % {"count": count}, messages.SUCCESS)

    @admin.action(description=_("Reset two-factor of the selected users (they set it up again)"),
                  permissions=["change"])
    def reset_two_factor(self, request, queryset):
        for user in queryset:
            two_factor.reset(user)
            end_sessions(user, request.user)
            record("two_factor_reset", f"auth.user:{user.get_username()}", request.user)
        self.message_user(request, _("Two-factor reset; those users were signed out and set it up again at "
                                     "their next sign-in."), messages.SUCCESS)

    def user_change_password(self, request, id, form_url=""):
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and response.status_code == 302:
            user = self.get_object(request, id)
            if user is not None and user.pk != request.user.pk:
                end_sessions(user, request.user)
        return response
