"""Preview an email template rendered for a chosen client, and send a test message, from its admin page.

EmailTemplateAdmin takes `TemplatePreviewMixin` as a base: it adds the page
/admin/mailing/emailtemplate/<id>/preview/ and a "Preview and test" button on the change page, and
the change page's side panel of variables (a click inserts one at the cursor: template_editor.js).
Both need the change permission on templates (a test sends mail); choosing a client also needs
the permission to view clients, since the page then shows that client's personal data.

The preview renders the template's saved content (its current version) exactly as a campaign
would: the client's context (scores, last orders, recommendations ...), CSS inlined, the text body
generated when empty. The HTML is shown at a desktop and a phone width (600 and 375 px), each in a
sandboxed iframe (no scripts, no same-origin access), so a template cannot act in the admin's page.
The frames load it from its own URL (…/preview/html/) with a Content Security Policy of its own
(FRAME_POLICY): no script at all, the email's inline styles and images allowed; the admin's policy,
which refuses inline styles, would spoil the email's look.

A test message goes through the configured EMAIL_BACKEND, built like a campaign's (same headers,
List-Unsubscribe included), with the subject prefixed [TEST] and no delivery row. Its unsubscribe
link names no delivery, so it opens the "link not valid" page and unsubscribes nobody: a colleague
clicking it must not unsubscribe the sample client.
"""

from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.mail import get_connection
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.clickjacking import xframe_options_sameorigin

from crm.admin_denied import MissingPermission
from crm.models import Client
from recommendations.reading import for_clients as recommendations_for

from .models import Campaign, Delivery, EmailTemplate
from .sending import build_message
from .templating import build_contexts, render_message
from .unsubscribe import unsubscribe_url
from .variables import panel

TEST_PREFIX = "[TEST] "
# The email's HTML inside the preview frame: never a script (nor in a frame, form or plugin of its own);
# its inline styles and remote images, as a mail client would show them; framed only by our own pages.
FRAME_POLICY = {
    "default-src": ["'none'"], "script-src": ["'none'"], "style-src": ["'unsafe-inline'"],
    "img-src": ["https:", "http:", "data:"], "font-src": ["https:", "data:"], "connect-src": ["'none'"],
    "frame-src": ["'none'"], "form-action": ["'none'"], "frame-ancestors": ["'self'"], "sandbox": [True],
}
PREVIEW_CAMPAIGN = {"name": "Preview", "slug": "preview"}


class PreviewForm(forms.Form):
    client = forms.CharField(
        label=_("client"), required=False, max_length=254,
        help_text=_("The shop's client id, or an email address. Empty: a client with no data at all."))
    send_to = forms.EmailField(label=_("send a test to"), required=False,
                               help_text=_("Needed only to send a test message."))

    def clean_client(self):
        text = self.cleaned_data["client"].strip()
        if not text:
            return None
        client = find_client(text)
        if client is None:
            raise forms.ValidationError(_("No client with the id or email address %(value)s.") % {"value": text})
        return client


def find_client(text):
    """A client by the shop's id, else by email address (case does not matter), else by database id."""
    client = Client.objects.filter(external_id=text).first()
    if client is None and "@" in text:
        client = Client.objects.filter(email__iexact=text).order_by("erased_at", "pk").first()
    if client is None and text.isdigit():
        client = Client.objects.filter(pk=int(text)).first()
    return client


def context_for(client, unsubscribe_link):
    """What a campaign would render for this client (None: a client of whom nothing is known)."""
    if client is None:  # no history: the recommendations are the shop's popular products
        context = {"client": {}, "scores": {}, "last_orders": [],
                   "recommendations": recommendations_for([None])[None].products}
    else:
        context = build_contexts([client])[client.pk]
    return {**context, "campaign": PREVIEW_CAMPAIGN, "unsubscribe_url": unsubscribe_link}


def send_test(template, client, address):
    """Send the template, rendered for `client`, to `address` as a campaign message would go; no delivery row."""
    version = template.current_version()
    campaign = Campaign(name=_("Test of %(name)s") % {"name": template.name}, slug="test", template=template)
    # An unsaved delivery: build_message makes the same message a campaign sends, with the
    # List-Unsubscribe headers; its link names no delivery (see the module's note).
    delivery = Delivery(campaign=campaign, template_version=version, email=address)
    context = context_for(client, unsubscribe_url(None, address))
    with get_connection() as connection:
        message = build_message(delivery, context, connection)
        message.subject = TEST_PREFIX + message.subject
        message.extra_headers.pop("X-CRM-Delivery", None)
        message.metadata = {"test": "true", "template": str(template.pk)}
        message.tags = ["test"]
        return message.send()


class TemplatePreviewMixin:
    change_form_template = "admin/mailing/emailtemplate/change_form.html"

    def render_change_form(self, request, context, *args, **kwargs):
        # The editor's side panel: every variable, from the one list (mailing/variables.py).
        context["variable_panel"] = panel()
        return super().render_change_form(request, context, *args, **kwargs)

    def get_urls(self):
        from csp.decorators import csp_replace

        view = self.admin_site.admin_view(self.preview_view)
        frame = self.admin_site.admin_view(xframe_options_sameorigin(csp_replace(FRAME_POLICY)(self.preview_html_view)))
        return [path("<int:object_id>/preview/", view, name="mailing_emailtemplate_preview"),
                path("<int:object_id>/preview/html/", frame, name="mailing_emailtemplate_preview_html"),
                *super().get_urls()]

    def preview_html_view(self, request, object_id):
        """The rendered HTML alone, for the preview's frame (same permissions as the preview page)."""
        template = get_object_or_404(EmailTemplate, pk=object_id)
        if not self.has_change_permission(request, template):
            raise MissingPermission("mailing.change_emailtemplate")
        form = PreviewForm({"client": request.GET.get("client", "")})
        if not form.is_valid():
            return HttpResponse(status=404)
        client = form.cleaned_data["client"]
        if client is not None and not request.user.has_perm("crm.view_client"):
            raise MissingPermission("crm.view_client")
        preview = self._render_preview(template, client)
        return HttpResponse(preview.get("html", ""), content_type="text/html; charset=utf-8")

    def preview_view(self, request, object_id):
        template = get_object_or_404(EmailTemplate, pk=object_id)
        if not self.has_change_permission(request, template):
            raise MissingPermission("mailing.change_emailtemplate")
        data = request.POST if request.method == "POST" else request.GET
        form = PreviewForm(data if data else None)
        preview = None
        if form.is_bound and form.is_valid():
            client = form.cleaned_data["client"]
            if client is not None and not request.user.has_perm("crm.view_client"):
                raise MissingPermission("crm.view_client")  # the page would show this client's personal data
            if request.method == "POST":
                return self._send_test(request, template, form)
            preview = self._render_preview(template, client)
            preview["frame_url"] = (reverse("admin:mailing_emailtemplate_preview_html", args=[template.pk]) + "?"
                                    + urlencode({"client": form.data.get("client", "")}))
        context = {
            **self.admin_site.each_context(request),
            "title": _("Preview: %(name)s") % {"name": template.name},
            "opts": EmailTemplate._meta,
            "original": template,
            "form": form,
            "preview": preview,
        }
        return render(request, "admin/mailing/emailtemplate/preview.html", context)

    def _render_preview(self, template, client):
        email = client.email if client else "nobody@example.com"
        try:
            subject, html, text = render_message(template.current_version(),
                                                 context_for(client, unsubscribe_url(None, email)))
        except Exception as exc:  # a template that compiles may still fail on this client's data
            return {"error": f"{type(exc).__name__}: {exc}", "client": client}
        return {"client": client, "subject": subject, "html": html, "text": text}

    def _send_test(self, request, template, form):
        address, client = form.cleaned_data["send_to"], form.cleaned_data["client"]
        query = urlencode({"client": form.data.get("client", ""), "send_to": address})
        url = f"{reverse('admin:mailing_emailtemplate_preview', args=[template.pk])}?{query}"
        if not address:
            self.message_user(request, _("Send a test to: enter the address to send the test to."), messages.ERROR)
            return redirect(url)
        try:
            sent = send_test(template, client, address)
        except Exception as exc:  # the backend's error is what the user needs to see
            self.message_user(request, _("The test message was not sent: %(error)s") % {
                "error": f"{type(exc).__name__}: {exc}"}, messages.ERROR)
            return redirect(url)
        if sent:
            self.message_user(request, _("Test message sent to %(address)s.") % {"address": address},
                              messages.SUCCESS)
        else:
            self.message_user(request, _("The email backend sent nothing."), messages.ERROR)
        return redirect(url)
