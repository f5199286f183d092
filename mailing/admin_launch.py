"""The launch confirmation page and the launch's progress on the campaign's page.

CampaignAdmin takes `CampaignLaunchMixin` as a base: it adds /admin/mailing/campaign/<id>/launch/
(reached from the "Launch..." button and the list's Launch action), which shows the reach
(`reach.campaign_reach`), ten recipients with their personalised subjects, a test send to the
signed-in person, and "Confirm and launch". Confirming queues `tasks.launch_campaign_task`: the
request never launches (with no REDIS_URL tasks run in-process, so there it does, after the check).
The campaign's page then shows the progress (`launch.launch_progress`), reloading itself while it moves.
"""

import copy

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.mail import get_connection
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .admin_preview import TEST_PREFIX, context_for
from .launch import end_launching, launch_progress, launch_refusal, mark_launching
from .models import Campaign, Delivery
from .reach import campaign_reach, will_receive
from .recipients import pick_variant
from .sending import build_message
from .tasks import queue_launch
from .templating import build_contexts, render_message
from .unsubscribe import unsubscribe_url

SAMPLES = 10


def versions_of(campaign):
    """(variants as (pk, weight), {variant pk or None: (template version, subject override or "")})."""
    version = campaign.template.current_version()
    variants = list(campaign.variants.select_related("template").order_by("pk"))
    versions = {None: (version, "")}
    for v in variants:
        versions[v.pk] = (v.template.current_version() if v.template_id else version, v.subject)
    return [(v.pk, v.weight) for v in variants], versions


def message_for(campaign, client, context, variant_versions, variant=None):
    """An unsaved delivery for `client`, rendered as sending renders it (`sending.build_message`)."""
    version, subject = variant_versions[variant]
    if subject:
        version = copy.copy(version)
        version.subject = subject
    email = (client.email or "").strip() if client else ""
    return Delivery(campaign=campaign, client=client, email=email, template_version=version)


def sample_recipients(campaign):
    """Up to SAMPLES clients who would receive it, each with the subject they would get (or the error)."""
    clients = list(will_receive(campaign).order_by("pk")[:SAMPLES])
    contexts = build_contexts(clients)
    variants, versions = versions_of(campaign)
    rows = []
    for client in clients:
        delivery = message_for(campaign, client, contexts[client.pk], versions,
                               pick_variant(campaign.pk, client.pk, variants))
        context = {**contexts[client.pk], "campaign": {"name": campaign.name, "slug": campaign.slug},
                   "unsubscribe_url": unsubscribe_url(None, delivery.email)}
        try:
            subject = render_message(delivery.template_version, context)[0]
        except Exception as exc:  # one client's data may break a template that compiles
            subject, error = "", f"{type(exc).__name__}: {exc}"
        else:
            error = ""
        rows.append({"client": client, "email": delivery.email, "subject": subject, "error": error})
    return rows


def send_campaign_test(campaign, client, address):
    """The campaign's message as `client` would get it, to `address`, marked as a test: subject prefixed
    [TEST], tagged "test", no delivery row, an unsubscribe link that unsubscribes nobody (admin_preview)."""
    variants, versions = versions_of(campaign)
    # No client: one with no data at all, as the template preview renders it (the shop's best sellers).
    context = build_contexts([client])[client.pk] if client else context_for(None, "")
    delivery = message_for(campaign, client, context, versions,
                           pick_variant(campaign.pk, client.pk, variants) if client else None)
    delivery.email = address
    with get_connection() as connection:
        message = build_message(delivery, context, connection)
        message.subject = TEST_PREFIX + message.subject
        message.extra_headers.pop("X-CRM-Delivery", None)
        message.metadata = {"test": "true", "campaign": campaign.slug}
        message.tags = ["test"]
        return message.send()


class CampaignLaunchMixin:
    def get_urls(self):
        view = self.admin_site.admin_view(self.launch_view)
        return [path("<int:object_id>/launch/", view, name="mailing_campaign_launch"), *super().get_urls()]

    @admin.display(description=_("reach if launched now"))
    def reach_now(self, obj):
        if obj is None or obj.pk is None:
            return gettext("shown once the campaign is saved")
        reach = campaign_reach(obj)
        if reach.triggered:
            return gettext("decided each night by who enters the trigger segment")
        rows = [(gettext("in the audience segments"), "", reach.members)] + [
            (label, "− ", count) for label, count in reach_rows(reach) if count]
        when = (gettext("quiet hours now: sending would start at %(when)s") % {
            "when": formats.localize(timezone.localtime(reach.not_before))} if reach.not_before else "")
        return format_html(
            '<table id="reach-now">{}<tr><td><strong>{}</strong></td><td><strong>{}</strong></td></tr></table>{}',
            format_html_join("", "<tr><td>{}{}</td><td>{}</td></tr>", ((sign, label, n) for label, sign, n in rows)),
            gettext("will receive it"), reach.will_receive,
            format_html("<p>{}</p>", when) if when else "")

    @admin.display(description=_("sending progress"))
    def launch_progress(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        progress = launch_progress(obj)
        if not progress.recorded and not progress.launching and not progress.error:
            return gettext("not launched yet")
        states = dict(Delivery.State.choices)
        parts = [(gettext("recorded"), progress.recorded)] + [
            (states[state], progress.counts.get(state, 0)) for state in (
                Delivery.State.PENDING, Delivery.State.SENDING, Delivery.State.SENT, Delivery.State.SUPPRESSED,
                Delivery.State.UNKNOWN, Delivery.State.FAILED)]
        status = gettext("launching: recording the deliveries…") if progress.launching else obj.get_state_display()
        return format_html(
            '<div id="launch-progress" data-busy="{}"><p><strong>{}</strong></p>{}'
            '<table><tr>{}</tr><tr>{}</tr></table></div>',
            "1" if progress.busy else "", status,
            format_html('<p class="errornote">{}</p>', progress.error) if progress.error else "",
            format_html_join("", "<th>{}</th>", ((label,) for label, _n in parts)),
            format_html_join("", "<td>{}</td>", ((n,) for _label, n in parts)))

    def launch_view(self, request, object_id):
        campaign = get_object_or_404(Campaign, pk=object_id)
        if not self.has_change_permission(request, campaign):
            raise PermissionDenied
        here = reverse("admin:mailing_campaign_launch", args=[campaign.pk])
        if request.method == "POST" and "test" in request.POST:
            return self._send_test(request, campaign, here)
        reach = campaign_reach(campaign)
        refusal = launch_refusal(campaign, reach)
        if request.method == "POST" and "confirm" in request.POST and not refusal:
            return self._confirm(request, campaign)
        if request.method == "POST" and refusal:
            self.message_user(request, refusal, messages.ERROR)
            return redirect(here)
        # The samples are clients' personal data: shown to who may view clients (as the template preview).
        may_see_clients = request.user.has_perm("crm.view_client")
        samples = sample_recipients(campaign) if reach.will_receive and may_see_clients else []
        context = {
            **self.admin_site.each_context(request),
            "title": _("Launch: %(name)s") % {"name": campaign.name},
            "opts": Campaign._meta,
            "original": campaign,
            "reach": reach,
            "reasons": reach_rows(reach),
            "refusal": refusal,
            "samples": samples,
            "samples_hidden": bool(reach.will_receive) and not may_see_clients,
            "progress": launch_progress(campaign),
        }
        return render(request, "admin/mailing/campaign/launch.html", context)

    def _confirm(self, request, campaign):
        change = reverse("admin:mailing_campaign_change", args=[campaign.pk])
        if not mark_launching(campaign.pk):
            self.message_user(request, _("%(name)s is already launching; its progress is below.") % {
                "name": campaign.name}, messages.WARNING)
            return redirect(change)
        if not queue_launch(campaign.pk):
            end_launching(campaign.pk)
            self.message_user(request, _("The task queue (REDIS_URL) cannot be reached: nothing was launched. "
                                         "Confirm again once it is back."), messages.ERROR)
            return redirect(reverse("admin:mailing_campaign_launch", args=[campaign.pk]))
        self.message_user(request, _("%(name)s is launching; its progress is below.") % {"name": campaign.name},
                          messages.SUCCESS)
        return redirect(change)

    def _send_test(self, request, campaign, here):
        address = (request.user.email or "").strip()
        if not address:
            self.message_user(request, _("Send a test to myself: your user has no email address; add one on your "
                                         "user's page first."), messages.ERROR)
            return redirect(here)
        # Rendered for the first recipient, or, for who may not view clients, for a client with no data.
        samples = will_receive(campaign).order_by("pk")[:1] if request.user.has_perm("crm.view_client") else []
        client = samples[0] if samples else None
        try:
            sent = send_campaign_test(campaign, client, address)
        except Exception as exc:  # the backend's error is what the user needs to see
            self.message_user(request, _("The test message was not sent: %(error)s") % {
                "error": f"{type(exc).__name__}: {exc}"}, messages.ERROR)
            return redirect(here)
        if sent:
            self.message_user(request, _("Test message sent to %(address)s.") % {"address": address},
                              messages.SUCCESS)
        else:
            self.message_user(request, _("The email backend sent nothing."), messages.ERROR)
        return redirect(here)


def reach_rows(reach):
    """The breakdown as (label, count subtracted) rows, in the order the page lists them."""
    reasons = dict(Delivery.Reason.choices)
    rows = [(gettext("in an exclusion segment"), reach.excluded),
            (gettext("not matching the extra conditions"), reach.not_matching)]
    if reach.already:
        rows.append((gettext("already have a delivery of this occurrence"), reach.already))
    rows.append((gettext("no email consent"), reach.no_consent))
    rows += [(reasons[reason], count) for reason, count in reach.suppressed.items()]
    rows += [(gettext("frequency cap reached"), reach.frequency_cap), (gettext("holdout group"), reach.holdout)]
    return rows
