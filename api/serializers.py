"""The shapes of requests and answers, for the OpenAPI schema. Requests are not validated by these:
api/ingest.py hands them to the CSV importer's parsers, the one place where the rules live. The
request shapes are built from the importer's own column lists, so they cannot drift apart."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from crm.importing.kinds import KINDS
from segments.models import ClientScore

from . import ingest
from .ingest import MAX_ITEMS

# What each column takes, as in the CSV files (docs/import.md).
HELP = {
    "client_id": "The shop's own client id (at most 64 characters).",
    "order_id": "The shop's own order id (at most 64 characters).",
    "email": "Email address; empty or null clears it.",
    "phone": "Phone; stored as E.164. A national number is read in the client's country.",
    "country": "ISO 3166-1 alpha-2, e.g. RU.",
    "birth_date": "YYYY-MM-DD.",
    "gender": "m or f (also м/ж), or empty.",
    "created_at": "When the client signed up: ISO 8601; without offset read in the shop's time zone.",
    "email_consent": "true/false (also 1/0, yes/no, да/нет). A change is recorded with when and which token.",
    "ads_consent": "true/false (also 1/0, yes/no, да/нет).",
    "purchased_at": "ISO 8601 date or date and time, not in the future; without offset read in the shop's time zone.",
    "occurred_at": "ISO 8601 date or date and time, not in the future.",
    "answered_at": "ISO 8601 date or date and time, not in the future.",
    "amount": "At most 2 decimals, not negative: a JSON number or text such as \"1234.50\" or \"1 234,50\".",
    "price": "At most 2 decimals, not negative.",
    "quantity": "More than 0, at most 3 decimals.",
    "currency": "ISO 4217 code such as RUB; empty means the shop's currency.",
    "status": "completed (default) or refunded.",
    "kind": "Activity: free text such as session, login, review. Survey answers: nps or csat.",
    "score": "NPS 0-10, CSAT 1-5.",
    "properties": ("A JSON object (or its JSON text). For kind session: started_at, duration_seconds, pages, "
                   "channel (web or app) and target_action, each checked (docs/import.md#sessions)."),
}


def _field_class(types):
    """A serializer field documenting a value of these JSON types."""
    if types == ingest.TEXT_ONLY:
        return serializers.CharField
    alternatives = [{"type": t, "additionalProperties": True} if t == "object" else {"type": t} for t in types]
    return extend_schema_field({"oneOf": alternatives})(type(f"{'Or'.join(types).title()}Field",
                                                             (serializers.Field,), {}))


def _request_serializer(kind, name, extra=None):
    """A serializer class describing one object of `kind`, with the importer's columns."""
    fields = {}
    for column in KINDS[kind].columns:
        field_class = _field_class(ingest.json_types(column))
        kwargs = {"required": column.required, "allow_null": not column.required,
                  "help_text": HELP.get(column.name, "")}
        if field_class is serializers.CharField:
            kwargs["allow_blank"] = True
        fields[column.name] = field_class(**kwargs)
    fields |= extra or {}
    return type(name, (serializers.Serializer,), fields)


ClientIn = _request_serializer("clients", "ClientIn")
PurchaseItemIn = _request_serializer("purchase_items", "PurchaseItemIn")
del PurchaseItemIn._declared_fields["order_id"]  # given by the purchase it belongs to
PurchaseIn = _request_serializer("purchases", "PurchaseIn", {
    "items": PurchaseItemIn(many=True, required=False, allow_null=True,
                            help_text="The order's lines, upserted by (order_id, sku)."),
})
ActivityIn = _request_serializer("activity", "ActivityIn")
SurveyAnswerIn = _request_serializer("survey_answers", "SurveyAnswerIn")


def _batch(name, key, child):
    return type(name, (serializers.Serializer,), {
        key: serializers.ListField(child=child(), max_length=MAX_ITEMS, help_text=f"At most {MAX_ITEMS}."),
    })


ClientBatchIn = _batch("ClientBatchIn", "clients", ClientIn)
PurchaseBatchIn = _batch("PurchaseBatchIn", "purchases", PurchaseIn)
ActivityBatchIn = _batch("ActivityBatchIn", "events", ActivityIn)
SurveyAnswerBatchIn = _batch("SurveyAnswerBatchIn", "answers", SurveyAnswerIn)


class Counts(serializers.Serializer):
    received = serializers.IntegerField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    new_clients = serializers.IntegerField(help_text="Bare clients created for unknown client ids.")


class ItemCounts(serializers.Serializer):
    received = serializers.IntegerField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()


class PurchaseCounts(Counts):
    items = ItemCounts(allow_null=True)


class Problem(serializers.Serializer):
    index = serializers.IntegerField(allow_null=True, help_text="Position of the object in the batch (0 for one).")
    field = serializers.CharField(help_text="e.g. amount, items[2].price; empty for the object as a whole.")
    message = serializers.CharField()


class Error(serializers.Serializer):
    detail = serializers.CharField()
    errors = Problem(many=True, required=False)
    error_count = serializers.IntegerField(required=False, help_text="All problems; `errors` lists the first 50.")


class ScoresOut(serializers.ModelSerializer):
    churn_why = serializers.SerializerMethodField(help_text="The drivers of the churn risk in words, main first "
                                                  "(their codes: churn_reasons).")
    value_why = serializers.SerializerMethodField(help_text="The drivers of the predicted value in words, main first "
                                                  "(their codes: value_reasons).")

    class Meta:
        model = ClientScore
        exclude = ["id", "run", "client"]

    def get_churn_why(self, score) -> list[str]:
        return score.reasons("churn")

    def get_value_why(self, score) -> list[str]:
        return score.reasons("value")


class RunOut(serializers.Serializer):
    id = serializers.IntegerField()
    as_of = serializers.DateField()
    finished_at = serializers.DateTimeField()


class SegmentOut(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    since = serializers.DateField()


class ClientScoresOut(serializers.Serializer):
    client_id = serializers.CharField()
    run = RunOut(allow_null=True, help_text="The nightly run the scores come from; null before the first one.")
    scores = ScoresOut(allow_null=True)
    segments = SegmentOut(many=True)


class RecommendedProductOut(serializers.Serializer):
    sku = serializers.CharField()
    name = serializers.CharField()
    category = serializers.CharField()
    price = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
    reason = serializers.ChoiceField(choices=["bought_with", "popular_in_category", "similar_clients", "restock",
                                              "popular"], help_text="Why, as a code.")
    why = serializers.CharField(help_text="Why, in words, in the request's language (Accept-Language).")


class ClientRecommendationsOut(serializers.Serializer):
    client_id = serializers.CharField()
    orders_until = serializers.DateTimeField(
        allow_null=True, help_text="The list knows the client's orders before this moment; null for a client "
                                   "without a list (no order before the last night), who gets the shop's popular "
                                   "products.")
    model = serializers.CharField(allow_null=True, help_text="The model that made the list; null without a list.")
    favourite_category = serializers.CharField(help_text="The category the client buys most; empty when unknown.")
    products = RecommendedProductOut(many=True, help_text="Best first; out of stock, excluded and bought since "
                                                          "the list was made left out.")


class JourneyOut(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    state = serializers.CharField(help_text="draft, active, paused or stopped.")
    entry = serializers.CharField(help_text="segment, event, date or manual.")
    version = serializers.IntegerField(allow_null=True, help_text="The live version; null before activation.")
    holdout_percent = serializers.IntegerField()
    clients = serializers.DictField(child=serializers.IntegerField(),
                                    help_text="Positions by state and by reason: entered, holdout, waiting, done, "
                                              "exited, converted, failed, ...")


class PositionOut(serializers.Serializer):
    journey = serializers.CharField()
    version = serializers.IntegerField(help_text="The version the client entered and finishes.")
    state = serializers.CharField(help_text="waiting, running, done, exited, failed or holdout.")
    reason = serializers.CharField(help_text="How it ended (end, exit_step, converted, ...); empty while live.")
    step = serializers.CharField(allow_null=True, help_text="The step done next, when `due_at` comes.")
    due_at = serializers.DateTimeField(allow_null=True)
    entered_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    steps_done = serializers.IntegerField()


class ClientJourneysOut(serializers.Serializer):
    client_id = serializers.CharField()
    journeys = PositionOut(many=True, help_text="Newest first.")
