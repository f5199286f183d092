"""What each kind of CSV file holds: its columns, how each cell is parsed, and how staged rows map
onto our tables. The workflow that uses these lives in run.py; the SQL it runs in staging.py."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from crm import parsing, session_properties
from crm.models import Activity, Client, Product, Purchase, PurchaseItem, SurveyAnswer


@dataclass(frozen=True)
class Column:
    name: str
    parse: Callable[[str, dict], Any]  # (cell text, the row's cells by column name) -> value
    model_field: Any  # the model field whose database type the staged value has
    required: bool = False
    uses_row: bool = False  # parse looks at other cells of the row (the phone reads the country)
    # Optional: the same rule over one column of a batch, (cells) -> the values `parse` gives them
    # (or None to have `parse` run cell by cell). It raises ValueError when a cell is invalid; the
    # batch is then parsed row by row, which names each problem.
    many: Callable[[tuple], list | None] | None = None


@dataclass(frozen=True)
class Target:
    """How staged rows become rows of one table (see staging.upsert)."""

    model: Any
    source_sql: str  # SELECT over the stage table "st" giving the table's columns, named as they are
    key: tuple  # table columns that identify a row
    columns: tuple  # table columns the source gives, key included
    insert_extra: dict = field(default_factory=dict)  # column -> SQL expression over "s"
    update_extra: dict = field(default_factory=dict)
    bare_clients: bool = False  # what it creates is reported as new bare clients, not as imported rows
    frozen: str = ""  # SQL condition on the table's rows that no import may change


def _field(model, name):
    return model._meta.get_field(name)


def _text(model, name, required=False):
    max_length = _field(model, name).max_length
    return lambda raw, row: parsing.text(raw, max_length, required=required)


def _many_text(model, name, required=False):
    max_length = _field(model, name).max_length
    return lambda cells: parsing.texts(cells, max_length, required=required)


def _distinct(parse):
    """For columns with few distinct values (codes, flags): parse each distinct cell once."""

    def many(cells):
        known = {cell: parse(cell, None) for cell in set(cells)}
        return list(map(known.__getitem__, cells))

    return many


def _decimal(max_digits, decimal_places, allow_zero=True):
    return lambda raw, row: parsing.decimal(raw, max_digits, decimal_places, allow_zero=allow_zero)


def _many_decimal(max_digits, decimal_places, allow_zero=True):
    return lambda cells: parsing.decimals(cells, max_digits, decimal_places, allow_zero=allow_zero)


def _tz():
    return timezone.get_current_timezone()


# Events (purchases, activity, answers) have happened: a time after now is refused. A date, or a time
# without offset, is read in the shop's zone, so today's date is never in the future.
def _past_datetime(raw, row):
    return parsing.datetime(raw, _tz(), now=timezone.now())


def _many_past_datetime(cells):
    return parsing.datetimes(cells, _tz(), now=timezone.now())


def _phone(raw, row):
    region = (row.get("country") or "").strip().upper() or settings.CRM_DEFAULT_COUNTRY
    return parsing.phone(raw, region if region in parsing.iso_countries() else settings.CRM_DEFAULT_COUNTRY)


def _country(raw, row):
    return parsing.country(raw)


def _gender(raw, row):
    return parsing.gender(raw)


def _boolean(raw, row):
    return parsing.boolean(raw)


def _currency(raw, row):
    return parsing.currency(raw, settings.CRM_CURRENCY)


_PURCHASE_STATUSES = Purchase.Status.values  # a fresh list on every access, so read it once


def _purchase_status(raw, row):
    return parsing.choice(raw, _PURCHASE_STATUSES, Purchase.Status.COMPLETED)


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
        Column("client_id", _text(Client, "external_id", required=True), _field(Client, "external_id"), True,
               many=_many_text(Client, "external_id", required=True)),
        Column("email", lambda raw, row: parsing.email(raw), _field(Client, "email")),
        Column("phone", _phone, _field(Client, "phone"), uses_row=True),
        Column("first_name", _text(Client, "first_name"), _field(Client, "first_name"),
               many=_many_text(Client, "first_name")),
        Column("last_name", _text(Client, "last_name"), _field(Client, "last_name"),
               many=_many_text(Client, "last_name")),
        Column("city", _text(Client, "city"), _field(Client, "city"),
               many=_many_text(Client, "city")),
        Column("country", _country, _field(Client, "country"), many=_distinct(_country)),
        Column("zip", _text(Client, "zip"), _field(Client, "zip"),
               many=_many_text(Client, "zip")),
        Column("birth_date", lambda raw, row: parsing.birth_date(raw, timezone.localdate()) if raw.strip() else None,
               _field(Client, "birth_date")),
        Column("gender", _gender, _field(Client, "gender"), many=_distinct(_gender)),
        Column("acquisition_channel", _text(Client, "acquisition_channel"), _field(Client, "acquisition_channel"),
               many=_many_text(Client, "acquisition_channel")),
        Column("created_at", lambda raw, row: _past_datetime(raw, row) if raw.strip() else None,
               _field(Client, "first_seen")),
        Column("email_consent", _boolean, _field(Client, "email_consent"), many=_distinct(_boolean)),
        Column("ads_consent", _boolean, _field(Client, "ads_consent"), many=_distinct(_boolean)),
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
                # An erased client stays erased: re-importing the shop's old row must not bring back
                # their personal data or consents.
                frozen="crm_client.erased_at IS NOT NULL",
            )
        ]


def _bare_clients():
    """Purchases and activity may name a client we have not seen: we create a bare client."""
    return Target(
        model=Client,
        # In id order, so two imports at once take the new ids' locks in the same order (no deadlock).
        source_sql=("SELECT DISTINCT st.client_id AS external_id FROM {stage} st WHERE st.error IS NULL "
                    "ORDER BY external_id"),
        key=("external_id",),
        columns=("external_id",),
        insert_extra={"created_at": "%(now)s", "updated_at": "%(now)s"},
        bare_clients=True,
    )


class Purchases(Kind):
    name = "purchases"
    file_key = ("order_id",)
    columns = (
        Column("order_id", _text(Purchase, "external_id", required=True), _field(Purchase, "external_id"), True,
               many=_many_text(Purchase, "external_id", required=True)),
        Column("client_id", _text(Client, "external_id", required=True), _field(Client, "external_id"), True,
               many=_many_text(Client, "external_id", required=True)),
        Column("purchased_at", _past_datetime, _field(Purchase, "purchased_at"), True, many=_many_past_datetime),
        Column("amount", _decimal(14, 2), _field(Purchase, "amount"), True,
               many=_many_decimal(14, 2)),
        Column("currency", _currency, _field(Purchase, "currency"), many=_distinct(_currency)),
        Column("status", _purchase_status, _field(Purchase, "status"), many=_distinct(_purchase_status)),
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
        Column("order_id", _text(Purchase, "external_id", required=True), _field(Purchase, "external_id"), True,
               many=_many_text(Purchase, "external_id", required=True)),
        Column("sku", _text(PurchaseItem, "sku", required=True), _field(PurchaseItem, "sku"), True,
               many=_many_text(PurchaseItem, "sku", required=True)),
        Column("quantity", _decimal(12, 3, allow_zero=False), _field(PurchaseItem, "quantity"), True,
               many=_many_decimal(12, 3, allow_zero=False)),
        Column("price", _decimal(14, 2), _field(PurchaseItem, "price"), True,
               many=_many_decimal(14, 2)),
        Column("name", _text(PurchaseItem, "name"), _field(PurchaseItem, "name"),
               many=_many_text(PurchaseItem, "name")),
        Column("category", _text(PurchaseItem, "category"), _field(PurchaseItem, "category"),
               many=_many_text(PurchaseItem, "category")),
    )

    def checks(self):
        return [
            (
                "NOT EXISTS (SELECT 1 FROM crm_purchase p WHERE p.external_id = st.order_id)",
                "order_id: " + _("no order with this id (import the purchases first)"),
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


def _in_stock(raw, row):
    # An empty cell is the shop saying nothing: the product stays recommendable, as it would be
    # without the column (for consents an empty cell is "no", which is right for consent only).
    return parsing.boolean(raw) if raw.strip() else True


def _restock_days(raw, row):
    # Empty: not a consumable. A year and a half is the longest a shop restocks anything we know of;
    # more is far more likely a typo (a date, a price) than a real cycle.
    return parsing.integer(raw, 1, 3650) if raw.strip() else None


class Products(Kind):
    """The shop's catalogue for recommendations: a re-import updates each product by its SKU, only in the
    columns the file has (a file of SKUs and in_stock changes only the stock flags)."""

    name = "products"
    file_key = ("sku",)
    columns = (
        Column("sku", _text(Product, "sku", required=True), _field(Product, "sku"), True,
               many=_many_text(Product, "sku", required=True)),
        Column("name", _text(Product, "name"), _field(Product, "name"), many=_many_text(Product, "name")),
        Column("category", _text(Product, "category"), _field(Product, "category"),
               many=_many_text(Product, "category")),
        Column("price", lambda raw, row: parsing.decimal(raw, 14, 2) if raw.strip() else None,
               _field(Product, "price")),
        Column("in_stock", _in_stock, _field(Product, "in_stock"), many=_distinct(_in_stock)),
        Column("never_recommend", _boolean, _field(Product, "excluded"), many=_distinct(_boolean)),
        Column("restock_days", _restock_days, _field(Product, "restock_days"), many=_distinct(_restock_days)),
    )
    _renamed = {"never_recommend": "excluded"}

    def targets(self, present):
        columns = tuple(self._renamed.get(name, name) for name in present)
        select = ", ".join(f"st.{name} AS {self._renamed.get(name, name)}" for name in present)
        return [
            Target(
                model=Product,
                source_sql=f"SELECT st.line, {select} FROM {{stage}} st WHERE st.error IS NULL",
                key=("sku",),
                columns=columns,
            )
        ]


def _activity_properties(raw, row):
    """A JSON object; a session's known properties are checked (crm/session_properties.py)."""
    properties = parsing.json_object(raw)
    if (row.get("kind") or "").strip() != session_properties.KIND or not properties:
        return properties
    try:
        occurred_at = _past_datetime(row.get("occurred_at") or "", row)
    except ValueError:  # reported on its own cell
        occurred_at = None
    return session_properties.normalised(properties, occurred_at, _tz(), timezone.now())


class Activities(Kind):
    name = "activity"
    file_key = ("client_id", "kind", "occurred_at")
    columns = (
        Column("client_id", _text(Client, "external_id", required=True), _field(Client, "external_id"), True,
               many=_many_text(Client, "external_id", required=True)),
        Column("kind", _text(Activity, "kind", required=True), _field(Activity, "kind"), True,
               many=_many_text(Activity, "kind", required=True)),
        Column("occurred_at", _past_datetime, _field(Activity, "occurred_at"), True, many=_many_past_datetime),
        Column("properties", _activity_properties, _field(Activity, "properties"), uses_row=True),
    )

    def targets(self, present):
        values = ["properties"] if "properties" in present else []
        # Properties may describe a person: an erased client's events are kept without them. ({{}}:
        # source_sql goes through str.format.)
        select = ", CASE WHEN c.erased_at IS NULL THEN st.properties ELSE '{{}}' END AS properties" if values else ""
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


_SURVEY_KINDS = SurveyAnswer.Kind.values


def _survey_kind(raw, row):
    if not raw.strip():
        raise ValueError(_("required, but empty"))
    return parsing.choice(raw, _SURVEY_KINDS, "")


def _survey_score(raw, row):
    # The scale depends on the kind (NPS 0-10, CSAT 1-5); an unknown kind is reported on its own cell.
    low, high = SurveyAnswer.SCALE.get((row.get("kind") or "").strip().lower(), (0, 10))
    return parsing.integer(raw, low, high)


class SurveyAnswers(Kind):
    name = "survey_answers"
    file_key = ("client_id", "kind", "answered_at")
    columns = (
        Column("client_id", _text(Client, "external_id", required=True), _field(Client, "external_id"), True,
               many=_many_text(Client, "external_id", required=True)),
        Column("kind", _survey_kind, _field(SurveyAnswer, "kind"), True, many=_distinct(_survey_kind)),
        Column("score", _survey_score, _field(SurveyAnswer, "score"), True, uses_row=True),
        Column("answered_at", _past_datetime, _field(SurveyAnswer, "answered_at"), True, many=_many_past_datetime),
    )

    def targets(self, present):
        return [
            _bare_clients(),
            Target(
                model=SurveyAnswer,
                source_sql=(
                    "SELECT st.line, c.id AS client_id, st.kind, st.answered_at, st.score "
                    "FROM {stage} st JOIN crm_client c ON c.external_id = st.client_id WHERE st.error IS NULL"
                ),
                key=("client_id", "kind", "answered_at"),
                columns=("client_id", "kind", "answered_at", "score"),
            ),
        ]


KINDS = {kind.name: kind for kind in (Clients(), Purchases(), PurchaseItems(), Products(), Activities(),
                                      SurveyAnswers())}
