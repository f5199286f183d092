"""Renders email templates of the sandbox engine several times faster than Django, with Django's exact output.

Sending renders the same few templates for every recipient, and Django's renderer spends most of its
time localising the same numbers and dates again for each message (format lookups per value) and on
generic machinery (method calls and the debug annotation per node, a full lookup per variable).
Here a compiled template's node tree is turned once into plain Python closures (cached per
template) that do the same work for the nodes email templates use most: text, {{ variables }} with
filters, {% if %}, {% for %}, {% with %} and comments.

What they do is Django's code with the generic parts taken out; anything unusual goes to Django's
own code, on the real `Context` the closures keep in step (pushes, loop variables, `forloop`):
- a variable whose walk meets anything but a plain dict key (a model, a callable, a list index, a
  missing key or name) is resolved again from the start by Django's `Variable.resolve`;
- a value that is not a `str` is written by Django's `render_value_in_context` (localisation), and
  numbers, dates and `|date` outputs are then kept per language and time zone (`_formatted`);
- every other tag (cycle, ifchanged, firstof, filter, autoescape, now, ...) is rendered by its node;
- when a fast render raises, the message is rendered again by Django, so errors are Django's.

tests/mailing/test_fastrender.py compares both renderers' output on many templates and contexts.
"""

import datetime as dt
import functools
import html
import weakref
from decimal import Decimal

from django.conf import settings
from django.core.signals import setting_changed
from django.template import Context, VariableDoesNotExist
from django.template.base import FilterExpression, TextNode, VariableNode, render_value_in_context
from django.template.defaultfilters import date as date_filter
from django.template.defaulttags import CommentNode, ForNode, IfNode, TemplateLiteral, WithNode
from django.template.smartif import OPERATORS
from django.utils.dateformat import re_formatchars
from django.utils.formats import FORMAT_SETTINGS
from django.utils.functional import Promise
from django.utils.safestring import SafeData, SafeString, mark_safe
from django.utils.timezone import get_current_timezone, template_localtime
from django.utils.translation import get_language

_programs = weakref.WeakKeyDictionary()  # template -> (function of the context, whether a node is Django's)

# Django's own output for the numbers and dates that templates repeat from message to message (prices,
# dates of orders): localising one runs Django's format lookups each time, which costs more than all
# the rest of its variable. One dict per (language, time zone), the two things besides the value the
# output depends on while settings stay as they are; emptied when a setting changes (as Django's
# own format cache is), and when it grows past _FORMATTED_LIMIT entries.
_formatted = {}
_FORMATTED_LIMIT = 20_000


def _forget_formatted(**kwargs):
    _formatted.clear()


setting_changed.connect(_forget_formatted)


def _formatted_of(context):
    """The dict of formatted values for the render's language and time zone."""
    formatted = context.fastrender_formatted
    if formatted is None:
        place = get_language(), get_current_timezone()
        formatted = _formatted.get(place)
        if formatted is None or len(formatted) > _FORMATTED_LIMIT:
            formatted = _formatted[place] = {}
        context.fastrender_formatted, context.fastrender_timezone = formatted, place[1]
    return formatted


def render(template, values, autoescape=True):
    """What `template.render(Context(values, autoescape=autoescape))` returns, faster; where the fast
    render raises, Django renders the message again (its error, or its output)."""
    try:
        return render_fast(template, values, autoescape)
    except Exception:
        return template.render(Context(values, autoescape=autoescape))


def render_fast(template, values, autoescape=True):
    """The fast render alone: raises where Django would, and maybe where Django would not (`render`)."""
    try:
        program, uses_django_nodes = _programs[template]
    except KeyError:
        found = []
        program = _nodelist(template.nodelist, template.engine.string_if_invalid, found)
        _programs[template] = program, uses_django_nodes = program, bool(found)
    context = Context(values, autoescape=autoescape)
    context.fastrender_formatted = None  # looked up on the first value to format (`_formatted_of`)
    if uses_django_nodes:
        # What Template.render does around its nodes: tags like cycle keep state in render_context.
        with context.render_context.push_state(template), context.bind_template(template):
            context.template_name = template.name
            return SafeString(program(context))
    # Only these nodes' code runs, and it reads no more than the template of the context.
    context.template, context.template_name = template, template.name
    return SafeString(program(context))


def _nodelist(nodes, invalid, found):
    """A function of the context giving what Django's NodeList.render gives (as a plain str); the nodes
    left to Django are added to `found`."""
    parts = []
    for node in nodes:
        part = _node(node, invalid, found)
        if type(part) is str and parts and type(parts[-1]) is str:
            parts[-1] += part
        elif part != "":
            parts.append(part)
    if not parts:
        return lambda context: ""
    if len(parts) == 1:
        part = parts[0]
        return part if callable(part) else lambda context: part
    # One generated function per node list: a tuple of constants and calls, joined.
    names = {}
    items = []
    for index, part in enumerate(parts):
        names[f"p{index}"] = part
        items.append(f"p{index}(c)" if callable(part) else f"p{index}")
    source = f"def nodelist(c):\n    return ''.join(({', '.join(items)},))\n"
    exec(source, names)  # noqa: S102 - the source is made above from indexes only
    return names["nodelist"]


def _node(node, invalid, found):
    """A str (a constant part) or a function of the context giving the node's output."""
    kind = type(node)
    if kind is TextNode:
        return node.s
    if kind is VariableNode:
        return _variable_node(node, invalid)
    if kind is IfNode:
        return _if_node(node, invalid, found)
    if kind is ForNode:
        return _for_node(node, invalid, found)
    if kind is WithNode:
        return _with_node(node, invalid, found)
    if isinstance(node, CommentNode) and kind.render is CommentNode.render:
        return ""
    found.append(node)
    return node.render_annotated


def _variable_node(node, invalid):
    resolve = _expression(node.filter_expression, invalid, ignore_failures=False)
    escape = html.escape

    def render(context):
        try:
            value = resolve(context)
        except UnicodeDecodeError:
            return ""
        kind = type(value)
        # A str is neither localised nor converted: only escaped (Django's conditional_escape).
        if kind is str:
            return escape(value) if context.autoescape else value
        if kind is SafeString:
            return value
        key = _value_key(kind, value)
        if key is None:
            return render_value_in_context(value, context)
        key += (context.autoescape,)
        formatted = _formatted_of(context)
        try:
            return formatted[key]
        except KeyError:
            output = formatted[key] = render_value_in_context(value, context)
            return output

    return render


def _value_key(kind, value):
    """What a value's localised output depends on besides language and time zone, or None (not kept):
    equal Decimals and floats can print differently (1.0, 1.00; 0.0, -0.0), so they count by their text."""
    if kind is int or kind is dt.date:
        return kind, value
    if kind is Decimal:
        return kind, str(value)
    if kind is float:
        return kind, repr(value)
    return None


# The format characters of `date` that read only the day (not c, r, U, I, nor a time's): with only these,
# a datetime prints as its local day does, and one kept output serves every order of that day.
_DAY_CHARACTERS = frozenset("bdDEFjlLmMnNoStwWyYz")


@functools.lru_cache(maxsize=256)
def _reads_only_the_day(format_string):
    return format_string not in FORMAT_SETTINGS and set(re_formatchars.findall(format_string)) <= _DAY_CHARACTERS


def _date_key(value, args, context):
    """What the `date` filter's output depends on besides language and time zone, or None (not kept).
    An aware datetime is turned into local time first, so its instant counts: equal aware datetimes
    of one zone may be different instants (a repeated hour), hence the offset too; or, where the
    format shows only the day, its local day."""
    if len(args) > 1 or args and not isinstance(args[0], str):
        return None
    kind = type(value)
    if kind is dt.datetime and value.tzinfo is not None:
        if args and args[0] and _reads_only_the_day(args[0]) and settings.USE_TZ:  # "": the DATE_FORMAT
            _formatted_of(context)
            return "|date day", value.astimezone(context.fastrender_timezone).date(), args[0]
        return "|date", kind, value, value.utcoffset(), *args
    if kind is dt.date:
        return "|date", kind, value, *args
    return None


def _expression(expression, invalid, ignore_failures):
    """A function of the context doing what FilterExpression.resolve does."""
    if type(expression) is not FilterExpression:
        return lambda context: expression.resolve(context, ignore_failures)
    is_var = expression.is_var
    lookup = _variable(expression.var) if is_var else None
    constant = None if is_var else expression.var
    filters = tuple(
        (func, tuple(_argument(lookup_, arg) for lookup_, arg in args),
         getattr(func, "expects_localtime", False), getattr(func, "needs_autoescape", False),
         getattr(func, "is_safe", False))
        for func, args in expression.filters)
    if not filters and is_var:
        # No filter: only the failure handling around the lookup.
        def resolve(context):
            try:
                return lookup(context)
            except VariableDoesNotExist:
                if ignore_failures:
                    return None
                if invalid:
                    return invalid % expression.var if "%s" in invalid else invalid
                return invalid

        return resolve

    def resolve(context):
        if is_var:
            try:
                obj = lookup(context)
            except VariableDoesNotExist:
                if ignore_failures:
                    obj = None
                elif invalid:
                    return invalid % expression.var if "%s" in invalid else invalid
                else:
                    obj = invalid
        else:
            obj = constant
        for func, args, localtime, needs_autoescape, is_safe in filters:
            values = [arg(context) for arg in args]
            if func is date_filter:
                key = _date_key(obj, values, context)
                if key is not None:
                    formatted = _formatted_of(context)
                    try:
                        obj = formatted[key]
                    except KeyError:
                        obj = formatted[key] = func(template_localtime(obj, context.use_tz), *values)
                    continue
            if localtime:
                obj = template_localtime(obj, context.use_tz)
            new = func(obj, *values, autoescape=context.autoescape) if needs_autoescape else func(obj, *values)
            obj = mark_safe(new) if is_safe and isinstance(obj, SafeData) else new
        return obj

    return resolve


def _argument(lookup, arg):
    if lookup:
        return _variable(arg)
    if isinstance(arg, Promise):  # a translated literal: marked safe in the language of the render
        return lambda context: mark_safe(arg)
    value = mark_safe(arg)
    return lambda context: value


def _variable(variable):
    """A function of the context doing what Variable.resolve does: plain dict keys here, the rest by Django."""
    slow = variable.resolve
    if variable.lookups is None or variable.translate or variable.message_context:
        return slow
    first, rest = variable.lookups[0], variable.lookups[1:]

    def lookup(context):
        for values in reversed(context.dicts):
            if first in values:
                current = values[first]
                break
        else:
            return slow(context)
        if callable(current):
            return slow(context)
        for bit in rest:
            if type(current) is not dict or bit not in current:
                return slow(context)
            current = current[bit]
            if callable(current):
                return slow(context)
        return current

    return lookup


_BINARY = {
    "in": lambda x, y: x in y,
    "not in": lambda x, y: x not in y,
    "is": lambda x, y: x is y,
    "is not": lambda x, y: x is not y,
    "==": lambda x, y: x == y,
    "!=": lambda x, y: x != y,
    ">": lambda x, y: x > y,
    ">=": lambda x, y: x >= y,
    "<": lambda x, y: x < y,
    "<=": lambda x, y: x <= y,
}


def _condition(condition, invalid):
    """A function of the context doing what the condition's eval does (smartif: an error is False)."""
    if type(condition) is TemplateLiteral:
        return _expression(condition.value, invalid, ignore_failures=True)
    operator = getattr(condition, "id", None)
    if operator not in OPERATORS or type(condition) is not OPERATORS[operator]:
        return condition.eval
    first = _condition(condition.first, invalid)
    if operator == "not":
        def evaluate(context):
            try:
                return not first(context)
            except Exception:
                return False
        return evaluate
    second = _condition(condition.second, invalid)
    if operator == "or":
        def evaluate(context):
            try:
                return first(context) or second(context)
            except Exception:
                return False
    elif operator == "and":
        def evaluate(context):
            try:
                return first(context) and second(context)
            except Exception:
                return False
    else:
        compare = _BINARY[operator]

        def evaluate(context):
            try:
                return compare(first(context), second(context))
            except Exception:
                return False
    return evaluate


def _if_node(node, invalid, found):
    branches = tuple((None if condition is None else _condition(condition, invalid),
                      _nodelist(nodelist, invalid, found)) for condition, nodelist in node.conditions_nodelists)

    def render(context):
        for condition, body in branches:
            if condition is None:
                return body(context)
            try:
                match = condition(context)
            except VariableDoesNotExist:
                match = None
            if match:
                return body(context)
        return ""

    return render


def _for_node(node, invalid, found):
    sequence = _expression(node.sequence, invalid, ignore_failures=True)
    body, empty = _nodelist(node.nodelist_loop, invalid, found), _nodelist(node.nodelist_empty, invalid, found)
    loopvars, is_reversed = node.loopvars, node.is_reversed
    name, unpack = loopvars[0], len(loopvars) > 1

    def render(context):
        dicts = context.dicts
        for values in reversed(dicts):
            if "forloop" in values:
                parentloop = values["forloop"]
                break
        else:
            parentloop = {}
        dicts.append({})  # context.push()
        try:
            items = sequence(context)
            if items is None:
                items = []
            if not hasattr(items, "__len__"):
                items = list(items)
            length = len(items)
            if length < 1:
                return empty(context)
            if is_reversed:
                items = reversed(items)
            # The same keys in the same order as ForNode's loop dict.
            loop = dicts[-1]["forloop"] = {"parentloop": parentloop}
            out = []
            for index, item in enumerate(items):
                loop["counter0"] = index
                loop["counter"] = index + 1
                loop["revcounter"] = length - index
                loop["revcounter0"] = length - index - 1
                loop["first"] = index == 0
                loop["last"] = index == length - 1
                if unpack:
                    try:
                        size = len(item)
                    except TypeError:
                        size = 1
                    if size != len(loopvars):
                        raise ValueError("Need more values to unpack in for loop")  # Django says it: we fall back
                    dicts.append(dict(zip(loopvars, item)))
                    out.append(body(context))
                    dicts.pop()
                else:
                    dicts[-1][name] = item
                    out.append(body(context))
            return "".join(out)
        finally:
            dicts.pop()

    return render


def _with_node(node, invalid, found):
    values = tuple((key, _expression(value, invalid, ignore_failures=False))
                   for key, value in node.extra_context.items())
    body = _nodelist(node.nodelist, invalid, found)

    def render(context):
        context.dicts.append({key: resolve(context) for key, resolve in values})
        try:
            return body(context)
        finally:
            context.dicts.pop()

    return render
