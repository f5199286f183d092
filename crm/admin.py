from django.contrib import admin
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from .admin_import import import_view
from .admin_paging import EstimatedCountPaginator
from .admin_readonly import ReadOnlyAdmin
from .models import Activity, AuditLog, Client, ImportRun, Product, Purchase, PurchaseItem
from .money import format_money

RECENT = 20


class FastListMixin:
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 50


@admin.register(Client)
class ClientAdmin(FastListMixin, admin.ModelAdmin):
    list_display = ("external_id", "first_name", "last_name", "email", "phone", "country",
                    "acquisition_channel", "email_consent", "ads_consent", "first_seen")
    # "=" on the id is an exact, indexed look-up; names and contacts match from the start.
    search_fields = ("=external_id", "^email", "^phone", "^last_name", "^first_name")
    list_filter = ("email_consent", "ads_consent", "country", "acquisition_channel")
    ordering = ("-id",)
    readonly_fields = ("created_at", "updated_at", "email_consent_at", "email_consent_source", "erased_at",
                       "recent_purchases", "recent_activity")
    fieldsets = (
        (None, {"fields": ("external_id", ("first_name", "last_name"), ("email", "phone"),
                           ("city", "country", "zip"), ("birth_date", "gender"),
                           "acquisition_channel", "first_seen")}),
        (_("Consent"), {"fields": (("email_consent", "email_consent_at", "email_consent_source"),
                                   "ads_consent", "unsubscribed_at", "erased_at")}),
        (_("History"), {"fields": ("recent_purchases", "recent_activity", ("created_at", "updated_at"))}),
    )

    @admin.display(description=_("latest purchases"))
    def recent_purchases(self, obj):
        rows = obj.purchases.order_by("-purchased_at")[:RECENT]
        link = reverse("admin:crm_purchase_changelist") + f"?client__id__exact={obj.pk}"
        body = format_html_join(
            "", "<tr><td><a href='{}'>{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((reverse("admin:crm_purchase_change", args=[p.pk]), p.external_id,
              p.purchased_at.strftime("%Y-%m-%d %H:%M"), format_money(p.amount, currency=p.currency),
              p.get_status_display())
             for p in rows),
        )
        return format_html("<table>{}</table><a href='{}'>{}</a>", body, link, _("all purchases"))

    @admin.display(description=_("latest activity"))
    def recent_activity(self, obj):
        rows = obj.activities.order_by("-occurred_at")[:RECENT]
        link = reverse("admin:crm_activity_changelist") + f"?client__id__exact={obj.pk}"
        body = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((a.occurred_at.strftime("%Y-%m-%d %H:%M"), a.kind, properties_text(a.properties)) for a in rows),
        )
        return format_html("<table>{}</table><a href='{}'>{}</a>", body, link, _("all activity"))


def properties_text(properties):
    """An activity's properties as a person reads them ("page: /sale, source: email"), not as JSON."""
    if not isinstance(properties, dict):
        return "" if properties in (None, "", [], {}) else str(properties)
    return ", ".join(f"{key}: {value}" for key, value in properties.items())


class PurchaseItemInline(admin.TabularInline):
    model = PurchaseItem
    extra = 0


@admin.register(Purchase)
class PurchaseAdmin(FastListMixin, admin.ModelAdmin):
    list_display = ("external_id", "client", "purchased_at", "amount", "currency", "status")
    list_select_related = ("client",)
    list_filter = ("status",)
    search_fields = ("=external_id", "=client__external_id")
    date_hierarchy = "purchased_at"
    raw_id_fields = ("client",)
    ordering = ("-purchased_at",)
    inlines = [PurchaseItemInline]


@admin.register(Activity)
class ActivityAdmin(FastListMixin, admin.ModelAdmin):
    list_display = ("client", "kind", "occurred_at")
    list_select_related = ("client",)
    search_fields = ("=client__external_id", "=kind")
    date_hierarchy = "occurred_at"
    raw_id_fields = ("client",)
    ordering = ("-occurred_at",)


def _flag_action(name, field, value, description):
    """A bulk action setting one of the product's flags; each product it changes gets an entry in the
    admin's history, as an edit in the form or the list would."""

    def action(modeladmin, request, queryset):
        changed = list(queryset.exclude(**{field: value}))
        for product in changed:
            setattr(product, field, value)
        Product.objects.bulk_update(changed, [field])
        label = str(Product._meta.get_field(field).verbose_name)
        for product in changed:
            modeladmin.log_change(request, product, [{"changed": {"fields": [label]}}])
        modeladmin.message_user(request, ngettext("%(n)d product changed.", "%(n)d products changed.",
                                                  len(changed)) % {"n": len(changed)})

    action.__name__ = name
    return admin.action(description=description, permissions=["change"])(action)


@admin.register(Product)
class ProductAdmin(FastListMixin, admin.ModelAdmin):
    """The shop's catalogue as recommendations see it: the three flags are what a marketer changes here
    (in the list, or for many products at once by the actions); the rest comes with the import."""

    list_display = ("sku", "name", "category", "price", "in_stock", "excluded", "restock_days")
    list_editable = ("in_stock", "excluded", "restock_days")
    search_fields = ("=sku", "^sku", "name")
    list_filter = ("category", "in_stock", "excluded", ("restock_days", admin.EmptyFieldListFilter))
    ordering = ("sku",)
    actions = [
        _flag_action("mark_out_of_stock", "in_stock", False, _("Mark the selected products out of stock")),
        _flag_action("mark_in_stock", "in_stock", True, _("Mark the selected products in stock")),
        _flag_action("never_recommend", "excluded", True, _("Never recommend the selected products")),
        _flag_action("allow_recommending", "excluded", False, _("Allow recommending the selected products")),
    ]


@admin.register(ImportRun)
class ImportRunAdmin(admin.ModelAdmin):
    list_display = ("started_at", "kind", "file_name", "ok", "counts")
    list_filter = ("kind", "ok")
    readonly_fields = ("kind", "file_name", "started_at", "finished_at", "ok", "report")

    @admin.display(description=_("counts"))
    def counts(self, obj):
        r = obj.report
        return " · ".join([gettext("read %(n)d") % {"n": r.get("read", 0)},
                           gettext("created %(n)d") % {"n": r.get("created", 0)},
                           gettext("updated %(n)d") % {"n": r.get("updated", 0)},
                           gettext("unchanged %(n)d") % {"n": r.get("unchanged", 0)},
                           gettext("rejected %(n)d") % {"n": r.get("rejected", 0)}])

    def has_add_permission(self, request):
        return False

    def get_urls(self):
        return [
            path("upload/", self.admin_site.admin_view(import_view), name="crm_importrun_upload"),
            *super().get_urls(),
        ]


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin):
    """Read only: a record of who let personal data out or erased it is not edited, nor deleted here."""

    list_display = ("at", "actor_name", "action", "target")
    list_filter = ("action",)
    search_fields = ("=target", "^actor_name")
    date_hierarchy = "at"
    readonly_fields = ("at", "actor", "actor_name", "action", "target", "detail")


from .accounts import admin as accounts_admin  # noqa: E402,F401  (lock-outs and users in the admin)
