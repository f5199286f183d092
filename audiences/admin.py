"""Admin for ad platform audiences: syncs to configure, exports to review and download.

Audience files are personal data: the list of exports shows to whoever may view exports, but the
files download only with the `campaigns.download_audience` permission, and every download is kept
(who, when, which file) on the export's page.
"""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import get_valid_filename
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from crm import audit
from crm.admin_denied import MissingPermission
from crm.admin_readonly import ReadOnlyAdmin

from . import accounts
from .credentials import CredentialsKeyError, mask
from .models import AudienceDownload, AudienceExport, AudiencePush, AudienceSync, ConnectedAccount
from .tasks import export_sync

DOWNLOAD_PERMISSION = "audiences.download_audience"


# The credentials a platform may need, one form field each; which are required is the platform's (audiences.apis).
SECRET_FIELDS = {"access_token": _("access token"), "refresh_token": _("refresh token"),
                 "client_id": _("OAuth client id"), "client_secret": _("OAuth client secret")}


def _secret_field(label):
    return forms.CharField(label=label, required=False, strip=True, widget=forms.PasswordInput(render_value=False))


class ConnectedAccountForm(forms.ModelForm):
    """The credentials are typed in, never shown back: an empty field keeps what is stored."""

    access_token = _secret_field(SECRET_FIELDS["access_token"])
    refresh_token = _secret_field(SECRET_FIELDS["refresh_token"])
    client_id = _secret_field(SECRET_FIELDS["client_id"])
    client_secret = _secret_field(SECRET_FIELDS["client_secret"])

    class Meta:
        model = ConnectedAccount
        fields = ("platform", "name", "account_id")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        try:
            self.stored = self.instance.credentials() if self.instance.pk else {}
        except CredentialsKeyError:
            self.stored = {}
        for name in SECRET_FIELDS:
            shown = mask(self.stored.get(name, ""))
            self.fields[name].help_text = (_("stored: %(value)s; leave empty to keep it") % {"value": shown}
                                           if shown else _("not stored"))

    def clean(self):
        data = super().clean()
        values = {**self.stored, **{name: data[name] for name in SECRET_FIELDS if data.get(name)}}
        missing = accounts.missing_secrets(data.get("platform"), values)
        if missing:
            raise forms.ValidationError(_("%(platform)s needs: %(fields)s.") % {
                "platform": data.get("platform"), "fields": ", ".join(str(SECRET_FIELDS[name]) for name in missing)})
        try:
            self.instance.set_credentials(values)
        except CredentialsKeyError as exc:
            raise forms.ValidationError(str(exc)) from None
        return data


@admin.register(ConnectedAccount)
class ConnectedAccountAdmin(admin.ModelAdmin):
    form = ConnectedAccountForm
    change_form_template = "admin/audiences/connectedaccount/change_form.html"
    list_display = ("name", "platform", "account_id", "connection", "checked_at")
    list_filter = ("platform",)
    readonly_fields = ("credentials_stored", "token_expires_at", "checked_at", "check_ok", "check_message")
    actions = ["test_connections"]

    @admin.display(description=_("credentials stored"))
    def credentials_stored(self, obj):
        try:
            values = obj.credentials()
        except CredentialsKeyError as exc:
            return str(exc)
        return ", ".join(f"{SECRET_FIELDS.get(name, name)}: {mask(value)}" for name, value in values.items()) or "-"

    @admin.display(description=_("connection"), boolean=True)
    def connection(self, obj):
        return obj.check_ok

    def get_urls(self):
        return [path("<int:account_id>/test/", self.admin_site.admin_view(self.test_view),
                     name="audiences_connectedaccount_test"), *super().get_urls()]

    def test_view(self, request, account_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        account = get_object_or_404(ConnectedAccount, pk=account_id)
        if not self.has_change_permission(request, account):
            raise MissingPermission("audiences.change_connectedaccount")
        self._report(request, account)
        return redirect("admin:audiences_connectedaccount_change", account.pk)

    @admin.action(description=_("Test connection"), permissions=["change"])
    def test_connections(self, request, queryset):
        for account in queryset:
            self._report(request, account)

    def _report(self, request, account):
        ok, message = accounts.test_connection(account)
        if ok:
            self.message_user(request, _("%(account)s: the connection works: %(found)s") % {
                "account": account.name, "found": message}, messages.SUCCESS)
        else:
            self.message_user(request, _("%(account)s: the connection failed: %(error)s") % {
                "account": account.name, "error": message}, messages.ERROR)


@admin.register(AudienceSync)
class AudienceSyncAdmin(admin.ModelAdmin):
    list_display = ("segment", "platform", "mode", "account", "is_active", "last_export", "last_push")
    list_filter = ("platform", "mode", "is_active")
    list_select_related = ("segment", "account")
    search_fields = ("segment__slug", "segment__name")
    autocomplete_fields = ("segment",)
    readonly_fields = ("remote_ids",)
    actions = ["export_now", "replace_at_next_sync"]

    def save_model(self, request, obj, form, change):
        if obj.account_id and obj.account.platform != obj.platform:
            obj.account = None
            self.message_user(request, _("The connected account is of another platform: it was not set."),
                              messages.ERROR)
        super().save_model(request, obj, form, change)

    @admin.display(description=_("last API sync"))
    def last_push(self, obj):
        return _latest(obj.pushes.first(), "admin:audiences_audiencepush_change")

    @admin.action(description=_("Full replace at the next sync"), permissions=["change"])
    def replace_at_next_sync(self, request, queryset):
        count = queryset.filter(account__isnull=False).update(replace_requested=True)
        self.message_user(request, ngettext(
            "%(count)d sync will send every member into a new audience at its next run.",
            "%(count)d syncs will send every member into a new audience at their next run.",
            count) % {"count": count}, messages.SUCCESS)

    @admin.display(description=_("last export"))
    def last_export(self, obj):
        return _latest(obj.exports.first(), "admin:audiences_audienceexport_change")

    @admin.action(description=_("Sync now"), permissions=["change"])
    def export_now(self, request, queryset):
        for sync in queryset:
            export_sync.delay(sync.pk, request.user.pk)
        self.message_user(request, ngettext(
            "%(count)d export started; it shows under Audience exports when it is done.",
            "%(count)d exports started; they show under Audience exports when they are done.",
            len(queryset)) % {"count": len(queryset)}, messages.SUCCESS)


def _latest(record, url_name):
    """A sync's latest export or API sync: a link with its time and status, or "-"."""
    if record is None:
        return "-"
    return format_html("<a href='{}'>{} {}</a>", reverse(url_name, args=[record.pk]),
                       record.created_at.strftime("%Y-%m-%d %H:%M"), record.get_status_display())


class BelowMinimumFilter(admin.SimpleListFilter):
    title = _("platform minimum")
    parameter_name = "minimum"

    def lookups(self, request, model_admin):
        return [("below", _("below the minimum")), ("ok", _("at or above"))]

    def queryset(self, request, queryset):
        if self.value() in ("below", "ok"):
            return queryset.filter(below_minimum=self.value() == "below")
        return queryset


@admin.register(AudienceExport)
class AudienceExportAdmin(ReadOnlyAdmin):
    # The record of what left the CRM is kept; its files go by retention.
    list_display = ("created_at", "segment_slug", "platform", "mode", "status", "members", "not_eligible_count",
                    "skipped", "exported_or_added", "removed", "audience", "rows_per_file", "minimum_warning", "who",
                    "file_links")
    list_filter = ("status", "platform", "mode", BelowMinimumFilter)
    search_fields = ("segment_slug",)
    date_hierarchy = "created_at"
    list_select_related = ("started_by", "sync")
    fieldsets = (
        (None, {"fields": ("segment_slug", "platform", "mode", "status", "error",
                           ("created_at", "finished_at", "seconds"), "who", ("sync", "run"))}),
        (_("Counts"), {"fields": (("members", "no_consent", "erased"), ("skipped", "exported", "removed", "updated"),
                                  "audience", "rows_per_file", "minimum_warning")}),
        (_("Files (personal data)"), {"fields": ("file_links", "out_dir", "purged_at", "download_history")}),
    )
    readonly_fields = ("segment_slug", "platform", "mode", "status", "error", "created_at", "finished_at", "seconds",
                       "who", "sync", "run", "members", "no_consent", "erased", "skipped", "exported", "removed",
                       "updated", "audience", "rows_per_file", "minimum_warning", "file_links", "file_names",
                       "out_dir", "purged_at", "download_history")

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "retention_days": settings.CRM_AUDIENCE_RETENTION_DAYS,
                         "can_download": request.user.has_perm(DOWNLOAD_PERMISSION)}
        return super().changelist_view(request, extra_context)

    # Who may download sees links; everybody else the file names only ("file_names" in place of "file_links").
    def get_list_display(self, request):
        return self._files_column(request, super().get_list_display(request))

    def get_readonly_fields(self, request, obj=None):
        return self._files_column(request, super().get_readonly_fields(request, obj))

    def get_fieldsets(self, request, obj=None):
        return [(name, {**options, "fields": self._files_column(request, options["fields"])})
                for name, options in super().get_fieldsets(request, obj)]

    def _files_column(self, request, fields):
        if request.user.has_perm(DOWNLOAD_PERMISSION):
            return fields
        return tuple("file_names" if field == "file_links" else field for field in fields)

    @admin.display(description=_("not eligible"))
    def not_eligible_count(self, obj):
        return obj.not_eligible

    @admin.display(description=_("exported (delta: added)"))
    def exported_or_added(self, obj):
        return obj.exported

    @admin.display(description=_("rows per file"))
    def rows_per_file(self, obj):
        return ", ".join(f"{key}: {count:,}" for key, count in obj.rows.items()) or "-"

    @admin.display(description=_("minimum"))
    def minimum_warning(self, obj):
        platform = obj.platform_obj
        if not obj.below_minimum or platform is None:
            return "-" if obj.status != AudienceExport.Status.SUCCEEDED else _("ok")
        return format_html(
            "<strong style='color:#ba2121'>⚠ {}</strong>",
            _("%(audience)s clients on the platform, below %(platform)s' minimum of %(minimum)s: it will not "
              "serve this audience") % {"audience": f"{obj.audience:,}", "platform": platform.label,
                                        "minimum": f"{platform.min_audience:,}"})

    @admin.display(description=_("started by"))
    def who(self, obj):
        if obj.started_by_id:
            return obj.started_by.get_username()
        if obj.sync_id:
            return _("nightly sync")
        return _("command")

    @admin.display(description=_("files"))
    def file_names(self, obj):
        if not obj.files:
            return "-"
        if obj.purged_at:
            return _("deleted on %(date)s (retention)") % {"date": obj.purged_at.strftime("%Y-%m-%d")}
        if obj.out_dir:
            return format_html_join(format_html("<br>"), "{}", ((name,) for name in obj.files.values()))
        return ", ".join(obj.files)

    @admin.display(description=_("files"))
    def file_links(self, obj):
        if not obj.downloadable or not obj.files:
            return self.file_names(obj)
        return format_html_join(
            " ", "<a href='{}'>{}</a>",
            ((reverse("admin:audiences_audienceexport_download", args=[obj.pk, key]), key) for key in obj.files))

    @admin.display(description=_("downloads"))
    def download_history(self, obj):
        downloads = list(obj.downloads.all()[:100])
        if not downloads:
            return _("none")
        return format_html("<table><tr><th>{}</th><th>{}</th><th>{}</th></tr>{}</table>", _("at"), _("user"),
                           _("file"), format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", (
                               (d.at.strftime("%Y-%m-%d %H:%M:%S"), d.username, d.file_key) for d in downloads)))

    def get_urls(self):
        return [
            path("<int:export_id>/download/<path:file_key>", self.admin_site.admin_view(self.download_view),
                 name="audiences_audienceexport_download"),
            *super().get_urls(),
        ]

    def download_view(self, request, export_id, file_key):
        """One file of an export, to a user with the download permission; the download is recorded."""
        if not request.user.has_perm(DOWNLOAD_PERMISSION):
            raise MissingPermission(DOWNLOAD_PERMISSION)
        export = get_object_or_404(AudienceExport, pk=export_id)
        name = export.files.get(file_key)
        if name is None or not export.downloadable:
            raise Http404(_("This export has no such file (any more)."))
        try:
            handle = default_storage.open(name, "rb")
        except FileNotFoundError:
            raise Http404(_("The file is no longer in the storage.")) from None
        AudienceDownload.objects.create(export=export, file_key=file_key, user=request.user,
                                        username=request.user.get_username())
        # Also in the one audit log of personal data (crm.AuditLog), next to client exports and erasures.
        audit.record_download(f"audiences.audienceexport:{export.pk}/{file_key}", request.user,
                              file=name, segment=export.segment_slug, platform=export.platform)
        # The stored name's last part is "<stamp>-<full|add|remove>-<file>.csv"; nothing else reaches the header.
        filename = get_valid_filename(f"{export.platform}-{export.segment_slug}-{name.rsplit('/', 1)[-1]}")
        response = FileResponse(handle, as_attachment=True, filename=filename, content_type="text/csv; charset=utf-8")
        response["Cache-Control"] = "private, no-store"
        return response


@admin.register(AudienceDownload)
class AudienceDownloadAdmin(ReadOnlyAdmin):
    list_display = ("at", "username", "export", "file_key")
    list_select_related = ("export",)
    search_fields = ("username", "export__segment_slug")
    date_hierarchy = "at"



@admin.register(AudiencePush)
class AudiencePushAdmin(ReadOnlyAdmin):
    """Each API sync's outcome: what the platform was sent and what it said."""

    list_display = ("created_at", "segment", "platform", "account", "status", "batches", "added", "removed",
                    "rejected", "match_rate_shown", "error_short")
    list_filter = ("status", "export__platform", "account")
    list_select_related = ("export", "account")
    search_fields = ("export__segment_slug",)
    date_hierarchy = "created_at"
    fields = ("export", "sync", "account", "status", "new_audience", "targets", "replaced_ids", "created_at",
              "started_at", "finished_at", "attempts", "batches", "added", "removed", "rejected", "reasons_shown",
              "match_rate_shown", "error")
    readonly_fields = fields

    @admin.display(description=_("segment"))
    def segment(self, obj):
        return obj.export.segment_slug

    @admin.display(description=_("platform"))
    def platform(self, obj):
        return obj.export.get_platform_display()

    @admin.display(description=_("match rate"))
    def match_rate_shown(self, obj):
        return "-" if obj.match_rate is None else f"{obj.match_rate:.0%}"

    @admin.display(description=_("the platform's reasons"))
    def reasons_shown(self, obj):
        if not obj.reasons:
            return "-"
        return format_html_join(format_html("<br>"), "{}: {}", ((text, f"{count:,}") for text, count in
                                                                   obj.reasons.items()))

    @admin.display(description=_("error"))
    def error_short(self, obj):
        return obj.error[:120] or "-"
