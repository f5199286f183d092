"""The template engine of email templates: its own Engine, apart from the project's, with only the tags
and filters listed here (docs/campaigns.md lists them too; a test holds the page to these lists).

It has no loader that reaches a file, no tag libraries to load, and refuses `include`, `extends`,
`load` and the tags that reach the project (`url`, `csrf_token`, `debug`, ...) with a message: an
email template cannot pull the admin's templates or code into a message. Saving, previewing and
sending all compile with `ENGINE`, so a template behaves the same in each.

`humanize`'s filters and `money` are built in; `{% load humanize %}` and `{% load money %}` (written
before they were) are accepted and do nothing, any other `{% load %}` is refused.
"""

from django.contrib.humanize.templatetags import humanize
from django.template import Engine, Library, TemplateSyntaxError, defaultfilters, defaulttags
from django.utils.translation import gettext

from crm.templatetags import money

TAGS = ("if", "for", "with", "comment", "cycle", "resetcycle", "filter", "firstof", "ifchanged", "now",
        "regroup", "spaceless", "templatetag", "verbatim", "widthratio", "autoescape", "lorem")
FILTERS = tuple(sorted(set(defaultfilters.register.filters) - {"pprint"}))  # pprint shows Python internals
HUMANIZE_FILTERS = ("apnumber", "intcomma", "intword", "naturalday", "naturaltime", "ordinal")
REFUSED = ("include", "extends", "block", "load", "ssi", "debug", "url", "csrf_token", "static",
           "get_static_prefix", "get_media_prefix", "querystring")
BUILT_IN_LIBRARIES = ("humanize", "money")

register = Library()
for name in TAGS:
    register.tag(name, defaulttags.register.tags[name])
for name in FILTERS:
    register.filters[name] = defaultfilters.register.filters[name]
for name in HUMANIZE_FILTERS:
    register.filters[name] = humanize.register.filters[name]
register.filters["money"] = money.register.filters["money"]


class RefusedTag(TemplateSyntaxError):
    pass


def _refuse(parser, token):
    words = token.split_contents()
    if words[0] == "load" and len(words) > 1 and all(word in BUILT_IN_LIBRARIES for word in words[1:]):
        return _Nothing()
    raise RefusedTag(gettext(
        "{%% %(tag)s %%} is not allowed in email templates: they cannot include, extend or load other templates "
        "or tag libraries. The filters humanize and money are built in, no {%% load %%} needed.") % {"tag": words[0]})


for name in REFUSED:
    register.tag(name, _refuse)


class _Nothing(defaulttags.CommentNode):
    pass


class SandboxEngine(Engine):
    default_builtins = ["mailing.sandbox"]  # instead of Django's: only the lists above


# debug: errors carry their line (templates are compiled once and cached; renders cost the same).
ENGINE = SandboxEngine(dirs=[], loaders=[("django.template.loaders.locmem.Loader", {})], libraries={},
                       debug=True, autoescape=True)
