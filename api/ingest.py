"""What the API receives goes through the CSV importer: JSON objects become the importer's rows,
and crm.importing.import_rows parses, checks and upserts them. So the API and the CSV files share
one set of rules (parsers, duplicate and reference checks) and one idempotent upsert by the shop's
ids, and nothing here re-states a rule: this module only checks the shape of the JSON."""

import json
import random
import re
import time
from itertools import chain
from operator import itemgetter

from django.db import IntegrityError, OperationalError, transaction
from django.utils.translation import gettext, gettext_noop

from crm.importing.kinds import KINDS
from crm.importing.run import import_rows
from loyalty.granting import grant_received

MAX_ITEMS = 1000  # objects per batch request

# The JSON types a field takes besides text (a CSV cell is always text), by the column's model field.
# The OpenAPI schema is built from this too (api/serializers.py).
JSON_TYPES = {
    "DecimalField": ("string", "number"),
    "PositiveSmallIntegerField": ("string", "integer"),
    "BooleanField": ("string", "boolean"),
    "JSONField": ("string", "object"),
}
TEXT_ONLY = ("string",)
_TYPE_NAMES = {"string": gettext_noop("text"), "number": gettext_noop("a number"),
               "integer": gettext_noop("a whole number"), "boolean": gettext_noop("true/false"),
               "object": gettext_noop("an object")}


def json_types(column):
    return JSON_TYPES.get(column.model_field.get_internal_type(), TEXT_ONLY)


class Invalid(Exception):
    """The request is refused and nothing was written. `errors` are dicts: index, field, message."""

    def __init__(self, errors, total=None):
        super().__init__(f"{total or len(errors)} problems")
        self.errors = errors
        self.total = total if total is not None else len(errors)


def problem(index, field, message):
    return {"index": index, "field": field, "message": message}


def record(kind, objects, source):
    """Record a list of JSON objects of `kind` (clients, activity, survey_answers) all or nothing.

    Returns the counts. `source` names the integration (it is kept with consent changes).
    """
    header, rows, problems = _table(KINDS[kind], objects, _top_level)
    if problems:
        raise Invalid(problems)
    if not rows:
        return _counts(None, 0)
    def work():
        report = _run(kind, source, header, rows, _top_level, _index_name)
        if kind == "activity":  # points for it at once, in the same transaction (loyalty/granting.py)
            at = header.index("client_id")
            grant_received([row[at] for row in rows])
        return report

    # Committed, crm.signals.data_arrived tells the journeys (waits for or entries on an activity).
    report = _retrying(work)
    return _counts(report, len(objects))


def record_purchases(purchases, source):
    """Purchases, each with optional `items` (the order's lines), all or nothing."""
    orders, lines, owners, problems = [], [], [], []
    for i, purchase in enumerate(purchases):
        if isinstance(purchase, dict) and "items" in purchase:
            purchase = dict(purchase)
            items = purchase.pop("items")
            if items is None:
                items = []
            if not isinstance(items, list):
                problems.append(problem(i, "items", gettext("must be a list of objects")))
                items = []
            for j, item in enumerate(items):
                owners.append((i, j))
                if isinstance(item, dict) and "order_id" in item:
                    problems.append(problem(i, f"items[{j}].order_id", gettext("not expected: the purchase gives it")))
                # The line belongs to its purchase: the importer's purchase_items rows name the order.
                lines.append({"order_id": purchase.get("order_id"), **item} if isinstance(item, dict) else item)
        orders.append(purchase)

    def at_item(k, field, message):
        i, j = owners[k]
        return problem(i, f"items[{j}]" + (f".{field}" if field else ""), message)

    def item_name(k):
        i, j = owners[k]
        return gettext("items[%(item)d] of index %(index)d") % {"item": j, "index": i}

    header, rows, found = _table(KINDS["purchases"], orders, _top_level)
    item_header, item_rows, found_in_items = _table(KINDS["purchase_items"], lines, at_item)
    problems += found + found_in_items
    if problems:
        raise Invalid(sorted(problems, key=lambda p: p["index"]))
    if not rows:
        return _counts(None, 0) | {"items": None}

    def work():
        report = _run("purchases", source, header, rows, _top_level, _index_name)
        counts = _counts(report, len(orders))
        counts["items"] = None
        if item_rows:
            items_report = _run("purchase_items", source, item_header, item_rows, at_item, item_name)
            counts["items"] = _counts(items_report, len(item_rows))
            del counts["items"]["new_clients"]
        return counts

    # Committed, crm.signals.data_arrived tells the journeys (exits, waits and entries on an order).
    return _retrying(work)


# Two requests at once may both see a client (or order) as new and both insert it: the second one
# then meets the unique key (or a deadlock) and is rolled back whole. Sending it again is safe, as
# every write is an upsert by the shop's ids, so it is retried here rather than answered with a 500.
_RACES = {"UniqueViolation", "DeadlockDetected", "SerializationFailure"}
ATTEMPTS = 5


def _retrying(work):
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with transaction.atomic():
                return work()
        except (IntegrityError, OperationalError) as exc:
            if attempt == ATTEMPTS or type(exc.__cause__).__name__ not in _RACES:
                raise
        time.sleep(random.uniform(0, 0.05 * attempt))  # so the same two requests do not meet again


def _top_level(index, field, message):
    return problem(index, field, message)


def _index_name(line):
    return gettext("index %(index)d") % {"index": line}


def _table(spec, objects, at):
    """(header, rows of cells, problems): the objects as the rows of one CSV file.

    Like a file's header, the fields of the first object are the batch's columns: every object must
    give the same ones, because a column left out is left unchanged while an empty one is cleared.
    """
    uniform = _uniform_table(spec, objects)
    if uniform is not None:
        return uniform
    known = [column.name for column in spec.columns]
    required = spec.required()
    types = {column.name: json_types(column) for column in spec.columns}
    header, rows, problems = None, [], []
    for index, obj in enumerate(objects):
        if not isinstance(obj, dict):
            problems.append(at(index, "", gettext("must be an object")))
            continue
        found = [at(index, key, gettext("unknown field; known: %(known)s") % {"known": ", ".join(known)})
                 for key in obj if key not in known]
        found += [at(index, name, gettext("required")) for name in required if name not in obj]
        if not found and header is None:
            header = [name for name in known if name in obj]
        elif not found and len(obj) != len(header):
            first = set(header)
            found += [at(index, name, gettext(_MISSING)) for name in header if name not in obj]
            found += [at(index, key, gettext("not in the first object of this batch: give the same fields in every "
                                             "object")) for key in obj if key not in first]
        if found:
            problems += found
            continue
        row = []
        for name in header:
            try:
                row.append(_cell(obj[name], types[name]))
            except (KeyError, ValueError) as exc:
                problems.append(at(index, name, gettext(_MISSING) if isinstance(exc, KeyError) else str(exc)))
        rows.append(row)
    return header, rows, problems


def _uniform_table(spec, objects):
    """_table for the usual batch, whose objects all have the same right fields: a few passes over the
    batch instead of checks per object. None when anything is off: _table then finds what, and where."""
    if not objects or type(objects[0]) is not dict:
        return None
    keys = objects[0].keys()
    known = [column.name for column in spec.columns]
    if not keys <= set(known) or not set(spec.required()) <= keys:
        return None
    if set(map(type, objects)) != {dict} or not all(map(keys.__eq__, map(dict.keys, objects))):
        return None
    header = [name for name in known if name in keys]
    cells = itemgetter(*header) if len(header) > 1 else (lambda obj, name=header[0]: (obj[name],))
    rows = list(map(cells, objects))
    values = list(chain.from_iterable(rows))
    all_text = set(map(type, values)) == {str}
    # One search through all the text at once; a match across two cells only sends the batch the slow way.
    text = "".join(values if all_text else [value for value in values if type(value) is str])
    if "\x00" in text or "\\u0000" in text:
        return None
    if not all_text:
        types = [json_types(spec.column(name)) for name in header]
        try:
            rows = [[value if type(value) is str else _cell(value, kinds) for value, kinds in zip(row, types)]
                    for row in rows]
        except ValueError:
            return None
    return header, rows, []


def _cell(value, types):
    """A JSON value as the text of a CSV cell; the importer's parsers take it from there."""
    if value is None:
        return ""
    if isinstance(value, str):
        if "\x00" in value or ("object" in types and "\\u0000" in value):
            raise ValueError(gettext(_NUL))
        return value
    if isinstance(value, bool):
        if "boolean" in types:
            return "true" if value else "false"
    elif isinstance(value, int | float) and ("number" in types or ("integer" in types and isinstance(value, int))):
        return str(value)
    elif isinstance(value, dict) and "object" in types:
        text = json.dumps(value)
        if "\\u0000" in text:
            raise ValueError(gettext(_NUL))
        return text
    kinds = gettext(" or ").join(gettext(_TYPE_NAMES[kind]) for kind in types)
    raise ValueError(gettext("must be %(kinds)s (or null)") % {"kinds": kinds})


# JSON can carry it, text columns in PostgreSQL cannot: refused here with the field's name rather than
# failing in the database.
_NUL = gettext_noop("must not contain the NUL character (\\u0000)")
_MISSING = gettext_noop("missing: the first object of this batch has it, so every object must (null clears it)")


def _run(kind, source, header, rows, at, name_of_line):
    """Import the rows, numbered 0.. (their index in the request) where a file has line numbers."""
    report = import_rows(kind, source, header, [(list(range(len(rows))), rows)])
    if not report.imported:
        # The importer says "duplicate of line N" (in the active language) where N is the object's index.
        duplicate_of = re.compile(re.escape(gettext("duplicate of line ")) + r"(\d+)")
        errors = [
            at(line, column, duplicate_of.sub(
                lambda m: gettext("duplicate of %(what)s") % {"what": name_of_line(int(m[1]))}, reason))
            for line, column, reason in report.problems
        ]
        raise Invalid(errors, report.rejected_messages)
    return report


def _counts(report, received):
    if report is None:  # an empty batch
        return {"received": 0, "created": 0, "updated": 0, "unchanged": 0, "new_clients": 0}
    return {"received": received, "created": report.created, "updated": report.updated,
            "unchanged": report.unchanged, "new_clients": report.clients_created}
