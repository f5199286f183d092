"""What each kind of CSV file holds: its columns, how each cell is parsed, and how staged rows map
onto our tables. The workflow that uses these lives in run.py; the SQL it runs in staging.py."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils import timezone

from crm import parsing
from crm.models import Activity, Client, Purchase, PurchaseItem


@dataclass(frozen=True)
class Column:
    name: str
    parse: Callable[[str, dict], Any]  # (cell text, the row's cells by column name) -> value
    model_field: Any  # the model field whose database type the staged value has
    required: bool = False


@dataclass(frozen=True)
class Target:
    """How staged rows become rows of one table (see staging.upsert)."""

    model: Any
    source_sql: str  # SELECT over the stage table "st" giving the table's columns, named as they are
    key: tuple  # table columns that identify a row
    columns: tuple  # table columns the source gives, key included
    insert_extra: dict = field(default_factory=dict)  # column -> SQL expression over "s"
    update_extra: dict = field(default_factory=dict)


def _field(model, name):
    return model._meta.get_field(name)


def _text(model, name, required=False):
    max_length = _field(model, name).max_length
    return lambda raw, row: parsing.text(raw, max_length, required=required)


def _tz():
    return timezone.get_current_timezone()


def _past_datetime(raw, row):
    return parsing.datetime(raw, _tz(), now=timezone.now() + timezone.timedelta(days=1))


def _phone(raw, row):
    region = (row.get("country") or "").strip().upper() or settings.CRM_DEFAULT_COUNTRY
    return parsing.phone(raw, region if region in parsing.iso_countries() else settings.CRM_DEFAULT_COUNTRY)


class Kind:
    name = ""
    columns: tuple = ()
    file_key = ()  # columns that must be unique inside one file

    def column(self, name):
        return next(c for c in self.columns if c.name == name)

    def required(self):
        return [c.name for c in self.columns if c.required]

    def checks(self):
        """(SQL condition over stage row "st", message) pairs; matching rows are rejected."""
        return []

    def targets(self, present):
        """The tables this file writes, in order, given the columns present in the file."""
        raise NotImplementedError


class Clients(Kind):
    name = "clients"
    file_key = ("client_id",)
    columns = (
        Column("client_id", _text(Client, "external_id", required=True), _field(Client, "external_id"), True),
        Column("email", lambda raw, row: parsing.email(raw), _field(Client, "email")),
        Column("phone", _phone, _field(Client, "phone")),
        Column("first_name", _text(Client, "first_name"), _field(Client, "first_name")),
        Column("last_name", _text(Client, "last_name"), _field(Client, "last_name")),
        Column("city", _text(Client, "city"), _field(Client, "city")),
        Column("country", lambda raw, row: parsing.country(raw), _field(Client, "country")),
        Column("zip", _text(Client, "zip"), _field(Client, "zip")),
        Column("birth_date", lambda raw, row: parsing.date(raw) if raw.strip() else None,
               _field(Client, "birth_date")),
        Column("gender", lambda raw, row: parsing.gender(raw), _field(Client, "gender")),
        Column("acquisition_channel", _text(Client, "acquisition_channel"), _field(Client, "acquisition_channel")),
        Column("created_at", lambda raw, row: _past_datetime(raw, row) if raw.strip() else None,
               _field(Client, "first_seen")),
        Column("email_consent", lambda raw, row: parsing.boolean(raw), _field(Client, "email_consent")),
        Column("ads_consent", lambda raw, row: parsing.boolean(raw), _field(Client, "ads_consent")),
    )
    _renamed = {"client_id": "external_id", "created_at": "first_seen"}

    def targets(self, present):
        columns = tuple(self._renamed.get(name, name) for name in present)
        select = ", ".join(f"st.{name} AS {self._renamed.get(name, name)}" for name in present)
        insert_extra = {"created_at": "%(now)s", "updated_at": "%(now)s"}
        update_extra = {"updated_at": "%(now)s"}
        if "email_consent" in present:
            # When consent changes we record when and where from, as consent law asks.
            insert_extra |= {
                "email_consent_at": "CASE WHEN s.email_consent THEN %(now)s END",
                "email_consent_source": "CASE WHEN s.email_consent THEN %(source)s ELSE '' END",
            }
            update_extra |= {
                "email_consent_at": (
                    "CASE WHEN crm_client.email_consent <> s.email_consent THEN %(now)s "
                    "ELSE crm_client.email_consent_at END"
                ),
                "email_consent_source": (
                    "CASE WHEN crm_client.email_consent <> s.email_consent THEN %(source)s "
                    "ELSE crm_client.email_consent_source END"
                ),
            }
        return [
            Target(
                model=Client,
                source_sql=f"SELECT st.line, {select} FROM {{stage}} st WHERE st.error IS NULL",
                key=("external_id",),
                columns=columns,
                insert_extra=insert_extra,
                update_extra=update_extra,
            )
        ]


def _bare_clients():
    """Purchases and activity may name a client we have not seen: we create a bare client."""
    return Target(
        model=Client,
        source_sql="SELECT DISTINCT st.client_id AS external_id FROM {stage} st WHERE st.error IS NULL",
        key=("external_id",),
        columns=("external_id",),
        insert_extra={"created_at": "%(now)s", "updated_at": "%(now)s"},
    )


class Purchases(Kind):
    name = "purchases"
    file_key = ("order_id",)
    columns = (
        Column("order_id", _text(Purchase, "external_id", required=True), _field(Purchase, "external_id"), True),
        Column("client_id", _text(Client, "external_id", required=True), _field(Client, "external_id"), True),
        Column("purchased_at", _past_datetime, _field(Purchase, "purchased_at"), True),
        Column("amount", lambda raw, row: parsing.decimal(raw, 14, 2), _field(Purchase, "amount"), True),
        Column("currency", lambda raw, row: parsing.currency(raw, settings.CRM_CURRENCY), _field(Purchase, "currency")),
        Column("status", lambda raw, row: parsing.choice(raw, Purchase.Status.values, Purchase.Status.COMPLETED),
               _field(Purchase, "status")),
    )

    def targets(self, present):
        values = [name for name in ("purchased_at", "amount", "currency", "status") if name in present]
        select = "".join(f", st.{name}" for name in values)
        return [
            _bare_clients(),
            Target(
                model=Purchase,
                source_sql=(
                    f"SELECT st.line, st.order_id AS external_id, c.id AS client_id{select} "
                    "FROM {stage} st JOIN crm_client c ON c.external_id = st.client_id WHERE st.error IS NULL"
                ),
                key=("external_id",),
                columns=("external_id", "client_id", *values),
            ),
        ]


class PurchaseItems(Kind):
    name = "purchase_items"
    file_key = ("order_id", "sku")
    columns = (
        Column("order_id", _text(Purchase, "external_id", required=True), _field(Purchase, "external_id"), True),
        Column("sku", _text(PurchaseItem, "sku", required=True), _field(PurchaseItem, "sku"), True),
        Column("quantity", lambda raw, row: parsing.decimal(raw, 12, 3, allow_zero=False),
               _field(PurchaseItem, "quantity"), True),
        Column("price", lambda raw, row: parsing.decimal(raw, 14, 2), _field(PurchaseItem, "price"), True),
        Column("name", _text(PurchaseItem, "name"), _field(PurchaseItem, "name")),
        Column("category", _text(PurchaseItem, "category"), _field(PurchaseItem, "category")),
    )

    def checks(self):
        return [
            (
                "NOT EXISTS (SELECT 1 FROM crm_purchase p WHERE p.external_id = st.order_id)",
                "order_id: no order with this id (import the purchases first)",
            )
        ]

    def targets(self, present):
        values = [name for name in ("quantity", "price", "name", "category") if name in present]
        select = "".join(f", st.{name}" for name in values)
        return [
            Target(
                model=PurchaseItem,
                source_sql=(
                    f"SELECT st.line, p.id AS purchase_id, st.sku{select} "
                    "FROM {stage} st JOIN crm_purchase p ON p.external_id = st.order_id WHERE st.error IS NULL"
                ),
                key=("purchase_id", "sku"),
                columns=("purchase_id", "sku", *values),
            )
        ]


class Activities(Kind):
    name = "activity"
    file_key = ("client_id", "kind", "occurred_at")
    columns = (
        Column("client_id", _text(Client, "external_id", required=True), _field(Client, "external_id"), True),
        Column("kind", _text(Activity, "kind", required=True), _field(Activity, "kind"), True),
        Column("occurred_at", _past_datetime, _field(Activity, "occurred_at"), True),
        Column("properties", lambda raw, row: parsing.json_object(raw), _field(Activity, "properties")),
    )

    def targets(self, present):
        values = ["properties"] if "properties" in present else []
        select = "".join(f", st.{name}" for name in values)
        return [
            _bare_clients(),
            Target(
                model=Activity,
                source_sql=(
                    f"SELECT st.line, c.id AS client_id, st.kind, st.occurred_at{select} "
                    "FROM {stage} st JOIN crm_client c ON c.external_id = st.client_id WHERE st.error IS NULL"
                ),
                key=("client_id", "occurred_at", "kind"),
                columns=("client_id", "occurred_at", "kind", *values),
            ),
        ]


KINDS = {kind.name: kind for kind in (Clients(), Purchases(), PurchaseItems(), Activities())}
