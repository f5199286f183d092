"""Thin views: check the envelope, call api/ingest.py, api/scores.py or api/recommendations.py, answer."""

import re

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from django.utils.translation import gettext, ngettext
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from . import ingest, serializers
from .journeys import client_positions, journeys
from .recommendations import MAX_LIMIT, client_recommendations
from .scores import client_scores

SHOWN_ERRORS = 50

_ERRORS = {
    400: OpenApiResponse(serializers.Error, description="Invalid: nothing was recorded; `errors` name "
                                                        "the index and field."),
    401: OpenApiResponse(serializers.Error, description="No token, or an unknown or inactive one."),
    403: OpenApiResponse(serializers.Error, description="A read-only token."),
    411: OpenApiResponse(serializers.Error, description="A body without Content-Length (chunked)."),
    413: OpenApiResponse(serializers.Error,
                         description=f"Body larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."),
    429: OpenApiResponse(serializers.Error, description="Too many requests for this token (CRM_API_THROTTLE)."),
}


def _refused(errors, total=None):
    total = len(errors) if total is None else total
    body = {
        "detail": ngettext("%(n)d problem; nothing was recorded.", "%(n)d problems; nothing was recorded.",
                           total) % {"n": total},
        "errors": errors[:SHOWN_ERRORS],
        "error_count": total,
    }
    return Response(body, status=400)


def exception_handler(exc, context):
    """DRF's, and a body over the limit answered in the API's shape. Django refuses it while reading
    (DATA_UPLOAD_MAX_MEMORY_SIZE, checked against Content-Length before a byte is read, and against
    what was read), which would otherwise be an HTML 400."""
    if isinstance(exc, RequestDataTooBig):
        return Response({"detail": gettext("The body is larger than %(n)d bytes: send smaller batches.")
                         % {"n": settings.DATA_UPLOAD_MAX_MEMORY_SIZE}}, status=413)
    return drf_exception_handler(exc, context)


def _chunked(request):
    # Behind WSGI, Django reads a body without Content-Length as empty: say so rather than answer
    # as if nothing had been sent (and never read an oversized chunked body).
    return "HTTP_TRANSFER_ENCODING" in request.META and not request.META.get("CONTENT_LENGTH")


class IngestView(APIView):
    # One object, or a batch {"<key>": [objects]} when batch is set.

    kind = ""
    key = ""  # the list's name in a batch body
    batch = False

    def post(self, request):
        if _chunked(request):
            return Response({"detail": gettext("Send the body with a Content-Length header, not chunked.")},
                            status=411)
        objects, problems = self._objects(request.data)
        if problems:
            return _refused(problems)
        source = f"api:{request.auth.name}"
        try:
            counts = self.record(objects, source)
        except ingest.Invalid as exc:
            if not self.batch:
                for error in exc.errors:
                    error["index"] = None
            return _refused(exc.errors, exc.total)
        return Response(counts)

    def record(self, objects, source):
        return ingest.record(self.kind, objects, source)

    def _objects(self, data):
        if not self.batch:
            return [data], []
        if not isinstance(data, dict):
            return None, [ingest.problem(None, "", gettext("must be an object %(shape)s")
                                         % {"shape": f'{{"{self.key}": [...]}}'})]
        problems = [ingest.problem(None, key, gettext("unknown field")) for key in data if key != self.key]
        objects = data.get(self.key)
        if not isinstance(objects, list):
            problems.append(ingest.problem(None, self.key, gettext("required: a list of objects")))
        elif len(objects) > ingest.MAX_ITEMS:
            problems.append(ingest.problem(None, self.key, gettext("%(n)d objects; at most %(max)d per request")
                                           % {"n": len(objects), "max": ingest.MAX_ITEMS}))
        return objects, problems


ONE = ("One object, checked by the same rules as a row of the CSV import. Sending it again changes nothing "
       "(keyed by the shop's ids).")
MANY = ('{{"{key}": [objects]}}: all or nothing, like one CSV file. Every object gives the same fields (the first '
        "object's are the columns: a field left out of all objects is left unchanged, null clears it). Sending the "
        "same batch again changes nothing.")


def _ingest_view(name, kind, key, one, many, summary, record=None):
    """The single and the batch view for one kind, with their schema."""
    attrs = {"kind": kind, "key": key}
    if record:
        attrs["record"] = lambda self, objects, source: record(objects, source)
    response = serializers.PurchaseCounts if kind == "purchases" else serializers.Counts

    def post():  # a function of its own per view: extend_schema annotates the function it is given
        return lambda self, request: IngestView.post(self, request)

    single = type(name, (IngestView,), attrs | {
        "post": extend_schema(request=one, responses={200: response, **_ERRORS}, summary=summary,
                              description=ONE, operation_id=f"{kind}_one", tags=[kind])(post()),
    })
    batch = type(f"{name}Batch", (IngestView,), attrs | {
        "batch": True,
        "post": extend_schema(request=many, responses={200: response, **_ERRORS},
                              summary=f"{summary}: a batch of up to {ingest.MAX_ITEMS}",
                              description=MANY.format(key=key), operation_id=f"{kind}_batch", tags=[kind])(post()),
    })
    return single, batch


ClientView, ClientBatchView = _ingest_view(
    "ClientView", "clients", "clients", serializers.ClientIn, serializers.ClientBatchIn,
    "Create or update clients by client_id")
PurchaseView, PurchaseBatchView = _ingest_view(
    "PurchaseView", "purchases", "purchases", serializers.PurchaseIn, serializers.PurchaseBatchIn,
    "Record purchases with their items by order_id", record=ingest.record_purchases)
ActivityView, ActivityBatchView = _ingest_view(
    "ActivityView", "activity", "events", serializers.ActivityIn, serializers.ActivityBatchIn,
    "Record activity events")
SurveyAnswerView, SurveyAnswerBatchView = _ingest_view(
    "SurveyAnswerView", "survey_answers", "answers", serializers.SurveyAnswerIn, serializers.SurveyAnswerBatchIn,
    "Record survey answers (NPS, CSAT)")


class ClientScoresView(APIView):
    @extend_schema(responses={200: serializers.ClientScoresOut, 404: serializers.Error,
                              **{code: _ERRORS[code] for code in (401, 429)}},
                   summary="A client's current scores and segments", operation_id="client_scores", tags=["scores"])
    def get(self, request, client_id):
        found = client_scores(client_id)
        if found is None:
            raise Http404(gettext("No client with this client_id."))
        return Response(serializers.ClientScoresOut(found).data)


class ClientRecommendationsView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("limit", int, description=f"How many products, 1 to {MAX_LIMIT} (default: "
                                     f"CRM_RECOMMENDED_PRODUCTS, as many as emails show).")],
        responses={200: serializers.ClientRecommendationsOut,
                   400: OpenApiResponse(serializers.Error, description="A bad `limit`."),
                   404: serializers.Error, **{code: _ERRORS[code] for code in (401, 429)}},
        summary="A client's recommended products with the reasons", operation_id="client_recommendations",
        tags=["recommendations"],
        description="The products emails would show the client now: the last night's list, less what went out of "
                    "stock, was excluded or was bought since. A client without a list gets the shop's popular "
                    "products.")
    def get(self, request, client_id):
        raw = request.query_params.get("limit")
        limit = None
        if raw is not None:
            limit = int(raw) if re.fullmatch(r"[0-9]{1,3}", raw) else 0
            if not 1 <= limit <= MAX_LIMIT:
                message = gettext("must be a whole number from 1 to %(max)d") % {"max": MAX_LIMIT}
                return Response({"detail": f"limit: {message}", "errors": [
                    {"index": None, "field": "limit", "message": message}], "error_count": 1}, status=400)
        found = client_recommendations(client_id, limit)
        if found is None:
            raise Http404(gettext("No client with this client_id."))
        return Response(serializers.ClientRecommendationsOut(found).data)


class JourneysView(APIView):
    @extend_schema(responses={200: serializers.JourneyOut(many=True), **{code: _ERRORS[code] for code in (401, 429)}},
                   summary="The journeys, with how many clients are where", operation_id="journeys",
                   tags=["journeys"])
    def get(self, request):
        return Response(serializers.JourneyOut(journeys(), many=True).data)


class ClientJourneysView(APIView):
    @extend_schema(responses={200: serializers.ClientJourneysOut, 404: serializers.Error,
                              **{code: _ERRORS[code] for code in (401, 429)}},
                   summary="The journeys a client is or was in, and where", operation_id="client_journeys",
                   tags=["journeys"])
    def get(self, request, client_id):
        found = client_positions(client_id)
        if found is None:
            raise Http404(gettext("No client with this client_id."))
        return Response(serializers.ClientJourneysOut(found).data)
